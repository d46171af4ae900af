"""The two tasks of the book, CS-MRI and super-resolution, as objects.

Everything that differs between the tasks lives here, behind one interface (:class:`Task`):
what a measurement and a sample are, the data a network is pre-trained and tested on, the size
of the images its CNN priors see, its learning rate, its classical baseline, and a random
measurement for benchmarks. Other modules ask a network for its task
(:func:`task_of`) and call the task; none of them branches on "MRI or SR".

:func:`depends_on` is the explicit list of the preset settings a pre-trained network depends
on: the pre-training budget that every network shares, the fields of its task's data and
training, and the fields of the network itself (:class:`spadelib.models.NetworkSpec`). A cached
checkpoint is keyed by them and carries them in its header, so that a change to an SR setting
never invalidates an MRI network (and vice versa), nor a DEQ setting a VarNet.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from . import checks, inputs
from .baselines import bicubic_upsample, mri_zero_filled
from .data import fastmri_dataset, load_image_folder, mri, mri_dataset, sr, sr_dataset
from .data.common import SampleSet
from .data.mri import MRIMeasurement, MRISample
from .data.sr import SRMeasurement, SRSample
from .kernels import load_kernels, sr_kernels
from .models import NetworkSpec, spec
from .physics.masks import cartesian_mask
from .presets import PRESETS, Preset, get_preset
from .timing import fix_iterations

__all__ = ["Task", "TASKS", "MRI", "SR", "PRETRAINING_FIELDS", "KEYED_IF_CHANGED", "task_of",
           "training_preset", "depends_on", "changed_only", "preset_from", "timed_network"]

#: preset fields the pre-training of every network depends on (its name, seed and budget)
PRETRAINING_FIELDS = ("name", "seed", "train_batch", "train_schedule")

#: preset fields added after checkpoints were first keyed, with the value every network had
#: before: :func:`depends_on` lists such a field only where its value differs from that one,
#: and :func:`preset_from` reads a missing one as that value. So the networks cached before a
#: field existed (the quick preset's) keep their keys, and a network that uses another value
#: (the paper preset's DEQ: forward iteration, alpha = 1) gets a key of its own.
KEYED_IF_CHANGED: dict = {"deq_solver": "anderson", "deq_alpha": 0.5,
                           "mri_train_slices_per_subject": None}


@dataclass(frozen=True)
class Task:
    """One task of the book: its measurements, its data, and what its networks need.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``) and Chapter 2
    (``book/02_mbdl_networks.ipynb``).

    Attributes:
        name: ``"mri"`` or ``"sr"``.
        title: a readable name.
        measurement_type: the ground-truth-free measurement (``MRIMeasurement``,
            ``SRMeasurement``).
        sample_type: a measurement with its ground truth (``MRISample``, ``SRSample``).
        fields: the preset fields the task's data and pre-training depend on.
        setting: the preset field an experiment of the paper varies (``"mri_rate"``,
            ``"sr_scale"``), and settings: the values the paper uses.
    """

    name: str
    title: str
    measurement_type: type
    sample_type: type
    fields: tuple[str, ...]
    setting: str = ""
    settings: tuple = ()

    def check_setting(self, value):
        """``value`` if it is one of the task's experiment settings (:attr:`settings`: the
        sampling rates of CS-MRI, the scales of SR), normalised; else a ValueError."""
        if value in self.settings:
            return type(self.settings[0])(value)
        raise ValueError(f"{self.title}: the {self.setting_name} must be one of "
                         f"{', '.join(map(str, self.settings))}, got {value!r}")

    @property
    def setting_name(self) -> str:
        """What a setting of this task is called (``"sampling rate"``, ``"scale"``)."""
        return {"mri_rate": "sampling rate", "sr_scale": "scale"}.get(self.setting, self.setting)

    def setting_label(self, value) -> str:
        """A short label of a setting for keys and tables: ``rate0.167``, ``x3``."""
        return f"x{value}" if self.setting == "sr_scale" else f"rate{value:g}"

    def setting_text(self, value) -> str:
        """A setting as tables and widgets print it: ``16.7 %`` (a sampling rate), ``×4`` (a
        scale)."""
        return f"×{value}" if self.setting == "sr_scale" else f"{100 * value:.1f} %"

    def with_setting(self, preset: Preset | str | None, value) -> Preset:
        """``preset`` with the task's setting (:attr:`setting`) set to ``value``, and the
        pre-training budgets the preset gives at a sampling rate
        (:meth:`~spadelib.presets.Preset.epochs_at_rate`)."""
        P, value = get_preset(preset), self.check_setting(value)
        budgets = P.epochs_at_rate(value) if self.setting == "mri_rate" else {}
        return P.replace(**{self.setting: value}, **budgets)

    def random_samples(self, preset: Preset | str | None = None, n: int = 1,
                       seed: int = 0) -> SampleSet:
        """``n`` random measurements (:meth:`random_measurement`) with a random ground truth in
        [0, 1) of the image's shape: for timing and shape checks at any preset's size, with no
        data to build. Not for quality: the "ground truth" has nothing to do with ``y``."""
        m = self.random_measurement(preset, batch=n, seed=seed)
        gen = torch.Generator().manual_seed(seed + 1)
        target = torch.rand((n, *self.baseline(m).shape[1:]), generator=gen)
        fields = {f: getattr(m, f) for f in m.measurement_fields}
        constants = {k: v for k, v in vars(m).items() if k not in fields}
        return SampleSet(self.sample_type, {**fields, "target": target}, constants,
                         self.measurement_type, {"what": "random samples for timing"})

    def build_all(self, preset: Preset | str | None = None, progress: bool = True) -> dict:
        """Build (or load from the cache) every data set of the task at ``preset``:
        ``{"train": ..., "val": ..., "test": ...}`` (what ``spade data build`` runs)."""
        train, val = self.training_data(preset, progress)
        return {"train": train, "val": val, "test": self.test_data(preset, progress)}

    def data_version(self) -> int:
        """The version of the task's data synthesis (bumped when it changes)."""
        raise NotImplementedError

    def inputs(self) -> dict:
        """The real inputs the task's data comes from (:mod:`spadelib.inputs`, chosen by
        environment variables): empty for the book's own synthetic inputs."""
        return inputs.current().provenance(self.name)

    def image_size(self, preset: Preset | str | None = None) -> tuple[int, int]:
        """``(H, W)`` of the (high-resolution) images the CNN priors see at ``preset``."""
        raise NotImplementedError

    def training_data(self, preset: Preset | str | None = None,
                      progress: bool = True) -> tuple[SampleSet, SampleSet]:
        """The ``(train, validation)`` sets the task's networks are pre-trained on."""
        raise NotImplementedError

    def test_data(self, preset: Preset | str | None = None, progress: bool = False) -> SampleSet:
        """The test split of the task at ``preset`` (ground truth included)."""
        raise NotImplementedError

    def random_measurement(self, preset: Preset | str | None = None, batch: int = 1,
                           seed: int = 0):
        """A random batched measurement at the preset's size, for timing (no data needed)."""
        raise NotImplementedError

    def train_lr(self, preset: Preset | str | None = None) -> float:
        """The Adam learning rate of the task's pre-training."""
        raise NotImplementedError

    def baseline(self, batch) -> torch.Tensor:
        """The classical reconstruction of a batched measurement, in the ground truth's
        layout."""
        raise NotImplementedError


@dataclass(frozen=True)
class _MRITask(Task):
    def data_version(self) -> int:
        return mri.DATA_VERSION

    def image_size(self, preset=None) -> tuple[int, int]:
        return tuple(get_preset(preset).mri_size)

    def _split(self, split: str, P: Preset, progress: bool) -> SampleSet:
        """A split at ``P.mri_rate``: synthetic, or fastMRI's files where
        ``SPADE_FASTMRI_DIR`` names them (:mod:`spadelib.inputs`)."""
        src = inputs.current()
        if src.fastmri_dir is None:
            return mri_dataset(split, P, P.mri_rate, progress)
        return fastmri_dataset(src.fastmri_dir, split, P, P.mri_rate,
                               contrast=src.fastmri_contrast, progress=progress)

    def training_data(self, preset=None, progress: bool = True):
        """The train and val splits at ``preset.mri_rate`` (synthetic, or fastMRI's)."""
        P = get_preset(preset)
        return self._split("train", P, progress), self._split("val", P, progress)

    def test_data(self, preset=None, progress: bool = False) -> SampleSet:
        return self._split("test", get_preset(preset), progress)

    def random_measurement(self, preset=None, batch: int = 1, seed: int = 0) -> MRIMeasurement:
        r"""k-space ``(B, C, H, W, 2)`` (random, zero off the mask), the preset's Cartesian
        mask ``(B, 1, 1, W, 1)`` and random coil maps with :math:`\sum_i |S_i|^2 = 1` at every
        pixel; ``seed`` seeds the k-space, the maps and the mask offset."""
        P = get_preset(preset)
        batch, seed = checks.positive_int(batch, "batch"), checks.integer(seed, "seed")
        (h, w), c = P.mri_size, P.mri_coils
        gen = torch.Generator().manual_seed(seed)
        maps = torch.randn(batch, c, h, w, 2, generator=gen)
        maps = maps / maps.pow(2).sum(dim=(1, 4), keepdim=True).sqrt()
        mask = cartesian_mask(w, P.mri_rate, seed=seed)[None].expand(batch, 1, 1, w, 1).clone()
        kspace = torch.randn(batch, c, h, w, 2, generator=gen) * mask
        return MRIMeasurement(kspace=kspace, mask=mask, coil_maps=maps)

    def train_lr(self, preset=None) -> float:
        return get_preset(preset).train_lr

    def baseline(self, batch) -> torch.Tensor:
        """The zero-filled reconstruction ``A^H y`` (:func:`spadelib.baselines.mri_zero_filled`)."""
        return mri_zero_filled(batch)


@dataclass(frozen=True)
class _SRTask(Task):
    def data_version(self) -> int:
        return sr.DATA_VERSION

    def image_size(self, preset=None) -> tuple[int, int]:
        P = get_preset(preset)
        return (P.sr_size, P.sr_size)

    def training_data(self, preset=None, progress: bool = True):
        """Random crops of the training photos at ``preset.sr_scale``, noise std drawn in
        ``[0, 2 * preset.sr_noise]``. The crops of the last training photo are held out for
        validation: the SR test photos are never used for model selection."""
        P = get_preset(preset)
        full = sr_dataset("train", P, scale=P.sr_scale, sigma=(0.0, 2 * P.sr_noise),
                          kernels=self._kernels())
        n_val = P.sr_crops_per_image
        idx = list(range(len(full)))
        return full.subset(idx[:-n_val]), full.subset(idx[-n_val:])

    @staticmethod
    def _kernels():
        """The official kernels where ``SPADE_USRNET_KERNELS`` names them, else ``None`` (the
        re-made set)."""
        path = inputs.current().sr_kernels
        return None if path is None else load_kernels(path)

    def test_data(self, preset=None, progress: bool = False) -> SampleSet:
        """Every test photo degraded with every kernel at ``preset.sr_scale``: the built-in
        photos, or the folder ``SPADE_SR_TEST_IMAGES`` names (e.g. CBSD68)."""
        P = get_preset(preset)
        folder = inputs.current().sr_test_images
        if folder is None:
            return sr_dataset("test", P, scale=P.sr_scale, kernels=self._kernels())
        return load_image_folder(folder, P, scale=P.sr_scale, kernels=self._kernels())

    def random_measurement(self, preset=None, batch: int = 1, seed: int = 0) -> SRMeasurement:
        """An LR image ``(B, 3, S/s, S/s)`` for the preset's HR side S and scale s, uniform in
        [0, 1), the first of the 12 kernels (isotropic Gaussian; the official set's first where
        ``SPADE_USRNET_KERNELS`` names it, as for the data), noise ``preset.sr_noise``."""
        P = get_preset(preset)
        batch, seed = checks.positive_int(batch, "batch"), checks.integer(seed, "seed")
        side = P.sr_size // P.sr_scale
        gen = torch.Generator().manual_seed(seed)
        lr = torch.rand(batch, 3, side, side, generator=gen)
        official = self._kernels()
        kernel = (sr_kernels() if official is None else official)[0]
        kernel = kernel.to(torch.float32).expand(batch, -1, -1).clone()
        return SRMeasurement(lr=lr, kernel=kernel, sigma=torch.full((batch,), float(P.sr_noise)),
                             scale=P.sr_scale)

    def train_lr(self, preset=None) -> float:
        return get_preset(preset).sr_train_lr

    def baseline(self, batch) -> torch.Tensor:
        """Bicubic interpolation of the LR images (:func:`spadelib.baselines.bicubic_upsample`)."""
        return bicubic_upsample(batch.y, batch.scale)


MRI = _MRITask("mri", "compressed-sensing MRI", MRIMeasurement, MRISample,
               ("mri_size", "mri_coils", "mri_subjects", "mri_slices_per_subject",
                "mri_train_slices_per_subject", "mri_noise", "mri_rate", "espirit_calib",
                "train_lr"),
               setting="mri_rate", settings=(0.167, 0.125, 0.10))
SR = _SRTask("sr", "super-resolution", SRMeasurement, SRSample,
             ("sr_size", "sr_scale", "sr_noise", "sr_crops_per_image", "sr_train_lr"),
             setting="sr_scale", settings=(2, 3, 4))
TASKS: dict[str, Task] = {"mri": MRI, "sr": SR}


def task_of(network: str | NetworkSpec) -> Task:
    """The :class:`Task` network ``network`` (a name or its
    :class:`~spadelib.models.NetworkSpec`) solves.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Raises:
        ValueError: an unknown network name.
    """
    return TASKS[spec(network).task]


def depends_on(network: str | NetworkSpec, preset: Preset | str | None = None) -> dict:
    """The preset settings the pre-trained ``network`` depends on, ``{field: value}``.

    The fields every pre-training shares (:data:`PRETRAINING_FIELDS`: the preset's name, its
    seed and the budget), those of the network's task (:attr:`Task.fields`) and those of the
    network (:attr:`~spadelib.models.NetworkSpec.fields`); nothing else. A field of
    :data:`KEYED_IF_CHANGED` is listed only where it differs from its old value. Fine-tuning
    settings are not among them: fine-tuning starts from a pre-trained network, it does not
    change it.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        network: a network name or its :class:`~spadelib.models.NetworkSpec`.
        preset: a preset or its name; default: the current one.
    """
    s = spec(network)
    P = get_preset(preset)
    fields = PRETRAINING_FIELDS + TASKS[s.task].fields + s.fields
    return {f: getattr(P, f) for f in fields
            if f not in KEYED_IF_CHANGED or getattr(P, f) != KEYED_IF_CHANGED[f]}


def training_preset(preset: Preset | str | None = None) -> Preset:
    """The preset a network of ``preset`` is pre-trained at: ``preset`` itself, or for a preset
    with ``trains_as`` (``medium``) the named one, at ``preset``'s sampling rate and SR scale.
    The zoo keys, trains, caches and ships every network at this preset, so ``medium`` loads
    the very files ``quick`` made.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Raises:
        ValueError: ``trains_as`` names no preset, or ``preset`` differs from it in a field
            some network's pre-training depends on (beyond the test split's size, which no
            pre-training reads: training and validation subjects come first and keep their
            numbers).
    """
    P = get_preset(preset)
    if P.trains_as is None:
        return P
    base = get_preset(P.trains_as)
    base = base.replace(**{t.setting: getattr(P, t.setting) for t in TASKS.values()},
                        **base.epochs_at_rate(P.mri_rate))
    fields = {f for t in TASKS.values() for f in t.fields} | set(PRETRAINING_FIELDS[1:])
    fields |= {f for name in ("deq", "varnet", "e2e-varnet", "usrnet") for f in spec(name).fields}
    fields.discard("mri_subjects")
    differ = sorted(f for f in fields if getattr(P, f) != getattr(base, f))
    if P.mri_subjects[:2] != base.mri_subjects[:2]:
        differ.insert(0, "mri_subjects (train / val)")
    if differ:
        rated = {name for name, _ in base.epochs_by_rate} & set(differ)
        hint = (f" ({', '.join(sorted(rated))} depends on the sampling rate: move a preset to "
                f"another rate with MRI.with_setting(P, {P.mri_rate:g}), not P.replace)"
                if rated else "")
        raise ValueError(f"preset {P.name!r} trains as {base.name!r} but differs from it in "
                         f"what pre-training reads: {', '.join(differ)}{hint}")
    return base


def changed_only(network: str | NetworkSpec) -> set[str]:
    """The fields of :data:`KEYED_IF_CHANGED` that ``network`` (or its task) depends on: a
    header lists them only where their value is not the old one."""
    s = spec(network)
    return set(KEYED_IF_CHANGED) & set(s.fields + TASKS[s.task].fields)


def preset_from(settings: dict, network: str | NetworkSpec | None = None) -> Preset:
    """A :class:`~spadelib.presets.Preset` holding ``settings`` (as :func:`depends_on` gives
    them, possibly read back from a file: lists become tuples). Fields they lack take the
    values of the preset named ``settings["name"]`` when there is one, else the defaults;
    with ``network`` given, a field of :data:`KEYED_IF_CHANGED` among the network's (or its
    task's) own that they lack takes its old value instead (:func:`depends_on` left it out for being that
    value).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Raises:
        ValueError: ``settings`` names a field no preset has, or an unknown ``network``.
    """
    if not isinstance(settings, dict) or not isinstance(settings.get("name"), str):
        raise ValueError(f"settings must be a dict with the preset's 'name', got {settings!r}")
    known = {f.name for f in dataclasses.fields(Preset)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"settings name fields no preset has: {', '.join(unknown)}")
    old = {} if network is None else {f: KEYED_IF_CHANGED[f] for f in changed_only(network)}
    values = {**old, **{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}}
    base = PRESETS.get(values["name"])
    return base.replace(**values) if base is not None else Preset(**values)


def timed_network(s: NetworkSpec, task: Task, P: Preset, deq_iters: int, seed: int,
                  device="cpu"):
    """``(net, measurement)``: the network of spec ``s`` at ``P`` with weights drawn under
    ``seed`` (time does not depend on their values), the DEQ fixed at ``deq_iters``
    iterations (:func:`spadelib.timing.fix_iterations`), in eval mode on ``device``, and one
    random measurement of its ``task``: what the benches time (Chapters 4 and 8)."""
    torch.manual_seed(seed)
    net = s.build(P)
    fix_iterations(s.name, net, deq_iters)
    return (net.to(device).eval(), task.random_measurement(P, batch=1, seed=seed))
