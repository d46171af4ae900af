"""The paper's qualitative claims, checked on the results store.

Each claim of the paper (Sections 4.1 and 4.2, the conclusion) becomes a :class:`Claim`: the
claim as the paper states it, the test it is decided by (written out, thresholds included),
the verdict on the numbers the store holds (``"holds"``, ``"does not hold"`` or ``"cannot be
checked"`` when the store lacks the cells it needs) and the numbers that decide it.
:func:`mri_claims` checks those of CS-MRI (Chapter 6), :func:`sr_claims` those of
super-resolution (Chapter 7); :func:`claims_table` shows them as an HTML table.

A claim that does not hold on our data is reported as such: the chapters say why it may differ
(synthetic data, quick sizes, a CPU).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from ..presets import Preset
from ..tasks import task_of
from .grid import RATIOS, Cell
from .store import ResultStore
from .tables import NAMES, NOMINAL, Results

__all__ = ["Claim", "HOLDS", "FAILS", "UNDECIDED", "mri_claims", "sr_claims", "claims_table"]

HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "cannot be checked"
MRI_NETWORKS = ("deq", "varnet", "e2e-varnet")
MRI_SETTINGS = (0.167, 0.125, 0.10)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and its verdict on our data.

    Taught in Chapters 6 (``book/06_cs_mri.ipynb``) and 7 (``book/07_super_resolution.ipynb``).

    Attributes:
        claim: the claim, as the paper makes it.
        test: how it is decided here (thresholds included).
        verdict: :data:`HOLDS`, :data:`FAILS` or :data:`UNDECIDED`.
        evidence: the numbers that decide it (or what is missing).
    """

    claim: str
    test: str
    verdict: str
    evidence: str

    def __str__(self) -> str:
        return f"[{self.verdict}] {self.claim}: {self.evidence}"


def _verdict(checks: list[bool]) -> str:
    if not checks:
        return UNDECIDED
    return HOLDS if all(checks) else FAILS


def _setting(net: str, s) -> str:
    return task_of(net).setting_text(s)


class _Data:
    """PSNR / SSIM / time of the cells of a store, with labels for the evidence."""

    def __init__(self, preset, store):
        self.res = Results(preset, store)

    def get(self, net, s, ratio, regime, metric="psnr"):
        return self.res.value(Cell(net, s, ratio, "none" if ratio == 0 else regime), metric)

    def loss(self, net, s, ratio, regime, metric="psnr"):
        """Degradation in % of the unpruned network's value, or None."""
        v, v0 = self.get(net, s, ratio, regime, metric), self.get(net, s, 0.0, "none", metric)
        return None if v is None or not v0 else 100 * (v0 - v) / v0

    def speedup(self, net, s, ratio, regime):
        t, t0 = self.get(net, s, ratio, regime, "time_ms"), self.get(net, s, 0.0, "none",
                                                                     "time_ms")
        return None if not t or not t0 else t0 / t

    def missing(self, cells: list[Cell]) -> str:
        reasons = sorted({self.res.why_missing(c) for c in cells if self.res.row(c) is None})
        return f"the store lacks the cells it needs ({', '.join(reasons)})" if reasons else ""


def _label(net, s, ratio, several: bool) -> str:
    where = f" at {_setting(net, s)}" if several else ""
    return f"{NAMES[net]}{where}, {NOMINAL.get(ratio, ratio)} % (r = {ratio:g})"


def _pairs(d: _Data, networks, settings):
    """(net, setting) pairs whose unpruned network is in the store."""
    return [(n, s) for n in networks for s in settings if d.get(n, s, 0.0, "none") is not None]


def _recovers(d, pairs, several, regime="supervised"):
    ev, ok = [], []
    for n, s in pairs:
        p0 = d.get(n, s, 0.0, "none")
        for r in RATIOS:
            raw, tuned = d.get(n, s, r, "none"), d.get(n, s, r, regime)
            if raw is None or tuned is None:
                continue
            lost = p0 - raw
            frac = (tuned - raw) / lost if lost > 0 else 1.0
            ok.append(frac > 0.5)
            ev.append(f"{_label(n, s, r, several)}: pruned {raw:.2f} → {tuned:.2f} dB of "
                      f"{p0:.2f} ({100 * frac:.0f} % of the loss recovered)"
                      + ("" if ok[-1] else " ✗"))
    return ok, ev


def _ordering(d, pairs, several):
    ev, ok = [], []
    for n, s in pairs:
        for r in RATIOS[1:]:
            v = [d.get(n, s, r, g) for g in ("supervised", "school", "self-supervised")]
            if None in v:
                continue
            ok.append(v[0] >= v[1] >= v[2])
            ev.append(f"{_label(n, s, r, several)}: {v[0]:.2f} / {v[1]:.2f} / {v[2]:.2f} dB"
                      + ("" if ok[-1] else " ✗"))
    return ok, ev


def _threshold(d, pairs, several, ratios, regime, limit, metric="psnr"):
    ev, ok = [], []
    for n, s in pairs:
        for r in ratios:
            loss = d.loss(n, s, r, regime, metric)
            if loss is None:
                continue
            ok.append(loss < limit)
            ev.append(f"{_label(n, s, r, several)}: {loss:.2f} %" + ("" if ok[-1] else " ✗"))
    return ok, ev


def _claim(claim, test, ok, ev, d, needed) -> Claim:
    verdict = _verdict(ok)
    evidence = "; ".join(ev) if ev else d.missing(needed) or "no cell to decide it"
    return Claim(claim, test, verdict, evidence)


def mri_claims(preset: Preset | str | None = None, store: ResultStore | None = None,
               networks=MRI_NETWORKS, settings=MRI_SETTINGS) -> list[Claim]:
    """The paper's claims on CS-MRI, checked on every sampling rate the store holds.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    d = _Data(preset, store)
    pairs = _pairs(d, networks, settings)
    several = len({s for _, s in pairs}) > 1
    first = [(n, settings[0]) for n in networks]
    need = lambda ratios, regimes: [Cell(n, s, r, g) for n, s in (pairs or first)  # noqa: E731
                                    for r in ratios for g in regimes]
    out = []
    ok, ev = _recovers(d, pairs, several)
    out.append(_claim("Fine-tuning recovers most of the PSNR that pruning loses",
                      "supervised fine-tuning wins back more than half of the PSNR lost by the "
                      "pruned, not fine-tuned network, at every ratio", ok, ev, d,
                      need(RATIOS[1:], ("none", "supervised"))))
    ok, ev = _ordering(d, pairs, several)
    out.append(_claim("Supervised ≥ school ≥ self-supervised",
                      "PSNR of supervised ≥ school ≥ self-supervised at every network and ratio",
                      ok, ev, d,
                      need(RATIOS[1:], ("supervised", "school", "self-supervised"))))
    ok, ev = _threshold(d, pairs, several, (0.4,), "supervised", 4.0)
    out.append(_claim("65 % fewer parameters cost less than 4 % PSNR with supervised "
                      "fine-tuning", "PSNR degradation < 4 % at r = 0.4, supervised",
                      ok, ev, d, need((0.4,), ("supervised",))))
    ok, ev = [], []
    for n, s in pairs:
        loss, sp = d.loss(n, s, 0.1, "supervised"), d.speedup(n, s, 0.1, "supervised")
        if loss is None or sp is None:
            continue
        ok.append(loss < 0.5 and sp >= 1.03)
        ev.append(f"{_label(n, s, 0.1, several)}: ×{sp:.2f}, {loss:.2f} % PSNR"
                  + ("" if ok[-1] else " ✗"))
    out.append(_claim("About ×1.06 faster with virtually no PSNR loss at 20 % fewer "
                      "parameters", "at r = 0.1, supervised: speed-up ≥ ×1.03 and PSNR "
                      "degradation < 0.5 %", ok, ev, d, need((0.1,), ("supervised",))))
    for regime, limit, paper in (("self-supervised", 8.0, "by at least 8 dB"),
                                 ("supervised", 0.0, "(the paper: by 1-2.5 dB)")):
        ok, ev = [], []
        for n, s in pairs:
            for r in RATIOS[1:]:
                a, b = d.get(n, s, r, regime), d.get(n, s, r, f"scratch-{regime}")
                if a is None or b is None:
                    continue
                ok.append(a - b >= limit if limit else a - b > 0)
                ev.append(f"{_label(n, s, r, several)}: {a:.2f} against {b:.2f} dB "
                          f"(Δ {a - b:+.2f})" + ("" if ok[-1] else " ✗"))
        out.append(_claim(f"SPADE beats the same architecture trained from scratch with the "
                          f"{regime} loss {paper}",
                          f"PSNR of SPADE − scratch {'≥ 8 dB' if limit else '> 0 dB'} at every "
                          "network and ratio of Table 3", ok, ev, d,
                          need(RATIOS[1:], (regime, f"scratch-{regime}"))))
    ok, ev = [], []
    for s in settings:
        sp = {n: d.speedup(n, s, 0.4, "supervised") for n in networks}
        if sp.get("deq") is None or all(sp[n] is None for n in networks if n != "deq"):
            continue
        others = {n: v for n, v in sp.items() if n != "deq" and v is not None}
        ok.append(all(sp["deq"] > v for v in others.values()))
        ev.append(f"{_setting('deq', s)}, r = 0.4: DEQ ×{sp['deq']:.2f} against " +
                  ", ".join(f"{NAMES[n]} ×{v:.2f}" for n, v in others.items()))
    out.append(_claim("The DEQ gains more speed from pruning than the unrolled networks",
                      "speed-up at r = 0.4 (supervised) of the DEQ > that of VarNet and "
                      "E2E-VarNet", ok, ev, d, need((0.4,), ("supervised",))))
    ok, ev = _threshold(d, pairs, several, RATIOS[1:], "school", 3.0)
    out.append(_claim("School fine-tuning is competitive: less than 3 % PSNR degradation",
                      "PSNR degradation < 3 % at every network and ratio, school", ok, ev, d,
                      need(RATIOS[1:], ("school",))))
    return out


def sr_claims(preset: Preset | str | None = None, store: ResultStore | None = None,
              scales=(2, 3, 4)) -> list[Claim]:
    """The paper's claims on super-resolution (USRNet, school), on every scale the store
    holds.

    Taught in Chapter 7 (``book/07_super_resolution.ipynb``).
    """
    d = _Data(preset, store)
    pairs = _pairs(d, ("usrnet",), scales)
    need = [Cell("usrnet", s, r, "school") for s in scales for r in RATIOS[1:]]
    out = []
    ok, ev = _recovers(d, pairs, True, regime="school")
    out.append(_claim("Fine-tuning recovers most of the PSNR that pruning loses",
                      "school fine-tuning wins back more than half of the PSNR lost by the "
                      "pruned, not fine-tuned USRNet, at every ratio", ok, ev, d,
                      [Cell("usrnet", s, r, "none") for s in scales for r in RATIOS[1:]]))
    for metric, name in (("psnr", "PSNR"), ("ssim", "SSIM")):
        ok, ev = _threshold(d, pairs, True, RATIOS[1:], "school", 1.0, metric)
        out.append(_claim(f"School fine-tuning keeps USRNet within 1 % of its {name}",
                          f"{name} degradation < 1 % at every scale and ratio (the paper: "
                          "< 1 % at ×2 and ×3, < 1.1 % at ×4)", ok, ev, d, need))
    ok, ev = [], []
    for _, s in pairs:
        sp = d.speedup("usrnet", s, 0.4, "school")
        if sp is not None:
            ok.append(sp >= 1.5)
            ev.append(f"×{s}, r = 0.4: ×{sp:.2f}" + ("" if ok[-1] else " ✗"))
    out.append(_claim("65 % fewer parameters make USRNet about ×1.81 faster",
                      "speed-up ≥ ×1.5 at r = 0.4", ok, ev, d,
                      [Cell("usrnet", s, 0.4, "school") for s in scales]))
    return out


def claims_table(claims: list[Claim]) -> str:
    """The claims as an HTML table (claim, test, verdict, the numbers), one line each.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    colour = {HOLDS: "#1a7f37", FAILS: "#b42318", UNDECIDED: "#6e7781"}
    rows = "".join(
        f"<tr><td>{html.escape(c.claim)}</td><td>{html.escape(c.test)}</td>"
        f'<td style="color: {colour[c.verdict]}; font-weight: bold; white-space: nowrap">'
        f"{c.verdict}</td><td>{html.escape(c.evidence)}</td></tr>" for c in claims)
    return ('<table class="spade-claims"><thead><tr><th>the paper claims</th><th>decided by'
            "</th><th>on our data</th><th>the numbers</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
