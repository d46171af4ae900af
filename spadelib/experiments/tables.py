"""The paper's tables from the results store, ours beside the paper's.

:func:`table_frame` gives a table as a :class:`pandas.DataFrame` (for the chapters, which
render it as HTML); :func:`paper_table` formats it as Markdown, CSV or LaTeX (for ``spade
table N``). A cell the store does not hold yet shows as empty, so a table can be printed while
its grid is still running.
"""
from __future__ import annotations

from ..presets import Preset, get_preset
from .paper import TABLE3, paper_value
from .store import ResultStore

__all__ = ["TABLES", "table_frame", "paper_table"]

#: table number -> (networks, setting, regimes, caption)
TABLES = {
    1: (("deq", "varnet", "e2e-varnet"), 0.167, ("supervised", "school", "self-supervised"),
        "CS-MRI at 16.7 %: PSNR / SSIM per fine-tuning regime, time, speed-up, #params"),
    2: (("deq", "varnet", "e2e-varnet"), 0.125, ("supervised", "school", "self-supervised"),
        "CS-MRI at 12.5 %"),
    5: (("deq", "varnet", "e2e-varnet"), 0.10, ("supervised", "school", "self-supervised"),
        "CS-MRI at 10 %"),
    3: (("e2e-varnet", "varnet", "deq"), 0.167, ("supervised", "self-supervised"),
        "SPADE against the same architecture trained from scratch with the same loss"),
    4: (("usrnet",), (2, 3), ("school",), "USRNet, school fine-tuning, x2 and x3"),
    6: (("usrnet",), (4,), ("school",), "USRNet, school fine-tuning, x4"),
}
RATIOS = (0.0, 0.05, 0.1, 0.2, 0.4)


def _fmt(v, digits=2) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if digits == 0:
        return f"{int(v):,}"
    return f"{v:.{digits}f}"


def table_frame(number: int, preset: Preset | str | None = None, store: ResultStore | None = None):
    """Table ``number`` (1-6) of the paper as a DataFrame: one row per (network or scale,
    ratio); for each regime our PSNR and SSIM with the paper's beside them; then time, speed-up
    against the unpruned network, and #params (ours, paper's)."""
    import pandas as pd

    if number not in TABLES:
        raise ValueError(f"unknown table {number!r}; choose one of {sorted(TABLES)}")
    P = get_preset(preset)
    store = store if store is not None else ResultStore.for_preset(P)
    rows = {r["key"]: r for r in store.rows() if r.get("status") == "ok"}
    networks, settings, regimes, _ = TABLES[number]
    settings = settings if isinstance(settings, tuple) else (settings,)
    from .grid import Cell

    out = []
    for net in networks:
        for s in settings:
            base = rows.get(Cell(net, s, 0.0, "none").key)
            for ratio in RATIOS:
                line = {"network": net, "setting": s, "ratio": ratio}
                for g in regimes:
                    if number == 3:
                        for kind, regime in (("SPADE", g), ("scratch", f"scratch-{g}")):
                            r = base if ratio == 0 else rows.get(Cell(net, s, ratio, regime).key)
                            line[f"PSNR {g} {kind}"] = r["psnr"] if r else None
                            line[f"SSIM {g} {kind}"] = r["ssim"] if r else None
                        spade, rnd = line[f"PSNR {g} SPADE"], line[f"PSNR {g} scratch"]
                        line[f"PSNR {g} delta"] = None if ratio == 0 or spade is None or \
                            rnd is None else spade - rnd
                        ref = TABLE3.get((net, ratio), {}).get(g)
                        line[f"PSNR {g} delta (paper)"] = None if ref is None else ref[0] - ref[1]
                        continue
                    regime = "none" if ratio == 0 else g
                    r = base if ratio == 0 else rows.get(Cell(net, s, ratio, regime).key)
                    line[f"PSNR {g}"] = r["psnr"] if r else None
                    line[f"PSNR {g} (paper)"] = paper_value(net, s, ratio, regime, "psnr")
                    line[f"SSIM {g}"] = r["ssim"] if r else None
                    line[f"SSIM {g} (paper)"] = paper_value(net, s, ratio, regime, "ssim")
                    if ratio == 0:
                        break
                any_row = base if ratio == 0 else next(
                    (rows.get(Cell(net, s, ratio, g if number != 3 else g).key) for g in regimes
                     if rows.get(Cell(net, s, ratio, g).key)), None)
                line["time ms"] = any_row["time_ms"] if any_row else None
                line["speed-up"] = (base["time_ms"] / any_row["time_ms"]
                                    if base and any_row else None)
                line["speed-up (paper)"] = (paper_value(net, s, 0.0, "none", "time_ms") /
                                            paper_value(net, s, ratio, "none", "time_ms")
                                            if paper_value(net, s, ratio, "none", "time_ms")
                                            else None)
                line["#params"] = any_row["params"] if any_row else None
                line["#params (paper)"] = paper_value(net, s, ratio, "none", "params")
                out.append(line)
    df = pd.DataFrame(out)
    first = ["network", "setting", "ratio"]
    last = ["time ms", "speed-up", "speed-up (paper)", "#params", "#params (paper)"]
    middle = sorted((c for c in df.columns if c not in first + last),
                    key=lambda c: (not c.startswith("PSNR"), list(df.columns).index(c)))
    return df[first + middle + last]


def paper_table(number: int, preset: Preset | str | None = None, fmt: str = "md",
                store: ResultStore | None = None) -> str:
    """Table ``number`` as text: ``fmt`` is ``"md"``, ``"csv"`` or ``"latex"``."""
    from ..checks import choice

    choice(fmt, ("md", "csv", "latex"), "format")
    df = table_frame(number, preset, store)
    caption = (f"Table {number}: {TABLES[number][3]} ({get_preset(preset).name} preset; "
               "each cell: ours / the paper's, '-' where there is no number)")
    if fmt == "csv":
        return df.to_csv(index=False)
    shown = df[["network", "setting", "ratio"]].copy()
    for col in df.columns:
        if col in shown.columns or col.endswith("(paper)"):
            continue
        digits = 3 if col.startswith("SSIM") else 0 if col.startswith("#") else \
            1 if col == "time ms" else 2
        paper = f"{col} (paper)"
        if paper in df.columns:          # "ours / paper's" in one cell
            shown[col] = [f"{_fmt(a, digits)} / {_fmt(b, digits)}"
                          for a, b in zip(df[col], df[paper])]
        else:
            shown[col] = [_fmt(v, digits) for v in df[col]]
    if fmt == "latex":
        return shown.to_latex(index=False, caption=caption)
    return caption + "\n\n" + shown.to_markdown(index=False)
