"""The paper's experiments as data: the grid, the results store, the runner and the tables.

* :mod:`~spadelib.experiments.grid`: :class:`Cell` and the named grids (``table1`` ...
  ``table6``, ``fig2``, ``all``), and which cells each preset runs;
* :mod:`~spadelib.experiments.store`: :class:`ResultStore`, one file of rows per preset;
* :mod:`~spadelib.experiments.runner`: :func:`run_cell`, :func:`run_grid` (local or Ray);
* :mod:`~spadelib.experiments.paper`: the paper's own numbers;
* :mod:`~spadelib.experiments.tables`: the paper's tables from the store in its layout, ours
  above theirs; :mod:`~spadelib.experiments.printed`: the same printed (``spade table``);
* :mod:`~spadelib.experiments.claims`: the paper's claims checked on the store;
* :mod:`~spadelib.experiments.views`: what Chapters 6 and 7 compute beside the tables.

The ``spade`` command (:mod:`spadelib.cli`) drives them from a terminal.
"""
from .grid import GRIDS, QUICK_SUBSET, RATIOS, REGIMES, Cell, cells, check_grid, runs_at
from .runner import run_cell, run_grid
from .store import ResultStore, store_path

__all__ = ["Cell", "GRIDS", "QUICK_SUBSET", "RATIOS", "REGIMES", "cells", "check_grid", "runs_at",
           "ResultStore", "store_path", "run_cell", "run_grid"]
