"""One training loop for every network and every regime (taught in Chapter 2,
``book/02_mbdl_networks.ipynb``, and reused by the fine-tuning of Chapter 5).

:func:`fit` runs Adam over a :class:`~spadelib.data.SampleSet` with any loss
``loss_fn(net, batch) -> scalar``, with a progress bar, a validation PSNR after every epoch, the
best weights kept, and a resumable checkpoint written after every epoch: if a run is
interrupted (Ctrl-C, a dead kernel, a session limit), calling it again with the same checkpoint
path continues where it stopped. The checkpoint is a :mod:`spadelib.checkpoints` file of kind
``"partial"``; one that cannot be used (damaged, or written by another run) is moved aside with
a warning and the run starts afresh.

A run stops at the first non-finite loss or gradient with a :class:`NonFiniteLossError` that
names the epoch, the step and the samples of the batch. The check comes before the optimiser
step, so the network keeps the weights of the last good step and nothing non-finite is ever
written. :func:`supervised_loss` is the loss of pre-training (and of the supervised
fine-tuning of eq. 7).
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
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from . import checkpoints, checks
from .data.common import SampleSet, has_ground_truth, to_device
from .evaluation import reconstruct
from .metrics import psnr

__all__ = ["LOSSES", "SCHEDULES", "NonFiniteLossError", "TimeLimitError", "FitConfig", "History",
           "fit", "image_loss", "supervised_loss", "validation_psnr", "default_device"]

LOSSES = ("l1", "l2")
SCHEDULES = ("constant", "cosine")


class NonFiniteLossError(FloatingPointError):
    """Training met a NaN or Inf loss (or gradient), and stopped before applying that step.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Attributes:
        epoch: the epoch of the bad step (counted from 0, as in :class:`History`).
        step: the step within that epoch (counted from 0).
        indices: the sample indices of the batch (indices into the training set), or ``None``
            when the loader does not tell them.
        value: the loss, or the gradient norm when only the gradient was non-finite.
    """

    def __init__(self, message: str, *, epoch: int, step: int,
                 indices: tuple[int, ...] | None, value: float):
        super().__init__(message)
        self.epoch, self.step, self.indices, self.value = epoch, step, indices, value


class TimeLimitError(RuntimeError):
    """A run went past its optional ``FitConfig.max_minutes`` safety limit. Its resumable
    state was saved (when it had a checkpoint file), so the same call resumes it.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """


def default_device() -> torch.device:
    """CUDA when available, else the CPU (Chapter 2, ``book/02_mbdl_networks.ipynb``)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def image_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean l1 or squared-l2 distance between two images of the same layout.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    checks.choice(kind, LOSSES, "loss")
    diff = pred - target
    return diff.abs().mean() if kind == "l1" else diff.pow(2).mean()


def supervised_loss(net, batch, kind: str = "l1") -> torch.Tensor:
    """Eq. (7): the distance between the reconstruction f(y_i) and the ground truth x_i.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``; Chapter 5 fine-tunes with it).
    """
    if not has_ground_truth(batch):
        raise ValueError("the supervised loss needs ground truth, but the batch holds "
                         "measurements only")
    return image_loss(net(batch), batch.target, kind)


@dataclass
class FitConfig:
    """Budget and optimiser settings of one training run.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Attributes:
        epochs: most passes over the training set.
        batch_size: samples per Adam step.
        lr: Adam's (initial) learning rate.
        max_minutes: an optional time limit, a safety net only: a run that has used more than
            this many minutes at the end of an epoch saves its resumable checkpoint and stops
            with a :class:`TimeLimitError`; it never shortens training silently (the budget
            is ``epochs``, so the same configuration trains the same network on any
            machine). ``None`` (default): no limit.
        seed: seed of the shuffling.
        grad_clip: gradient-norm clipping threshold; ``None`` (or 0): no clipping.
        schedule: ``"constant"`` or ``"cosine"``: the learning rate of epoch ``e`` is
            ``lr * (1 + cos(pi * e / epochs)) / 2``.
    """

    epochs: int
    batch_size: int = 4
    lr: float = 1e-3
    max_minutes: float | None = None
    seed: int = 0
    grad_clip: float | None = 1.0
    schedule: str = "constant"

    def budget(self) -> dict:
        """The fields that decide what a run computes (all but the ``max_minutes`` safety
        limit): what cache keys and resumable checkpoints are keyed by."""
        d = asdict(self)
        d.pop("max_minutes")
        return d

    def spent(self, epoch: int) -> float:
        """The fraction of the budget (in [0, 1]) spent when epoch ``epoch`` starts:
        ``epoch / epochs``; a count, so it is the same on any machine."""
        return min(epoch / self.epochs, 1.0)

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch``."""
        if self.schedule == "constant":
            return self.lr
        return self.lr * 0.5 * (1 + math.cos(math.pi * self.spent(epoch)))

    def __post_init__(self):
        # validated, not normalised: the fields are hashed as given into cache keys
        checks.choice(self.schedule, SCHEDULES, "schedule")
        checks.positive_int(self.epochs, "epochs")
        checks.positive_int(self.batch_size, "batch_size")
        checks.positive_real(self.lr, "lr")
        if self.max_minutes is not None:
            checks.positive_real(self.max_minutes, "max_minutes")
        checks.integer(self.seed, "seed")
        if self.grad_clip is not None:
            checks.real(self.grad_clip, "grad_clip", low=0.0)


@dataclass
class History:
    """What happened during a run: per-epoch mean loss, validation PSNR and wall time, and
    the training phase of each epoch when the run had phases (``before_epoch``).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """

    loss: list = field(default_factory=list)
    val_psnr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    phase: list = field(default_factory=list)
    best_epoch: int = -1

    @property
    def best_psnr(self) -> float:
        return self.val_psnr[self.best_epoch] if self.best_epoch >= 0 else float("nan")


def validation_psnr(net, data: SampleSet, batch_size: int, device) -> float:
    """Mean PSNR (magnitude images) of ``net`` on a split with ground truth.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    recon = reconstruct(net, data, batch_size, device)
    target = data.fields["target"]
    return float(np.mean(psnr(recon, target, complex_input=target.shape[1] == 2)))


class _Recorded(Dataset):
    """A view of a data set that records which samples the loader fetched."""

    def __init__(self, data: SampleSet):
        self.data, self.fetched = data, []

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        self.fetched.append(int(i))
        return self.data[i]


def _batches(data: SampleSet, batch_size: int, seed: int):
    """The batches of ``data.loader(batch_size, shuffle=True, seed=seed)``, in its order, each
    with the indices of its samples (``None`` where the loader cannot tell them).

    The loader's own batch sampler and generator drive a second loader over a recording view
    of the data, so the random draws, the order and the batches are exactly the loader's.
    """
    loader = data.loader(batch_size, shuffle=True, seed=seed)
    if not isinstance(loader, DataLoader) or loader.batch_sampler is None or \
            loader.num_workers:
        for batch in loader:
            yield batch, None
        return
    view = _Recorded(data)
    replay = DataLoader(view, batch_sampler=loader.batch_sampler,
                        collate_fn=loader.collate_fn, generator=loader.generator)
    for batch in replay:
        yield batch, tuple(view.fetched)
        view.fetched.clear()


def _nonfinite(what: str, value: float, epoch: int, step: int,
               indices: tuple[int, ...] | None) -> NonFiniteLossError:
    batch = (f"the batch of samples {list(indices)}" if indices is not None
             else f"batch {step} of the epoch")
    return NonFiniteLossError(
        f"the training {what} is {value} at epoch {epoch}, step {step} (both counted from 0), "
        f"on {batch}; training stopped before applying this step, so the network keeps the "
        "weights of the previous step. Look for NaN/Inf in those samples, lower the learning "
        "rate, or keep gradient clipping on (FitConfig.grad_clip)",
        epoch=epoch, step=step, indices=indices, value=value)


def _gradient_norm(params: list[torch.nn.Parameter], clip: float | None) -> float:
    """The total gradient norm (clipping the gradients to ``clip`` first when given)."""
    if clip:
        return float(torch.nn.utils.clip_grad_norm_(params, clip))
    grads = [p.grad.detach().norm() for p in params if p.grad is not None]
    return float(torch.stack(grads).norm()) if grads else 0.0


def _resume(path: Path, run_key: str, net: torch.nn.Module, opt: torch.optim.Optimizer):
    """The state saved by an interrupted run of the same configuration, loaded into ``net`` and
    ``opt``, or ``None``. A file that cannot be used (not a spadelib file, damaged, another
    run, weights of another network) is moved aside with a warning."""
    hit = checkpoints.load_cached(path, "partial", run_key=run_key)
    if hit is None:
        return None
    state = hit[1]
    before = (copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict()))
    try:
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["optimizer"])
        restored = (History(**state["history"]), state["best_state"], state["epoch"] + 1,
                    state["elapsed"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        net.load_state_dict(before[0])
        opt.load_state_dict(before[1])
        checkpoints.move_aside(path, f"it does not fit this network or optimiser: "
                                     f"{checks.reason(err, 200)}")
        return None
    return restored


def fit(net: torch.nn.Module, data: SampleSet, loss_fn, config: FitConfig, *,
        val_data: SampleSet | None = None, checkpoint: str | Path | None = None,
        device: torch.device | str | None = None, progress: bool = True,
        desc: str = "training",
        before_epoch: Callable[[torch.nn.Module, float], str | None] | None = None
        ) -> History:
    """Train ``net`` in place with Adam and return its :class:`History`.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``); Chapter 5 fine-tunes with it.

    Args:
        net: the network; on return it holds the weights of the best validation epoch (the
            last epoch when there is no validation set).
        data: the training samples (a :class:`SampleSet`; whether it may hold ground truth is
            the caller's business: fine-tuning regimes pass measurement-only views).
        loss_fn: ``loss_fn(net, batch) -> scalar tensor``.
        config: epochs, batch size, learning rate, wall-clock cap, seed.
        val_data: a split with ground truth for the per-epoch validation PSNR.
        checkpoint: path of the resumable checkpoint (a :mod:`spadelib.checkpoints` file of
            kind ``"partial"``, written after every epoch but the last); resumed from when it
            exists and was written by the same configuration, moved aside with a warning when
            it cannot be used; deleted when the run completes.
        device: default :func:`default_device`.
        progress: show a progress bar over epochs.
        desc: progress-bar label.
        before_epoch: called as ``before_epoch(net, spent)`` before each epoch's training
            steps, with ``spent = config.spent(epoch)`` (also on resume), to switch
            a training phase by the budget used (the DEQ's unrolled warm-up does). What it
            returns (a label, or None) is recorded in ``History.phase``.

    Raises:
        NonFiniteLossError: a step's loss or gradient norm is NaN or Inf. The step is not
            applied: ``net`` keeps the weights of the step before, and the checkpoint holds
            the last completed epoch (or is left as it was).
    """
    device = torch.device(device) if device is not None else default_device()
    net.to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr)
    history = History()
    best_state, start_epoch, elapsed = None, 0, 0.0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    run_key = checkpoints.config_key({"fit": config.budget(), "n": len(data), "desc": desc})
    if ckpt is not None:
        resumed = _resume(ckpt, run_key, net, opt)
        if resumed is not None:
            history, best_state, start_epoch, elapsed = resumed
    gen = torch.Generator().manual_seed(config.seed)
    cap_s = 60 * config.max_minutes if config.max_minutes is not None else math.inf
    bar = tqdm(range(start_epoch, config.epochs), disable=not progress, desc=desc, unit="epoch",
               initial=start_epoch, total=config.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        net.train()
        if before_epoch is not None:
            history.phase.append(before_epoch(net, config.spent(epoch)))
        for group in opt.param_groups:
            group["lr"] = config.lr_at(epoch)
        gen.manual_seed(config.seed * 100_003 + epoch)
        losses = []
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        for step, (batch, indices) in enumerate(_batches(data, config.batch_size, seed)):
            loss = loss_fn(net, to_device(batch, device))
            value = float(loss.detach())
            if not math.isfinite(value):
                opt.zero_grad(set_to_none=True)
                raise _nonfinite("loss", value, epoch, step, indices)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = _gradient_norm(params, config.grad_clip)
            if not math.isfinite(norm):
                opt.zero_grad(set_to_none=True)
                raise _nonfinite("gradient norm", norm, epoch, step, indices)
            opt.step()
            losses.append(value)
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
        out_of_time = elapsed > cap_s and epoch + 1 < config.epochs
        if ckpt is not None and epoch + 1 < config.epochs:
            checkpoints.write(ckpt, "partial",
                              {"net": net.state_dict(), "optimizer": opt.state_dict(),
                               "history": asdict(history), "best_state": best_state,
                               "epoch": epoch, "elapsed": elapsed},
                              {"run_key": run_key, "desc": desc, "epoch": epoch})
        if out_of_time:
            bar.close()
            raise TimeLimitError(
                f"{desc} used {elapsed / 60:.1f} minutes after epoch {epoch + 1} of "
                f"{config.epochs}, past its limit of max_minutes={config.max_minutes}. "
                + ("Its state is saved: run the same call again (with a larger max_minutes, "
                   "or none) to resume from there." if ckpt is not None else
                   "Nothing was saved (no checkpoint file was given)."))
    bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    if ckpt is not None and ckpt.exists():
        ckpt.unlink()
    return history
