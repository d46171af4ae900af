"""DepGraph layer groups (``spadelib.pruning.dependency``): which layers are coupled, and the
importance of every channel of a group. Taught in Chapter 3 (``book/03_depgraph.ipynb``)."""
import pytest
import torch
from torch import nn

from spadelib.models import build
from spadelib.pruning import group_scores, groups


def paper_example() -> nn.Sequential:
    """The paper's section-3 example Conv1 -> BN1 -> Conv2 -> BN2."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4),
                         nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5)).eval()


def test_groups_of_the_paper_example():
    found = groups(paper_example(), (torch.randn(2, 3, 8, 8),))
    assert [(g.root, g.channels) for g in found] == [("0", 4), ("2", 5)]
    first, second = found
    assert [(m.layer, m.type, m.pruning) for m in first.members] == [
        ("0", "Conv2d", "out"), ("1", "BatchNorm2d", "out"), ("2", "Conv2d", "in")]
    assert [(m.layer, m.type, m.pruning) for m in second.members] == [
        ("2", "Conv2d", "out"), ("3", "BatchNorm2d", "out")]
    assert first.members[0].function == "prune_conv_out_channels"
    assert first.members[2].function == "prune_conv_in_channels"
    assert "group 0: 4 channels, root 0" in str(first)


def test_groups_of_edsr_follow_the_residual_trunk():
    net = build("deq", "quick")
    spec = net.priors()[0]
    found = groups(spec.module, spec.example_inputs, spec.ignored_layers)
    blocks = net.prior.blocks
    assert len(found) == 1 + blocks                          # the trunk + one per block
    trunk = found[0]
    assert trunk.root == "head" and trunk.channels == net.prior.features
    assert set(trunk.layers("out")) == {"head", "body.%d" % blocks} | {
        f"body.{i}.body.2" for i in range(blocks)}
    assert "tail" in trunk.layers("in") and "tail" not in trunk.layers("out")
    assert all(g.layers("out") == [g.root] for g in found[1:])


def test_groups_see_instance_norms_behind_in_place_activations():
    """fastMRI's U-Net uses LeakyReLU(inplace=True): traced as is, torch-pruning misses its
    InstanceNorm layers; groups() switches in-place off for the trace and restores it."""
    from fastmri.models import Unet

    unet = Unet(2, 2, chans=4, num_pool_layers=2).eval()
    flags = [m.inplace for m in unet.modules() if hasattr(m, "inplace")]
    assert any(flags)
    found = groups(unet, (torch.randn(2, 2, 16, 16),), [unet.up_conv[-1][-1]])
    norms = [m for g in found for m in g.members if m.type == "InstanceNorm2d"]
    assert len(norms) == 12 and all(m.pruning == "out" for m in norms)
    assert flags == [m.inplace for m in unet.modules() if hasattr(m, "inplace")]


def test_tracing_leaves_the_module_as_it_was():
    """Modes, in-place flags and requires_grad are restored after the trace."""
    net = paper_example().train()
    net[0].weight.requires_grad_(False)
    groups(net, (torch.randn(2, 3, 8, 8),))
    assert net.training and all(m.training for m in net.modules())
    assert not net[0].weight.requires_grad and net[2].weight.requires_grad


def test_group_scores_are_eq6_per_group():
    """group_scores returns eq. (6) for every group of the paper's Conv-BN example."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 5, 3),
                        nn.BatchNorm2d(5))
    (g0, s0), (g1, s1) = group_scores(net, (torch.randn(2, 3, 8, 8),))
    w1, w2 = net[0].weight.detach(), net[2].weight.detach()
    by_hand0 = (w1.abs().sum((1, 2, 3)) + w2.abs().sum((0, 2, 3))) / 2   # M = 2 convs
    by_hand1 = w2.abs().sum((1, 2, 3))                                    # M = 1 conv
    torch.testing.assert_close(s0, by_hand0)
    torch.testing.assert_close(s1, by_hand1)
    assert g0.layers() == ["0", "1", "2"] and g1.layers() == ["2", "3"]
    with pytest.raises(ValueError, match="taylor scores need gradients"):
        group_scores(net, (torch.randn(2, 3, 8, 8),), importance="taylor")
    with pytest.raises(ValueError, match="unknown importance 'l3'"):
        group_scores(net, (torch.randn(2, 3, 8, 8),), importance="l3")


def test_bad_example_inputs_are_refused():
    net = build("deq", "quick")
    with pytest.raises(TypeError, match=r"bare tensor of shape \(1, 2, 8, 8\).*Pass \(x,\)"):
        groups(net.prior, torch.randn(1, 2, 8, 8))
    with pytest.raises(TypeError, match="non-empty tuple of tensors"):
        groups(net.prior, ())
    with pytest.raises(ValueError, match="batch size >= 2"):
        groups(net.prior, (torch.randn(1, 2, 8, 8),))
    with pytest.raises(ValueError, match="cannot run on example_inputs of shapes"):
        groups(net.prior, (torch.randn(2, 5, 8, 8),))
    with pytest.raises(TypeError, match="module instances.*not classes"):
        groups(net.prior, (torch.randn(2, 2, 8, 8),), ignored_layers=[nn.Conv2d])
    with pytest.raises(ValueError, match="not a submodule"):
        groups(net.prior, (torch.randn(2, 2, 8, 8),), ignored_layers=[nn.Conv2d(2, 2, 1)])
    with pytest.raises(TypeError, match="must be an nn.Module"):
        groups("net", (torch.randn(2, 2, 8, 8),))
