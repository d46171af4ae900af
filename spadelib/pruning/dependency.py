r"""What is coupled: tracing a CNN with DepGraph and reading its layer groups.

Pruning a CNN filter changes the shapes of every layer that touches the same feature channels.
DepGraph (Fang et al. 2023, ``torch_pruning``) traces the network once and collects these
coupled layers into *layer groups*: the layers whose output filters produce a channel, the norm
layers that act on it, and the layers whose input slices read it. All members of a group share
one prunable dimension of size :math:`K` (the channels). For the paper's example
:math:`\text{Conv}_1 \to \text{BN}_1 \to \text{Conv}_2 \to \text{BN}_2` the groups are
:math:`\{\text{Conv}_1, \text{BN}_1, \text{Conv}_2\}` (the out-filters of Conv1, BN1's
channels, the in-slices of Conv2) and :math:`\{\text{Conv}_2, \text{BN}_2\}`.

:func:`groups` lists them as plain data (:class:`GroupInfo`), :func:`group_scores` adds the
importance of every channel. The tracing helpers here (:func:`check_example_inputs`,
:func:`check_ignored`, :func:`traceable`, :func:`dependency_graph`) are what every other part of
:mod:`spadelib.pruning` traces with. They handle two torch-pruning pitfalls: example inputs must
be a tuple of tensors with batch size >= 2 (a bare tensor is unpacked along its batch axis and
the trace is silently wrong), and in-place activations are switched off while tracing (they
hide InstanceNorm layers from the graph).

Taught in Chapter 3 (``book/03_depgraph.ipynb``).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch_pruning as tp
from torch import nn

from .. import checks
from .importance import make_importance, needs_gradients

__all__ = ["CONV_TYPES", "GroupMember", "GroupInfo", "groups", "group_scores",
           "check_example_inputs", "check_ignored", "traceable", "dependency_graph", "root_of"]

#: the layer types whose output channels root a group, and whose weights the importance reads
CONV_TYPES = (nn.modules.conv._ConvNd,)


# --------------------------------------------------------------------------------------------
# tracing
# --------------------------------------------------------------------------------------------
def check_example_inputs(example_inputs, module: nn.Module | None = None) -> tuple:
    """The example inputs as a tuple of tensors with batch size >= 2 (that ``module`` runs on,
    when given: it is run once in eval mode without gradients, its modes restored).

    Taught in Chapter 3 (``book/03_depgraph.ipynb``).

    Raises:
        TypeError: a bare tensor, or not a non-empty tuple/list.
        ValueError: a batch size < 2, or inputs the module cannot run on.
    """
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
                             f"({checks.reason(err)}); pass inputs it "
                             f"accepts, as module(*example_inputs)") from err
        finally:
            for m, flag in training.items():
                m.training = flag
    return example_inputs


def check_ignored(module: nn.Module, ignored_layers) -> list[nn.Module]:
    """``ignored_layers`` as a list of submodules of ``module``.

    Taught in Chapter 3 (``book/03_depgraph.ipynb``).

    Raises:
        TypeError: a class (``nn.Conv2d``) or anything else that is not a module instance.
        ValueError: a module that is not part of ``module`` (e.g. a layer of the original
            when ``module`` is a deep copy).
    """
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
def traceable(module: nn.Module) -> Iterator[None]:
    """Prepare ``module`` for DepGraph's autograd trace, restore it afterwards.

    In-place activations are switched off (they hide InstanceNorm layers from the graph),
    gradients are enabled and every parameter requires a gradient (the trace follows
    ``grad_fn``), and the train/eval flags that the trace resets are restored on exit.

    Taught in Chapter 3 (``book/03_depgraph.ipynb``).
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


def dependency_graph(module: nn.Module, example_inputs: tuple) -> tp.DependencyGraph:
    """DepGraph of ``module`` (call inside :func:`traceable`, with checked inputs).

    Taught in Chapter 3 (``book/03_depgraph.ipynb``).
    """
    return tp.DependencyGraph().build_dependency(module, example_inputs=example_inputs)


def root_of(group) -> nn.Module:
    """The layer whose output channels define a torch-pruning group.

    Taught in Chapter 3 (``book/03_depgraph.ipynb``).
    """
    return group[0].dep.target.module


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


# --------------------------------------------------------------------------------------------
# layer groups as plain data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupMember:
    """One layer of a layer group.

    Taught in Chapter 3 (``book/03_depgraph.ipynb``).

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

    Taught in Chapter 3 (``book/03_depgraph.ipynb``).

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


def _traced_groups(module, example_inputs, ignored_layers, target_types, importance=None
                   ) -> list[tuple[GroupInfo, torch.Tensor | None]]:
    """(GroupInfo, scores or None) for every prunable group, sorted by root position."""
    module = checks.module(module, "module")
    example_inputs = check_example_inputs(example_inputs, module)
    ignored = check_ignored(module, ignored_layers)
    names = {m: n for n, m in module.named_modules()}
    order = {n: i for i, n in enumerate(names.values())}
    scorer = make_importance(importance) if importance is not None else None
    with traceable(module):
        DG = dependency_graph(module, example_inputs)
        out = []
        for g in DG.get_all_groups(ignored_layers=ignored, root_module_types=tuple(target_types)):
            info = GroupInfo(index=0, channels=int(DG.get_out_channels(root_of(g))),
                             root=names[root_of(g)], members=_group_members(g, names, DG))
            out.append((info, scorer(g).detach().cpu() if scorer is not None else None))
    out.sort(key=lambda pair: order[pair[0].root])
    for i, (info, _) in enumerate(out):
        info.index = i
    return out


def groups(module: nn.Module, example_inputs: tuple, ignored_layers: Sequence[nn.Module] = (),
           target_types: Sequence[type] = CONV_TYPES) -> list[GroupInfo]:
    """The DepGraph layer groups of a CNN (paper section 3), as plain data.

    Traces ``module`` once with ``tp.DependencyGraph().build_dependency`` and lists
    ``DG.get_all_groups(ignored_layers, root_module_types=target_types)``: one group per set of
    coupled channels. A group whose output channels belong to an ignored layer (the output
    conv) is not prunable and is left out; an ignored layer still appears as an ``"in"``
    member of the group it reads from.

    The module is not changed (in-place activations are switched off during the trace only).

    Taught in Chapter 3 (``book/03_depgraph.ipynb``).

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
        TypeError: ``module`` is not a module, ``example_inputs`` is a bare tensor or not a
            tuple, or ``ignored_layers`` holds a class instead of a module.
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


def group_scores(module: nn.Module, example_inputs: tuple, ignored_layers: Sequence[nn.Module] = (),
                 importance: str = "l1",
                 target_types: Sequence[type] = CONV_TYPES) -> list[tuple[GroupInfo, torch.Tensor]]:
    r"""Every layer group of a CNN with the importance of each of its channels.

    With ``importance="l1"`` the scores are eq. (6),
    :func:`~spadelib.pruning.importance.group_l1_importance`: channel k of a group scores
    :math:`\alpha_k`, the mean l1 norm of its out-filters and in-slices over the group's convs;
    pruning at ratio r removes the lowest-scoring channels of each group.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``), on the groups of Chapter 3.

    Args:
        module, example_inputs, ignored_layers, target_types: as for :func:`groups`.
        importance: ``"l1"``, ``"l2"``, ``"random"`` (``"taylor"`` needs gradients: call
            :func:`~spadelib.pruning.prune_module` instead).

    Returns:
        ``[(GroupInfo, scores)]`` with ``scores`` a ``(channels,)`` tensor, in the order of
        :func:`groups`.

    Raises:
        ValueError: a criterion that needs gradients (``"taylor"``, ``"hessian"``, with or
            without ``"-global"``) or an unknown one; and as :func:`groups`.
    """
    if needs_gradients(make_importance(importance)):
        raise ValueError(f"{importance} scores need gradients of a loss; use prune_module(..., "
                         f"importance={importance!r}, loss_fn=...) instead")
    return _traced_groups(module, example_inputs, ignored_layers, target_types, importance)
