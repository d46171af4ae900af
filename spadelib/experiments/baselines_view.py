"""The networks of the results store against the converged classical baselines (Chapters 5
and 6): every stored MRI cell at a sampling rate beside TV and the l1-wavelet of the shipped
report (:mod:`spadelib.classical`), each difference with a paired interval over the test
images.

Used in Chapters 5 and 6 (``book/05_finetuning.ipynb``, ``book/06_cs_mri.ipynb``).
"""
from __future__ import annotations

import numpy as np

from ..classical import load_report
from ..presets import Preset, get_preset
from .intervals import paired_interval, side_of_zero
from .store import ResultStore

__all__ = ["classical_rows", "classical_by_rate", "classical_markdown", "classical_summary",
           "BASELINE_NAMES"]

BASELINE_NAMES = {"tv": "TV", "l1-wavelet": "ℓ1-wavelet"}


def classical_rows(preset: Preset | str | None, store: ResultStore, rate: float,
                   networks=("deq", "varnet", "e2e-varnet"), data_version: int | None = None,
                   ratios=None):
    """A DataFrame: one row per stored MRI cell at ``rate`` (ok status, per-image PSNR; only
    the channel ratios ``ratios`` where given) and one per classical baseline, with the PSNR,
    SSIM, and the paired difference with TV (estimate, 95 % interval) and its verdict
    (``"above TV"``, ``"below TV"``, ``"no difference resolved"``). A cell the store holds at
    several seeds enters as its per-image mean over them
    (:meth:`spadelib.experiments.tables.Results.per_image`).

    Raises:
        spadelib.classical.ReportError: no shipped report for the preset, or one of other
            settings.
    """
    import pandas as pd  # optional heavy dependency (pandas), for the chapters' tables

    from .grid import Cell
    from .tables import Results

    P = get_preset(preset)
    res = Results(P, store)
    shipped = load_report(P, data_version=data_version)["rates"][f"{rate:g}"]
    tv = np.array(shipped["tv"]["test"]["psnr"])
    out = []

    def add(kind, network, ratio, regime, per_image, ssim_mean):
        per_image = np.asarray(per_image, dtype=float)
        row = {"kind": kind, "network": network, "ratio": ratio, "regime": regime,
               "psnr": float(per_image.mean()), "ssim": float(ssim_mean), "n": len(per_image)}
        if len(per_image) == len(tv) and network != BASELINE_NAMES["tv"]:
            iv = paired_interval(per_image, tv)
            row.update(vs_tv=iv.estimate, vs_tv_low=iv.low, vs_tv_high=iv.high,
                       verdict={1: "above TV", -1: "below TV", 0: "no difference resolved"}[
                           side_of_zero(iv, 2)])          # the table prints 2 decimals
        out.append(row)

    for reg, name in BASELINE_NAMES.items():
        add("classical", name, None, f"τ = {shipped[reg]['tau']:g}, converged",
            shipped[reg]["test"]["psnr"], np.mean(shipped[reg]["test"]["ssim"]))
    for r in store.rows():
        c = r.get("cell") or {}
        if (r.get("status") == "ok" and c.get("network") in networks
                and abs(float(c.get("setting", -1)) - rate) < 1e-9 and r.get("psnr_per_sample")
                and c.get("criterion") == "l1" and c.get("seed") == 0 and not c.get("round_to")
                and (ratios is None or any(abs(float(c["ratio"]) - q) < 1e-9 for q in ratios))):
            cell = Cell.from_dict(c)
            add("network", c["network"], float(c["ratio"]), c["regime"],
                res.per_image(cell)[0], res.value(cell, "ssim"))
    frame = pd.DataFrame(out)
    order = {n: i for i, n in enumerate([*BASELINE_NAMES.values(), *networks])}
    return frame.sort_values(["network", "ratio", "regime"], key=lambda c: c.map(order)
                             if c.name == "network" else c, na_position="first"
                             ).reset_index(drop=True)


def classical_by_rate(preset: Preset | str | None, store: ResultStore, rates,
                      networks=("deq", "varnet", "e2e-varnet"), data_version: int | None = None,
                      ratios=(0.0,)):
    """:func:`classical_rows` at each of ``rates`` (default: the unpruned networks only), one
    DataFrame with a ``rate`` column, in the order of ``rates``."""
    import pandas as pd  # optional heavy dependency (pandas), for the chapters' tables

    frames = [classical_rows(preset, store, rate, networks, data_version, ratios).assign(rate=rate)
              for rate in rates]
    return pd.concat(frames, ignore_index=True)


def classical_markdown(frame, titles: dict | None = None) -> str:
    """:func:`classical_rows` (or :func:`classical_by_rate`, with its sampling-rate column) as
    a Markdown table (PSNR in dB, SSIM as a fraction, the difference with TV and its paired
    95 % interval)."""
    titles = titles or {}
    by_rate = "rate" in frame
    lines = [("| sampling " if by_rate else "") + "| network | channel ratio r | regime "
             "| PSNR (dB) | SSIM | PSNR − TV (95 % interval) | against TV |",
             ("|---:" if by_rate else "") + "|---|---:|---|---:|---:|---:|---|"]
    for r in frame.itertuples():
        ratio = "" if r.ratio is None or r.ratio != r.ratio else f"{r.ratio:g}"
        diff = ("" if not hasattr(r, "vs_tv") or r.vs_tv != r.vs_tv else
                f"{r.vs_tv:+.2f} ({r.vs_tv_low:+.2f} to {r.vs_tv_high:+.2f})")
        verdict = "" if not hasattr(r, "verdict") or not isinstance(r.verdict, str) else r.verdict
        lines.append((f"| {100 * r.rate:.1f} % " if by_rate else "")
                     + f"| {titles.get(r.network, r.network)} | {ratio} | {r.regime} "
                     f"| {r.psnr:.2f} | {r.ssim:.3f} | {diff} | {verdict} |")
    return "\n".join(lines)


def classical_summary(frame, titles: dict | None = None, where: str = "this rate") -> str:
    """One sentence, computed from :func:`classical_rows`: how many network cells are above,
    below and not resolved from the converged TV, and where the unpruned networks stand."""
    titles = titles or {}
    nets = frame[frame["kind"] == "network"]
    if nets.empty or "verdict" not in nets:
        return "No network cell of the store was compared with the converged TV."
    counts = nets["verdict"].value_counts()
    above, below = int(counts.get("above TV", 0)), int(counts.get("below TV", 0))
    unresolved = len(nets) - above - below
    unpruned = nets[nets["ratio"] == 0.0]
    where = "; ".join(f"unpruned {titles.get(r.network, r.network)} {r.verdict} "
                      f"({r.vs_tv:+.2f} dB)" for r in unpruned.itertuples())
    return (f"Of the {len(nets)} network cells at {where}, {above} are above the converged TV, "
            f"{below} below it and {unresolved} not resolved from it (paired intervals over the "
            f"test images)" + (f"; {where}" if where else "") + ".")
