"""The paper's experiment grid, as data.

A :class:`Cell` is one experiment of the paper: a network at one sampling rate (MRI) or SR
scale, pruned to one channel ratio by one importance criterion, then fine-tuned in one regime
(or trained from scratch at the pruned widths), for one seed. Running a cell
(:func:`spadelib.experiments.run_cell`) gives one row of the results store.

The named grids follow the paper's tables and figures:

============ ===================================================================================
``table1``   CS-MRI at 16.7 %: DEQ, VarNet, E2E-VarNet x ratios x (supervised, school,
             self-supervised), plus each unpruned network
``table2``   the same at 12.5 %
``table5``   the same at 10 %
``table3``   Table 3: SPADE against the same architecture trained from scratch with the same
             loss (supervised and self-supervised), VarNet, E2E-VarNet and the DEQ at 16.7 %
``table4``   USRNet, school fine-tuning, x2 and x3
``table6``   USRNet, school fine-tuning, x4
``fig2``     the networks of Figure 2: the DEQ (supervised) and USRNet (school), unpruned and
             at the largest ratio
``seeds``    the fine-tuned cells of ``table1``, ``table2``, ``table5``, ``table4`` and
             ``table6`` at the seeds 1 and 2 (:data:`MORE_SEEDS`): the regimes' claims then rest
             on three seeds (not part of ``all``; ``--networks`` / ``--settings`` run a share)
``table3-seeds``
             Table 3's baselines (trained from scratch) at the seeds 1 and 2: each is a whole
             pre-training, so this grid is kept apart from ``seeds`` (not part of ``all``;
             ``--networks`` / ``--ratios`` / ``--regimes`` run a share of it)
``pruned``   every network pruned and *not* fine-tuned (regime ``"none"``), at the settings of
             the tables: what fine-tuning starts from (the chapters check how much of the loss
             it recovers); cheap, no training
``all``      the union of the above (the paper; the ``beyond-*`` grids are not part of it)
``smoke``    four cheap DEQ cells, to check a set-up end to end (not part of ``all``)
``beyond-widths``
             Chapter 8: each network at ratios 0.05 and 0.4 with its channels rounded down to
             multiples of 8 and 16 (``round_to``), fine-tuned in its table's regime, beside the
             paper's widths (the same cells as ``table1`` / ``table6``); not part of ``all``
``beyond-criteria``
             Chapter 8: the DEQ and VarNet at 16.7 % pruned at ratio 0.4 by each of
             :data:`BEYOND_CRITERIA` (uniform and global ranking), fine-tuned supervised, for
             each of :data:`BEYOND_SEEDS`; a global criterion prunes to the parameter budget
             uniform pruning reaches at that ratio (:func:`~spadelib.experiments.runner.prune_cell`)
``beyond-selfsup``
             Chapter 8: the DEQ and VarNet at 16.7 %, ratio 0.4, fine-tuned self-supervised by
             eq. (9) and by measurement splitting (``self-supervised-split``,
             :mod:`spadelib.splitting`) against supervised fine-tuning, with the unpruned
             and the pruned, not fine-tuned networks; VarNet also with SSDU's held-out scoring
             (``self-supervised-split-held-out``)
============ ===================================================================================

A preset decides how much of a grid it runs (:func:`cells`): the ``paper`` preset runs every
cell; the ``quick`` preset keeps a documented subset that a 2-core CPU runs in minutes (its
ratios, networks and settings are listed in :data:`QUICK_SUBSET`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from .. import checks
from ..models import check_name
from ..presets import Preset, get_preset
from ..pruning import kept_channels
from ..pruning.importance import criterion_names
from ..tasks import Task, task_of

__all__ = ["Cell", "REGIMES", "RATIOS", "GRIDS", "QUICK_SUBSET", "ROUND_TOS", "MORE_SEEDS",
           "BEYOND_CRITERIA", "BEYOND_SEEDS", "cells", "check_grid", "runs_at", "feasible"]

#: what happens after pruning; "none" is the pruned network as it is (ratio 0: the unpruned
#: network), "scratch-*" trains the pruned architecture from a fresh initialisation
REGIMES = ("none", "supervised", "school", "self-supervised", "scratch-supervised",
           "scratch-self-supervised", "self-supervised-split", "self-supervised-split-held-out")
#: the paper's pre-defined channel ratios (about 10 / 20 / 35 / 65 % fewer parameters)
RATIOS = (0.05, 0.1, 0.2, 0.4)
MRI_NETWORKS = ("deq", "varnet", "e2e-varnet")
FINETUNE = ("supervised", "school", "self-supervised")

#: the pruning criteria of Chapter 8: the paper's l1, its baselines, Optimal Brain Damage
#: ("hessian") and global ranking ("-global"). Uniform "lamp" is left out: within a group it
#: orders channels as "l2" does, so it prunes exactly like "l2"; only "lamp-global" differs.
BEYOND_CRITERIA = ("l1", "l2", "random", "taylor", "hessian", "l1-global", "taylor-global",
                   "hessian-global", "lamp-global")
#: seeds of the Chapter 8 criteria (the pruning of "random", the order of fine-tuning batches)
BEYOND_SEEDS = (0, 1, 2)

#: what the quick preset keeps of every grid (everything else is paper-only); the criteria
#: per network: Chapter 8 compares four on VarNet (a cell costs seconds) and two on the DEQ
#: (several times as much), so the whole quick book stays within its budget. "more_seeds": the
#: networks whose cells also run at these seeds (VarNet's criteria: a spread over seeds)
QUICK_SUBSET = {"networks": ("deq", "varnet", "usrnet"), "ratios": (0.0, 0.2, 0.4),
                "settings": {"mri": (0.167,), "sr": (4,)}, "seeds": (0,),
                "more_seeds": {"varnet": (1, 2)},
                "criteria": {"deq": ("l1", "taylor"),
                             "varnet": ("l1", "random", "taylor", "lamp-global"),
                             "usrnet": ("l1",)}}


@dataclass(frozen=True, order=True)
class Cell:
    """One experiment.

    Attributes:
        network: ``"deq"``, ``"varnet"``, ``"e2e-varnet"`` or ``"usrnet"``.
        setting: the sampling rate (MRI, e.g. 0.167) or the SR scale (2, 3, 4).
        ratio: the channel ratio removed from every layer group (0: the unpruned network).
        regime: one of :data:`REGIMES`.
        criterion: the importance criterion of pruning (``"l1"``: the paper's group l1).
        seed: seed of fine-tuning (and of the fresh weights of a scratch baseline).
        round_to: channel counts rounded down to a multiple of this when pruning (0: the
            paper's counts; Chapter 8's widths the hardware likes).
    """

    network: str
    setting: float
    ratio: float
    regime: str
    criterion: str = "l1"
    seed: int = 0
    round_to: int = 0

    def __post_init__(self):
        object.__setattr__(self, "network", check_name(self.network))
        checks.choice(self.regime, REGIMES, "regime")
        ratio = checks.fraction(self.ratio, "ratio")
        object.__setattr__(self, "ratio", ratio)
        if ratio == 0 and self.regime != "none":
            raise ValueError(f"an unpruned cell (ratio 0) has regime 'none', got {self.regime!r}")
        checks.nonnegative_int(self.seed, "seed")
        checks.choice(self.criterion, criterion_names(), "criterion")
        checks.nonnegative_int(self.round_to, "round_to (0: the paper's channel counts)")
        task = task_of(self.network)           # resolved once: the cell carries its task
        object.__setattr__(self, "_task", task)
        object.__setattr__(self, "setting", task.check_setting(self.setting))

    @property
    def task(self) -> str:
        """``"mri"`` or ``"sr"`` (the name of :attr:`task_object`)."""
        return self._task.name

    @property
    def task_object(self) -> Task:
        """The :class:`~spadelib.tasks.Task` the cell's network solves, resolved once when the
        cell is made: what the runner passes on (its data, its setting)."""
        return self._task

    @property
    def key(self) -> str:
        """A stable, readable identity: what the results store is keyed by."""
        setting = self._task.setting_label(self.setting)
        return (f"{self.network}|{setting}|ratio{self.ratio:g}|{self.regime}|{self.criterion}|"
                f"seed{self.seed}" + (f"|round{self.round_to}" if self.round_to else ""))

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "task": self.task}

    @classmethod
    def from_dict(cls, d: dict, **changes) -> "Cell":
        """The cell of a stored row's ``cell`` (:meth:`as_dict`), with ``changes``."""
        return cls(**{**{k: v for k, v in d.items() if k != "task"}, **changes})

    def preset(self, preset: Preset | str | None = None) -> Preset:
        """The preset with this cell's sampling rate or scale."""
        return self._task.with_setting(preset, self.setting)


# --------------------------------------------------------------------------------------------
# the named grids
# --------------------------------------------------------------------------------------------
def _pruned_and_reference(networks, settings, regimes) -> list[Cell]:
    out = []
    for net in networks:
        for s in settings:
            out.append(Cell(net, s, 0.0, "none"))
            out += [Cell(net, s, r, g) for r in RATIOS for g in regimes]
    return out


GRIDS: dict[str, Callable[[], list[Cell]]] = {
    "table1": lambda: _pruned_and_reference(MRI_NETWORKS, (0.167,), FINETUNE),
    "table2": lambda: _pruned_and_reference(MRI_NETWORKS, (0.125,), FINETUNE),
    "table5": lambda: _pruned_and_reference(MRI_NETWORKS, (0.10,), FINETUNE),
    "table3": lambda: _pruned_and_reference(
        ("e2e-varnet", "varnet", "deq"), (0.167,),
        ("supervised", "self-supervised", "scratch-supervised", "scratch-self-supervised")),
    "table4": lambda: _pruned_and_reference(("usrnet",), (2, 3), ("school",)),
    "table6": lambda: _pruned_and_reference(("usrnet",), (4,), ("school",)),
    "fig2": lambda: [Cell("deq", 0.167, 0.0, "none"), Cell("deq", 0.167, RATIOS[-1], "supervised"),
                     Cell("usrnet", 4, 0.0, "none"), Cell("usrnet", 4, RATIOS[-1], "school")],
}
GRIDS["pruned"] = lambda: [Cell(net, s, r, "none")
                           for net, settings in (("deq", (0.167, 0.125, 0.10)),
                                                 ("varnet", (0.167, 0.125, 0.10)),
                                                 ("e2e-varnet", (0.167, 0.125, 0.10)),
                                                 ("usrnet", (2, 3, 4)))
                           for s in settings for r in RATIOS]
#: round_to values of ``beyond-widths``: oneDNN's channel blocks (8: AVX2, 16: AVX-512)
ROUND_TOS = (8, 16)
_WIDTHS = (("deq", 0.167, "supervised"), ("varnet", 0.167, "supervised"),
           ("e2e-varnet", 0.167, "supervised"), ("usrnet", 4, "school"))
GRIDS["beyond-widths"] = lambda: [
    c for net, s, regime in _WIDTHS
    for c in (Cell(net, s, 0.0, "none"),
              *(Cell(net, s, r, regime, round_to=n) for r in (0.05, 0.4) for n in (0, *ROUND_TOS)))]
GRIDS["beyond-criteria"] = lambda: (
    [Cell(net, 0.167, 0.0, "none") for net in ("deq", "varnet")]
    + [Cell(net, 0.167, RATIOS[-1], "supervised", criterion=c, seed=s)
       for net in ("deq", "varnet") for c in BEYOND_CRITERIA for s in BEYOND_SEEDS])
#: Chapter 8's self-supervised regimes, against eq. (9) and supervised fine-tuning
SELFSUP = ("self-supervised", "self-supervised-split", "supervised")
GRIDS["beyond-selfsup"] = lambda: [
    c for net in ("deq", "varnet")
    for c in (Cell(net, 0.167, 0.0, "none"), Cell(net, 0.167, RATIOS[-1], "none"),
              *(Cell(net, 0.167, RATIOS[-1], g) for g in SELFSUP))] + [
    Cell("varnet", 0.167, RATIOS[-1], "self-supervised-split-held-out")]
#: the seeds a verdict on the fine-tuning tables rests on, beyond seed 0 (fine-tuning starts
#: from other random draws); comparisons average each image over the seeds the store holds
#: (:meth:`spadelib.experiments.tables.Results.per_image`). Table 3's baselines are not in it:
#: each is a whole pre-training, repeated by the grid ``table3-seeds`` (Chapter 6 says so)
MORE_SEEDS = (1, 2)
SEEDED_TABLES = ("table1", "table2", "table5", "table4", "table6")
GRIDS["seeds"] = lambda: [dataclasses.replace(c, seed=k)
                          for name in SEEDED_TABLES for c in GRIDS[name]()
                          if c.regime != "none" for k in MORE_SEEDS]
GRIDS["table3-seeds"] = lambda: [dataclasses.replace(c, seed=k) for c in GRIDS["table3"]()
                                 if c.regime.startswith("scratch-") for k in MORE_SEEDS]
#: grids that repeat cells of the others at more seeds (not part of "all")
REPEATS = ("seeds", "table3-seeds")
GRIDS["all"] = lambda: [c for name in sorted(GRIDS)
                        if name not in ("all", "smoke", *REPEATS) and not name.startswith("beyond-")
                        for c in GRIDS[name]()]
#: four cheap cells of the DEQ for checking a set-up end to end (not part of "all")
GRIDS["smoke"] = lambda: [Cell("deq", 0.167, 0.0, "none"), Cell("deq", 0.167, 0.4, "none"),
                          Cell("deq", 0.167, 0.4, "supervised"),
                          Cell("deq", 0.167, 0.4, "school")]


def check_grid(name: str) -> str:
    """``name`` if it is a known grid; the error lists them.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    return checks.choice(str(name).strip().lower(), GRIDS, "grid")


def _in_quick_subset(cell: Cell) -> bool:
    q = QUICK_SUBSET
    seeds = (*q["seeds"], *q["more_seeds"].get(cell.network, ()))
    return (cell.network in q["networks"] and cell.ratio in q["ratios"] and cell.seed in seeds
            and cell.setting in q["settings"][cell.task]
            and cell.criterion in q["criteria"].get(cell.network, ("l1",)))


def runs_at(cell: Cell, preset: Preset | str | None = None) -> bool:
    """Whether ``preset`` runs ``cell`` at all: every cell at ``paper`` and ``medium``
    (:attr:`~spadelib.presets.Preset.runs_every_cell`), the cells inside
    :data:`QUICK_SUBSET` at ``quick`` (the chapters mark the others "paper preset only").

    Taught in Chapter 7 (``book/07_super_resolution.ipynb``).
    """
    return get_preset(preset).runs_every_cell or _in_quick_subset(cell)


def _narrowest_group(network: str, P: Preset) -> int:
    """Channels of the narrowest layer group SPADE prunes in ``network`` at ``P``."""
    return {"deq": P.deq_features, "varnet": P.varnet_chans, "e2e-varnet": P.varnet_chans,
            "usrnet": min(P.usrnet_channels)}[network]


def feasible(cell: Cell, preset: Preset | str | None = None) -> bool:
    """Whether pruning can make ``cell``'s network at ``preset``: a ``round_to`` that rounds
    the narrowest group down to no channel cannot (VarNet's 18 channels at ratio 0.4 keep 10,
    which ``round_to=16`` makes 0). :func:`cells` leaves such cells out.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    if not cell.round_to or cell.ratio == 0:
        return True
    width = _narrowest_group(cell.network, cell.preset(preset))
    return kept_channels(width, cell.ratio, cell.round_to) >= 1


def cells(name: str, preset: Preset | str | None = None) -> list[Cell]:
    """The cells of grid ``name`` that ``preset`` runs, without duplicates, in a fixed order.

    The ``paper`` preset runs all of them. The ``quick`` preset keeps those inside
    :data:`QUICK_SUBSET` (so it runs, for example, ``table1`` for the DEQ and VarNet at the
    ratios 0.2 and 0.4 only); a grid may come out empty at that preset (``table2``). Cells
    whose ``round_to`` would empty a layer group at the preset (:func:`feasible`) are left out.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    P = get_preset(preset)
    chosen = GRIDS[check_grid(name)]()
    chosen = [c for c in chosen if runs_at(c, P) and feasible(c, P)]
    seen, out = set(), []
    for c in chosen:
        if c.key not in seen:
            seen.add(c.key)
            out.append(c)
    return out
