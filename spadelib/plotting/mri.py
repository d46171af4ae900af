"""MRI figures: k-space with its sampling mask (:func:`show_kspace`) and coils
(:func:`show_coils`)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import checks
from .common import PHASE_CMAP, _check_panel_size, _grid, _numpy

__all__ = ["show_kspace", "show_coils"]


def _complex_stack(x: Any, name: str, layout: str) -> np.ndarray:
    """Complex data (trailing re/im axis of size 2, or a complex dtype) as complex numpy."""
    a = _numpy(x, name, allow_complex=True)
    if np.iscomplexobj(a):
        return a
    if a.ndim < 3 or a.shape[-1] != 2:
        raise ValueError(f"{name} must be complex {layout}: a trailing real/imag axis of size 2 "
                         f"or a complex dtype, got real shape {tuple(a.shape)}")
    return a[..., 0] + 1j * a[..., 1]


def _coil_axis(z: np.ndarray, name: str, original: tuple) -> np.ndarray:
    """(H, W) -> (1, H, W); (C, H, W) as is; (1, C, H, W) -> (C, H, W)."""
    if z.ndim == 2:
        return z[None]
    if z.ndim == 3:
        return z
    if z.ndim == 4 and z.shape[0] == 1:
        return z[0]
    raise ValueError(f"{name} must be (H, W, 2), (C, H, W, 2) or (1, C, H, W, 2) (or complex "
                     f"(H, W) / (C, H, W)), got shape {original}")


def _mask_2d(mask: Any, h: int, w: int) -> np.ndarray:
    """A sampling mask in any common layout as an (H, W) array.

    Accepted: (W,) column mask; (H, W); fastMRI (..., 1, W, 1) or (..., H, W, 1/2); leading
    axes of size 1 (or identical along them, e.g. one mask per coil).
    """
    m = _numpy(mask, "mask")
    original = tuple(m.shape)
    if m.ndim >= 3 and m.shape[-1] in (1, 2):
        m = m[..., 0]  # the fastMRI real/imag axis
    while m.ndim > 2:
        if m.shape[0] != 1 and not np.all(m == m[:1]):
            raise ValueError(f"mask of shape {original} differs along its leading axis; pass "
                             f"one (H, W) mask")
        m = m[0]
    if m.ndim == 0:
        raise ValueError("mask must be an array of shape (W,), (H, W) or fastMRI "
                         "(..., 1, W, 1), got a scalar")
    if m.ndim == 1:
        m = m[None, :]  # a 1-D mask selects columns (fastMRI: phase encoding along W)
    try:
        return np.broadcast_to(m, (h, w)).copy()
    except ValueError:
        raise ValueError(f"mask of shape {original} does not fit the k-space size "
                         f"(H, W) = ({h}, {w}); a 1-D mask must have length W") from None


def show_kspace(kspace: Any, mask: Any = None, *, combine: str = "rss", max_coils: int = 4,
                cmap: str = "gray", suptitle: str | None = None, size: float = 2.6) -> Figure:
    """Log-magnitude of k-space, and optionally the sampling mask as its own panel.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    The grey scale runs from the 0.5th percentile to the maximum of log10 |k| over the non-zero
    entries, so unsampled (zero) entries show black instead of squashing the range.

    Args:
        kspace: fastMRI layout (H, W, 2) single-coil or (C, H, W, 2) multi-coil (a leading
            batch axis of size 1 is dropped), or a complex tensor / array (H, W) / (C, H, W).
        mask: optional sampling mask, (W,) columns, (H, W), or fastMRI (1, 1, W, 1) etc.;
            shown as a last panel titled with its sampling rate.
        combine: multi-coil display: ``"rss"`` one panel of the root-sum-of-squares over
            coils, ``"coils"`` one panel for each of the first ``max_coils`` coils.
        max_coils: most coils shown with ``combine="coils"``.
        cmap: colour map of the k-space and the mask.
        suptitle: figure title.
        size: side of one panel in inches.

    Returns:
        The matplotlib Figure (k-space panels, the mask panel, a colour bar).

    Raises:
        ValueError: k-space not complex (no trailing axis of size 2), an unsupported shape, an
            unknown ``combine``, or a mask that does not fit (H, W).
    """
    _check_panel_size(size)
    if combine not in ("rss", "coils"):
        raise ValueError(f"combine must be 'rss' or 'coils', got {combine!r}")
    checks.positive_int(max_coils, "max_coils")
    original = tuple(np.shape(kspace))
    layout = "(H, W, 2) or (C, H, W, 2)"
    k = _coil_axis(_complex_stack(kspace, "kspace", layout), "kspace", original)
    n_coils, h, w = k.shape
    mag = np.abs(k)
    if combine == "rss" or n_coils == 1:
        shown = [np.sqrt((mag ** 2).sum(0))]
        titles = ["k-space" if n_coils == 1 else f"k-space (RSS of {n_coils} coils)"]
    else:
        shown = list(mag[:max_coils])
        titles = [f"coil {i}" for i in range(len(shown))]

    logs = [np.log10(np.where(s > 0, s, np.nan)) for s in shown]
    finite = np.concatenate([l[np.isfinite(l)] for l in logs])
    if finite.size:
        lo, hi = float(np.percentile(finite, 0.5)), float(finite.max())
    else:  # all-zero k-space
        lo, hi = -1.0, 0.0
    hi = hi if hi > lo else lo + 1.0
    m2d = _mask_2d(mask, h, w) if mask is not None else None

    n_panels = len(shown) + (m2d is not None)
    fig, axes = _grid(1, n_panels, size, extra_width=0.6)
    im = None
    for ax, lg, title in zip(axes[0], logs, titles):
        im = ax.imshow(np.nan_to_num(lg, nan=lo), cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=list(axes[0, :len(shown)]), shrink=0.9, label="log10 |k|")
    if m2d is not None:
        ax = axes[0, -1]
        ax.imshow(m2d, cmap=cmap, vmin=0.0, vmax=max(1.0, float(m2d.max())))
        ax.set_title(f"mask ({np.mean(m2d != 0):.1%} sampled)", fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def show_coils(coils: Any, *, max_coils: int = 8, kind: str = "magnitude", ncols: int = 4,
               cmap: str | None = None, suptitle: str | None = None,
               size: float = 2.0) -> Figure:
    """A grid of coil images or coil sensitivity maps.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        coils: (C, H, W, 2) real/imag (fastMRI layout) or complex (C, H, W); a real (C, H, W)
            array is taken as real-valued images; a single coil (H, W, 2) and a leading batch
            axis of size 1 are accepted too.
        max_coils: most coils shown (the first ones).
        kind: ``"magnitude"`` (grey, one shared scale [0, max]) or ``"phase"`` (cyclic colour
            map on [-pi, pi]).
        ncols: panels per row.
        cmap: override the colour map (default ``"gray"`` / ``"twilight"``).
        suptitle: figure title (default says how many coils are shown).
        size: side of one panel in inches.

    Returns:
        The matplotlib Figure (one axes per coil shown, plus a colour bar).

    Raises:
        ValueError: unknown ``kind``, an unsupported shape, or bad ``max_coils`` / ``ncols``.
    """
    _check_panel_size(size)
    if kind not in ("magnitude", "phase"):
        raise ValueError(f"kind must be 'magnitude' or 'phase', got {kind!r}")
    max_coils = checks.positive_int(max_coils, "max_coils")
    ncols = checks.positive_int(ncols, "ncols")
    a = _numpy(coils, "coils", allow_complex=True)
    original = tuple(a.shape)
    if not np.iscomplexobj(a) and a.ndim >= 3 and a.shape[-1] == 2:
        a = a[..., 0] + 1j * a[..., 1]
    z = _coil_axis(a, "coils", original)
    n_total = z.shape[0]
    z = z[:max_coils]
    n = z.shape[0]
    if kind == "magnitude":
        data = np.abs(z)
        vmin, vmax = 0.0, float(data.max()) if data.max() > 0 else 1.0
        cmap = cmap or "gray"
        label = "|coil|"
    else:
        data = np.angle(z)
        vmin, vmax = -np.pi, np.pi
        cmap = cmap or PHASE_CMAP
        label = "phase (rad)"
    ncols = min(int(ncols), n)
    nrows = math.ceil(n / ncols)
    fig, axes = _grid(nrows, ncols, size, extra_width=0.6)
    im = None
    for i in range(n):
        ax = axes[i // ncols, i % ncols]
        im = ax.imshow(data[i], cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(f"coil {i}", fontsize=9)
    for j in range(n, nrows * ncols):
        fig.delaxes(axes[j // ncols, j % ncols])
    fig.colorbar(im, ax=[axes[i // ncols, i % ncols] for i in range(n)], shrink=0.9,
                 label=label)
    if suptitle is None:
        shown = f"{n} coils" if n == n_total else f"first {n} of {n_total} coils"
        suptitle = f"{kind} ({shown})"
    if suptitle:
        fig.suptitle(suptitle)
    return fig
