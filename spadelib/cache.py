"""A small on-disk cache for heavy artefacts (data sets, later checkpoints).

Files live in :func:`cache_dir` and are named ``{kind}-{key}.pt`` where ``key`` is a hash of the
configuration that produced them, so changing any setting builds a new file instead of reusing a
stale one. Writes are atomic: the object is written to a temporary file in the same folder and
moved into place with :func:`os.replace`, so an interrupted run never leaves a half-written file
under the final name. Each file stores its own configuration, checked again on load.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

ENV_VAR = "SPADE_DATA_DIR"


def cache_dir() -> Path:
    """Where cached artefacts go: ``$SPADE_DATA_DIR``, else the repository's ``data/`` folder
    (when spadelib is installed editable from a checkout), else ``~/.cache/spadelib``."""
    if os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR]).expanduser()
    else:
        repo_data = Path(__file__).resolve().parents[1] / "data"
        path = repo_data if repo_data.parent.joinpath("pyproject.toml").exists() else (
            Path.home() / ".cache" / "spadelib")
    path.mkdir(parents=True, exist_ok=True)
    return path


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON data with a canonical form: dicts sorted by key, tuples as lists,
    floats rounded to 12 digits, anything else as its ``str``. Two configurations are the
    same for a cache exactly when their ``jsonable`` forms are equal."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float):
        return round(obj, 12)
    if isinstance(obj, (int, str, bool)) or obj is None:
        return obj
    return str(obj)


def config_key(config: dict) -> str:
    """A short, stable hash of a configuration dictionary."""
    text = json.dumps(jsonable(config), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)          # mkstemp makes files private; use the usual mode
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def cached(kind: str, config: dict, build: Callable[[], dict], *,
           directory: str | os.PathLike | None = None) -> dict:
    """Load ``{kind}-{hash(config)}.pt`` if present and valid, else ``build()`` and save it.

    Args:
        kind: a short name for the artefact (``"mri-synthetic-train"``).
        config: everything the artefact depends on (it is hashed into the file name and
            stored in the file).
        build: returns a dict of tensors and plain values; called only on a cache miss.
        directory: overrides :func:`cache_dir`.

    A file that cannot be read (truncated, corrupted) or whose stored configuration differs
    is rebuilt, with a warning.
    """
    folder = Path(directory) if directory is not None else cache_dir()
    path = folder / f"{kind}-{config_key(config)}.pt"
    if path.exists():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if payload.get("config") == jsonable(config):
                return payload["data"]
            warnings.warn(f"{path} holds another configuration; rebuilding it")
        except Exception as err:  # noqa: BLE001 - any unreadable file is rebuilt
            warnings.warn(f"{path} could not be read ({type(err).__name__}: {err}); rebuilding")
    data = build()
    atomic_save({"config": jsonable(config), "data": data}, path)
    return data
