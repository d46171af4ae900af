"""The networks of the results store against the classical baselines (Chapters 5, 6 and 7):
every stored MRI cell at a sampling rate beside TV and the l1-wavelet of the shipped report
(:mod:`spadelib.classical`, converged and tuned), and USRNet at every SR scale beside bicubic
interpolation; each difference with a paired interval over the test images.

Used in Chapters 5, 6 and 7 (``book/05_finetuning.ipynb``, ``book/06_cs_mri.ipynb``,
``book/07_super_resolution.ipynb``).
"""
from __future__ import annotations

import numpy as np

from ..classical import load_report
from ..metrics import psnr, ssim
from ..presets import Preset, get_preset
from ..tasks import task_of
from .grid import Cell
from .intervals import paired_interval, side_of_zero
from .store import ResultStore
from .tables import Results

__all__ = ["classical_rows", "classical_by_rate", "classical_markdown", "classical_summary",
           "bicubic_rows", "BASELINE_NAMES"]

BASELINE_NAMES = {"tv": "TV", "l1-wavelet": "ℓ1-wavelet"}


class _Rows:
    """Rows of a comparison with one reference (its per-image PSNR and its name): each row's
    paired difference with the reference (``delta``, ``delta_low``, ``delta_high``: estimate and
    95 % interval) and the verdict (``"above TV"``, ``"below TV"``, ``"no difference
    resolved"``)."""

    def __init__(self, reference: str, per_image):
        self.reference, self.ref, self.out = reference, np.asarray(per_image, float), []

    def add(self, kind, network, ratio, regime, per_image, ssim_mean, **extra):
        per_image = np.asarray(per_image, dtype=float)
        row = {"kind": kind, "network": network, "ratio": ratio, "regime": regime,
               "psnr": float(per_image.mean()), "ssim": float(ssim_mean), "n": len(per_image),
               **extra}
        if len(per_image) == len(self.ref) and network != self.reference:
            iv = paired_interval(per_image, self.ref)
            row.update(delta=iv.estimate, delta_low=iv.low, delta_high=iv.high,
                       verdict={1: f"above {self.reference}", -1: f"below {self.reference}",
                                0: "no difference resolved"}[side_of_zero(iv, 2)])  # 2 decimals
        self.out.append(row)

    def add_cell(self, res, cell, **extra):
        pooled = res.per_image(cell)
        self.add("network", cell.network, float(cell.ratio), cell.regime, pooled[0],
                 res.value(cell, "ssim"), **extra)


def _framed(rows: list[dict], reference: str, sort_by, order_of):
    import pandas as pd  # optional heavy dependency (pandas), for the chapters' tables

    frame = pd.DataFrame(rows)
    frame = frame.sort_values(sort_by, key=lambda c: c.map(order_of) if c.name in ("network",)
                              else c, na_position="first").reset_index(drop=True)
    frame.attrs["reference"] = reference
    return frame


def classical_rows(preset: Preset | str | None, store: ResultStore, rate: float,
                   networks=("deq", "varnet", "e2e-varnet"), data_version: int | None = None,
                   ratios=None):
    """A DataFrame: one row per stored MRI cell at ``rate`` (ok status, per-image PSNR; only
    the channel ratios ``ratios`` where given) and one per classical baseline, with the PSNR,
    SSIM, and the paired difference with TV (``delta``: estimate, ``delta_low`` / ``delta_high``:
    95 % interval) and its verdict (``"above TV"``, ``"below TV"``, ``"no difference
    resolved"``). A cell the store holds at several seeds enters as its per-image mean over
    them (:meth:`spadelib.experiments.tables.Results.per_image`).

    Raises:
        spadelib.classical.ReportError: no shipped report for the preset, or one of other
            settings.
    """
    P = get_preset(preset)
    res = Results(P, store)
    shipped = load_report(P, data_version=data_version)["rates"][f"{rate:g}"]
    rows = _Rows(BASELINE_NAMES["tv"], shipped["tv"]["test"]["psnr"])
    for reg, name in BASELINE_NAMES.items():
        rows.add("classical", name, None, f"τ = {shipped[reg]['tau']:g}, converged",
                 shipped[reg]["test"]["psnr"], np.mean(shipped[reg]["test"]["ssim"]))
    for r in res.rows.values():                     # the store's rows, read once
        c = r.get("cell") or {}
        if (r.get("status") == "ok" and c.get("network") in networks
                and abs(float(c.get("setting", -1)) - rate) < 1e-9 and r.get("psnr_per_sample")
                and c.get("criterion") == "l1" and c.get("seed") == 0 and not c.get("round_to")
                and (ratios is None or any(abs(float(c["ratio"]) - q) < 1e-9 for q in ratios))):
            rows.add_cell(res, Cell.from_dict(c))
    order = {n: i for i, n in enumerate([*BASELINE_NAMES.values(), *networks])}
    return _framed(rows.out, rows.reference, ["network", "ratio", "regime"], order)


def bicubic_rows(preset: Preset | str | None, store: ResultStore, scales=(2, 3, 4),
                 ratios=(0.0, 0.4), regime: str = "school"):
    """USRNet against bicubic interpolation at each SR scale the store holds its unpruned
    network for: per scale, a bicubic row (computed here on the scale's test images, the order
    the store's per-image values follow) and one row per ratio of ``ratios`` (the unpruned
    network, the others fine-tuned in ``regime``; a cell the store lacks is left out), with the
    paired difference with bicubic, as :func:`classical_rows` (and a ``scale`` column).
    """
    import pandas as pd  # optional heavy dependency (pandas), for the chapters' tables

    P = get_preset(preset)
    res, task, frames = Results(P, store), task_of("usrnet"), []
    for scale in scales:
        base = Cell("usrnet", scale, 0.0, "none")
        if res.row(base) is None:
            continue
        batch = task.test_data(base.preset(P)).batch()
        bic = task.baseline(batch)
        rows = _Rows("bicubic", np.atleast_1d(psnr(bic, batch.target)))
        rows.add("classical", "bicubic", None, "interpolation", rows.ref,
                 float(np.mean(ssim(bic, batch.target))), scale=scale)
        for r in ratios:
            cell = base if r == 0 else Cell("usrnet", scale, r, regime)
            if res.row(cell) is not None:
                rows.add_cell(res, cell, scale=scale)
        frames.append(_framed(rows.out, "bicubic", ["ratio"], {}))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame.attrs["reference"] = "bicubic"
    return frame


def classical_by_rate(preset: Preset | str | None, store: ResultStore, rates,
                      networks=("deq", "varnet", "e2e-varnet"), data_version: int | None = None,
                      ratios=(0.0,)):
    """:func:`classical_rows` at each of ``rates`` (default: the unpruned networks only), one
    DataFrame with a ``rate`` column, in the order of ``rates``."""
    import pandas as pd  # optional heavy dependency (pandas), for the chapters' tables

    frames = [classical_rows(preset, store, rate, networks, data_version, ratios).assign(rate=rate)
              for rate in rates]
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs["reference"] = BASELINE_NAMES["tv"]
    return frame


#: how a sentence names each reference
REFERENCE_WORDS = {"TV": "the converged TV", "bicubic": "bicubic interpolation"}


def classical_markdown(frame, titles: dict | None = None) -> str:
    """:func:`classical_rows`, :func:`classical_by_rate` (with its sampling-rate column) or
    :func:`bicubic_rows` (with its scale column) as a Markdown table (PSNR in dB, SSIM as a
    fraction, the difference with the reference and its paired 95 % interval)."""
    titles, ref = titles or {}, frame.attrs.get("reference", "TV")
    first = ("sampling" if "rate" in frame else "scale" if "scale" in frame else None)
    lines = [(f"| {first} " if first else "") + "| network | channel ratio r | regime "
             f"| PSNR (dB) | SSIM | PSNR − {ref} (95 % interval) | against {ref} |",
             ("|---:" if first else "") + "|---|---:|---|---:|---:|---:|---|"]
    for r in frame.itertuples():
        ratio = "" if r.ratio is None or r.ratio != r.ratio else f"{r.ratio:g}"
        diff = ("" if not hasattr(r, "delta") or r.delta != r.delta else
                f"{r.delta:+.2f} ({r.delta_low:+.2f} to {r.delta_high:+.2f})")
        verdict = "" if not hasattr(r, "verdict") or not isinstance(r.verdict, str) else r.verdict
        lead = ("" if first is None else f"| {100 * r.rate:.1f} % " if first == "sampling"
                else f"| ×{r.scale:g} ")
        lines.append(lead + f"| {titles.get(r.network, r.network)} | {ratio} | {r.regime} "
                     f"| {r.psnr:.2f} | {r.ssim:.3f} | {diff} | {verdict} |")
    return "\n".join(lines)


def classical_summary(frame, titles: dict | None = None, where: str = "this rate") -> str:
    """One sentence, computed from :func:`classical_rows` (or :func:`bicubic_rows`): how many
    network cells at ``where`` are above, below and not resolved from the reference, and where
    the unpruned networks stand."""
    titles, ref = titles or {}, frame.attrs.get("reference", "TV")
    words = REFERENCE_WORDS.get(ref, ref)
    nets = frame[frame["kind"] == "network"] if "kind" in frame else frame
    if nets.empty or "verdict" not in nets:
        return f"No network cell of the store was compared with {words}."
    counts = nets["verdict"].value_counts()
    above, below = int(counts.get(f"above {ref}", 0)), int(counts.get(f"below {ref}", 0))
    unresolved = len(nets) - above - below
    unpruned = nets[nets["ratio"] == 0.0]
    scale = (lambda r: f" ×{r.scale:g}") if "scale" in nets else (lambda r: "")
    standing = "; ".join(f"unpruned {titles.get(r.network, r.network)}{scale(r)} {r.verdict} "
                         f"({r.delta:+.2f} dB)" for r in unpruned.itertuples())
    return (f"Of the {len(nets)} network cells at {where}, {above} are above {words}, "
            f"{below} below it and {unresolved} not resolved from it (paired intervals over the "
            f"test images)" + (f"; {standing}" if standing else "") + ".")
