"""What pruning did: channels per group, parameters and MACs before and after, histories.

:func:`~spadelib.pruning.prune_module` and :func:`~spadelib.pruning.prune` return a
:class:`PruneReport`: one :class:`PriorReport` per pruned CNN, each with a :class:`GroupChange`
per layer group and torch-pruning's pruning history (what :mod:`~spadelib.pruning.reference`
and :mod:`~spadelib.pruning.io` replay). MACs are counted per **application** of a CNN with
``tp.utils.count_ops_and_params`` and multiplied by the applications one reconstruction makes,
because that counter sees a module once per call and misses FFTs and functional ops. A conv's
MACs grow with the image area, so the size they are counted at is part of the number: the
report keeps it (:attr:`PriorReport.macs_size`) and prints it; pass the task's image size to
``prune(..., macs_size=...)`` (:meth:`spadelib.tasks.Task.image_size`), since the priors' example
inputs are small stand-ins.

Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch_pruning as tp
from torch import nn

__all__ = ["GroupChange", "PriorReport", "PruneReport", "count_macs", "macs_inputs"]


@dataclass
class GroupChange:
    """Channels of one layer group before and after pruning (``root`` names the group).

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
    """

    root: str
    before: int
    after: int


@dataclass
class PriorReport:
    """What pruning did to one CNN.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Attributes:
        name: the prior's name in its network (``"prior"``, ``"cascades.3.model.unet"``), or
            ``""`` for a module pruned on its own.
        params_before, params_after: parameters of the CNN.
        macs_before, macs_after: multiply-accumulates of **one application** of the CNN to one
            item (batch size 1) at the size of ``macs_input``, counted by
            ``tp.utils.count_ops_and_params`` (convs and norms only; transposed convs are
            over-counted by stride^2 by that counter).
        macs_input: the input shapes the MACs were counted at (:attr:`macs_size` is their
            spatial size).
        applications: CNN applications per reconstruction (per item). For the DEQ this is
            the number of solver iterations of its last solve (its budget before any), so the
            per-reconstruction totals of :class:`PruneReport` follow that solve.
        groups: channels of each pruned group, before and after.
        history: torch-pruning's ``pruner.pruning_history()``: a list of
            ``[root layer name, is_out_channel_pruning, removed indices]``, one entry per group
            and pruning step, indices relative to the layer at that step.
    """

    name: str
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    macs_input: list
    applications: int
    groups: list[GroupChange] = field(repr=False)
    history: list = field(repr=False)

    @property
    def param_reduction(self) -> float:
        """Fraction of the CNN's parameters removed."""
        return 1 - self.params_after / self.params_before if self.params_before else 0.0

    @property
    def macs_size(self) -> tuple[int, int] | None:
        """(H, W) the MACs were counted at: that of the first image-like input (a 4-D input
        larger than 1 x 1), or None when there is none (HyPaNet's 1 x 1 parameter maps)."""
        for shape in self.macs_input:
            if len(shape) == 4 and tuple(shape[-2:]) != (1, 1):
                return int(shape[-2]), int(shape[-1])
        return None

    @classmethod
    def from_dict(cls, d: dict) -> "PriorReport":
        """The inverse of ``dataclasses.asdict`` (extra keys are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["groups"] = [GroupChange(**g) for g in d.get("groups", [])]
        return cls(**values)


@dataclass
class PruneReport:
    """What :func:`~spadelib.pruning.prune` (or :func:`~spadelib.pruning.prune_module`) did.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Attributes:
        ratio: the per-group channel ratio used (found by bisection when
            ``target_reduction`` was given).
        importance, steps, round_to: the options used.
        params_before, params_after: parameters of the whole network (of the module for
            :func:`~spadelib.pruning.prune_module`).
        priors: one :class:`PriorReport` per pruned CNN.
        target_reduction: the requested parameter reduction, or None.
        network: the network's name (``"deq"``), or ``""``.
    """

    ratio: float
    importance: str
    steps: int
    round_to: int | None
    params_before: int
    params_after: int
    priors: list[PriorReport] = field(repr=False)
    target_reduction: float | None = None
    network: str = ""

    @property
    def param_reduction(self) -> float:
        """Fraction of all parameters removed (the paper's "actual" pruning ratio)."""
        return 1 - self.params_after / self.params_before if self.params_before else 0.0

    @property
    def cnn_applications(self) -> int:
        """CNN applications in one reconstruction (sum over priors)."""
        return sum(p.applications for p in self.priors)

    @property
    def macs_before(self) -> int:
        """CNN MACs of one reconstruction before pruning: sum of MACs x applications."""
        return sum(p.macs_before * p.applications for p in self.priors)

    @property
    def macs_after(self) -> int:
        """CNN MACs of one reconstruction after pruning."""
        return sum(p.macs_after * p.applications for p in self.priors)

    @property
    def histories(self) -> dict[str, list]:
        """Pruning history of each prior, by prior name."""
        return {p.name: p.history for p in self.priors}

    def to_dict(self) -> dict:
        """Plain data (JSON-friendly) with the derived totals."""
        d = dataclasses.asdict(self)
        d.update(param_reduction=self.param_reduction, cnn_applications=self.cnn_applications,
                 macs_before=self.macs_before, macs_after=self.macs_after)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PruneReport":
        """The report :meth:`to_dict` describes (the derived totals are recomputed)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["priors"] = [PriorReport.from_dict(p) for p in d.get("priors", [])]
        return cls(**values)

    def __str__(self) -> str:
        head = (f"{self.network or 'module'} pruned at channel ratio {self.ratio:.4g} "
                f"({self.importance}, {self.steps} step{'s' if self.steps > 1 else ''}"
                f"{', round_to=%d' % self.round_to if self.round_to else ''}): "
                f"{self.params_before:,} -> {self.params_after:,} parameters "
                f"(-{100 * self.param_reduction:.1f} %)")
        lines = [head]
        for p in self.priors:
            widths = sorted({(g.before, g.after) for g in p.groups})
            size = p.macs_size
            at = f" at {size[0]} x {size[1]}" if size else ""
            lines.append(
                f"  {p.name or 'module'}: {p.params_before:,} -> {p.params_after:,} params, "
                f"{p.macs_before / 1e6:,.1f} -> {p.macs_after / 1e6:,.1f} MMACs per application"
                f"{at} x {p.applications} application{'s' if p.applications != 1 else ''}, "
                f"{len(p.groups)} groups, channels " + ", ".join(f"{b}->{a}" for b, a in widths))
        return "\n".join(lines)


def count_macs(module: nn.Module, inputs: tuple) -> int:
    """MACs of one call ``module(*inputs)`` as torch-pruning counts them.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
    """
    macs, _ = tp.utils.count_ops_and_params(module, inputs)
    return int(macs)


def macs_inputs(example_inputs: tuple, size: Sequence[int] | None) -> tuple:
    """One item of each example input, optionally at spatial size ``size`` (random values).

    Only image-like inputs are resized: a 4-D input whose spatial size is 1 x 1 (USRNet's
    HyPaNet reads the noise level and the scale as a 1 x 1 map) is a vector of parameters,
    and its cost does not grow with the image, so it keeps its size.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
    """
    out = []
    for x in example_inputs:
        if not isinstance(x, torch.Tensor):
            out.append(x)
            continue
        x = x[:1]
        if size is not None and x.dim() >= 1 + len(size) and \
                tuple(x.shape[-len(size):]) != (1,) * len(size):
            x = torch.randn(1, *x.shape[1:-len(size)], *size, dtype=x.dtype, device=x.device)
        out.append(x)
    return tuple(out)
