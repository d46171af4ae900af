"""Figures of Chapter 8 (beyond the paper).

* :func:`plot_time_to_quality`: PSNR against wall time of the DEQ variants (pruning, Anderson,
  the cascade), the target drawn and the moment each variant reaches it marked;
* :func:`plot_speedup_vs_macs`: measured speed-up against the MAC ratio, per network and
  inference option, with the lines "every MAC saved is time saved" and the 70 % target;
* :func:`plot_criteria`: PSNR after fine-tuning per pruning criterion, the spread over seeds
  as error bars, group-l1 (the paper's) as a reference line;
* :func:`plot_selfsup`: the self-supervised regimes against supervised fine-tuning.

Taught in Chapter 8 (``book/08_beyond.ipynb``).
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_time_to_quality", "plot_speedup_vs_macs", "plot_criteria", "plot_selfsup"]

_NET_COLOURS = {"deq": "C0", "varnet": "C1", "e2e-varnet": "C2", "usrnet": "C3"}


def plot_time_to_quality(result: dict, title: str | None = None) -> Figure:
    """PSNR against wall time for each variant of
    :func:`spadelib.beyond.deq_speed.compare_variants` (its returned dict).

    The target (the reference's final PSNR minus the tolerance) is a dashed line; a variant
    that reaches it has a dot where it does. Time is the median over the timed rounds.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    traces, rows = result["traces"], {r["variant"]: r for r in result["rows"]}
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    for k, (name, t) in enumerate(traces.items()):
        line, = ax.plot(t["times"], t["psnr"], marker=".", ms=3, lw=1.4, label=name,
                        color=f"C{k}")
        r = rows.get(name)
        if r is not None and r["seconds_to_target"] is not None:
            ax.plot(r["seconds_to_target"], t["psnr"][r["iterations_to_target"] - 1], "o",
                    ms=8, mfc="none", mew=1.6, color=line.get_color())
    ax.axhline(result["target_psnr"], color="0.3", ls="--", lw=1,
               label=f"target ({result['target_psnr']:.2f} dB)")
    ax.set_xlabel("wall time (s), median of the timed rounds")
    ax.set_ylabel("PSNR (dB)")
    low = min(min(t["psnr"]) for t in traces.values())
    ax.set_ylim(max(low, result["target_psnr"] - 6), None)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "Time to quality of the DEQ")
    return fig


def plot_speedup_vs_macs(rows: list[dict], title: str | None = None) -> Figure:
    """Measured speed-up (same runtime options, unpruned over pruned) against the MAC ratio,
    one colour per network, one marker per option; rows from
    :func:`spadelib.beyond.hardware.bench_hardware`. Ratio-0 and untimed rows are left out.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    timed = [r for r in rows if r["ratio"] and r.get("speedup") and r.get("macs_ratio")]
    if not timed:
        raise ValueError("no timed pruned row with a speed-up and a MAC ratio to plot")
    options = list(dict.fromkeys(r["options"] for r in timed))
    markers = dict(zip(options, "osD^v<>Px*"))
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    top = max(max(r["macs_ratio"], r["speedup"]) for r in timed) * 1.1
    xs = np.linspace(1, top, 50)
    ax.plot(xs, xs, color="0.3", lw=1, label="speed-up = MAC ratio")
    ax.plot(xs, 0.7 * xs, color="0.3", lw=1, ls="--", label="70 % of the MAC ratio")
    ax.axhline(1, color="0.6", lw=0.8, ls=":")
    for r in timed:
        ax.plot(r["macs_ratio"], r["speedup"], markers[r["options"]], ms=7, mfc="none",
                mew=1.5, color=_NET_COLOURS.get(r["network"], "k"))
        ax.annotate(f"{r['ratio']:g}", (r["macs_ratio"], r["speedup"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    for net in dict.fromkeys(r["network"] for r in timed):
        ax.plot([], [], "s", color=_NET_COLOURS.get(net, "k"), label=net)
    for opt, m in markers.items():
        ax.plot([], [], m, color="0.2", mfc="none", label=opt)
    ax.set_xlabel("MAC ratio (unpruned / pruned CNN MACs per reconstruction)")
    ax.set_ylabel("measured speed-up")
    ax.set_xlim(0.9, top)
    ax.set_ylim(0.5, top)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    ax.set_title(title or "Speed-up against MAC ratio (numbers: the channel ratio)")
    return fig


def plot_criteria(frame, title: str | None = None) -> Figure:
    """PSNR after fine-tuning per criterion (:func:`spadelib.beyond.report.criteria_frame`),
    one panel per network; error bars are one standard deviation over the seeds (none with a
    single seed), the dotted line is group-l1's mean. Criteria without a row are left out
    (the chapter lists them under the table).

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    nets = list(dict.fromkeys(frame["network"]))
    fig, axes = plt.subplots(1, len(nets), figsize=(4.2 * len(nets), 3.6), squeeze=False,
                             layout="constrained")
    for ax, net in zip(axes[0], nets):
        sub = frame[frame["network"] == net].reset_index(drop=True)
        have = sub[~sub["psnr"].isna()]
        y = np.arange(len(have))
        err = [0 if math.isnan(v) else v for v in have["psnr_sd"]]
        colours = ["C3" if c == "l1" else "C0" for c in have["criterion"]]
        ax.errorbar(have["psnr"], y, xerr=err, fmt="none", ecolor="0.4", capsize=3)
        ax.scatter(have["psnr"], y, c=colours, zorder=3)
        ax.set_yticks(y, [f"{c} ({n})" for c, n in zip(have["criterion"], have["seeds"])])
        ax.invert_yaxis()
        l1 = have[have["criterion"] == "l1"]
        if len(l1):
            ax.axvline(float(l1["psnr"].iloc[0]), color="C3", ls=":", lw=1)
        ax.set_xlabel("PSNR after fine-tuning (dB)")
        ax.set_title(net)
    fig.suptitle(title or "Pruning criteria at ratio 0.4 (criterion (seeds))")
    return fig


def plot_selfsup(frame, title: str | None = None) -> Figure:
    """The regimes of :func:`spadelib.beyond.report.selfsup_frame` as points per network:
    pruned, eq. (9), measurement splitting, supervised; the unpruned network as a line.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    columns = [("pruned", "not fine-tuned", "0.45"), ("self-supervised", "eq. (9)", "C2"),
               ("self-supervised-split", "splitting", "C4"), ("supervised", "supervised", "C0")]
    nets = list(frame["network"])
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    width = 0.8 / len(columns)
    for k, (col, label, colour) in enumerate(columns):
        x = np.arange(len(nets)) + (k - (len(columns) - 1) / 2) * width
        ax.plot(x, frame[col], "o", color=colour, ms=8, label=label)
    for i, v in enumerate(frame["unpruned"]):
        if not math.isnan(v):
            ax.hlines(v, i - 0.45, i + 0.45, color="k", lw=1,
                      label="unpruned" if i == 0 else None)
    ax.set_xticks(np.arange(len(nets)), nets)
    ax.set_ylabel("PSNR (dB)")
    ax.legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.set_title(title or "", pad=40)
    return fig
