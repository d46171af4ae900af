"""Multi-coil Cartesian MRI: A_i = P F S_i (paper section 4.1).

Tensor layout (the same everywhere in the book):

* image ``x``: ``(B, 2, H, W)`` real, channel 0 = real part, channel 1 = imaginary part. This is
  the layout the CNN priors see (the DEQ's EDSR maps 2 -> 2 channels).
* k-space ``y`` and coil maps ``S``: ``(B, C, H, W, 2)``, fastMRI's layout (complex as a
  trailing axis of size 2, C coils).
* mask ``P``: broadcastable to ``(B, C, H, W, 1)``, e.g. ``(B, 1, 1, W, 1)`` for the 1D
  Cartesian masks of :mod:`spadelib.physics.masks` (1 = sampled phase-encode line).

F is fastMRI's centred, orthonormal 2D FFT (:func:`fastmri.fft2c`), so ``F^H = F^{-1}``.

Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
"""
from __future__ import annotations

import fastmri
import torch

from .base import LinearPhysics, check_shape

IMAGE_LAYOUT = "(B, 2, H, W) real/imag"
KSPACE_LAYOUT = "(B, C, H, W, 2) real/imag"


def _refuse_complex_dtype(t, name: str, layout: str, convert: str) -> None:
    """fastMRI's layout stores complex numbers as a real axis of size 2; a tensor of complex
    dtype would fail deep inside fastMRI (``view_as_complex``), so it is refused here."""
    if isinstance(t, torch.Tensor) and t.is_complex():
        raise ValueError(f"{name} has the complex dtype {t.dtype}; the MRI operators take "
                         f"complex data as real tensors with a real/imag axis: {name} must "
                         f"be {layout} of a real dtype. Convert it with {convert}")


def _check_complex_layout(t, name: str, ndim: int, layout: str, **axes) -> None:
    """:func:`~spadelib.physics.base.check_shape`, refusing a complex dtype first."""
    convert = ("torch.view_as_real(...)" if axes.get("last") == 2 else
               "spadelib.physics.mri.from_torch_complex(...)")
    _refuse_complex_dtype(t, name, layout, convert)
    check_shape(t, name, ndim, layout, **axes)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """``(B, 2, H, W)`` real/imag channels -> ``(B, H, W, 2)`` fastMRI complex layout.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    _check_complex_layout(x, "x", 4, IMAGE_LAYOUT, dim1=2)
    return x.permute(0, 2, 3, 1).contiguous()


def complex_to_channels(z: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, 2)`` fastMRI complex layout -> ``(B, 2, H, W)`` real/imag channels.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    _check_complex_layout(z, "z", 4, "(B, H, W, 2) real/imag", last=2)
    return z.permute(0, 3, 1, 2).contiguous()


def from_torch_complex(z: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` complex dtype -> ``(B, 2, H, W)`` real/imag channels.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    return torch.stack([z.real, z.imag], dim=1)


class MultiCoilMRI(LinearPhysics):
    """Multi-coil CS-MRI forward model ``A x = (P F S_i x)_{i=1..C}``.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    ``A_adjoint(y) = sum_i S_i^H F^H P y_i`` is the coil-combined zero-filled image, and
    ``grad(x, y) = A^H (A x - y)`` the gradient of h(x) = 1/2 ||A x - y||^2 used in eq. (3).

    Args:
        coil_maps: ``(B, C, H, W, 2)`` sensitivity maps S_i (ESPIRiT maps in the book's data),
            a real tensor: complex numbers as a trailing real/imag axis (fastMRI's layout).
        mask: sampling mask broadcastable to ``(B, C, H, W, 1)``; ``None`` = fully sampled.

    Raises:
        ValueError: a tensor of complex dtype (coil maps, mask, and later ``x`` or ``y``): the
            message names the real/imag layout expected and how to convert; or a shape that
            does not fit.
    """

    def __init__(self, coil_maps: torch.Tensor, mask: torch.Tensor | None = None):
        _check_complex_layout(coil_maps, "coil_maps", 5, KSPACE_LAYOUT, last=2)
        if mask is not None:
            if not isinstance(mask, torch.Tensor):
                raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
            _refuse_complex_dtype(mask, "mask", "(B, 1, 1, W, 1) of 0/1", "mask.real")
            mask = mask.to(coil_maps.dtype)
            if mask.dim() != 5 or mask.shape[-1] != 1:
                raise ValueError("mask must be broadcastable to (B, C, H, W, 1), e.g. "
                                 f"(B, 1, 1, W, 1); got {tuple(mask.shape)}")
            try:
                torch.broadcast_shapes(mask.shape, coil_maps.shape[:-1] + (1,))
            except RuntimeError:
                raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to "
                                 f"coil maps {tuple(coil_maps.shape)}") from None
        self.coil_maps = coil_maps
        self.mask = mask

    @property
    def shape(self) -> tuple[int, int]:
        """Image size (H, W)."""
        return tuple(self.coil_maps.shape[-3:-1])

    def _check_x(self, x: torch.Tensor) -> None:
        _check_complex_layout(x, "x", 4, IMAGE_LAYOUT, dim1=2)
        b, _, h, w = self.coil_maps.shape[:4]
        if tuple(x.shape[-2:]) != (h, w) or x.shape[0] not in (b, 1) and b != 1:
            raise ValueError(f"x of shape {tuple(x.shape)} does not match coil maps "
                             f"{tuple(self.coil_maps.shape)}: expected (B, 2, {h}, {w})")

    def _check_y(self, y: torch.Tensor) -> None:
        _check_complex_layout(y, "y", 5, KSPACE_LAYOUT, last=2)
        if tuple(y.shape[1:4]) != tuple(self.coil_maps.shape[1:4]):
            raise ValueError(f"k-space of shape {tuple(y.shape)} does not match coil maps "
                             f"{tuple(self.coil_maps.shape)}")

    def _apply_mask(self, k: torch.Tensor) -> torch.Tensor:
        return k if self.mask is None else k * self.mask

    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """``(B, 2, H, W)`` image -> ``(B, C, H, W, 2)`` undersampled multi-coil k-space."""
        self._check_x(x)
        z = channels_to_complex(x).unsqueeze(1)                      # (B, 1, H, W, 2)
        coil_images = fastmri.complex_mul(self.coil_maps, z)          # (B, C, H, W, 2)
        return self._apply_mask(fastmri.fft2c(coil_images))

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """``(B, C, H, W, 2)`` k-space -> ``(B, 2, H, W)`` coil-combined image."""
        self._check_y(y)
        coil_images = fastmri.ifft2c(self._apply_mask(y))
        combined = fastmri.complex_mul(fastmri.complex_conj(self.coil_maps), coil_images).sum(1)
        return complex_to_channels(combined)


def zero_filled(kspace: torch.Tensor, coil_maps: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
    """The zero-filled (SENSE-1) reconstruction ``A^H y``: ``(B, 2, H, W)``.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    return MultiCoilMRI(coil_maps, mask).A_adjoint(kspace)


def rss(kspace: torch.Tensor) -> torch.Tensor:
    """Root-sum-of-squares coil combination of ``(B, C, H, W, 2)`` k-space: ``(B, H, W)``.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    _check_complex_layout(kspace, "kspace", 5, KSPACE_LAYOUT, last=2)
    return fastmri.rss(fastmri.complex_abs(fastmri.ifft2c(kspace)), dim=1)
