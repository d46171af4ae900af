r"""How to rank the channels of a layer group: SPADE's group :math:`\ell_1` norm and others.

Torch-pruning's importance estimators take one group and return one score per channel of the
group; local pruning then removes the lowest-scoring channels of every group. SPADE's criterion
is the group :math:`\ell_1` norm of eq. (6), :func:`group_l1_importance`; :func:`make_importance`
maps the names ``"l1"``, ``"l2"``, ``"random"`` and ``"taylor"`` (Chapter 4) and ``"lamp"`` and
``"hessian"`` (Chapter 8) to estimators. Taylor and Hessian scores need gradients of a loss,
which :func:`fill_gradients` computes before each pruning step (:func:`taylor_gradients`,
:func:`hessian_gradients`).

A *criterion* is an importance name, optionally with the suffix ``"-global"``
(:func:`parse_criterion`): ``"l1"`` removes the same fraction of channels in every group (the
paper), ``"l1-global"`` ranks the channels of all groups of a CNN together and removes the same
number of channels in all, so some groups lose more than others.

Taught in Chapters 4 (``book/04_l1_pruning.ipynb``) and 8 (the criteria beyond the paper).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch_pruning as tp
from torch import nn

__all__ = ["IMPORTANCES", "CRITERIA", "GLOBAL_SUFFIX", "LossFn", "criterion_names",
           "parse_criterion", "group_l1_importance", "make_importance", "importance_name",
           "needs_gradients", "fill_gradients", "taylor_gradients", "hessian_gradients"]

#: what a Taylor importance differentiates: ``loss_fn(cnn, example_inputs) -> scalar`` (for
#: a Hessian importance, the per-sample losses: a ``(B,)`` tensor)
LossFn = Callable[[nn.Module, tuple], torch.Tensor]

_CONV = [nn.modules.conv._ConvNd]


def _lamp() -> tp.importance.Importance:
    """LAMP: squared group l2 norms, each divided by the sum of those not smaller (conv only)."""
    imp = tp.importance.LAMPImportance(p=2, group_reduction="mean", normalizer="lamp")
    imp.target_types = _CONV           # its constructor takes no target_types
    return imp


#: the importance criteria :func:`~spadelib.pruning.prune_module` and
#: :func:`~spadelib.pruning.prune` accept by name, each a factory of a torch-pruning estimator.
#: All read conv weights only and all but LAMP are unnormalised.
_FACTORIES: dict[str, Callable[[], tp.importance.Importance]] = {
    "l1": lambda: tp.importance.GroupMagnitudeImportance(
        p=1, group_reduction="mean", normalizer=None, target_types=_CONV),
    "l2": lambda: tp.importance.GroupMagnitudeImportance(
        p=2, group_reduction="mean", normalizer=None, target_types=_CONV),
    "random": lambda: tp.importance.RandomImportance(),
    "taylor": lambda: tp.importance.GroupTaylorImportance(
        group_reduction="mean", normalizer=None, target_types=_CONV),
    "lamp": _lamp,
    "hessian": lambda: tp.importance.GroupHessianImportance(
        group_reduction="mean", normalizer=None, target_types=_CONV),
}
#: the four criteria of Chapter 4 (the paper's and its three baselines)
IMPORTANCES = ("l1", "l2", "random", "taylor")
#: every importance name, those of Chapter 8 (``"lamp"``, ``"hessian"``) included
CRITERIA = tuple(_FACTORIES)
#: the suffix of a criterion that ranks the channels of all groups together
GLOBAL_SUFFIX = "-global"


def criterion_names() -> tuple[str, ...]:
    """Every criterion name :func:`parse_criterion` accepts: each of :data:`CRITERIA`, alone
    (uniform per-group ratios) and with :data:`GLOBAL_SUFFIX` (one ranking per CNN).

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    return CRITERIA + tuple(name + GLOBAL_SUFFIX for name in CRITERIA)


def parse_criterion(criterion) -> tuple[str | tp.importance.Importance, bool]:
    """``(importance, global_pruning)`` for a criterion: the one place names are read.

    ``"l1"`` is ``("l1", False)``: the paper's uniform pruning, every group losing the same
    fraction of its channels. ``"l1-global"`` is ``("l1", True)``: the same scores, but the
    channels of all groups of a CNN are ranked together, so the overall fraction is the same
    while the groups whose channels score low lose more (see :func:`~spadelib.pruning.prune`).
    A torch-pruning Importance is ``(importance, False)``.

    Taught in Chapter 8 (the criteria beyond the paper).

    Raises:
        ValueError: an unknown name (or anything that is neither a name nor an Importance).
    """
    if isinstance(criterion, tp.importance.Importance):
        return criterion, False
    if isinstance(criterion, str):
        base = criterion.removesuffix(GLOBAL_SUFFIX)
        if base in _FACTORIES:
            return base, base != criterion
    raise ValueError(f"unknown importance {criterion!r}; choose one of "
                     f"{', '.join(criterion_names())} or pass a torch_pruning Importance")


def make_importance(importance: str | tp.importance.Importance = "l1") -> tp.importance.Importance:
    r"""A torch-pruning importance estimator for a name (or the estimator itself).

    * ``"l1"``: SPADE's group l1 norm, eq. (6) (:func:`group_l1_importance`);
    * ``"l2"``: the same with squared l2 norms, :math:`\frac1M\sum_i\|w_k^i\|_2^2`;
    * ``"random"``: random scores (a baseline any criterion should beat);
    * ``"taylor"``: first-order Taylor scores :math:`\frac1M\sum_i \sum |w \odot
      \partial L / \partial w|` over the same slices (needs gradients, see
      :func:`taylor_gradients`), a data-aware criterion the paper names as future work;
    * ``"lamp"``: LAMP (Lee et al. 2021), the ``"l2"`` scores of a group sorted in ascending
      order, each divided by the sum of itself and all larger ones. Within a group the order
      is that of ``"l2"`` (so uniform ``"lamp"`` removes the channels ``"l2"`` removes, ties
      aside); the scale, in (0, 1] with 1 for the strongest channel of every group, is
      comparable across groups, which is what global pruning (``"lamp-global"``) needs;
    * ``"hessian"``: Optimal Brain Damage, :math:`\frac1M\sum_i \sum w^2 \odot h` with
      :math:`h` the diagonal of the empirical Fisher (the mean of the squared per-sample
      gradients, see :func:`hessian_gradients`), a second-order estimate of the loss increase.

    All are restricted to conv layers; all but LAMP are unnormalised. A criterion name with
    the suffix ``"-global"`` gives the estimator of its base name (:func:`parse_criterion`).

    Taught in Chapters 4 (``book/04_l1_pruning.ipynb``) and 8.

    Raises:
        ValueError: an unknown name (or anything that is neither a name nor an Importance).
    """
    base, _ = parse_criterion(importance)
    return base if isinstance(base, tp.importance.Importance) else _FACTORIES[base]()


def importance_name(importance: str | tp.importance.Importance) -> str:
    """The name a report gives an importance: the name itself, or the estimator's class.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
    """
    return importance if isinstance(importance, str) else type(importance).__name__


def is_taylor(importance: tp.importance.Importance) -> bool:
    """Whether the estimator reads first-order gradients (Taylor)."""
    return isinstance(importance, tp.importance.GroupTaylorImportance)


def needs_gradients(importance: tp.importance.Importance) -> bool:
    """Whether the estimator reads ``.grad`` (Taylor, Hessian): :func:`fill_gradients` must run
    before it scores.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    return isinstance(importance, (tp.importance.GroupTaylorImportance,
                                   tp.importance.GroupHessianImportance))


def fill_gradients(importance: tp.importance.Importance, module: nn.Module,
                   example_inputs: tuple, loss_fn: LossFn | None = None) -> None:
    """Fill ``.grad`` of ``module``'s parameters with what ``importance`` reads: the gradient
    of the loss for Taylor (:func:`taylor_gradients`), the mean squared per-sample gradient for
    Hessian (:func:`hessian_gradients`); nothing for the others.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    if isinstance(importance, tp.importance.GroupHessianImportance):
        importance.zero_grad()         # use .grad, not a stale accumulation of its own
        hessian_gradients(module, example_inputs, loss_fn)
    elif isinstance(importance, tp.importance.GroupTaylorImportance):
        taylor_gradients(module, example_inputs, loss_fn)


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

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

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


def _per_sample_default_loss(module: nn.Module, example_inputs: tuple) -> torch.Tensor:
    """The data-free proxy of :func:`_default_loss`, one value per sample."""
    return module(*example_inputs).pow(2).flatten(1).mean(1)


def hessian_gradients(module: nn.Module, example_inputs: tuple,
                      loss_fn: LossFn | None = None) -> None:
    r"""Fill ``.grad`` of every parameter of ``module`` with the empirical Fisher diagonal.

    Optimal Brain Damage scores a weight by :math:`w^2 h` with :math:`h` the diagonal of the
    Hessian of the loss; near a minimum it is approximated by the mean over samples of the
    squared per-sample gradients, :math:`h \approx \frac1B \sum_b (\partial \ell_b /
    \partial w)^2` (what torch-pruning's Hessian importance expects: one backward pass per
    sample). ``loss_fn(module, example_inputs)`` returns the per-sample losses, a ``(B,)``
    tensor (a scalar counts as one sample); the default is the mean square of each sample's
    output, the data-free proxy of :func:`taylor_gradients`.

    Taught in Chapter 8 (the criteria beyond the paper).

    Raises:
        ValueError: the loss is not a scalar or 1-D tensor that depends on the module's weights.
    """
    module.zero_grad(set_to_none=True)
    params = [p for p in module.parameters() if p.requires_grad]
    with torch.enable_grad():
        losses = (loss_fn or _per_sample_default_loss)(module, example_inputs)
        if not isinstance(losses, torch.Tensor) or losses.dim() > 1 or losses.numel() < 1 \
                or not losses.requires_grad:
            raise ValueError("loss_fn(module, example_inputs) must return the per-sample losses "
                             "(a 1-D tensor, or a scalar for one sample) that depend on the "
                             "module's weights")
        losses = losses.reshape(-1)
        fisher: list[torch.Tensor | None] = [None] * len(params)
        for b, loss in enumerate(losses):
            grads = torch.autograd.grad(loss, params, retain_graph=b < len(losses) - 1,
                                        allow_unused=True)
            for i, g in enumerate(grads):
                if g is not None:
                    fisher[i] = g.pow(2) if fisher[i] is None else fisher[i] + g.pow(2)
    for p, f in zip(params, fisher):
        p.grad = None if f is None else f / len(losses)
