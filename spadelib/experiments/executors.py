"""Running grid cells on a Ray cluster (or a local Ray on one multi-GPU box).

``spade run GRID --executor ray`` sends every pending cell to Ray as a task with one GPU (one
CPU on a machine without GPUs). With ``RAY_ADDRESS`` set, or a cluster started on this node
with ``ray start --head`` (other nodes join it with ``ray start --address=HEAD:6379``), the
tasks go to that cluster; with none running, a local Ray is started and stopped again.

Cells share cached work (data sets, pre-trained networks), so the executor runs in three
waves: the data sets of each (task, setting), then each distinct pre-trained network, then
the cells; every task of a wave runs in parallel. A data set or network that cannot be made
fails the cells that need it (each stores the error, as a failing cell does) and the others go
on; so does a cell whose worker dies. Rows come back to this process, which alone
writes the results store (:class:`~spadelib.experiments.store.ResultStore`), as each cell
finishes. Workers must see the same cache folder (``SPADE_DATA_DIR``, a shared file system
on a cluster); it is passed to them in the task's environment.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import torch
from tqdm.auto import tqdm

from .. import zoo
from ..checkpoints import cache_dir
from ..presets import CLI_ENV, NeedsCLIError, Preset
from ..tasks import Task
from .grid import Cell

__all__ = ["run_with_ray"]


def _connect():
    import ray  # optional heavy dependency: only `spade run --executor ray` needs Ray

    if ray.is_initialized():
        return False
    try:                                   # a running cluster (RAY_ADDRESS or ray start)
        ray.init(address="auto", log_to_driver=False)
    except ConnectionError:
        ray.init(include_dashboard=False, log_to_driver=False)
        return True
    return False


def _device_for_worker():
    return "cuda" if torch.cuda.is_available() else "cpu"


def _build_data(task: Task, preset: Preset) -> str:
    task.build_all(preset, progress=False)
    return task.name


def _pretrain(network: str, preset: Preset) -> str:
    zoo.pretrained(network, preset, device=_device_for_worker(), progress=False)
    return network


def _cell(cell: Cell, preset: Preset, run_cell: Callable[..., dict],
          failed_row: Callable[..., dict]) -> dict:
    start = time.perf_counter()
    try:
        return run_cell(cell, preset, device=_device_for_worker(), progress=False)
    except NeedsCLIError:                  # not a cell failure: the grid stops (as run_grid)
        raise
    except Exception as err:  # noqa: BLE001 - a failing cell is recorded, the grid goes on
        return failed_row(cell, preset.name, err, time.perf_counter() - start)


def _cause(err: BaseException) -> BaseException:
    """The exception a Ray task raised (a worker that died has none: the Ray error itself);
    a refusal to train outside the ``spade`` command is raised here, as run_grid does."""
    cause = getattr(err, "cause", None) or err
    if isinstance(cause, NeedsCLIError):
        raise cause from None
    return cause


def _wave(refs: dict) -> dict:
    """Wait for every task of a wave (``{ref: what}``); ``{what: exception}`` of those that
    failed, so that one network that cannot be trained fails its own cells, not the grid."""
    import ray  # optional heavy dependency (see _connect)

    failed = {}
    for ref, what in refs.items():
        try:
            ray.get(ref)
        except ray.exceptions.RayError as err:
            failed[what] = _cause(err)
    return failed


def run_with_ray(todo: list[Cell], preset: Preset, keep: Callable[[dict], None], *,
                 run_cell: Callable[..., dict], failed_row: Callable[..., dict],
                 progress: bool = True) -> None:
    """Run ``todo`` as Ray tasks; ``keep(row)`` is called here as each cell's row arrives.

    ``run_cell(cell, preset, device=..., progress=...)`` runs a cell on a worker and
    ``failed_row(cell, preset_name, err, wall_s)`` makes the row of one that failed (the
    runner's own, :mod:`spadelib.experiments.runner`, which calls this executor: they are
    passed in, so that the executor sits below the runner).

    Each task asks for one GPU where the cluster has GPUs, else one CPU. A Ray started here is
    shut down at the end; a cluster that was already running is left running.

    The book's chapters run cells locally: this is the path of ``spade run --executor ray`` through
    :func:`~spadelib.experiments.runner.run_grid`, taught in Chapter 5
    (``book/05_finetuning.ipynb``).
    """
    import ray  # optional heavy dependency (see _connect)

    if not todo:
        return
    started = _connect()
    try:
        gpus = ray.cluster_resources().get("GPU", 0) > 0
        options = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        options["runtime_env"] = {"env_vars": {"SPADE_DATA_DIR": str(cache_dir()),
                                                CLI_ENV: os.environ.get(CLI_ENV, "")}}
        data_task = ray.remote(**options)(_build_data)
        pretrain_task = ray.remote(**options)(_pretrain)
        cell_task = ray.remote(**options, max_retries=0)(_cell)

        settings = {(c.task_object, c.preset(preset)) for c in todo}
        failed = _wave({data_task.remote(task, P): (task, P) for task, P in settings})
        networks = {(c.network, c.preset(preset)) for c in todo
                    if (c.task_object, c.preset(preset)) not in failed}
        failed.update(_wave({pretrain_task.remote(n, P): (n, P) for n, P in networks}))

        def failure(c: Cell):
            P = c.preset(preset)
            return failed.get((c.task_object, P)) or failed.get((c.network, P))

        for c in todo:                     # the cells whose data or network could not be made
            if failure(c) is not None:
                keep(failed_row(c, preset.name, failure(c), 0.0))
        pending = {cell_task.remote(c, preset, run_cell, failed_row): c for c in todo
                   if failure(c) is None}
        bar = tqdm(total=len(pending), desc=f"grid ({preset.name}, ray)", disable=not progress,
                   unit="cell")
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                cell = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except ray.exceptions.RayError as err:     # the worker died (memory, a node)
                    row = failed_row(cell, preset.name, _cause(err), 0.0)
                keep(row)
                bar.update()
        bar.close()
    finally:
        if started:
            ray.shutdown()
