"""Worker processes for independent jobs (building data slices, classical solves).

One pool for the whole package: :func:`process_pool`. Its workers are started by a fork
server, not forked from the calling process. A process that has started threads (torch's
thread pool, a Ray client, a progress-bar monitor) can hold a lock at the moment it forks,
and the forked child then waits on that lock forever: the CI once hung this way, building a
training split in a pytest process that had run Ray tests before. A fork server is a clean,
single-threaded process that forks the workers instead; each worker imports what its job
needs once.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import Executor, ProcessPoolExecutor

__all__ = ["process_pool", "pool_size"]


def pool_size(workers: int | None, jobs: int) -> int:
    """Processes worth starting for ``jobs`` independent jobs: ``workers`` (default: the CPU
    cores), at most ``jobs``; 1 (run them here) where there is no fork server (not Linux)."""
    if not sys.platform.startswith("linux"):
        return 1
    n = os.cpu_count() or 1 if workers is None else workers
    return max(1, min(n, jobs))


def process_pool(workers: int) -> Executor:
    """A :class:`~concurrent.futures.ProcessPoolExecutor` of ``workers`` processes started by
    a fork server (see the module docstring). Jobs must be module-level functions with
    picklable arguments."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
