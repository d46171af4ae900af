"""Pre-trained networks, trained on first use and cached.

``pretrained("deq")`` returns the DEQ trained (supervised, as in the paper) on the current
preset's data. The first call trains it with :func:`spadelib.training.fit` (resuming an
interrupted run) and saves a checkpoint under the cache folder; later calls, and later chapters,
load it.

A checkpoint is a ``"pretrained"`` file of :mod:`spadelib.checkpoints` whose header says what
the weights belong to: the network, its model version, the version of its task's data synthesis
and the preset settings it depends on (:func:`spadelib.tasks.depends_on`, an explicit list:
the shared budget, its task's data, its own sizes). The file name is keyed by the same facts,
and they are checked again on load, so a checkpoint is never loaded into a network or a data
configuration it was not made for. A cached checkpoint that cannot be used is moved aside with
a warning and the network is trained again; a file you name yourself
(:func:`load_checkpoint`) is refused with a :class:`CheckpointError` that says why.
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import torch

from . import __version__ as SPADELIB_VERSION
from . import checkpoints, checks, inputs
from .checkpoints import CheckpointError
from .data.common import SampleSet
from .models import NETWORKS, NetworkSpec, spec
from .models.base import weights_mismatch
from .models.usrnet_official import load_usrnet_official
from .presets import PRESETS, Preset, get_preset, require_cli

from .tasks import Task, changed_only, depends_on, preset_from, task_of, training_preset
from .training import FitConfig, History, default_device, fit, supervised_loss

__all__ = ["CheckpointError", "KIND", "checkpoint_header", "checkpoint_path", "data_version",
           "training_data", "fit_config", "pretraining_phases", "save_checkpoint",
           "load_checkpoint", "pretrained", "load_usrnet_official", "shipped_path", "ship",
           "ship_command"]

KIND = "pretrained"


# --------------------------------------------------------------------------------------------
# private helpers: they take a checked NetworkSpec, its Task and a Preset
# --------------------------------------------------------------------------------------------
def _preset(preset) -> Preset:
    if preset is not None and not isinstance(preset, (Preset, str)):
        raise TypeError(f"preset must be a Preset or a preset name such as 'quick', got "
                        f"{type(preset).__name__}")
    return training_preset(preset)


def _header(s: NetworkSpec, task: Task, P: Preset) -> dict:
    header = {"network": s.name, "model_version": s.version, "data_version":
              task.data_version(), "depends_on": depends_on(s, P)}
    real = task.inputs()                 # empty for the book's own inputs: keys unchanged
    if real:
        header["inputs"] = real
    return header


def _path(s: NetworkSpec, task: Task, P: Preset) -> Path:
    return checkpoints.cache_dir() / (f"model-{s.name}-{P.name}-"
                                      f"{checkpoints.config_key(_header(s, task, P))}.pt")


def _shipped(s: NetworkSpec, task: Task, P: Preset) -> Path:
    return checkpoints.SHIPPED / "models" / _path(s, task, P).name


def _load_shipped(s: NetworkSpec, task: Task, P: Preset, header: dict):
    """The network shipped with the repository for ``P``, or ``None`` (no such file, or a file
    that does not fit: then a warning says why and the caller trains)."""
    path = _shipped(s, task, P)
    if not path.exists():
        return None
    try:
        stored, payload = checkpoints.read(path, KIND, **header)
        net = _network_from(stored, payload, path)
    except CheckpointError as err:
        warnings.warn(f"the shipped weights cannot be used ({err}); training {s.name} instead",
                      stacklevel=3)
        return None
    net.made_by = stored.get("made_by")
    return net


def _pretrain_command(s: NetworkSpec, task: Task, P: Preset) -> str:
    """The ``spade pretrain`` command that caches ``s`` at ``P``: with ``--setting`` where
    ``P``'s sampling rate or SR scale is not its named preset's (each has its own network)."""
    field = task.setting
    value, named = getattr(P, field), PRESETS.get(P.name)
    setting = f" --setting {value:g}" if named is None or value != getattr(named, field) else ""
    return f"spade pretrain {s.name} --preset {P.name}{setting}"


def _fit_config(s: NetworkSpec, task: Task, P: Preset) -> FitConfig:
    return FitConfig(epochs=getattr(P, s.epochs_field), batch_size=P.train_batch,
                     lr=task.train_lr(P), seed=P.seed, schedule=P.train_schedule)


def _phases(s: NetworkSpec, P: Preset):
    if s.name != "deq":
        return None
    until = checks.fraction(P.deq_warmup, "deq_warmup")    # it must end as a DEQ: < 1
    steps = checks.positive_int(P.deq_warmup_steps, "deq_warmup_steps")
    if until == 0:
        return None

    def before_epoch(net, spent: float) -> str:
        net.unrolled_steps = steps if spent < until else None
        return f"unrolled x{steps}" if net.unrolled_steps else "deq"

    return before_epoch


def _payload(net: torch.nn.Module, history: History | None) -> dict:
    return {"state_dict": net.state_dict(),
            "history": dataclasses.asdict(history) if history is not None else None}


def _network_from(header: dict, payload: dict, path: Path) -> torch.nn.Module:
    """The network a checked file describes, with its weights and history."""
    stored = header["network"]
    settings = header.get("depends_on")
    wanted = set(depends_on(NETWORKS[stored], get_preset("quick")))
    optional = changed_only(stored)                                   # listed if changed
    if not isinstance(settings, dict) or set(settings) - optional != wanted - optional:
        got = sorted(settings) if isinstance(settings, dict) else settings
        raise CheckpointError(f"{path} records the settings {got}, but a {stored!r} network "
                              f"depends on {sorted(wanted)}: it was written by another version "
                              "of spadelib")
    net = NETWORKS[stored].build(preset_from(settings, stored))
    try:
        net.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} does not fit the {stored!r} network: "
                              f"{checks.reason(err)}") from None
    if payload.get("history"):
        try:
            net.history = History(**payload["history"])
        except TypeError as err:
            raise CheckpointError(f"{path}: its training history does not fit this spadelib's "
                                  f"History ({err})") from None
    return net


# --------------------------------------------------------------------------------------------
# public API: names and presets are checked here, once
# --------------------------------------------------------------------------------------------
def checkpoint_header(name: str, preset: Preset | str | None = None) -> dict:
    """What a pre-trained checkpoint of ``name`` under ``preset`` says about itself:
    ``{network, model_version, data_version, depends_on}``.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    s = spec(name)
    return _header(s, task_of(s), _preset(preset))


def checkpoint_path(name: str, preset: Preset | str | None = None) -> Path:
    """Where the pre-trained ``name`` of ``preset`` is cached:
    ``model-{name}-{preset name}-{key}.pt``, the key a hash of :func:`checkpoint_header`.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    s = spec(name)
    return _path(s, task_of(s), _preset(preset))


def data_version(name: str) -> int:
    """The version of the data synthesis network ``name`` is trained on (part of its key).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    return task_of(name).data_version()


def training_data(name: str, preset: Preset | str | None = None) -> tuple[SampleSet, SampleSet]:
    """The (train, validation) sets a network is pre-trained on: its task's
    (:meth:`spadelib.tasks.Task.training_data`).

    MRI networks: the synthetic train and val splits at ``preset.mri_rate``. USRNet: random
    crops of the training photos at ``preset.sr_scale`` with noise std drawn in
    [0, 2 * preset.sr_noise]; the crops of the last training photo are held out for
    validation (the SR test photos are never used for model selection).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    return task_of(name).training_data(_preset(preset))


def fit_config(name: str, preset: Preset | str | None = None) -> FitConfig:
    """The pre-training budget of network ``name`` under ``preset``.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    s = spec(name)
    return _fit_config(s, task_of(s), _preset(preset))


def pretraining_phases(name: str, preset: Preset | str | None = None):
    """The ``before_epoch`` hook of ``name``'s pre-training (:func:`~spadelib.training.fit`),
    or ``None``. It returns the phase label of the epoch (``"unrolled x3"`` or ``"deq"``),
    which ends up in ``History.phase``.

    The DEQ trains unrolled (``preset.deq_warmup_steps`` weight-tied steps, full backprop)
    while less than ``preset.deq_warmup`` of the budget is spent, then as an equilibrium
    model. Under a wall-clock budget this pays: a fixed-point solve costs many applications
    of T per step, an unrolled step only a few plus their backward pass, so the warm-up makes
    many cheap steps that put T near a good operator, and the DEQ steps that follow only have
    to adapt it to its fixed point. Chapter 2 shows the two phases and what they gain.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Raises:
        ValueError: ``deq_warmup`` is not in [0, 1) (the DEQ must end its pre-training as a
            DEQ) or ``deq_warmup_steps`` is not an int >= 1.
    """
    return _phases(spec(name), _preset(preset))


def _check_official_size(net: torch.nn.Module, P: Preset, path: Path) -> None:
    """Say so when the official weights are not the preset's USRNet: refused at the paper
    preset (whose tables are the released network's), a warning with both sizes elsewhere
    (the file's network is used at its own size)."""
    ours = {"channels": tuple(P.usrnet_channels), "blocks": P.usrnet_blocks,
            "iters": P.usrnet_iters}
    got = {k: (tuple(v) if isinstance(v, (list, tuple)) else v)
           for k, v in net.build_options().items() if k in ours}
    if got == ours:
        return
    size = lambda d: ", ".join(f"{k}={d[k]}" for k in ours)          # noqa: E731
    with torch.random.fork_rng(devices=[]):
        expected = sum(p.numel() for p in NETWORKS["usrnet"].build(P).parameters())
    text = (f"SPADE_USRNET_WEIGHTS={path} holds a USRNet with {size(got)} "
            f"({sum(p.numel() for p in net.parameters()):,} parameters), not the {P.name!r} "
            f"preset's USRNet ({size(ours)}, {expected:,} parameters)")
    if P.name == "paper":
        raise CheckpointError(f"{text}: the paper preset reproduces the paper with the released "
                              "network; point SPADE_USRNET_WEIGHTS at the authors' usrnet.pth "
                              "(not usrnet_tiny.pth), or unset it to use the zoo's USRNet")
    warnings.warn(f"{text}; using the file's network at its own size", stacklevel=3)


def save_checkpoint(net: torch.nn.Module, path: str | Path, name: str, preset: Preset | str,
                    history: History | None = None, *, trained_on: dict | None = None) -> Path:
    """Write ``net``'s weights (and its training ``history``) with the facts they belong to
    (:func:`checkpoint_header`), atomically, as a ``"pretrained"`` file.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        net: the network.
        path: the file to write.
        name: the network's name (``"deq"``, ...).
        preset: the preset it was built and trained with, or its name.
        history: its training history, if any.
        trained_on: facts about how it was trained that do not change what it is keyed by
            (e.g. ``{"devices": 4}`` for a data-parallel run), stored in the header.

    Raises:
        ValueError: an unknown network or preset name, ``net`` is another network than
            ``name``, its weights do not fit the network ``preset`` builds (another preset's
            sizes), or a weight holds NaN or Inf (never written).
        TypeError: ``net`` is not a network, or ``preset`` is neither a preset nor a name.
    """
    checks.module(net, "net")
    s, P = spec(name), _preset(preset)
    own = getattr(net, "name", None)
    if own and own != s.name:
        raise ValueError(f"this is a {own!r} network, not {s.name!r}; pass its own name")
    mismatch = weights_mismatch(net, lambda: s.build(P))
    if mismatch:      # refused here: the file would fail only when someone loads it
        raise ValueError(f"these weights are not those of the {P.name!r} preset's {s.name!r} "
                         f"network ({mismatch}); pass the preset it was built with")
    header = _header(s, task_of(s), P)
    if trained_on:
        header["trained_on"] = dict(trained_on)
    return checkpoints.write(path, KIND, _payload(net, history), header)


def load_checkpoint(path: str | Path, name: str | None = None,
                    preset: Preset | str | None = None,
                    device: torch.device | str | None = None) -> torch.nn.Module:
    """Rebuild a network from a checkpoint written by :func:`save_checkpoint`.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        path: the checkpoint file.
        name: the network you expect (refused if the file holds another).
        preset: the preset you expect (refused if the file was made with other settings);
            ``None`` accepts the file's own settings.
        device: where to put the network.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is truncated or corrupted, is not a spadelib checkpoint, or
            was made for another network, model version, data version or configuration.
    """
    s = spec(name) if name is not None else None
    P = _preset(preset) if preset is not None else None
    header, payload = checkpoints.read(path, KIND)
    stored = header.get("network")
    if stored not in NETWORKS:
        raise CheckpointError(f"{path} holds an unknown network {stored!r}")
    if s is not None and s.name != stored:
        raise CheckpointError(f"{path} holds a {stored!r} network, not {s.name!r}")
    s = NETWORKS[stored]
    checkpoints.check_header(header, path, model_version=s.version,
                             data_version=task_of(s).data_version(),
                             depends_on=depends_on(s, P) if P is not None else None)
    net = _network_from(header, payload, Path(path))
    return net.to(device) if device is not None else net


def pretrained(name: str, preset: Preset | str | None = None, *, retrain: bool = False,
               device: torch.device | str | None = None, progress: bool = True):
    """The network ``name`` pre-trained (supervised) on the preset's data, in eval mode.

    The first call trains it (Adam, the preset's budget, a validation PSNR per epoch, the best
    epoch kept), resuming an interrupted run, and caches the checkpoint; later calls load it.
    A cached checkpoint that cannot be used (damaged, or made for other settings) is moved
    aside with a warning and the network is trained again. The training history is attached
    as ``net.history``.

    Where ``SPADE_USRNET_WEIGHTS`` names the official USRNet weights (:mod:`spadelib.inputs`),
    ``pretrained("usrnet")`` is that network (:func:`load_usrnet_official`, no training, no
    ``history``), as in the paper.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        name: ``"deq"``, ``"varnet"``, ``"e2e-varnet"`` or ``"usrnet"``.
        preset: a preset or its name; default: the current one.
        retrain: ignore a cached checkpoint and train again.
        device: where to train and return the network; default: CUDA if available.
        progress: show progress bars.
    """
    s, P = spec(name), _preset(preset)
    task = task_of(s)                    # resolved once, passed to every step below
    retrain = checks.flag(retrain, "retrain")
    device = torch.device(device) if device is not None else default_device()
    official = inputs.current().usrnet_weights if s.name == "usrnet" else None
    if official is not None:             # SPADE_USRNET_WEIGHTS: the paper's network, not ours
        net = load_usrnet_official(official)
        _check_official_size(net, P, official)
        net.history = None
        return net.to(device).eval()
    path = _path(s, task, P)
    header = _header(s, task, P)
    if not retrain:
        hit = checkpoints.load_cached(path, KIND, **header)
        if hit is not None:
            try:
                net = _network_from(*hit, path)
                net.made_by = hit[0].get("made_by")
                return net.to(device).eval()
            except CheckpointError as err:
                checkpoints.move_aside(path, str(err).replace(f"{path} ", ""))
        net = _load_shipped(s, task, P, header)
        if net is not None:
            return net.to(device).eval()
    require_cli(P, f"pre-training {s.name}", _pretrain_command(s, task, P))
    hook = _phases(s, P)
    torch.manual_seed(P.seed)
    net = s.build(P)
    train, val = task.training_data(P, progress)
    history = fit(net, train, supervised_loss, _fit_config(s, task, P), val_data=val,
                  checkpoint=path.with_suffix(".partial"), device=device, progress=progress,
                  desc=f"pre-training {s.name} ({P.name})", before_epoch=hook)
    if hasattr(net, "unrolled_steps"):
        net.unrolled_steps = None        # a warm-up that filled the budget ends here too
    checkpoints.write(path, KIND, _payload(net, history), header)
    net.history, net.made_by = history, None
    return net.eval()


def shipped_path(name: str, preset: Preset | str | None = None) -> Path:
    """Where the repository ships the pre-trained ``name`` of ``preset``:
    ``shipped/models/`` and the cache's file name (:func:`checkpoint_path`).
    :func:`pretrained` loads it when the cache has no such network.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    s = spec(name)
    return _shipped(s, task_of(s), _preset(preset))


def ship_command(name: str, preset: Preset | str | None = None) -> str:
    """The command that makes the shipped weights of ``name`` (``spade pretrain NAME --preset
    P --ship``)."""
    s = spec(name)
    return _pretrain_command(s, task_of(s), _preset(preset)) + " --ship"


def ship(name: str, preset: Preset | str | None = None, *, command: str | None = None) -> Path:
    """Copy the cached pre-trained ``name`` of ``preset`` to :func:`shipped_path`, its header
    extended by ``made_by``: the command, the versions, the machine, the date and the seconds
    its pre-training took (:func:`spadelib.checkpoints.provenance`).

    Raises:
        FileNotFoundError: the cache holds no such network (pre-train it first).
    """
    s, P = spec(name), _preset(preset)
    task = task_of(s)
    path, header = _path(s, task, P), _header(s, task, P)
    if not path.exists():
        raise FileNotFoundError(f"no pre-trained {s.name} ({P.name}) in the cache at {path}; "
                                f"run `{_pretrain_command(s, task, P)}` first")
    stored, payload = checkpoints.read(path, KIND, **header)
    history = payload.get("history") or {}
    seconds = (history.get("seconds") or [float("nan")])[-1]
    made = checkpoints.provenance(command or _pretrain_command(s, task, P) + " --ship", seconds,
                                  spadelib=SPADELIB_VERSION)
    stored = {k: v for k, v in stored.items() if k != "kind"}
    return checkpoints.write(_shipped(s, task, P), KIND, payload, {**stored, "made_by": made})
