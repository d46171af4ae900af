"""The zeroed-channels reference: what a pruned CNN must equal exactly.

Removing a channel whose activations are exactly zero changes nothing downstream. So the
unpruned CNN with the pruned channels set to zero (:func:`zero_pruned_channels`) computes the
same function as the pruned CNN; comparing the two is the strongest check of a pruning there
is.

Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
"""
from __future__ import annotations

import torch
from torch import nn

from .. import checks
from .dependency import check_example_inputs, dependency_graph, traceable

__all__ = ["zero_pruned_channels"]


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

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Args:
        module: the **unpruned** CNN (a copy of the one that was pruned).
        example_inputs: its example inputs (tuple, batch >= 2).
        history: ``report.priors[i].history`` (``pruner.pruning_history()``).

    Returns:
        ``module``, for chaining.

    Raises:
        TypeError: ``module`` is not a module, or bad ``example_inputs`` (as
            :func:`~spadelib.pruning.groups`).
        ValueError: a history entry names a layer the module does not have, or a non-affine
            BatchNorm would have to be zeroed (its output for zero input is not zero).
    """
    module = checks.module(module, "module")
    example_inputs = check_example_inputs(example_inputs)
    modules = dict(module.named_modules())
    names = {m: n for n, m in modules.items()}
    with traceable(module):
        DG = dependency_graph(module, example_inputs)
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
