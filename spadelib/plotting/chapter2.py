"""Chapter 2's solver figure: fixed-point runs of a DEQ side by side (:func:`show_solver_runs`)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .. import checks

__all__ = ["show_solver_runs"]


def _series(stats: Mapping, key: str, label: str, length: int | None) -> np.ndarray | None:
    """``stats[key]`` as a 1-D float array of ``length`` entries (None when absent)."""
    if key not in stats or stats[key] is None:
        return None
    try:
        values = np.asarray(stats[key], dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"run {label!r}: {key!r} must be a sequence of numbers") from None
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"run {label!r}: {key!r} must be a non-empty 1-D sequence, got shape "
                         f"{values.shape}")
    if length is not None and values.size != length:
        raise ValueError(f"run {label!r}: {key!r} has {values.size} entries but 'residuals' has "
                         f"{length}; pass the stats of one solver run unchanged")
    return values


def show_solver_runs(runs: Mapping[str, Mapping[str, Any]], *, budget: int | None = None,
                     tol: float | None = None, title: str | None = None,
                     size: tuple[float, float] = (10.0, 3.2)) -> Figure:
    r"""Fixed-point residual against iteration (left), PSNR against wall time (right).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    The two panels compare solvers in two currencies. Per iteration (left), every solver pays
    one application of the operator :math:`\mathsf{T}`, so one CNN application, per step: this
    is the axis on which a smaller CNN makes each step cheaper. Per wall time (right), a
    solver's own overhead (Anderson's small least-squares problem) is counted too. Runs that
    carry no PSNR trace (variants of a solver, say) are drawn dashed on the left only. The
    wall-time axis is in milliseconds, or in seconds when a run took over 10 s.

    Args:
        runs: ``{label: stats}``, each ``stats`` the dict of one run of
            :meth:`spadelib.models.DEQ.iterate` or
            :func:`spadelib.models.deq.solve_fixed_point`: ``"residuals"`` (one per
            iteration), ``"times"`` (cumulative seconds, as many) and optionally ``"psnr"``
            (dB, as many).
        budget: an iteration budget to mark: a dotted vertical line on the left, and on the
            right a dot on each PSNR curve at that iteration (or its last one).
        tol: a tolerance to mark with a dotted horizontal line on the left.
        title: the figure's title.
        size: (width, height) of the figure in inches.

    Returns:
        The matplotlib Figure, with its two axes (residual, PSNR).

    Raises:
        ValueError: no run, a run without residuals, series of different lengths, a budget
            that is not an int >= 1 or a tolerance that is not a number > 0.
        TypeError: ``runs`` is not a mapping of stats dicts, or a series is not numeric.
    """
    if not isinstance(runs, Mapping):
        raise TypeError(f"runs must be a dict {{label: stats}}, got {type(runs).__name__}")
    if not runs:
        raise ValueError("runs is empty: pass at least one solver run {label: stats}")
    if budget is not None:
        budget = checks.positive_int(budget, "budget (iterations)")
    if tol is not None:
        tol = checks.positive_real(tol, "tol")
    try:
        width, height = size
    except (TypeError, ValueError):
        raise ValueError(f"size must be a pair (width, height) in inches, got {size!r}") from None
    width = checks.positive_real(width, "size[0] (width in inches)")
    height = checks.positive_real(height, "size[1] (height in inches)")
    prepared = []
    for label, stats in runs.items():
        if not isinstance(stats, Mapping):
            raise TypeError(f"run {label!r} must be a stats dict, got {type(stats).__name__}")
        residuals = _series(stats, "residuals", label, None)
        if residuals is None:
            raise ValueError(f"run {label!r} has no 'residuals': pass the stats of "
                             "DEQ.iterate or solve_fixed_point")
        times = _series(stats, "times", label, residuals.size)
        psnr = _series(stats, "psnr", label, residuals.size)
        if psnr is not None and times is None:
            raise ValueError(f"run {label!r} has a 'psnr' trace but no 'times' to plot it "
                             "against")
        prepared.append((str(label), residuals, times, psnr))

    longest = max((t[-1] for _, _, t, p in prepared if p is not None and t is not None),
                  default=0.0)
    unit, per_second = ("s", 1.0) if longest > 10 else ("ms", 1e3)    # readable tick labels
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(width, height), layout="constrained")
    for label, residuals, times, psnr in prepared:
        k = np.arange(1, residuals.size + 1)
        if psnr is None:
            ax1.semilogy(k, residuals, ls="--", lw=1, label=label)
            continue
        line, = ax1.semilogy(k, residuals, lw=1.6, label=label)
        t = times * per_second
        ax2.plot(t, psnr, color=line.get_color(), label=label)
        if budget is not None:
            i = min(budget, psnr.size) - 1
            ax2.plot(t[i], psnr[i], "o", color=line.get_color())
    if budget is not None:
        ax1.axvline(budget, color="gray", ls=":")
    if tol is not None:
        ax1.axhline(tol, color="gray", ls=":")
    ax1.set_xlabel("iteration $k$ (one CNN application each)")
    ax1.set_ylabel(r"$\|T(x^k)-x^k\| / \|x^k\|$")
    ax1.legend(fontsize=8)
    ax2.set_xlabel(f"wall time ({unit})")
    ax2.set_ylabel("test PSNR (dB)")
    if ax2.lines:
        ax2.legend(fontsize=8)
    else:
        ax2.text(0.5, 0.5, "no run with a PSNR trace", ha="center", va="center",
                 transform=ax2.transAxes)
    if title:
        fig.suptitle(title)
    return fig
