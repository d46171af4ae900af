r"""The rotations :math:`\phi` of equivariant imaging (SPADE's eq. 9), drawn and applied.

Self-supervised fine-tuning asks the network to commute with a group of transforms
:math:`\Phi`: a rotated reconstruction, measured again, must be reconstructed as itself. This
module draws the rotations (:func:`draw_rotations`) and applies them to image batches
(:func:`rotate`) and to MRI coil maps (:func:`rotate_maps`). Two groups are offered:

* ``"90"`` (the default): exact multiples of 90 degrees with :func:`torch.rot90`, no
  interpolation, so a rotated image is exactly as sharp as the original and
  ``rotate(rotate(x, a), -a) == x`` bit for bit. The identity is never drawn: with
  :math:`\phi = I` the equivariance term only asks :math:`f(A f(y)) = f(y)` and teaches nothing
  about the null space of :math:`A`. Square images get 90, 180 or 270 degrees, uniformly;
  non-square images only 180 degrees (90 would swap their height and width).
* ``"any"``: uniform angles in (0, 360) applied with bilinear
  :func:`torch.nn.functional.grid_sample` (zeros outside the field of view, the pixel grid's
  aspect ratio respected). Interpolation blurs a little, so measurements whose reconstruction
  must hold detail finer than what was measured (super-resolution) use exact rotations only
  (:func:`spadelib.losses.check_ei_options`).

Taught in Chapter 5 (``book/05_finetuning.ipynb``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["ROTATIONS", "check_rotations", "draw_rotations", "rotate", "rotate_maps"]

ROTATIONS = ("90", "any")


def check_rotations(rotations) -> str:
    """``rotations`` as one of :data:`ROTATIONS` (``"90"`` or ``"any"``; ``90`` is accepted).

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Raises:
        ValueError: any other value; the message says what each choice means.
    """
    key = str(rotations)
    if key not in ROTATIONS:
        raise ValueError(f"unknown rotations {rotations!r}; choose one of {ROTATIONS} ('90': "
                         "exact multiples of 90 degrees, 'any': arbitrary angles, bilinear)")
    return key


def draw_rotations(batch: int, size: tuple[int, int], rotations: str = "90",
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Random rotation angles, one per sample, never the identity.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        batch: B.
        size: image size ``(H, W)``.
        rotations: ``"90"``: 90, 180 or 270 degrees for square images, 180 for non-square ones
            (no random number is drawn then); ``"any"``: uniform in (0, 360).
        generator: a CPU generator (seeded by the caller for reproducibility).

    Returns:
        Angles in degrees, float64 ``(B,)`` on the CPU.
    """
    rotations = check_rotations(rotations)
    if rotations == "any":
        u = torch.rand(batch, generator=generator, dtype=torch.float64)
        return 360.0 * u.clamp_min(1e-6)
    if size[0] != size[1]:
        return torch.full((batch,), 180.0, dtype=torch.float64)
    k = torch.randint(1, 4, (batch,), generator=generator)
    return 90.0 * k.double()


def _quarter_turns(angles: torch.Tensor) -> torch.Tensor | None:
    """``angles / 90`` modulo 4 when every angle is a multiple of 90 degrees, else None."""
    k = torch.round(angles.double() / 90.0)
    if torch.all(torch.abs(angles.double() - 90.0 * k) < 1e-9):
        return k.long() % 4
    return None


def rotate(x: torch.Tensor, angles: torch.Tensor | float) -> torch.Tensor:
    r"""Rotate each image of a batch about its centre, by its own angle.

    Multiples of 90 degrees use :func:`torch.rot90` on the last two axes (exact: rotating by
    ``a`` then ``-a`` returns ``x`` bit for bit); other angles use bilinear
    :func:`~torch.nn.functional.grid_sample` with zeros outside the field of view. The sense
    is that of ``torch.rot90(x, 1, dims=(-2, -1))`` for +90 degrees, for both paths.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        x: ``(B, ..., H, W)`` real tensor (extra axes, e.g. real/imag channels or coils, are
            rotated together).
        angles: degrees, a number or ``(B,)``.

    Returns:
        The rotated batch, same shape as ``x``.

    Raises:
        ValueError: an odd number of quarter turns on a non-square image, or a wrong number of
            angles.
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"rotate expects a batch (B, ..., H, W), got shape {shape}")
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    angles = torch.as_tensor(angles, dtype=torch.float64).reshape(-1).cpu()
    if angles.numel() == 1:
        angles = angles.expand(b)
    if angles.numel() != b:
        raise ValueError(f"rotate got {angles.numel()} angles for a batch of {b} images")
    k = _quarter_turns(angles)
    if k is not None:
        if h != w and bool(torch.any(k % 2 == 1)):
            raise ValueError(f"a 90-degree rotation would turn the {h}x{w} image into {w}x{h}: "
                             "non-square images can only be rotated by 180 degrees")
        return torch.stack([torch.rot90(x[i], int(k[i]), dims=(-2, -1)) for i in range(b)])
    flat = x.reshape(b, -1, h, w)
    a = torch.deg2rad(angles)
    c, s = torch.cos(a), torch.sin(a)
    # output normalised coords -> input coords, with the aspect ratio of the pixel grid kept
    theta = torch.stack([torch.stack([c, -s * h / w, torch.zeros_like(c)], -1),
                         torch.stack([s * w / h, c, torch.zeros_like(c)], -1)], 1)
    grid = F.affine_grid(theta.to(device=x.device, dtype=x.dtype), list(flat.shape),
                         align_corners=False)
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(x.shape)


def rotate_maps(maps: torch.Tensor, angles: torch.Tensor | float) -> torch.Tensor:
    """Rotate a batch of MRI coil maps ``(B, C, H, W, 2)`` over their spatial axes, each by
    its own angle, as :func:`rotate` rotates images (same sense, same exactness).

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).
    """
    if not isinstance(maps, torch.Tensor) or maps.dim() != 5 or maps.shape[-1] != 2:
        raise ValueError(f"rotate_maps expects coil maps (B, C, H, W, 2), got "
                         f"{tuple(maps.shape) if isinstance(maps, torch.Tensor) else maps!r}")
    return rotate(maps.movedim(-1, 1), angles).movedim(1, -1).contiguous()
