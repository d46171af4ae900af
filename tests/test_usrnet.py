"""USRNet: exact size, shapes on every scale, odd sizes, gradients, data consistency, errors."""
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from spadelib.data import SRMeasurement, sr_dataset
from spadelib.kernels import sr_kernels
from spadelib.models.base import MBDLNetwork
from spadelib.models.usrnet import HyPaNet, ResUNet, USRNet, build_usrnet
from spadelib.physics.sr import nearest_upsample
from spadelib.presets import get_preset

SMALL = dict(channels=(8, 8, 16, 16), blocks=1, iters=3)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def quick_batches():
    P = get_preset("quick")
    return {s: sr_dataset("test", P, scale=s).batch([0, 7]) for s in (2, 3, 4)}


def odd_measurement(scale=3, b=2, h=25, w=23) -> SRMeasurement:
    g = torch.Generator().manual_seed(0)
    return SRMeasurement(lr=torch.rand(b, 3, h, w, generator=g),
                         kernel=sr_kernels()[[0, 5][:b]], sigma=torch.tensor([0.01, 0.03][:b]),
                         scale=scale)


# --------------------------------------------------------------------------------------------
def test_paper_parameter_count_is_exact():
    net = build_usrnet("paper")
    assert isinstance(net, MBDLNetwork) and net.task == "sr" and net.name == "usrnet"
    assert n_params(net) == 17_016_016
    assert n_params(net.prior) == 17_010_624
    assert n_params(net.hypa) == 5_392
    convs = [m for m in net.prior.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    assert len(convs) == 2 + 6 + 2 * 2 * (2 * 3 + 1) and all(m.bias is None for m in convs)
    assert net.iters == 8 and net.cnn_applications() == 8 + 1   # ResUNet x 8, HyPaNet once


def test_quick_preset_size():
    P = get_preset("quick")
    net = build_usrnet(P)
    assert net.prior.channels == tuple(P.usrnet_channels)
    assert net.prior.blocks == P.usrnet_blocks and net.iters == P.usrnet_iters


def test_priors_spec():
    net = USRNet(**SMALL)
    spec, hypa = net.priors()
    assert spec.name == "prior" and spec.module is net.prior
    assert spec.ignored_layers == [net.prior.tail] and spec.applications == 3
    (x,) = spec.example_inputs
    assert x.shape == (2, 4, 32, 32)
    assert net.prior(x).shape == (2, 3, 32, 32)
    assert hypa.name == "hypa" and hypa.module is net.hypa and hypa.applications == 1
    assert hypa.ignored_layers == [net.hypa.mlp[4]]
    assert net.hypa(*hypa.example_inputs).shape == (2, 6, 1, 1)


@pytest.mark.parametrize("hw", [(1, 1), (7, 13), (32, 32), (33, 40)])
def test_resunet_any_size(hw):
    net = ResUNet(4, 3, channels=(4, 4, 8, 8), blocks=1)
    out = net(torch.randn(2, 4, *hw))
    assert out.shape == (2, 3, *hw) and torch.isfinite(out).all()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_forward_quick_batch(quick_batches, scale):
    torch.manual_seed(0)
    batch = quick_batches[scale]
    net = build_usrnet("quick")
    with torch.no_grad():
        out = net(batch)
    assert out.shape == batch.target.shape == (2, 3, 96, 96)
    assert torch.isfinite(out).all()


def test_forward_odd_lr_size():
    torch.manual_seed(0)
    net = USRNet(**SMALL)
    with torch.no_grad():
        out = net(odd_measurement(scale=3, h=25, w=23))
    assert out.shape == (2, 3, 75, 69) and torch.isfinite(out).all()


def test_hyperparameters_positive_and_shaped(quick_batches):
    net = USRNet(**SMALL)
    alphas, betas = net.hyperparameters(quick_batches[2])
    assert alphas.shape == betas.shape == (2, 3)
    assert (alphas > 0).all() and (betas > 0).all()
    u = net.hypa_input(torch.tensor([0.0, 0.05]), 4)
    assert u.shape == (2, 2, 1, 1)
    assert torch.allclose(u.flatten(1), torch.tensor([[0.0, 1.0], [1.0, 1.0]]))


def test_untrained_usrnet_is_pure_data_steps(quick_batches):
    """The residual prior's output conv starts at zero: an untrained USRNet applies only the
    closed-form data steps, so it starts from a sensible reconstruction."""
    batch = quick_batches[4]
    net = USRNet(**SMALL)
    assert torch.count_nonzero(net.prior.tail.weight) == 0
    physics = batch.physics()
    alphas, _ = net.hyperparameters(batch)
    x = nearest_upsample(batch.lr, batch.scale)
    for k in range(net.iters):
        x = physics.data_step(x, batch.lr, alphas[:, k].reshape(-1, 1, 1, 1))
    with torch.no_grad():
        assert torch.allclose(net(batch), x, atol=1e-5)


def test_gradients_reach_prior_and_hypanet(quick_batches):
    torch.manual_seed(0)
    batch = quick_batches[4]
    net = USRNet(**SMALL)
    nn.init.normal_(net.prior.tail.weight, std=0.05)   # as after some training
    loss = (net(batch) - batch.target).abs().mean()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert net.prior.tail.weight.grad.abs().sum() > 0
    assert net.prior.head.weight.grad.abs().sum() > 0
    assert net.hypa.mlp[0].weight.grad.abs().sum() > 0


class _NoCorrection(nn.Module):
    """A prior whose residual correction is zero: the prior step is the identity."""

    def forward(self, x):
        return torch.zeros_like(x[:, :3])


def _with_alpha(bias: float) -> USRNet:
    """A USRNet whose prior step leaves the image unchanged and whose alphas all equal
    ~softplus(bias)."""
    net = USRNet(**SMALL)
    net.prior = _NoCorrection()
    last = net.hypa.mlp[4]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(bias)
    return net


def test_data_consistency_limits():
    torch.manual_seed(0)
    m = odd_measurement(scale=2, h=20, w=18)
    phys = m.physics()
    x_true = torch.rand(2, 3, 40, 36)
    m.lr = phys.A(x_true)                    # noise-free, consistent measurements
    x0 = m.lr.repeat_interleave(2, -2).repeat_interleave(2, -1)
    with torch.no_grad():
        # alpha -> eps (HyPaNet's floor, 1e-4): every data step (nearly) fits y, so A x ~ y
        x = _with_alpha(-30.0)(m)
        assert (phys.A(x) - m.lr).norm() < 0.02 * (phys.A(x0) - m.lr).norm()
        # alpha huge: the data steps do not move x_0 (nearest-neighbour upsampling)
        x = _with_alpha(1e5)(m)
        assert (x - x0).abs().max() < 1e-3


def test_pruned_prior_still_runs():
    tp = pytest.importorskip("torch_pruning")
    torch.manual_seed(0)
    net = USRNet(channels=(8, 16, 16, 32), blocks=1, iters=2)
    spec = net.priors()[0]
    imp = tp.importance.GroupMagnitudeImportance(p=1, group_reduction="mean", normalizer=None,
                                                 target_types=[nn.modules.conv._ConvNd])
    tp.pruner.BasePruner(spec.module, spec.example_inputs, importance=imp, pruning_ratio=0.25,
                         ignored_layers=spec.ignored_layers).step()
    assert net.prior.head.out_channels == 6 and net.prior.tail.out_channels == 3
    with torch.no_grad():
        out = net(odd_measurement(scale=4, b=2, h=9, w=11))
    assert out.shape == (2, 3, 36, 44) and torch.isfinite(out).all()


# --------------------------------------------------------------------------------------------
def test_bad_scale():
    m = odd_measurement()
    m.scale = 5
    with pytest.raises(ValueError, match="scale"):
        USRNet(**SMALL)(m)


def test_not_an_sr_measurement():
    @dataclass
    class Fake:
        lr: torch.Tensor
        scale: int = 2

    with pytest.raises(TypeError, match="SRMeasurement"):
        USRNet(**SMALL)(Fake(torch.rand(2, 3, 8, 8)))
    with pytest.raises(TypeError, match="SRMeasurement"):
        USRNet(**SMALL)(torch.rand(2, 3, 8, 8))


def test_unbatched_measurement():
    m = odd_measurement(b=1)
    m = SRMeasurement(m.lr[0], m.kernel[0], m.sigma[0], 3)
    with pytest.raises(ValueError, match="batched"):
        USRNet(**SMALL)(m)


def test_wrong_channel_count():
    m = odd_measurement()
    m.lr = m.lr[:, :1]
    with pytest.raises(ValueError, match="3 channels"):
        USRNet(**SMALL)(m)


def test_mismatched_kernel_and_sigma_batch():
    m = odd_measurement()
    m.kernel = sr_kernels()[:3]
    with pytest.raises(ValueError, match="kernel"):
        USRNet(**SMALL)(m)
    m = odd_measurement()
    m.sigma = torch.zeros(3)
    with pytest.raises(ValueError, match="sigma"):
        USRNet(**SMALL)(m)


@pytest.mark.parametrize("kwargs, match", [
    (dict(channels=(8, 16, 32)), "4 widths"),
    (dict(channels=(8, 16, 0, 32)), r"channels\[2\]"),
    (dict(blocks=0), "blocks"),
    (dict(iters=0), "iters"),
])
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        USRNet(**{**SMALL, **kwargs})


def test_hypanet_shape():
    h = HyPaNet(2, 64, 16)
    out = h(torch.randn(3, 2, 1, 1))
    assert out.shape == (3, 16, 1, 1) and (out > 0).all()


# -------------------------------------------------------------------------------- variants
def test_variants_share_modules_and_random_draws():
    """Built from one seed, the two variants hold the same tensors except the zoo's zeroed
    output conv: the official variant adds no random draw, so the zoo one is as before."""
    nets = {}
    for variant in ("zoo", "official"):
        torch.manual_seed(7)
        nets[variant] = USRNet(**SMALL, variant=variant)
        nets[variant].after = torch.rand(1)              # the generator's state after building
    zoo, official = nets["zoo"], nets["official"]
    assert zoo.variant == "zoo" and USRNet(**SMALL).variant == "zoo"
    assert torch.equal(zoo.after, official.after)
    a, b = zoo.state_dict(), official.state_dict()
    assert list(a) == list(b)
    for k in a:
        if k == "prior.tail.weight":
            assert torch.count_nonzero(a[k]) == 0 and torch.count_nonzero(b[k]) == b[k].numel()
        else:
            assert torch.equal(a[k], b[k]), k
    assert zoo.hypa.eps == 1e-4 and official.hypa.eps == 1e-6
    assert "variant='zoo'" in repr(zoo) and "variant='official'" in repr(official)


def test_build_passes_the_variant():
    from spadelib.models import build

    assert build("usrnet", "quick").variant == "zoo"
    net = build("usrnet", "quick", variant="official")
    assert net.variant == "official" and n_params(net) == n_params(build_usrnet("quick"))
    assert build_usrnet("quick", variant="official").variant == "official"
    with pytest.raises(ValueError, match="unknown USRNet variant 'paper'; choose one of zoo, "
                                         "official"):
        build("usrnet", "quick", variant="paper")
    with pytest.raises(TypeError, match="network 'deq' has no option 'variant'"):
        build("deq", "quick", variant="official")
    with pytest.raises(TypeError, match="network 'varnet' has no option 'variant'; it takes no "
                                        "options"):
        build("varnet", "quick", variant="official")
    assert build("deq", "quick", max_iter=3).max_iter == 3    # the DEQ's own options pass
    assert build("usrnet", "quick", iters=3).iters == 3       # sizes other than the preset's
    with pytest.raises(TypeError, match="has no option 'depth'"):
        build("usrnet", "quick", depth=3)


def test_official_variant_prunes_like_the_zoo_one():
    tp = pytest.importorskip("torch_pruning")
    nets = [USRNet(channels=(8, 16, 16, 32), blocks=1, iters=2, variant=v)
            for v in ("zoo", "official")]
    for net in nets:
        nn.init.normal_(net.prior.tail.weight, std=0.05)
        spec = net.priors()[0]
        imp = tp.importance.GroupMagnitudeImportance(p=1, group_reduction="mean",
                                                     normalizer=None)
        tp.pruner.BasePruner(spec.module, spec.example_inputs, importance=imp,
                             pruning_ratio=0.25, ignored_layers=spec.ignored_layers).step()
    assert n_params(nets[0]) == n_params(nets[1]) < n_params(USRNet(channels=(8, 16, 16, 32),
                                                                       blocks=1, iters=2))
    with torch.no_grad():
        out = nets[1](odd_measurement(scale=4, h=9, w=11))
    assert out.shape == (2, 3, 36, 44) and torch.isfinite(out).all()
