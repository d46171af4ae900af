"""Fine-tuning regimes side by side (Chapter 5, ``book/05_finetuning.ipynb``)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["regime_points", "residual_traces", "budget_curves", "factor_plot"]


def regime_points(results: Mapping[str, Mapping[str, Any]], tags: Sequence[str],
                  labels: Sequence[str], reference: str = "unpruned",
                  metrics: Sequence[str] = ("psnr", "ssim")):
    """PSNR and SSIM of every run, one column per regime, one marker series per pruning level,
    the reference network as a dashed line.

    Points rather than bars: a bar's length reads as the value, so bars on a truncated axis
    exaggerate differences, while an axis that starts at zero hides them; points on an axis
    fitted to the values show every run and nothing else.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        results: ``{"<tag>: <label>": {"psnr": ..., "ssim": ...}, reference: {...}}``.
        tags: the pruning levels (e.g. ``"35 % pruned"``), one marker series each.
        labels: the regimes, one column each, in order.
        reference: the key of the reference run (drawn as a line); ignored if absent.
        metrics: the metric keys, one panel each.

    Returns:
        The figure.

    Raises:
        KeyError: a ``"<tag>: <label>"`` run is missing from ``results``.
    """
    names = {"psnr": "test PSNR (dB)", "ssim": "test SSIM"}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.4),
                             layout="constrained", squeeze=False)
    x = np.arange(len(labels))
    for ax, metric in zip(axes[0], metrics):
        for i, tag in enumerate(tags):
            values = [results[f"{tag}: {label}"][metric] for label in labels]
            ax.plot(x + (i - (len(tags) - 1) / 2) * 0.12, values, "o", ms=7, label=tag,
                    color=f"C{i}")
        if reference in results:
            ax.axhline(results[reference][metric], color="k", ls="--", lw=1, label=reference)
        ax.set_xticks(x, [str(label).replace(" (", "\n(") for label in labels], fontsize=7,
                      rotation=20)
        ax.set_ylabel(names.get(metric, metric))
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return fig


def residual_traces(traces: Mapping[str, Sequence[Sequence[float]]], tol: float | None = None):
    """A fixed-point solver's relative residual against the iteration, one panel per network,
    one light line per test image and the median in black, on a log axis; the tolerance as a
    dashed line.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        traces: ``{network label: [each image's residual trace]}`` (e.g.
            :attr:`spadelib.evaluation.FixedPointReport.traces`).
        tol: the solver's tolerance, drawn if given.

    Returns:
        The figure.

    Raises:
        ValueError: no network, or a network without a trace.
    """
    if not traces or not all(len(t) for t in traces.values()):
        raise ValueError("residual_traces needs at least one network with one trace each")
    fig, axes = plt.subplots(1, len(traces), figsize=(3.3 * len(traces), 3.0),
                             layout="constrained", sharey=True, squeeze=False)
    for ax, (label, runs) in zip(axes[0], traces.items()):
        longest = max(len(t) for t in runs)
        for t in runs:
            ax.semilogy(np.arange(1, len(t) + 1), t, color="C0", alpha=0.3, lw=0.8)
        padded = np.full((len(runs), longest), np.nan)
        for i, t in enumerate(runs):
            padded[i, :len(t)] = t
        alive = np.isfinite(padded).sum(0) * 2 > len(runs)     # most images still iterating
        padded[~np.isfinite(padded)] = np.nan
        ax.semilogy(np.arange(1, longest + 1)[alive], np.nanmedian(padded[:, alive], axis=0),
                    color="k", lw=1.6, label="median")
        if tol is not None:
            ax.axhline(tol, color="C3", ls="--", lw=1, label=f"tol {tol:g}")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("relative residual $\\|T(x_k) - x_k\\| / \\|x_k\\|$")
    axes[0][0].legend(fontsize=8)
    return fig


def budget_curves(rows, book_steps: int | None = None, titles: Mapping[str, str] | None = None):
    """The validation PSNR gap of each pruned network to the unpruned one against supervised
    fine-tuning steps (0: pruned, not fine-tuned), one panel per channel ratio, the margin the
    ratio is checked against as a dashed line and, where given, the grid's own budget as a
    dotted one.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        rows: :func:`spadelib.experiments.budget.budget_rows`.
        book_steps: the fine-tuning steps of the book's grid, or ``None``.
        titles: readable network names.

    Returns:
        The figure.
    """
    titles = dict(titles or {})
    ratios = sorted({r["ratio"] for r in rows})
    fig, axes = plt.subplots(1, len(ratios), figsize=(5.2 * len(ratios), 3.4),
                             layout="constrained", squeeze=False, sharey=True)
    for ax, ratio in zip(axes[0], ratios):
        margin = None
        for r in (r for r in rows if r["ratio"] == ratio):
            per_epoch = r["steps"] / len(r["val_gaps"])
            x = per_epoch * np.arange(len(r["val_gaps"]) + 1)
            ax.plot(x, [r["val_gap_pruned"], *r["val_gaps"]], marker="o", ms=3,
                    label=f"{titles.get(r['network'], r['network'])} "
                          f"({100 * r['removed']:.0f} % removed)")
            margin = r["margin"]
        if margin is not None:
            ax.axhline(-margin, color="k", ls="--", lw=1, label=f"-{margin:g} dB")
        if book_steps is not None:
            ax.axvline(book_steps, color="0.5", ls=":", lw=1, label="the grid's budget")
        ax.axhline(0, color="k", lw=0.5)
        ax.set(title=f"channel ratio {ratio:g}", xlabel="supervised fine-tuning steps",
               xlim=(0, None))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("validation PSNR - unpruned (dB)")
    return fig


def factor_plot(rows, titles: Mapping[str, str] | None = None, factor: str = "width"):
    """The test PSNR gap of each pruned and fine-tuned network to its unpruned network against
    the level of one factor (the U-Net width it was pre-trained at, or the fine-tuning budget in
    steps), one panel per channel ratio: the mean gap with its paired 95 % interval over the
    test images as an error bar, a line per network, and the margin the ratio is checked
    against as a dashed line.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        rows: :func:`spadelib.experiments.widths.factor_rows`.
        titles: readable network names.
        factor: ``"width"`` or ``"steps"``, as ``rows`` were made.

    Returns:
        The figure.
    """
    titles = dict(titles or {})
    ratios = sorted({r["ratio"] for r in rows})
    levels = sorted({r[factor] for r in rows})
    spread = 0.015 * (levels[-1] - levels[0] or 1)          # networks side by side
    fig, axes = plt.subplots(1, len(ratios), figsize=(4.6 * len(ratios), 3.4),
                             layout="constrained", squeeze=False, sharey=True)
    for ax, ratio in zip(axes[0], ratios):
        margin = None
        for k, name in enumerate(dict.fromkeys(r["network"] for r in rows)):
            own = sorted((r for r in rows if r["ratio"] == ratio and r["network"] == name),
                         key=lambda r: r[factor])
            if not own:
                continue
            x = np.array([r[factor] for r in own], float) + spread * (k - 0.5)
            y = np.array([r["gap"].estimate for r in own])
            err = np.array([[v - r["gap"].low for r, v in zip(own, y)],
                            [r["gap"].high - v for r, v in zip(own, y)]])
            ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3,
                        label=titles.get(name, name))
            margin = own[0]["margin"]
        if margin is not None:
            ax.axhline(-margin, color="k", ls="--", lw=1, label=f"-{margin:g} dB")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(levels)
        ax.set(title=f"channel ratio {ratio:g}",
               xlabel=("U-Net width (first layer's channels)" if factor == "width" else
                       "supervised fine-tuning steps"))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("test PSNR - unpruned (dB)")
    return fig
