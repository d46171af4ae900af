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

from .grid import Cell, cells
from .store import ResultStore

__all__ = ["cell_network", "run_cell", "run_grid", "versions", "EXECUTORS"]

EXECUTORS = ("local", "ray")


def versions() -> dict:
    """The versions a row was computed with."""
    import torch_pruning

    import spadelib

    return {"spadelib": spadelib.__version__, "torch": str(torch.__version__),
            "torch_pruning": str(getattr(torch_pruning, "__version__", "unknown")),
            "python": platform.python_version()}


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def supervised_pairs(train, preset):
    """The training pairs supervised fine-tuning learns from: ``preset.finetune_pairs`` of
    them, evenly spaced over the training split (all of it when that is ``None``)."""
    n = preset.finetune_pairs
    if n is None or n >= len(train):
        return train
    picked = torch.linspace(0, len(train) - 1, n).round().long().unique()
    return train.subset(picked.tolist())


def cell_network(cell: Cell, preset=None, *, device=None, progress: bool = False):
    """The network of one cell, built as :func:`run_cell` builds it: ``(net, extra)``.

    The unpruned network is ``zoo.pretrained`` at the cell's sampling rate or scale; pruning
    uses the cell's criterion; supervised fine-tuning (and its scratch baseline) learns from
    the training split (``preset.finetune_pairs`` of its pairs, :func:`supervised_pairs`),
    school and self-supervised from the test split's measurements only. Every step is cached
    (:mod:`spadelib.zoo`, :func:`spadelib.finetune.finetune`), so after the cell has run this
    loads its network in seconds: Chapters 6 and 7 (``book/06_cs_mri.ipynb``,
    ``book/07_super_resolution.ipynb``) show reconstructions of the cells of the store with
    it. ``extra`` holds what pruning reports (MACs, CNN applications); empty at ratio 0.
    """
    from .. import finetune, pruning, zoo
    from ..tasks import task_of
    from ..training import default_device

    P = cell.preset(preset)
    device = torch.device(device) if device is not None else default_device()
    teacher = zoo.pretrained(cell.network, P, device=device, progress=progress)
    if cell.ratio == 0:
        return teacher, {}
    task = task_of(cell.network)
    pruned, report = pruning.prune(teacher, cell.ratio, importance=cell.criterion)
    extra = dict(macs=report.macs_after, macs_unpruned=report.macs_before,
                 cnn_applications=report.cnn_applications)
    if cell.regime == "none":
        return pruned, extra
    regime = cell.regime.removeprefix("scratch-")
    kwargs = {"preset": P, "device": device, "progress": progress}
    if regime == "supervised":
        kwargs["data"] = supervised_pairs(task.training_data(P, progress)[0], P)
    else:
        kwargs["data"] = task.test_data(P).measurements_only()
    if regime == "school":
        kwargs["teacher"] = teacher
    if cell.regime.startswith("scratch-"):
        net, _ = finetune.scratch_baseline(pruned, regime, seed=cell.seed, **kwargs)
    else:
        net, _ = finetune.finetune(pruned, regime, **kwargs)
    return net, extra


def run_cell(cell: Cell, preset=None, *, device=None, progress: bool = False) -> dict:
    """Run one cell and return its row (see the module docstring).

    The network is :func:`cell_network`'s (pre-trained, pruned, fine-tuned); it is evaluated
    on the test split.
    """
    from .. import inputs
    from ..evaluation import evaluate
    from ..tasks import task_of
    from ..training import default_device

    P = cell.preset(preset)
    device = torch.device(device) if device is not None else default_device()
    start = time.perf_counter()
    net, row_extra = cell_network(cell, P, device=device, progress=progress)
    ev = evaluate(net.to(device), task_of(cell.network).test_data(P))
    return {"key": cell.key, "cell": cell.as_dict(), "status": "ok", "error": None,
            **ev.as_dict(), **row_extra, "preset": P.name, "versions": versions(),
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


def pending(grid: str, preset=None, store: ResultStore | None = None,
            retry_failed: bool = True) -> list[Cell]:
    """The cells of ``grid`` at ``preset`` that the store does not hold yet."""
    from ..presets import get_preset

    P = get_preset(preset)
    store = store if store is not None else ResultStore.for_preset(P)
    rows = {r["key"]: r for r in store.rows()}
    return [c for c in cells(grid, P) if c.key not in rows or
            (retry_failed and rows[c.key].get("status") != "ok")]


def run_grid(grid: str, preset=None, *, executor: str = "local",
             store: ResultStore | None = None, device=None, progress: bool = True,
             on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every pending cell of ``grid`` and store its row; returns the new rows.

    Args:
        grid: a grid name (:data:`~spadelib.experiments.grid.GRIDS`).
        preset: a preset or its name; default the current one.
        executor: ``"local"`` (one cell after another, in this process) or ``"ray"`` (Ray
            tasks with one GPU each, or one CPU on a machine without GPUs).
        store: default the preset's store.
        device: local executor only; default CUDA if available.
        progress: a progress bar over the cells (in a terminal).
        on_row: called with each new row (the CLI prints a line).
    """
    from .. import checks
    from ..presets import get_preset

    checks.choice(executor, EXECUTORS, "executor")
    P = get_preset(preset)
    store = store if store is not None else ResultStore.for_preset(P)
    todo = pending(grid, P, store)
    new: list[dict] = []

    def keep(row: dict) -> None:
        store.add(row)
        new.append(row)
        if on_row is not None:
            on_row(row)

    if executor == "ray":
        from .executors import run_with_ray
        run_with_ray(todo, P, keep, progress=progress)
        return new
    from tqdm.auto import tqdm
    for cell in tqdm(todo, desc=f"grid {grid} ({P.name})", disable=not progress, unit="cell"):
        start = time.perf_counter()
        try:
            row = run_cell(cell, P, device=device, progress=False)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - a failing cell is recorded, the grid goes on
            row = failed_row(cell, P.name, err, time.perf_counter() - start)
        keep(row)
    return new


