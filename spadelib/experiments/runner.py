"""Running grid cells: pre-trained network -> prune -> fine-tune -> evaluate -> one row.

:func:`run_cell` runs one :class:`~spadelib.experiments.grid.Cell` and returns its row;
:func:`run_grid` runs the cells of a named grid that the store does not hold yet, one after
another in this process (``executor="local"``) or as Ray tasks with one GPU each
(``executor="ray"``, :mod:`spadelib.experiments.executors`), storing each row as soon as it
comes back, so an interrupted grid loses at most the cells that were running. A cell that
fails stores its error and the grid goes on.

Every heavy step is cached on its own (:mod:`spadelib.zoo` for pre-training, the fine-tuning
cache of :mod:`spadelib.finetune`), so a cell whose row was lost re-runs in seconds.
"""
from __future__ import annotations

import datetime
import platform
import time
import traceback
from typing import Callable

import torch
import torch_pruning
from tqdm.auto import tqdm

from .. import __version__, checks, finetune, inputs, pruning, zoo
from ..data.common import to_device
from ..evaluation import evaluate
from ..timing import PROTOCOL, time_networks
from ..presets import NeedsCLIError, get_preset
from ..pruning.importance import parse_criterion
from ..training import default_device
from .executors import run_with_ray
from .grid import Cell, cells
from .store import ResultStore

__all__ = ["cell_network", "network_file", "prune_cell", "run_cell", "run_grid", "retime",
           "stale", "versions", "EXECUTORS"]

EXECUTORS = ("local", "ray")


def versions() -> dict:
    """The versions a row was computed with.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).
    """
    return {"spadelib": __version__, "torch": str(torch.__version__),
            "torch_pruning": str(getattr(torch_pruning, "__version__", "unknown")),
            "python": platform.python_version()}


def network_file(cell: Cell, preset=None) -> str:
    """The file the cell's unpruned network comes from, as its row records it
    (``"network_file"``): the pre-trained checkpoint's name (:func:`spadelib.zoo.checkpoint_path`,
    keyed by every setting its pre-training depends on), or the official USRNet weights' where
    ``SPADE_USRNET_WEIGHTS`` names them.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    official = inputs.current().usrnet_weights if cell.network == "usrnet" else None
    if official is not None:
        return f"official:{official.name}"
    return zoo.checkpoint_path(cell.network, cell.preset(preset)).name


def stale(row: dict, preset=None) -> bool:
    """Whether a stored row rests on another network than its cell's current one: the row
    records a ``network_file`` and it is not :func:`network_file` (the network was pre-trained
    again with other settings, e.g. another budget). :func:`pending` runs such a cell again.
    A row from before rows recorded it counts as current."""
    recorded = row.get("network_file")
    return recorded is not None and recorded != network_file(Cell.from_dict(row["cell"]), preset)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def cell_network(cell: Cell, preset=None, *, device=None, progress: bool = False):
    """The network of one cell and what pruning measured: ``(net, teacher, test, extra)``.

    The unpruned network is ``zoo.pretrained`` at the cell's sampling rate or scale; pruning
    uses the cell's criterion and ``round_to`` (0: the paper's channel counts); supervised
    fine-tuning (and its scratch baseline) learns from
    the whole training split, school and self-supervised from the test split's measurements
    only. Budgets: school and self-supervised take ``preset.finetune_epochs`` over the test
    measurements, supervised fine-tuning the same number of steps over the training split (or
    over as many of its pairs as those steps take, where one epoch of it is longer:
    :func:`spadelib.finetune.supervised_pairs`), a scratch baseline ``preset.scratch_steps``
    steps or, where that is ``None`` (``paper``, ``medium``), the network's whole pre-training
    budget (:func:`spadelib.finetune.scratch_epochs`); a supervised one is then trained
    exactly as the unpruned network was pre-trained (:func:`spadelib.finetune.pretraining_scratch`:
    its rate, schedule and, for the DEQ, warm-up). Every step is cached, so a chapter that shows
    a cell's reconstructions gets the very network its row was measured on.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).
    """
    P = cell.preset(preset)
    device = torch.device(device) if device is not None else default_device()
    teacher = zoo.pretrained(cell.network, P, device=device, progress=progress)
    task = cell.task_object
    test = task.test_data(P)
    if cell.ratio == 0:
        return teacher, teacher, test, {}
    pruned, report = prune_cell(teacher, cell)
    extra = {"macs": report.macs_after, "macs_unpruned": report.macs_before,
             "cnn_applications": report.cnn_applications,
             "channels": sorted({(g.before, g.after) for p in report.priors for g in p.groups})}
    if report.ratio != cell.ratio:                       # a global criterion's channel ratio
        extra["channel_ratio"] = report.ratio
    if cell.regime == "none":
        return pruned, teacher, test, extra
    regime = cell.regime.removeprefix("scratch-")
    kwargs = {"preset": P, "device": device, "progress": progress}
    # the training split only where it is used: a school or self-supervised cell never needs it
    needs_train = regime == "supervised" or cell.regime.startswith("scratch-")
    train = task.training_data(P, progress)[0] if needs_train else None
    if regime == "supervised":
        steps = finetune.finetune_steps(P, len(test))
        pairs = finetune.supervised_pairs(len(train), steps, P.train_batch, P.seed)
        kwargs["data"] = train if len(pairs) == len(train) else train.subset(pairs)
        kwargs["epochs"] = finetune.matched_epochs(steps, len(pairs), P.train_batch)
    else:
        kwargs["data"] = test.measurements_only()
    if regime == "school":
        kwargs["teacher"] = teacher
    if cell.regime == "scratch-supervised" and P.scratch_steps is None:
        # the fair baseline: trained exactly as the unpruned network was pre-trained (Table 3)
        net, _ = finetune.pretraining_scratch(cell.network, pruned, preset=P, seed=cell.seed,
                                              device=device, progress=progress)
    elif cell.regime.startswith("scratch-"):
        kwargs["epochs"] = finetune.scratch_epochs(cell.network, P, len(kwargs["data"]),
                                                   len(train))
        net, _ = finetune.scratch_baseline(pruned, regime, seed=cell.seed, **kwargs)
    else:
        net, _ = finetune.finetune(pruned, regime, seed=cell.seed, **kwargs)
    return net, teacher, test, extra


def prune_cell(teacher, cell: Cell):
    """``(pruned, report)``: the teacher pruned by the cell's criterion, seed and ``round_to``.

    A uniform criterion (``"l1"``, the paper's) prunes at the cell's channel ratio. A global
    one (``"l1-global"``) prunes to the parameter reduction that uniform pruning reaches at
    that ratio (65 % at 0.4), not at the same channel ratio: ranking all groups together moves
    channels between cheap and expensive layers, so the same channel ratio can keep from a
    tenth to over half of the parameters, and the criteria of a table must share one budget.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    if parse_criterion(cell.criterion)[1]:
        budget = pruning.prune(teacher, cell.ratio)[1].param_reduction
        return pruning.prune(teacher, target_reduction=budget, importance=cell.criterion,
                             seed=cell.seed)
    return pruning.prune(teacher, cell.ratio, importance=cell.criterion, seed=cell.seed,
                         round_to=cell.round_to or None)


def run_cell(cell: Cell, preset=None, *, device=None, progress: bool = False) -> dict:
    """Run one cell (:func:`cell_network`), evaluate it on the test split and return its row
    (see the module docstring).

    Taught in Chapter 7 (``book/07_super_resolution.ipynb``).
    """
    P = cell.preset(preset)
    device = torch.device(device) if device is not None else default_device()
    start = time.perf_counter()
    net, _, test, extra = cell_network(cell, P, device=device, progress=progress)
    ev = evaluate(net.to(device), test)
    return {"key": cell.key, "cell": cell.as_dict(), "status": "ok", "error": None,
            **ev.as_dict(), **extra, "preset": P.name, "network_file": network_file(cell, P),
            "versions": versions(),
            "inputs": inputs.current().provenance(),
            "device": _device_name(device), "wall_s": round(time.perf_counter() - start, 1),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def failed_row(cell: Cell, preset_name: str, err: BaseException, wall_s: float) -> dict:
    """The row stored for a cell that raised ``err``."""
    return {"key": cell.key, "cell": cell.as_dict(), "status": "failed",
            "error": f"{type(err).__name__}: {err}",
            "traceback": "".join(traceback.format_exception(err))[-4000:],
            "preset": preset_name, "versions": versions(), "wall_s": round(wall_s, 1),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _cells_of(grid, P) -> list[Cell]:
    """A grid name's cells at ``P`` (:func:`~spadelib.experiments.grid.cells`), or a list of
    cells as given."""
    if isinstance(grid, str):
        return cells(grid, P)
    chosen = list(grid)
    bad = [c for c in chosen if not isinstance(c, Cell)]
    if bad:
        raise TypeError(f"a grid is a grid name or a list of Cell, got a "
                        f"{type(bad[0]).__name__} in the list")
    return chosen


def pending(grid, preset=None, store: ResultStore | None = None,
            retry_failed: bool = True) -> list[Cell]:
    """The cells of ``grid`` (a name, or a list of cells) at ``preset`` that the store does not
    hold yet, or holds on another network than the cell's current one (:func:`stale`)."""
    P = get_preset(preset)
    store = store if store is not None else ResultStore.for_preset(P)
    rows = {r["key"]: r for r in store.rows()}
    return [c for c in _cells_of(grid, P) if c.key not in rows or
            (retry_failed and rows[c.key].get("status") != "ok") or stale(rows[c.key], P)]


def run_grid(grid, preset=None, *, executor: str = "local",
             store: ResultStore | None = None, device=None, progress: bool = True,
             on_row: Callable[[dict], None] | None = None, redo: bool = False) -> list[dict]:
    """Run every pending cell of ``grid`` and store its row; returns the new rows.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        grid: a grid name (:data:`~spadelib.experiments.grid.GRIDS`), or a list of
            :class:`~spadelib.experiments.grid.Cell` (a chapter's own selection).
        preset: a preset or its name; default the current one.
        executor: ``"local"`` (one cell after another, in this process) or ``"ray"`` (Ray
            tasks with one GPU each, or one CPU on a machine without GPUs).
        store: default the preset's store.
        device: local executor only; default CUDA if available.
        progress: a progress bar over the cells (in a terminal).
        on_row: called with each new row (the CLI prints a line).
        redo: run the stored cells too, replacing their rows: after a change to the code that
            a row's key does not capture (a regime's loss, the evaluation). Networks come from
            the caches wherever their keys still match, so only what changed is trained again.

    Raises:
        NeedsCLIError: a cell needs a pre-training or fine-tuning run that the preset leaves
            to the ``spade`` command (:attr:`~spadelib.presets.Preset.notebook_training`):
            the grid stops there, storing no failed row, and the message gives the command.
    """
    checks.choice(executor, EXECUTORS, "executor")
    P = get_preset(preset)
    store = store if store is not None else ResultStore.for_preset(P)
    todo = _cells_of(grid, P) if checks.flag(redo, "redo") else pending(grid, P, store)
    new: list[dict] = []

    def keep(row: dict) -> None:
        store.add(row)
        new.append(row)
        if on_row is not None:
            on_row(row)

    if executor == "ray":
        run_with_ray(todo, P, keep, run_cell=run_cell, failed_row=failed_row, progress=progress)
        return new
    label = grid if isinstance(grid, str) else f"{len(todo)} cells"
    for cell in tqdm(todo, desc=f"grid {label} ({P.name})", disable=not progress, unit="cell"):
        start = time.perf_counter()
        try:
            row = run_cell(cell, P, device=device, progress=False)
        except (KeyboardInterrupt, NeedsCLIError):  # a refusal to train here is no cell failure:
            raise                                    # its message gives the command to run
        except Exception as err:  # noqa: BLE001 - a failing cell is recorded, the grid goes on
            row = failed_row(cell, P.name, err, time.perf_counter() - start)
        keep(row)
    return new




def retime(preset=None, store: ResultStore | None = None, *, networks=None, device=None,
           progress: bool = True, untimed_only: bool = False) -> int:
    """Time every stored cell of ``preset`` again, one after another in this process, and
    replace its ``time_ms`` and ``time_ms_all``; the row's ``timed`` says where and when.
    Returns the number of rows retimed.

    A grid run with several processes sharing the CPU times each cell while the others load
    it, so its times (and the tables' speed-ups) mix loaded and idle moments. Run this once on
    an idle machine after the grid: every network comes back from the caches (nothing is
    trained), and all cells are then timed under the same conditions. PSNR and SSIM are left
    as they are. ``untimed_only``: only the rows no retime has timed yet (made since the last
    one), on the same idle machine.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    P = get_preset(preset)
    store = store if store is not None else ResultStore.for_preset(P)
    device = torch.device(device) if device is not None else default_device()
    untimed_only = checks.flag(untimed_only, "untimed_only")
    rows = [r for r in store.rows() if r.get("status") == "ok"
            and (not networks or r["cell"]["network"] in networks)
            and not (untimed_only and r.get("timed"))]
    bar = tqdm(rows, desc=f"retiming ({P.name})", unit="cell", disable=not progress)
    for row in bar:
        cell = Cell.from_dict(row["cell"])
        net, _, test, _ = cell_network(cell, P, device=device)
        net = net.to(device).eval()
        timed = time_networks({"net": net}, to_device(test.batch([0]), device), PROTOCOL,
                              device=device)["net"]
        store.add({**row, "time_ms": timed.ms, "time_ms_all": [float(t) for t in timed.times_ms],
                   "timed": {"device": _device_name(device), "date": datetime.datetime.now(
                       datetime.timezone.utc).isoformat(timespec="seconds")}})
    return len(rows)
