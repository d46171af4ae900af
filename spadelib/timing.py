"""The networks that benchmarks time: built at a preset, with the DEQ held to a fixed number of
solver iterations, next to one random measurement of their task.

Shared by :mod:`spadelib.bench` (Chapter 4's pruning benchmark) and
:mod:`spadelib.beyond.hardware` (Chapter 8's runtimes), so that both time the same networks.
"""
from __future__ import annotations

import torch

from .models import NetworkSpec
from .presets import Preset
from .tasks import Task

__all__ = ["fix_iterations", "timed_network"]


def fix_iterations(name: str, net, deq_iters: int) -> None:
    """Make the DEQ ``net`` run exactly ``deq_iters`` solver iterations (other networks have a
    fixed number of iterations already)."""
    if name == "deq":
        net.max_iter = int(deq_iters)
        net.tol = 1e-30            # never reached: every run does exactly deq_iters iterations


def timed_network(s: NetworkSpec, task: Task, P: Preset, deq_iters: int, seed: int,
                  device="cpu"):
    """``(net, measurement)``: the network of spec ``s`` at ``P`` with weights drawn under
    ``seed`` (time does not depend on their values), the DEQ fixed at ``deq_iters``
    iterations, in eval mode on ``device``, and one random measurement of its ``task``."""
    torch.manual_seed(seed)
    net = s.build(P)
    fix_iterations(s.name, net, deq_iters)
    return (net.to(device).eval(), task.random_measurement(P, batch=1, seed=seed))
