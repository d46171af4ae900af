"""1D Cartesian equispaced masks: realised sampling rates, ACS lines, reproducibility."""
import pytest
import torch

from spadelib.physics.masks import SAMPLING_RATES, cartesian_mask, mask_spec, realised_rate


@pytest.mark.parametrize("rate", [0.167, 0.125, 0.1])
@pytest.mark.parametrize("width", [64, 256, 320, 368])
def test_realised_rate(rate, width):
    mask = cartesian_mask(width, rate, seed=11)
    assert mask.shape == (1, 1, width, 1)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    # within one and a half lines of the nominal rate
    assert abs(realised_rate(mask) - mask_spec(rate).rate) <= 1.5 / width


@pytest.mark.parametrize("rate", [0.167, 0.125, 0.1])
def test_acs_block_is_fully_sampled(rate):
    width = 320
    spec = mask_spec(rate)
    mask = cartesian_mask(width, rate).reshape(-1)
    n_acs = round(width * spec.center_fraction)
    start = (width - n_acs + 1) // 2
    assert mask[start:start + n_acs].all()


def test_masks_are_seeded():
    a, b = cartesian_mask(256, 0.125, seed=1), cartesian_mask(256, 0.125, seed=1)
    assert torch.equal(a, b)
    offsets = {tuple(cartesian_mask(256, 0.125, seed=s).reshape(-1).tolist()) for s in range(8)}
    assert len(offsets) > 1


def test_rate_aliases():
    assert mask_spec(1 / 6).acceleration == 6
    assert mask_spec(0.1667).acceleration == 6
    assert mask_spec(0.125).acceleration == 8
    assert len(SAMPLING_RATES) == 3


def test_unknown_rate_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no mask is defined for sampling rate 0\.3"):
        cartesian_mask(64, 0.3)
    with pytest.raises(ValueError, match="width"):
        cartesian_mask(4, 0.125)
