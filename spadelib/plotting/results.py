"""Figures of the paper's experiments, drawn from the results store and cached networks.

* :func:`plot_degradation`: Figures 3 and 4, the PSNR degradation in % against the pruning
  ratio, one panel per network, one line per fine-tuning regime, ours solid and the paper's
  dashed (the data: :func:`spadelib.experiments.tables.degradation_frame`);
* :func:`plot_reconstruction_grid`: Figures 5-8, reconstructions on a grid of regimes x
  ratios with the PSNR in the upper-left corner and the degradation in % in the lower-left;
* :func:`plot_iterates`: Figure 2, how a reconstruction evolves while the network runs
  (distance between consecutive iterates and PSNR against time for the DEQ; PSNR against the
  unrolled iteration for USRNet), unpruned against pruned;
* :func:`plot_metric_curves`: PSNR, SSIM, time, speed-up and #params against the ratio, with
  one point marked (the explorer, :mod:`spadelib.explorer`).

Each returns a matplotlib ``Figure`` with the look of :mod:`spadelib.plotting`.

Used in Chapters 6 and 7 (``book/06_cs_mri.ipynb``, ``book/07_super_resolution.ipynb``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .. import checks
from ..metrics import psnr as psnr_of
from .common import _LABEL_BOX, _check_panel_size, _grid
from .images import _prepare_image

__all__ = ["plot_degradation", "plot_reconstruction_grid", "plot_iterates",
           "plot_metric_curves", "REGIME_COLOURS"]

#: one colour per regime in every figure of the chapters
REGIME_COLOURS = {"none": "0.45", "supervised": "C0", "school": "C1", "self-supervised": "C2",
                  "scratch-supervised": "C3", "scratch-self-supervised": "C4"}
_ROW_LABELS = {"none": "not fine-tuned"}
_NAMES = {"deq": "DEQ", "varnet": "VarNet", "e2e-varnet": "E2E-VarNet", "usrnet": "USRNet"}


def plot_degradation(frame, title: str | None = None, size: float = 3.2) -> Figure:
    """Figures 3 / 4: PSNR degradation (%) against the parameter reduction, per network.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Args:
        frame: :func:`~spadelib.experiments.tables.degradation_frame` (columns ``network``,
            ``regime``, ``reduction``, ``degradation``, ``paper_degradation``, ``missing``;
            ``params_reduction`` when present).
        title: the figure's title.
        size: height of a panel in inches.

    Returns:
        One panel per network: our degradation solid with markers, at the parameter reduction
        each of our pruned networks has (``params_reduction``; the nominal ``reduction`` where
        a row lacks it), the paper's dashed at its nominal reductions (10, 20, 35, 65 %); a
        panel without any of our points says why ("paper preset only", ...).
    """
    _check_panel_size(size)
    required = {"network", "regime", "reduction", "degradation", "paper_degradation", "missing"}
    if not required <= set(frame.columns):
        raise ValueError(f"frame lacks the columns {sorted(required - set(frame.columns))}; "
                         "pass degradation_frame(...)")
    networks = list(dict.fromkeys(frame["network"]))
    if not networks:
        raise ValueError("frame is empty: no network to plot")
    fig, axes = plt.subplots(1, len(networks), figsize=(1.25 * size * len(networks), size),
                             squeeze=False, layout="constrained", sharey=False)
    for ax, net in zip(axes[0], networks):
        sub = frame[frame["network"] == net]
        shown = False
        for regime in dict.fromkeys(sub["regime"]):
            rows = sub[sub["regime"] == regime].sort_values("reduction")
            colour = REGIME_COLOURS.get(regime, None)
            ours = rows[rows["degradation"].notna()]
            if len(ours):
                shown = True
                x = (ours["params_reduction"].fillna(ours["reduction"])
                     if "params_reduction" in ours else ours["reduction"])
                ax.plot(x, ours["degradation"], "o-", color=colour,
                        label=f"{regime} (ours)")
            paper = rows[rows["paper_degradation"].notna()]
            if len(paper):
                ax.plot(paper["reduction"], paper["paper_degradation"], "--", color=colour,
                        alpha=0.6, label=f"{regime} (paper)")
        if not shown:
            why = ", ".join(sorted({m for m in sub["missing"] if m})) or "no data"
            ax.text(0.5, 0.5, f"ours: {why}", transform=ax.transAxes, ha="center",
                    va="center", color="0.4", fontsize=9)
        ax.axhline(0, color="0.7", lw=0.8)
        ax.set_title(_NAMES.get(net, net))
        ax.set_xlabel("fewer parameters (%)")
        ax.set_xticks(sorted(set(sub["reduction"])))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("PSNR degradation (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes[0, 1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _corner(ax, text: str, where: str) -> None:
    y, va = (0.97, "top") if where == "top" else (0.03, "bottom")
    ax.text(0.03, y, text, transform=ax.transAxes, ha="left", va=va, color="white",
            fontsize=8, bbox=_LABEL_BOX)


def plot_reconstruction_grid(images: Mapping[tuple, Any], target: Any, *,
                             unpruned: Any = None, ratios: Sequence[float] | None = None,
                             regimes: Sequence[str] | None = None,
                             psnr: Mapping[tuple, float] | None = None,
                             unpruned_psnr: float | None = None,
                             complex_input: bool = False,
                             missing: str | Mapping[tuple, str] = "",
                             title: str | None = None, size: float = 1.9) -> Figure:
    """Figures 5-8: reconstructions on a regimes x ratios grid, PSNR top-left, degradation
    (% of the unpruned network's PSNR) bottom-left.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Args:
        images: ``{(ratio, regime): image}`` (layouts as :func:`show_images`); a missing key
            leaves its panel empty with ``missing`` written in it.
        target: the ground truth (first column, top).
        unpruned: the unpruned network's reconstruction (first column, second row).
        ratios, regimes: the grid's columns and rows (default: those of ``images``).
        psnr: ``{(ratio, regime): PSNR}``; default: computed against ``target`` by
            :func:`spadelib.metrics.psnr` on what is shown.
        unpruned_psnr: the unpruned network's PSNR (default: computed likewise); the
            degradation of each panel is relative to it.
        complex_input: 2-channel images are real/imag (MRI), shown as magnitudes.
        missing: text of an empty panel (e.g. "paper preset only"), or ``{(ratio, regime):
            text}``.
        title: the figure's title.
        size: side of a panel in inches.
    """
    _check_panel_size(size)
    ratios = list(ratios if ratios is not None else dict.fromkeys(k[0] for k in images))
    regimes = list(regimes if regimes is not None else dict.fromkeys(k[1] for k in images))
    if not ratios or not regimes:
        raise ValueError("plot_reconstruction_grid needs at least one ratio and one regime")
    truth, truth_m = _prepare_image(target, "target", complex_input)
    grey = truth.ndim == 2
    vmax = float(truth.max()) if grey else 1.0

    def measured(x):
        return float(psnr_of(x, truth_m, data_range=float(truth_m.max()) or 1.0))

    fig, axes = _grid(len(regimes), len(ratios) + 1, size)
    axes[0, 0].imshow(truth, cmap="gray", vmin=0, vmax=vmax)
    axes[0, 0].set_title("ground truth", fontsize=9)
    if unpruned is not None:
        shown, m = _prepare_image(unpruned, "unpruned", complex_input)
        p0 = unpruned_psnr if unpruned_psnr is not None else measured(m)
        if len(regimes) > 1:
            ax = axes[1, 0]
            ax.imshow(shown, cmap="gray", vmin=0, vmax=vmax)
            ax.set_title("unpruned", fontsize=9)
            _corner(ax, f"{p0:.2f} dB", "top")
    else:
        p0 = unpruned_psnr
    for j, ratio in enumerate(ratios, start=1):
        axes[0, j].set_title(f"r = {ratio:g}", fontsize=9)
        for i, regime in enumerate(regimes):
            ax = axes[i, j]
            if j == 1:
                ax.text(-0.08, 0.5, _ROW_LABELS.get(regime, regime), transform=ax.transAxes,
                        rotation=90, ha="right",
                        va="center", fontsize=9)
            x = images.get((ratio, regime))
            if x is None:
                why = missing.get((ratio, regime), "") if isinstance(missing, Mapping) \
                    else missing
                ax.text(0.5, 0.5, why or "no image", transform=ax.transAxes, ha="center",
                        va="center", fontsize=8, color="0.4", wrap=True)
                ax.set_axis_on()
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            shown, m = _prepare_image(x, f"{(ratio, regime)}", complex_input)
            ax.imshow(shown, cmap="gray", vmin=0, vmax=vmax)
            p = psnr.get((ratio, regime)) if psnr else None
            p = measured(m) if p is None else p
            _corner(ax, f"{p:.2f} dB", "top")
            if p0:
                _corner(ax, f"{100 * (p0 - p) / p0:.1f} %", "bottom")
    if title:
        fig.suptitle(title)
    return fig


def plot_iterates(traces: Mapping[str, Mapping[str, Sequence[float]]], *,
                  x: str = "time", residual: bool = True, title: str | None = None,
                  size: float = 3.2) -> Figure:
    """Figure 2: a reconstruction while the network runs, one line per network.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Args:
        traces: ``{label: trace}``, each trace with ``"psnr"`` (dB after each iteration),
            ``"times"`` (cumulative seconds after each iteration; needed for ``x="time"``)
            and, for ``residual=True``, ``"residuals"`` (distance between consecutive
            iterates, relative).
        x: ``"time"`` (seconds) or ``"iteration"``.
        residual: add a first panel with the distance between consecutive iterates (log
            scale).
        title: the figure's title.
        size: height of a panel in inches.
    """
    _check_panel_size(size)
    checks.choice(x, ("time", "iteration"), "x")
    if not traces:
        raise ValueError("plot_iterates needs at least one trace")
    panels = (["residuals"] if residual else []) + ["psnr"]
    fig, axes = plt.subplots(1, len(panels), figsize=(1.4 * size * len(panels), size),
                             squeeze=False, layout="constrained")
    for k, (label, trace) in enumerate(traces.items()):
        for ax, key in zip(axes[0], panels):
            ys = list(trace.get(key) or [])
            if not ys:
                raise ValueError(f"trace {label!r} has no {key!r}")
            if x == "time":
                xs = list(trace.get("times") or [])
                if len(xs) != len(ys):
                    raise ValueError(f"trace {label!r}: {len(xs)} times for {len(ys)} {key}")
            else:
                xs = list(range(1, len(ys) + 1))
            ax.plot(xs, ys, "-" if len(ys) > 12 else "o-", color=f"C{k}", label=label)
    for ax, key in zip(axes[0], panels):
        ax.set_xlabel("time (s)" if x == "time" else "iteration")
        ax.grid(alpha=0.3)
        if key == "residuals":
            ax.set_yscale("log")
            ax.set_ylabel("distance between consecutive iterates")
        else:
            ax.set_ylabel("PSNR (dB)")
    axes[0, -1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


_CURVES = (("psnr", "PSNR (dB)"), ("ssim", "SSIM"), ("time_ms", "time (ms)"),
           ("speedup", "speed-up"), ("params", "#params"))


def plot_metric_curves(points: Mapping[str, Sequence[Mapping[str, float]]], *,
                       current: tuple[str, float] | None = None, size: float = 2.0) -> Figure:
    """PSNR, SSIM, time, speed-up and #params against the channel ratio, one line per regime,
    the point ``current = (regime, ratio)`` marked.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``), where the explorer
    (:func:`spadelib.explorer.explorer`) draws one such figure per slider position.

    Args:
        points: ``{regime: [{"ratio": r, "psnr": .., "ssim": .., "time_ms": ..,
            "speedup": .., "params": ..}, ...]}``; a missing metric is skipped.
        current: the (regime, ratio) to mark, or None.
        size: side of a panel in inches.
    """
    _check_panel_size(size)
    if not points:
        raise ValueError("plot_metric_curves needs the points of at least one regime")
    fig, axes = plt.subplots(1, len(_CURVES), figsize=(size * len(_CURVES), size * 0.9),
                             squeeze=False, layout="constrained")
    for ax, (key, label) in zip(axes[0], _CURVES):
        for regime, pts in points.items():
            pts = sorted((p for p in pts if p.get(key) is not None), key=lambda p: p["ratio"])
            if not pts:
                continue
            strong = current is None or current[0] == regime
            ax.plot([p["ratio"] for p in pts], [p[key] for p in pts], "o-", ms=3,
                    color=REGIME_COLOURS.get(regime), alpha=1.0 if strong else 0.3,
                    label=_ROW_LABELS.get(regime, regime))
            if current is not None and current[0] == regime:
                hit = [p for p in pts if np.isclose(p["ratio"], current[1])]
                if hit:
                    ax.plot([current[1]], [hit[0][key]], "o", ms=10, mfc="none", mew=2,
                            color="k")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("ratio", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    return fig
