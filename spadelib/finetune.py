r"""SPADE's three fine-tuning regimes for a pruned network (paper section 3, eqs. 7-9).

After pruning, the network :math:`f_{\hat\theta}` has lost some accuracy. SPADE recovers it with
one of three losses (:mod:`spadelib.losses`), each fitting a different situation: what you may
see decides the regime. The regimes are a table, :data:`REGIMES`, one :class:`Regime` each:

=================== ========================== ============================================
regime              what it sees               loss (``l`` = l1 or squared l2, mean)
=================== ========================== ============================================
``supervised``      training pairs (y_i, x_i)  eq. (7): :math:`l(f(y_i), x_i)`
``school``          test measurements y_j and  eq. (8): :math:`l(f(y_j), f_\theta(y_j))`
                    the unpruned *teacher*
``self-supervised`` test measurements y_j and  eq. (9): :math:`l(A_j f(y_j), y_j) +
                    their operators A_j only   l(f(A_j \hat x_{\phi,j}), \hat x_{\phi,j})`
``self-supervised-  test MRI measurements y_j  beyond the paper (Chapter 8): measurement
split``             and their operators A_j    splitting, :math:`l(P_\Lambda A_j f(y_{j,\Theta}),
                    only                       y_{j,\Lambda})` (:mod:`spadelib.splitting`)
=================== ========================== ============================================

with :math:`\hat x_{\phi,j} = \phi_j f(y_j)` and :math:`\phi_j` a random rotation
(:mod:`spadelib.transforms`). The rules are enforced, not just documented: :func:`finetune`
refuses a teacher where the regime has none, and anything but a task's bare measurements
(ground truth under any name, in the set or as a validation split) for school and
self-supervised fine-tuning. Pass ``split.measurements_only()`` to those two. It also refuses a
data set holding NaN or Inf, and a run whose loss turns non-finite stops with
:class:`spadelib.training.NonFiniteLossError` and writes nothing.

**Which epoch is kept.** Supervised fine-tuning may take a validation split (with ground truth)
and keeps its best epoch. School and self-supervised fine-tuning may not see ground truth, so
they accept no validation split and keep the last epoch.

**The cache.** Every run is cached like pre-training (:mod:`spadelib.zoo`):
``finetune-{regime}-{key}.pt`` under :func:`~spadelib.checkpoints.cache_dir`, a
:mod:`spadelib.checkpoints` file of kind ``"finetuned"`` whose header holds the configuration
that the key hashes: the pruned network (architecture and initial weights), the regime, the
options, the budget, the data and (school) the teacher. A cached file that cannot be used is
moved aside with a warning and the network is fine-tuned again. An interrupted run resumes from
``finetune-{regime}-{key}.partial``. Taught in Chapter 5 (``book/05_finetuning.ipynb``).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from . import checkpoints, checks, splitting, zoo
from .checkpoints import config_key, data_digest, state_digest
from .data.common import SampleSet, has_ground_truth
from .budgets import (finetune_steps, matched_epochs, scratch_epochs, steps_per_epoch,
                      supervised_pairs)
from .evaluation import reconstruct
from .losses import (check_ei_options, check_measurements_only, ei_measurement, measured_loss,
                     rotate_maps_for, school_loss, self_supervised_loss, with_teacher_outputs)
from .presets import Preset, get_preset, require_cli
from .reinit import reinitialise
from .training import LOSSES, FitConfig, History, default_device, fit, supervised_loss
from .transforms import ROTATIONS, check_rotations, draw_rotations, rotate

__all__ = ["REGIMES", "Regime", "ROTATIONS", "finetune", "scratch_baseline", "pretraining_scratch",
           "reinitialise", "steps_per_epoch", "matched_epochs", "finetune_steps", "scratch_epochs",
           "supervised_pairs", "school_loss", "self_supervised_loss", "ei_measurement",
           "draw_rotations", "rotate", "measured_loss", "teacher_outputs", "with_teacher_outputs"]

#: enters every cache key: bump it when a regime's training changes, so old caches are redone
FORMAT_VERSION = 1

LossFn = Callable[[nn.Module, Any], torch.Tensor]


# --------------------------------------------------------------------------------------------
# the regimes, as a table
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """The checked arguments of one :func:`finetune` call that a regime sets itself up from
    (Chapter 5, ``book/05_finetuning.ipynb``)."""

    data: SampleSet
    teacher: nn.Module | None
    loss: str
    rotations: str
    rotate_coil_maps: bool
    seed: int
    batch_size: int
    device: torch.device
    progress: bool
    split: dict = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Regime:
    """One fine-tuning regime: what it may see, and how it learns.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Attributes:
        name: ``"supervised"``, ``"school"``, ``"self-supervised"`` or (beyond the paper)
            ``"self-supervised-split"``.
        equation: its loss in the paper (7, 8 or 9); ``None`` for a regime beyond the paper.
        ground_truth: its data are training pairs with ground truth (True), or a task's bare
            measurements (False: anything more is refused).
        teacher: it needs the unpruned network as a teacher (True), or takes none (False).
        keeps_best_epoch: it may take ``val_data`` (with ground truth) and keep its best epoch;
            otherwise it keeps the last epoch and refuses ``val_data``.
        equivariant: its loss takes the rotation options (they are checked against the data
            and enter the cache key).
        no_teacher: why it takes no teacher (said when one is given).
        prepare: ``prepare(run) -> (train_set, loss_fn)``, the set :func:`~spadelib.training.fit`
            iterates over and its ``loss_fn(net, batch)``.
        split: its loss splits the sampled k-space (:mod:`spadelib.splitting`): MRI only,
            and the split options enter the cache key.
        split_score: the split's scoring when the caller leaves ``split_score`` unset
            (``None``: not a split regime); a regime named for one scoring refuses the other.
    """

    name: str
    equation: int | None
    ground_truth: bool
    teacher: bool
    keeps_best_epoch: bool
    equivariant: bool
    no_teacher: str
    prepare: Callable[[Run], tuple[SampleSet, LossFn]]
    split: bool = False
    split_score: str | None = None

    def options(self, run: Run) -> dict:
        """The loss options that enter the cache key."""
        options = {"loss": run.loss}
        if self.equivariant:
            options.update(rotations=run.rotations, rotate_coil_maps=run.rotate_coil_maps,
                           data_fidelity="measured entries")
        if self.split:
            options.update(run.split)
        return options


def _supervised(run: Run) -> tuple[SampleSet, LossFn]:
    return run.data, lambda net, batch: supervised_loss(net, batch, run.loss)


def _school(run: Run) -> tuple[SampleSet, LossFn]:
    outputs = teacher_outputs(run.teacher, run.data, run.batch_size, run.device, run.progress)
    return (with_teacher_outputs(run.data, outputs),
            lambda net, batch: school_loss(net, batch, run.loss))


def _self_supervised(run: Run) -> tuple[SampleSet, LossFn]:
    gen = torch.Generator().manual_seed(run.seed * 7_919 + 17)       # the angles' own stream
    return run.data, lambda net, batch: self_supervised_loss(
        net, batch, run.loss, run.rotations, run.rotate_coil_maps, gen)


def _split(run: Run) -> tuple[SampleSet, LossFn]:
    gen = torch.Generator().manual_seed(run.seed * 7_919 + 29)       # the splits' own stream
    o = run.split
    return run.data, lambda net, batch: splitting.split_loss(
        net, batch, run.loss, o["split_fraction"], o["split_unit"], o["keep_centre"],
        o["ei_weight"], score=o["split_score"], generator=gen)


#: the regimes by name (iterating gives the names, in the paper's order)
REGIMES: dict[str, Regime] = {r.name: r for r in (
    Regime("supervised", 7, ground_truth=True, teacher=False, keeps_best_epoch=True,
           equivariant=False, no_teacher="learns from the ground truth", prepare=_supervised),
    Regime("school", 8, ground_truth=False, teacher=True, keeps_best_epoch=False,
           equivariant=False, no_teacher="", prepare=_school),
    Regime("self-supervised", 9, ground_truth=False, teacher=False, keeps_best_epoch=False,
           equivariant=True, no_teacher="assumes no pre-trained model is available",
           prepare=_self_supervised),
    *(Regime(name, None, ground_truth=False, teacher=False, keeps_best_epoch=False,
             equivariant=False, no_teacher="assumes no pre-trained model is available",
             prepare=_split, split=True, split_score=score)
      for name, score in ((splitting.REGIME_NAME, "measured"),
                          (splitting.HELD_OUT_REGIME, "held-out"))),
)}


def _regime(regime) -> Regime:
    return REGIMES[checks.choice(regime, REGIMES, "fine-tuning regime")]


# --------------------------------------------------------------------------------------------
# the refusals, each written once
# --------------------------------------------------------------------------------------------
def _check_set(data, name: str) -> SampleSet:
    """A non-empty SampleSet whose tensors hold no NaN or Inf."""
    if not isinstance(data, SampleSet):
        raise TypeError(f"{name} must be a SampleSet (e.g. mri_dataset('test') or its "
                        f".measurements_only()), got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} is empty: fine-tuning needs at least one sample")
    for field, t in data.fields.items():
        checks.finite_tensor(t, f"{name} field {field!r}")
    return data


def _check_what_it_sees(spec: Regime, data: SampleSet, teacher, val_data) -> None:
    """The rules of the table: ground truth, teacher and validation split."""
    if spec.ground_truth and not has_ground_truth(data):
        raise ValueError(f"{spec.name} fine-tuning needs training pairs with ground truth; this "
                         "set holds measurements only (use school or self-supervised for "
                         "measurement-only data)")
    if not spec.ground_truth:
        check_measurements_only(data, spec.name)
    if spec.split:
        splitting.check_split_data(data.sample_type, spec.name)
    if spec.teacher and teacher is None:
        raise ValueError(f"{spec.name} fine-tuning needs teacher= (the unpruned, pre-trained "
                         "network whose outputs the pruned one learns to match)")
    if spec.teacher:
        checks.module(teacher, "teacher")
    elif teacher is not None:
        raise ValueError(f"{spec.name} fine-tuning {spec.no_teacher} and takes no teacher: "
                         "drop teacher=, or use regime='school'")
    if val_data is None:
        return
    if not spec.keeps_best_epoch:
        raise ValueError(f"{spec.name} fine-tuning may not see ground truth, so it takes no "
                         "val_data (it keeps the last epoch); evaluate the returned network "
                         "on a split with ground truth afterwards instead")
    _check_set(val_data, "val_data")
    if not has_ground_truth(val_data):
        raise ValueError("val_data must hold ground truth (it is used for a validation PSNR); "
                         "pass the split itself, not measurements_only()")


def _budget(P: Preset, epochs, lr, batch_size, max_minutes, seed=None) -> FitConfig:
    """The fit configuration, the preset filling what is not given (values as given: they are
    hashed into the cache key)."""
    epochs = checks.positive_int(P.finetune_epochs if epochs is None else epochs, "epochs")
    batch_size = checks.positive_int(P.train_batch if batch_size is None else batch_size,
                                     "batch_size")
    lr = checks.positive_real(P.finetune_lr if lr is None else lr, "lr")
    if max_minutes is not None:
        checks.positive_real(max_minutes, "max_minutes")
    seed = P.seed if seed is None else checks.integer(seed, "seed")
    return FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, max_minutes=max_minutes,
                     seed=seed)


# --------------------------------------------------------------------------------------------
# the teacher
# --------------------------------------------------------------------------------------------
def teacher_outputs(teacher: nn.Module, data: SampleSet, batch_size: int = 4,
                    device: torch.device | str | None = None,
                    progress: bool = False) -> torch.Tensor:
    r"""The teacher's reconstructions :math:`f_\theta(y_j)` of every sample, computed once.

    The teacher runs in eval mode without gradients and is left untouched (a copy is moved
    when it lives on another device).

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Returns:
        ``(N, ...)`` images on the CPU, in the order of ``data``.
    """
    device = torch.device(device) if device is not None else default_device()
    p = next(teacher.parameters(), None)
    if p is not None and p.device != device:
        teacher = copy.deepcopy(teacher).to(device)
    return reconstruct(teacher, data, batch_size, device, progress).detach()


# --------------------------------------------------------------------------------------------
# the cache
# --------------------------------------------------------------------------------------------
def _from_cache(path: Path, pruned: nn.Module, key_config: dict):
    """``(net, history)`` from a usable cached run, else None (an unusable file is moved
    aside with a warning: the cache rule of :func:`spadelib.checkpoints.load_cached`)."""
    hit = checkpoints.load_cached(path, "finetuned", config=key_config)
    if hit is None:
        return None
    payload = hit[1]
    net = copy.deepcopy(pruned)
    try:
        net.load_state_dict(payload["state_dict"])
        history = History(**payload["history"])
    except (KeyError, TypeError, RuntimeError) as err:
        checkpoints.move_aside(path, f"it does not fit the network: {checks.reason(err, 200)}")
        return None
    return net, history


def _cached_run(path: Path | None, start: nn.Module, key_config: dict, regime: str,
                train: Callable, device) -> tuple[nn.Module, History]:
    """The run cached at ``path``, else ``train(net, checkpoint)`` on a copy of ``start``."""
    hit = _from_cache(path, start, key_config) if path is not None else None
    if hit is None:
        net = copy.deepcopy(start)
        history = train(net, path.with_suffix(".partial") if path is not None else None)
        if path is not None:
            state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
            checkpoints.write(path, "finetuned", {"state_dict": state, "history": dataclasses.
                              asdict(history)}, {"regime": regime, "config": key_config})
        hit = net, history
    net, history = hit
    net.history = history
    return net.to(device).eval(), history


# --------------------------------------------------------------------------------------------
# the entry points
# --------------------------------------------------------------------------------------------
def finetune(pruned: nn.Module, regime: str, *, data: SampleSet,
             teacher: nn.Module | None = None, epochs: int | None = None,
             lr: float | None = None, batch_size: int | None = None, loss: str = "l1",
             rotations: str = "90", rotate_coil_maps: bool | None = None,
             split_fraction: float = 0.4, split_unit: str = "points",
             keep_centre: bool = True, ei_weight: float = 0.0,
             split_score: str | None = None, preset: Preset | str | None = None,
             val_data: SampleSet | None = None,
             max_minutes: float | None = None, seed: int | None = None, cache: bool = True,
             device: torch.device | str | None = None,
             progress: bool = True) -> tuple[nn.Module, History]:
    r"""Fine-tune a copy of a pruned network with one of SPADE's three regimes (or, beyond the
    paper, measurement splitting).

    ``pruned`` itself is never modified: a deep copy is trained with Adam
    (:func:`spadelib.training.fit`: progress bar, gradient clipping at 1, a resumable
    checkpoint) and returned in eval mode, with the history also attached as ``net.history``.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        pruned: the network to fine-tune (any ``net(batched measurement) -> image`` module).
        regime: ``"supervised"`` (eq. 7), ``"school"`` (eq. 8), ``"self-supervised"``
            (eq. 9), ``"self-supervised-split"`` or ``"self-supervised-split-held-out"`` (MRI
            only, Chapter 8); see :data:`REGIMES`.
        data: a :class:`~spadelib.data.SampleSet` without NaN or Inf. Supervised: training
            pairs (with ground truth). School and self-supervised: a task's bare measurements,
            ``split.measurements_only()``.
        teacher: school only, and required there: the unpruned network; frozen (eval mode, no
            gradients); its outputs are computed once, before training.
        epochs: passes over ``data``; default ``preset.finetune_epochs``.
        lr: Adam learning rate; default ``preset.finetune_lr`` (the paper: 1e-5).
        batch_size: default ``preset.train_batch``.
        loss: ``"l1"`` or ``"l2"`` (mean absolute or squared error).
        rotations: self-supervised only: ``"90"`` (exact, default) or ``"any"`` (bilinear, not
            for super-resolution); see :mod:`spadelib.transforms`.
        rotate_coil_maps: self-supervised MRI only: rotate the coil maps with the image (the
            authors' code's choice, and the physically consistent one:
            :mod:`spadelib.losses` cites the code); ``None`` (default) rotates them where
            there are coil maps, ``False`` keeps them fixed to the scanner.
        split_fraction, split_unit, keep_centre, ei_weight, split_score:
            self-supervised-split only: the share of the sampled entries held out of the
            input, ``"points"`` or ``"lines"``, whether the centre lines always stay in the
            input, the weight of an added equivariance term, and whether the loss scores every
            measured entry (``"measured"``) or the held-out ones only (``"held-out"``;
            default: the regime's, ``"held-out"`` for ``"self-supervised-split-held-out"``)
            (:func:`spadelib.splitting.split_loss`).
        preset: a preset or its name (budget defaults and the seed); default the current one.
        val_data: supervised only: a split with ground truth; its PSNR is computed after each
            epoch and the best epoch is kept. The other regimes keep the last epoch.
        max_minutes: an optional time limit, a safety net: past it, the run saves its state
            and stops with :class:`~spadelib.training.TimeLimitError` (never a shorter
            training); ``None`` (default): no limit. Not part of the cache key.
        seed: seed of the order of the batches (and of the rotation angles of
            self-supervised fine-tuning); default the preset's seed, so a cell's seed
            changes the run (and its cache key) without rebuilding data or the teacher.
        cache: store the result as ``finetune-{regime}-{key}.pt`` under
            :func:`~spadelib.checkpoints.cache_dir` and reuse it when the same configuration
            comes again (an interrupted run resumes from a ``.partial`` file). With
            ``cache=False`` nothing is written.
        device: default :func:`~spadelib.training.default_device`.
        progress: show progress bars.

    Returns:
        ``(net, history)``: the fine-tuned copy and its
        :class:`~spadelib.training.History` (per-epoch loss, and validation PSNR when
        ``val_data`` was given).

    Raises:
        TypeError: ``data`` (or ``val_data``) is not a SampleSet, ``pruned`` / ``teacher`` is
            not an ``nn.Module``, or school / self-supervised data are not a task's
            measurements.
        ValueError: an unknown regime; ground truth (or any tensor beyond the measurement's)
            handed to school or self-supervised fine-tuning; a non-MRI set for
            self-supervised-split; NaN or Inf in the data; a teacher missing (school) or given
            (other regimes); ``val_data`` outside the supervised regime or without ground
            truth; bad budget or options.
        spadelib.training.NonFiniteLossError: the loss or its gradient became NaN or Inf
            during training (nothing is cached then).

    The cache key hashes: the pruned network (class, structure, every tensor of its state
    dict, so its architecture and initial weights), the regime, the loss and (self-supervised)
    the rotation options or (self-supervised-split) the split options, the budget (epochs, lr,
    batch size, wall-clock cap, seed), the data, the validation data and (school) the teacher.
    The device is not part of it.
    """
    spec = _regime(regime)
    checks.module(pruned, "pruned")
    _check_set(data, "data")
    loss = checks.choice(loss, LOSSES, "loss")
    rotations = check_rotations(rotations)
    rotate_coil_maps = rotate_maps_for(data.sample_type, rotate_coil_maps)
    if spec.split and split_score is None:
        split_score = spec.split_score
    elif spec.name == splitting.HELD_OUT_REGIME and split_score != spec.split_score:
        raise ValueError(f"regime {spec.name!r} scores the held-out entries: it takes no "
                         f"split_score={split_score!r} (use {splitting.REGIME_NAME!r} for that)")
    split = splitting.check_split_options(split_fraction, split_unit, keep_centre, ei_weight,
                                          "measured" if split_score is None else split_score)
    _check_what_it_sees(spec, data, teacher, val_data)
    if spec.equivariant:
        check_ei_options(data.sample_type, rotations, rotate_coil_maps)

    P = get_preset(preset)
    config = _budget(P, epochs, lr, batch_size, max_minutes, seed)
    device = torch.device(device) if device is not None else default_device()
    run = Run(data, teacher, loss, rotations, rotate_coil_maps, config.seed, config.batch_size,
              device, progress, split)

    key_config = {
        "v": FORMAT_VERSION, "regime": spec.name, "network": state_digest(pruned),
        "options": spec.options(run), "budget": config.budget(),
        "data": data_digest(data),
        "val": data_digest(val_data) if val_data is not None else None,
        "teacher": state_digest(teacher) if teacher is not None else None,
    }
    path = (checkpoints.cache_dir() / f"finetune-{spec.name}-{config_key(key_config)}.pt"
            if cache else None)

    def train(net, checkpoint):
        require_cli(P, f"{spec.name} fine-tuning", f"spade run all --preset {P.name}")
        train_set, loss_fn = spec.prepare(run)
        # a NonFiniteLossError propagates from here: nothing below runs, nothing is written
        return fit(net, train_set, loss_fn, config, val_data=val_data, checkpoint=checkpoint,
                   device=device, progress=progress, desc=f"{spec.name} fine-tuning")

    return _cached_run(path, pruned, key_config, spec.name, train, device)


def scratch_baseline(pruned: nn.Module, regime: str, *, seed: int | None = None,
                     **kwargs) -> tuple[nn.Module, History]:
    """Table 3's baseline: the pruned architecture trained from scratch with the same loss.

    The network keeps the pruned network's widths, but every parameter is drawn afresh
    (:func:`reinitialise`, seeded); it is then trained by :func:`finetune` with the same
    regime, data, loss and budget, so the only difference from fine-tuning is the starting
    point. ``pruned`` is not modified.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        pruned: the pruned network whose architecture is reused.
        regime: as for :func:`finetune`.
        seed: seed of the re-initialisation; default the preset's seed.
        **kwargs: everything :func:`finetune` takes (``data``, ``teacher``, ``epochs``, ...).

    Returns:
        ``(net, history)`` as :func:`finetune`.
    """
    _regime(regime)
    checks.module(pruned, "pruned")
    if seed is None:
        seed = get_preset(kwargs.get("preset")).seed
    return finetune(reinitialise(pruned, seed), regime, **kwargs)


def pretraining_scratch(name: str, pruned: nn.Module, *, preset: Preset | str | None = None,
                        seed: int | None = None, device: str | torch.device | None = None,
                        progress: bool = True, cache: bool = True) -> tuple[nn.Module, History]:
    """Table 3's baseline at a fair budget, ``(net, history)``: ``pruned``'s architecture,
    every parameter drawn afresh (:func:`reinitialise`), trained exactly as network ``name``
    was pre-trained (its training split, supervised loss, epochs, rate, schedule and the DEQ's
    unrolled warm-up: :func:`spadelib.zoo.fit_config`, :func:`~spadelib.zoo.pretraining_phases`)
    where :func:`scratch_baseline` gets the fine-tuning's budget. Cached as
    ``finetune-pretraining-scratch-{key}.pt``, resumable. Taught in Chapter 5."""
    checks.module(pruned, "pruned")
    P = get_preset(preset)
    seed = P.seed if seed is None else checks.nonnegative_int(seed, "seed")
    config = zoo.fit_config(name, P)
    hook = zoo.pretraining_phases(name, P)
    train_set, val = zoo.training_data(name, P)
    device = torch.device(device) if device is not None else default_device()
    start = reinitialise(pruned, seed)
    key_config = {"v": FORMAT_VERSION, "regime": "pretraining-scratch", "of": name,
                  "network": state_digest(start), "budget": config.budget(),
                  "warmup": [P.deq_warmup, P.deq_warmup_steps] if hook is not None else None,
                  "data": data_digest(train_set), "val": data_digest(val)}
    path = (checkpoints.cache_dir() / f"finetune-pretraining-scratch-{config_key(key_config)}.pt"
            if cache else None)

    def train(net, checkpoint):
        require_cli(P, "a scratch baseline", f"spade finetune-budget --preset {P.name} --scratch")
        history = fit(net, train_set, supervised_loss, config, val_data=val, checkpoint=checkpoint,
                      device=device, progress=progress, before_epoch=hook, desc=f"{name} from "
                      f"scratch ({P.name})")
        if hasattr(net, "unrolled_steps"):
            net.unrolled_steps = None          # it ends as a DEQ, as the pre-trained one does
        return history

    return _cached_run(path, start, key_config, "pretraining-scratch", train, device)
