"""The paper's claims, checked on the results store and on the paper's own numbers.

Each claim the paper makes in words (Sections 4.1 and 4.2, the appendix, the conclusion)
becomes a :class:`Claim`: the paper's sentence and where it says it, the test that decides it
(the paper's own thresholds; where the paper gives none, the tolerance chosen and why), and two
verdicts with the numbers that decide them: on the numbers the store holds, and on the paper's
own numbers (:mod:`~spadelib.experiments.paper`, as printed). A claim the paper makes can fail
on its own numbers: that verdict then names the paper's exceptions.

A comparison of our cells is decided by a paired bootstrap interval over the test images
(:func:`~spadelib.experiments.intervals.paired_interval`, re-exported here): the cells were evaluated on the same images in the same order, so
their per-image values are resampled together. The verdict is :data:`HOLDS` when the whole
95 % interval lies on the claimed side of the threshold, :data:`FAILS` when it lies wholly on
the other side, :data:`UNRESOLVED` when it straddles the threshold, and :data:`UNDECIDED` when
the cells are missing. The paper prints means only: its verdicts are on the printed numbers.
Speed-ups come from timing the paper-size architectures on this machine
(:func:`~spadelib.experiments.speed.paper_speedups`, Chapter 4's protocol; passed as
``speed``), not from the store's quick-size times: they are decided on their values, at the
paper's printed precision (two decimals). A claim over several cells holds when
every cell holds, does not hold when one does not, and is not resolved otherwise.

:func:`mri_claims` and :func:`sr_claims` give the paper's claims (Chapters 6 and 7);
:func:`mri_checks` and :func:`sr_checks` our own checks, which the paper does not claim and
for which it prints no numbers; :func:`claims_table` shows either as an HTML table.

A claim that does not hold on our data is reported as such: the chapters say why it may differ
(synthetic data, quick sizes, a CPU).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from ..presets import Preset
from ..tasks import task_of
from .grid import RATIOS, Cell
from .evidence import PaperNumbers, StoreNumbers
from .intervals import (FAILS, HOLDS, UNDECIDED, UNRESOLVED, Interval, combine, decide,
                        mean_difference, paired_interval, relative_loss)
from .store import ResultStore
from .tables import NAMES, NOMINAL

__all__ = ["Claim", "Interval", "HOLDS", "FAILS", "UNRESOLVED", "UNDECIDED", "paired_interval",
           "mean_difference", "relative_loss", "decide", "combine", "mri_claims", "sr_claims",
           "mri_checks", "sr_checks", "claims_table"]

MRI_NETWORKS = ("deq", "varnet", "e2e-varnet")
MRI_SETTINGS = (0.167, 0.125, 0.10)
SR_SCALES = (2, 3, 4)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper (or one check of ours) and its verdicts.

    Taught in Chapters 6 (``book/06_cs_mri.ipynb``) and 7 (``book/07_super_resolution.ipynb``).

    Attributes:
        claim: the claim in a few words.
        quote: the paper's sentence (for one of our own checks: what it checks).
        where: where the paper says it ("" for our own checks).
        test: how it is decided here (thresholds included).
        verdict: on our data: :data:`HOLDS`, :data:`FAILS`, :data:`UNRESOLVED` or
            :data:`UNDECIDED`.
        evidence: our numbers that decide it (or what is missing).
        paper_verdict, paper_evidence: the same test on the paper's own numbers.
        claimed: ``True`` for a claim of the paper, ``False`` for one of our own checks.
    """

    claim: str
    quote: str
    where: str
    test: str
    verdict: str
    evidence: str
    paper_verdict: str
    paper_evidence: str
    claimed: bool = True

    def __str__(self) -> str:
        return (f"[{self.verdict}; on the paper's numbers: {self.paper_verdict}] {self.claim}: "
                f"{self.evidence}")


def _setting(net: str, s) -> str:
    return task_of(net).setting_text(s)


_MARK = {HOLDS: "", FAILS: " ✗", UNRESOLVED: " (not resolved)", UNDECIDED: ""}


def _label(net, s, ratio, several: bool) -> str:
    where = f" at {_setting(net, s)}" if several else ""
    return f"{NAMES[net]}{where}, {NOMINAL.get(ratio, ratio)} % (r = {ratio:g})"


def _summary(results) -> str:
    """The evidence: every cell, or past 8 cells the count that holds and the others."""
    if len(results) <= 8:
        return "; ".join(text for _, text in results)
    held = sum(v == HOLDS for v, _ in results)
    rest = [text for v, text in results if v != HOLDS]
    return f"{held} of {len(results)} hold" + ("; " + "; ".join(rest) if rest else "")


@dataclass(frozen=True)
class _Spec:
    """A claim (or check) before it is decided: what is tested, where and how."""

    claim: str
    quote: str
    where: str
    test: str
    check: object           # (source, pairs, several) -> [(verdict, text)]
    networks: tuple
    settings: tuple
    needed: tuple           # (ratios, regimes): the cells it needs, to say what is missing
    claimed: bool = True


def _run(spec: _Spec, source, networks, settings) -> tuple[str, str]:
    pairs = [(n, s) for n in spec.networks if n in networks for s in spec.settings
             if s in settings and source.has(n, s)]
    several = len({s for _, s in pairs}) > 1
    results = spec.check(source, pairs, several)
    if not results:
        ratios, regimes = spec.needed
        cells = [Cell(n, s, r, "none" if r == 0 else g) for n in spec.networks if n in networks
                 for s in spec.settings if s in settings for r in ratios for g in regimes]
        return UNDECIDED, source.missing(cells)
    return combine(v for v, _ in results), _summary(results)


def _decide(specs, ours, networks, settings) -> list[Claim]:
    out = []
    for spec in specs:
        verdict, evidence = _run(spec, ours, networks, settings)
        paper_verdict, paper_evidence = _run(spec, PaperNumbers(), spec.networks, spec.settings)
        out.append(Claim(spec.claim, spec.quote, spec.where, spec.test, verdict, evidence,
                         paper_verdict, paper_evidence, spec.claimed))
    return out


def _per_cell(measure, op, threshold, ratios=RATIOS, unit=" %"):
    """A check of ``measure(source, net, s, ratio) op threshold`` at every cell."""
    def check(src, pairs, several):
        out = []
        for n, s in pairs:
            for r in ratios:
                iv = measure(src, n, s, r)
                if iv is not None:
                    v = decide(iv, op, threshold)
                    out.append((v, f"{_label(n, s, r, several)}: {iv.show(unit)}{_MARK[v]}"))
        return out
    return check


def _degradation(regime, metric="psnr"):
    return lambda src, n, s, r: src.degradation(n, s, r, regime, metric)


def _speed_at_least(src, n, s, r, regime, threshold):
    sp = src.speedup(n, s, r, regime)
    return None if sp is None else (HOLDS if round(sp, 2) >= threshold else FAILS, sp)


def _fast_and_free(src, pairs, several):
    """×1.06 with virtually no PSNR lost at 20 % fewer parameters: one network per setting."""
    out = []
    for s in sorted({s for _, s in pairs}, reverse=True):
        group = []
        for n in [n for n, t in pairs if t == s]:
            sp, loss = (_speed_at_least(src, n, s, 0.1, "supervised", 1.06),
                        src.degradation(n, s, 0.1, "supervised"))
            if sp is None or loss is None:
                continue
            v = combine([sp[0], decide(loss, "<", 0.5)])
            group.append((v, f"{NAMES[n]} ×{sp[1]:.2f} / {loss.show(' %')}{_MARK[v]}"))
        if group:
            v = combine((g for g, _ in group), every=False)
            out.append((v, f"{_setting('deq', s)} (one network suffices): " +
                        ", ".join(t for _, t in group)))
    return out


def _deq_fastest(src, pairs, several):
    out = []
    for s in sorted({s for _, s in pairs}, reverse=True):
        for r in RATIOS:
            sp = {n: src.speedup(n, s, r, "supervised") for n, t in pairs if t == s}
            if sp.get("deq") is None or not any(v for n, v in sp.items() if n != "deq"):
                continue
            others = {n: v for n, v in sp.items() if n != "deq" and v is not None}
            v = HOLDS if all(sp["deq"] > o for o in others.values()) else FAILS
            where = f"{_setting('deq', s)}, " if several else ""
            out.append((v, f"{where}{NOMINAL[r]} %: DEQ ×{sp['deq']:.2f} against " +
                        ", ".join(f"{NAMES[n]} ×{o:.2f}" for n, o in others.items()) +
                        _MARK[v]))
    return out


def _speed_181(src, pairs, several):
    out = []
    for n, s in pairs:
        sp = _speed_at_least(src, n, s, 0.4, "school", 1.81)
        if sp is not None:
            out.append((sp[0], f"×{s}, 65 % (r = 0.4): ×{sp[1]:.2f}{_MARK[sp[0]]}"))
    return out


def _both_metrics(regime, threshold):
    """Degradation < ``threshold`` % in PSNR and in SSIM at every cell."""
    def check(src, pairs, several):
        out = []
        for metric in ("psnr", "ssim"):
            sub = _per_cell(_degradation(regime, metric), "<", threshold)(src, pairs, several)
            out += [(v, f"{metric.upper()} {t}") for v, t in sub]
        return out
    return check


def _table3(regime, op, threshold, unit=" dB"):
    return _per_cell(lambda src, n, s, r: src.table3(n, s, r, regime), op, threshold,
                     unit=unit)


def _recovers(regime):
    """Our own check: fine-tuning wins back more than half of what pruning lost."""
    def measure(src, n, s, r):
        if not isinstance(src, StoreNumbers):
            return None
        return src.compare([(n, s, 0.0, "none"), (n, s, r, "none"), (n, s, r, regime)],
                           lambda p0, raw, tuned: 100 * (tuned.mean(-1) - raw.mean(-1)) /
                           (p0.mean(-1) - raw.mean(-1)))
    return _per_cell(measure, ">", 50.0, unit=" % of the loss recovered")


def _ordering(src, pairs, several):
    """Our own check: supervised ≥ school ≥ self-supervised, by two paired comparisons."""
    out = []
    for n, s in pairs:
        for r in RATIOS:
            a = src.compare([(n, s, r, "supervised"), (n, s, r, "school")], mean_difference)
            b = src.compare([(n, s, r, "school"), (n, s, r, "self-supervised")],
                            mean_difference)
            if a is None or b is None:
                continue
            v = combine([decide(a, ">=", 0), decide(b, ">=", 0)])
            out.append((v, f"{_label(n, s, r, several)}: SV − SC {a.show(' dB')}, SC − SS "
                        f"{b.show(' dB')}{_MARK[v]}"))
    return out


_PAIRED = ("our cells are compared by a paired 95 % bootstrap interval over the test images "
           "([low, high] after a value)")


_ALL_MRI = (MRI_NETWORKS, MRI_SETTINGS)
_WITH_UNPRUNED = (0.0,) + RATIOS
_TABLE3 = (("e2e-varnet", "varnet", "deq"), (0.167,))

MRI_CLAIMS = (
    _Spec("Supervised: less than 4 % PSNR lost at 65 % fewer parameters",
          "the supervised fine-tuning strategy is highly effective, resulting only up to 4% "
          "PSNR degradation to achieve approximately 65% fewer parameters and up to ×1.51 "
          "speed up",
          "Section 4.1 (Figure 3, Table 1); Figures 3 and 4's captions; the conclusion "
          "(\"less than 4% degradation\")",
          "supervised, r = 0.4: PSNR degradation 100 (PSNR₀ − PSNR) / PSNR₀ < 4 % for every "
          "network and sampling rate (the speed-up is the next claims')",
          _per_cell(_degradation("supervised"), "<", 4.0, (0.4,)), *_ALL_MRI,
          ((0.0, 0.4), ("supervised",))),
    _Spec("Supervised: up to 0.4 dB lost at 65 % fewer parameters (10 % sampling)",
          "the supervised fine-tuning strategy is highly effective, resulting only up to 0.4dB "
          "PSNR degradation to achieve approximately 65% fewer parameters",
          "Appendix, on Table 5 (10 %)",
          "supervised, r = 0.4, 10 % sampling: PSNR₀ − PSNR ≤ 0.4 dB for every network",
          _per_cell(lambda src, n, s, r: src.compare([(n, s, 0.0, "none"),
                                                      (n, s, r, "supervised")],
                                                     mean_difference), "<=", 0.4, (0.4,),
                    " dB"), MRI_NETWORKS, (0.10,), ((0.0, 0.4), ("supervised",))),
    _Spec("×1.06 faster with virtually no PSNR lost at 20 % fewer parameters",
          "one can achieve a ×1.06 speed up in testing time with virtually no cost in PSNR "
          "degradation by removing 20% of parameters",
          "Section 4.1 (Figure 3, Table 1; Table 2 \"consistent\"); the conclusion (\"×1.06 "
          "speed up with negligible performance cost\")",
          "supervised, r = 0.1: at each sampling rate one network at least reaches a speed-up "
          "≥ ×1.06 (two decimals, as printed; ours timed at the paper's sizes on this "
          "machine, Chapter 4) with a PSNR degradation < 0.5 % (our reading "
          "of \"virtually no cost\": the paper's cells at 20 % lose 0.00-0.48 %)",
          _fast_and_free, *_ALL_MRI, ((0.0, 0.1), ("supervised",))),
    _Spec("The DEQ gains more speed than the unrolled networks at the same ratio",
          "DEQ can achieve higher speed up than DU models under the same pruning ratio, which "
          "we attribute to its large number of forward iterations",
          "Section 4.1, on Table 1",
          "speed-up of the DEQ > that of VarNet and of E2E-VarNet at every ratio timed "
          "(supervised; the paper prints one time per ratio; ours timed at the paper's sizes "
          "on this machine, Chapter 4)",
          _deq_fastest, *_ALL_MRI, (_WITH_UNPRUNED, ("supervised",))),
    _Spec("School: less than 3 % PSNR lost at every ratio and network",
          "school can achieve competitive performance against supervised, with less than 3% "
          "PSNR degradation across different pruning ratios and MBDL models",
          "the conclusion",
          "school: PSNR degradation against the unpruned network (as Figures 3 and 4 define "
          "it) < 3 % at every network, ratio and sampling rate",
          _per_cell(_degradation("school"), "<", 3.0), *_ALL_MRI, (_WITH_UNPRUNED, ("school",))),
    _Spec("School is competitive with supervised (school ≈ supervised)",
          "the school fine-tuning method can achieve competitive performance against "
          "supervised fine-tuning across different pruning ratios",
          "Section 4.1 (Figure 3); the appendix (Table 5, Figures 6-8); the conclusion",
          "school's PSNR is less than 3.5 % below supervised's, 100 (PSNR_SV − PSNR_SC) / "
          "PSNR_SV < 3.5 %, at every network, ratio and sampling rate (the paper calls its own "
          "cells competitive where school trails by up to 3.48 %: VarNet, 12.5 %, 65 %)",
          _per_cell(lambda src, n, s, r: src.compare([(n, s, r, "supervised"),
                                                      (n, s, r, "school")], relative_loss),
                    "<", 3.5), *_ALL_MRI, (_WITH_UNPRUNED, ("supervised", "school"))),
    _Spec("Self-supervised SPADE beats training from scratch by at least 8 dB",
          "pruned models with a self-supervised fine-tuning strategy can achieve at least an "
          "8 dB improvement in PSNR compared to the retrained networks",
          "Section 4.1 and Table 3's caption",
          "PSNR of SPADE − scratch (same architecture, self-supervised loss) ≥ 8 dB at every "
          "network and ratio of Table 3 (16.7 %; the paper: its printed Δ)",
          _table3("self-supervised", ">=", 8.0), *_TABLE3,
          (_WITH_UNPRUNED, ("self-supervised", "scratch-self-supervised"))),
    _Spec("SPADE beats training from scratch with the same loss",
          "pruned models can outperform equivalently parameterized models retrained using "
          "the same fine-tuning loss",
          "Section 4.1, on Table 3 (a) and (b); the conclusion, (c)",
          "PSNR of SPADE − scratch > 0 dB, supervised and self-supervised, at every network "
          "and ratio of Table 3",
          lambda src, pairs, several: [
              (v, f"{g}: {t}") for g in ("supervised", "self-supervised")
              for v, t in _table3(g, ">", 0.0)(src, pairs, several)], *_TABLE3,
          (_WITH_UNPRUNED, ("supervised", "scratch-supervised")))
)

SR_CLAIMS = (
    _Spec("School keeps USRNet within 1 % of its PSNR and SSIM at ×2 and ×3",
          "the school fine-tuning strategy can achieve ×1.81 speed up while maintaining less "
          "than 1% degradation in both PSNR and SSIM values",
          "Section 4.2 and Table 4's caption (×2 and ×3)",
          "school, ×2 and ×3: PSNR and SSIM degradation < 1 % at every ratio (the paper: "
          "100 − its printed Degrad. %)",
          _both_metrics("school", 1.0), ("usrnet",), (2, 3), (_WITH_UNPRUNED, ("school",))),
    _Spec("School keeps USRNet within 1.1 % of its PSNR at ×4",
          "the school fine-tuning strategy can achieve ×1.81 speed up while maintaining less "
          "than 1.1% degradation in PSNR values",
          "Appendix, on Table 6 (×4)",
          "school, ×4: PSNR degradation < 1.1 % at every ratio",
          _per_cell(_degradation("school"), "<", 1.1), ("usrnet",), (4,),
          (_WITH_UNPRUNED, ("school",))),
    _Spec("65 % fewer parameters make USRNet ×1.81 faster",
          "school fine-tuning method can gain 1.81× speed up with less than 1% performance "
          "degradation",
          "Table 4's caption; Section 4.2 and the appendix (Tables 4 and 6)",
          "speed-up ≥ ×1.81 (two decimals, as printed) at r = 0.4, at every scale (ours: "
          "timed at the paper's size on this machine, Chapter 4)",
          _speed_181, ("usrnet",), SR_SCALES, ((0.0, 0.4), ("school",))),
)

MRI_CHECKS = (
    _Spec("Fine-tuning recovers most of the PSNR that pruning loses",
          "not a claim of the paper, which prints no numbers for pruned networks that were "
          "not fine-tuned", "",
          "supervised fine-tuning wins back more than half of the PSNR lost by the pruned, "
          "not fine-tuned network, at every ratio",
          _recovers("supervised"), *_ALL_MRI, (_WITH_UNPRUNED, ("none", "supervised")), False),
    _Spec("Supervised ≥ school ≥ self-supervised",
          "not a claim of the paper (its Table 1 has VarNet at 10 % with school 38.86 dB "
          "below self-supervised 39.11 dB)", "",
          "PSNR of supervised ≥ school and school ≥ self-supervised at every network and "
          "ratio", _ordering, *_ALL_MRI,
          (_WITH_UNPRUNED, ("supervised", "school", "self-supervised")), False),
)

SR_CHECKS = (
    _Spec("Fine-tuning recovers most of the PSNR that pruning loses",
          "not a claim of the paper, which prints no numbers for pruned networks that were "
          "not fine-tuned", "",
          "school fine-tuning wins back more than half of the PSNR lost by the pruned, not "
          "fine-tuned USRNet, at every ratio",
          _recovers("school"), ("usrnet",), SR_SCALES, (_WITH_UNPRUNED, ("none", "school")), False),
)


def mri_claims(preset: Preset | str | None = None, store: ResultStore | None = None,
               networks=MRI_NETWORKS, settings=MRI_SETTINGS, speed=None) -> list[Claim]:
    """The paper's claims on CS-MRI, each checked on every sampling rate the store holds
    within the claim's scope, and on the paper's own numbers. ``speed``: rows of
    :func:`~spadelib.experiments.speed.paper_speedups` (None: speed claims undecided on ours).

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    return _decide(MRI_CLAIMS, StoreNumbers(preset, store, speed), networks, settings)


def mri_checks(preset: Preset | str | None = None, store: ResultStore | None = None,
               networks=MRI_NETWORKS, settings=MRI_SETTINGS) -> list[Claim]:
    """Our own checks on CS-MRI, which the paper does not claim (``claimed`` is ``False``).

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    return _decide(MRI_CHECKS, StoreNumbers(preset, store), networks, settings)


def sr_claims(preset: Preset | str | None = None, store: ResultStore | None = None,
              scales=SR_SCALES, speed=None) -> list[Claim]:
    """The paper's claims on super-resolution (USRNet, school), each at the scales the paper
    makes it for (×2 and ×3: Table 4; ×4: Table 6) that the store holds, and on the paper's
    own numbers. ``speed``: as for :func:`mri_claims`.

    Taught in Chapter 7 (``book/07_super_resolution.ipynb``).
    """
    return _decide(SR_CLAIMS, StoreNumbers(preset, store, speed), ("usrnet",), scales)


def sr_checks(preset: Preset | str | None = None, store: ResultStore | None = None,
              scales=SR_SCALES) -> list[Claim]:
    """Our own checks on super-resolution, which the paper does not claim.

    Taught in Chapter 7 (``book/07_super_resolution.ipynb``).
    """
    return _decide(SR_CHECKS, StoreNumbers(preset, store), ("usrnet",), scales)


_COLOUR = {HOLDS: "#1a7f37", FAILS: "#b42318", UNRESOLVED: "#9a6700", UNDECIDED: "#6e7781"}


def _verdict_cell(verdict: str, evidence: str) -> str:
    return (f'<td><span style="color: {_COLOUR[verdict]}; font-weight: bold; white-space: '
            f'nowrap">{verdict}</span><br>{html.escape(evidence)}</td>')


def claims_table(claims: list[Claim]) -> str:
    """The claims as an HTML table, one line each: the claim (the paper's sentence and where
    it says it), the test, the verdict on our data and on the paper's numbers, each with the
    numbers that decide it. Our own checks (``claimed`` False) are headed as such.

    Taught in Chapters 6 (``book/06_cs_mri.ipynb``) and 7 (``book/07_super_resolution.ipynb``).
    """
    own = bool(claims) and not any(c.claimed for c in claims)
    rows = "".join(
        f"<tr><td><b>{html.escape(c.claim)}</b><br>"
        + (f"<i>“{html.escape(c.quote)}”</i>" if c.claimed else html.escape(c.quote))
        + (f" ({html.escape(c.where)})" if c.where else "") + "</td>"
        f"<td>{html.escape(c.test)}</td>{_verdict_cell(c.verdict, c.evidence)}"
        f"{_verdict_cell(c.paper_verdict, c.paper_evidence)}</tr>" for c in claims)
    first = ("our own checks (not claimed by the paper)" if own else "the paper claims")
    return (f'<table class="spade-claims"><thead><tr><th>{first}</th><th>decided by ('
            f"{html.escape(_PAIRED)})</th><th>on our data</th><th>on the paper's numbers</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>")
