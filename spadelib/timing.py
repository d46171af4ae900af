"""The book's one timing protocol, and the interleaved timer every speed-up comes from.

:data:`PROTOCOL` (a :class:`TimingProtocol`) fixes how a time per reconstruction is measured:
the torch thread count, the untimed warm-up runs, the timed repeats, round-robin interleaving
of the networks compared (one run of each per round, so that drift and a busy core fall on all
of them alike), the statistic over the repeats, and how a DEQ's iterations are counted:
``"fixed"`` (exactly a given number, by default its ``max_iter``: the time then shows the cost
per iteration times a fixed count, apart from how many iterations pruning makes it need) or
``"as-run"`` (to its tolerance, as a reconstruction runs). :meth:`TimingProtocol.describe`
says it in one sentence (Chapter 4 shows it; every other chapter refers to Chapter 4).

:func:`time_networks` times a dict of networks on one measurement under a protocol. Chapter
4's bench (:func:`spadelib.bench.bench_pruning`), the paper-size speed-ups
(:mod:`spadelib.experiments.speed`), the results store's ``time_ms``
(:func:`spadelib.evaluation.evaluate`) and Chapter 8's benches all use it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from . import checks
from .metrics import measure_latency

__all__ = ["TimingProtocol", "PROTOCOL", "Timed", "time_networks", "fix_iterations",
           "threads", "STATISTICS", "DEQ_ITERATIONS"]

#: what a time is: the median of the repeats, or the least disturbed (fastest) one
STATISTICS = ("median", "min")
#: how a DEQ runs while timed: exactly a fixed count, or to its tolerance
DEQ_ITERATIONS = ("fixed", "as-run")


@dataclass(frozen=True)
class TimingProtocol:
    """How a time per reconstruction is measured (see the module docstring).

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Attributes:
        threads: torch threads while timing (>= 1; ``None``: leave the current number).
        warmup: untimed runs of each network first (>= 0).
        repeats: timed runs of each network (>= 1), one per round.
        interleave: round-robin rounds (one run of each network per round); ``False`` times
            each network's repeats back to back.
        statistic: ``"median"`` or ``"min"`` of the repeats.
        deq_iterations: ``"fixed"`` or ``"as-run"``.
    """

    threads: int | None = 1
    warmup: int = 1
    repeats: int = 3
    interleave: bool = True
    statistic: str = "median"
    deq_iterations: str = "fixed"

    def __post_init__(self):
        if self.threads is not None:
            checks.positive_int(self.threads, "TimingProtocol: threads")
        checks.nonnegative_int(self.warmup, "TimingProtocol: warmup")
        checks.positive_int(self.repeats, "TimingProtocol: repeats")
        if not isinstance(self.interleave, bool):
            raise TypeError(f"TimingProtocol: interleave must be True or False, got "
                            f"{self.interleave!r}")
        checks.choice(self.statistic, STATISTICS, "TimingProtocol: statistic")
        checks.choice(self.deq_iterations, DEQ_ITERATIONS, "TimingProtocol: deq_iterations")

    def replace(self, **changes) -> "TimingProtocol":
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def value(self, times_ms) -> float:
        """The protocol's statistic of some times."""
        return float(statistics.median(times_ms) if self.statistic == "median"
                     else min(times_ms))

    def describe(self) -> str:
        """The protocol in one sentence."""
        th = ("the current number of torch threads" if self.threads is None else
              f"{self.threads} torch thread{'s' if self.threads != 1 else ''}")
        order = ("in interleaved rounds (one run of each network compared per round, so that "
                 "drift and a busy core slow them all alike)" if self.interleave else
                 "one network after the other")
        deq = ("the DEQ runs a fixed number of solver iterations (its budget unless a bench "
               "says fewer), so its time is the cost per iteration times a fixed count"
               if self.deq_iterations == "fixed" else
               "the DEQ runs to its tolerance, as a reconstruction does")
        return (f"One reconstruction of one measurement, timed on {th}: {self.warmup} untimed "
                f"warm-up run{'s' if self.warmup != 1 else ''} of each network, then "
                f"{self.repeats} timed run{'s' if self.repeats != 1 else ''} {order}, "
                f"reported as the {self.statistic} over the runs; {deq}.")


#: THE protocol: every chapter-facing timer uses it unless told otherwise
PROTOCOL = TimingProtocol()


@dataclass(frozen=True)
class Timed:
    """The timed runs of one network under a protocol (:func:`time_networks`).

    Attributes:
        ms: the protocol's statistic of ``times_ms``; times_ms: every timed run, in order;
        iterations: a DEQ's solver iterations per run (fixed: the count; as-run: the mean),
            ``None`` for other networks; protocol: the protocol's :meth:`describe`.
    """

    ms: float
    times_ms: list = field(repr=False)
    iterations: float | None
    protocol: str = field(repr=False)

    @property
    def median_ms(self) -> float:
        return float(statistics.median(self.times_ms))

    @property
    def min_ms(self) -> float:
        return float(min(self.times_ms))

    @property
    def max_ms(self) -> float:
        return float(max(self.times_ms))


@contextlib.contextmanager
def threads(n: int | None):
    """Run with ``n`` torch threads (``None``: as now), restored afterwards."""
    old = torch.get_num_threads()
    n = old if n is None else checks.positive_int(n, "threads")
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(old)


def fix_iterations(name: str, net, deq_iters: int) -> None:
    """Make the DEQ ``net`` run exactly ``deq_iters`` solver iterations (other networks have a
    fixed number of iterations already)."""
    if name == "deq":
        net.max_iter = int(deq_iters)
        net.tol = 1e-30            # never reached: every run does exactly deq_iters iterations


def _solver(fn) -> Any:
    """The fixed-point network behind ``fn`` (itself, or a prepared variant's ``network``),
    or ``None``: anything with ``max_iter``, ``tol`` and ``last_stats``."""
    for obj in (fn, getattr(fn, "network", None)):
        if obj is not None and all(hasattr(obj, a) for a in ("max_iter", "tol", "last_stats")):
            return obj
    return None


@contextlib.contextmanager
def _fixed(solvers: dict, iterations: int | None):
    """Hold every solver at exactly ``iterations`` (default: its own ``max_iter``)."""
    saved = {k: (s.max_iter, s.tol) for k, s in solvers.items()}
    try:
        for s in solvers.values():
            s.max_iter = int(s.max_iter if iterations is None else iterations)
            s.tol = 1e-30                  # never reached
        yield
    finally:
        for k, s in solvers.items():
            s.max_iter, s.tol = saved[k]


def time_networks(networks: Mapping[str, Callable], measurement,
                  protocol: TimingProtocol | None = None, *, iterations: int | None = None,
                  device: str | torch.device | None = None) -> dict[str, Timed]:
    """Time every network of ``networks`` (name -> callable, e.g. a network or a prepared
    variant) on ``measurement`` under ``protocol`` (default :data:`PROTOCOL`).

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Each call is ``fn(measurement)`` under ``torch.no_grad()`` (CUDA synchronised around it).
    With ``interleave``, the warm-up and then every round run the networks in the dict's order,
    one run each. A DEQ (anything with ``max_iter``, ``tol`` and ``last_stats``, or a prepared
    variant whose ``network`` has them) under ``deq_iterations="fixed"`` runs exactly
    ``iterations`` solver iterations (default: its own ``max_iter``), checked after every run,
    and is restored afterwards.

    Returns:
        ``{name: Timed}`` in the dict's order.

    Raises:
        TypeError: ``protocol`` is not a :class:`TimingProtocol`.
        ValueError: no network, or a bad ``iterations``.
        RuntimeError: a DEQ held to a fixed count ran another number of iterations.
    """
    protocol = PROTOCOL if protocol is None else protocol
    if not isinstance(protocol, TimingProtocol):
        raise TypeError(f"protocol must be a TimingProtocol, got {type(protocol).__name__}")
    if not networks:
        raise ValueError("time_networks needs at least one network")
    if iterations is not None:
        iterations = checks.positive_int(iterations, "iterations")
    solvers = {k: s for k, fn in networks.items() if (s := _solver(fn)) is not None}
    fixed = protocol.deq_iterations == "fixed"
    times = {k: [] for k in networks}
    its = {k: [] for k in solvers}

    def run(name, fn, timed):
        lat = measure_latency(fn, measurement, warmup=0, repeats=1, device=device)
        if timed:
            times[name] += lat.times_ms
            if name in solvers:
                n = solvers[name].last_stats["iterations"]
                if fixed and n != solvers[name].max_iter:
                    raise RuntimeError(f"{name}: the DEQ ran {n} iterations instead of "
                                       f"{solvers[name].max_iter}; its times would not compare")
                its[name].append(n)

    order = list(networks.items())
    fix = _fixed(solvers, iterations) if fixed else contextlib.nullcontext()
    with threads(protocol.threads), fix:
        if protocol.interleave:
            for _ in range(protocol.warmup):
                for name, fn in order:
                    run(name, fn, False)
            for _ in range(protocol.repeats):
                for name, fn in order:
                    run(name, fn, True)
        else:
            for name, fn in order:
                for k in range(protocol.warmup + protocol.repeats):
                    run(name, fn, k >= protocol.warmup)
    text = protocol.describe()
    return {k: Timed(protocol.value(t), t,
                     float(statistics.fmean(its[k])) if its.get(k) else None, text)
            for k, t in times.items()}
