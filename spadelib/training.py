"""One training loop for every network and every regime.

:func:`fit` runs Adam over a :class:`~spadelib.data.SampleSet` with any loss
``loss_fn(net, batch) -> scalar``, with a progress bar, a validation PSNR after every epoch, the
best weights kept, and a resumable checkpoint written atomically after every epoch: if a run is
interrupted (Ctrl-C, a dead kernel, a session limit), calling it again with the same checkpoint
path continues where it stopped. :func:`supervised_loss` is the loss of pre-training (and of the
supervised fine-tuning of eq. 7).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .cache import atomic_save, config_key
from .data.common import SampleSet, has_ground_truth, to_device
from .evaluation import reconstruct
from .metrics import psnr

LOSSES = ("l1", "l2")
SCHEDULES = ("constant", "cosine")


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def image_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean l1 or squared-l2 distance between two images of the same layout."""
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; choose one of {LOSSES}")
    diff = pred - target
    return diff.abs().mean() if kind == "l1" else diff.pow(2).mean()


def supervised_loss(net, batch, kind: str = "l1") -> torch.Tensor:
    """Eq. (7): the distance between the reconstruction f(y_i) and the ground truth x_i."""
    if not has_ground_truth(batch):
        raise ValueError("the supervised loss needs ground truth, but the batch holds "
                         "measurements only")
    return image_loss(net(batch), batch.target, kind)


@dataclass
class FitConfig:
    """Budget and optimiser settings of one training run.

    Attributes:
        epochs: most passes over the training set.
        batch_size: samples per Adam step.
        lr: Adam's (initial) learning rate.
        max_minutes: wall-clock cap: the run stops after an epoch when one more epoch as long
            would end past it, so it stays within the cap; an epoch that runs past the cap
            all the same (the first of a slower training phase, a slower machine) is cut
            short after the step that crossed it, validated, and ends the run. ``None``: no
            cap.
        seed: seed of the shuffling.
        grad_clip: gradient-norm clipping threshold; ``None``: no clipping.
        schedule: ``"constant"`` or ``"cosine"``: the learning rate of epoch ``e`` is
            ``lr * (1 + cos(pi * p)) / 2`` with ``p = spent(e, elapsed)`` the fraction of the
            budget spent when the epoch starts, the larger of ``e / epochs`` and, under a
            wall-clock cap, the fraction of ``max_minutes`` used. A capped run thus anneals
            within its time, at the price of depending slightly on the machine's speed.
    """

    epochs: int
    batch_size: int = 4
    lr: float = 1e-3
    max_minutes: float | None = None
    seed: int = 0
    grad_clip: float | None = 1.0
    schedule: str = "constant"

    def spent(self, epoch: int, elapsed_s: float = 0.0) -> float:
        """The fraction of the budget (in [0, 1]) spent when epoch ``epoch`` starts after
        ``elapsed_s`` seconds: ``epoch / epochs`` or, under a wall-clock cap, the fraction of
        ``max_minutes`` used, whichever is larger."""
        spent = epoch / self.epochs
        if self.max_minutes:
            spent = max(spent, elapsed_s / (60 * self.max_minutes))
        return min(spent, 1.0)

    def lr_at(self, epoch: int, elapsed_s: float = 0.0) -> float:
        """The learning rate of epoch ``epoch`` started after ``elapsed_s`` seconds."""
        if self.schedule == "constant":
            return self.lr
        return self.lr * 0.5 * (1 + math.cos(math.pi * self.spent(epoch, elapsed_s)))

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


@dataclass
class History:
    """What happened during a run: per-epoch mean loss, validation PSNR and wall time, and
    the training phase of each epoch when the run had phases (``before_epoch``)."""

    loss: list = field(default_factory=list)
    val_psnr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    phase: list = field(default_factory=list)
    best_epoch: int = -1
    stopped_by: str = "epochs"

    @property
    def best_psnr(self) -> float:
        return self.val_psnr[self.best_epoch] if self.best_epoch >= 0 else float("nan")


def validation_psnr(net, data: SampleSet, batch_size: int, device) -> float:
    """Mean PSNR (magnitude images) of ``net`` on a split with ground truth."""
    recon = reconstruct(net, data, batch_size, device)
    target = data.fields["target"]
    return float(np.mean(psnr(recon, target, complex_input=target.shape[1] == 2)))


def fit(net: torch.nn.Module, data: SampleSet, loss_fn, config: FitConfig, *,
        val_data: SampleSet | None = None, checkpoint: str | Path | None = None,
        device: torch.device | str | None = None, progress: bool = True,
        desc: str = "training",
        before_epoch: Callable[[torch.nn.Module, float], str | None] | None = None
        ) -> History:
    """Train ``net`` in place with Adam and return its :class:`History`.

    Args:
        net: the network; on return it holds the weights of the best validation epoch (the
            last epoch when there is no validation set).
        data: the training samples (a :class:`SampleSet`; whether it may hold ground truth is
            the caller's business: fine-tuning regimes pass measurement-only views).
        loss_fn: ``loss_fn(net, batch) -> scalar tensor``.
        config: epochs, batch size, learning rate, wall-clock cap, seed.
        val_data: a split with ground truth for the per-epoch validation PSNR.
        checkpoint: path of the resumable checkpoint; resumed from when it exists and was
            written by the same configuration; deleted when the run completes.
        device: default :func:`default_device`.
        progress: show a progress bar over epochs.
        desc: progress-bar label.
        before_epoch: called as ``before_epoch(net, spent)`` before each epoch's training
            steps, with ``spent = config.spent(epoch, elapsed)`` (also on resume), to switch
            a training phase by the budget used (the DEQ's unrolled warm-up does). What it
            returns (a label, or None) is recorded in ``History.phase``.
    """
    device = torch.device(device) if device is not None else default_device()
    net.to(device)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=config.lr)
    history = History()
    best_state, start_epoch, elapsed = None, 0, 0.0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    run_key = config_key({"fit": asdict(config), "n": len(data), "desc": desc})
    if ckpt is not None and ckpt.exists():
        try:
            # tensors, numbers and containers only: no code runs on load
            state = torch.load(ckpt, map_location=device, weights_only=True)
        except Exception:  # noqa: BLE001 - an unreadable partial run is started afresh
            state = None
        if isinstance(state, dict) and state.get("run_key") == run_key:
            net.load_state_dict(state["net"])
            opt.load_state_dict(state["optimizer"])
            history, best_state = History(**state["history"]), state["best_state"]
            start_epoch, elapsed = state["epoch"] + 1, state["elapsed"]
    gen = torch.Generator().manual_seed(config.seed)
    cap_s = 60 * config.max_minutes if config.max_minutes is not None else math.inf
    bar = tqdm(range(start_epoch, config.epochs), disable=not progress, desc=desc, unit="epoch",
               initial=start_epoch, total=config.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        net.train()
        if before_epoch is not None:
            history.phase.append(before_epoch(net, config.spent(epoch, elapsed)))
        for group in opt.param_groups:
            group["lr"] = config.lr_at(epoch, elapsed)
        gen.manual_seed(config.seed * 100_003 + epoch)
        losses, cut = [], False
        for batch in data.loader(config.batch_size, shuffle=True, seed=int(
                torch.randint(0, 2**31 - 1, (1,), generator=gen))):
            loss = loss_fn(net, to_device(batch, device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            opt.step()
            losses.append(float(loss.detach()))
            if elapsed + time.perf_counter() - t0 > cap_s:
                cut = True           # past the cap mid-epoch: validate what we have and stop
                break
        history.loss.append(float(np.mean(losses)))
        if val_data is not None:
            history.val_psnr.append(validation_psnr(net, val_data, config.batch_size, device))
            if history.best_epoch < 0 or history.val_psnr[-1] > history.best_psnr:
                history.best_epoch = epoch
                best_state = copy.deepcopy(net.state_dict())
        else:
            history.best_epoch = epoch
        epoch_s = time.perf_counter() - t0
        elapsed += epoch_s
        history.seconds.append(elapsed)
        bar.set_postfix(loss=f"{history.loss[-1]:.4g}", **(
            {"val_psnr": f"{history.val_psnr[-1]:.2f}"} if history.val_psnr else {}))
        # stop when another epoch as long as this one would end past the cap
        out_of_time = cut or elapsed + epoch_s > cap_s
        if ckpt is not None and epoch + 1 < config.epochs and not out_of_time:
            atomic_save({"run_key": run_key, "net": net.state_dict(),
                         "optimizer": opt.state_dict(), "history": asdict(history),
                         "best_state": best_state, "epoch": epoch, "elapsed": elapsed}, ckpt)
        if out_of_time:
            history.stopped_by = "time"
            break
    bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    if ckpt is not None and ckpt.exists():
        ckpt.unlink()
    return history
