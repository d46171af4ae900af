r"""SPADE's structured pruning (paper section 3), built on torch-pruning's DepGraph.

Pruning a CNN filter changes the shapes of every layer that reads or normalises the same
channels; DepGraph collects these coupled layers into *layer groups*. SPADE ranks the
:math:`K` channels of each group by the group :math:`\ell_1` norm (eq. 6)

.. math::

    \alpha_k = \frac{1}{M} \sum_{i=1}^{M} \|\mathbf w_k^i\|_1, \qquad k = 1, \dots, K,

and removes, in every group, the ``ratio`` fraction of channels with the smallest
:math:`\alpha_k`. The package keeps torch-pruning's homes, one concern per module:

* :mod:`~spadelib.pruning.dependency`: what is coupled. Tracing a CNN, :func:`groups` (the
  layer groups as plain data, :class:`GroupInfo`) and :func:`group_scores`
  (Chapter 3, ``book/03_depgraph.ipynb``);
* :mod:`~spadelib.pruning.importance`: how to rank. :func:`group_l1_importance` (eq. 6),
  :func:`make_importance` (``"l1"``, ``"l2"``, ``"random"``, ``"taylor"``; ``"lamp"``,
  ``"hessian"`` in Chapter 8) and :func:`parse_criterion` (a criterion is a name, optionally
  ``"-global"``: one ranking over all groups of a CNN, :func:`criterion_names`);
* :mod:`~spadelib.pruning.pruner`: how to remove. :func:`prune_module` (one CNN, in place) and
  :func:`prune` (every CNN prior of an MBDL network, at a channel ratio or a target parameter
  reduction), :func:`kept_channels`, :func:`check_ratio`;
* :mod:`~spadelib.pruning.report`: what was removed. :class:`PruneReport`,
  :class:`PriorReport`, :class:`GroupChange`;
* :mod:`~spadelib.pruning.reference`: :func:`zero_pruned_channels`, the unpruned CNN with the
  pruned channels zeroed, which a pruned CNN must equal exactly;
* :mod:`~spadelib.pruning.io`: :func:`save_pruned` / :func:`load_pruned`, a pruned network as
  its pruning histories plus a state dict, rebuilt in a fresh process.

Taught in Chapters 3 (``book/03_depgraph.ipynb``) and 4 (``book/04_l1_pruning.ipynb``).
"""
from .dependency import CONV_TYPES, GroupInfo, GroupMember, group_scores, groups
from .importance import (CRITERIA, IMPORTANCES, criterion_names, group_l1_importance,
                         hessian_gradients, make_importance, parse_criterion)
from .io import load_pruned, save_pruned
from .pruner import GLOBAL_MAX_RATIO, check_ratio, kept_channels, prune, prune_module
from .reference import zero_pruned_channels
from .report import GroupChange, PriorReport, PruneReport

__all__ = ["CONV_TYPES", "IMPORTANCES", "CRITERIA", "GLOBAL_MAX_RATIO", "criterion_names",
           "parse_criterion", "hessian_gradients", "GroupMember", "GroupInfo", "GroupChange",
           "PriorReport", "PruneReport", "groups", "group_scores", "group_l1_importance",
           "make_importance", "prune_module", "prune", "zero_pruned_channels", "save_pruned",
           "load_pruned", "check_ratio", "kept_channels"]
