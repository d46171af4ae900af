"""Saving a pruned network and rebuilding it in a fresh process.

A pruned network is not pickled. :func:`save_pruned` writes a ``"pruned"`` file in the
package's one format (:mod:`spadelib.checkpoints`): a header that says which network it is, the
version of its code, the preset settings it was built from (:func:`spadelib.tasks.depends_on`),
the version of its task's data and the pruning options, and a payload with the state dict,
torch-pruning's pruning history of every prior and the report. :func:`load_pruned` builds the
network afresh (:func:`spadelib.models.build`), replays each history so that every layer takes
its pruned shape (``DependencyGraph.load_pruning_history``), and loads the state dict.

A file that cannot be used (damaged, another kind, another network, preset, code or data
version) is refused with :class:`~spadelib.checkpoints.CheckpointError` naming the file and
what is wrong.

Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .. import checkpoints, checks
from ..checkpoints import CheckpointError
from ..metrics import count_parameters
from ..models import build, check_name, spec
from ..models.base import weights_mismatch
from ..presets import Preset, get_preset
from ..tasks import depends_on, preset_from, task_of
from .dependency import check_example_inputs, dependency_graph, traceable
from .pruner import priors_of
from .report import PruneReport

__all__ = ["save_pruned", "load_pruned"]

KIND = "pruned"


def _expected(name: str) -> dict:
    """The header fields this spadelib requires of a pruned ``name``: its code and data."""
    return {"model_version": spec(name).version, "data_version": task_of(name).data_version()}


def save_pruned(pruned: nn.Module, path: str | os.PathLike, name: str,
                preset: Preset | str | None, report: PruneReport) -> Path:
    """Store a pruned network so that a fresh process can rebuild it (atomically).

    The header holds the network's name, its model version, the preset settings it depends on
    (:func:`spadelib.tasks.depends_on`), its data version and the pruning options; the payload
    holds the state dict, the pruning history of each prior and the report. The architecture is
    not pickled: :func:`load_pruned` rebuilds it from the settings and the histories.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Args:
        pruned: the network returned by :func:`~spadelib.pruning.prune` (possibly fine-tuned
            since).
        path: the file to write.
        name: the network's name (``"deq"``, ...).
        preset: the preset (or its name) the network was built with.
        report: the :class:`~spadelib.pruning.report.PruneReport` of that pruning.

    Returns:
        The path written.

    Raises:
        TypeError: ``pruned`` is not a module, or ``report`` is not a PruneReport.
        ValueError: ``name`` is not the network's name, the report's priors are not the
            network's, or the report counts other parameters than the network has (the report
            of another pruning); the network does not fit ``preset`` (its unpruned sizes are
            another preset's: the file would not load); a tensor holds NaN or Inf.
    """
    pruned = checks.module(pruned, "pruned")
    name = check_name(name)
    if not isinstance(report, PruneReport):
        raise TypeError(f"report must be the PruneReport returned by prune(), got "
                        f"{type(report).__name__}")
    own = getattr(pruned, "name", None)
    if own and own != name:
        raise ValueError(f"this is a {own!r} network, not {name!r}; pass its own name")
    declared = [s.name for s in priors_of(pruned)]
    if sorted(declared) != sorted(p.name for p in report.priors):
        raise ValueError(f"the report prunes priors {[p.name for p in report.priors]} but the "
                         f"network declares {declared}; pass the report of this network")
    if count_parameters(pruned) != report.params_after:
        raise ValueError(f"the report leaves {report.params_after:,} parameters but the network "
                         f"has {count_parameters(pruned):,}; pass the report of this pruning")
    options = pruned.build_options() if getattr(pruned, "variant", None) not in (None, "zoo") \
        else {}
    try:
        mismatch = weights_mismatch(pruned, lambda: _rebuild(
            name, preset_from(depends_on(name, preset), name), options, report.histories))
    except ValueError as err:
        mismatch = str(err)
    if mismatch:      # refused here: the file would fail only when someone loads it
        raise ValueError(f"this pruned {name!r} network was not built with the "
                         f"{get_preset(preset).name!r} preset's sizes ({mismatch}); pass the "
                         "preset it was built with")
    header = {"network": name, **_expected(name), "depends_on": depends_on(name, preset),
              "ratio": report.ratio, "importance": report.importance, "steps": report.steps,
              "round_to": report.round_to, "target_reduction": report.target_reduction,
              "params_before": report.params_before, "params_after": report.params_after,
              "priors": declared}
    if options:
        header["build_options"] = options   # the official USRNet: its own size
    payload = {"state_dict": pruned.state_dict(), "histories": report.histories,
               "report": report.to_dict()}
    return checkpoints.write(path, KIND, payload, header)


def _rebuild(name: str, settings: Preset, build_options: dict, histories: dict) -> nn.Module:
    """A fresh ``name`` at ``settings`` with every prior's pruning history replayed: the pruned
    architecture, with fresh weights.

    Raises:
        ValueError: the histories name other priors than the network's, or one does not fit.
    """
    net = build(name, settings, **build_options)
    specs = priors_of(net)
    if {s.name for s in specs} != set(histories):
        raise ValueError(f"it has pruning histories for {sorted(histories)} but the {name!r} "
                         f"network declares priors {[s.name for s in specs]}")
    for s in specs:
        try:
            with traceable(s.module):
                DG = dependency_graph(s.module, check_example_inputs(s.example_inputs))
                DG.load_pruning_history([list(h) for h in histories[s.name]])
        except Exception as err:  # noqa: BLE001 - any failure means the history does not fit
            raise ValueError(f"the pruning history of {s.name!r} does not fit the {name!r} "
                             f"network ({checks.reason(err)})") from None
    return net


def load_pruned(path: str | os.PathLike, name: str | None = None,
                preset: Preset | str | None = None,
                device: torch.device | str | None = None) -> nn.Module:
    """Rebuild a pruned network written by :func:`save_pruned`.

    Builds a fresh network with ``models.build(name, settings)`` from the settings stored in
    the file, replays each prior's pruning history
    (``tp.DependencyGraph().build_dependency(prior, example_inputs)
    .load_pruning_history(history)``) so that every layer gets its pruned shape, then loads the
    state dict. The result is the saved network exactly; its report is attached as
    ``net.prune_report``.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Args:
        path: the file.
        name: the network you expect (refused if the file holds another); None accepts it.
        preset: the preset you expect (refused if the file was made with other settings);
            None accepts the file's own.
        device: where to put the network.

    Raises:
        FileNotFoundError: no such file.
        spadelib.checkpoints.CheckpointError: a damaged file (a flipped byte, a truncated
            file), one of another kind, or one made for another network, preset, model version
            or data version, or whose histories or weights do not fit the network.
    """
    want = check_name(name) if name is not None else None
    header, payload = checkpoints.read(path, KIND, network=want)
    try:
        stored = check_name(header.get("network"))
    except ValueError:
        raise CheckpointError(f"{path} holds an unknown network {header.get('network')!r}"
                              ) from None
    checkpoints.check_header(header, path, **_expected(stored),
                             depends_on=None if preset is None else depends_on(stored, preset))
    try:
        settings = preset_from(header.get("depends_on"), stored)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its preset settings are unusable ({err})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("histories"), dict) \
            or not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(f"{path}: its payload lacks the state dict or the pruning "
                              f"histories; prune and save the network again")
    try:
        net = _rebuild(stored, settings, header.get("build_options", {}), payload["histories"])
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from None
    try:
        net.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit the pruned {stored!r} network: "
                              f"{checks.reason(err)}") from None
    if isinstance(payload.get("report"), dict):
        net.prune_report = PruneReport.from_dict(payload["report"])
    return net.to(device) if device is not None else net
