"""Worker processes for independent jobs (building data slices, classical solves).

One pool for the whole package: :func:`process_pool`. Its workers are started by a fork
server, not forked from the calling process. A process that has started threads (torch's
thread pool, a Ray client, a progress-bar monitor) can hold a lock at the moment it forks,
and the forked child then waits on that lock forever: the CI once hung this way, building a
training split in a pytest process that had run Ray tests before. A fork server is a clean,
single-threaded process that forks the workers instead. The server imports the modules
whose functions the workers run (:data:`PRELOAD`: torch, sigpy and the data code) once, before
it forks any worker, so a worker starts in milliseconds instead of re-importing them (seconds
per worker, for every pool: Chapter 1 opens one per solve).
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import Executor, ProcessPoolExecutor

__all__ = ["process_pool", "pool_size", "PRELOAD"]

#: imported by the fork server before it forks a worker (it runs no torch op itself, so it
#: starts no thread pool a fork could catch mid-lock)
PRELOAD = ("spadelib.data.mri", "spadelib.classical", "spadelib.baselines")


def _main_importable() -> bool:
    """Whether a worker can re-create ``__main__`` (a script read from stdin cannot be: the
    workers would fail on its path ``<stdin>``)."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return path is None or os.path.exists(path)


def pool_size(workers: int | None, jobs: int) -> int:
    """Processes worth starting for ``jobs`` independent jobs: ``workers`` (default: the CPU
    cores), at most ``jobs``; 1 (run them here) where there is no fork server (not Linux) or
    where the workers could not re-create ``__main__`` (a script read from stdin)."""
    if not sys.platform.startswith("linux") or not _main_importable():
        return 1
    n = os.cpu_count() or 1 if workers is None else workers
    return max(1, min(n, jobs))


def process_pool(workers: int) -> Executor:
    """A :class:`~concurrent.futures.ProcessPoolExecutor` of ``workers`` processes started by
    a fork server (see the module docstring). Jobs must be module-level functions with
    picklable arguments."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))     # read when the server starts (once)
    return ProcessPoolExecutor(workers, mp_context=ctx)
