"""Single-image super-resolution: ``y = S H x + n`` (the SR task of the SPADE paper).

The degradation model is USRNet's:

* ``H`` is a *circular* convolution with a blur kernel ``k`` (k x k, its centre at index
  ``k // 2``), computed with FFTs: ``H x = IFFT(OTF * FFT(x))`` where the OTF is the FFT of the
  kernel zero-padded to the image and circularly shifted so that its centre sits at pixel
  (0, 0) (:func:`kernel_to_otf`);
* ``S`` is s-fold decimation that keeps the *top-left* pixel of every s x s block
  (``x[..., ::s, ::s]``, :func:`downsample`); its adjoint ``S^T`` puts each low-resolution
  pixel back at the top-left of its block and fills the rest with zeros
  (:func:`upsample_zero`).

So LR pixel ``j`` sits at HR pixel ``j * s``; the interpolation baselines
(:func:`bicubic_upsample`, :func:`nearest_upsample`) follow the same convention.

Shapes: images ``x`` are real ``(B, C, H, W)``; measurements ``y`` are real
``(B, C, ceil(H / s), ceil(W / s))``. A kernel is ``(k, k)`` (shared by the batch) or
``(B, k, k)`` (one per batch item). Kernels are used as given: the ones of
:mod:`spadelib.kernels` are non-negative and sum to 1, so ``H`` preserves the mean intensity.

:meth:`SuperResolution.data_step` is the closed-form data module of USRNet (Zhao et al. 2016):
the exact minimiser of ``||S H x - y||^2 + alpha ||x - z||^2`` in O(HW log HW).

Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .. import checks
from .base import LinearPhysics, check_shape

SCALES = (2, 3, 4)

__all__ = ["SCALES", "check_scale", "kernel_to_otf", "downsample", "upsample_zero",
           "SuperResolution", "bicubic_upsample", "nearest_upsample"]


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def check_scale(scale) -> int:
    """``scale`` as an int after checking that it is one of :data:`SCALES` (an int, or a
    one-element integer tensor).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Raises:
        ValueError: anything else (``5``, ``2.5``, ``True``, ``"2"``).
    """
    if isinstance(scale, torch.Tensor) and scale.numel() == 1 and \
            not scale.is_floating_point() and scale.dtype != torch.bool:
        scale = scale.item()
    if not checks.is_int(scale) or scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}, got {scale!r}")
    return int(scale)


def _check_factor(s) -> int:
    """A positive integer decimation factor (the low-level helpers accept any, not just SCALES)."""
    return checks.positive_int(s, "the factor s")


def _lr_size(hr: tuple[int, int], s: int) -> tuple[int, int]:
    """Low-resolution size of an HR image: ``(ceil(H / s), ceil(W / s))``."""
    return -(-hr[0] // s), -(-hr[1] // s)


def _check_kernel(kernel: torch.Tensor) -> torch.Tensor:
    if not isinstance(kernel, torch.Tensor):
        raise TypeError(f"kernel must be a torch.Tensor (k, k) or (B, k, k), "
                        f"got {type(kernel).__name__}")
    if kernel.dim() not in (2, 3):
        raise ValueError(f"kernel must have shape (k, k) or (B, k, k), got {tuple(kernel.shape)}")
    if kernel.is_complex() or not kernel.is_floating_point():
        raise ValueError(f"kernel must be a real floating-point tensor, got dtype {kernel.dtype}")
    return kernel


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------
def kernel_to_otf(kernel: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Optical transfer function of a blur kernel for circular convolution on ``shape``.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    The kernel is zero-padded to ``(H, W)`` and rolled by ``(-(kh // 2), -(kw // 2))`` so that
    its centre pixel ``kernel[..., kh // 2, kw // 2]`` lands at index (0, 0); then
    ``OTF = fft2(padded)``. With this OTF, ``IFFT(OTF * FFT(x))`` is the circular convolution

        (k * x)[i, j] = sum_{a, b} k[a, b] x[(i - a + kh // 2) mod H, (j - b + kw // 2) mod W],

    which equals ``scipy.ndimage.convolve(x, k, mode="wrap")`` for odd kernel sizes.

    Args:
        kernel: real tensor ``(kh, kw)`` or batched ``(B, kh, kw)``.
        shape: image size ``(H, W)``; any longer sequence uses its last two entries.

    Returns:
        Complex tensor ``(H, W)`` or ``(B, H, W)`` (complex64 for a float32 kernel).

    Raises:
        ValueError: the kernel is larger than the image, or has a bad shape.
    """
    kernel = _check_kernel(kernel)
    if len(shape) < 2:
        raise ValueError(f"shape must give at least (H, W), got {tuple(shape)}")
    h, w = checks.size2d(tuple(shape)[-2:], "shape")
    kh, kw = kernel.shape[-2:]
    if kh > h or kw > w:
        raise ValueError(f"the {kh}x{kw} kernel is larger than the {h}x{w} image: "
                         f"use images of at least {kh}x{kw} pixels or a smaller kernel")
    padded = kernel.new_zeros(*kernel.shape[:-2], h, w)
    padded[..., :kh, :kw] = kernel
    padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(-2, -1))
    return torch.fft.fft2(padded)


def downsample(x: torch.Tensor, s: int) -> torch.Tensor:
    """Decimation ``S``: keep the top-left pixel of every s x s block.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        x: tensor ``(..., H, W)``.
        s: factor (positive int).

    Returns:
        ``x[..., ::s, ::s]``, shape ``(..., ceil(H / s), ceil(W / s))``.
    """
    s = _check_factor(s)
    if x.dim() < 2:
        raise ValueError(f"x must have at least 2 dimensions (..., H, W), got {tuple(x.shape)}")
    return x[..., ::s, ::s]


def upsample_zero(y: torch.Tensor, s: int, shape: Sequence[int] | None = None) -> torch.Tensor:
    """Zero-filled upsampling ``S^T``, the adjoint of :func:`downsample`.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    ``out[..., i * s, j * s] = y[..., i, j]``; every other pixel is 0.

    Args:
        y: tensor ``(..., h, w)``.
        s: factor (positive int).
        shape: HR size ``(H, W)`` with ``ceil(H / s) == h`` and ``ceil(W / s) == w``;
            default ``(h * s, w * s)``. Needed for sizes that are not multiples of ``s``.

    Returns:
        Tensor ``(..., H, W)`` of the dtype and device of ``y``.

    Raises:
        ValueError: ``shape`` does not decimate to ``(h, w)``.
    """
    s = _check_factor(s)
    if y.dim() < 2:
        raise ValueError(f"y must have at least 2 dimensions (..., h, w), got {tuple(y.shape)}")
    h, w = y.shape[-2:]
    hr = (h * s, w * s) if shape is None else checks.size2d(tuple(shape)[-2:], "shape")
    if _lr_size(hr, s) != (h, w):
        raise ValueError(f"y of size {h}x{w} is not the x{s} decimation of a {hr[0]}x{hr[1]} "
                         f"image (that gives {_lr_size(hr, s)[0]}x{_lr_size(hr, s)[1]}): "
                         f"pass the right high-resolution shape")
    out = y.new_zeros(*y.shape[:-2], *hr)
    out[..., ::s, ::s] = y
    return out


def _block_mean(t: torch.Tensor, s: int) -> torch.Tensor:
    """Mean of the s x s distinct (H/s, W/s) tiles of ``t`` (..., H, W) -> (..., H/s, W/s)."""
    h, w = t.shape[-2:]
    t = t.reshape(*t.shape[:-2], s, h // s, s, w // s)
    return t.mean(dim=(-4, -2))


def _tile(t: torch.Tensor, s: int) -> torch.Tensor:
    """Inverse layout of :func:`_block_mean`: repeat (..., h, w) s x s times -> (..., s h, s w)."""
    return t.repeat(*([1] * (t.dim() - 2)), s, s)


# --------------------------------------------------------------------------------------------
# the operator
# --------------------------------------------------------------------------------------------
class SuperResolution(LinearPhysics):
    """Blur-then-decimate: ``A x = S (k * x)`` with circular convolution (USRNet's model).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        kernel: real blur kernel ``(k, k)`` shared by the batch, or ``(B, k, k)`` one per batch
            item. Used as given (no normalisation); the kernels of :mod:`spadelib.kernels` are
            non-negative and sum to 1.
        scale: decimation factor s, one of :data:`SCALES` = (2, 3, 4).
        img_size: HR size ``(H, W)``. Optional: when given, inputs are checked against it and
            :meth:`A_adjoint` returns images of this size; when omitted, :meth:`A` accepts any
            size and :meth:`A_adjoint` returns ``(h * s, w * s)``. Give it for sizes that are
            not multiples of s (e.g. 37 x 31).

    Shapes:
        x: real ``(B, C, H, W)``; y: real ``(B, C, ceil(H / s), ceil(W / s))``.

    Example:
        >>> from spadelib.kernels import sr_kernels
        >>> phys = SuperResolution(sr_kernels()[0], scale=4)
        >>> y = phys.A(torch.rand(2, 3, 96, 96))          # (2, 3, 24, 24)
        >>> x = phys.A_adjoint(y)                          # (2, 3, 96, 96)
    """

    def __init__(self, kernel: torch.Tensor, scale: int,
                 img_size: Sequence[int] | None = None):
        self.kernel = _check_kernel(kernel)
        self.scale = check_scale(scale)
        self.img_size = None if img_size is None else checks.size2d(img_size, "img_size")
        if self.img_size is not None:
            kh, kw = self.kernel.shape[-2:]
            if kh > self.img_size[0] or kw > self.img_size[1]:
                raise ValueError(f"the {kh}x{kw} kernel is larger than img_size "
                                 f"{self.img_size[0]}x{self.img_size[1]}: use larger images "
                                 f"or a smaller kernel")

    def __repr__(self) -> str:
        size = "any size" if self.img_size is None else f"{self.img_size[0]}x{self.img_size[1]}"
        return (f"SuperResolution(x{self.scale}, kernel {tuple(self.kernel.shape)}, "
                f"HR {size})")

    # -- helpers ---------------------------------------------------------------------------
    @property
    def batched_kernel(self) -> bool:
        """True for one kernel per batch item, ``(B, k, k)``."""
        return self.kernel.dim() == 3

    def otf(self, shape: Sequence[int], dtype: torch.dtype = torch.float32,
            device: torch.device | str | None = None) -> torch.Tensor:
        """OTF broadcastable against ``(B, C, H, W)``: ``(H, W)`` or ``(B, 1, H, W)``.

        Args:
            shape: HR size ``(H, W)``.
            dtype: real dtype of the images (float32 -> complex64, float64 -> complex128).
            device: where to compute it; default the kernel's device.
        """
        otf = kernel_to_otf(self.kernel.to(device=device, dtype=dtype), shape)
        return otf.unsqueeze(1) if self.batched_kernel else otf

    def _check_x(self, x: torch.Tensor, name: str = "x") -> None:
        check_shape(x, name, 4, "(B, C, H, W) real")
        if x.is_complex() or not x.is_floating_point():
            raise ValueError(f"{name} must be a real floating-point tensor (B, C, H, W), "
                             f"got dtype {x.dtype}")
        if self.img_size is not None and tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(f"{name} has size {x.shape[-2]}x{x.shape[-1]} but this operator "
                             f"was built for img_size {self.img_size[0]}x{self.img_size[1]}")
        if self.batched_kernel and x.shape[0] != self.kernel.shape[0]:
            raise ValueError(f"{name} has batch size {x.shape[0]} but there are "
                             f"{self.kernel.shape[0]} kernels (B, k, k): give one kernel per "
                             f"batch item or a single (k, k) kernel")

    def _hr_size(self, y: torch.Tensor) -> tuple[int, int]:
        check_shape(y, "y", 4, "(B, C, h, w) real")
        if y.is_complex() or not y.is_floating_point():
            raise ValueError(f"y must be a real floating-point tensor (B, C, h, w), "
                             f"got dtype {y.dtype}")
        s = self.scale
        h, w = y.shape[-2:]
        hr = self.img_size if self.img_size is not None else (h * s, w * s)
        if _lr_size(hr, s) != (h, w):
            lh, lw = _lr_size(hr, s)
            raise ValueError(f"y must have size {lh}x{lw} (img_size {hr[0]}x{hr[1]} at "
                             f"x{s}), got {h}x{w}")
        if self.batched_kernel and y.shape[0] != self.kernel.shape[0]:
            raise ValueError(f"y has batch size {y.shape[0]} but there are "
                             f"{self.kernel.shape[0]} kernels (B, k, k)")
        return hr

    def blur(self, x: torch.Tensor) -> torch.Tensor:
        """``H x``: circular convolution with the kernel, ``Re IFFT(OTF * FFT(x))``."""
        self._check_x(x)
        otf = self.otf(x.shape[-2:], x.dtype, x.device)
        return torch.fft.ifft2(torch.fft.fft2(x) * otf).real

    # -- LinearPhysics ---------------------------------------------------------------------
    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """Forward model ``y = S H x``.

        Args:
            x: real ``(B, C, H, W)``.

        Returns:
            Real ``(B, C, ceil(H / s), ceil(W / s))``.
        """
        return downsample(self.blur(x), self.scale)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """Adjoint ``H^T S^T y``: zero-filled upsampling, then correlation with the kernel.

        Correlation is the convolution with the flipped kernel, i.e. multiplication of the
        spectrum by ``conj(OTF)``.

        Args:
            y: real ``(B, C, h, w)``.

        Returns:
            Real ``(B, C, H, W)`` with ``(H, W)`` = ``img_size`` or ``(h * s, w * s)``.
        """
        hr = self._hr_size(y)
        up = upsample_zero(y, self.scale, hr)
        otf = self.otf(hr, y.dtype, y.device)
        return torch.fft.ifft2(torch.fft.fft2(up) * otf.conj()).real

    # -- USRNet's data module ----------------------------------------------------------------
    def data_step(self, z: torch.Tensor, y: torch.Tensor, alpha) -> torch.Tensor:
        """Closed-form proximal step on the data term (USRNet's data module).

        Solves

            x* = argmin_x ||S H x - y||^2 + alpha ||x - z||^2,

        i.e. ``(H^T S^T S H + alpha I) x = H^T S^T y + alpha z``, exactly, in the Fourier
        domain (Zhao et al. 2016). With ``F`` the 2-D FFT, ``F_B`` the OTF, ``⊙`` entry-wise
        products, ``⇓_s`` the mean over the s x s distinct ``(H/s, W/s)`` tiles of a spectrum
        and ``⇑_s`` its tiling back to ``(H, W)``:

            F_R = conj(F_B) ⊙ F(S^T y) + alpha F(z)
            x*  = Re F^{-1}[ (F_R - conj(F_B) ⊙ ⇑_s( ⇓_s(F_B ⊙ F_R) / (⇓_s|F_B|^2 + alpha) ))
                             / alpha ]

        (Decimation aliases frequency ``u`` with ``u + m H/s``, so ``S^T S`` couples exactly
        those s^2 frequencies; the Woodbury identity turns the inverse into the tile means.)

        Args:
            z: real ``(B, C, H, W)``, the current estimate (USRNet: the prior's output), with
                ``H`` and ``W`` divisible by s.
            y: real ``(B, C, H / s, W / s)``, the measurements.
            alpha: positive float, or a positive real tensor broadcastable to ``(B, 1, 1, 1)``
                (USRNet: ``mu * sigma^2`` from HyPaNet). Gradients flow through z and alpha.

        Returns:
            Real ``(B, C, H, W)``.

        Raises:
            ValueError: H or W not divisible by s, mismatched shapes, or alpha <= 0.
        """
        self._check_x(z, "z")
        s = self.scale
        h, w = z.shape[-2:]
        if h % s or w % s:
            raise ValueError(f"data_step needs H and W divisible by the scale {s}, got "
                             f"{h}x{w}: crop or pad the image to a multiple of {s}")
        check_shape(y, "y", 4, "(B, C, H / s, W / s) real")
        expected = (z.shape[0], z.shape[1], h // s, w // s)
        if tuple(y.shape) != expected:
            raise ValueError(f"y must have shape {expected} to match z {tuple(z.shape)} at "
                             f"x{s}, got {tuple(y.shape)}")
        if isinstance(alpha, torch.Tensor):
            alpha = alpha.to(dtype=z.dtype, device=z.device)
            if alpha.dim() > 4:
                raise ValueError(f"alpha must be broadcastable to (B, 1, 1, 1), got shape "
                                 f"{tuple(alpha.shape)}")
            if alpha.dim() == 1:  # (B,) -> (B, 1, 1, 1)
                alpha = alpha.view(-1, 1, 1, 1)
            target = (z.shape[0], 1, 1, 1)
            try:
                ok = torch.broadcast_shapes(alpha.shape, target) == target
            except RuntimeError:
                ok = False
            if not ok:
                raise ValueError(f"alpha must be broadcastable to (B, 1, 1, 1) with "
                                 f"B={z.shape[0]}, got shape {tuple(alpha.shape)}")
            if bool((alpha.detach() <= 0).any()):
                raise ValueError("alpha must be positive (it weighs ||x - z||^2 and divides "
                                 "the solution)")
        else:
            alpha = checks.positive_real(alpha, "alpha (a positive number or tensor)")

        fb = self.otf((h, w), z.dtype, z.device)
        fbc = fb.conj()
        f2b = fb.real ** 2 + fb.imag ** 2
        fbfy = fbc * torch.fft.fft2(upsample_zero(y.to(z.dtype), s, (h, w)))
        fr = fbfy + alpha * torch.fft.fft2(z)
        fbr = _block_mean(fb * fr, s)
        inv_w = _block_mean(f2b, s)
        inv_wbr = fbr / (inv_w + alpha)
        fx = (fr - fbc * _tile(inv_wbr, s)) / alpha
        return torch.fft.ifft2(fx).real


# --------------------------------------------------------------------------------------------
# interpolation baselines
# --------------------------------------------------------------------------------------------
def _as_4d(y: torch.Tensor, name: str = "y") -> tuple[torch.Tensor, bool]:
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (B, C, h, w) or (C, h, w), "
                        f"got {type(y).__name__}")
    if y.dim() == 3:
        return y.unsqueeze(0), True
    if y.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, h, w) or (C, h, w), "
                         f"got {tuple(y.shape)}")
    return y, False


def bicubic_upsample(y: torch.Tensor, scale: int, img_size: Sequence[int] | None = None,
                     clamp: bool = True) -> torch.Tensor:
    """Bicubic interpolation baseline, aligned with the top-left decimation convention.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    LR pixel ``j`` sits at HR pixel ``j * s``, so HR pixel ``i`` is read at LR coordinate
    ``i / s`` (bicubic, Keys a = -0.75 as in ``grid_sample``); HR pixels beyond the last LR
    pixel use border replication. A centred resize (``F.interpolate``) would shift the image by
    ``(s - 1) / 2`` pixels: a misalignment the PSNR would charge to the
    interpolation.

    Args:
        y: real ``(B, C, h, w)`` or ``(C, h, w)``.
        scale: s, one of :data:`SCALES`.
        img_size: HR size ``(H, W)`` with ``ceil(H / s) == h``; default ``(h * s, w * s)``.
        clamp: clip the result to [0, 1] (the default; bicubic overshoots at edges). Pass
            ``False`` for images not in [0, 1].

    Returns:
        ``(B, C, H, W)`` (or ``(C, H, W)`` for an unbatched input).
    """
    s = check_scale(scale)
    y4, squeeze = _as_4d(y)
    if not y4.is_floating_point():
        raise ValueError(f"y must be a real floating-point tensor, got dtype {y4.dtype}")
    h, w = y4.shape[-2:]
    hr = (h * s, w * s) if img_size is None else checks.size2d(img_size, "img_size")
    if _lr_size(hr, s) != (h, w):
        raise ValueError(f"y of size {h}x{w} is not the x{s} decimation of img_size "
                         f"{hr[0]}x{hr[1]}")

    def norm(n_hr: int, n_lr: int) -> torch.Tensor:
        pos = torch.arange(n_hr, dtype=y4.dtype, device=y4.device) / s  # LR coordinate
        if n_lr == 1:
            return torch.full_like(pos, -1.0)
        return 2.0 * pos / (n_lr - 1) - 1.0  # align_corners=True: -1 -> pixel 0, 1 -> n_lr-1

    gy, gx = torch.meshgrid(norm(hr[0], h), norm(hr[1], w), indexing="ij")
    grid = torch.stack((gx, gy), dim=-1).unsqueeze(0).expand(y4.shape[0], -1, -1, -1)
    out = F.grid_sample(y4, grid, mode="bicubic", padding_mode="border", align_corners=True)
    if clamp:
        out = out.clamp(0.0, 1.0)
    return out[0] if squeeze else out


def nearest_upsample(y: torch.Tensor, scale: int,
                     img_size: Sequence[int] | None = None) -> torch.Tensor:
    """Nearest-neighbour upsampling, USRNet's initial estimate ``x_0``.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Every LR pixel fills its s x s block: ``out[..., i, j] = y[..., i // s, j // s]``
    (``F.interpolate(mode="nearest")`` for integer factors).

    Args:
        y: real ``(B, C, h, w)`` or ``(C, h, w)``.
        scale: s, one of :data:`SCALES`.
        img_size: HR size ``(H, W)`` with ``ceil(H / s) == h`` (the result is cropped to it);
            default ``(h * s, w * s)``.

    Returns:
        ``(B, C, H, W)`` (or ``(C, H, W)`` for an unbatched input).
    """
    s = check_scale(scale)
    y4, squeeze = _as_4d(y)
    h, w = y4.shape[-2:]
    hr = (h * s, w * s) if img_size is None else checks.size2d(img_size, "img_size")
    if _lr_size(hr, s) != (h, w):
        raise ValueError(f"y of size {h}x{w} is not the x{s} decimation of img_size "
                         f"{hr[0]}x{hr[1]}")
    out = y4.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)[..., :hr[0], :hr[1]]
    return out[0] if squeeze else out
