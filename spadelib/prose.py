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

No word about a number that varies is fixed in a chapter's text: another machine, seed or
preset gives other numbers, so every adjective, ranking and verdict is computed here from the
numbers it describes (``tests/test_prose_numbers.py`` feeds each rule two sets of numbers):

* words: :func:`share_word` ("most of", "about half of", ...), :func:`ranking` ("a > b",
  "a ≈ b" when equal at the shown precision), :func:`cost_word` / :func:`speed_word`
  (cheaper / no cheaper / dearer), :func:`difference_word` (higher / lower / no difference
  resolved), :func:`signed_gap` ("0.70 dB below"), :func:`quantifier` ("everywhere",
  "mostly", ...);
* sentences: :func:`data_fit_summary` (Chapter 1), :func:`gap_against_paper` (Chapter 2),
  :func:`invariance_sentence`, :func:`pruned_time_sentence`, :func:`convergence_sentence`
  (Chapter 5),
  :func:`iteration_cost_sentence`, :func:`returned_iterate_sentence`,
  :func:`reductions_text` (Chapter 6), :func:`macs_lag_summary`, :func:`weakest_regime_sentence`,
  :func:`selfsup_advice` (Chapter 8).

:func:`spadelib.prose_check.contradictions` reads those rules backwards: it finds the places
where a sentence or a table contradicts the numbers it carries (an "above" whose interval
reaches zero, a ranking out of order, "most of" for 30 %); CI applies it to every glued sentence
and Markdown output of the executed book (``tests/test_glued_prose.py``).
"""
from __future__ import annotations

import math

__all__ = ["duration", "cosine_agreement", "solver_verdicts", "time_to_quality_summary",
           "criteria_summary", "selfsup_summary", "NOT_MEASURED_TTQ",
           "share_word", "ranking", "cost_word", "speed_word", "difference_word", "signed_gap",
           "quantifier", "data_fit_summary", "gap_against_paper", "invariance_sentence",
           "pruned_time_sentence", "iteration_cost_sentence", "returned_iterate_sentence",
           "reductions_text", "macs_lag_summary", "weakest_regime_sentence", "selfsup_advice",
           "convergence_sentence"]

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


# ---------------------------------------------------------------------------------------------
# Words computed from numbers (issue 27, item 2): no chapter states a fixed adjective, ranking
# or verdict about a number that another run can change.

def _missing(x) -> bool:
    """None, NaN or not a number."""
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def share_word(fraction) -> str:
    """A share of a whole in words: ``"more than all of"`` (> 1.05), ``"almost all of"``
    (>= 0.9), ``"most of"`` (>= 0.6), ``"about half of"`` (>= 0.4), ``"some of"`` (>= 0.1),
    ``"little of"`` (> 0), ``"none of"``; ``"an unmeasured share of"`` for None or NaN."""
    if _missing(fraction):
        return "an unmeasured share of"
    f = float(fraction)
    for low, word in ((1.05, "more than all of"), (0.9, "almost all of"), (0.6, "most of"),
                      (0.4, "about half of"), (0.1, "some of")):
        if f > low if low > 1 else f >= low:
            return word
    return "little of" if f > 0 else "none of"


def ranking(values: dict, decimals: int = 2, unit: str = " dB") -> str:
    """``"school 27.61 dB > supervised 27.57 dB ≈ self-supervised 27.57 dB"``: best first, and
    two values equal at the shown precision joined by ``≈``, never ranked. Missing values
    (None, NaN) are named last as not measured."""
    shown = [(k, float(v)) for k, v in values.items() if not _missing(v)]
    shown.sort(key=lambda kv: -kv[1])
    text = ""
    for i, (label, v) in enumerate(shown):
        if i:
            same = f"{v:.{decimals}f}" == f"{shown[i - 1][1]:.{decimals}f}"
            text += " ≈ " if same else " > "
        text += f"{label} {v:.{decimals}f}{unit}"
    unmeasured = [k for k, v in values.items() if _missing(v)]
    if unmeasured:
        text += (", " if text else "") + ", ".join(unmeasured) + " not measured"
    return text


def _compare(new, ref, tol, words):
    """``words[0]`` when ``new`` beats ``ref`` by more than the relative tolerance ``tol``
    (ratio ``ref / new`` above ``1 + tol``: a time), ``words[2]`` when it is worse by as much,
    ``words[1]`` in between."""
    if _missing(new) or _missing(ref) or float(new) <= 0 or float(ref) <= 0:
        return "not measured"
    x = float(ref) / float(new)
    return words[0] if x > 1 + tol else words[2] if x < 1 / (1 + tol) else words[1]


def cost_word(t_new, t_ref, tol: float = 0.03) -> str:
    """``"cheaper"``, ``"no cheaper"`` or ``"dearer"``: a cost ``t_new`` (e.g. the time of a
    pruned iteration) against ``t_ref``, beyond a relative tolerance ``tol``."""
    return _compare(t_new, t_ref, tol, ("cheaper", "no cheaper", "dearer"))


def speed_word(t_new, t_ref, tol: float = 0.03) -> str:
    """``"faster"``, ``"no faster"`` or ``"slower"``: a run of time ``t_new`` against one of
    ``t_ref``, beyond a relative tolerance ``tol``."""
    return _compare(t_new, t_ref, tol, ("faster", "no faster", "slower"))


def difference_word(a, b, tol: float, higher: str = "higher", lower: str = "lower",
                    level: str = "no difference resolved") -> str:
    """``higher`` when ``a - b > tol``, ``lower`` when ``a - b < -tol``, else ``level``."""
    if _missing(a) or _missing(b):
        return "not measured"
    d = float(a) - float(b)
    return higher if d > tol else lower if d < -tol else level


def signed_gap(d, tol: float = 0.05, decimals: int = 2, unit: str = " dB",
               above: str = "above", below: str = "below", level: str = "level with") -> str:
    """A signed difference as a distance: ``"0.70 dB below"``, ``"5.00 dB above"``, or
    ``level`` (``"level with"``) when ``|d| <= tol``."""
    if _missing(d):
        return "not measured against"
    d = float(d)
    if abs(d) <= tol:
        return level
    return f"{abs(d):.{decimals}f}{unit} {above if d > 0 else below}"


def quantifier(k: int, n: int) -> str:
    """How many of ``n`` cases, in words: ``"everywhere"`` (all), ``"mostly"`` (>= 60 %),
    ``"in about half the cases"`` (>= 40 %), ``"in a few cases"``, ``"nowhere"`` (none);
    ``"in no measured case"`` when ``n`` is 0."""
    if n <= 0:
        return "in no measured case"
    if k >= n:
        return "everywhere"
    if k <= 0:
        return "nowhere"
    f = k / n
    return "mostly" if f >= 0.6 else "in about half the cases" if f >= 0.4 else "in a few cases"


def data_fit_summary(zero_filled: float, fit: float, regularised: dict) -> str:
    """Chapter 1: how much of each regulariser's gain over the zero-filled image pure data
    fitting (gradient descent on h, no prior) reaches, e.g. ``"most of TV's gain (62 %) and
    about half of the ℓ1-wavelet's (48 %)"``.

    Args:
        zero_filled, fit: PSNR (dB) of the zero-filled image and of data fitting alone.
        regularised: ``{name: PSNR}`` of the regularised reconstructions, same images.
    """
    parts = []
    for i, (name, psnr) in enumerate(regularised.items()):
        gain = float(psnr) - float(zero_filled)
        whose = f"{name}'s gain" if i == 0 else f"the {name}'s" if name[0] == "ℓ" else f"{name}'s"
        if gain <= 0:
            parts.append(f"more than {whose} ({gain:+.2f} dB, not a gain)")
            continue
        share = (float(fit) - float(zero_filled)) / gain
        parts.append(f"{share_word(share)} {whose} ({100 * share:.0f} %)")
    return " and ".join(parts) if len(parts) <= 2 else ", ".join(parts[:-1]) + " and " + parts[-1]


def gap_against_paper(a: str, b: str, ours: tuple, paper: tuple, tol: float = 0.1,
                      where: str = "the paper's Table 1") -> str:
    """``a`` against ``b`` on our numbers and on the paper's, in one sentence:
    ``ours`` and ``paper`` are ``(PSNR of a, PSNR of b)``; ``tol`` (dB) is the smallest
    difference that counts."""
    d, p = ours[0] - ours[1], paper[0] - paper[1]
    here = signed_gap(d, tol)
    there = signed_gap(p, tol)
    text = (f"Here {a} is {here} {b} ({ours[0]:.2f} against {ours[1]:.2f} dB); in {where} it "
            f"is {there} it ({paper[0]:.2f} against {paper[1]:.2f} dB)")
    if abs(d) <= tol and abs(p) <= tol:
        return text + ": no difference on either side."
    if abs(d) <= tol:
        return text + ": the paper's difference is not resolved here."
    if abs(p) <= tol:
        return text + ": a difference the paper does not have."
    if (d > 0) != (p > 0):
        return text + ": the reverse of the paper's order."
    return text + (": the paper's order, by a smaller margin." if abs(d) < abs(p) else
                   ": the paper's order, by a margin at least as large.")


def invariance_sentence(upright: float, turned: float, tol: float = 0.25) -> str:
    """Chapter 5: whether the rotation-invariance assumption holds, from the teacher's PSNR on
    upright and on quarter-turned ground truths; ``tol`` (dB): no difference resolved within
    it, 1 dB: "only in part"."""
    d = float(turned) - float(upright)
    nums = f"{float(turned):.2f} dB on ground truths turned by 90 degrees against " \
           f"{float(upright):.2f} dB on upright ones"
    if abs(d) <= tol:
        return (f"On these data the assumption is not contradicted: the teacher scores {nums}, "
                f"no difference resolved (within {tol:g} dB).")
    if d > 0:
        return (f"On these data the assumption is not contradicted: the teacher scores {nums}, "
                f"{d:.2f} dB higher on the turned ones.")
    if d >= -1:
        return (f"The assumption holds only in part: the teacher scores {nums}, {-d:.2f} dB "
                "lower on the turned ones.")
    return (f"The assumption does not hold well here: the teacher scores {nums}, {-d:.2f} dB "
            "lower on the turned ones.")


def pruned_time_sentence(unpruned: tuple, pruned: dict, tol: float = 0.03) -> tuple[str, str]:
    """Chapter 5: each pruned DEQ's time against the unpruned one's: ``(details, verdict)``.

    Args:
        unpruned: ``(time in ms, mean solver iterations or None)``.
        pruned: ``{label: (time in ms, iterations or None)}``.
    """
    t0, it0 = unpruned
    details, words = [], []
    for label, (t, it) in pruned.items():
        w = speed_word(t, t0, tol)
        words.append(w)
        iters = "" if _missing(it) else f", {float(it):.1f} iterations"
        if w == "not measured":
            details.append(f"{label} not measured")
            continue
        details.append(f"{label} {w} (×{float(t0) / float(t):.2f}, {float(t):.1f} ms{iters})")
    base = "" if _missing(it0) else f" and {float(it0):.1f} iterations"
    took = "not measured" if _missing(t0) else f"{float(t0):.1f} ms"
    text = f"the unpruned DEQ takes {took}{base}; " + "; ".join(details)
    if "slower" in words:
        slow_more = [lab for (lab, (t, it)), w in zip(pruned.items(), words)
                     if w == "slower" and not _missing(it) and not _missing(it0)
                     and float(it) > float(it0)]
        why = (" (" + ", ".join(slow_more) + " with more solver iterations than the unpruned "
               "DEQ)") if slow_more else ""
        n_slow = words.count("slower")
        verdict = (f"So {n_slow} of the {len(words)} pruned DEQs {'is' if n_slow == 1 else 'are'} "
                   f"slower than the unpruned one{why}: a DEQ's time is its number of iterations times the "
                   "cost of one, and pruning changes both (Chapter 6's Figure 2 separates them).")
    elif words and all(w == "faster" for w in words):
        verdict = "So every pruned DEQ is faster than the unpruned one on this run."
    else:
        verdict = ("So no pruned DEQ is slower than the unpruned one, but not every one is faster "
                   f"by more than {tol:.0%}.")
    return text, verdict


def iteration_cost_sentence(unpruned: dict | None, pruned: dict | None,
                            tol: float = 0.03) -> str:
    """Chapter 6's Figure 2: whether a pruned iteration is cheaper and where the pruned DEQ's
    speed-up on the traced image comes from. ``unpruned``, ``pruned``: traces of
    :func:`spadelib.experiments.views.deq_trace` (``times`` cumulative seconds,
    ``iterations``); None when not traced."""
    if not unpruned or not pruned:
        return "One of the two DEQs was not traced on this run, so the two factors are not compared."
    n0, n1 = unpruned["iterations"], pruned["iterations"]
    t0, t1 = unpruned["times"][-1], pruned["times"][-1]
    per0, per1 = 1000 * t0 / n0, 1000 * t1 / n1
    cost = cost_word(per1, per0, tol)
    speed = speed_word(t1, t0, tol)
    per_x, it_x = per0 / per1, n0 / n1
    text = (f"On this image a pruned iteration takes {per1:.1f} ms against {per0:.1f} ms "
            f"unpruned ({cost}, ×{per_x:.2f}), and the pruned DEQ runs {n1} iterations against "
            f"{n0} (×{it_x:.2f}). Its whole solve is ×{t0 / t1:.2f} the unpruned one's speed")
    if speed != "faster":
        return text + f": on this image it is {speed}."
    cheaper, fewer = cost == "cheaper", it_x > 1 + tol
    source = {(True, True): "from both cheaper and fewer iterations",
              (True, False): "from cheaper iterations",
              (False, True): "from fewer iterations, not from cheaper ones",
              (False, False): "from the two factors together, neither beyond "
                              f"{tol:.0%} alone"}[(cheaper, fewer)]
    return text + f": its speed-up comes {source}."


def returned_iterate_sentence(label: str, trace: dict) -> str:
    """Which iterate the solver returns (the one of smallest residual) and its PSNR, against
    the last iterate's, from a :func:`~spadelib.experiments.views.deq_trace`."""
    res = [r if not _missing(r) else math.inf for r in trace["residuals"]]
    k = min(range(len(res)), key=lambda i: (res[i], i))
    n, p = trace["iterations"], trace["psnr"]
    if k == n - 1:
        return f"{label}: the last iterate ({n}), {p[k]:.2f} dB"
    return (f"{label}: iteration {k + 1} of {n}, {p[k]:.2f} dB, against {p[-1]:.2f} dB for the "
            "last iterate")


def reductions_text(frame, names: dict | None = None) -> str:
    """Chapter 6's Figure 3: the parameter reduction (%) each of our pruned networks has, from
    :func:`~spadelib.experiments.tables.degradation_frame`'s ``params_reduction``, e.g.
    ``"DEQ 38.7 / 64.3 %, VarNet 41.6 / 67.4 %"``; ``"none on this run"`` without any."""
    names = names or {}
    parts = []
    got = frame[frame["params_reduction"].notna()]
    for net, sub in got.groupby("network", sort=False):
        values = sub.groupby("ratio")["params_reduction"].first().sort_index()
        parts.append(f"{names.get(net, net)} " + " / ".join(f"{v:.1f}" for v in values) + " %")
    return ", ".join(parts) or "none on this run"


def macs_lag_summary(rows: list[dict]) -> str:
    """Chapter 8: how often the measured speed-up of a pruned network lags its MAC ratio
    (``efficiency < 1`` in :func:`spadelib.beyond.hardware.add_speedups`'s rows), e.g.
    ``"mostly (14 of the 16 timed pruned networks and options)"``."""
    timed = [r for r in rows if r.get("ratio") and not _missing(r.get("efficiency"))]
    k = sum(float(r["efficiency"]) < 1 for r in timed)
    if not timed:
        return "in no measured case (nothing was timed on this run)"
    return f"{quantifier(k, len(timed))} ({k} of the {len(timed)} timed pruned networks and options)"


def weakest_regime_sentence(psnrs: dict, regime: str = "self-supervised",
                            others=("school", "supervised"), label: str = "eq. (9)",
                            tol: float = 0.1) -> str:
    """Chapter 8: where ``regime`` stands against the ``others`` on each network, from
    ``{network name: {regime: PSNR}}``; a difference within ``tol`` dB is not resolved."""
    parts, weakest, measured = [], [], []
    for net, p in psnrs.items():
        if _missing(p.get(regime)):
            parts.append(f"on {net} not measured")
            continue
        gaps = {o: float(p[regime]) - float(p[o]) for o in others if not _missing(p.get(o))}
        if not gaps:
            parts.append(f"on {net} not measured against {', '.join(others)}")
            continue
        measured.append(net)
        if all(g < -tol for g in gaps.values()):
            weakest.append(net)
        parts.append(f"on {net} " + " and ".join(f"{signed_gap(g, tol)} {o}"
                                                  for o, g in gaps.items()))
    if not measured:
        verdict = "not measured on this run"
    elif len(weakest) == len(measured):
        verdict = ("the weakest regime on every network" if len(measured) > 1 else
                   f"the weakest regime on {measured[0]}")
    elif weakest:
        verdict = f"the weakest regime on {', '.join(weakest)} only"
    else:
        verdict = "not the weakest regime on any network"
    return f"On this run {label} is {verdict}: " + "; ".join(parts) + "."


def selfsup_advice(ss) -> str:
    """Chapter 8's advice on splitting, from :func:`spadelib.beyond.report.selfsup_frame`:
    the share of the gap it closes on each network, in words and numbers."""
    said = [f"{share_word(r.gap_closed)} the gap on {r.network} ({100 * r.gap_closed:.0f} %)"
            for r in ss.itertuples() if not _missing(r.gap_closed)]
    if not said:
        return "on this run its share of the gap to supervised fine-tuning was not measured"
    best = max(float(g) for g in ss["gap_closed"] if not _missing(g))
    head = ("on this run it closes " if best >= 0.1 else
            "on this run it hardly helps: it closes ")
    return head + " and ".join(said) + " between eq. (9) and supervised fine-tuning"


def convergence_sentence(summaries: dict, tol: float, budget: int) -> str:
    """Chapter 5: how far each DEQ's solver gets, from the summaries of
    :meth:`spadelib.evaluation.FixedPointReport.summary` (``{label: summary}``): the share of
    test images that reach ``tol`` within ``budget`` iterations, the share diverging, the
    median final residual, and the residual at the end: *still shrinking* (late ratio < 0.9
    per iteration), *stalled* (0.9 to 1.02) or *growing* (> 1.02)."""
    parts = []
    for label, s in summaries.items():
        conv, div, rate = s["converged_share"], s["diverging_share"], s["residual_rate"]
        state = ("of unmeasured trend" if _missing(rate) else "still shrinking" if rate < 0.9
                 else "stalled" if rate <= 1.02 else "growing")
        share = "all of" if conv >= 1 else share_word(conv)
        text = f"{label} reaches it on {share} the test images ({100 * conv:.0f} %)"
        if div > 0:
            text += f" and diverges on {100 * div:.0f} %"
        parts.append(f"{text}, with a median final residual of {s['residual_median']:.2g}, "
                     f"{state} at the end ({rate:.2f} per iteration)")
    return (f"Within at most {budget} iterations, against the tolerance {tol:g}: "
            + "; ".join(parts) + ".") if parts else "No DEQ was measured."
