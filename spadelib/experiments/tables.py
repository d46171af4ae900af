"""The paper's tables from the results store, ours above the paper's.

One layout, :func:`layout_frame`: a table as the paper lays it out (its rows, its column
headers, its pruning ratios, SSIM in %), our row above the paper's for every ratio, each
missing number saying why it is missing (:class:`Results`). The chapters (Chapters 6 and 7)
display it as an HTML table (:func:`paper_layout`); ``spade table N`` prints it as text,
Markdown, CSV or LaTeX (:mod:`~spadelib.experiments.printed`). :func:`degradation_frame` gives
the data of Figures 3 and 4.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..presets import Preset, get_preset
from .grid import Cell, runs_at
from .paper import TABLE3, TABLE3_DELTA, TABLE3_SSIM, TABLE3_UNPRUNED, TIME_DECIMALS, \
    paper_value
from .intervals import Interval, mean_difference, paired_interval
from .store import ResultStore, store_path

__all__ = ["TABLES", "TABLES_FROM", "table_source",
           "Results", "layout_frame", "paper_layout", "degradation_frame", "caption",
           "PAPER_ONLY", "NOT_RUN", "FAILED"]

#: table number -> (networks or scales in the paper's order, setting, regimes, what it shows)
TABLES = {
    1: (("deq", "varnet", "e2e-varnet"), 0.167, ("supervised", "school", "self-supervised"),
        "CS-MRI at 16.7 % (16.6 % in the paper's caption): PSNR and SSIM per fine-tuning "
        "regime, time, speed-up, # params"),
    2: (("deq", "varnet", "e2e-varnet"), 0.125, ("supervised", "school", "self-supervised"),
        "CS-MRI at 12.5 %: PSNR and SSIM per fine-tuning regime, time, speed-up, # params"),
    5: (("deq", "varnet", "e2e-varnet"), 0.10, ("supervised", "school", "self-supervised"),
        "CS-MRI at 10 % (the paper's appendix): PSNR and SSIM per fine-tuning regime, time, "
        "speed-up, # params"),
    3: (("e2e-varnet", "varnet", "deq"), 0.167, ("supervised", "self-supervised"),
        "SPADE against the same architecture trained from scratch with the same loss "
        "(Random), CS-MRI at 16.7 %: (a) self-supervised, (b) supervised fine-tuning; "
        "Δ = SPADE − Random (the paper has no DEQ rows)"),
    4: (("usrnet",), (2, 3), ("school",), "USRNet, school fine-tuning, ×2 and ×3: PSNR and "
        "SSIM with their Degrad. % (the pruned network's value in % of the unpruned one's), "
        "time, speed-up, # params"),
    6: (("usrnet",), (4,), ("school",), "USRNet, school fine-tuning, ×4 (the paper's "
        "appendix): PSNR and SSIM with their Degrad. % (the pruned network's value in % of "
        "the unpruned one's), time, speed-up, # params"),
}
RATIOS = (0.0, 0.05, 0.1, 0.2, 0.4)
#: preset -> the preset whose (shipped) store the chapters render the paper's tables from
TABLES_FROM = {"quick": "medium"}


def table_source(preset: Preset | str | None = None) -> tuple[Preset, ResultStore]:
    """``(preset, store)`` the chapters and ``spade table`` render the paper's tables from.

    A ``quick`` book runs only :data:`~spadelib.experiments.QUICK_SUBSET` while it is built;
    its tables come from the ``medium`` store shipped with the repository (the quick networks,
    every cell, 48 test slices; made by ``spade run all --preset medium``) when that store
    exists for the inputs in use (the book's own), else from ``quick``'s own store. Any other
    preset renders its own store.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    P = get_preset(preset)
    other = TABLES_FROM.get(P.name)
    if other is not None and store_path(other).exists():
        P = get_preset(other)
    return P, ResultStore.for_preset(P)


# --------------------------------------------------------------------------------------------
# the paper's layout: ours in one row, the paper's below it
# --------------------------------------------------------------------------------------------
#: what a cell the store cannot fill shows, by reason
PAPER_ONLY = "paper preset only"
NOT_RUN = "not run yet"
FAILED = "failed"
NAMES = {"deq": "DEQ", "varnet": "VarNet", "e2e-varnet": "E2E-VarNet", "usrnet": "USRNet"}
#: channel ratio -> the parameter reduction the paper prints for it (Section 4)
NOMINAL = {0.0: 0, 0.05: 10, 0.1: 20, 0.2: 35, 0.4: 65}
REGIME_TITLES = {"supervised": "Supervised", "school": "School",
                 "self-supervised": "Self-supervised"}
OURS, PAPER_ROW = "ours", "paper"


class Results:
    """The rows of a store as seen from one preset: :meth:`value` of a cell, or why there is
    none (:data:`PAPER_ONLY`, :data:`NOT_RUN`, :data:`FAILED`).

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Args:
        preset: a preset or its name; default the current one.
        store: default the preset's store (:meth:`ResultStore.for_preset`).
    """

    def __init__(self, preset: Preset | str | None = None, store: ResultStore | None = None):
        self.preset = get_preset(preset)
        self.store = store if store is not None else ResultStore.for_preset(self.preset)
        self.rows = {r["key"]: r for r in self.store.rows()}
        self._seeds: dict[str, list[dict]] = {}      # a cell's key at seed 0 -> its ok rows
        for r in self.rows.values():
            if r.get("status") == "ok" and isinstance(r.get("cell"), dict):
                try:
                    base = Cell.from_dict(r["cell"], seed=0).key
                except (TypeError, ValueError):  # a row of another version's grid: no pooling
                    continue
                self._seeds.setdefault(base, []).append(r)

    def per_image(self, cell, metric: str = "psnr") -> tuple[list[float], int] | None:
        """``(values, seeds)``: ``cell``'s per-image ``metric`` averaged over every seed the
        store holds for it (the cells that differ from it in the seed alone, each evaluated on
        the same test images), and how many seeds that is; ``None`` where ``cell`` itself has
        no per-image values. A comparison of two cells pairs these means image by image, so
        the spread over seeds enters the per-image differences the bootstrap resamples."""
        rows = self._seed_rows(cell, metric)
        if not rows:
            return None
        values = np.mean([r[f"{metric}_per_sample"] for r in rows], axis=0)
        return [float(v) for v in values], len(rows)

    def _seed_rows(self, cell, metric: str) -> list[dict]:
        """The rows of every seed the store holds for ``cell`` with per-image ``metric`` values
        on the same test images as ``cell``'s own row (that row alone if no other matches);
        none where ``cell`` has no per-image values."""
        own = self.row(cell)
        if own is None or not own.get(f"{metric}_per_sample"):
            return []
        rows = [r for r in self._seeds.get(dataclasses.replace(cell, seed=0).key, [])
                if len(r.get(f"{metric}_per_sample") or []) == len(own[f"{metric}_per_sample"])]
        return rows or [own]

    def row(self, cell) -> dict | None:
        """The stored row of ``cell`` if it ran to the end, else ``None``."""
        r = self.rows.get(cell.key)
        return r if r is not None and r.get("status") == "ok" else None

    def why_missing(self, cell) -> str:
        """Why ``cell`` has no value: failed, not run yet, or outside this preset's grid."""
        r = self.rows.get(cell.key)
        if r is not None and r.get("status") == "failed":
            return FAILED
        return NOT_RUN if runs_at(cell, self.preset) else PAPER_ONLY

    def interval(self, a, b, metric: str = "psnr", statistic=mean_difference,
                 scale: float = 1.0) -> Interval | None:
        """A paired 95 % bootstrap interval over the test images of ``statistic`` between
        cells ``a`` and ``b`` (default: mean of ``a`` minus mean of ``b``), their per-image
        ``metric`` (averaged over the seeds the store holds, :meth:`per_image`) times
        ``scale``; ``None`` where either lacks per-image values."""
        pa, pb = self.per_image(a, metric), self.per_image(b, metric)
        if pa is None or pb is None or len(pa[0]) != len(pb[0]):
            return None
        return paired_interval([v * scale for v in pa[0]], [v * scale for v in pb[0]],
                               statistic=statistic)

    def value(self, cell, metric: str):
        """``metric`` of ``cell`` (``"psnr"``, ``"ssim"``, ``"time_ms"``, ``"params"``,
        ``"iterations"``, ...) or ``None``. A metric with per-image values (PSNR, SSIM) is
        their mean over the images and over every seed the store holds for the cell
        (:meth:`per_image`), so a table shows the very numbers its intervals compare; the
        others are the row's own."""
        r = self.row(cell)
        if r is None:
            return None
        pooled = self.per_image(cell, metric) if r.get(f"{metric}_per_sample") else None
        return r.get(metric) if pooled is None else float(np.mean(pooled[0]))

    def seed_spread(self, cell, metric: str = "psnr") -> float | None:
        """How far ``cell``'s mean ``metric`` moves between the seeds the store holds for it
        (largest minus smallest seed's mean over the test images); ``None`` below two seeds."""
        means = [float(np.mean(r[f"{metric}_per_sample"])) for r in self._seed_rows(cell, metric)]
        return max(means) - min(means) if len(means) > 1 else None

    def seeds(self, cell) -> int:
        """How many seeds the store holds for ``cell`` (0 where it has no row)."""
        pooled = self.per_image(cell)
        return 0 if pooled is None else pooled[1]


def _ratio_label(ratio: float) -> str:
    """The pruning ratio as the paper prints it: the share of parameters removed ("35 %")."""
    return f"{NOMINAL.get(ratio, round(100 * (1 - (1 - ratio) ** 2)))} %"


def _num(v, fmt: str) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return fmt.format(v)


def _timing_cell(net: str, setting, ratio: float, regimes):
    """The cell whose time stands for a pruned architecture: its first regime (the paper
    prints one time per ratio; a DEQ's depends on its weights through its iterations)."""
    return Cell(net, setting, ratio, "none" if ratio == 0 else regimes[0])


def _time_columns(res: Results, net, setting, ratio, regimes, paper: bool) -> dict:
    if paper:                    # as printed (the paper's speed-ups are not recomputed)
        t = paper_value(net, setting, ratio, "none", "time_ms")
        return {("Time (ms)", ""): _num(t, f"{{:.{TIME_DECIMALS[net]}f}}"),
                ("Speed Up", ""): _num(paper_value(net, setting, ratio, "none", "speedup"),
                                       "×{:.2f}"),
                ("# Params", ""): _num(paper_value(net, setting, ratio, "none", "params"),
                                       "{:,}")}
    cell = _timing_cell(net, setting, ratio, regimes)
    base = res.row(_timing_cell(net, setting, 0.0, regimes))
    row = res.row(cell)
    if row is None:
        why = res.why_missing(cell)
        return {("Time (ms)", ""): why, ("Speed Up", ""): why, ("# Params", ""): why}
    return {("Time (ms)", ""): _num(row.get("time_ms"), "{:.1f}"),
            ("Speed Up", ""): _num(base["time_ms"] / row["time_ms"] if base else None, "×{:.2f}"),
            ("# Params", ""): _num(row.get("params"), "{:,}")}


def _mri_layout(number: int, res: Results):
    networks, setting, regimes, _ = TABLES[number]
    lines, index = [], []
    for net in networks:
        for ratio in RATIOS:
            for source in (OURS, PAPER_ROW):
                line = {}
                for metric, title, fmt, scale in (("psnr", "PSNR (dB)", "{:.2f}", 1),
                                                  ("ssim", "SSIM (%)", "{:.1f}", 100)):
                    for k, g in enumerate(regimes):
                        col = (title, REGIME_TITLES[g])
                        if ratio == 0 and k > 0:
                            line[col] = ""
                            continue
                        cell = Cell(net, setting, ratio, "none" if ratio == 0 else g)
                        if source == PAPER_ROW:
                            v = paper_value(net, setting, ratio, cell.regime, metric)
                            line[col] = _num(None if v is None else v * scale, fmt)
                        else:
                            v = res.value(cell, metric)
                            line[col] = (res.why_missing(cell) if res.row(cell) is None else
                                         _num(None if v is None else v * scale, fmt))
                line.update(_time_columns(res, net, setting, ratio, regimes, source == PAPER_ROW))
                if "deq" in networks:
                    it = res.value(_timing_cell(net, setting, ratio, regimes), "iterations")
                    line[("DEQ iterations", "")] = "" if net != "deq" else (
                        "–" if source == PAPER_ROW or it is None else f"{it:.1f}")
                lines.append(line)
                index.append((NAMES[net], _ratio_label(ratio), source))
    return lines, index, ("Network", "Pruning Ratio", "")


def _kept_share(a, b):
    """``100 mean(b) / mean(a)``: Tables 4 and 6's Degrad. %, the pruned network's value in %
    of the unpruned one's (a statistic for :func:`paired_interval`)."""
    return 100 * b.mean(-1) / a.mean(-1)


def _sr_layout(number: int, res: Results):
    (net,), scales, (regime,), _ = TABLES[number]
    lines, index = [], []
    for s in scales:
        for ratio in RATIOS:
            cell = Cell(net, s, ratio, "none" if ratio == 0 else regime)
            base = Cell(net, s, 0.0, "none")
            for source in (OURS, PAPER_ROW):
                line = {}
                for metric, title, fmt, scale in (("psnr", "PSNR (dB)", "{:.2f}", 1),
                                                  ("ssim", "SSIM (%)", "{:.1f}", 100)):
                    if source == PAPER_ROW:      # Degrad. % as printed, not recomputed
                        v = paper_value(net, s, ratio, cell.regime, metric)
                        kept = paper_value(net, s, ratio, cell.regime, f"degrad_{metric}")
                    else:
                        v, v0 = res.value(cell, metric), res.value(base, metric)
                        kept = 100 * v / v0 if v and v0 else None
                        if ratio and kept is not None:
                            kept = res.interval(base, cell, metric, _kept_share) or kept
                    if source == OURS and v is None:
                        line[(title, "School")] = line[(title, "Degrad. %")] = \
                            res.why_missing(cell)
                        continue
                    line[(title, "School")] = _num(None if v is None else v * scale, fmt)
                    line[(title, "Degrad. %")] = (kept.show(" %", 1)
                                                  if isinstance(kept, Interval)
                                                  else _num(kept, "{:.1f} %"))
                line.update(_time_columns(res, net, s, ratio, (regime,), source == PAPER_ROW))
                lines.append(line)
                index.append((f"×{s}", _ratio_label(ratio), source))
    return lines, index, ("Scale", "Pruning Ratio", "")


def _table3_layout(res: Results):
    networks, setting, regimes, _ = TABLES[3]
    lines, index = [], []
    for net in networks:
        for ratio in RATIOS:
            for source in (OURS, PAPER_ROW):
                line = {}
                for tag, g in zip("ab", ("self-supervised", "supervised")):
                    for k, (metric, title, fmt, scale, ref) in enumerate((
                            ("psnr", "PSNR (dB)", "{:.2f}", 1, TABLE3),
                            ("ssim", "SSIM (%)", "{:.1f}", 100, TABLE3_SSIM))):
                        top = f"({tag}) {REGIME_TITLES[g]}: {title}"
                        if source == PAPER_ROW:  # Table 3's own numbers, its Δ as printed
                            pair = ref.get((net, ratio), {}).get(g)
                            if ratio == 0:
                                v0 = TABLE3_UNPRUNED.get(net, {}).get(metric)
                                pair = None if v0 is None else (v0, None)
                            spade, rnd = pair if pair else (None, None)
                            printed = TABLE3_DELTA.get((net, ratio), {}).get(g)
                            delta = None if printed is None else printed[k] / scale
                        else:
                            c1 = Cell(net, setting, ratio, "none" if ratio == 0 else g)
                            spade = res.value(c1, metric)
                            rnd = None if ratio == 0 else res.value(
                                Cell(net, setting, ratio, f"scratch-{g}"), metric)
                            delta = None if spade is None or rnd is None else spade - rnd
                            if delta is not None:
                                delta = res.interval(c1, Cell(net, setting, ratio,
                                                              f"scratch-{g}"), metric,
                                                     scale=scale) or delta
                        vals = {"SPADE": spade, "Random": rnd, "Δ": delta}
                        for sub, v in vals.items():
                            if ratio == 0 and sub != "SPADE":
                                line[(top, sub)] = ""
                            elif source == OURS and v is None and sub != "Δ":
                                regime = g if sub == "SPADE" else f"scratch-{g}"
                                c = Cell(net, setting, ratio, "none" if ratio == 0 else regime)
                                line[(top, sub)] = res.why_missing(c)
                            elif isinstance(v, Interval):   # ours: Δ with its interval
                                line[(top, sub)] = v.show("", 2 if metric == "psnr" else 1)
                            else:
                                line[(top, sub)] = _num(None if v is None else v * scale, fmt)
                lines.append(line)
                index.append((NAMES[net], _ratio_label(ratio), source))
    return lines, index, ("Network", "Pruning Ratio", "")


def layout_frame(number: int, preset: Preset | str | None = None,
                 store: ResultStore | None = None):
    """Table ``number`` (1-6) in the paper's layout, as a DataFrame of strings.

    Rows: (network or scale, pruning ratio, ``"ours"`` / ``"paper"``), so each of our numbers
    stands above the paper's; columns as the paper prints them (PSNR and SSIM per regime,
    time, speed-up, #params; Table 3: SPADE, *Random* and their difference; Tables 4 and 6:
    the degradation in %, the pruned network's PSNR as a percentage of the unpruned one's). A
    number the store does not hold says why: :data:`PAPER_ONLY`, :data:`NOT_RUN` or
    :data:`FAILED`; a number the paper does not print is "–".

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    import pandas as pd  # heavy dependency, imported by the functions that make a table

    if number not in TABLES:
        raise ValueError(f"unknown table {number!r}; choose one of {sorted(TABLES)}")
    res = Results(preset, store)
    if number == 3:
        lines, index, names = _table3_layout(res)
    elif number in (4, 6):
        lines, index, names = _sr_layout(number, res)
    else:
        lines, index, names = _mri_layout(number, res)
    df = pd.DataFrame(lines, index=pd.MultiIndex.from_tuples(index, names=names))
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def caption(number: int, preset: Preset | str | None = None) -> str:
    """The caption of table ``number``, in the chapters and under ``spade table``: what it
    shows and how to read it.

    Taught in Chapters 6 (``book/06_cs_mri.ipynb``) and 7 (``book/07_super_resolution.ipynb``).
    """
    P = get_preset(preset)
    text = (f"Table {number}: {TABLES[number][3]} ({P.name} preset). Each ratio has our row "
            "and the paper's below it. Pruning Ratio as the paper prints it: the share of "
            "parameters that the channel ratios r = 0.05, 0.1, 0.2 and 0.4 remove (Section 4). "
            "SSIM in %. The paper's numbers are quoted as printed, "
            + {3: "its Δ", 4: "its speed-ups and Degrad. %", 6: "its speed-ups and Degrad. %"
               }.get(number, "its speed-ups") + " included.")
    if P.trains_as is not None:
        split = ("" if number in (4, 6) else
                 f" on {P.mri_split_sizes['test']} MRI test slices")
        text += (f" The {P.name} preset evaluates the {P.trains_as} preset's networks{split} "
                 f"and runs every cell; its store ships with the repository (the command "
                 f"spade run all --preset {P.name} makes it).")
    text += (" A cell the store holds at several seeds shows PSNR and SSIM averaged over them, "
             "image by image, as its intervals compare them.")
    if number != 3:
        text += (" Time: median milliseconds per reconstruction on our device (the paper: an "
                 "A6000 GPU), of the network fine-tuned in the first regime; speed-up against "
                 "the unpruned network on the same device.")
    if number in (1, 2, 5):
        text += " A DEQ's time depends on how many iterations its solver runs (shown apart)."
    return text


def paper_layout(number: int, preset: Preset | str | None = None,
                 store: ResultStore | None = None):
    """Table ``number`` in the paper's layout as a pandas ``Styler``: displayed in a notebook
    (and in the built book) it is an HTML ``<table>`` with a caption; cells the store cannot
    fill are greyed.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    df = layout_frame(number, preset, store)
    missing = {PAPER_ONLY, NOT_RUN, FAILED}

    def grey(v):
        return "color: #888; font-style: italic" if v in missing else ""

    def paper_rows(row):
        return ["color: #555" if row.name[-1] == PAPER_ROW else "" for _ in row]

    styler = df.style.map(grey).apply(paper_rows, axis=1)
    return (styler.set_caption(caption(number, preset))
            .set_table_attributes('class="spade-results"')
            .set_table_styles([{"selector": "caption", "props": "caption-side: top; "
                                "text-align: left; font-weight: normal"},
                               {"selector": "td", "props": "text-align: right"}]))


def degradation_frame(setting, preset: Preset | str | None = None,
                      store: ResultStore | None = None,
                      networks=("deq", "varnet", "e2e-varnet"),
                      regimes=("supervised", "school", "self-supervised")):
    """Figures 3 and 4 as data: the PSNR degradation of every pruned network, in % of the
    unpruned network's PSNR, ``100 (PSNR_0 - PSNR) / PSNR_0``, ours and the paper's. The
    paper's figures are plots without printed numbers: its degradation here is computed from
    the PSNRs its Tables 1, 2 and 5 print (the one paper value this module computes).

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Returns:
        A DataFrame with one row per (network, regime, ratio > 0): ``network``, ``regime``,
        ``ratio``, ``reduction`` (the paper's nominal parameter reduction, %),
        ``params_reduction`` (the reduction our pruned network has, %, from the store's
        parameter counts; NaN where a count is missing), ``psnr``, ``psnr_unpruned``,
        ``degradation``, ``paper_degradation`` and ``missing`` (why ours is empty, else "").
    """
    import pandas as pd  # heavy dependency, imported by the functions that make a table

    res = Results(preset, store)
    out = []
    for net in networks:
        base = Cell(net, setting, 0.0, "none")
        p0, q0 = res.value(base, "psnr"), paper_value(net, setting, 0.0, "none")
        n0 = res.value(base, "params")
        for g in regimes:
            for ratio in RATIOS[1:]:
                cell = Cell(net, setting, ratio, g)
                p, q = res.value(cell, "psnr"), paper_value(net, setting, ratio, g)
                n = res.value(cell, "params")
                out.append({"network": net, "regime": g, "ratio": ratio,
                            "reduction": NOMINAL[ratio],
                            "params_reduction": 100 * (1 - n / n0) if n and n0 else float("nan"),
                            "psnr": p, "psnr_unpruned": p0,
                            "degradation": 100 * (p0 - p) / p0 if p is not None and p0 else None,
                            "paper_degradation": 100 * (q0 - q) / q0 if q and q0 else None,
                            "missing": "" if p is not None and p0 is not None else
                            res.why_missing(cell if p is None else base)})
    return pd.DataFrame(out)
