"""Criteria beyond the paper (Chapter 8): LAMP, Hessian, and global against uniform ratios.

Tiny CNNs and the quick DEQ only. The paper's group l1 (eq. 6) must be untouched; every new
criterion must leave a runnable network that equals the unpruned one with the removed channels
zeroed; a ``"-global"`` criterion must keep the overall channel ratio while giving the groups
unequal widths, and never empty a group.
"""
import copy

import pytest
import torch
import torch_pruning as tp
from torch import nn

from spadelib.metrics import count_parameters
from spadelib.models import build
from spadelib.pruning import (IMPORTANCES, group_l1_importance, kept_channels, load_pruned,
                              prune, prune_module, save_pruned, zero_pruned_channels)
from spadelib.pruning.importance import (CRITERIA, criterion_names, hessian_gradients,
                                         make_importance, parse_criterion)
from spadelib.pruning.pruner import GLOBAL_MAX_RATIO, _parameter_reduction
from spadelib.tasks import task_of

CONV = [nn.modules.conv._ConvNd]


def tiny_cnn(weak: float = 1.0) -> nn.Sequential:
    """conv(3->16) BN ReLU conv(16->32) ReLU conv(32->8) ReLU conv(8->3), eval mode, seeded.

    ``weak`` scales the weights of the third conv (its out-filters and the output conv's
    in-slices: the whole 8-channel group), so that global ranking has a group to strip."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(32, 8, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 3, 3, padding=1))
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
        net[5].weight.mul_(weak)
        net[7].weight.mul_(weak)
    return net.eval()


def inputs():
    return (torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)),)


def prune_tiny(criterion="l1", ratio=0.4, weak=1.0, **options):
    """``(net, report)``: the tiny CNN pruned in place, its output conv ignored."""
    net = tiny_cnn(weak)
    return net, prune_module(net, inputs(), ratio, [net[7]], importance=criterion, **options)


def widths(report) -> list[int]:
    return [g.after for g in report.priors[0].groups]


# ------------------------------------------------------------------------ names
def test_criterion_names_parse_in_one_place():
    assert IMPORTANCES == ("l1", "l2", "random", "taylor")          # Chapter 4's, unchanged
    assert CRITERIA == IMPORTANCES + ("lamp", "hessian")
    assert len(criterion_names()) == 2 * len(CRITERIA)
    assert parse_criterion("l1") == ("l1", False)
    assert parse_criterion("taylor-global") == ("taylor", True)
    for name in criterion_names():
        base, global_ = parse_criterion(name)
        assert base + ("-global" if global_ else "") == name
        assert isinstance(make_importance(name), tp.importance.Importance)
    mine = tp.importance.RandomImportance()
    assert parse_criterion(mine) == (mine, False)
    for bad in ("l3", "L1", "-global", "global", "l1-global-global", "l1 -global", "", 1, None):
        with pytest.raises(ValueError, match="unknown importance .* choose one of l1, l2"):
            parse_criterion(bad)
        with pytest.raises(ValueError, match="unknown importance"):
            prune_tiny(bad)


# ------------------------------------------------------------------------ l1 untouched
def test_l1_is_still_eq6_and_global_scores_it_the_same_way():
    net = tiny_cnn()
    DG = tp.DependencyGraph().build_dependency(net, example_inputs=inputs())
    w0, w3 = net[0].weight.detach(), net[3].weight.detach()
    by_hand = 0.5 * (w0.abs().sum(dim=(1, 2, 3)) + w3.abs().sum(dim=(0, 2, 3)))
    group = DG.get_pruning_group(net[0], tp.prune_conv_out_channels, list(range(16)))
    for name in ("l1", "l1-global"):
        torch.testing.assert_close(make_importance(name)(group), by_hand, rtol=1e-6, atol=0)
    torch.testing.assert_close(group_l1_importance(group), by_hand, rtol=1e-6, atol=0)
    # uniform l1 removes the 40 % of each group with the smallest eq.-(6) scores
    _, report = prune_tiny("l1")
    first = [h for h in report.priors[0].history if h[0] == "0"][0]
    assert sorted(first[2]) == sorted(by_hand.argsort()[:16 - kept_channels(16, 0.4)].tolist())


# ------------------------------------------------------------------------ new criteria
@pytest.mark.parametrize("criterion", ["lamp", "hessian", "l1-global", "l2-global",
                                       "random-global", "taylor-global", "lamp-global",
                                       "hessian-global"])
def test_each_new_criterion_prunes_and_equals_the_zeroed_original(criterion):
    net = tiny_cnn()
    pruned = copy.deepcopy(net)
    report = prune_module(pruned, inputs(), 0.4, [pruned[7]], importance=criterion, steps=2)
    assert report.importance == criterion
    assert report.params_after == count_parameters(pruned) < report.params_before
    assert all(p.grad is None for p in pruned.parameters())
    reference = zero_pruned_channels(copy.deepcopy(net), inputs(), report.priors[0].history)
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), reference(x), rtol=1e-5, atol=1e-6)


def test_uniform_lamp_removes_what_l2_removes():
    """LAMP divides each score by the sum of those not smaller: the order within a group is
    that of l2, so only the global ranking differs."""
    assert prune_tiny("lamp")[1].priors[0].history == prune_tiny("l2")[1].priors[0].history
    assert widths(prune_tiny("lamp-global", weak=0.1)[1]) != widths(
        prune_tiny("l2-global", weak=0.1)[1])


def test_hessian_gradients_are_the_mean_squared_per_sample_gradients():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(4, 2, 5, 5)
    by_hand = torch.zeros_like(conv.weight)
    for b in range(4):
        g, = torch.autograd.grad(conv(x[b:b + 1]).pow(2).mean(), conv.weight)
        by_hand += g.pow(2) / 4
    hessian_gradients(conv, (x,))
    torch.testing.assert_close(conv.weight.grad, by_hand)
    # a scalar loss is one sample: its squared gradient
    hessian_gradients(conv, (x,), lambda m, inp: m(*inp).sum())
    g, = torch.autograd.grad(conv(x).sum(), conv.weight)
    torch.testing.assert_close(conv.weight.grad, g.pow(2))
    with pytest.raises(ValueError, match="per-sample losses"):
        hessian_gradients(conv, (x,), lambda m, inp: m(*inp).flatten(1))


def test_hessian_scores_are_optimal_brain_damage_and_use_the_given_loss():
    """OBD: alpha_k = (1/M) sum_i sum w^2 h over the group's conv slices, h the Fisher
    diagonal; prune_module calls loss_fn once per step."""
    net = tiny_cnn()
    hessian_gradients(net, inputs())
    DG = tp.DependencyGraph().build_dependency(net, example_inputs=inputs())
    group = DG.get_pruning_group(net[0], tp.prune_conv_out_channels, list(range(16)))
    w0, h0, w3, h3 = (net[0].weight.detach(), net[0].weight.grad, net[3].weight.detach(),
                      net[3].weight.grad)
    by_hand = 0.5 * ((w0 ** 2 * h0).sum(dim=(1, 2, 3)) + (w3 ** 2 * h3).sum(dim=(0, 2, 3)))
    torch.testing.assert_close(make_importance("hessian")(group), by_hand)
    calls = []

    def loss_fn(module, x):
        calls.append(1)
        return (module(*x) - x[0]).abs().flatten(1).mean(1)

    prune_tiny("hessian", loss_fn=loss_fn, steps=3)
    assert len(calls) == 3


# ------------------------------------------------------------------------ global vs uniform
def test_global_keeps_the_channel_ratio_with_unequal_widths_and_empties_no_group():
    uniform = prune_tiny("l1", weak=1e-3)[1]
    before = [g.before for g in uniform.priors[0].groups]
    assert before == [16, 32, 8]
    assert widths(uniform) == [kept_channels(k, 0.4) for k in before] == [9, 19, 4]
    net, report = prune_tiny("l1-global", weak=1e-3)
    got = widths(report)
    assert sum(got) == int(sum(before) * 0.6)                   # the same overall ratio
    # the weak group ranks lowest, but keeps its floor (10 %, one channel at least), which
    # torch-pruning's own global pruning does not do: it would leave the group whole
    assert GLOBAL_MAX_RATIO == 0.9 and got[2] == 1
    assert len({k / b for k, b in zip(got, before)}) == 3       # three different ratios
    with torch.no_grad():
        assert net(torch.randn(2, 3, 8, 8)).shape == (2, 3, 8, 8)
    assert sum(widths(prune_tiny("l1-global", weak=1e-3, steps=3)[1])) == sum(got)


def test_global_refuses_round_to_and_what_empties_the_network():
    with pytest.raises(ValueError, match="round_to is for uniform pruning.*'l1'"):
        prune_tiny("l1-global", round_to=4)
    with pytest.raises(ValueError, match="global pruning ratio 0.95 would keep 2 of the 56 "
                                         "channels"):
        prune_tiny("l1-global", 0.95)
    _, report = prune_tiny("taylor-global", 0)
    assert report.params_after == report.params_before and report.priors[0].history == []


def test_global_criteria_through_prune_on_the_deq():
    """A grid cell's criterion string works end to end: prune(net, ratio, importance=...)."""
    net = build("deq", "quick").eval()
    net.max_iter, net.tol = 3, 1e-30
    state = torch.random.get_rng_state()
    pruned, report = prune(net, 0.4, importance="taylor-global")
    assert torch.equal(torch.random.get_rng_state(), state)     # the global stream untouched
    again = prune(net, 0.4, importance="taylor-global")[1]
    assert again.priors[0].history == report.priors[0].history  # seeded example inputs
    torch.manual_seed(123)                       # gradient criteria do not read the stream
    first = prune(net, 0.4, importance="hessian")[1].priors[0].history
    assert prune(net, 0.4, importance="hessian")[1].priors[0].history == first
    assert report.importance == "taylor-global" and report.ratio == 0.4
    assert len(set(widths(report))) > 1
    assert report.params_after == count_parameters(pruned) < report.params_before
    assert 0 < report.macs_after < report.macs_before
    assert "taylor-global" in str(report)
    m = task_of("deq").random_measurement("quick", batch=2)
    with torch.no_grad():
        assert torch.isfinite(pruned(m)).all()


def test_global_at_a_parameter_budget():
    """The same channel ratio removes a different share of parameters under global ranking:
    target_reduction searches with the criterion itself, so uniform and global can be
    compared at the same budget."""
    net = build("deq", "quick")
    uniform = prune(net, 0.4)[1]
    at_ratio = prune(net, 0.4, importance="l1-global")[1]
    assert _parameter_reduction(net, 0.4, 1, None, importance="l1-global") == pytest.approx(
        at_ratio.param_reduction, abs=1e-12)
    assert _parameter_reduction(net, 0.4, 1, None) == pytest.approx(uniform.param_reduction,
                                                                    abs=1e-12)
    assert abs(at_ratio.param_reduction - uniform.param_reduction) > 0.05
    matched = prune(net, target_reduction=uniform.param_reduction, importance="l1-global")[1]
    assert abs(matched.param_reduction - uniform.param_reduction) < 0.02
    assert matched.ratio != 0.4


def test_a_globally_pruned_network_saves_and_loads(tmp_path):
    net = build("deq", "quick").eval()
    net.max_iter, net.tol = 3, 1e-30
    pruned, report = prune(net, 0.3, importance="lamp-global")
    path = save_pruned(pruned, tmp_path / "deq.pt", "deq", "quick", report)
    loaded = load_pruned(path, "deq", "quick").eval()
    loaded.max_iter, loaded.tol = 3, 1e-30
    assert loaded.prune_report == report
    m = task_of("deq").random_measurement("quick", batch=2)
    with torch.no_grad():
        assert torch.equal(loaded(m), pruned(m))
