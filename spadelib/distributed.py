"""One training run over several devices: data-parallel pre-training with Lightning Fabric.

``spade pretrain deq --devices 4`` (or :func:`pretrain_data_parallel`) trains one network on
N GPUs with PyTorch DDP: every process holds a copy of the network, takes its share of each
global batch, and the gradients are averaged across processes before every Adam step, so N
processes with per-process batch ``B / N`` take exactly the steps of one process with batch
``B`` (up to the order of floating-point sums). Lightning Fabric starts the processes
(``strategy="ddp_spawn"``; on a cluster launched with ``torchrun`` use ``strategy="ddp"``).

The samples of an epoch are dealt by :class:`torch.utils.data.DistributedSampler` from one
permutation seeded by the epoch, for any number of processes, so a data-parallel run does
not depend on how many devices it ran on. It is not the sample order of
:func:`spadelib.training.fit` (one process, its own shuffling), and it keeps the last epoch
rather than the best validation epoch: a network trained this way has other weights than the
same preset trained by ``fit``, and its checkpoint header says ``"devices": N``.

Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``), where pre-training is.
"""
from __future__ import annotations

import io
import math
import os
import sys
from dataclasses import asdict
from datetime import timedelta

import torch
from torch.utils.data import DataLoader, DistributedSampler

from . import checks, zoo
from .data.common import SampleSet, collate, to_device
from .models import build
from .presets import get_preset
from .tasks import task_of
from .training import FitConfig, History, NonFiniteLossError, supervised_loss

__all__ = ["fit_data_parallel", "pretrain_data_parallel"]


def _train(fabric, net: torch.nn.Module, data: SampleSet, config: FitConfig, before_epoch):
    per_process = config.batch_size // fabric.world_size
    torch.manual_seed(config.seed)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr)
    model, opt = fabric.setup(net, opt)
    sampler = DistributedSampler(data, num_replicas=fabric.world_size, rank=fabric.global_rank,
                                 shuffle=True, seed=config.seed, drop_last=False)
    loader = DataLoader(data, batch_size=per_process, sampler=sampler, collate_fn=collate)
    history = History()
    for epoch in range(config.epochs):
        sampler.set_epoch(epoch)
        if before_epoch is not None:
            history.phase.append(before_epoch(net, config.spent(epoch)))
        for group in opt.param_groups:
            group["lr"] = config.lr_at(epoch)
        losses = []
        for step, batch in enumerate(loader):
            loss = supervised_loss(model, to_device(batch, fabric.device))
            mean = float(fabric.all_reduce(loss.detach(), reduce_op="mean"))
            if not math.isfinite(mean):
                raise NonFiniteLossError(f"the training loss is {mean} at epoch {epoch}, step "
                                         f"{step}", epoch=epoch, step=step, indices=None,
                                         value=mean)
            opt.zero_grad(set_to_none=True)
            fabric.backward(loss)
            if config.grad_clip:
                fabric.clip_gradients(model, opt, max_norm=config.grad_clip)
            opt.step()
            losses.append(mean)
        history.loss.append(sum(losses) / len(losses))
        history.best_epoch = epoch
    if fabric.global_rank != 0:
        return None
    # bytes, not tensors: a tensor sent back from a spawned process is shared through a file
    # descriptor that disappears with the process
    buffer = io.BytesIO()
    torch.save({"state": net.state_dict(), "history": asdict(history)}, buffer)
    return buffer.getvalue()


# a process that waits longer than this for the others fails instead of hanging
PROCESS_GROUP_TIMEOUT = timedelta(minutes=5)


def _strategy(strategy: str):
    """Fabric's strategy for ``strategy``: ``"ddp_spawn"`` starts its processes on this machine,
    so their gloo connections go over the loopback interface (a host name that resolves to an
    address the sandbox cannot reach would otherwise leave them waiting for each other), and a
    collective that waits more than :data:`PROCESS_GROUP_TIMEOUT` raises."""
    from lightning_fabric.strategies import DDPStrategy  # optional heavy dependency (--devices N)

    if strategy == "ddp_spawn":
        if sys.platform.startswith("linux"):
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        return DDPStrategy(start_method="spawn", timeout=PROCESS_GROUP_TIMEOUT)
    if strategy == "ddp":
        return DDPStrategy(timeout=PROCESS_GROUP_TIMEOUT)
    raise ValueError(f"unknown strategy {strategy!r}: expected 'ddp_spawn' or 'ddp'")


def fit_data_parallel(net: torch.nn.Module, data: SampleSet, config: FitConfig, *,
                      devices: int = 2, accelerator: str = "auto",
                      strategy: str = "ddp_spawn", before_epoch=None) -> History:
    """Train ``net`` in place (supervised loss, Adam, ``config``'s budget and schedule) on
    ``devices`` processes with DDP; returns the :class:`~spadelib.training.History`.

    Args:
        net: the network (its weights on return: those of the last epoch).
        data: training pairs; ``config.batch_size`` is the global batch and must be a multiple
            of ``devices``.
        config: epochs, global batch size, learning rate and schedule, seed, clipping.
        devices: number of processes (GPUs; CPU processes with the gloo backend for tests).
        accelerator: ``"cuda"``, ``"cpu"`` or ``"auto"``.
        strategy: ``"ddp_spawn"`` (Fabric starts the processes) or ``"ddp"`` (under torchrun).
        before_epoch: as for :func:`spadelib.training.fit`.
    """
    from lightning_fabric import Fabric  # optional heavy dependency: only --devices N needs it

    devices = checks.positive_int(devices, "devices")
    if config.batch_size % devices:
        raise ValueError(f"the global batch ({config.batch_size}) must be a multiple of the "
                         f"number of devices ({devices})")
    fabric = Fabric(accelerator=accelerator, devices=devices, strategy=_strategy(strategy))
    result = torch.load(io.BytesIO(fabric.launch(_train, net, data, config, before_epoch)),
                        weights_only=True)
    net.load_state_dict(result["state"])
    return History(**result["history"])


def pretrain_data_parallel(name: str, preset=None, *, devices: int = 2,
                           accelerator: str = "auto", strategy: str = "ddp_spawn"):
    """Pre-train network ``name`` of ``preset`` data-parallel on ``devices`` devices and
    cache it where :func:`spadelib.zoo.pretrained` looks, so every later step uses it."""
    P = get_preset(preset)
    torch.manual_seed(P.seed)
    net = build(name, P)
    train, _ = task_of(name).training_data(P)
    history = fit_data_parallel(net, train, zoo.fit_config(name, P), devices=devices,
                                accelerator=accelerator, strategy=strategy,
                                before_epoch=zoo.pretraining_phases(name, P))
    if hasattr(net, "unrolled_steps"):
        net.unrolled_steps = None
    zoo.save_checkpoint(net, zoo.checkpoint_path(name, P), name, P, history,
                        trained_on={"devices": devices})
    net.history = history
    return net.eval()
