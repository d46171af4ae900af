"""What every network shares: a measurement holding NaN or Inf is refused before the forward
pass, naming the field (checked once, in MBDLNetwork, for all four networks)."""
import math

import pytest
import torch

from spadelib.data import MRIMeasurement, SRMeasurement
from spadelib.kernels import gaussian_kernel
from spadelib.models import build
from spadelib.presets import get_preset

TINY = get_preset("quick").replace(
    deq_blocks=1, deq_features=4, deq_max_iter=3, varnet_cascades=1, varnet_chans=2,
    varnet_pools=1, sens_chans=2, sens_pools=1, usrnet_channels=(4, 4, 4, 4), usrnet_blocks=1,
    usrnet_iters=1)
MRI_FIELDS = ("kspace", "coil_maps", "mask")
SR_FIELDS = ("lr", "kernel", "sigma")


def mri_measurement() -> MRIMeasurement:
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(2, 2, 16, 16, 2, generator=g)
    maps = maps / maps.pow(2).sum(dim=(1, 4), keepdim=True).sqrt()
    mask = torch.zeros(2, 1, 1, 16, 1)
    mask[..., ::3, :] = 1
    mask[..., 6:10, :] = 1                        # the ACS lines E2E-VarNet calibrates on
    m = MRIMeasurement(torch.zeros(2, 2, 16, 16, 2), mask, maps)
    return m.with_y(m.physics().A(torch.randn(2, 2, 16, 16, generator=g)))


def sr_measurement() -> SRMeasurement:
    g = torch.Generator().manual_seed(0)
    kernel = gaussian_kernel(1.0, size=5)
    return SRMeasurement(torch.rand(2, 3, 8, 8, generator=g), torch.stack([kernel, kernel]),
                         torch.tensor([0.01, 0.01]), 2)


def spoil(m, field: str, value: float):
    """Put ``value`` into one measured entry of the field (in place, after construction)."""
    t = getattr(m, field)
    if field == "kspace":
        t[0, 0, 0, 7, 0] = value                  # a sampled line
    else:
        t.view(-1)[0] = value
    return m


CASES = [(name, field) for name in ("deq", "varnet", "e2e-varnet") for field in MRI_FIELDS] + \
        [("usrnet", field) for field in SR_FIELDS]


@pytest.mark.parametrize("name, field", CASES)
def test_a_nonfinite_measurement_is_refused_naming_the_field(name, field):
    torch.manual_seed(0)
    net = build(name, TINY).eval()
    make = sr_measurement if name == "usrnet" else mri_measurement
    with torch.no_grad():
        out = net(make())                           # a finite measurement goes through
    assert bool(torch.isfinite(out).all())
    for value in (math.nan, math.inf):
        with pytest.raises(ValueError, match=rf"{name}: the measurement's '{field}' holds 1 "
                                             r"non-finite \(NaN or Inf\) entry"):
            net(spoil(make(), field, value))


def test_the_deq_trace_refuses_it_too():
    net = build("deq", TINY).eval()
    with pytest.raises(ValueError, match="'kspace'"):
        net.iterate(spoil(mri_measurement(), "kspace", math.nan))


def test_a_sample_is_checked_on_its_measurement_fields_only():
    """The target is ground truth, not a measurement: the networks never read it."""
    from spadelib.data import SRSample

    m = sr_measurement()
    sample = SRSample(m.lr, m.kernel, m.sigma, m.scale,
                      target=torch.full((2, 3, 16, 16), math.nan))
    net = build("usrnet", TINY).eval()
    with torch.no_grad():
        assert net(sample).shape == (2, 3, 16, 16)
