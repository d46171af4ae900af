"""Pre-trained networks, trained on first use and cached.

``pretrained("deq")`` returns the DEQ trained (supervised, as in the paper) on the current
preset's data. The first call trains it with :func:`spadelib.training.fit` (resuming an
interrupted run) and saves a checkpoint under the cache folder; later calls, and later chapters,
load it. Checkpoints are keyed by the network, the preset fields that concern it (its sizes,
its task's data, the budget), the version of the data synthesis and a format version, and they
carry that configuration inside, so a checkpoint is never loaded into a network or a data
configuration it was not made for.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from .cache import atomic_save, cache_dir, config_key
from .data.common import SampleSet
from .models import TASKS, VERSIONS, build, check_name
from .presets import Preset, get_preset
from .training import FitConfig, History, default_device, fit, supervised_loss

FORMAT = "spadelib-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: corrupted, foreign, or made for another setup."""


# fields that do not affect pre-training: changing them must not invalidate a checkpoint
NOT_PRETRAINING = ("extras", "finetune_epochs", "finetune_lr")
# field-name prefixes that belong to one task only (the shared ones: seed and the budgets)
TASK_FIELDS = {"mri": ("mri_", "espirit_", "deq_", "varnet_", "sens_", "train_lr"),
               "sr": ("sr_", "usrnet_")}
# field-name prefixes that concern some networks of their task only
NETWORK_FIELDS = {"deq_": ("deq",), "varnet_": ("varnet", "e2e-varnet"),
                  "sens_": ("e2e-varnet",), "usrnet_": ("usrnet",)}


def _field_task(field: str) -> str | None:
    for task, prefixes in TASK_FIELDS.items():
        if field.startswith(prefixes):
            return task
    return None


def _concerns(field: str, name: str) -> bool:
    """Whether preset field ``field`` can change the pre-training of network ``name``."""
    if _field_task(field) not in (None, TASKS[name]):
        return False
    for prefix, owners in NETWORK_FIELDS.items():
        if field.startswith(prefix):
            return name in owners
    return True


def preset_config(preset: Preset, name: str | None = None) -> dict:
    """The preset as plain data, less the fields pre-training ignores (what a pre-trained
    checkpoint is keyed by). With a network ``name``, also less the fields that do not concern
    it: those of the other task (an SR setting never invalidates an MRI network, and vice
    versa) and those of the other networks of its task (the DEQ's sizes and recipe never
    invalidate a VarNet)."""
    d = dataclasses.asdict(preset)
    for key in NOT_PRETRAINING:
        d.pop(key, None)
    if name is not None:
        name = check_name(name)
        d = {k: v for k, v in d.items() if _concerns(k, name)}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def data_version(name: str) -> int:
    """The version of the data synthesis network ``name`` is trained on (part of its key)."""
    from .data import mri, sr

    return mri.DATA_VERSION if TASKS[check_name(name)] == "mri" else sr.DATA_VERSION


def checkpoint_path(name: str, preset: Preset) -> Path:
    """Where the pre-trained ``name`` of ``preset`` is cached: keyed by the network, its
    model version, the preset fields of its task and the version of its data synthesis."""
    name = check_name(name)
    key = config_key({"network": name, "preset": preset_config(preset, name),
                      "v": FORMAT_VERSION, "model_version": VERSIONS[name],
                      "data_version": data_version(name)})
    return cache_dir() / f"model-{name}-{preset.name}-{key}.pt"


def training_data(name: str, preset: Preset) -> tuple[SampleSet, SampleSet]:
    """The (train, validation) sets a network is pre-trained on.

    MRI networks: the synthetic train and val splits at ``preset.mri_rate``. USRNet: random
    crops of the training photos at ``preset.sr_scale`` with noise std drawn in
    [0, 2 * preset.sr_noise]; the crops of the last training photo (immunohistochemistry) are
    held out for validation (the SR test photos are never used for model selection).
    """
    from .data import mri_dataset, sr_dataset

    if TASKS[check_name(name)] == "mri":
        return (mri_dataset("train", preset, preset.mri_rate),
                mri_dataset("val", preset, preset.mri_rate))
    full = sr_dataset("train", preset, scale=preset.sr_scale, sigma=(0.0, 2 * preset.sr_noise))
    n_val = preset.sr_crops_per_image
    idx = list(range(len(full)))
    return full.subset(idx[:-n_val]), full.subset(idx[-n_val:])


def fit_config(name: str, preset: Preset) -> FitConfig:
    """The pre-training budget of network ``name`` under ``preset``."""
    lr = preset.sr_train_lr if TASKS[check_name(name)] == "sr" else preset.train_lr
    return FitConfig(epochs=preset.train_epochs, batch_size=preset.train_batch, lr=lr,
                     max_minutes=preset.train_minutes, seed=preset.seed,
                     schedule=preset.train_schedule)


def pretraining_phases(name: str, preset: Preset):
    """The ``before_epoch`` hook of ``name``'s pre-training (:func:`~spadelib.training.fit`),
    or ``None``. It returns the phase label of the epoch (``"unrolled x3"`` or ``"deq"``),
    which ends up in ``History.phase``.

    The DEQ trains unrolled (``preset.deq_warmup_steps`` weight-tied steps, full backprop)
    while less than ``preset.deq_warmup`` of the budget is spent, then as an equilibrium
    model. Under a wall-clock budget this pays: a fixed-point solve costs some 25
    applications of T per step, an unrolled step 3 plus their backward pass, so the warm-up
    makes many cheap steps that put T near a good operator, and the DEQ steps that follow
    only have to adapt it to its fixed point (quick preset, 2.9 minutes: 28.2 dB on the
    test split, against 27.2-27.6 dB trained as a DEQ throughout).
    """
    if check_name(name) != "deq":
        return None
    steps, until = preset.deq_warmup_steps, preset.deq_warmup
    if not 0 <= until < 1:
        raise ValueError(f"deq_warmup must be in [0, 1) (the DEQ must end its pre-training as "
                         f"a DEQ), got {until!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"deq_warmup_steps must be an int >= 1, got {steps!r}")
    if until == 0:
        return None

    def before_epoch(net, spent: float) -> str:
        net.unrolled_steps = steps if spent < until else None
        return f"unrolled x{steps}" if net.unrolled_steps else "deq"

    return before_epoch


def save_checkpoint(net: torch.nn.Module, path: str | Path, name: str, preset: Preset,
                    history: History | None = None) -> Path:
    """Write ``net``'s weights with the configuration they belong to (atomically)."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "network": check_name(name),
               "preset": preset_config(preset, name), "data_version": data_version(name),
               "state_dict": net.state_dict(),
               "history": dataclasses.asdict(history) if history is not None else None}
    return atomic_save(payload, path)


def preset_from_config(config: dict) -> Preset:
    """Rebuild a :class:`Preset` from :func:`preset_config` data (fields it lacks: defaults)."""
    fields = {f.name for f in dataclasses.fields(Preset)}
    return Preset(**{k: tuple(v) if isinstance(v, list) else v
                     for k, v in config.items() if k in fields})


def read_payload(path: str | Path, fmt: str, version: int, name: str | None = None,
                 preset: Preset | str | None = None, *, what: str = "checkpoint",
                 remedy: str = "delete it and run again to retrain"):
    """Read and check the header of a file written by this package.

    Returns ``(payload, network name, preset the file was made with)`` after checking that the
    file loads, has format ``fmt`` at ``version``, holds the network ``name`` (if given) and was
    made with ``preset``'s settings (if given). Every failure is a :class:`CheckpointError`
    that names the file and the mismatch (``what`` names the kind of file in messages).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise CheckpointError(f"{what} {path} is truncated or corrupted ({type(err).__name__}: "
                              f"{str(err)[:120]}); {remedy}") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise CheckpointError(f"{path} is not a spadelib {what}")
    if payload.get("format_version") != version:
        raise CheckpointError(f"{path} has {what} format {payload.get('format_version')}, "
                              f"this spadelib reads format {version}")
    stored = payload["network"]
    if name is not None and check_name(name) != stored:
        raise CheckpointError(f"{path} holds a {stored!r} network, not {check_name(name)!r}")
    made_on = payload.get("data_version")
    if made_on is not None and made_on != data_version(stored):
        raise CheckpointError(f"{path} was made on data version {made_on}, this spadelib "
                              f"builds version {data_version(stored)}; {remedy}")
    stored_preset = payload["preset"]
    if preset is not None:
        wanted = preset_config(get_preset(preset), stored)
        diff = sorted(k for k in set(wanted) | set(stored_preset)
                      if wanted.get(k) != stored_preset.get(k))
        if diff:
            details = ", ".join(f"{k}: file {stored_preset.get(k)!r} vs wanted {wanted.get(k)!r}"
                                for k in diff[:4])
            raise CheckpointError(
                f"{path} was made with preset {stored_preset.get('name')!r} and other settings "
                f"than the {wanted['name']!r} preset you asked for ({details})")
    return payload, stored, preset_from_config(stored_preset)


def load_checkpoint(path: str | Path, name: str | None = None,
                    preset: Preset | str | None = None,
                    device: torch.device | str | None = None) -> torch.nn.Module:
    """Rebuild a network from a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file.
        name: the network you expect (refused if the file holds another).
        preset: the preset you expect (refused if the file was made with other settings);
            ``None`` accepts the file's own preset.
        device: where to put the network.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is truncated or corrupted, is not a spadelib checkpoint, or
            was made for another network or configuration.
    """
    payload, stored, rebuilt = read_payload(path, FORMAT, FORMAT_VERSION, name, preset)
    net = build(stored, rebuilt)
    try:
        net.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit the {stored!r} network: {str(err)[:200]}")
    if payload.get("history"):
        net.history = History(**payload["history"])
    return net.to(device) if device is not None else net


def pretrained(name: str, preset: Preset | str | None = None, *, retrain: bool = False,
               device: torch.device | str | None = None, progress: bool = True):
    """The network ``name`` pre-trained (supervised) on the preset's data, in eval mode.

    The first call trains it (Adam, the preset's budget, a validation PSNR per epoch, the best
    epoch kept), resuming an interrupted run, and caches the checkpoint; later calls load it.
    The training history is attached as ``net.history``.

    Args:
        name: ``"deq"``, ``"varnet"``, ``"e2e-varnet"`` or ``"usrnet"``.
        preset: a preset or its name; default: the current one.
        retrain: ignore a cached checkpoint and train again.
        device: where to train and return the network; default: CUDA if available.
        progress: show progress bars.
    """
    name = check_name(name)
    preset = get_preset(preset)
    device = torch.device(device) if device is not None else default_device()
    path = checkpoint_path(name, preset)
    if path.exists() and not retrain:
        return load_checkpoint(path, name, preset, device).eval()
    torch.manual_seed(preset.seed)
    net = build(name, preset)
    train, val = training_data(name, preset)
    history = fit(net, train, supervised_loss, fit_config(name, preset), val_data=val,
                  checkpoint=path.with_suffix(".partial"), device=device, progress=progress,
                  desc=f"pre-training {name} ({preset.name})",
                  before_epoch=pretraining_phases(name, preset))
    if hasattr(net, "unrolled_steps"):
        net.unrolled_steps = None        # a warm-up that filled the budget ends here too
    save_checkpoint(net, path, name, preset, history)
    net.history = history
    return net.eval()
