r"""How to rank the channels of a layer group: SPADE's group :math:`\ell_1` norm and others.

Torch-pruning's importance estimators take one group and return one score per channel of the
group; local pruning then removes the lowest-scoring channels of every group. SPADE's criterion
is the group :math:`\ell_1` norm of eq. (6), :func:`group_l1_importance`; :func:`make_importance`
maps the names ``"l1"``, ``"l2"``, ``"random"`` and ``"taylor"`` to estimators. Taylor scores
need the gradient of a loss, which :func:`taylor_gradients` fills in before each pruning step.

Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch_pruning as tp
from torch import nn

__all__ = ["IMPORTANCES", "LossFn", "group_l1_importance", "make_importance",
           "importance_name", "taylor_gradients"]

#: what a Taylor importance differentiates: ``loss_fn(cnn, example_inputs) -> scalar``
LossFn = Callable[[nn.Module, tuple], torch.Tensor]

_CONV = [nn.modules.conv._ConvNd]

#: the importance criteria :func:`~spadelib.pruning.prune_module` and
#: :func:`~spadelib.pruning.prune` accept by name, each a factory of a torch-pruning estimator.
#: All read conv weights only and are unnormalised, so every group is ranked on its own.
_FACTORIES: dict[str, Callable[[], tp.importance.Importance]] = {
    "l1": lambda: tp.importance.GroupMagnitudeImportance(
        p=1, group_reduction="mean", normalizer=None, target_types=_CONV),
    "l2": lambda: tp.importance.GroupMagnitudeImportance(
        p=2, group_reduction="mean", normalizer=None, target_types=_CONV),
    "random": lambda: tp.importance.RandomImportance(),
    "taylor": lambda: tp.importance.GroupTaylorImportance(
        group_reduction="mean", normalizer=None, target_types=_CONV),
}
IMPORTANCES = tuple(_FACTORIES)


def make_importance(importance: str | tp.importance.Importance = "l1") -> tp.importance.Importance:
    r"""A torch-pruning importance estimator for a name (or the estimator itself).

    * ``"l1"``: SPADE's group l1 norm, eq. (6) (:func:`group_l1_importance`);
    * ``"l2"``: the same with squared l2 norms, :math:`\frac1M\sum_i\|w_k^i\|_2^2`;
    * ``"random"``: random scores (a baseline any criterion should beat);
    * ``"taylor"``: first-order Taylor scores :math:`\frac1M\sum_i \sum |w \odot
      \partial L / \partial w|` over the same slices (needs gradients, see
      :func:`taylor_gradients`), a data-aware criterion the paper names as future work.

    All are restricted to conv layers and unnormalised, so groups are ranked independently.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Raises:
        ValueError: an unknown name (or anything that is neither a name nor an Importance).
    """
    if isinstance(importance, tp.importance.Importance):
        return importance
    if not isinstance(importance, str) or importance not in _FACTORIES:
        raise ValueError(f"unknown importance {importance!r}; choose one of "
                         f"{', '.join(IMPORTANCES)} or pass a torch_pruning Importance")
    return _FACTORIES[importance]()


def importance_name(importance: str | tp.importance.Importance) -> str:
    """The name a report gives an importance: the name itself, or the estimator's class."""
    return importance if isinstance(importance, str) else type(importance).__name__


def is_taylor(importance: tp.importance.Importance) -> bool:
    """Whether the estimator reads gradients (so a loss must be back-propagated first)."""
    return isinstance(importance, tp.importance.GroupTaylorImportance)


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

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Args:
        group: a ``torch_pruning`` group with full indices (from ``DG.get_all_groups`` or
            ``DG.get_pruning_group(layer, fn, range(K))``).

    Returns:
        ``(K,)`` float tensor, :math:`\alpha_k` per channel of the group's root.
    """
    return make_importance("l1")(group)


def _default_loss(module: nn.Module, example_inputs: tuple) -> torch.Tensor:
    """A data-free proxy: the mean square of the output (how much its energy depends on each
    weight)."""
    return module(*example_inputs).pow(2).mean()


def taylor_gradients(module: nn.Module, example_inputs: tuple,
                     loss_fn: LossFn | None = None) -> None:
    """Fill ``.grad`` of every parameter of ``module`` with the gradient of one loss.

    Taylor importance scores a weight by :math:`|w \\odot \\partial L / \\partial w|`, so a loss
    must be back-propagated before each pruning step. ``loss_fn(module, example_inputs)``
    defaults to the mean square of ``module(*example_inputs)``; pass one that runs real data
    through the task's loss for a data-aware criterion.

    Raises:
        ValueError: the loss is not a scalar tensor that depends on the module's weights.
    """
    module.zero_grad(set_to_none=True)
    with torch.enable_grad():
        loss = (loss_fn or _default_loss)(module, example_inputs)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
            raise ValueError("loss_fn(module, example_inputs) must return a scalar tensor that "
                             "depends on the module's weights")
        loss.backward()
