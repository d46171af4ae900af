"""SPADE's structured pruning: eq. (6), exactness, the paper's parameter counts, options, errors.

The strongest check of a pruned CNN is that it equals the unpruned CNN with the pruned channels
set to zero (``zero_pruned_channels``): removing a channel whose activations are exactly zero
changes nothing downstream. Layer groups are tested in ``test_pruning_groups.py``, saving and
loading in ``test_pruning_io.py``.
"""
import copy
import dataclasses

import pytest
import torch
import torch_pruning as tp
from torch import nn

from spadelib.metrics import count_parameters
from spadelib.models import NAMES, build
from spadelib.models.base import MBDLNetwork
from spadelib.pruning import (IMPORTANCES, PruneReport, group_l1_importance, kept_channels,
                              make_importance, prune, prune_module, zero_pruned_channels)
from spadelib.pruning.pruner import _parameter_reduction
from spadelib.pruning.report import PriorReport
from spadelib.tasks import task_of

RATIOS = (0.05, 0.1, 0.2, 0.4)
PAPER_PARAMS = {  # Tables 1-2 of the paper, channel ratios 0.05 / 0.1 / 0.2 / 0.4
    "deq": (878_644, 793_159, 635_311, 353_328),
    "varnet": (17_567_216, 15_772_920, 12_477_088, 6_988_752),
    "e2e-varnet": (18_052_114, 16_257_818, 12_961_986, 7_473_650),
    "usrnet": (15_314_620, 13_730_964, 10_837_246, 6_094_762),
}


def paper_example() -> nn.Sequential:
    """The paper's section-3 example Conv1 -> BN1 -> Conv2 -> BN2 (eval mode, random stats)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4),
                        nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5))
    for bn in (net[1], net[3]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        nn.init.uniform_(bn.weight, 0.5, 2)
        nn.init.uniform_(bn.bias, -1, 1)
    return net.eval()


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def zeroed_network(net, report):
    """A copy of the unpruned ``net`` with every pruned channel of every prior zeroed."""
    ref = copy.deepcopy(net)
    for spec in ref.priors():
        zero_pruned_channels(spec.module, spec.example_inputs, report.histories[spec.name])
    return ref


@torch.no_grad()
def randomised(net):
    """Give zero-initialised parameters (USRNet's output conv) small random values, as training
    would, so that no output is trivially zero."""
    gen = torch.Generator().manual_seed(2)
    for p in net.parameters():
        if not p.any():
            p.copy_(0.05 * torch.randn(p.shape, generator=gen))
    return net


def fixed_iterations(net, n: int = 4):
    """The DEQ runs exactly n iterations (tol never reached), so outputs are comparable."""
    if net.name == "deq":
        net.max_iter, net.tol = n, 1e-30
    return net.eval()


# ------------------------------------------------------------------------ eq. (6)
def test_group_l1_importance_by_hand():
    """eq. (6): alpha_k = (1/M) sum_i ||w_k^i||_1 over the conv entries of the group.

    Group {Conv1, BN1, Conv2}: M = 2, the out-filter W1[k] (3x3x3) and the in-slice W2[:, k]
    (5x3x3); BN1 is not a conv and does not count. Group {Conv2, BN2}: M = 1, W2[k].
    """
    net = paper_example()
    DG = tp.DependencyGraph().build_dependency(net, example_inputs=(torch.randn(2, 3, 8, 8),))
    w1, w2 = net[0].weight.detach(), net[2].weight.detach()
    by_hand = {net[0]: 0.5 * (w1.abs().sum(dim=(1, 2, 3)) + w2.abs().sum(dim=(0, 2, 3))),
               net[2]: w2.abs().sum(dim=(1, 2, 3))}
    seen = 0
    for group in DG.get_all_groups(root_module_types=[nn.Conv2d]):
        root = group[0].dep.target.module
        torch.testing.assert_close(group_l1_importance(group), by_hand[root], rtol=1e-6,
                                   atol=0)
        seen += 1
    assert seen == 2


def test_make_importance_names_and_estimators():
    assert IMPORTANCES == ("l1", "l2", "random", "taylor")
    assert all(isinstance(make_importance(n), tp.importance.Importance) for n in IMPORTANCES)
    mine = tp.importance.RandomImportance()
    assert make_importance(mine) is mine
    for bad in ("l3", 1, None):
        with pytest.raises(ValueError, match="unknown importance"):
            make_importance(bad)


# ------------------------------------------------------------------------ exactness
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ratio", RATIOS)
def test_pruned_equals_zeroed_original(name, ratio):
    """Each pruned prior equals the unpruned prior with the removed channels zeroed.

    Zeroing is exact for every layer type of the four CNNs: EDSR (biases zeroed too; the
    residual stream channel is zero because the head and every block's last conv are zeroed),
    fastMRI's U-Net (a zero channel stays zero through its non-affine InstanceNorm, LeakyReLU,
    average pooling and concatenation; transposed-conv filters are W[:, k]), ResUNet (bias-free).
    The whole networks are compared too (the DEQ with a fixed number of iterations).
    """
    torch.manual_seed(1)
    net = fixed_iterations(randomised(build(name, "quick")))
    pruned, report = prune(net, ratio)
    reference = zeroed_network(net, report)
    for spec, spec_p, spec_r in zip(net.priors(), pruned.priors(), reference.priors()):
        x = tuple(torch.randn_like(t) for t in spec.example_inputs)
        with torch.no_grad():
            out, out_p, out_r = (s.module(*x) for s in (spec, spec_p, spec_r))
        assert out_p.shape == out.shape
        assert rel_err(out_p, out_r) <= 1e-5
        assert rel_err(out, out_r) > 1e-3                    # the zeroing did something
        assert count_parameters(spec_p.module) < count_parameters(spec.module)
    m = task_of(name).random_measurement("quick", batch=2)
    with torch.no_grad():
        y_p, y_r = fixed_iterations(pruned)(m), reference(m)
    assert y_p.shape == net(m).shape
    assert rel_err(y_p, y_r) <= 1e-4


def test_zeroing_the_paper_example_with_batch_norm():
    net = paper_example()
    x = (torch.randn(2, 3, 8, 8),)
    pruned = copy.deepcopy(net)
    report = prune_module(pruned, x, 0.5)
    reference = zero_pruned_channels(copy.deepcopy(net), x, report.priors[0].history)
    assert [g.after for g in report.priors[0].groups] == [2, 2]     # int(4 / 2), int(5 / 2)
    with torch.no_grad():
        ref = reference(*x)
        torch.testing.assert_close(pruned(*x), ref[:, [i for i in range(5) if ref[:, i].any()]])


def test_zeroing_refuses_a_foreign_history():
    with pytest.raises(ValueError, match="history prunes layer 'body.7'.*another network"):
        zero_pruned_channels(paper_example(), (torch.randn(2, 3, 8, 8),),
                             [["body.7", True, [0]]])


# ------------------------------------------------------------------------ the paper's numbers
def test_deq_counts_equal_the_paper():
    net = build("deq", "paper")
    for ratio, expected in zip(RATIOS, PAPER_PARAMS["deq"]):
        pruned, report = prune(net, ratio)
        assert report.params_after == count_parameters(pruned) == expected
        assert {(g.before, g.after) for g in report.priors[0].groups} == {
            (64, kept_channels(64, ratio))}


def test_varnet_and_e2e_counts_equal_the_paper():
    """VarNet through prune() at 0.4 and E2E-VarNet at 0.2; the other ratios from one
    cascade's U-Net, since all cascades are identical and pruned separately:
    total = params - cascades x removed by one U-Net."""
    varnet, e2e = build("varnet", "paper"), build("e2e-varnet", "paper")
    pruned, report = prune(varnet, 0.4)
    assert report.params_after == count_parameters(pruned) == PAPER_PARAMS["varnet"][3]
    assert len(report.priors) == 8 and report.cnn_applications == 8
    assert all(p.macs_after < 0.4 * p.macs_before for p in report.priors)
    _, report = prune(e2e, 0.2)                              # the sensitivity net is kept
    assert report.params_after == PAPER_PARAMS["e2e-varnet"][2]
    spec = varnet.priors()[0]
    for i, ratio in enumerate(RATIOS):
        unet, tail = copy.deepcopy((spec.module, spec.ignored_layers[0]))
        rep = prune_module(unet, spec.example_inputs, ratio, [tail])
        removed = 8 * (rep.params_before - rep.params_after)
        assert count_parameters(varnet) - removed == PAPER_PARAMS["varnet"][i]
        assert count_parameters(e2e) - removed == PAPER_PARAMS["e2e-varnet"][i]


def test_usrnet_counts_match_the_paper():
    """USRNet declares HyPaNet's two hidden 1x1 convs as a second prior (its output conv
    ignored): with them the paper's counts are matched exactly (the ResUNet alone lands
    0.01-0.06 % higher: at 0.4, 64 -> 38 hidden HyPaNet channels remove 3,172 parameters)."""
    net = build("usrnet", "paper")
    assert [s.name for s in net.priors()] == ["prior", "hypa"]
    for ratio, expected in zip(RATIOS, PAPER_PARAMS["usrnet"]):
        _, report = prune(net, ratio)
        assert report.params_after == expected
        resunet_only = report.params_before - report.priors[0].params_before + \
            report.priors[0].params_after
        assert 0 < (resunet_only - expected) / expected < 1e-3


def test_target_reduction_finds_the_paper_ratio():
    net = build("deq", "paper")
    pruned, report = prune(net, target_reduction=0.65)
    assert abs(report.param_reduction - 0.65) <= 0.02 * 0.65
    assert report.target_reduction == 0.65
    assert report.params_after == PAPER_PARAMS["deq"][3]     # 64 -> 38 channels, ratio ~0.4
    assert count_parameters(pruned) == report.params_after


def test_the_ratio_search_counts_what_prune_removes():
    """The target-reduction search prunes copies with the same pruner as prune(): its count
    at a ratio is the reduction prune() reports, and a ratio that empties a group is inf."""
    net = build("usrnet", "quick")
    for ratio, steps, round_to in ((0.2, 1, None), (0.4, 2, None), (0.3, 1, 8)):
        _, report = prune(net, ratio, steps=steps, round_to=round_to)
        assert _parameter_reduction(net, ratio, steps, round_to) == pytest.approx(
            report.param_reduction, abs=1e-12)
    assert _parameter_reduction(net, 0.5, 1, 64) == float("inf")
    with pytest.raises(ValueError, match="would remove all .* channels"):
        prune(net, 0.5, round_to=64)


# ------------------------------------------------------------------------ options
@pytest.mark.parametrize("name", ["deq", "usrnet"])
def test_progressive_pruning_reaches_the_one_shot_widths(name):
    net = fixed_iterations(randomised(build(name, "quick")))
    _, once = prune(net, 0.4)
    pruned, steps = prune(net, 0.4, steps=4)
    widths = [[(g.root, g.after) for g in p.groups] for p in once.priors]
    assert widths == [[(g.root, g.after) for g in p.groups] for p in steps.priors]
    assert steps.params_after == once.params_after
    history = steps.priors[0].history
    assert len(history) > len(once.priors[0].history)       # several steps recorded
    reference = zeroed_network(net, steps)                   # multi-step history, mapped back
    spec, spec_p, spec_r = net.priors()[0], pruned.priors()[0], reference.priors()[0]
    with torch.no_grad():
        assert rel_err(spec_p.module(*spec.example_inputs),
                       spec_r.module(*spec.example_inputs)) <= 1e-5


def test_prune_leaves_the_original_untouched():
    net = build("varnet", "quick")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    pruned, report = prune(net, 0.2)
    assert count_parameters(net) == report.params_before > report.params_after
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert pruned is not net and net.training == pruned.training


@pytest.mark.parametrize("importance", ["l2", "random", "taylor"])
def test_other_importances_prune_the_same_widths(importance):
    net = build("deq", "quick")
    _, l1 = prune(net, 0.2)
    pruned, other = prune(net, 0.2, importance=importance)
    assert other.params_after == l1.params_after and other.importance == importance
    assert all(p.grad is None for p in pruned.parameters())


def test_taylor_uses_the_given_loss_and_random_is_seeded():
    net = build("deq", "quick")
    calls = []

    def loss_fn(module, inputs):
        calls.append(inputs[0].shape)
        return (module(*inputs) - inputs[0]).abs().mean()

    prune(net, 0.2, importance="taylor", loss_fn=loss_fn)
    assert len(calls) == 1
    a = prune(net, 0.2, importance="random", seed=3)[1].priors[0].history
    b = prune(net, 0.2, importance="random", seed=3)[1].priors[0].history
    assert a == b
    with pytest.raises(ValueError, match="must return a scalar tensor"):
        prune(net, 0.2, importance="taylor", loss_fn=lambda m, x: m(*x))


def test_round_to_keeps_multiples():
    _, report = prune(build("usrnet", "quick"), 0.2, round_to=8)
    assert all(g.after % 8 == 0 and g.after < g.before for g in report.priors[0].groups)
    assert kept_channels(64, 0.4, 8) == 32 and kept_channels(64, 0.4) == 38


def test_ratio_zero_changes_nothing_and_report_reads():
    net = build("usrnet", "quick")
    pruned, report = prune(net, 0)
    assert report.params_after == report.params_before == count_parameters(net)
    assert report.priors[0].history == [] and report.macs_after == report.macs_before
    _, report = prune(net, 0.4, macs_size=(48, 48))
    assert report.priors[0].macs_input == [[1, 4, 48, 48]]
    assert report.cnn_applications == net.iters + 1  # the ResUNet K times, HyPaNet once
    assert "usrnet pruned at channel ratio 0.4" in str(report)
    assert report.to_dict()["params_after"] == report.params_after
    again = PruneReport.from_dict(report.to_dict())
    assert again == report and again.macs_after == report.macs_after


def test_macs_are_counted_at_the_image_size_and_the_report_says_so():
    """A conv's MACs grow with the image area: at the task's size (64 x 64 quick MRI) the DEQ's
    EDSR costs four times what the 32 x 32 example inputs give, and the report prints the size.
    HyPaNet's 1 x 1 input is a parameter vector, not an image: it keeps its size."""
    net = build("deq", "quick")
    size = task_of("deq").image_size("quick")
    _, small = prune(net, 0.2)
    _, big = prune(net, 0.2, macs_size=size)
    assert small.priors[0].macs_size == (32, 32) and big.priors[0].macs_size == tuple(size)
    area = size[0] * size[1] / 32 ** 2
    assert big.priors[0].macs_after == pytest.approx(area * small.priors[0].macs_after, rel=1e-9)
    assert big.priors[0].macs_before == pytest.approx(area * small.priors[0].macs_before,
                                                      rel=1e-9)
    assert f"per application at {size[0]} x {size[1]} x {net.max_iter} applications" in str(big)
    usr = build("usrnet", "quick")
    _, at32 = prune(usr, 0.4)
    _, at48 = prune(usr, 0.4, macs_size=(48, 48))
    hypa32, hypa48 = at32.priors[1], at48.priors[1]
    assert hypa48.macs_input == [[1, 2, 1, 1]] and hypa48.macs_size is None
    assert hypa48.macs_after == hypa32.macs_after > 0
    assert at48.priors[0].macs_size == (48, 48)
    assert "hypa:" in str(at48) and "1 application," in str(at48)
    again = PriorReport.from_dict(dataclasses.asdict(big.priors[0]))
    assert again.macs_size == tuple(size)


# ------------------------------------------------------------------------ errors
def test_bad_ratios_are_refused():
    net = build("deq", "quick")
    with pytest.raises(ValueError, match=r"pruning ratio must be in \[0, 1\), got 1.5"):
        prune(net, 1.5)
    with pytest.raises(ValueError, match=r"pruning ratio must be in \[0, 1\), got -0.1"):
        prune_module(net.prior, (torch.randn(2, 2, 8, 8),), -0.1)
    for bad in (True, float("nan"), "0.2"):
        with pytest.raises(ValueError, match="pruning ratio must be in"):
            prune(net, bad)
    with pytest.raises(ValueError, match="exactly one of ratio"):
        prune(net, 0.2, target_reduction=0.65)
    with pytest.raises(ValueError, match="exactly one of ratio"):
        prune(net)
    for bad in (0, 1, True):
        with pytest.raises(ValueError, match="target_reduction must be"):
            prune(net, target_reduction=bad)
    with pytest.raises(ValueError, match="unknown importance 'l3'"):
        prune(net, 0.2, importance="l3")


def test_bad_options_are_refused():
    net = build("deq", "quick")
    for bad in (0, True, 1.0):
        with pytest.raises(ValueError, match="steps must be an int >= 1"):
            prune(net, 0.2, steps=bad)
    for bad in (0, False, 8.0):
        with pytest.raises(ValueError, match="round_to must be an int >= 1"):
            prune(net, 0.2, round_to=bad)
    with pytest.raises(ValueError, match="seed must be an int"):
        prune(net, 0.2, seed="3")


def test_bad_example_inputs_are_refused():
    net = build("deq", "quick")
    with pytest.raises(TypeError, match=r"bare tensor of shape \(1, 2, 8, 8\).*Pass \(x,\)"):
        prune_module(net.prior, torch.randn(1, 2, 8, 8), 0.2)
    with pytest.raises(ValueError, match="batch size >= 2"):
        prune_module(net.prior, (torch.randn(1, 2, 8, 8),), 0.2)
    with pytest.raises(TypeError, match="module instances.*not classes"):
        prune_module(net.prior, (torch.randn(2, 2, 8, 8),), 0.2, ignored_layers=[nn.Conv2d])
    with pytest.raises(TypeError, match="must be an nn.Module"):
        prune_module(None, (torch.randn(2, 2, 8, 8),), 0.2)


def test_networks_without_priors_are_refused():
    with pytest.raises(TypeError, match="declares no CNN priors.*prune_module"):
        prune(nn.Conv2d(2, 2, 3), 0.2)

    class NoPriors(MBDLNetwork):
        def priors(self):
            return []

    with pytest.raises(ValueError, match=r"priors\(\) is empty"):
        prune(NoPriors(), 0.2)
