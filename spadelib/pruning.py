r"""SPADE's structured pruning (paper section 3), built on torch-pruning's DepGraph.

Pruning a CNN filter changes the shapes of every layer that touches the same feature channels.
DepGraph (Fang et al. 2023, ``torch_pruning``) traces the network once and collects these
coupled layers into *layer groups*: the layers whose output filters produce a channel, the
norm layers that act on it, and the layers whose input slices read it. All members of a group
share one prunable dimension of size :math:`K` (the channels). For the paper's example
:math:`\text{Conv}_1 \to \text{BN}_1 \to \text{Conv}_2 \to \text{BN}_2` the groups are
:math:`\{\text{Conv}_1, \text{BN}_1, \text{Conv}_2\}` (the out-filters of Conv1, BN1's
channels, the in-slices of Conv2) and :math:`\{\text{Conv}_2, \text{BN}_2\}`.

SPADE ranks the :math:`K` channels of a group by the group :math:`\ell_1` norm (eq. 6)

.. math::

    \alpha_k = \frac{1}{M} \sum_{i=1}^{M} \|\mathbf w_k^i\|_1, \qquad k = 1, \dots, K,

and removes, in every group, the ``ratio`` fraction of channels with the smallest
:math:`\alpha_k` (local pruning: a group of :math:`K` channels keeps
:math:`\lfloor K (1 - r) \rfloor`). The paper's "pre-defined" channel ratios 5/10/20/40 %
remove about :math:`1 - (1 - r)^2` = 10/20/35/65 % of the parameters, because a conv loses
both output filters and input slices.

The module offers, from the most basic to the most complete:

* :func:`groups`: the layer groups of a CNN as plain data (to print or draw);
* :func:`group_l1_importance`: eq. (6) on one torch-pruning group;
* :func:`prune_module`: prune one plain CNN in place and report what changed;
* :func:`prune`: prune every CNN prior of an MBDL network (a deep copy) at a channel ratio,
  or at the ratio whose parameter reduction is closest to a target;
* :func:`zero_pruned_channels`: the unpruned CNN with the pruned channels set to zero, the
  reference a pruned CNN must equal exactly;
* :func:`save_pruned` / :func:`load_pruned`: store a pruned network as its pruning history plus
  a state dict, and rebuild it in a fresh process.

Two torch-pruning pitfalls are handled here (REFERENCE.md section 4): example inputs must be a
tuple of tensors with batch size >= 2 (a bare tensor is unpacked along its batch axis and the
trace is silently wrong), and in-place activations are switched off while tracing (they hide
InstanceNorm layers from the graph).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch_pruning as tp
from torch import nn

from .cache import atomic_save
from .metrics import count_parameters

__all__ = ["CONV_TYPES", "IMPORTANCES", "GroupMember", "GroupInfo", "GroupChange",
           "PriorReport", "PruneReport", "groups", "group_l1_importance", "make_importance",
           "prune_module", "prune", "zero_pruned_channels", "save_pruned", "load_pruned",
           "check_ratio", "kept_channels"]

#: the layer types whose output channels root a group, and whose weights the importance reads
CONV_TYPES = (nn.modules.conv._ConvNd,)
#: the importance criteria :func:`prune_module` and :func:`prune` accept by name
IMPORTANCES = ("l1", "l2", "random", "taylor")

FORMAT = "spadelib-pruned"
FORMAT_VERSION = 1

LossFn = Callable[[nn.Module, tuple], torch.Tensor]


# --------------------------------------------------------------------------------------------
# validation and tracing helpers
# --------------------------------------------------------------------------------------------
def check_ratio(ratio) -> float:
    """``ratio`` as a float in [0, 1), or ValueError (``pruning ratio must be in [0, 1), ...``)."""
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) \
            or not 0 <= float(ratio) < 1:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio!r}: it is the fraction "
                         f"of channels removed in every layer group (the paper uses 0.05, 0.1, "
                         f"0.2, 0.4)")
    return float(ratio)


def _check_example_inputs(example_inputs, module: nn.Module | None = None) -> tuple:
    """The example inputs as a tuple of tensors with batch size >= 2 that ``module`` accepts."""
    if isinstance(example_inputs, torch.Tensor):
        raise TypeError(
            f"example_inputs must be a tuple of tensors such as (x,), got a bare tensor of shape "
            f"{tuple(example_inputs.shape)}: torch-pruning unpacks a bare tensor along its batch "
            f"axis and traces a wrong graph without any error (the pruned network crashes "
            f"later with a channel mismatch). Pass (x,) instead.")
    if not isinstance(example_inputs, (tuple, list)) or not example_inputs:
        raise TypeError(f"example_inputs must be a non-empty tuple of tensors such as (x,), got "
                        f"{type(example_inputs).__name__}")
    example_inputs = tuple(example_inputs)
    for i, x in enumerate(example_inputs):
        if isinstance(x, torch.Tensor) and (x.dim() == 0 or x.shape[0] < 2):
            raise ValueError(
                f"example input {i} has shape {tuple(x.shape)}: torch-pruning needs a batch "
                f"size >= 2 (a batch of 1 makes singleton axes ambiguous while tracing); use "
                f"e.g. torch.randn(2, ...)")
    if module is not None:
        training = {m: m.training for m in module.modules()}
        try:
            module.eval()            # a trial run must not update BatchNorm statistics
            with torch.no_grad():
                module(*example_inputs)
        except Exception as err:  # noqa: BLE001 - re-raised with what to do
            shapes = [tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                      for x in example_inputs]
            raise ValueError(f"the module cannot run on example_inputs of shapes {shapes} "
                             f"({type(err).__name__}: {str(err)[:200]}); pass inputs it "
                             f"accepts, as module(*example_inputs)") from err
        finally:
            for m, flag in training.items():
                m.training = flag
    return example_inputs


def _check_ignored(module: nn.Module, ignored_layers) -> list[nn.Module]:
    inside = {id(m) for m in module.modules()}
    out = []
    for layer in ignored_layers or ():
        if isinstance(layer, type):
            raise TypeError(f"ignored_layers takes module instances (e.g. net.prior.tail), not "
                            f"classes; got the class {layer.__name__}")
        if not isinstance(layer, nn.Module):
            raise TypeError(f"ignored_layers takes nn.Module instances, got "
                            f"{type(layer).__name__}")
        if id(layer) not in inside:
            raise ValueError(f"ignored layer {layer!r} is not a submodule of the module being "
                             f"pruned; pass the module's own layers (after any deepcopy)")
        out.append(layer)
    return out


@contextlib.contextmanager
def _traceable(module: nn.Module):
    """Prepare ``module`` for DepGraph's autograd trace, restore it afterwards.

    In-place activations are switched off (they hide InstanceNorm layers from the graph),
    gradients are enabled and every parameter requires a gradient (the trace follows
    ``grad_fn``), and the train/eval flags that the trace resets are restored on exit.
    """
    inplace = {m: m.inplace for m in module.modules()
               if isinstance(getattr(m, "inplace", None), bool)}
    training = {m: m.training for m in module.modules()}
    # by name: pruning replaces parameters by new (smaller) ones
    requires = {n: p.requires_grad for n, p in module.named_parameters()}
    for m in inplace:
        m.inplace = False
    for p in module.parameters():
        p.requires_grad_(True)
    try:
        with torch.enable_grad():
            yield
    finally:
        for m, flag in inplace.items():
            m.inplace = flag
        for m, flag in training.items():
            m.training = flag
        for n, p in module.named_parameters():
            p.requires_grad_(requires.get(n, True))


def _build_graph(module: nn.Module, example_inputs: tuple) -> tp.DependencyGraph:
    return tp.DependencyGraph().build_dependency(module, example_inputs=example_inputs)


_FN_NAMES: dict | None = None


def _function_name(handler) -> str:
    """torch-pruning's public name of a pruning function (``prune_conv_out_channels``)."""
    global _FN_NAMES
    if _FN_NAMES is None:
        _FN_NAMES = {}
        fn_module = tp.pruner.function
        for attr in dir(fn_module):
            if attr.startswith("prune_") and (attr.endswith("_out_channels")
                                              or attr.endswith("_in_channels")):
                value = getattr(fn_module, attr)
                key = (id(getattr(value, "__self__", None)), getattr(value, "__func__", value))
                # keep the first name found, preferring "out" for functions used both ways (BN)
                if key not in _FN_NAMES or attr.endswith("_out_channels"):
                    _FN_NAMES[key] = attr
    key = (id(getattr(handler, "__self__", None)), getattr(handler, "__func__", handler))
    if key in _FN_NAMES:
        return _FN_NAMES[key]
    owner = type(getattr(handler, "__self__", None)).__name__
    return f"{owner}.{getattr(handler, '__name__', str(handler))}"


def _root_of(group) -> nn.Module:
    return group[0].dep.target.module


# --------------------------------------------------------------------------------------------
# layer groups
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupMember:
    """One layer of a layer group.

    Attributes:
        layer: dotted name of the layer inside the traced module (``"body.0.body.2"``).
        type: its class name (``"Conv2d"``, ``"InstanceNorm2d"``).
        pruning: ``"out"`` when the group removes output channels of this layer (conv
            out-filters, norm channels), ``"in"`` when it removes input slices (a conv reading
            the channels).
        function: the torch-pruning function doing it (``"prune_conv_out_channels"``).
    """

    layer: str
    type: str
    pruning: str
    function: str


@dataclass
class GroupInfo:
    """A DepGraph layer group as plain data.

    Attributes:
        index: position in :func:`groups`' list (groups sorted by where their root is defined).
        channels: size K of the group's prunable dimension (feature channels).
        root: name of the root layer: the conv whose output channels define the group.
        members: the layers of the group with their pruning direction; only real layers
            (element-wise additions, reshapes and concatenations, which DepGraph also tracks,
            are left out).
    """

    index: int
    channels: int
    root: str
    members: list[GroupMember]

    def layers(self, pruning: str | None = None) -> list[str]:
        """Names of the members, optionally only those pruned ``"out"`` or ``"in"``."""
        return [m.layer for m in self.members if pruning is None or m.pruning == pruning]

    def __str__(self) -> str:
        lines = [f"group {self.index}: {self.channels} channels, root {self.root}"]
        lines += [f"    {m.pruning:>3}  {m.layer} ({m.type})" for m in self.members]
        return "\n".join(lines)


def _group_members(group, names: dict, DG) -> list[GroupMember]:
    """The real layers of a group: output-pruned first, then input-pruned, in module order."""
    order = {n: i for i, n in enumerate(names.values())}
    members, seen = [], set()
    for dep, _ in group:
        layer = dep.target.module
        if layer not in names:          # element-wise ops, reshapes, concatenations
            continue
        direction = "out" if DG.is_out_channel_pruning_fn(dep.handler) else "in"
        key = (names[layer], direction)
        if key in seen:
            continue
        seen.add(key)
        members.append(GroupMember(layer=names[layer], type=type(layer).__name__,
                                   pruning=direction, function=_function_name(dep.handler)))
    members.sort(key=lambda m: (m.pruning != "out", order[m.layer]))
    return members


def groups(module: nn.Module, example_inputs: tuple, ignored_layers: Sequence[nn.Module] = (),
           target_types: Sequence[type] = CONV_TYPES) -> list[GroupInfo]:
    """The DepGraph layer groups of a CNN (paper section 3), as plain data.

    Traces ``module`` once with ``tp.DependencyGraph().build_dependency`` and lists
    ``DG.get_all_groups(ignored_layers, root_module_types=target_types)``: one group per set of
    coupled channels. A group whose output channels belong to an ignored layer (the output
    conv) is not prunable and is left out; an ignored layer still appears as an ``"in"``
    member of the group it reads from.

    The module is not changed (in-place activations are switched off during the trace only).

    Args:
        module: a CNN, e.g. ``net.prior`` of the DEQ.
        example_inputs: a tuple of tensors the CNN accepts, batch size >= 2, e.g.
            ``(torch.randn(2, 2, 32, 32),)``.
        ignored_layers: module instances never pruned (the output conv).
        target_types: layer types that root a group (default: all convolutions).

    Returns:
        A list of :class:`GroupInfo`, sorted by the position of the root in
        ``module.named_modules()``.

    Raises:
        TypeError: ``example_inputs`` is a bare tensor or not a tuple, or ``ignored_layers``
            holds a class instead of a module.
        ValueError: a batch size < 2, inputs the module cannot run on, or an ignored layer that
            is not part of ``module``.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 5, 3),
        ...                     nn.BatchNorm2d(5))
        >>> [g.layers() for g in groups(net, (torch.randn(2, 3, 8, 8),))]
        [['0', '1', '2'], ['2', '3']]
    """
    return [info for info, _ in _traced_groups(module, example_inputs, ignored_layers,
                                                target_types)]


def _traced_groups(module, example_inputs, ignored_layers, target_types, importance=None):
    """(GroupInfo, scores or None) for every prunable group, sorted by root position."""
    example_inputs = _check_example_inputs(example_inputs, module)
    ignored = _check_ignored(module, ignored_layers)
    names = {m: n for n, m in module.named_modules()}
    order = {n: i for i, n in enumerate(names.values())}
    scorer = make_importance(importance) if importance is not None else None
    with _traceable(module):
        DG = _build_graph(module, example_inputs)
        found = list(DG.get_all_groups(ignored_layers=ignored,
                                       root_module_types=tuple(target_types)))
        out = []
        for g in found:
            info = GroupInfo(index=0, channels=int(DG.get_out_channels(_root_of(g))),
                             root=names[_root_of(g)], members=_group_members(g, names, DG))
            scores = scorer(g).detach().cpu() if scorer is not None else None
            out.append((info, scores))
    out.sort(key=lambda pair: order[pair[0].root])
    for i, (info, _) in enumerate(out):
        info.index = i
    return out


def group_scores(module: nn.Module, example_inputs: tuple, ignored_layers: Sequence[nn.Module] = (),
                 importance: str = "l1",
                 target_types: Sequence[type] = CONV_TYPES) -> list[tuple[GroupInfo, torch.Tensor]]:
    """Every layer group of a CNN with the importance of each of its channels.

    With ``importance="l1"`` the scores are eq. (6), :func:`group_l1_importance`: channel k of
    a group scores :math:`\\alpha_k`, the mean l1 norm of its out-filters and in-slices over
    the group's convs; pruning at ratio r removes the lowest-scoring channels of each group.

    Args:
        module, example_inputs, ignored_layers, target_types: as for :func:`groups`.
        importance: ``"l1"``, ``"l2"``, ``"random"`` (``"taylor"`` needs gradients: call
            :func:`prune_module` instead).

    Returns:
        ``[(GroupInfo, scores)]`` with ``scores`` a ``(channels,)`` tensor, in the order of
        :func:`groups`.
    """
    if importance == "taylor":
        raise ValueError("taylor scores need gradients of a loss; use prune_module(..., "
                         "importance='taylor', loss_fn=...) instead")
    return _traced_groups(module, example_inputs, ignored_layers, target_types, importance)


# --------------------------------------------------------------------------------------------
# importance
# --------------------------------------------------------------------------------------------
def group_l1_importance(group) -> torch.Tensor:
    r"""The group :math:`\ell_1` norm of eq. (6) for one torch-pruning group.

    .. math:: \alpha_k = \frac{1}{M} \sum_{i=1}^{M} \|\mathbf w_k^i\|_1

    computed by ``GroupMagnitudeImportance(p=1, group_reduction="mean", normalizer=None,
    target_types=[nn.modules.conv._ConvNd])``. What M and :math:`\mathbf w_k^i` are:

    * the sum runs over the *conv entries* of the group (norm layers are ignored, biases too);
      each conv whose **output** channels the group prunes contributes its out-filter
      :math:`\mathbf w_k^i = W[k, :, :, :]` (``(C_in, kh, kw)``; for a transposed conv
      ``W[:, k]``), each conv that **reads** the channels contributes its in-slice
      :math:`\mathbf w_k^i = W[:, k, :, :]` (``(C_out, kh, kw)``);
    * M is the number of such entries. For the group :math:`\{\text{Conv}_1, \text{BN}_1,
      \text{Conv}_2\}` of the paper's example, M = 2: the out-filter ``conv1.weight[k]`` and
      the in-slice ``conv2.weight[:, k]``, so
      :math:`\alpha_k = \tfrac12(\|W_1[k]\|_1 + \|W_2[:, k]\|_1)`.
    * The in-slice of an *ignored* layer (the output conv) that reads the group's channels is
      part of the group and counts too. Where channels reach a conv through a concatenation
      (U-Net skips) only the slice of those channels is read, and M is still the number of
      conv entries of the group.

    Args:
        group: a ``torch_pruning`` group with full indices (from ``DG.get_all_groups`` or
            ``DG.get_pruning_group(layer, fn, range(K))``).

    Returns:
        ``(K,)`` float tensor, :math:`\alpha_k` per channel of the group's root.
    """
    return make_importance("l1")(group)


def make_importance(importance: str | tp.importance.Importance = "l1"):
    """A torch-pruning importance estimator for a name (or the estimator itself).

    * ``"l1"``: SPADE's group l1 norm, eq. (6) (:func:`group_l1_importance`);
    * ``"l2"``: the same with squared l2 norms, :math:`\\frac1M\\sum_i\\|w_k^i\\|_2^2`;
    * ``"random"``: random scores (a baseline any criterion should beat);
    * ``"taylor"``: first-order Taylor scores :math:`\\frac1M\\sum_i \\sum |w \\odot
      \\partial L / \\partial w|` over the same slices (needs gradients; see
      :func:`prune_module`), a data-aware criterion the paper names as future work.

    All are restricted to conv layers and unnormalised, so groups are ranked independently.

    Raises:
        ValueError: unknown name.
    """
    if isinstance(importance, tp.importance.Importance):
        return importance
    conv = [nn.modules.conv._ConvNd]
    if importance == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1, group_reduction="mean",
                                                      normalizer=None, target_types=conv)
    if importance == "l2":
        return tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean",
                                                      normalizer=None, target_types=conv)
    if importance == "random":
        return tp.importance.RandomImportance()
    if importance == "taylor":
        return tp.importance.GroupTaylorImportance(group_reduction="mean", normalizer=None,
                                                   target_types=conv)
    raise ValueError(f"unknown importance {importance!r}; choose one of "
                     f"{', '.join(IMPORTANCES)} or pass a torch_pruning Importance")


def _importance_name(importance) -> str:
    return importance if isinstance(importance, str) else type(importance).__name__


def _default_loss(module: nn.Module, example_inputs: tuple) -> torch.Tensor:
    return module(*example_inputs).pow(2).mean()


def _taylor_gradients(module: nn.Module, example_inputs: tuple, loss_fn: LossFn | None) -> None:
    """Fill ``.grad`` of every parameter with the gradient of one loss (for Taylor scores)."""
    module.zero_grad(set_to_none=True)
    with torch.enable_grad():
        loss = (loss_fn or _default_loss)(module, example_inputs)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
            raise ValueError("loss_fn(module, example_inputs) must return a scalar tensor that "
                             "depends on the module's weights")
        loss.backward()


# --------------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------------
@dataclass
class GroupChange:
    """Channels of one layer group before and after pruning (``root`` names the group)."""

    root: str
    before: int
    after: int


@dataclass
class PriorReport:
    """What pruning did to one CNN.

    Attributes:
        name: the prior's name in its network (``"prior"``, ``"cascades.3.model.unet"``), or
            ``""`` for a module pruned on its own.
        params_before, params_after: parameters of the CNN.
        macs_before, macs_after: multiply-accumulates of **one application** of the CNN to one
            item (batch size 1) at the size of ``macs_input``, counted by
            ``tp.utils.count_ops_and_params`` (convs and norms only; transposed convs are
            over-counted by stride^2 by that counter).
        macs_input: the input shapes the MACs were counted at.
        applications: CNN applications per reconstruction (per item).
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


@dataclass
class PruneReport:
    """What :func:`prune` (or :func:`prune_module`) did.

    Attributes:
        ratio: the per-group channel ratio used (found by bisection when
            ``target_reduction`` was given).
        importance, steps, round_to: the options used.
        params_before, params_after: parameters of the whole network (of the module for
            :func:`prune_module`).
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

    def __str__(self) -> str:
        head = (f"{self.network or 'module'} pruned at channel ratio {self.ratio:.4g} "
                f"({self.importance}, {self.steps} step{'s' if self.steps > 1 else ''}"
                f"{', round_to=%d' % self.round_to if self.round_to else ''}): "
                f"{self.params_before:,} -> {self.params_after:,} parameters "
                f"(-{100 * self.param_reduction:.1f} %)")
        lines = [head]
        for p in self.priors:
            widths = sorted({(g.before, g.after) for g in p.groups})
            lines.append(
                f"  {p.name or 'module'}: {p.params_before:,} -> {p.params_after:,} params, "
                f"{p.macs_before / 1e6:,.1f} -> {p.macs_after / 1e6:,.1f} MMACs per application "
                f"x {p.applications}, {len(p.groups)} groups, channels "
                + ", ".join(f"{b}->{a}" for b, a in widths))
        return "\n".join(lines)


def _macs(module: nn.Module, inputs: tuple) -> int:
    macs, _ = tp.utils.count_ops_and_params(module, inputs)
    return int(macs)


def _macs_inputs(example_inputs: tuple, size: Sequence[int] | None) -> tuple:
    """One item of each example input, optionally at spatial size ``size``."""
    out = []
    for x in example_inputs:
        if not isinstance(x, torch.Tensor):
            out.append(x)
            continue
        x = x[:1]
        if size is not None:
            x = torch.randn(1, *x.shape[1:-len(size)], *size, dtype=x.dtype, device=x.device)
        out.append(x)
    return tuple(out)


# --------------------------------------------------------------------------------------------
# pruning one CNN
# --------------------------------------------------------------------------------------------
def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an int >= 1 (iterative pruning steps), got {steps!r}")
    return int(steps)


def _check_round_to(round_to) -> int | None:
    if round_to is None:
        return None
    if isinstance(round_to, bool) or not isinstance(round_to, numbers.Integral) or round_to < 1:
        raise ValueError(f"round_to must be None or an int >= 1 (keep channel counts multiples "
                         f"of it), got {round_to!r}")
    return int(round_to)


def kept_channels(channels: int, ratio: float, round_to: int | None = None) -> int:
    """Channels a group of ``channels`` keeps at ``ratio`` (torch-pruning's local rule).

    :math:`\\lfloor K (1 - r) \\rfloor`, rounded down to a multiple of ``round_to`` when some
    channel is removed: 64 channels keep 60 / 57 / 51 / 38 at r = 0.05 / 0.1 / 0.2 / 0.4.
    """
    keep = int(channels * (1 - ratio))
    if round_to and keep < channels:
        keep -= keep % round_to
    return keep


def _check_feasible(names: dict, roots: list, before: list, ratio: float,
                    round_to: int | None) -> None:
    for root, k in zip(roots, before):
        if ratio > 0 and kept_channels(k, ratio, round_to) < 1:
            extra = f" rounded to a multiple of {round_to}" if round_to else ""
            raise ValueError(f"pruning ratio {ratio:g}{extra} would remove all {k} channels of "
                             f"the group rooted at {names[root]!r}; use a smaller ratio"
                             f"{' or round_to' if round_to else ''}")


def _prune_cnn(module: nn.Module, example_inputs: tuple, ratio: float, ignored: list,
               importance, steps: int, round_to: int | None, loss_fn: LossFn | None,
               seed: int, macs_size, name: str = "", applications: int = 1) -> PriorReport:
    """Prune ``module`` in place (inputs already validated) and report what changed."""
    names = {m: n for n, m in module.named_modules()}
    macs_in = _macs_inputs(example_inputs, macs_size)
    params_before = count_parameters(module)
    macs_before = _macs(module, macs_in)
    imp = make_importance(importance)
    taylor = isinstance(imp, tp.importance.GroupTaylorImportance)
    with _traceable(module), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pruner = tp.pruner.BasePruner(
            module, example_inputs, importance=imp, pruning_ratio=ratio, iterative_steps=steps,
            ignored_layers=ignored, round_to=round_to, root_module_types=list(CONV_TYPES))
        roots = [_root_of(g) for g in pruner.DG.get_all_groups(
            ignored_layers=pruner.ignored_layers, root_module_types=list(CONV_TYPES))]
        before = [int(pruner.DG.get_out_channels(r)) for r in roots]
        _check_feasible(names, roots, before, ratio, round_to)
        if ratio > 0:
            for _ in range(steps):
                if taylor:
                    _taylor_gradients(module, example_inputs, loss_fn)
                pruner.step()
            if taylor:
                module.zero_grad(set_to_none=True)
        after = [int(pruner.DG.get_out_channels(r)) for r in roots]
        history = [[str(n), bool(out), [int(getattr(i, "idx", i)) for i in idxs]]
                   for n, out, idxs in pruner.pruning_history()]
    order = {n: i for i, n in enumerate(names.values())}
    changes = sorted((GroupChange(names[r], b, a) for r, b, a in zip(roots, before, after)),
                     key=lambda g: order[g.root])
    return PriorReport(name=name, params_before=params_before,
                       params_after=count_parameters(module), macs_before=macs_before,
                       macs_after=_macs(module, macs_in),
                       macs_input=[list(x.shape) for x in macs_in if isinstance(x, torch.Tensor)],
                       applications=int(applications), groups=changes, history=history)


def prune_module(module: nn.Module, example_inputs: tuple, ratio: float,
                 ignored_layers: Sequence[nn.Module] = (), importance="l1", steps: int = 1,
                 round_to: int | None = None, *, loss_fn: LossFn | None = None, seed: int = 0,
                 macs_size: Sequence[int] | None = None) -> PruneReport:
    r"""Prune a plain CNN **in place**: SPADE's filter pruning (paper section 3).

    Builds ``tp.pruner.BasePruner`` with local pruning (each group ranked on its own) at
    ``pruning_ratio=ratio``, convs as group roots, and calls ``pruner.step()`` ``steps``
    times: with ``iterative_steps=steps`` the ratio grows linearly, ``ratio * s / steps`` after
    step s, so channels are removed progressively from the least to the most important, the
    scores being recomputed on the remaining weights at each step. A group of K channels keeps
    :math:`\lfloor K(1 - r)\rfloor` channels (rounded down to a multiple of ``round_to`` when
    given).

    Importance ``"taylor"`` needs gradients: before each step it runs ``loss_fn(module,
    example_inputs)`` (default: the mean square of ``module(*example_inputs)``, a data-free
    proxy: how much the output's energy depends on each weight) and one backward pass; the
    gradients are cleared afterwards. Pass a ``loss_fn`` that runs real data and the task's
    loss for a data-aware criterion.

    Args:
        module: the CNN (e.g. ``net.prior``); changed in place.
        example_inputs: tuple of tensors it accepts, batch size >= 2.
        ratio: channel ratio in [0, 1) removed from every group; 0 leaves the module unchanged.
        ignored_layers: module instances never pruned: the output conv, never the input conv
            (ignoring the head freezes a whole residual trunk).
        importance: ``"l1"`` (the paper's, eq. 6), ``"l2"``, ``"random"``, ``"taylor"``, or a
            ``torch_pruning`` Importance.
        steps: pruning steps (>= 1).
        round_to: keep channel counts multiples of this, rounding the kept count *down* (so
            more is removed than ``ratio`` says and the paper's counts are lost); None for the
            paper's convention. On a CPU, oneDNN pads channels to blocks of 16 (AVX-512) or 8
            (AVX2), so a conv's time follows ceil(C / 16): 51, 57 and 60 channels run as slowly
            as 64, and ``round_to=16`` (or 8) turns channel savings into speed.
        loss_fn: for ``"taylor"``: ``loss_fn(module, example_inputs) -> scalar``.
        seed: seeds the random importance.
        macs_size: spatial size ``(H, W)`` at which MACs are counted; default: that of the
            example inputs.

    Returns:
        A :class:`PruneReport` with one :class:`PriorReport` (named ``""``); its ``history``
        is the pruner's ``pruning_history()``.

    Raises:
        ValueError: ratio outside [0, 1), steps < 1, bad round_to, unknown importance, batch
            size < 2.
        TypeError: a bare tensor as ``example_inputs``; a class in ``ignored_layers``.
    """
    ratio = check_ratio(ratio)
    steps = _check_steps(steps)
    round_to = _check_round_to(round_to)
    make_importance(importance)
    example_inputs = _check_example_inputs(example_inputs, module)
    ignored = _check_ignored(module, ignored_layers)
    report = _prune_cnn(module, example_inputs, ratio, ignored, importance, steps, round_to,
                        loss_fn, seed, macs_size)
    return PruneReport(ratio=ratio, importance=_importance_name(importance), steps=steps,
                       round_to=round_to, params_before=report.params_before,
                       params_after=report.params_after, priors=[report])


# --------------------------------------------------------------------------------------------
# pruning an MBDL network
# --------------------------------------------------------------------------------------------
def _priors_of(model) -> list:
    priors = getattr(model, "priors", None)
    if not callable(priors):
        raise TypeError(f"{type(model).__name__} declares no CNN priors: prune() needs an "
                        f"MBDLNetwork whose priors() lists the CNNs to prune (use "
                        f"spadelib.models.build(...)); for a plain CNN use prune_module()")
    specs = list(priors())
    if not specs:
        raise ValueError(f"{type(model).__name__}.priors() is empty: there is no CNN to prune; "
                         f"declare the priors (PriorSpec) or use prune_module() on a CNN")
    seen = set()
    for spec in specs:
        if id(spec.module) in seen:
            raise ValueError(f"prior {spec.name!r} is declared twice; declare each CNN once "
                             f"and set its applications instead")
        seen.add(id(spec.module))
    return specs


def _parameter_reduction(model: nn.Module, ratio: float, steps: int,
                         round_to: int | None) -> float:
    """Whole-network parameter reduction at ``ratio``, pruning copies of the priors only.

    The count does not depend on *which* channels are removed (local pruning removes the same
    number per group whatever the importance), so copies are pruned with the l1 criterion.
    """
    total = count_parameters(model)
    removed = 0
    for spec in _priors_of(model):
        module, ignored = copy.deepcopy((spec.module, list(spec.ignored_layers)))
        inputs = tuple(x.clone() if isinstance(x, torch.Tensor) else x
                       for x in spec.example_inputs)
        names = {m: n for n, m in module.named_modules()}
        with _traceable(module):
            pruner = tp.pruner.BasePruner(
                module, inputs, importance=make_importance("l1"), pruning_ratio=ratio,
                iterative_steps=steps, ignored_layers=ignored, round_to=round_to,
                root_module_types=list(CONV_TYPES))
            roots = [_root_of(g) for g in pruner.DG.get_all_groups(
                ignored_layers=pruner.ignored_layers, root_module_types=list(CONV_TYPES))]
            try:
                _check_feasible(names, roots, [pruner.DG.get_out_channels(r) for r in roots],
                                ratio, round_to)
            except ValueError:
                return math.inf       # too much: some group would lose every channel
            for _ in range(steps if ratio > 0 else 0):
                pruner.step()
        removed += count_parameters(spec.module) - count_parameters(module)
    return removed / total


def _find_ratio(model: nn.Module, target: float, steps: int, round_to: int | None,
                tol: float = 1e-4) -> float:
    """The channel ratio whose whole-network parameter reduction is closest to ``target``.

    The reduction is a non-decreasing step function of the ratio: bisection finds the smallest
    ratio reaching the target, then the closer of it and the ratio just below wins.
    """
    lo, hi = 0.0, 0.99
    f_lo = 0.0
    f_hi = _parameter_reduction(model, hi, steps, round_to)
    if f_hi < target:
        raise ValueError(f"target_reduction {target:g} is out of reach: a channel ratio of "
                         f"{hi} removes only {100 * f_hi:.1f} % of the parameters")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        f_mid = _parameter_reduction(model, mid, steps, round_to)
        if f_mid >= target:
            hi, f_hi = mid, f_mid
        else:
            lo, f_lo = mid, f_mid
    return hi if abs(f_hi - target) <= abs(target - f_lo) else lo


def prune(model: nn.Module, ratio: float | None = None, *, target_reduction: float | None = None,
          steps: int = 1, importance="l1", round_to: int | None = None,
          loss_fn: LossFn | None = None, seed: int = 0,
          macs_size: Sequence[int] | None = None) -> tuple[nn.Module, PruneReport]:
    r"""SPADE-prune every CNN prior of an MBDL network; the original is left untouched.

    Deep-copies ``model`` and prunes each :class:`~spadelib.models.base.PriorSpec` of the copy's
    ``priors()`` separately (:func:`prune_module` with the prior's own example inputs and
    ignored layers): each VarNet cascade's U-Net, the DEQ's EDSR, USRNet's ResUNet. Nothing
    else (step sizes, E2E-VarNet's sensitivity network, USRNet's HyPaNet) is touched.

    With ``target_reduction`` the channel ratio is found by bisection (pruning copies) so that
    the fraction of the *whole network's* parameters removed is as close as possible to the
    target: the paper's 65 % corresponds to a channel ratio of 0.4.

    Args:
        model: an :class:`~spadelib.models.base.MBDLNetwork` (anything with ``priors()``).
        ratio: per-group channel ratio in [0, 1) (the paper's 0.05, 0.1, 0.2, 0.4).
        target_reduction: alternatively, the fraction of parameters to remove, in (0, 1).
        steps: progressive pruning steps (see :func:`prune_module`).
        importance: ``"l1"`` (the paper's), ``"l2"``, ``"random"`` or ``"taylor"``.
        round_to: keep channel counts multiples of this (None: the paper's counts; see
            :func:`prune_module`).
        loss_fn: for ``"taylor"``: ``loss_fn(cnn, example_inputs) -> scalar``, called per prior.
        seed: seeds the random importance.
        macs_size: ``(H, W)`` at which MACs per application are counted (default: the
            priors' example size); pass the image size of the data for meaningful numbers.

    Returns:
        ``(pruned_model, report)``: the pruned copy (same training mode as ``model``) and a
        :class:`PruneReport` (whole-network parameters, per-prior MACs and channels, histories).

    Raises:
        TypeError: ``model`` declares no priors (a plain ``nn.Module``).
        ValueError: ``priors()`` is empty; not exactly one of ``ratio`` / ``target_reduction``;
            a ratio outside [0, 1) or a target outside (0, 1).

    Example:
        >>> from spadelib.models import build
        >>> pruned, report = prune(build("deq", "paper"), 0.4)
        >>> report.params_after                              # the paper's Table 1
        353328
    """
    if (ratio is None) == (target_reduction is None):
        raise ValueError("give exactly one of ratio (the channel ratio, e.g. 0.4) and "
                         "target_reduction (the fraction of parameters to remove, e.g. 0.65)")
    steps = _check_steps(steps)
    round_to = _check_round_to(round_to)
    make_importance(importance)
    _priors_of(model)
    if target_reduction is not None:
        if isinstance(target_reduction, bool) or not isinstance(target_reduction, numbers.Real) \
                or not 0 < float(target_reduction) < 1:
            raise ValueError(f"target_reduction must be in (0, 1), got {target_reduction!r}: "
                             f"the fraction of the network's parameters to remove")
        ratio = _find_ratio(model, float(target_reduction), steps, round_to)
    ratio = check_ratio(ratio)
    pruned = copy.deepcopy(model)
    params_before = count_parameters(pruned)
    reports = []
    for spec in _priors_of(pruned):
        inputs = _check_example_inputs(spec.example_inputs, spec.module)
        ignored = _check_ignored(spec.module, spec.ignored_layers)
        reports.append(_prune_cnn(spec.module, inputs, ratio, ignored, importance, steps,
                                  round_to, loss_fn, seed, macs_size, name=spec.name,
                                  applications=spec.applications))
    report = PruneReport(ratio=ratio, importance=_importance_name(importance), steps=steps,
                         round_to=round_to, params_before=params_before,
                         params_after=count_parameters(pruned), priors=reports,
                         target_reduction=None if target_reduction is None
                         else float(target_reduction),
                         network=str(getattr(model, "name", "") or type(model).__name__))
    return pruned, report


# --------------------------------------------------------------------------------------------
# the zeroed reference
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def _zero_out_channels(layer: nn.Module, idxs: list[int]) -> None:
    """Make channels ``idxs`` of ``layer``'s output exactly zero (for zero input channels)."""
    if not idxs:
        return
    idx = torch.as_tensor(idxs, dtype=torch.long)
    weight = getattr(layer, "weight", None)
    bias = getattr(layer, "bias", None)
    if isinstance(layer, nn.modules.batchnorm._BatchNorm) and not layer.affine:
        raise ValueError(f"cannot zero channels of a non-affine {type(layer).__name__}: its "
                         f"output for a zero input is -mean/std, not 0")
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):
        weight[:, idx] = 0               # (C_in, C_out / groups, kh, kw)
    elif isinstance(weight, torch.Tensor):
        weight[idx] = 0                  # conv (C_out, ...), linear, norm affine weight
    if isinstance(bias, torch.Tensor):
        bias[idx] = 0


@torch.no_grad()
def zero_pruned_channels(module: nn.Module, example_inputs: tuple, history: list) -> nn.Module:
    """Zero, in an unpruned CNN, exactly the channels a pruning history removes (in place).

    For every history entry ``[root, is_out, idxs]`` the group of ``root`` is rebuilt with
    torch-pruning (``DG.get_pruning_group``), and every member whose **output** channels it
    removes gets those channels zeroed: conv out-filters and biases, transposed-conv
    ``W[:, k]``, affine weight and bias of norm layers. Then the removed channels carry exact
    zeros everywhere (ReLU(0) = 0; a zero channel stays zero through a non-affine
    InstanceNorm, (0 - 0) / sqrt(0 + eps) = 0; residual sums of zero channels are zero), so the
    layers reading them see the same as after removal: the pruned CNN must equal this one.
    Histories of several steps are mapped back to the original channel indices.

    Args:
        module: the **unpruned** CNN (a copy of the one that was pruned).
        example_inputs: its example inputs (tuple, batch >= 2).
        history: ``report.priors[i].history`` (``pruner.pruning_history()``).

    Returns:
        ``module``, for chaining.

    Raises:
        ValueError: a history entry names a layer the module does not have, or a non-affine
            BatchNorm would have to be zeroed (its output for zero input is not zero).
    """
    example_inputs = _check_example_inputs(example_inputs)
    modules = dict(module.named_modules())
    names = {m: n for n, m in modules.items()}
    with _traceable(module):
        DG = _build_graph(module, example_inputs)
        alive: dict[tuple[str, bool], list[int]] = {}
        for name, is_out, idxs in history:
            if name not in modules:
                raise ValueError(f"the history prunes layer {name!r}, which this module does "
                                 f"not have: it belongs to another network")
            layer = modules[name]
            pruner = DG.get_pruner_of_module(layer)
            fn = pruner.prune_out_channels if is_out else pruner.prune_in_channels
            key = (name, bool(is_out))
            if key not in alive:
                n = DG.get_out_channels(layer) if is_out else DG.get_in_channels(layer)
                alive[key] = list(range(int(n)))
            original = [alive[key][int(i)] for i in idxs]
            removed = set(int(i) for i in idxs)
            alive[key] = [c for j, c in enumerate(alive[key]) if j not in removed]
            group = DG.get_pruning_group(layer, fn, original)
            for dep, dep_idxs in group:
                target = dep.target.module
                if target in names and DG.is_out_channel_pruning_fn(dep.handler):
                    _zero_out_channels(target, [int(getattr(i, "idx", i)) for i in dep_idxs])
    return module


# --------------------------------------------------------------------------------------------
# saving and loading pruned networks
# --------------------------------------------------------------------------------------------
def save_pruned(pruned: nn.Module, path: str | Path, name: str, preset, report: PruneReport
                ) -> Path:
    """Store a pruned network so that a fresh process can rebuild it (atomically).

    The file holds the network name, the preset configuration (``zoo.preset_config``), the
    ratio and options, the pruning history of each prior and the state dict: the architecture
    is not pickled, it is rebuilt by :func:`load_pruned` from the preset and the histories.

    Args:
        pruned: the network returned by :func:`prune` (possibly fine-tuned since).
        path: the file to write.
        name: the network's name (``"deq"``, ...).
        preset: the preset (or its name) the network was built with.
        report: the :class:`PruneReport` of that pruning.

    Returns:
        The path written.

    Raises:
        ValueError: ``name`` is not the network's name, or the report's priors are not the
            network's.
    """
    from .models import check_name
    from .presets import get_preset
    from .zoo import data_version, preset_config

    name = check_name(name)
    own = getattr(pruned, "name", None)
    if own and own != name:
        raise ValueError(f"this is a {own!r} network, not {name!r}; pass its own name")
    declared = [s.name for s in _priors_of(pruned)]
    if sorted(declared) != sorted(p.name for p in report.priors):
        raise ValueError(f"the report prunes priors {[p.name for p in report.priors]} but the "
                         f"network declares {declared}; pass the report of this network")
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "network": name,
               "preset": preset_config(get_preset(preset), name),
               "data_version": data_version(name), "ratio": report.ratio,
               "options": {"importance": report.importance, "steps": report.steps,
                           "round_to": report.round_to,
                           "target_reduction": report.target_reduction},
               "params": report.params_after,
               "histories": {p.name: p.history for p in report.priors},
               "state_dict": pruned.state_dict()}
    return atomic_save(payload, path)


def load_pruned(path: str | Path, name: str | None = None, preset=None,
                device: torch.device | str | None = None) -> nn.Module:
    """Rebuild a pruned network written by :func:`save_pruned`.

    Builds a fresh network with ``models.build(name, preset)``, replays each prior's pruning
    history (``tp.DependencyGraph().build_dependency(prior, example_inputs)
    .load_pruning_history(history)``) so that every layer gets its pruned shape, then loads the
    state dict. The result is the saved network exactly.

    Args:
        path: the file.
        name: the network you expect (refused if the file holds another); None accepts it.
        preset: the preset you expect (refused if the file was made with other settings);
            None accepts the file's own.
        device: where to put the network.

    Raises:
        FileNotFoundError: no such file.
        spadelib.zoo.CheckpointError: a truncated or foreign file, or one made for another
            network, preset or architecture.
    """
    from .models import build
    from .zoo import CheckpointError, read_payload

    path = Path(path)
    payload, stored, stored_preset = read_payload(
        path, FORMAT, FORMAT_VERSION, name, preset, what="pruned network",
        remedy="prune and save the network again")
    net = build(stored, stored_preset)
    histories = payload["histories"]
    specs = _priors_of(net)
    missing = sorted({s.name for s in specs} ^ set(histories))
    if missing:
        raise CheckpointError(f"{path} has pruning histories for {sorted(histories)} but the "
                              f"{stored!r} network declares priors {[s.name for s in specs]}")
    for spec in specs:
        try:
            with _traceable(spec.module):
                DG = _build_graph(spec.module, _check_example_inputs(spec.example_inputs))
                DG.load_pruning_history([list(h) for h in histories[spec.name]])
        except CheckpointError:
            raise
        except Exception as err:  # noqa: BLE001
            raise CheckpointError(f"{path}: the pruning history of {spec.name!r} does not fit "
                                  f"the {stored!r} network ({type(err).__name__}: "
                                  f"{str(err)[:160]})") from None
    try:
        net.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit the pruned {stored!r} network: "
                              f"{str(err)[:200]}") from None
    return net.to(device) if device is not None else net
