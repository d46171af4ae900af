"""Sentences the chapters paste into their text (``{glue:text}``), built from measured values.

The chapters compute their numbers in visible cells; the words that describe a result
("Anderson is ahead up to the training budget", "within the spread over seeds") depend on
those numbers and are built here, so that the rules are tested and the chapters' hidden glue
cells stay short:

* :func:`duration`: a readable duration (Chapter 2's pre-training table);
* :func:`cosine_agreement`: how well two gradients agree, from their cosine (Chapter 2);
* :func:`solver_verdicts`: which fixed-point solver is ahead early, at the training budget and
  at the end of a run (Chapter 2);
* :func:`time_to_quality_summary`, :func:`criteria_summary`, :func:`selfsup_summary`:
  Chapter 8's conclusions from ``bench_time_to_quality``, ``criteria_frame`` and
  ``selfsup_frame``.
"""
from __future__ import annotations

import math

__all__ = ["duration", "cosine_agreement", "solver_verdicts", "time_to_quality_summary",
           "criteria_summary", "selfsup_summary", "NOT_MEASURED_TTQ"]

NOT_MEASURED_TTQ = "(not measured: the networks are not in the cache)"


def duration(seconds: float) -> str:
    """A readable duration: ``"4.2 s"``, ``"42 s"``, ``"2.5 min"`` or ``"2.1 h"``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def cosine_agreement(c: float) -> str:
    """How two vectors whose cosine is ``c`` agree, in words (``"well aligned"``, ...)."""
    if c >= 0:
        return ("nearly orthogonal" if abs(c) < 0.3 else "loosely aligned" if c < 0.8
                else "well aligned" if c < 0.97 else "almost the same direction")
    return "pointing partly against each other" if c > -0.8 else "nearly opposite"


# (Anderson ahead after a few iterations, at the training budget, at the end of the run):
# the chapter's sentence and the box "Deviations from the paper"'s phrase
_SOLVER_VERDICTS = {
    (True, False, False): (
        "So Anderson's extrapolation pays only in the first iterations; from the training "
        "budget on, forward iteration is ahead.",
        "Anderson is ahead only in the first iterations, forward iteration from the training "
        "budget on"),
    (True, True, False): (
        "So Anderson is ahead up to the training budget, and forward iteration after it.",
        "Anderson is ahead up to the training budget, forward iteration after it"),
    (True, True, True): (
        "So Anderson stays ahead throughout, though by less than its reputation suggests "
        "where the gap is small.",
        "Anderson is ahead throughout"),
    (False, False, False): (
        "So Anderson's extrapolation does not pay on this network at all.",
        "forward iteration is ahead throughout"),
}


def solver_verdicts(early: bool, budget: bool, end: bool) -> tuple[str, str]:
    """Which DEQ solver is ahead, in words: ``(sentence, short phrase)``.

    Args:
        early, budget, end: whether Anderson's smallest residual is below forward
            iteration's after a few iterations, at the training budget and at the end of the
            run.
    """
    return _SOLVER_VERDICTS.get(
        (bool(early), bool(budget), bool(end)),
        ("So neither solver is ahead throughout.", "neither solver is ahead throughout"))


def time_to_quality_summary(ttq: dict | None) -> dict:
    """Chapter 8's reading of :func:`spadelib.beyond.deq_speed.bench_time_to_quality`.

    Returns ``{"fastest", "fastest_x", "verdict", "gap"}``: the fastest variant to the target,
    its speed-up, whether "pruned + anderson" is at least 4 times faster than the paper's
    setting, and how far (dB) the pruned network's final PSNR stays below the unpruned
    reference. ``ttq=None`` (not measured) gives :data:`NOT_MEASURED_TTQ` and a NaN gap.
    """
    if ttq is None:
        return {"fastest": NOT_MEASURED_TTQ, "fastest_x": NOT_MEASURED_TTQ,
                "verdict": NOT_MEASURED_TTQ, "gap": float("nan")}
    by = {r["variant"]: r for r in ttq["rows"]}
    fastest = max((r for r in ttq["rows"] if r["speedup"] is not None),
                  key=lambda r: r["speedup"])
    pa = by["pruned + anderson"]
    verdict = (
        f"is met: ×{pa['speedup']:.2f}" if pa["speedup"] is not None and pa["speedup"] >= 4 else
        f"is not met: it reaches the target at ×{pa['speedup']:.2f}" if pa["speedup"] is not None
        else f"is not met: it never reaches the target, because its final PSNR "
             f"({pa['final_psnr']:.2f} dB) stays {ttq['target_psnr'] - pa['final_psnr']:.2f} dB "
             f"below it")
    return {"fastest": fastest["variant"], "fastest_x": f"×{fastest['speedup']:.2f}",
            "verdict": verdict,
            "gap": ttq["reference_psnr"] - by["pruned + forward"]["final_psnr"]}


def criteria_summary(crit) -> str:
    """The best criterion of each network in :func:`spadelib.beyond.report.criteria_frame`,
    against group-l1 and judged by the spread over seeds; ``"no criterion cell in this store"``
    when no row has a PSNR."""
    lines = []
    for net, sub in crit.dropna(subset=["psnr"]).groupby("network", sort=False):
        best = sub.loc[sub["psnr"].idxmax()]
        seeds = int(sub["seeds"].min())
        judged = ("beyond the spread over seeds" if best["beyond_spread"] is True else
                  "within the spread over seeds" if best["beyond_spread"] is False else
                  f"with {seeds} seed{'s' if seeds != 1 else ''} per criterion, so no spread "
                  "to judge by")
        lines.append(f"{net}: best {best['criterion']} at {best['psnr']:.2f} dB, "
                     f"{best['delta_l1']:+.2f} dB against l1, {judged}")
    return "; ".join(lines) or "no criterion cell in this store"


def selfsup_summary(ss, goal: float = 0.5) -> tuple[str, str]:
    """The share of the self-supervised-to-supervised gap that splitting closes on each
    network of :func:`spadelib.beyond.report.selfsup_frame`, and whether the goal (at least
    ``goal`` of it) is met: ``(shares, verdict)``."""
    said = [f"{r.network}: {r.gap_closed:.0%}" for r in ss.itertuples()
            if not math.isnan(r.gap_closed)]
    closed = ss["gap_closed"].dropna()
    if said and all(g >= goal for g in closed):
        verdict = "is met on every network"
    elif any(g >= goal for g in closed):
        verdict = ("is met on " + ", ".join(r.network for r in ss.itertuples()
                                             if r.gap_closed >= goal) + " only")
    else:
        verdict = "is not met"
    return ", ".join(said) or "not measured", verdict
