"""Figures of the book: reconstructions side by side, k-space, coils and blur kernels.

Every function takes torch tensors or numpy arrays, builds one matplotlib ``Figure`` with the
same look (panel side ``size`` inches, grey images, ``magma`` error maps, ``twilight`` phase)
and returns it; none calls ``plt.show``. In a notebook the inline backend shows a pyplot figure
at the end of the cell, so write ``fig = show_images(...)`` (or end the line with ``;``) to
avoid seeing it twice.

Layouts (see :mod:`spadelib.metrics` for the conventions):

* images: (H, W), (1, H, W), (2, H, W) real/imag (with ``complex_input=True``: shown as the
  magnitude), (3, H, W) RGB in [0, 1]; a leading batch axis of size 1 is dropped;
* k-space and coil images: fastMRI layout, complex as a trailing axis of size 2,
  (H, W, 2) or (C, H, W, 2); complex dtypes (C, H, W) are accepted too.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from spadelib.metrics import magnitude, psnr, ssim

__all__ = ["show_images", "show_kspace", "show_coils", "show_kernels", "metrics_table"]

ERROR_CMAP = "magma"
PHASE_CMAP = "twilight"
KERNEL_CMAP = "viridis"
_LABEL_BOX = dict(boxstyle="round,pad=0.25", facecolor="black", alpha=0.55, linewidth=0)


# --------------------------------------------------------------------------------- helpers

def _numpy(x: Any, name: str, *, allow_complex: bool = False) -> np.ndarray:
    """A numpy copy (float64, or complex128 when allowed) of a tensor or array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.to(torch.complex128) if x.is_complex() else x.to(torch.float64)
        arr = x.numpy()
    else:
        arr = np.asarray(x)
    if np.iscomplexobj(arr):
        if not allow_complex:
            raise TypeError(f"{name} is complex; store complex images as real/imag channels "
                            f"(2, H, W) and pass complex_input=True")
        return arr.astype(np.complex128)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a torch tensor or a numeric array, got "
                        f"{type(x).__name__} of dtype {arr.dtype}")
    return arr.astype(np.float64)


def _prepare_image(x: Any, name: str, complex_input: bool) -> tuple[np.ndarray, np.ndarray]:
    """One panel of :func:`show_images` as (display, metric) arrays.

    Returns:
        display: (H, W) grey or (H, W, 3) RGB clipped to [0, 1], for ``imshow``;
        metric: (H, W) or (3, H, W), what PSNR / SSIM and the error maps are computed on.
    """
    a = _numpy(x, f"image {name!r}")
    shape = tuple(a.shape)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise ValueError(f"image {name!r}: a batch of {a.shape[0]} images {shape}; pass one "
                             f"image (C, H, W) or a batch of size 1 (1, C, H, W)")
        a = a[0]
    if a.ndim == 2:
        return a, a
    if a.ndim != 3:
        raise ValueError(f"image {name!r} must have shape (H, W), (C, H, W) or (1, C, H, W) "
                         f"with C in (1, 2, 3), got {shape}")
    c = a.shape[0]
    if c == 1:
        return a[0], a[0]
    if c == 2:
        if not complex_input:
            raise ValueError(f"image {name!r} has 2 channels {shape}; for real/imag MRI images "
                             f"pass complex_input=True to show the magnitude")
        m = magnitude(a)[0]
        return m, m
    if c == 3:
        rgb = np.clip(a, 0.0, 1.0)
        return np.moveaxis(rgb, 0, -1), rgb
    raise ValueError(f"image {name!r} has {c} channels {shape}; expected 1 (grey), "
                     f"2 (real/imag, with complex_input=True) or 3 (RGB)")


def _grid(nrows: int, ncols: int, size: float, *, extra_width: float = 0.0,
          extra_height: float = 0.0) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure with an (nrows, ncols) array of axes, ticks off."""
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(size * ncols + extra_width, size * nrows + extra_height))
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def _fmt_db(value: float) -> str:
    return "inf" if np.isinf(value) else f"{value:.2f}"


def _check_size(size: float) -> None:
    if not size > 0:
        raise ValueError(f"size (inches per panel) must be positive, got {size!r}")


# ------------------------------------------------------------------------------ show_images

def show_images(images: Mapping[str, Any], target: Any = None, *, target_key: str | None = None,
                complex_input: bool = False, ncols: int | None = None, error_maps: bool = False,
                error_scale: float | None = None, cmap: str = "gray",
                suptitle: str | None = None, size: float = 2.6,
                label_metrics: bool = True) -> Figure:
    """Images side by side, labelled with PSNR / SSIM against a target.

    With a target every panel (but the target's own) gets "PSNR .. dB / SSIM .." in its
    upper-left corner (computed by :func:`spadelib.metrics.psnr` / :func:`~spadelib.metrics.ssim`
    on what is shown: magnitudes, RGB clipped to [0, 1]) and all grey panels share the grey
    scale [0, target max]. The values are also stored on the figure as
    ``fig.spade_metrics = {name: {"psnr": .., "ssim": ..}}`` (for :func:`metrics_table`).

    Args:
        images: ``{title: image}`` in display order. Each image is (H, W), (1, H, W),
            (2, H, W) real/imag (needs ``complex_input=True``; shown as the magnitude) or
            (3, H, W) RGB; optionally with a leading batch axis of size 1. Tensors or arrays.
        target: the ground truth, same layout. If it is also one of the values of ``images``
            (the same object) that panel is the target panel and gets no label.
        target_key: name the target panel explicitly; when ``target`` is None,
            ``images[target_key]`` is the target.
        complex_input: 2-channel images are real/imag and shown as magnitudes.
        ncols: panels per row (default: all in one row); extra panels wrap onto new rows.
        error_maps: add under each image row a row of |x - target| (mean over RGB channels),
            on one shared colour scale with a colour bar. Needs a target.
        error_scale: upper end of the error colour scale (default: the largest error shown).
        cmap: colour map of the grey images.
        suptitle: figure title.
        size: side of one panel in inches.
        label_metrics: write PSNR / SSIM in the panels (when a target is given).

    Returns:
        The matplotlib Figure (one axes per panel, plus the error-map axes and colour bar).

    Raises:
        TypeError: ``images`` is not a mapping.
        ValueError: no images, an unsupported shape or channel count, panels whose shape
            differs from the target's, an unknown ``target_key``, ``error_maps`` without a
            target, or a bad ``ncols`` / ``size`` / ``error_scale``.
    """
    if not isinstance(images, Mapping):
        raise TypeError(f"images must be a dict {{title: image}}, got {type(images).__name__}")
    if len(images) == 0:
        raise ValueError("images is empty: give at least one {title: image}")
    _check_size(size)
    names = list(images)
    if target_key is not None:
        if target_key not in images:
            raise ValueError(f"target_key {target_key!r} is not one of the images {names}")
        if target is None:
            target = images[target_key]
    elif target is not None:
        target_key = next((k for k in names if images[k] is target), None)
    if error_maps and target is None:
        raise ValueError("error_maps=True needs a target (pass target= or target_key=)")
    if error_scale is not None and not error_scale > 0:
        raise ValueError(f"error_scale must be positive, got {error_scale!r}")

    panels = {k: _prepare_image(v, k, complex_input) for k, v in images.items()}
    t_disp = t_metric = None
    vmin = vmax = None
    if target is not None:
        t_disp, t_metric = _prepare_image(target, "target", complex_input)
        for k, (disp, _) in panels.items():
            if disp.shape != t_disp.shape:
                raise ValueError(f"image {k!r} is shown with shape {disp.shape} but the target "
                                 f"with {t_disp.shape}; every image must match the target")
        vmin, vmax = 0.0, float(t_disp.max())
        if not vmax > 0:
            vmin = vmax = None  # the metrics below raise a clear error for such a target

    n = len(names)
    if ncols is None:
        ncols = n
    if int(ncols) != ncols or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    ncols = min(int(ncols), n)
    img_rows = math.ceil(n / ncols)
    # grid row of each image row; an error row follows an image row with a non-target panel
    has_err = [error_maps and any(k != target_key for k in names[r * ncols:(r + 1) * ncols])
               for r in range(img_rows)]
    row_of = [r + sum(has_err[:r]) for r in range(img_rows)]
    fig, axes = _grid(img_rows + sum(has_err), ncols, size,
                      extra_width=0.6 if error_maps else 0.0)

    metrics: dict[str, dict[str, float]] = {}
    errors: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        disp, met = panels[name]
        ax = axes[row_of[i // ncols], i % ncols]
        if disp.ndim == 3:
            ax.imshow(disp)
        else:
            ax.imshow(disp, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(name, fontsize=10)
        if target is None or name == target_key:
            continue
        h, w = disp.shape[:2]
        vals = {"psnr": psnr(met, t_metric)}
        if min(h, w) >= 7:
            vals["ssim"] = ssim(met, t_metric)
        metrics[name] = vals
        if label_metrics:
            text = f"PSNR {_fmt_db(vals['psnr'])} dB"
            if "ssim" in vals:
                text += f"\nSSIM {vals['ssim']:.3f}"
            ax.text(0.03, 0.97, text, transform=ax.transAxes, ha="left", va="top",
                    fontsize=8, color="white", bbox=_LABEL_BOX)
        if error_maps:
            err = np.abs(met - t_metric)
            errors[name] = err.mean(axis=0) if err.ndim == 3 else err

    used = set()
    for i, name in enumerate(names):
        r, c = row_of[i // ncols], i % ncols
        used.add((r, c))
        if name in errors:
            used.add((r + 1, c))
    if errors:
        emax = float(error_scale) if error_scale is not None else max(
            float(e.max()) for e in errors.values())
        emax = emax if emax > 0 else 1e-12
        err_axes, im = [], None
        for i, name in enumerate(names):
            if name not in errors:
                continue
            ax = axes[row_of[i // ncols] + 1, i % ncols]
            im = ax.imshow(errors[name], cmap=ERROR_CMAP, vmin=0.0, vmax=emax)
            err_axes.append(ax)
        fig.colorbar(im, ax=err_axes, shrink=0.9, label="|x − target|")
    for (r, c), ax in np.ndenumerate(axes):
        if (r, c) not in used:
            fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle)
    fig.spade_metrics = metrics
    return fig


# ------------------------------------------------------------------------------ k-space

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
        raise ValueError(f"mask must be an array of shape (W,), (H, W) or fastMRI "
                         f"(..., 1, W, 1), got a scalar")
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
    _check_size(size)
    if combine not in ("rss", "coils"):
        raise ValueError(f"combine must be 'rss' or 'coils', got {combine!r}")
    if int(max_coils) != max_coils or max_coils < 1:
        raise ValueError(f"max_coils must be a positive integer, got {max_coils!r}")
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


# ------------------------------------------------------------------------------ coils

def show_coils(coils: Any, *, max_coils: int = 8, kind: str = "magnitude", ncols: int = 4,
               cmap: str | None = None, suptitle: str | None = None,
               size: float = 2.0) -> Figure:
    """A grid of coil images or coil sensitivity maps.

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
    _check_size(size)
    if kind not in ("magnitude", "phase"):
        raise ValueError(f"kind must be 'magnitude' or 'phase', got {kind!r}")
    for label, v in (("max_coils", max_coils), ("ncols", ncols)):
        if int(v) != v or v < 1:
            raise ValueError(f"{label} must be a positive integer, got {v!r}")
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


# ------------------------------------------------------------------------------ kernels

def show_kernels(kernels: Any, names: list[str] | None = None, *, ncols: int | None = None,
                 cmap: str = KERNEL_CMAP, suptitle: str | None = None,
                 size: float = 1.8) -> Figure:
    """A grid of blur kernels, each on its own colour scale, pixels shown as blocks.

    Args:
        kernels: (K, k, k) kernels (also (k, k) for one, or (K, 1, k, k)); tensor or array.
        names: one title per kernel (default ``"kernel i"``).
        ncols: panels per row (default min(K, 6)).
        cmap: colour map.
        suptitle: figure title.
        size: side of one panel in inches.

    Returns:
        The matplotlib Figure (one axes per kernel).

    Raises:
        ValueError: an unsupported shape, or ``names`` of the wrong length.
    """
    _check_size(size)
    a = _numpy(kernels, "kernels")
    original = tuple(a.shape)
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or a.shape[0] == 0:
        raise ValueError(f"kernels must have shape (K, k, k), (k, k) or (K, 1, k, k), got "
                         f"{original}")
    n = a.shape[0]
    if names is None:
        names = [f"kernel {i}" for i in range(n)]
    names = list(names)
    if len(names) != n:
        raise ValueError(f"names has {len(names)} entries but there are {n} kernels")
    ncols = min(n, 6) if ncols is None else ncols
    if int(ncols) != ncols or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    ncols = min(int(ncols), n)
    nrows = math.ceil(n / ncols)
    fig, axes = _grid(nrows, ncols, size)
    for i in range(n):
        ax = axes[i // ncols, i % ncols]
        ax.imshow(a[i], cmap=cmap, interpolation="nearest")
        ax.set_title(names[i], fontsize=9)
    for j in range(n, nrows * ncols):
        fig.delaxes(axes[j // ncols, j % ncols])
    if suptitle:
        fig.suptitle(suptitle)
    return fig


# ------------------------------------------------------------------------------ tables

_COLUMN_NAMES = {"psnr": "PSNR (dB)", "ssim": "SSIM", "latency_ms": "latency (ms)",
                 "params": "params", "speedup": "speed-up"}
_COLUMN_FORMATS = {"psnr": "{:.2f}", "ssim": "{:.4f}", "latency_ms": "{:.2f}",
                   "speedup": "{:.2f}x"}


def metrics_table(results: Mapping[str, Mapping[str, Any]],
                  columns: list[str] | None = None) -> str:
    """A small markdown table of per-method metrics, for ``IPython.display.Markdown``.

    Args:
        results: ``{method: {metric: value}}``, e.g.
            ``{"zero-filled": {"psnr": 27.1, "ssim": 0.81}}``. Metric keys are matched
            case-insensitively; ``psnr``, ``ssim``, ``latency_ms``, ``params``, ``speedup`` get
            headers and formats, others are shown as given. Array values (per-image metrics)
            are averaged.
        columns: the metric keys to show, in order (default: ``psnr``, ``ssim``, then every
            other key in order of first appearance).

    Returns:
        The table as a markdown string, one row per method; missing values show as "–".

    Raises:
        ValueError: ``results`` is empty.
    """
    if not results:
        raise ValueError("metrics_table: results is empty")
    rows = {m: {str(k).lower(): v for k, v in vals.items()} for m, vals in results.items()}
    if columns is None:
        keys: list[str] = []
        for vals in rows.values():
            keys += [k for k in vals if k not in keys]
        columns = [k for k in ("psnr", "ssim") if k in keys] + [
            k for k in keys if k not in ("psnr", "ssim")]
    columns = [str(c).lower() for c in columns]

    def fmt(key: str, value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if isinstance(value, (np.ndarray, list, tuple)):
            value = float(np.mean(value))
        if isinstance(value, (bool, np.bool_)):
            return str(bool(value))
        if isinstance(value, (int, np.integer)):
            return f"{int(value):,}"
        if isinstance(value, (float, np.floating)):
            if np.isinf(value):
                return "inf"
            return _COLUMN_FORMATS.get(key, "{:.4g}").format(float(value))
        return str(value)

    header = ["method"] + [_COLUMN_NAMES.get(c, c) for c in columns]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * len(columns)) + "|"]
    for method, vals in rows.items():
        cells = [str(method)] + [fmt(c, vals.get(c)) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def show_groups(group_infos, module=None, *, title: str | None = None, max_layers: int = 60,
                size: float = 0.28):
    """Draw DepGraph layer groups as a layer x group membership chart.

    Each column is one group (from :func:`spadelib.pruning.groups`), each row a layer. A filled
    square marks a layer whose **output** channels the group removes (conv filters, norm
    channels), a hollow circle a layer whose **input** slices it removes (a conv reading those
    channels). A column with many filled squares is a group tied by residual additions.

    Args:
        group_infos: list of ``GroupInfo`` (``.index``, ``.channels``, ``.root``, ``.members``
            with ``.layer`` and ``.pruning``).
        module: the CNN the groups belong to; when given, rows follow its layer order.
        title: figure title.
        max_layers: draw at most this many rows (the first ones, in module order of appearance).
        size: inches per cell.
    """
    if not group_infos:
        raise ValueError("show_groups needs at least one group")
    layers: list[str] = []
    for g in group_infos:
        for m in g.members:
            if m.layer not in layers:
                layers.append(m.layer)
    if module is not None:
        order = {name: i for i, (name, _) in enumerate(module.named_modules())}
        layers.sort(key=lambda n: order.get(n, len(order)))
    layers = layers[:max_layers]
    row = {name: i for i, name in enumerate(layers)}
    ng, nl = len(group_infos), len(layers)
    fig, ax = plt.subplots(figsize=(max(4.0, 2.5 + size * ng), max(2.5, 0.8 + size * nl)),
                           layout="constrained")
    colours = plt.get_cmap("tab10")
    for j, g in enumerate(group_infos):
        c = colours(j % 10)
        for m in g.members:
            if m.layer not in row:
                continue
            if m.pruning == "out":
                ax.scatter(j, row[m.layer], marker="s", s=60, color=c)
            else:
                ax.scatter(j, row[m.layer], marker="o", s=50, facecolors="none", edgecolors=c)
    ax.set_yticks(range(nl), layers, fontsize=7)
    ax.set_xticks(range(ng), [f"{g.index}\n({g.channels})" for g in group_infos], fontsize=7)
    ax.set_xlabel("group (channels)")
    ax.invert_yaxis()
    ax.set_xlim(-0.7, ng - 0.3)
    ax.grid(True, color="0.92")
    ax.set_axisbelow(True)
    from matplotlib.lines import Line2D
    ax.legend(handles=[Line2D([], [], marker="s", ls="", color="0.3", label="output channels"),
                       Line2D([], [], marker="o", ls="", mfc="none", color="0.3",
                              label="input channels")],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
