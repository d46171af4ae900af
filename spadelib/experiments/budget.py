"""How much supervised fine-tuning a pruned network needs: the fine-tuning-budget report.

The book's grid fine-tunes every pruned network for the same small budget in every regime
(``quick``: ``finetune_epochs`` over the test measurements, 80 steps), which is what a notebook
on a CPU can afford; the paper's margins (35 % fewer parameters within 0.77 dB, 65 % within
1.13-1.62 dB of the unpruned network) come from far longer fine-tuning. :func:`budget_report`
measures the difference it makes: it prunes each pre-trained network at ``ratios`` and
fine-tunes it supervised on the training split for ``steps`` optimiser steps at ``lr``,
recording the validation PSNR after every epoch (the unpruned network's too) and, for the
epoch kept (best on validation), the test PSNR of every test image beside the unpruned
network's, so that a chapter can put a paired interval on the remaining gap.

Every fine-tuning run is cached and resumable (:func:`spadelib.finetune.finetune`). The report
ships with the repository (``shipped/finetune-budget-<preset>.json``, written by ``spade
finetune-budget --preset NAME``), its header recording the command, the networks' checkpoint
files, versions, machine, date and seconds: a chapter reads it instead of spending the CPU
time (:func:`load_budget_report` checks it was made for the preset's networks).

Taught in Chapter 5 (``book/05_finetuning.ipynb``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import checkpoints, checks, zoo
from ..budgets import matched_epochs, steps_per_epoch
from ..evaluation import evaluate
from ..finetune import finetune, pretraining_scratch
from ..presets import PRESETS, Preset, get_preset
from ..pruning import prune
from ..tasks import task_of
from ..training import default_device, validation_psnr
from .intervals import HOLDS, decide, interval_comparison, paired_interval, side_of_zero

__all__ = ["BUDGET_NETWORKS", "BUDGET_RATIOS", "WIDTH_NETWORKS", "PAPER_WIDTH", "DEFAULT_STEPS",
           "width_preset",
           "budget_report", "budget_path",
           "write_budget_report", "load_budget_report", "reusable_rows", "BudgetReportError",
           "MARGINS", "scratch_rows", "scratch_summary",
           "budget_rows", "budget_summary"]

#: the MRI networks and the channel ratios whose removed parameters are nearest the paper's
#: 35 % and 65 %
BUDGET_NETWORKS = ("varnet", "e2e-varnet", "deq")
BUDGET_RATIOS = (0.2, 0.4)
FORMAT = 1
#: the networks whose width :func:`width_preset` changes (the U-Net of each VarNet cascade) and
#: the paper's width of that U-Net's first layer (``varnet_chans`` of the ``paper`` preset)
WIDTH_NETWORKS = ("varnet", "e2e-varnet")
PAPER_WIDTH = PRESETS["paper"].varnet_chans
#: the fine-tuning budget (optimiser steps) of the report Chapter 5 reads first
DEFAULT_STEPS = 1600


class BudgetReportError(RuntimeError):
    """A fine-tuning-budget report that is missing, damaged or made for other networks."""


def _networks_header(networks: Sequence[str], P: Preset) -> dict:
    return {n: zoo.checkpoint_path(n, P).name for n in networks}


def budget_report(preset: Preset | str | None = None,
                  networks: Sequence[str] = BUDGET_NETWORKS,
                  ratios: Sequence[float] = BUDGET_RATIOS, *, steps: int = DEFAULT_STEPS,
                  lr: float = 1e-3, scratch: bool = False, reuse: dict | None = None,
                  progress: bool = True, log=None) -> dict:
    """The report's rows: per network, its unpruned validation and per-image test PSNR, and per
    ratio the parameters removed, the validation PSNR before fine-tuning and after each epoch,
    the steps per epoch and the kept epoch's per-image test PSNR.

    Args:
        preset: a preset or its name; default: the current one.
        networks: MRI networks (their pre-trained weights: :func:`spadelib.zoo.pretrained`).
        ratios: channel ratios to prune at.
        steps: the fine-tuning budget in optimiser steps (rounded up to whole epochs).
        lr: Adam's learning rate, held constant.
        scratch: also train each pruned architecture from scratch with the unpruned network's
            whole pre-training recipe and budget (:func:`spadelib.finetune.pretraining_scratch`,
            Table 3's baseline at a fair budget) and record its per-image test PSNR and SSIM
            under ``"scratch"`` beside the fine-tuned network's.
        reuse: rows of an earlier report (``report["rows"]``) made from the same networks,
            steps, rate and ratios; a network's fine-tuning runs are taken from it instead of
            being re-run (only what is missing, such as ``"scratch"``, is computed).
        log: a callable taking one line of text per finished run, or ``None``.
    """
    P = get_preset(preset)
    steps = checks.positive_int(steps, "steps")
    device = default_device()
    rows = {}
    for name in networks:
        task = task_of(name)
        if task.name != "mri":
            raise ValueError(f"the fine-tuning-budget report covers the MRI networks; "
                             f"{name!r} is {task.title}")
        net = zoo.pretrained(name, P, progress=progress, device=device)
        train, val = zoo.training_data(name, P)
        test = task.test_data(P)
        per_epoch = steps_per_epoch(len(train), P.train_batch)
        epochs = matched_epochs(steps, len(train), P.train_batch)
        full = evaluate(net, test)
        row = (reuse or {}).get(name)
        if row is None:
            row = {"val_unpruned": validation_psnr(net, val, P.train_batch, device),
                   "test_unpruned": full.psnr_per_sample, "params": full.params,
                   "steps_per_epoch": per_epoch, "epochs": epochs, "ratios": {}}
        pre = getattr(net, "history", None)
        if pre is not None and pre.seconds:               # what pre-training took, if known
            row["pretrain_seconds"] = float(pre.seconds[-1])
        row["test_unpruned_ssim"] = full.ssim_per_sample
        for r in ratios:
            cell = row["ratios"].get(f"{r:g}")
            if cell is not None and (not scratch or "scratch" in cell):
                continue                              # a reused row: nothing to compute
            pruned, _ = prune(net, r)
            if cell is None:
                tuned, history = finetune(pruned, "supervised", data=train, val_data=val,
                                          epochs=epochs, lr=lr, preset=P, device=device,
                                          progress=progress)
                out = evaluate(tuned, test)
                cell = row["ratios"][f"{r:g}"] = {
                    "params": out.params, "removed": 1 - out.params / full.params,
                    "val_pruned": validation_psnr(pruned, val, P.train_batch, device),
                    "val": list(history.val_psnr), "best_epoch": history.best_epoch,
                    "test": out.psnr_per_sample, "test_ssim": out.ssim_per_sample,
                    "seconds": (history.seconds or [0.0])[-1]}  # training time, cached or not
                if log is not None:
                    log(f"{name} r={r:g}: test {out.psnr:.2f} dB against {full.psnr:.2f} "
                        f"unpruned after {epochs * per_epoch} steps")
            if scratch and "scratch" not in cell:
                fresh, history = pretraining_scratch(name, pruned, preset=P, device=device,
                                                     progress=progress)
                out = evaluate(fresh, test)
                fit = zoo.fit_config(name, P)
                cell["scratch"] = {
                    "test": out.psnr_per_sample, "test_ssim": out.ssim_per_sample,
                    "val": list(history.val_psnr), "best_epoch": history.best_epoch,
                    "steps": fit.epochs * per_epoch, "epochs": fit.epochs,
                    "seconds": (history.seconds or [0.0])[-1]}
                if log is not None:
                    log(f"{name} r={r:g} from scratch: test {out.psnr:.2f} dB after "
                        f"{fit.epochs * per_epoch} steps (the pre-training budget)")
        rows[name] = row
    return {"steps": steps, "lr": lr, "ratios": [float(r) for r in ratios], "rows": rows}


def width_preset(preset: Preset | str | None = None, width: int | None = None) -> Preset:
    """``preset`` with the VarNets' U-Nets ``width`` channels wide at their first layer
    (``varnet_chans``; ``quick``: 8, the paper: 18, :data:`PAPER_WIDTH`), everything else as
    it is: the networks of a width study, pre-trained with the preset's own recipe and budget
    (their checkpoint key holds the width, so they are cached beside the preset's own).
    ``None`` or the preset's own width: the preset itself.

    Raises:
        ValueError: a width that is not a positive integer.
    """
    P = get_preset(preset)
    if width is None:
        return P
    width = checks.positive_int(width, "width")
    return P if width == P.varnet_chans else P.replace(varnet_chans=width)


def _own_width(P: Preset) -> bool:
    base = PRESETS.get(P.name)
    return base is None or base.varnet_chans == P.varnet_chans


def budget_path(preset: Preset | str | None = None, directory=None, *,
                steps: int = DEFAULT_STEPS) -> Path:
    """``shipped/finetune-budget-<preset>.json`` of the repository (or of ``directory``);
    for a preset whose VarNets are of another width than its name's (:func:`width_preset`)
    ``finetune-budget-<preset>-width<W>.json``; for another budget than
    :data:`DEFAULT_STEPS` ``...-steps<N>.json``."""
    P = get_preset(preset)
    folder = Path(directory) if directory is not None else checkpoints.SHIPPED
    width = "" if _own_width(P) else f"-width{P.varnet_chans}"
    budget = "" if steps == DEFAULT_STEPS else f"-steps{checks.positive_int(steps, 'steps')}"
    return folder / f"finetune-budget-{P.name}{width}{budget}.json"


def write_budget_report(report: dict, preset, command: str, seconds: float,
                        path=None) -> Path:
    """Write ``report`` (:func:`budget_report`) with its header: the command, the networks'
    checkpoint files and :func:`spadelib.checkpoints.provenance`."""
    P = get_preset(preset)
    header = {"format": FORMAT, "preset": P.name,
              "networks": _networks_header(report["rows"], P),
              **checkpoints.provenance(command, seconds)}
    path = Path(path) if path is not None else budget_path(P)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"header": header, **report}, indent=1) + "\n")
    os.replace(tmp, path)                              # never a half-written report
    return path


def load_budget_report(preset: Preset | str | None = None, path=None, *,
                       steps: int | None = None) -> dict:
    """The shipped report of ``preset``, checked to be made from the networks the preset
    pre-trains today (their checkpoint files); with ``steps``, the report of that budget
    (:func:`budget_path`), checked to hold it.

    Raises:
        BudgetReportError: no report, a damaged one, one made from other networks or with
            another budget (the message gives the command that re-makes it).
    """
    P = get_preset(preset)
    budget = DEFAULT_STEPS if steps is None else steps
    path = Path(path) if path is not None else budget_path(P, steps=budget)
    again = (f"spade finetune-budget --preset {P.name}" + _width_flag(P)
             + ("" if budget == DEFAULT_STEPS else f" --steps {budget}"))
    report = checks.json_report(path, "fine-tuning-budget report", P.name, again,
                                BudgetReportError, keys=("header", "rows"))
    header, rows = report["header"], report["rows"]
    wanted = _networks_header(rows, P)
    if header.get("format") != FORMAT or header.get("networks") != wanted:
        raise BudgetReportError(f"{path} was made from other networks ({header.get('networks')}"
                                f", today's: {wanted}); re-make it with `{again}`")
    if steps is not None and report.get("steps") != steps:
        raise BudgetReportError(f"{path} holds a budget of {report.get('steps')} steps, not "
                                f"{steps}; re-make it with `{again}`")
    return report


def reusable_rows(preset: Preset | str | None = None, path=None, *, steps: int = DEFAULT_STEPS,
                  lr: float = 1e-3, ratios: Sequence[float] = BUDGET_RATIOS) -> dict:
    """The rows of the report at ``path`` (default: the shipped one) that a new run with these
    settings can keep: made with the same steps, rate and ratios, from the network file the
    preset pre-trains today (a network re-made since is left out). ``{}`` when there is no
    report.

    Raises:
        BudgetReportError: the file is damaged (not a report).
    """
    P = get_preset(preset)
    path = Path(path) if path is not None else budget_path(P)
    if not path.exists():
        return {}
    report = checks.json_report(path, "fine-tuning-budget report", P.name,
                                f"spade finetune-budget --preset {P.name}" + _width_flag(P),
                                BudgetReportError,
                                keys=("header", "rows"))
    if (report.get("steps"), report.get("lr"), report.get("ratios")) != \
            (steps, lr, [float(r) for r in ratios]):
        return {}
    made_from = report["header"].get("networks", {})
    return {n: row for n, row in report["rows"].items()
            if n in BUDGET_NETWORKS and made_from.get(n) == zoo.checkpoint_path(n, P).name}


def _width_flag(P: Preset) -> str:
    """`` --width W`` where ``P``'s VarNets are not its name's width, else ``""``."""
    return "" if _own_width(P) else f" --width {P.varnet_chans}"


#: the paper's margins this report checks: at about 35 % fewer parameters supervised fine-tuning
#: within 0.5 dB of the unpruned network, at about 65 % within 1.5 dB (its own gaps: 0.77 /
#: 1.13 / 1.62 dB for the DEQ, VarNet and E2E-VarNet at 65 %)
MARGINS = {0.2: 0.5, 0.4: 1.5}


def budget_rows(report: dict, margins: dict | None = None) -> list[dict]:
    """One row per network and ratio: parameters removed, the steps the run took, the PSNR gap
    to the unpruned network on the test split with its paired 95 % interval over the test
    images, the margin it is checked against and the verdict (:func:`~.intervals.decide`:
    ``holds`` where the whole interval is within the margin, ``does not hold`` where none of it
    is, else ``not resolved``), and the first step at which the validation gap came within the
    margin (``None``: never)."""
    margins = MARGINS if margins is None else margins
    out = []
    for name, row in report["rows"].items():
        for key, cell in row["ratios"].items():
            margin = margins.get(float(key))
            gap = paired_interval(cell["test"], row["test_unpruned"])
            val_gaps = [v - row["val_unpruned"] for v in cell["val"]]
            reached = next((row["steps_per_epoch"] * (i + 1) for i, g in enumerate(val_gaps)
                            if margin is not None and g >= -margin), None)
            out.append({"network": name, "ratio": float(key), "removed": cell["removed"],
                        "steps": row["epochs"] * row["steps_per_epoch"], "gap": gap,
                        "margin": margin, "reached_at": reached,
                        "verdict": None if margin is None else decide(gap, ">=", -margin),
                        "val_gaps": val_gaps,
                        "val_gap_pruned": cell["val_pruned"] - row["val_unpruned"]})
    return out


def budget_summary(rows: list[dict], titles: dict | None = None, *,
                   as_list: bool = False) -> str:
    """The rows of :func:`budget_rows` in words, every word decided by the numbers: each
    network's gap as :func:`~.intervals.interval_comparison` writes it, whether the whole
    interval is within the paper's margin, when the validation gap first came within it, and a
    tally. ``as_list``: Markdown, one bullet per pruned network (a chapter shows it so), instead
    of one paragraph."""
    titles = dict(titles or {})
    parts, within = [], 0
    for r in rows:
        name = (f"{titles.get(r['network'], r['network'])} with "
                f"{100 * r['removed']:.0f} % of its parameters removed")
        text = interval_comparison(name, "the unpruned network", r["gap"])
        if r["margin"] is not None:
            within += r["verdict"] == HOLDS
            reached = (f"its validation gap came within it after {r['reached_at']:,} steps"
                       if r["reached_at"] is not None else
                       "its validation gap never came within it")
            text += (f"; within {r['margin']:g} dB of it on the test images: {r['verdict']} "
                     f"({reached})")
        parts.append(text)
    checked = sum(r["margin"] is not None for r in rows)
    steps = sorted({r["steps"] for r in rows})
    budget = " or ".join(f"{s:,}" for s in steps)
    above = sorted({titles.get(r["network"], r["network"]) for r in rows
                    if side_of_zero(r["gap"]) > 0})
    note = ("" if not above else
            f" Where a pruned network ends above the unpruned one ({', '.join(above)}), the "
            "unpruned network had not finished training: the extra steps train the smaller "
            "network further than pre-training took the larger one, so that gap measures the "
            "pre-training budget, not what pruning costs.")
    tally = (f"{within} of the {checked} pruned networks are within the paper's margin on the "
             "whole interval." + note)
    if as_list:
        return (f"After {budget} steps of supervised fine-tuning:\n\n" +
                "\n".join(f"- {p}." for p in parts) + "\n\n" + tally)
    return f"After {budget} steps of supervised fine-tuning: " + "; ".join(parts) + ". " + tally


def scratch_rows(report: dict) -> list[dict]:
    """Table 3(b) at a fair budget, from a report made with ``scratch=True``: per network and
    ratio, the pruned and fine-tuned network (SPADE) against the same architecture trained from
    scratch with the unpruned network's pre-training recipe and budget (Random), both scored on
    the same test images. ``delta`` is the paired 95 % interval of SPADE minus Random in PSNR;
    the SSIM means are ``None`` where a report did not record them. Cells without a scratch run
    are left out."""
    out = []
    for name, row in report["rows"].items():
        for key, cell in row["ratios"].items():
            sc = cell.get("scratch")
            if sc is None:
                continue
            ssim = lambda v: float(np.mean(v)) if v else None          # noqa: E731
            out.append({"network": name, "ratio": float(key), "removed": cell["removed"],
                        "unpruned": float(np.mean(row["test_unpruned"])),
                        "spade": float(np.mean(cell["test"])), "random": float(np.mean(sc["test"])),
                        "spade_ssim": ssim(cell.get("test_ssim")),
                        "random_ssim": ssim(sc.get("test_ssim")),
                        "spade_steps": row["epochs"] * row["steps_per_epoch"],
                        "random_steps": sc["steps"],
                        "delta": paired_interval(cell["test"], sc["test"])})
    return out


def scratch_summary(rows: list[dict], titles: dict | None = None) -> str:
    """:func:`scratch_rows` in words, each comparison as
    :func:`~.intervals.interval_comparison` writes it, and a tally of the resolved ones."""
    titles = dict(titles or {})
    if not rows:
        return "The report holds no scratch baseline (spade finetune-budget --scratch adds it)."
    parts = [interval_comparison(
        f"the pruned {titles.get(r['network'], r['network'])} ({100 * r['removed']:.0f} % of its "
        "parameters removed, fine-tuned)", "the same architecture trained from scratch",
        r["delta"]) for r in rows]
    sides = [side_of_zero(r["delta"]) for r in rows]
    above, below = sum(s > 0 for s in sides), sum(s < 0 for s in sides)
    tally = (f"SPADE is resolved above the scratch baseline in {above} of {len(rows)} "
             f"comparisons, below it in {below}, and no difference is resolved in "
             f"{len(rows) - above - below}.")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + ". " + tally
