r"""How to remove: SPADE's local group-:math:`\ell_1` pruning of CNNs and of MBDL networks.

SPADE ranks the :math:`K` channels of every layer group by eq. (6) and removes, in every
group, the ``ratio`` fraction of channels with the smallest scores (local pruning: a group of
:math:`K` channels keeps :math:`\lfloor K (1 - r) \rfloor`, :func:`kept_channels`). The paper's
"pre-defined" channel ratios 5/10/20/40 % remove about :math:`1 - (1 - r)^2` = 10/20/35/65 % of
the parameters, because a conv loses both output filters and input slices.

* :func:`prune_module`: prune one plain CNN in place and report what changed;
* :func:`prune`: prune every CNN prior of an MBDL network (a deep copy) at a channel ratio, or
  at the ratio whose parameter reduction is closest to a target.

Both build torch-pruning's ``BasePruner`` in one place, :func:`_run_pruner`, which the search
for a target reduction uses too. A criterion with the suffix ``"-global"`` (``"l1-global"``,
:func:`~spadelib.pruning.importance.parse_criterion`) ranks the channels of all groups of a CNN
together instead (:func:`_global_step`): the same overall channel ratio, unequal widths.

Taught in Chapters 4 (``book/04_l1_pruning.ipynb``) and 8 (global pruning).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch_pruning as tp
from torch import nn

from .. import checks
from ..metrics import count_parameters
from .dependency import CONV_TYPES, check_example_inputs, check_ignored, root_of, traceable
from .importance import (LossFn, fill_gradients, importance_name, make_importance,
                         needs_gradients, parse_criterion)
from .report import GroupChange, PriorReport, PruneReport, count_macs, macs_inputs

__all__ = ["GLOBAL_MAX_RATIO", "check_ratio", "kept_channels", "prune_module", "prune",
           "priors_of"]

#: global pruning removes at most this fraction of any group's channels (and always keeps at
#: least one): ranking all channels of a CNN together can otherwise empty a layer
GLOBAL_MAX_RATIO = 0.9


# --------------------------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------------------------
def check_ratio(ratio) -> float:
    """``ratio`` as a float in [0, 1), or ValueError (``pruning ratio must be in [0, 1), ...``).

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
    """
    try:
        return checks.fraction(ratio, "pruning ratio")
    except ValueError:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio!r}: it is the fraction "
                         f"of channels removed in every layer group (the paper uses 0.05, 0.1, "
                         f"0.2, 0.4)") from None


def _check_options(steps, round_to, importance, seed, macs_size):
    """The options shared by :func:`prune_module` and :func:`prune`, checked once."""
    steps = checks.positive_int(steps, "steps")
    round_to = None if round_to is None else checks.positive_int(round_to, "round_to")
    _, global_ = parse_criterion(importance)
    if global_ and round_to is not None:
        raise ValueError(f"round_to is for uniform pruning; {importance!r} ranks all groups "
                         f"together and decides each group's width itself: drop round_to or "
                         f"use {importance.removesuffix('-global')!r}")
    seed = checks.integer(seed, "seed")
    macs_size = None if macs_size is None else checks.size2d(macs_size, "macs_size")
    return steps, round_to, seed, macs_size


def kept_channels(channels: int, ratio: float, round_to: int | None = None) -> int:
    """Channels a group of ``channels`` keeps at ``ratio`` (torch-pruning's local rule).

    :math:`\\lfloor K (1 - r) \\rfloor`, rounded down to a multiple of ``round_to`` when some
    channel is removed: 64 channels keep 60 / 57 / 51 / 38 at r = 0.05 / 0.1 / 0.2 / 0.4.
    This is the rule of uniform criteria (``"l1"``) only: a ``"-global"`` criterion decides
    each group's width from the ranking (read them in ``report.priors[i].groups``).

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
    """
    keep = int(channels * (1 - ratio))
    if round_to and keep < channels:
        keep -= keep % round_to
    return keep


class _Infeasible(ValueError):
    """The ratio would empty a group (the target-reduction search treats it as too much)."""


def _global_floors(roots: list, before: list, ratio: float) -> dict:
    """The fewest channels each group keeps under global pruning (:data:`GLOBAL_MAX_RATIO`,
    at least one), checked against the channels the ratio keeps in all."""
    floors = {r: max(1, math.ceil(k * (1 - GLOBAL_MAX_RATIO) - 1e-9))
              for r, k in zip(roots, before)}
    keep, least = int(sum(before) * (1 - ratio)), sum(floors.values())
    if ratio > 0 and least > keep:
        raise _Infeasible(f"global pruning ratio {ratio:g} would keep {keep} of the "
                          f"{sum(before)} channels of the CNN, fewer than the {least} its "
                          f"groups keep at least (each keeps "
                          f"{100 * (1 - GLOBAL_MAX_RATIO):g} % of its channels, one at least); "
                          f"use a smaller ratio")
    return floors


def _check_feasible(names: dict, roots: list, before: list, ratio: float,
                    round_to: int | None) -> None:
    for root, k in zip(roots, before):
        if ratio > 0 and kept_channels(k, ratio, round_to) < 1:
            extra = f" rounded to a multiple of {round_to}" if round_to else ""
            raise _Infeasible(f"pruning ratio {ratio:g}{extra} would remove all {k} channels of "
                              f"the group rooted at {names[root]!r}; use a smaller ratio"
                              f"{' or round_to' if round_to else ''}")


# --------------------------------------------------------------------------------------------
# the one place torch-pruning's pruner is built
# --------------------------------------------------------------------------------------------
@dataclass
class _Pruned:
    """What :func:`_run_pruner` did to a module: its groups' roots and channels, the history."""

    roots: list[str]
    before: list[int]
    after: list[int]
    history: list


def _global_step(pruner, ratio: float, total: int, floors: dict) -> None:
    """One step of global pruning: rank the channels of every group together and remove the
    lowest until ``int(total * (1 - ratio))`` channels are left, no group below its floor.

    torch-pruning's own ``global_pruning=True`` cuts at one threshold, and its
    ``max_pruning_ratio`` only stops *later* steps: a group whose channels all fall under the
    threshold is left whole (``check_pruning_group`` refuses to empty it) and the ratio is
    missed. Here the ranking walks up from the lowest score (ties in group and channel order)
    skipping groups at their floor, so the target is met exactly; torch-pruning then removes
    each group (``DG.get_pruning_group(...).prune()``, recorded in the history).
    """
    DG = pruner.DG
    groups = list(DG.get_all_groups(ignored_layers=pruner.ignored_layers,
                                     root_module_types=list(CONV_TYPES)))
    current = sum(int(DG.get_out_channels(root_of(g))) for g in groups)
    to_remove = current - int(total * (1 - ratio))
    ranked = []
    for group in groups:
        if pruner._get_channel_groups(group) > 1:
            raise ValueError("global pruning of grouped convolutions is not supported; use a "
                             "uniform criterion (without '-global')")
        scores = pruner.estimate_importance(group)
        if scores is not None:
            ranked.append((group, scores.detach().float().cpu()))
    if to_remove <= 0 or not ranked:
        return
    owner = torch.cat([torch.full((len(s),), i) for i, (_, s) in enumerate(ranked)])
    local = torch.cat([torch.arange(len(s)) for _, s in ranked])
    order = torch.argsort(torch.cat([s for _, s in ranked]), stable=True)
    room = [len(s) - floors[root_of(g)] for g, s in ranked]
    removed: list[list[int]] = [[] for _ in ranked]
    for j in order.tolist():
        g = int(owner[j])
        if len(removed[g]) < room[g]:
            removed[g].append(int(local[j]))
            to_remove -= 1
            if to_remove == 0:
                break
    for (group, _), idxs in zip(ranked, removed):
        if idxs:
            DG.get_pruning_group(root_of(group), group[0].dep.handler, sorted(idxs)).prune()


def _run_pruner(module: nn.Module, example_inputs: tuple, ratio: float, ignored: list,
                importance, steps: int, round_to: int | None, *, loss_fn: LossFn | None = None,
                seed: int = 0) -> _Pruned:
    """Prune ``module`` in place with ``tp.pruner.BasePruner`` (arguments already checked).

    Local pruning at ``pruning_ratio=ratio`` with convs as group roots and ``steps`` calls of
    ``pruner.step()``; Taylor and Hessian importance get fresh gradients before every step. A
    ``"-global"`` criterion replaces ``pruner.step()`` by :func:`_global_step` at the same
    per-step ratios (``pruner.per_step_pruning_ratio``). The random importance draws from a
    generator seeded with ``seed`` inside ``fork_rng``, so the global random state is left as
    it was.

    Raises:
        _Infeasible: (a ValueError) some group would lose all its channels (uniform), or the
            ratio would keep fewer channels than the groups' floors (global).
    """
    names = {m: n for n, m in module.named_modules()}
    base, global_ = parse_criterion(importance)
    imp = make_importance(base)
    with traceable(module), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pruner = tp.pruner.BasePruner(
            module, example_inputs, importance=imp, pruning_ratio=ratio, iterative_steps=steps,
            ignored_layers=ignored, round_to=round_to, root_module_types=list(CONV_TYPES))
        roots = [root_of(g) for g in pruner.DG.get_all_groups(
            ignored_layers=pruner.ignored_layers, root_module_types=list(CONV_TYPES))]
        before = [int(pruner.DG.get_out_channels(r)) for r in roots]
        if global_:
            floors = _global_floors(roots, before, ratio)
        else:
            _check_feasible(names, roots, before, ratio, round_to)
        if ratio > 0:
            for step in range(1, steps + 1):
                if needs_gradients(imp):
                    fill_gradients(imp, module, example_inputs, loss_fn)
                if global_:
                    _global_step(pruner, pruner.per_step_pruning_ratio[step], sum(before),
                                 floors)
                else:
                    pruner.step()
            if needs_gradients(imp):
                module.zero_grad(set_to_none=True)
        after = [int(pruner.DG.get_out_channels(r)) for r in roots]
        history = [[str(n), bool(out), [int(getattr(i, "idx", i)) for i in idxs]]
                   for n, out, idxs in pruner.pruning_history()]
    return _Pruned([names[r] for r in roots], before, after, history)


def _prune_cnn(module: nn.Module, example_inputs: tuple, ratio: float, ignored: list,
               importance, steps: int, round_to: int | None, loss_fn: LossFn | None,
               seed: int, macs_size, name: str = "", applications: int = 1) -> PriorReport:
    """Prune ``module`` in place (arguments already checked) and report what changed."""
    order = {n: i for i, (n, _) in enumerate(module.named_modules())}
    macs_in = macs_inputs(example_inputs, macs_size)
    params_before = count_parameters(module)
    macs_before = count_macs(module, macs_in)
    done = _run_pruner(module, example_inputs, ratio, ignored, importance, steps, round_to,
                       loss_fn=loss_fn, seed=seed)
    changes = sorted((GroupChange(r, b, a) for r, b, a in zip(done.roots, done.before,
                                                             done.after)),
                     key=lambda g: order[g.root])
    return PriorReport(name=name, params_before=params_before,
                       params_after=count_parameters(module), macs_before=macs_before,
                       macs_after=count_macs(module, macs_in),
                       macs_input=[list(x.shape) for x in macs_in if isinstance(x, torch.Tensor)],
                       applications=int(applications), groups=changes, history=done.history)


# --------------------------------------------------------------------------------------------
# pruning one CNN
# --------------------------------------------------------------------------------------------
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

    Gradient criteria (``"taylor"``, ``"hessian"``) back-propagate ``loss_fn`` before each
    step and clear the gradients afterwards: what each reads, and the default loss, are in
    :func:`~spadelib.pruning.importance.fill_gradients` and the functions it calls.

    A criterion with the suffix ``"-global"`` (``"l1-global"``, ``"taylor-global"``...) scores
    the channels the same way but ranks those of all groups together and removes the lowest
    until the module keeps :math:`\lfloor T(1 - r)\rfloor` of its :math:`T` channels: the same
    overall channel ratio, unequal widths (groups whose channels score low lose more). No group
    loses more than :data:`GLOBAL_MAX_RATIO` of its channels, so none is emptied; ``round_to``
    is refused. Unnormalised scores rank groups of large fan-in higher; ``"lamp-global"`` is
    normalised per group for this.

    Taught in Chapters 4 (``book/04_l1_pruning.ipynb``) and 8 (criteria, global pruning).

    Args:
        module: the CNN (e.g. ``net.prior``); changed in place.
        example_inputs: tuple of tensors it accepts, batch size >= 2.
        ratio: channel ratio in [0, 1) removed from every group; 0 leaves the module unchanged.
        ignored_layers: module instances never pruned: the output conv, never the input conv
            (ignoring the head freezes a whole residual trunk).
        importance: the criterion: ``"l1"`` (the paper's, eq. 6), ``"l2"``, ``"random"``,
            ``"taylor"``, ``"lamp"``, ``"hessian"``, each optionally with ``"-global"``
            (:func:`~spadelib.pruning.importance.criterion_names`), or a ``torch_pruning``
            Importance (uniform).
        steps: pruning steps (>= 1).
        round_to: keep channel counts multiples of this, rounding the kept count *down* (so
            more is removed than ``ratio`` says and the paper's counts are lost); None for the
            paper's convention. On a CPU, oneDNN pads channels to blocks of 16 (AVX-512) or 8
            (AVX2), so a conv whose width is not a multiple of the block runs about as slowly
            as the next multiple, and ``round_to=16`` (or 8) turns channel savings into speed.
        loss_fn: for ``"taylor"``: ``loss_fn(module, example_inputs) -> scalar``; for
            ``"hessian"``: the per-sample losses, a ``(B,)`` tensor.
        seed: seeds the random importance.
        macs_size: spatial size ``(H, W)`` at which MACs are counted; default: that of the
            example inputs.

    Returns:
        A :class:`~spadelib.pruning.report.PruneReport` with one ``PriorReport`` (named
        ``""``); its ``history`` is the pruner's ``pruning_history()``.

    Raises:
        ValueError: ratio outside [0, 1), steps < 1, bad round_to, unknown importance, batch
            size < 2, a ratio that would remove every channel of a group (global: keep fewer
            channels than the groups' floors), round_to with a global criterion.
        TypeError: ``module`` is not a module; a bare tensor as ``example_inputs``; a class in
            ``ignored_layers``.
    """
    module = checks.module(module, "module")
    ratio = check_ratio(ratio)
    steps, round_to, seed, macs_size = _check_options(steps, round_to, importance, seed,
                                                      macs_size)
    example_inputs = check_example_inputs(example_inputs, module)
    ignored = check_ignored(module, ignored_layers)
    report = _prune_cnn(module, example_inputs, ratio, ignored, importance, steps, round_to,
                        loss_fn, seed, macs_size)
    return PruneReport(ratio=ratio, importance=importance_name(importance), steps=steps,
                       round_to=round_to, params_before=report.params_before,
                       params_after=report.params_after, priors=[report])


# --------------------------------------------------------------------------------------------
# pruning an MBDL network
# --------------------------------------------------------------------------------------------
def priors_of(model) -> list:
    """The :class:`~spadelib.models.base.PriorSpec` list an MBDL network declares, checked.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Raises:
        TypeError: ``model`` has no ``priors()`` (a plain CNN: use :func:`prune_module`).
        ValueError: ``priors()`` is empty, or declares one CNN twice.
    """
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


def _specs(model, importance, seed: int) -> list:
    """:func:`priors_of` ``model``; for a global or gradient criterion with the random state
    seeded with ``seed`` (and restored), so that the example inputs a prior draws, which such
    criteria rank on, are the same in every process, for every copy the ratio search prunes
    and for the network itself."""
    base, global_ = parse_criterion(importance)
    if not global_ and not needs_gradients(make_importance(base)):
        return priors_of(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return priors_of(model)


def _parameter_reduction(model: nn.Module, ratio: float, steps: int,
                         round_to: int | None, *, importance="l1", loss_fn: LossFn | None = None,
                         seed: int = 0) -> float:
    """Whole-network parameter reduction at ``ratio``, pruning copies of the priors only
    (``inf`` when the ratio would empty a group).

    Under uniform pruning the count does not depend on *which* channels are removed (every
    group loses the same number whatever the importance), so copies are pruned with the l1
    criterion. Under global pruning the widths, and so the count, follow the ranking: copies
    are pruned with the criterion itself (``importance``, ``loss_fn``, ``seed``).
    """
    if not parse_criterion(importance)[1]:
        importance = "l1"
    total = count_parameters(model)
    removed = 0
    for spec in _specs(model, importance, seed):
        module, ignored = copy.deepcopy((spec.module, list(spec.ignored_layers)))
        inputs = tuple(x.clone() if isinstance(x, torch.Tensor) else x
                       for x in spec.example_inputs)
        try:
            _run_pruner(module, inputs, ratio, ignored, importance, steps, round_to,
                        loss_fn=loss_fn, seed=seed)
        except _Infeasible:
            return math.inf
        removed += count_parameters(spec.module) - count_parameters(module)
    return removed / total


def _find_ratio(model: nn.Module, target: float, steps: int, round_to: int | None,
                tol: float = 1e-4, **criterion) -> float:
    """The channel ratio whose whole-network parameter reduction is closest to ``target``.

    The reduction is a non-decreasing step function of the ratio (under global pruning, one
    ranking removes a superset of channels at a larger ratio): bisection finds the smallest
    ratio reaching the target, then the closer of it and the ratio just below wins.
    ``criterion`` (``importance``, ``loss_fn``, ``seed``) goes to :func:`_parameter_reduction`.
    """
    lo, hi = 0.0, 0.99
    f_lo = 0.0
    f_hi = _parameter_reduction(model, hi, steps, round_to, **criterion)
    if f_hi < target:
        raise ValueError(f"target_reduction {target:g} is out of reach: a channel ratio of "
                         f"{hi} removes only {100 * f_hi:.1f} % of the parameters")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        f_mid = _parameter_reduction(model, mid, steps, round_to, **criterion)
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
    ignored layers): each VarNet cascade's U-Net, the DEQ's EDSR, USRNet's ResUNet and the
    hidden layers of its HyPaNet (USRNet declares them as a second prior). Nothing else (step
    sizes, E2E-VarNet's sensitivity network, every output conv) is touched.

    With ``target_reduction`` the channel ratio is found by bisection (pruning copies) so that
    the fraction of the *whole network's* parameters removed is as close as possible to the
    target: the paper's 65 % corresponds to a channel ratio of 0.4. Under a ``"-global"``
    criterion the same channel ratio removes a different share of parameters (the widths
    follow the ranking): the copies are pruned with the criterion itself, so a global and a
    uniform criterion can be compared at the same parameter budget. Global ranking is done
    within each prior (each VarNet cascade's U-Net on its own), never across priors.

    Taught in Chapters 4 (``book/04_l1_pruning.ipynb``) and 8 (criteria, global pruning).

    Args:
        model: an :class:`~spadelib.models.base.MBDLNetwork` (anything with ``priors()``).
        ratio: per-group channel ratio in [0, 1) (the paper's 0.05, 0.1, 0.2, 0.4).
        target_reduction: alternatively, the fraction of parameters to remove, in (0, 1).
        steps: progressive pruning steps (see :func:`prune_module`).
        importance: the criterion, as for :func:`prune_module` (default ``"l1"``, the paper's).
        round_to: keep channel counts multiples of this (None: the paper's counts; see
            :func:`prune_module`).
        loss_fn: for ``"taylor"``: ``loss_fn(cnn, example_inputs) -> scalar``, called per prior
            (``"hessian"``: the per-sample losses).
        seed: seeds the random importance.
        macs_size: ``(H, W)`` at which MACs per application are counted (default: the
            priors' example size); pass the image size of the data for meaningful numbers.

    Returns:
        ``(pruned_model, report)``: the pruned copy (same training mode as ``model``) and a
        :class:`~spadelib.pruning.report.PruneReport` (whole-network parameters, per-prior
        MACs and channels, histories).

    Raises:
        TypeError: ``model`` declares no priors (a plain ``nn.Module``).
        ValueError: ``priors()`` is empty; not exactly one of ``ratio`` / ``target_reduction``;
            a ratio outside [0, 1) or a target outside (0, 1); an unknown criterion;
            ``round_to`` with a global criterion.

    Example:
        >>> from spadelib.models import build
        >>> pruned, report = prune(build("deq", "paper"), 0.4)
        >>> report.params_after                              # the paper's Table 1
        353328
    """
    if (ratio is None) == (target_reduction is None):
        raise ValueError("give exactly one of ratio (the channel ratio, e.g. 0.4) and "
                         "target_reduction (the fraction of parameters to remove, e.g. 0.65)")
    if ratio is not None:
        ratio = check_ratio(ratio)
    else:
        target_reduction = checks.fraction(target_reduction, "target_reduction",
                                           include_zero=False)
    steps, round_to, seed, macs_size = _check_options(steps, round_to, importance, seed,
                                                      macs_size)
    _specs(model, importance, seed)
    if target_reduction is not None:
        ratio = check_ratio(_find_ratio(model, target_reduction, steps, round_to,
                                        importance=importance, loss_fn=loss_fn, seed=seed))
    pruned = copy.deepcopy(model)
    params_before = count_parameters(pruned)
    reports = []
    for spec in _specs(pruned, importance, seed):
        inputs = check_example_inputs(spec.example_inputs, spec.module)
        ignored = check_ignored(spec.module, spec.ignored_layers)
        reports.append(_prune_cnn(spec.module, inputs, ratio, ignored, importance, steps,
                                  round_to, loss_fn, seed, macs_size, name=spec.name,
                                  applications=spec.applications))
    return pruned, PruneReport(
        ratio=ratio, importance=importance_name(importance), steps=steps, round_to=round_to,
        params_before=params_before, params_after=count_parameters(pruned), priors=reports,
        target_reduction=target_reduction,
        network=str(getattr(model, "name", "") or type(model).__name__))
