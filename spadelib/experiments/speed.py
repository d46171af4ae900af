"""Speed-ups at the paper's sizes, on this machine: what the speed claims are judged on.

The paper times its networks at their full sizes (Tables 1, 2, 4, 6). The results store times
the networks a preset trains (``quick``: small), whose convolutions are too narrow for pruning
to show the paper's effect on a CPU. Time does not depend on the weights' values, so
:func:`paper_speedups` builds the paper-size architectures with random weights, prunes them at
the paper's ratios and times them under the book's protocol
(:data:`spadelib.timing.PROTOCOL`, by :func:`~spadelib.timing.time_networks`). A full
reconstruction at the paper's size takes seconds to tens of seconds on one CPU thread, so the
iterative networks run a few iterations, fixed: the DEQ ``deq_iters`` solver iterations and
USRNet ``usrnet_iters`` of its 8 unrolled iterations (all 8 share one prior and one data step
form); VarNet and E2E-VarNet run in full. At a fixed iteration count the speed-up per
iteration is the speed-up per reconstruction. The rows are cached (keyed by everything they
depend on, this machine included), so Chapters 4, 6 and 7 share one measurement.

Taught in Chapter 4 (``book/04_l1_pruning.ipynb``); the claims of Chapters 6 and 7 use it
(:mod:`spadelib.experiments.claims`).
"""
from __future__ import annotations

import platform
from typing import Sequence

import torch

from .. import checks
from ..checkpoints import cached
from ..metrics import count_parameters
from ..models import NAMES, spec
from ..presets import get_preset
from ..pruning import check_ratio, prune
from ..tasks import task_of, timed_network
from ..timing import PROTOCOL, TimingProtocol, time_networks

__all__ = ["paper_speedups", "speedup_of", "SPEED_RATIOS", "timed_iterations"]

#: the channel ratios the paper's speed claims name (x1.06 at 0.1, x1.81 and x1.51 at 0.4)
SPEED_RATIOS = (0.1, 0.4)


def timed_iterations(name: str, deq_iters: int, usrnet_iters: int) -> str:
    """What one timed reconstruction of ``name`` runs, in words."""
    P = get_preset("paper")
    return {"deq": f"{deq_iters} of the DEQ's up to {P.deq_max_iter} solver iterations",
            "usrnet": f"{usrnet_iters} of USRNet's {P.usrnet_iters} unrolled iterations"
            }.get(name, f"all {P.varnet_cascades} cascades")


def _measure(networks, ratios, deq_iters, usrnet_iters, protocol, seed, log) -> list[dict]:
    rows = []
    for name in networks:
        s = spec(name)
        P = get_preset("paper")
        if name == "usrnet":
            P = P.replace(usrnet_iters=usrnet_iters)
        net, measurement = timed_network(s, task_of(s), P, deq_iters, seed)
        variants = {r: prune(net, r)[0].eval() for r in (0.0, *ratios)}
        timed = time_networks(variants, measurement, protocol, iterations=deq_iters)
        for r, t in timed.items():
            rows.append({"network": name, "preset": "paper", "ratio": r,
                         "params": count_parameters(variants[r]), "time_ms": t.ms,
                         "times_ms": t.times_ms, "speedup": timed[0.0].ms / t.ms,
                         "timed": timed_iterations(name, deq_iters, usrnet_iters),
                         "protocol": t.protocol})
            if log is not None:
                log(f"{name} r={r:g}: {t.ms:,.0f} ms, x{rows[-1]['speedup']:.2f}")
        del variants, net
    return rows


def paper_speedups(networks: Sequence[str] = NAMES, ratios: Sequence[float] = SPEED_RATIOS,
                   *, deq_iters: int = 1, usrnet_iters: int = 1,
                   protocol: TimingProtocol | None = None, seed: int = 0, cache: bool = True,
                   log=None) -> list[dict]:
    """Time per reconstruction and speed-up of the paper-size networks at ``ratios`` (and
    unpruned) on this machine's CPU, under ``protocol`` (default: the book's
    :data:`~spadelib.timing.PROTOCOL`). One DEQ iteration by default: its start
    :math:`A^H y` (FFTs, no CNN) is a small share of an iteration at this size, and two would
    double the DEQ's share of the build time.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Returns:
        One dict per (network, ratio), the unpruned network first: ``network, preset, ratio,
        params, time_ms`` (the protocol's statistic), ``times_ms, speedup`` (over the unpruned
        network), ``timed`` (what one timed reconstruction runs, in words), ``protocol`` (its
        :meth:`~spadelib.timing.TimingProtocol.describe`).
    """
    networks = [spec(n).name for n in ([networks] if isinstance(networks, str) else networks)]
    ratios = sorted({check_ratio(r) for r in ratios} - {0.0})
    deq_iters = checks.positive_int(deq_iters, "deq_iters")
    usrnet_iters = checks.positive_int(usrnet_iters, "usrnet_iters")
    protocol = PROTOCOL if protocol is None else protocol
    if protocol.deq_iterations != "fixed":
        raise ValueError("paper_speedups needs a protocol with deq_iterations='fixed'")
    config = {"networks": networks, "ratios": ratios, "deq_iters": deq_iters,
              "usrnet_iters": usrnet_iters, "protocol": protocol.describe(), "seed": seed,
              "torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability(),
              "machine": platform.processor() or platform.machine(), "format": 1}

    def build():
        return {"rows": _measure(networks, ratios, deq_iters, usrnet_iters, protocol, seed,
                                 log)}

    return (cached("paper-speedups", config, build, kind="results") if cache else
            build())["rows"]


def speedup_of(rows: Sequence[dict] | None, network: str, ratio: float) -> float | None:
    """The speed-up of ``network`` at ``ratio`` in rows of :func:`paper_speedups` (``None``:
    not timed)."""
    for r in rows or ():
        if r["network"] == network and abs(r["ratio"] - ratio) < 1e-9:
            return r["speedup"]
    return None
