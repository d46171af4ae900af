"""The results store: one file per preset, one row per grid cell.

The store lives at ``{cache_dir}/results-{preset}.spade`` in the package's one file format
(:mod:`spadelib.checkpoints`, kind ``"results"``: a checksummed header and payload, written
atomically), so an interrupted write never leaves half a file and a damaged file is detected.
Each row holds the cell's full configuration, what was measured, the software versions, the
device, the wall time and the date; a failed cell stores its error instead of metrics.

Several processes may share one store (two terminals, or Ray workers that hand their rows to
the driver): every change takes an exclusive lock on ``<store>.lock``, reads the current rows,
replaces or appends one row and writes the file back atomically, so no row is lost.
:meth:`ResultStore.frame` gives the rows as a :class:`pandas.DataFrame`.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from .. import inputs
from ..checkpoints import SHIPPED, CheckpointError, cache_dir, read, write
from ..presets import Preset, get_preset

__all__ = ["ResultStore", "store_path", "SHIPPED_RESULTS"]

FORMAT = 1  # rows layout version, in the header
#: presets whose store (for the book's own inputs) lives in the repository's ``shipped/``
#: folder: ``medium`` is made once by ``spade run all --preset medium`` and the chapters
#: render the paper's tables from it
SHIPPED_RESULTS = ("medium",)


def _plain(obj):
    """``obj`` with NumPy scalars, arrays and tensors turned into Python numbers and lists."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return obj.tolist()
    if isinstance(obj, str):
        return str(obj)                   # str subclasses (torch.__version__) as plain str
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def store_path(preset: Preset | str | None = None) -> Path:
    """Where the results of ``preset`` are stored: ``results-{preset}.spade`` for the book's
    own inputs, ``results-{preset}-real-{digest}.spade`` for each set of real inputs chosen
    by :mod:`spadelib.inputs`, so results from different inputs never mix. The store of a
    preset in :data:`SHIPPED_RESULTS` (``medium``) with the book's own inputs is the one in the
    repository's ``shipped/`` folder: running its grid adds to it.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).
    """
    tag, name = inputs.current().tag(), get_preset(preset).name
    if not tag and name in SHIPPED_RESULTS:
        return SHIPPED / f"results-{name}.spade"
    return cache_dir() / f"results-{name}{'-' + tag if tag else ''}.spade"


class ResultStore:
    """The rows of one preset's experiments, keyed by :attr:`Cell.key`.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        path: the store file (default: :func:`store_path` of the current preset).
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else store_path()

    @classmethod
    def for_preset(cls, preset: Preset | str | None = None) -> "ResultStore":
        return cls(store_path(preset))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read(self) -> list[dict]:
        if not self.path.exists():
            return []
        try:
            _, payload = read(self.path, "results", rows_format=FORMAT)
        except CheckpointError as err:
            raise CheckpointError(f"{err}. The results store is not rebuilt automatically (its "
                                  "rows may have cost GPU days): move the file away to start a "
                                  "new store, or restore it from a copy") from None
        return list(payload["rows"])

    def rows(self) -> list[dict]:
        """Every stored row (a list of dicts), in the order they were first stored."""
        with self._locked():
            return self._read()

    def get(self, key: str) -> dict | None:
        """The row of cell ``key``, or ``None``."""
        return next((r for r in self.rows() if r["key"] == key), None)

    def done(self) -> set[str]:
        """Keys of the cells that ran to the end (status ``"ok"``)."""
        return {r["key"] for r in self.rows() if r.get("status") == "ok"}

    def add(self, row: dict) -> None:
        """Store ``row`` (it must carry a ``"key"``), replacing a row with the same key.
        Values are stored as plain Python data (NumPy scalars and tensors become numbers and
        lists), so the file loads without running any code."""
        if "key" not in row:
            raise ValueError("a results row needs a 'key' (the cell's Cell.key)")
        row = _plain(row)
        with self._locked():
            rows = [r for r in self._read() if r["key"] != row["key"]]
            rows.append(row)
            write(self.path, "results", {"rows": rows}, {"rows_format": FORMAT})

    def frame(self):
        """The rows as a :class:`pandas.DataFrame`, the cell's fields as columns."""
        import pandas as pd  # heavy dependency, imported when a table is asked for

        flat = [{**r.get("cell", {}), **{k: v for k, v in r.items() if k != "cell"}}
                for r in self.rows()]
        return pd.DataFrame(flat)

    def __len__(self) -> int:
        return len(self.rows())

    def __repr__(self) -> str:
        return f"ResultStore({self.path})"
