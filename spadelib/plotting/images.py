"""Reconstructions side by side, labelled with PSNR / SSIM: :func:`show_images`."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import checks
from ..metrics import magnitude, psnr, ssim
from .common import ERROR_CMAP, _LABEL_BOX, _check_panel_size, _fmt_db, _grid, _numpy

__all__ = ["show_images"]


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


def show_images(images: Mapping[str, Any], target: Any = None, *, target_key: str | None = None,
                complex_input: bool = False, ncols: int | None = None, error_maps: bool = False,
                error_scale: float | None = None, cmap: str = "gray",
                suptitle: str | None = None, size: float = 2.6,
                label_metrics: bool = True) -> Figure:
    """Images side by side, labelled with PSNR / SSIM against a target.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

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
    _check_panel_size(size)
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
    if error_scale is not None:
        checks.positive_real(error_scale, "error_scale")

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
    ncols = min(checks.positive_int(ncols, "ncols"), n)
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
