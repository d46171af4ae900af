"""1D Cartesian equispaced undersampling masks with auto-calibration (ACS) lines.

The paper (section 4.1) follows fastMRI: phase-encode lines (columns of k-space) are kept at
equal spacing, plus a block of fully sampled low-frequency ACS lines in the centre. We use
fastMRI's :class:`~fastmri.data.subsample.EquispacedMaskFractionFunc`, which adjusts the spacing
so that the *total* fraction of kept lines (ACS included) equals 1 / acceleration.

The paper states 10 % ACS lines. That is what we use at 16.7 % and 12.5 %; at a 10 % sampling
rate 10 % ACS would leave no room for any outer line (fastMRI's spacing formula divides by
zero), so there we use fastMRI's own 4 % convention for high accelerations.

Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from fastmri.data.subsample import EquispacedMaskFractionFunc

from .. import checks


@dataclass(frozen=True)
class MaskSpec:
    """How a sampling rate is realised: ``rate = 1 / acceleration`` with some ACS lines.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """

    rate: float
    acceleration: int
    center_fraction: float

    @property
    def label(self) -> str:
        return f"{100 * self.rate:.1f} %"


SAMPLING_RATES: dict[float, MaskSpec] = {
    0.167: MaskSpec(1 / 6, 6, 0.10),
    0.125: MaskSpec(1 / 8, 8, 0.10),
    0.100: MaskSpec(1 / 10, 10, 0.04),
}


def mask_spec(rate: float) -> MaskSpec:
    """The mask settings for a sampling rate: 0.167 (or 1/6), 0.125 or 0.1.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Raises:
        ValueError: no mask is defined for this rate.
    """
    for key, spec in SAMPLING_RATES.items():
        if abs(float(rate) - key) < 2e-3 or abs(float(rate) - spec.rate) < 1e-6:
            return spec
    known = ", ".join(f"{k} ({s.label}, x{s.acceleration})" for k, s in SAMPLING_RATES.items())
    raise ValueError(f"no mask is defined for sampling rate {rate!r}; choose one of {known}")


def cartesian_mask(width: int, rate: float, seed: int | None = 0,
                   center_fraction: float | None = None) -> torch.Tensor:
    """A 1D equispaced Cartesian mask over ``width`` phase-encode columns.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        width: number of k-space columns W.
        rate: sampling rate (see :data:`SAMPLING_RATES`).
        seed: seeds the random offset of the equispaced lines (fastMRI draws it at random);
            the same seed always gives the same mask.
        center_fraction: the share of columns in the fully sampled centre (the ACS block);
            default: the rate's own (Chapter 1's control gives 12.5 % masks the 10 % rate's).

    Returns:
        float32 tensor of shape ``(1, 1, W, 1)``: broadcast it against ``(B, C, H, W, 2)``
        k-space after adding a batch axis (``mask[None]``).
    """
    width = checks.integer(width, "mask width", low=8)
    spec = mask_spec(rate)
    acs = (spec.center_fraction if center_fraction is None
           else checks.real(center_fraction, "center_fraction", low=0.0, high=1.0))
    func = EquispacedMaskFractionFunc([acs], [spec.acceleration])
    mask, _ = func((1, width, 1), seed=seed)
    return mask.reshape(1, 1, width, 1).float()


def realised_rate(mask: torch.Tensor) -> float:
    """Fraction of sampled columns of a 1D mask (any shape whose last-but-one axis is W).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    return float(mask.reshape(-1).float().mean())
