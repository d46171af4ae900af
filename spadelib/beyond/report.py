"""Chapter 8's results as tables: the ``beyond-*`` grids read back from the results store.

* :func:`criteria_frame`: one row per (network, criterion) of ``beyond-criteria``: PSNR and
  SSIM after supervised fine-tuning as the mean and spread over the seeds the store holds,
  the parameters kept, and the difference to the paper's group-l1 with its own spread;
* :func:`selfsup_frame`: one row per network of ``beyond-selfsup``: the pruned network, eq.
  (9), measurement splitting and supervised fine-tuning, and the share of the
  self-supervised-to-supervised gap that splitting closes;
* :func:`widths_frame`: one row per cell of ``beyond-widths``: parameters, channels and PSNR
  after fine-tuning with the paper's widths and with widths rounded to hardware blocks.

A number the store lacks is ``NaN`` with the reason in a ``missing`` column (``paper preset
only``, ``not run yet``, ``failed``), never made up.

Taught in Chapter 8 (``book/08_beyond.ipynb``).
"""
from __future__ import annotations

import math
import statistics

import pandas as pd

from ..experiments.grid import BEYOND_CRITERIA, BEYOND_SEEDS, RATIOS, SELFSUP, Cell, cells
from ..experiments.store import ResultStore
from ..experiments.tables import NAMES, Results
from ..presets import Preset
from ..splitting import HELD_OUT_REGIME

__all__ = ["criteria_frame", "selfsup_frame", "widths_frame", "gap_closed"]

NAN = float("nan")


def _stats(values: list[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (NaN below two values) and count."""
    if not values:
        return NAN, NAN, 0
    sd = statistics.stdev(values) if len(values) > 1 else NAN
    return statistics.fmean(values), sd, len(values)


def criteria_frame(preset: Preset | str | None = None, store: ResultStore | None = None,
                   networks=("deq", "varnet"), criteria=BEYOND_CRITERIA, ratio=RATIOS[-1],
                   setting=0.167) -> pd.DataFrame:
    """``beyond-criteria`` as a table: a row per network and criterion.

    Columns: ``network``, ``criterion``, ``seeds`` (how many rows the mean is over),
    ``psnr`` / ``psnr_sd`` / ``ssim`` (mean and sample standard deviation over the seeds),
    ``params_kept`` (% of the unpruned network's), ``delta_l1`` (PSNR minus group-l1's mean,
    dB), ``beyond_spread`` (whether ``|delta_l1|`` exceeds twice the larger of the two
    spreads: a difference smaller than that is not read as a win; ``None`` with fewer than
    two seeds on either side), ``missing`` (why a criterion has no row).

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    res = Results(preset, store)
    out = []
    for net in networks:
        base = res.row(Cell(net, setting, 0.0, "none"))
        for crit in criteria:
            found = [(s, res.row(Cell(net, setting, ratio, "supervised", criterion=crit,
                                      seed=s))) for s in BEYOND_SEEDS]
            rows = [r for _, r in found if r is not None]
            psnr, sd, n = _stats([r["psnr"] for r in rows])
            ssim = _stats([r["ssim"] for r in rows])[0]
            kept = (100 * rows[0]["params"] / base["params"]) if rows and base else NAN
            missing = "" if rows else res.why_missing(
                Cell(net, setting, ratio, "supervised", criterion=crit, seed=BEYOND_SEEDS[0]))
            out.append({"network": NAMES[net], "key": net, "criterion": crit, "seeds": n,
                        "psnr": psnr, "psnr_sd": sd, "ssim": ssim, "params_kept": kept,
                        "missing": missing})
    frame = pd.DataFrame(out)
    for net in frame["key"].unique():
        at = frame["key"] == net
        l1 = frame[at & (frame["criterion"] == "l1")]
        l1_psnr = float(l1["psnr"].iloc[0]) if len(l1) else NAN
        l1_sd = float(l1["psnr_sd"].iloc[0]) if len(l1) else NAN
        frame.loc[at, "delta_l1"] = frame.loc[at, "psnr"] - l1_psnr

        def beyond(row, l1_sd=l1_sd):
            if math.isnan(row["delta_l1"]) or math.isnan(row["psnr_sd"]) or math.isnan(l1_sd):
                return None
            return bool(abs(row["delta_l1"]) > 2 * max(row["psnr_sd"], l1_sd))
        frame.loc[at, "beyond_spread"] = frame[at].apply(beyond, axis=1)
    return frame


def gap_closed(pruned_ss: float, better: float, supervised: float) -> float:
    """The share of the gap between eq. (9) (``pruned_ss``) and supervised fine-tuning that
    ``better`` closes: 1 reaches supervised, 0 is no better than eq. (9), below 0 is worse.
    NaN when supervised fine-tuning is not above eq. (9) (no gap to close).

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    gap = supervised - pruned_ss
    return (better - pruned_ss) / gap if gap > 0 else NAN


def selfsup_frame(preset: Preset | str | None = None, store: ResultStore | None = None,
                  networks=("deq", "varnet"), ratio=RATIOS[-1], setting=0.167) -> pd.DataFrame:
    """``beyond-selfsup`` as a table: a row per network, PSNR (dB) of the unpruned network,
    the pruned one, eq. (9) (``self-supervised``), measurement splitting
    (``self-supervised-split``) and supervised fine-tuning; ``gap_closed`` (:func:`gap_closed`,
    a fraction) and ``missing``; and splitting with SSDU's held-out scoring
    (``self-supervised-split-held-out``: NaN where the grid has no such cell).

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    res = Results(preset, store)
    out = []
    for net in networks:
        wanted = {"unpruned": Cell(net, setting, 0.0, "none"),
                  "pruned": Cell(net, setting, ratio, "none"),
                  **{g: Cell(net, setting, ratio, g) for g in SELFSUP}}
        row = {"network": NAMES[net], "key": net}
        missing = []
        for name, cell in wanted.items():
            v = res.value(cell, "psnr")
            row[name] = NAN if v is None else v
            if v is None:
                missing.append(f"{name}: {res.why_missing(cell)}")
        held = res.value(Cell(net, setting, ratio, HELD_OUT_REGIME), "psnr")
        row[HELD_OUT_REGIME] = NAN if held is None else held     # VarNet's comparison only
        row["gap_closed"] = gap_closed(row["self-supervised"], row["self-supervised-split"],
                                       row["supervised"])
        row["missing"] = "; ".join(missing)
        out.append(row)
    return pd.DataFrame(out)


def widths_frame(preset: Preset | str | None = None, store: ResultStore | None = None
                 ) -> pd.DataFrame:
    """``beyond-widths`` at a preset as a table: a row per pruned cell the preset runs
    (network, ratio, ``round_to``: 0 is the paper's widths), its regime, parameters, PSNR
    after fine-tuning, the PSNR change against the paper's widths at the same ratio, and the
    channel counts it pruned to (``before→after`` per group); ``missing`` says why a cell has
    no row.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    res = Results(preset, store)
    out = []
    for cell in cells("beyond-widths", res.preset):
        if cell.ratio == 0:
            continue
        row = res.row(cell)
        paper = res.value(Cell(cell.network, cell.setting, cell.ratio, cell.regime), "psnr")
        channels = "" if row is None else ", ".join(
            f"{a}→{b}" for a, b in row.get("channels", []) if a != b)
        out.append({"network": NAMES[cell.network], "key": cell.network, "ratio": cell.ratio,
                    "round_to": cell.round_to, "regime": cell.regime,
                    "params": NAN if row is None else row["params"],
                    "psnr": NAN if row is None else row["psnr"],
                    "delta_paper_widths": NAN if row is None or paper is None
                    else row["psnr"] - paper,
                    "channels": channels,
                    "missing": "" if row is not None else res.why_missing(cell)})
    return pd.DataFrame(out)
