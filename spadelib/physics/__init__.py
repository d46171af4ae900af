"""Measurement models y = A x + e (eq. 1) sharing one interface (:class:`LinearPhysics`).

* :mod:`.mri`: multi-coil Cartesian MRI, A_i = P F S_i;
* :mod:`.masks`: 1D equispaced undersampling masks (P);
* :mod:`.sr`: super-resolution, A = S H, with USRNet's closed-form data step.

Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
"""
from .base import LinearPhysics, inner
from .masks import SAMPLING_RATES, cartesian_mask, mask_spec, realised_rate
from .mri import MultiCoilMRI, rss, zero_filled
from .sr import SCALES, SuperResolution, bicubic_upsample, nearest_upsample

__all__ = ["LinearPhysics", "inner", "MultiCoilMRI", "zero_filled", "rss", "SAMPLING_RATES",
           "cartesian_mask", "mask_spec", "realised_rate", "SuperResolution", "SCALES",
           "bicubic_upsample", "nearest_upsample"]
