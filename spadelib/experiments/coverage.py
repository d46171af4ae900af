"""How much of the paper's tables a results store fills: the paper's 148 table cells as grid
cells (:func:`paper_cells`), how many the store fills (:func:`coverage`), which it lacks
(:func:`missing_cells`) and how many seeds its trained cells pool (:func:`seeds_text`), each
with the sentence the chapters print.

Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..presets import Preset
from ..tasks import task_of
from .grid import SEEDED_TABLES, Cell
from .paper import TABLE3, paper_value
from .store import ResultStore
from .tables import NAMES, RATIOS, TABLES, Results

__all__ = ["paper_cells", "coverage", "coverage_text", "missing_cells", "missing_text",
           "seeds_text"]


def paper_cells() -> dict[int, list[Cell]]:
    """Every experiment the paper's tables print a PSNR for, as grid cells, by table: Tables
    1, 2 and 5 (3 networks x (the unpruned network + 4 ratios x 3 regimes) each), Table 3's
    *Random* baselines (its SPADE values are Table 1's cells) and Tables 4 and 6 (USRNet,
    school): 148 in all.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    out: dict[int, list[Cell]] = {}
    for number, (names, setting, regimes, _) in TABLES.items():
        if number == 3:
            out[3] = [Cell(net, setting, r, f"scratch-{g}") for (net, r), parts in TABLE3.items()
                      for g in parts]
            continue
        settings = setting if isinstance(setting, tuple) else (setting,)
        out[number] = [Cell(net, s, r, g if r else "none")
                       for net in names for s in settings for r in RATIOS
                       for g in (regimes if r else ("none",))
                       if paper_value(net, s, r, g if r else "none") is not None]
    return out


def coverage(preset: Preset | str | None = None, store: ResultStore | None = None) -> dict:
    """How many of the paper's table cells (:func:`paper_cells`) the store fills, by table:
    ``{number: (filled, total)}``.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    missing = missing_cells(preset, store)
    return {n: (len(cs) - len(missing.get(n, ())), len(cs))
            for n, cs in sorted(paper_cells().items())}


def coverage_text(counts: dict, name: str) -> str:
    """One sentence on :func:`coverage`'s ``counts`` for the store of preset ``name``."""
    filled = sum(f for f, _ in counts.values())
    total = sum(t for _, t in counts.values())
    parts = ", ".join(f"Table {n} {f} of {t}" for n, (f, t) in sorted(counts.items()))
    share = f"{100 * filled / total:.0f} %" if total else "none"
    return (f"The {name} store fills {filled:,} of the paper's {total:,} table cells ({share}): "
            f"{parts}.")


def missing_cells(preset: Preset | str | None = None,
                  store: ResultStore | None = None) -> dict[int, list[Cell]]:
    """The paper's table cells (:func:`paper_cells`) the store does not fill, by table (tables
    it fills whole are left out).

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    res = Results(preset, store)
    out = {n: [c for c in cs if res.row(c) is None] for n, cs in sorted(paper_cells().items())}
    return {n: cs for n, cs in out.items() if cs}


def missing_text(missing: dict[int, list[Cell]]) -> str:
    """One sentence naming :func:`missing_cells` grouped by table, network, setting and
    regime, with the ratios of each group; ``""`` where nothing is missing."""
    groups: dict[tuple, list[float]] = {}
    for n, cs in missing.items():
        for c in cs:
            groups.setdefault((n, c.network, c.setting, c.regime), []).append(c.ratio)
    parts = []
    for (n, net, setting, regime), ratios in groups.items():
        where = task_of(net).setting_text(setting)
        if ratios == [0.0]:
            parts.append(f"Table {n}: {NAMES[net]} at {where}, unpruned")
            continue
        what = (f"Random ({regime[len('scratch-'):]})" if regime.startswith("scratch-")
                else regime)
        parts.append(f"Table {n}: {NAMES[net]} at {where}, {what}, r = "
                     + ", ".join(f"{r:g}" for r in sorted(ratios)))
    return ("" if not parts else "Not in it yet: " + "; ".join(parts) + ".")


def seeds_text(preset: Preset | str | None = None, store: ResultStore | None = None,
               tables: tuple[int, ...] | None = None) -> str:
    """One sentence: how many seeds the store holds for the trained cells of each of the
    paper's tables it fills (fine-tuned and scratch cells; an unpruned or pruned, not
    fine-tuned network has no seed of its own), which every comparison averages image by
    image (:meth:`Results.per_image`). ``tables``: only these tables (default: all).

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    res = Results(preset, store)
    parts, apart, single = [], [], []
    for n, cs in sorted(paper_cells().items()):
        if tables is not None and n not in tables:
            continue
        counts = Counter(res.seeds(c) for c in cs if c.regime != "none" and res.row(c))
        if counts:
            spreads = [v for c in cs if c.regime != "none"
                       for v in [res.seed_spread(c)] if v is not None]
            parts.append(f"Table {n}: " + ", ".join(
                f"{k} cell{'s' if k > 1 else ''} at {m} seed{'s' if m > 1 else ''}"
                for m, k in sorted(counts.items(), reverse=True))
                + (f" (a cell's mean PSNR moves by up to {max(spreads):.2f} dB between its "
                   f"seeds, by {float(np.median(spreads)):.2f} dB at the median)" if spreads else ""))
            if f"table{n}" not in SEEDED_TABLES:
                apart.append(n)
                if counts.get(1):
                    single.append(n)
    if not parts:
        return "The store holds no trained cell of the paper's tables."
    text = ("Seeds the store holds for each trained cell, averaged image by image in every "
            "comparison: " + "; ".join(parts) + ".")
    if apart:   # Table 3's baselines: each is a whole pre-training of a pruned architecture
        text += (" Table " + " and ".join(map(str, apart)) + "'s cells here, its Random "
                 "baselines, are each a pre-training from scratch, which the grid \"table3-seeds\" "
                 "repeats apart from the grid \"seeds\"")
        text += ("; verdicts on those at one seed rest on that seed." if single else ".")
    return text
