r"""Chapter 4's figures: the group-:math:`\ell_1` scores of one group, and what pruning buys.

* :func:`show_group_scores`: the scores :math:`\alpha_k` of eq. (6) of one layer group, sorted,
  each channel coloured by the smallest ratio that removes it, on an axis fitted to the scores
  (their spread is the whole story: a bar chart from zero makes every channel look alike);
* :func:`show_pruning_sweep`: parameters, CNN MACs per application, speed-up (every timed
  repeat and the median), CNN applications per reconstruction and the PSNR change, against the
  channel ratio, one line per network.

Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
"""
from __future__ import annotations

import statistics
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .. import checks
from ..pruning import check_ratio, kept_channels
from .common import _numpy

__all__ = ["removal_ratio", "show_group_scores", "show_pruning_sweep"]

_SWEEP_KEYS = ("network", "ratio", "params", "macs_per_application", "applications", "psnr",
               "times_ms")


def removal_ratio(alpha, ratios: Sequence[float]) -> np.ndarray:
    r"""For each channel of a group, the smallest of ``ratios`` at which local pruning removes
    it (``nan`` for a channel every ratio keeps).

    At ratio r a group of K channels keeps :math:`\lfloor K (1 - r) \rfloor` channels
    (:func:`~spadelib.pruning.kept_channels`), the largest scores; ties broken by the order of
    a stable sort, lowest index first.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
    """
    a = _numpy(alpha, "alpha").ravel()
    if a.size == 0:
        raise ValueError("alpha is empty: pass the scores of a group with at least one channel")
    rs = sorted(check_ratio(r) for r in ratios)
    out = np.full(a.size, np.nan)
    rank = np.empty(a.size, dtype=int)
    rank[np.argsort(a, kind="stable")] = np.arange(a.size)
    for r in reversed(rs):                     # the smallest ratio that removes it wins
        removed = a.size - kept_channels(a.size, r)
        out[rank < removed] = r
    return out


def show_group_scores(alpha, ratios: Sequence[float] = (0.05, 0.1, 0.2, 0.4), *,
                      title: str | None = None, size: tuple[float, float] = (9.0, 3.0)):
    r"""The scores :math:`\alpha_k` of one layer group, sorted, coloured by the ratio that
    removes each channel.

    The left axis spans the scores (it does **not** start at zero, so the spread between the
    weakest and the strongest channel is visible); the right axis reads the same points as a
    percentage of the mean score, and a dashed line marks the mean. A group whose scores sit
    within a few percent of their mean ranks its channels on small differences.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Args:
        alpha: the K scores of the group (tensor or array), in channel order.
        ratios: the channel ratios whose removed channels are coloured.
        title: axis title.
        size: figure size in inches.

    Returns:
        The matplotlib ``Figure``.
    """
    a = _numpy(alpha, "alpha").ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError("alpha holds NaN or Inf; the scores of a group are finite norms")
    removed_at = removal_ratio(a, ratios)
    order = np.argsort(a, kind="stable")
    a_sorted, r_sorted = a[order], removed_at[order]
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    rs = sorted(set(r for r in r_sorted if np.isfinite(r)))
    colours = {r: f"C{i}" for i, r in enumerate(rs)}
    x = np.arange(a.size)
    kept = ~np.isfinite(r_sorted)
    ax.vlines(x, a_sorted.min(), a_sorted, color="0.85", linewidth=1)
    ax.scatter(x[kept], a_sorted[kept], s=18, color="0.45", label="kept at every ratio")
    for r in rs:
        sel = r_sorted == r
        ax.scatter(x[sel], a_sorted[sel], s=18, color=colours[r],
                   label=f"removed from ratio {r:g} on")
    mean = float(a.mean())
    ax.axhline(mean, color="k", linestyle="--", linewidth=0.8, label="mean")
    span = float(a_sorted[-1] - a_sorted[0]) or abs(mean) or 1.0
    ax.set_ylim(a_sorted[0] - 0.06 * span, a_sorted[-1] + 0.06 * span)
    ax.set_xlabel("channel, sorted by importance")
    ax.set_ylabel(r"$\alpha_k$ (axis not from 0)")
    if mean > 0:
        right = ax.secondary_yaxis("right", functions=(lambda v: 100 * v / mean,
                                                       lambda p: p * mean / 100))
        right.set_ylabel("% of the mean")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _check_points(points) -> list[dict]:
    points = list(points)
    if not points:
        raise ValueError("show_pruning_sweep needs at least one point")
    for i, p in enumerate(points):
        if not isinstance(p, Mapping):
            raise TypeError(f"point {i} must be a dict with keys {', '.join(_SWEEP_KEYS)}, got "
                            f"{type(p).__name__}")
        missing = [k for k in _SWEEP_KEYS if k not in p]
        if missing:
            raise ValueError(f"point {i} ({p.get('network')!r}, ratio {p.get('ratio')!r}) lacks "
                             f"{', '.join(missing)}")
        if not p["times_ms"]:
            raise ValueError(f"point {i} ({p['network']!r}, ratio {p['ratio']}) has no timed "
                             f"repeat in times_ms")
    nets = {p["network"] for p in points}
    for n in nets:
        if not any(p["network"] == n and p["ratio"] == 0 for p in points):
            raise ValueError(f"network {n!r} has no point at ratio 0: the unpruned network is "
                             f"what every curve is relative to")
    return points


def show_pruning_sweep(points, *, fixed_iterations: int | None = None,
                       size: tuple[float, float] = (15.0, 3.1)):
    """What pruning buys and costs, against the channel ratio, one line per network.

    Five panels: parameters and CNN MACs per application relative to the unpruned network;
    the speed-up, every timed repeat as a dot (unpruned median / that repeat's time) and the
    median as the line; the CNN applications of one reconstruction (for the DEQ the mean
    number of solver iterations, which pruning changes); the PSNR change before
    any fine-tuning. The times are meant to be taken at a fixed number of DEQ iterations, so
    that the speed-up panel shows what the narrower CNN buys and the applications panel shows
    the iterations apart.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Args:
        points: dicts with ``network``, ``ratio``, ``params``, ``macs_per_application``,
            ``applications``, ``psnr`` and ``times_ms`` (every timed repeat), one per network
            and ratio, ratio 0 included for each network.
        fixed_iterations: the DEQ's iteration count during timing, written in the speed-up
            panel's title (None: not written).
        size: figure size in inches.

    Returns:
        The matplotlib ``Figure``.
    """
    points = _check_points(points)
    if fixed_iterations is not None:
        fixed_iterations = checks.positive_int(fixed_iterations, "fixed_iterations")
    fig, axes = plt.subplots(1, 5, figsize=size, layout="constrained")
    networks = list(dict.fromkeys(p["network"] for p in points))
    for j, name in enumerate(networks):
        rows = sorted((p for p in points if p["network"] == name), key=lambda p: p["ratio"])
        base = next(p for p in rows if p["ratio"] == 0)
        base_ms = statistics.median(base["times_ms"])
        r = [p["ratio"] for p in rows]
        c = f"C{j}"
        axes[0].plot(r, [p["params"] / base["params"] for p in rows], marker="o", color=c,
                     label=name)
        axes[1].plot(r, [p["macs_per_application"] / base["macs_per_application"]
                         for p in rows], marker="o", color=c)
        offset = (j - (len(networks) - 1) / 2) * 0.004      # keep the networks' dots apart
        for p in rows:
            s = [base_ms / t for t in p["times_ms"]]
            axes[2].scatter([p["ratio"] + offset] * len(s), s, s=9, color=c, alpha=0.45,
                            linewidths=0)
        axes[2].plot([x + offset for x in r],
                     [base_ms / statistics.median(p["times_ms"]) for p in rows], marker="o",
                     color=c)
        axes[3].plot(r, [p["applications"] for p in rows], marker="o", color=c)
        axes[4].plot(r, [p["psnr"] - base["psnr"] for p in rows], marker="o", color=c)
    axes[2].axhline(1, color="k", linewidth=0.6, linestyle=":")
    axes[4].axhline(0, color="k", linewidth=0.6, linestyle=":")
    timing = ("speed-up (dots: repeats, line: median)" + (
        f"\nDEQ at a fixed {fixed_iterations} iterations" if fixed_iterations else ""))
    titles = ["parameters (relative)", "CNN MACs per application (relative)", timing,
              "CNN applications per reconstruction\n(DEQ: mean solver iterations)",
              "PSNR change (dB), no fine-tuning"]
    for ax, t in zip(axes, titles):
        ax.set_xlabel("channel ratio $r$")
        ax.set_title(t, fontsize=9)
    axes[0].set_ylim(0, 1.05)
    axes[1].set_ylim(0, 1.05)
    axes[0].legend(fontsize=8)
    return fig
