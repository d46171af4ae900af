"""Presets: every size in the book is read from one place.

A chapter never hard-codes an image size, a coil count or a data-set size; it asks the current
preset::

    from spadelib import get_preset
    P = get_preset()           # reads SPADE_PRESET, default "quick"
    P.mri_size, P.mri_coils

``quick`` is what CI and a laptop CPU run in minutes; ``paper`` mirrors the sizes of the SPADE
paper (section 4) and is meant for a GPU box::

    SPADE_PRESET=paper jupyter-book build .

The preset is a frozen dataclass, so a chapter can derive a variant without touching the global
one: ``dataclasses.replace(P, mri_size=(96, 96))``.

Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

ENV_VAR = "SPADE_PRESET"
DEFAULT = "quick"


@dataclass(frozen=True)
class Preset:
    """Sizes and budgets of one way of running the book.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``), where every chapter starts by
    reading it. ``paper`` takes the paper's values where the paper states them; ``quick``
    shrinks every size so that each network pre-trains on a laptop CPU within its wall-clock
    budget, and its training choices are those that did best *within that budget* (the
    chapters report what they give).

    Attributes:
        name: ``"quick"``, ``"medium"`` or ``"paper"``.
        seed: base seed of every random choice made while building data.
        mri_size: (H, W) of the MRI images and k-space.
        mri_coils: number of receiver coils of the synthetic MRI data, and the number of
            virtual coils fastMRI files are compressed to.
        mri_subjects: subjects in the (train, val, test) splits (the paper: 145 / 10 / 10).
        mri_slices_per_subject: axial slices taken from each subject (synthetic, or fastMRI's
            central slices, edges excluded).
        mri_train_slices_per_subject: slices taken from each *training* subject; ``None``:
            ``mri_slices_per_subject``. The validation and test splits (and so every baseline
            and test number) do not depend on it. ``quick``: 16, four times the other splits'
            4: a 150-epoch VarNet on 160 training slices peaked on validation at epoch 66 and
            then fell, and on 480 slices the same number of steps gained 0.78 dB on test, so
            distinct slices, not epochs, were the limit. With fastMRI files it is an upper
            bound: a volume gives at most its usable central slices.
        mri_noise: std of the complex Gaussian k-space noise, relative to the k-space RMS.
        mri_rate: default sampling rate of the undersampling masks (the paper's 16.7 %).
        espirit_calib: ESPIRiT calibration width (k-space lines) for coil-map estimation.
        sr_size: side of the square high-resolution SR crops (a multiple of 12, so of 2, 3, 4).
        sr_scale: default super-resolution scale factor.
        sr_noise: std of the Gaussian noise on the low-resolution images (images in [0, 1]).
        sr_crops_per_image: training crops drawn from each training photo. ``quick`` draws
            many: in a budget of a few minutes, USRNet learns more from many distinct crops
            seen a few times each than from a few crops seen many times.
        deq_blocks, deq_features: EDSR prior of the DEQ (paper: 13 blocks x 64 features).
        deq_max_iter, deq_tol: DEQ forward solver budget (paper: 100 iterations, 1e-4).
        deq_solver, deq_alpha: the DEQ's forward solver and the initial value of its
            trainable relaxation alpha in ``T(x) = alpha * D(z) + (1 - alpha) * z``
            (:mod:`spadelib.models.deq`). ``paper``: ``"forward"`` and 1.0, the paper's
            "forward iteration as in (3)", which is alpha = 1 (alpha stays a trainable scalar:
            the paper's 999,428 parameters count two scalars beside the EDSR). ``quick``:
            ``"anderson"`` and 0.5: within its 20 iterations Anderson reaches a smaller
            residual, and the relaxation keeps T closer to a contraction (Chapter 2 compares
            the solvers). Both enter a checkpoint's key only where they differ from these
            quick values (:data:`spadelib.tasks.KEYED_IF_CHANGED`), so the quick networks
            cached before the fields existed keep their keys.
        deq_warmup, deq_warmup_steps: the DEQ pre-trains as an unrolled network of
            ``deq_warmup_steps`` weight-tied steps (full backprop, no fixed-point solve) until
            this fraction of its epochs is spent, then as a DEQ
            (:func:`spadelib.zoo.pretraining_phases`). ``paper``: 0, no warm-up, as the
            paper trains it. ``quick``: an unrolled step is far cheaper than a fixed-point
            solve, so the warm-up makes many cheap updates that bring T close to a good
            operator, and the DEQ epochs that follow only adapt it to its fixed point. The
            fraction trades the two: too short a warm-up wastes the budget on expensive DEQ
            steps from a poor start, too long a one leaves too few DEQ epochs to settle the
            fixed point. ``quick``: 0.5. Under the cosine schedule the last epochs run at a
            small fraction of the rate: with 0.8 the 2.4 DEQ epochs started at a tenth of it,
            and supervised fine-tuning of the *pruned* DEQ then ended above the unpruned one
            (the DEQ phase had not finished); half the epochs as a DEQ start at half the rate.
        varnet_cascades, varnet_chans, varnet_pools: (E2E-)VarNet cascades and U-Net sizes
            (paper: 8, 18, 4); sens_chans, sens_pools: E2E-VarNet's sensitivity U-Net (8, 4).
        usrnet_channels, usrnet_blocks, usrnet_iters: USRNet's ResUNet widths, residual blocks
            per level and unrolled iterations (paper: (64, 128, 256, 512), 2, 8). ``quick``
            unrolls half the paper's iterations: each training step then costs about half as
            much, and within a fixed budget the extra updates matter more than the extra
            iterations.
        deq_epochs, varnet_epochs, e2e_varnet_epochs, usrnet_epochs: pre-training budget of
            each network, in epochs (passes over its training set). Budgets are counts, never
            minutes, so the same preset and seed give the same network on an idle or a busy
            machine. ``paper``: 100 each. ``quick``: DEQ 12, VarNet 40, E2E-VarNet 25 epochs
            over 640 training slices (``mri_train_slices_per_subject``), USRNet 6. The
            repository ships the quick networks, made by ``spade pretrain NAME
            --preset quick --ship`` (:func:`spadelib.zoo.ship`), so the book loads them
            instead of training (Chapter 2 prints the time each took; the README gives the
            measured times).
        train_batch, train_lr: batch size and Adam rate of pre-training; ``train_lr`` is that
            of the MRI networks. ``paper``: 1e-5, the paper's rate ("We pre-trained and
            fine-tuned the MBDL models by using the Adam optimizer with the learning rate
            being 10^-5", Section 4); the paper states no batch size (``paper``: 4).
            ``quick`` uses small batches: in a small budget more, noisier
            updates train these small networks further than fewer, cleaner ones.
            ``sr_train_lr`` is that of USRNet, set apart because the two tasks prefer
            different rates under ``quick``'s budget: USRNet trains better at a smaller rate
            than the MRI networks' one, and VarNet worse. ``paper``: 1e-5 as well (the paper
            starts from the official USRNet weights and states no other rate; the rate is used
            only where the zoo trains its own USRNet).
        train_schedule: learning-rate schedule of pre-training (``"cosine"`` or
            ``"constant"``, see :class:`spadelib.training.FitConfig`). ``paper``:
            ``"constant"``, the plain reading of the paper's single rate (it states no
            schedule). ``quick``: ``"cosine"``: annealing within the budget lets the last
            epochs refine instead of oscillating at the initial rate.
        finetune_epochs: fine-tuning budget (epochs over the fine-tuning set) of
            :func:`spadelib.finetune.finetune`. The paper does not state it: ``paper`` uses 50.
            School and self-supervised fine-tuning take these epochs over the test
            measurements; supervised fine-tuning learns from the whole training split for the
            same number of optimiser steps (:func:`spadelib.finetune.matched_epochs`).
        scratch_steps: optimiser steps of Table 3's from-scratch baseline
            (:func:`spadelib.finetune.scratch_epochs`). ``paper``: ``None``, the network's own
            pre-training budget (its epochs over the training split), the fair baseline the
            paper defines; a supervised baseline is then trained exactly as the unpruned
            network was pre-trained (:func:`spadelib.finetune.pretraining_scratch`).
            ``medium``: ``None`` too. ``quick``: the fine-tuning's own steps (the question
            becomes: with SPADE's fine-tuning budget, does the pruned network do better from
            the pre-trained weights or from fresh ones?): a full pre-training per baseline is
            out of reach of the quick book's CPU budget, so the quick baselines are weaker
            than the paper's and Table 3's quick gaps overstate SPADE's advantage (the chapters
            say so).
        notebook_training: whether a process not started by the ``spade`` command (a chapter
            being executed, a script) may start a pre-training or fine-tuning run when the
            cache does not hold it. ``quick``: yes, they take minutes. ``paper``: no, they take
            hours to days on a GPU: :func:`require_cli` stops with the exact ``spade`` command
            to run first, and the chapters then load what it produced.
        runs_every_cell: whether the preset runs every cell of the paper's grids
            (:func:`spadelib.experiments.runs_at`): ``paper`` and ``medium`` do; ``quick``
            runs the subset the book computes while it is built
            (:data:`spadelib.experiments.QUICK_SUBSET`).
        trains_as: the preset whose pre-trained networks this one uses instead of training
            its own (:func:`spadelib.tasks.training_preset`), or ``None``. ``medium``:
            ``"quick"``: it differs from ``quick`` only in what it evaluates (a larger test
            split, every cell), never in what a network is trained on, so it loads the same
            networks (the same files, shipped or cached).
        epochs_by_rate: pre-training budgets that differ between sampling rates,
            ``((field, ((rate, epochs), ...)), ...)``: where the preset's budget ``field`` is
            the table's at its own ``mri_rate``, :meth:`spadelib.tasks.Task.with_setting` sets
            it to the table's at the new rate (:meth:`epochs_at_rate`); a budget set by hand
            (``P.replace(e2e_varnet_epochs=3)``) is kept. ``paper``: none (100 epochs at every
            rate). ``quick``: at 10 % E2E-VarNet 60 epochs (25 at the other rates); the DEQ
            20 at 12.5 % and 10 % (12 at 16.7 %; the first half unrolled, as at every rate).
            At 10 % E2E-VarNet's sensitivity U-Net sees 3 ACS lines of quick's 64 columns;
            after 25 epochs it was still climbing on validation and scored 0.49 dB above the
            converged TV on the 48 ``medium`` test slices (VarNet, given ESPIRiT maps:
            1.65 dB), and the 12-epoch DEQ 0.94 dB. With 60 and 20 epochs: 1.22 dB (0.70 to 1.74) and 1.52 dB (1.20 to 1.84),
            paired 95 % intervals (this project's 2-core CPU, 2026-12-07). The 12-epoch DEQ at
            12.5 % ended 0.96 dB (0.72 to 1.20) above the converged TV there; with 20 epochs
            1.70 dB (1.41 to 1.99).
        finetune_lr: Adam learning rate of fine-tuning. ``paper``: 1e-5, the paper's value.
            ``quick`` uses a ten times larger rate: its budget is a handful of epochs, in
            which the paper's rate would barely move the weights.
    """

    name: str
    seed: int = 0
    # --- compressed-sensing MRI ---
    mri_size: tuple[int, int] = (64, 64)
    mri_coils: int = 4
    mri_subjects: tuple[int, int, int] = (40, 4, 4)
    mri_slices_per_subject: int = 4
    mri_train_slices_per_subject: int | None = 16
    mri_noise: float = 0.01
    mri_rate: float = 0.167
    espirit_calib: int = 16
    # --- super-resolution ---
    sr_size: int = 96
    sr_scale: int = 4
    sr_noise: float = 0.01
    sr_crops_per_image: int = 48
    # --- networks (REFERENCE.md section 2 for the paper's sizes) ---
    deq_blocks: int = 4
    deq_features: int = 32
    deq_max_iter: int = 20
    deq_tol: float = 1e-3
    deq_solver: str = "anderson"
    deq_alpha: float = 0.5
    deq_warmup: float = 0.5
    deq_warmup_steps: int = 3
    varnet_cascades: int = 4
    varnet_chans: int = 8
    varnet_pools: int = 2
    sens_chans: int = 4
    sens_pools: int = 2
    usrnet_channels: tuple[int, int, int, int] = (16, 32, 64, 128)
    usrnet_blocks: int = 1
    usrnet_iters: int = 4
    # --- training budgets (epochs, never minutes) ---
    deq_epochs: int = 12
    varnet_epochs: int = 40
    e2e_varnet_epochs: int = 25
    usrnet_epochs: int = 6
    train_batch: int = 2
    train_lr: float = 3e-3
    sr_train_lr: float = 1e-3
    train_schedule: str = "cosine"
    finetune_epochs: int = 10
    finetune_lr: float = 1e-4
    scratch_steps: int | None = 80
    notebook_training: bool = True
    runs_every_cell: bool = False
    trains_as: str | None = None
    epochs_by_rate: tuple[tuple[str, tuple[tuple[float, int], ...]], ...] = ()
    extras: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def mri_split_sizes(self) -> dict[str, int]:
        """Number of slices in each split: subjects x slices per subject (synthetic data; a
        fastMRI volume may give fewer training slices, see ``mri_train_slices_per_subject``)."""
        return {s: n * self.slices_per_subject(s)
                for s, n in zip(("train", "val", "test"), self.mri_subjects)}

    def slices_per_subject(self, split: str) -> int:
        """Axial slices taken from each subject of ``split`` (``"train"``, ``"val"``,
        ``"test"``): ``mri_train_slices_per_subject`` for training, where set."""
        if split == "train" and self.mri_train_slices_per_subject is not None:
            return self.mri_train_slices_per_subject
        return self.mri_slices_per_subject

    def __post_init__(self):
        for entry in self.epochs_by_rate:
            name, table = entry
            if not name.endswith("_epochs") or not hasattr(self, name):
                raise ValueError(f"epochs_by_rate: {name!r} is no pre-training budget of a "
                                 "Preset (deq_epochs, varnet_epochs, e2e_varnet_epochs)")
            if not table or any(not isinstance(n, int) or n < 1 for _, n in table):
                raise ValueError(f"epochs_by_rate: {name!r} needs positive epochs at each "
                                 f"rate, got {table!r}")

    def epochs_at_rate(self, rate: float) -> dict[str, int]:
        """The budgets :attr:`epochs_by_rate` gives at sampling rate ``rate``, ``{field:
        epochs}``: each listed field whose value here is the table's at this preset's own
        rate, and whose table lists ``rate`` (a budget set by hand is not in it)."""
        out = {}
        for name, table in self.epochs_by_rate:
            epochs = dict(table)
            if epochs.get(self.mri_rate) == getattr(self, name) and rate in epochs:
                out[name] = epochs[rate]
        return out

    def replace(self, **changes) -> "Preset":
        """A copy with some fields changed (``P.replace(mri_size=(96, 96))``)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """A short human-readable summary, for the top of a chapter."""
        sizes = self.mri_split_sizes
        return (f"preset '{self.name}': MRI {self.mri_size[0]}x{self.mri_size[1]}, "
                f"{self.mri_coils} coils, slices train/val/test = "
                f"{sizes['train']}/{sizes['val']}/{sizes['test']}; "
                f"SR crops {self.sr_size}x{self.sr_size}, x{self.sr_scale}")


PRESETS: dict[str, Preset] = {
    "quick": Preset(name="quick",
                    epochs_by_rate=(("deq_epochs", ((0.167, 12), (0.125, 20), (0.1, 20))),
                                    ("e2e_varnet_epochs", ((0.167, 25), (0.125, 25), (0.1, 60))))),
    "paper": Preset(
        name="paper",
        mri_size=(256, 256),
        mri_coils=8,
        mri_subjects=(145, 10, 10),
        mri_slices_per_subject=8,
        mri_train_slices_per_subject=None,
        espirit_calib=24,
        sr_size=252,
        sr_crops_per_image=32,
        deq_blocks=13,
        deq_features=64,
        deq_max_iter=100,
        deq_tol=1e-4,
        deq_solver="forward",
        deq_alpha=1.0,
        deq_warmup=0.0,
        varnet_cascades=8,
        varnet_chans=18,
        varnet_pools=4,
        sens_chans=8,
        sens_pools=4,
        usrnet_channels=(64, 128, 256, 512),
        usrnet_blocks=2,
        usrnet_iters=8,
        deq_epochs=100,
        varnet_epochs=100,
        e2e_varnet_epochs=100,
        usrnet_epochs=100,
        train_batch=4,
        train_lr=1e-5,
        sr_train_lr=1e-5,
        train_schedule="constant",
        finetune_epochs=50,
        finetune_lr=1e-5,
        scratch_steps=None,
        notebook_training=False,
        runs_every_cell=True,
    ),
}
#: between the two: the quick networks (the very files ``quick`` uses), every cell of the
#: paper's grids, a test split three times ``quick``'s (12 subjects, 48 slices), Table 3's
#: baselines trained for the whole pre-training budget (``scratch_steps=None``). Its results
#: store is made once by ``spade run all --preset medium`` and ships with the repository; the
#: chapters render the paper's tables from it.
PRESETS["medium"] = PRESETS["quick"].replace(
    name="medium", mri_subjects=(40, 4, 12), trains_as="quick", runs_every_cell=True,
    notebook_training=False, scratch_steps=None)


CLI_ENV = "SPADE_CLI"


class NeedsCLIError(RuntimeError):
    """A long run that this preset leaves to the ``spade`` command (see
    :attr:`Preset.notebook_training`); the message gives the command.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``); Chapters 7 and 8 catch it the same way.
    """


def require_cli(preset: "Preset", what: str, command: str) -> None:
    """Refuse to start ``what`` (e.g. ``"pre-training deq"``) outside the ``spade`` command
    when ``preset.notebook_training`` is off; the error gives ``command`` to run first.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    if not preset.notebook_training and not os.environ.get(CLI_ENV):
        raise NeedsCLIError(
            f"{what} is not cached, and the {preset.name!r} preset does not start it here: it "
            f"takes hours on a GPU. Run it from a terminal first:\n\n    {command}\n\n"
            "then run this again: it will load the result from the cache.")


def get_preset(name: str | Preset | None = None) -> Preset:
    """The preset named ``name``, or the one chosen by the ``SPADE_PRESET`` environment variable.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        name: ``"quick"``, ``"medium"`` or ``"paper"`` (a :class:`Preset` is returned as it
            is); ``None`` reads ``$SPADE_PRESET`` (default ``"quick"``).

    Raises:
        ValueError: the name is not a known preset.
    """
    if isinstance(name, Preset):
        return name
    chosen = name if name is not None else os.environ.get(ENV_VAR, DEFAULT)
    key = str(chosen).strip().lower()
    if key not in PRESETS:
        source = "argument" if name is not None else f"environment variable {ENV_VAR}"
        raise ValueError(
            f"unknown preset {chosen!r} (from the {source}); choose one of {sorted(PRESETS)}")
    return PRESETS[key]
