"""One file format for everything spadelib writes, and one rule for a file that cannot be used.

Pre-trained, pruned and fine-tuned networks, resumable training states, cached data sets and
results are all written by :func:`write` and read by :func:`read`. A file is::

    SPADELIB 1\\n                  magic line and format version
    {"kind": ..., ...}\\n           the header: one line of JSON
    <64 hex digits>\\n             SHA-256 of the header line and the payload
    <payload>                      torch.save of plain data (tensors, dicts, lists, numbers)

The header says what the file is (``kind``: ``"pretrained"``, ``"pruned"``, ``"finetuned"``,
``"dataset"``, ``"partial"``, ``"results"``), and whatever the writer needs to check before it
trusts the payload: the network, the preset fields the artefact depends on (an explicit
mapping, :func:`spadelib.tasks.depends_on`), the data version, a configuration hash. It can
be read without loading the payload (:func:`read_header`). The checksum covers header and
payload, so a single flipped byte anywhere is detected; the payload is loaded with
``weights_only=True`` (no code runs on load).

Writes are atomic (a temporary file in the same folder, then :func:`os.replace`) and refuse a
payload holding a NaN or Inf tensor, so no cache ever holds a non-finite network.

**One rule for a file that cannot be used.** :func:`read` raises :class:`CheckpointError`
naming the file and what is wrong (truncated, not a spadelib file, checksum mismatch, another
kind, another network or configuration). That is what a file *you* named gets. A file in the
package's *own* cache (:func:`load_cached`, :func:`cached`) is instead moved aside to
``<name>.unreadable`` with a warning and rebuilt: a cache must never stop the book.

Hashes of configurations (:func:`config_key`), of networks (:func:`state_digest`) and of data
sets (:func:`data_digest`) live here too, so every cache key is made the same way.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import platform
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from . import checks

__all__ = ["CheckpointError", "FORMAT_VERSION", "KINDS", "cache_dir", "jsonable", "config_key",
           "state_digest", "data_digest", "write", "read", "read_header", "check_header",
           "load_cached", "cached", "move_aside", "provenance", "SHIPPED"]

ENV_VAR = "SPADE_DATA_DIR"
MAGIC = b"SPADELIB"
FORMAT_VERSION = 1
KINDS = ("pretrained", "pruned", "finetuned", "dataset", "partial", "results")
SHIPPED_ENV_VAR = "SPADE_SHIPPED_DIR"
#: the repository's folder of files made by the ``spade`` command and committed with the code
#: (the converged classical baselines, the pre-trained quick networks, the ``medium`` results
#: store and its images); ``SPADE_SHIPPED_DIR`` names another one (a re-made copy to check)
SHIPPED = Path(os.environ.get(SHIPPED_ENV_VAR) or Path(__file__).resolve().parents[1] / "shipped")


class CheckpointError(ValueError):
    """A file that cannot be used: truncated, corrupted, foreign, or made for another setup.
    The message names the file and what is wrong."""


def provenance(command: str, seconds: float, **versions: str) -> dict:
    """Who made a shipped file, for its header: the ``spade`` command, the versions (Python,
    numpy, torch and those passed as ``versions``), the machine, the date and the seconds the
    work took. The same record heads the baseline report and the shipped networks."""
    return {"command": command,
            "versions": {"python": platform.python_version(), "numpy": np.__version__,
                         "torch": torch.__version__, **versions},
            "machine": {"platform": platform.platform(), "processor": platform.processor()
                        or platform.machine(), "cpus": os.cpu_count(),
                        "torch_threads": torch.get_num_threads()},
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": round(float(seconds), 1)}


# --------------------------------------------------------------------------------------------
# where, and hashes
# --------------------------------------------------------------------------------------------
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
    """A short, stable hash of a configuration dictionary (12 hex digits)."""
    text = json.dumps(jsonable(config), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _update_tensor(h, name: str, t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())


def state_digest(net: torch.nn.Module) -> str:
    """Hash of a network's class, structure (``repr``), tensor names, shapes, dtypes and values."""
    h = hashlib.sha1(f"{type(net).__module__}.{type(net).__qualname__}|{net!r}".encode())
    for name, t in net.state_dict().items():
        _update_tensor(h, name, t)
    return h.hexdigest()[:16]


def data_digest(data) -> str:
    """Hash of a :class:`~spadelib.data.SampleSet`: its sample type, constants and every
    tensor field."""
    h = hashlib.sha1(f"{data.sample_type.__name__}|{sorted(data.constants.items())!r}".encode())
    for name in sorted(data.fields):
        _update_tensor(h, name, data.fields[name])
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# the format
# --------------------------------------------------------------------------------------------
def _tensors(obj: Any, where: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield where, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{where}[{i}]")


def _first_nonfinite(payload: Any) -> str | None:
    for where, t in _tensors(payload):
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            return where or "the payload"
    return None


def write(path: str | os.PathLike, kind: str, payload: Any, header: dict | None = None) -> Path:
    """Write ``payload`` with ``header`` to ``path`` in the spadelib format, atomically.

    Args:
        path: the file.
        kind: one of :data:`KINDS`.
        payload: plain data for ``torch.save`` (tensors, dicts, lists, numbers, strings).
        header: JSON-able facts about the payload, checked by readers (see :func:`read`).

    Raises:
        ValueError: an unknown kind, or a tensor of the payload holds NaN or Inf (it is never
            written: a cache must not hand a broken network to a later chapter).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}; choose one of {', '.join(KINDS)}")
    bad = _first_nonfinite(payload)
    if bad is not None:
        raise ValueError(f"refusing to write {path}: tensor {bad!r} holds NaN or Inf")
    path = Path(path)
    head = json.dumps(jsonable({**(header or {}), "kind": kind}), sort_keys=True).encode()
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    digest = hashlib.sha256(head + b"\n" + body).hexdigest().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)          # mkstemp makes files private; use the usual mode
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC + b" " + str(FORMAT_VERSION).encode() + b"\n" + head + b"\n" +
                     digest + b"\n" + body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _split(path: Path, raw: bytes) -> tuple[dict, bytes, bytes, bytes]:
    parts = raw.split(b"\n", 3)
    if len(parts) < 4 or not parts[0].startswith(MAGIC + b" "):
        raise CheckpointError(f"{path} is not a spadelib file (or its first bytes are damaged)")
    version = parts[0][len(MAGIC) + 1:]
    if version != str(FORMAT_VERSION).encode():
        raise CheckpointError(f"{path} has file format {version.decode(errors='replace')!r}; "
                              f"this spadelib reads format {FORMAT_VERSION}")
    head, digest, body = parts[1], parts[2], parts[3]
    try:
        header = json.loads(head)
        if not isinstance(header, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{path}: its header is damaged (not JSON)") from None
    return header, head, digest, body


def read_header(path: str | os.PathLike) -> dict:
    """The header of a spadelib file, without loading (or checking) its payload."""
    path = _existing(path)
    with open(path, "rb") as fh:
        first = fh.read(1 << 16)
    parts = first.split(b"\n", 3)
    header, *_ = _split(path, first if len(parts) >= 4 else first + b"\n\n\n")
    return header


def _existing(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise CheckpointError(f"{path} is a folder (or another non-file), not a spadelib file; "
                              "name the file itself")
    return path


def check_header(header: dict, path: str | os.PathLike, **expected) -> None:
    """Refuse a header whose fields differ from ``expected`` (``None`` values are skipped).

    Dict-valued fields (e.g. the preset fields a network depends on) are compared key by key,
    and the message lists up to four differences: ``mri_size: file [64, 64] vs wanted
    [256, 256]``.
    """
    diffs = []
    for key, want in expected.items():
        if want is None:
            continue
        want, got = jsonable(want), header.get(key)
        if isinstance(want, dict) and isinstance(got, dict):
            diffs += [f"{key}.{k}: file {got.get(k)!r} vs wanted {want.get(k)!r}"
                      for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
        elif want != got:
            diffs.append(f"{key}: file {got!r} vs wanted {want!r}")
    if diffs:
        more = f" (and {len(diffs) - 4} more)" if len(diffs) > 4 else ""
        raise CheckpointError(f"{path} was made for another setup: {'; '.join(diffs[:4])}{more}")


def read(path: str | os.PathLike, kind: str | None = None, **expected) -> tuple[dict, Any]:
    """Read a spadelib file: ``(header, payload)``, after checking everything it can.

    Args:
        path: the file.
        kind: the kind you expect (refused if the file holds another).
        **expected: header fields that must match (see :func:`check_header`).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a spadelib file, another format version, a damaged header, a
            checksum mismatch (a flipped byte, a truncated file), another kind, or a header
            field that differs from ``expected``; the message names the file.
    """
    path = _existing(path)
    raw = path.read_bytes()
    header, head, digest, body = _split(path, raw)
    if hashlib.sha256(head + b"\n" + body).hexdigest().encode() != digest:
        raise CheckpointError(f"{path} is corrupted or truncated (its SHA-256 checksum does not "
                              f"match its contents, {len(raw)} bytes); delete it and make it "
                              "again")
    if kind is not None and header.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {header.get('kind')!r} file, not a {kind!r} one")
    check_header(header, path, **expected)
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - checksum passed, so the writer was at fault
        raise CheckpointError(f"{path}: its payload does not load ({checks.reason(err)})"
                              ) from None
    return header, payload


# --------------------------------------------------------------------------------------------
# the package's own cache
# --------------------------------------------------------------------------------------------
def move_aside(path: str | os.PathLike, why: str) -> Path:
    """Rename an unusable cache file to ``<name>.unreadable`` (kept for inspection) and warn."""
    path = Path(path)
    aside = path.with_name(path.name + ".unreadable")
    os.replace(path, aside)
    warnings.warn(f"{path} could not be used ({why}); moved it to {aside.name} and rebuilding",
                  stacklevel=3)
    return aside


def load_cached(path: str | os.PathLike, kind: str, **expected) -> tuple[dict, Any] | None:
    """:func:`read` for a file in the package's own cache: ``None`` when it does not exist,
    and when it cannot be used (moved aside with a warning, see :func:`move_aside`)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return read(path, kind, **expected)
    except CheckpointError as err:
        move_aside(path, str(err).replace(f"{path} ", "").replace(f"{path}: ", ""))
        return None


def cached(name: str, config: dict, build: Callable[[], Any], *, kind: str = "dataset",
           directory: str | os.PathLike | None = None) -> Any:
    """Load ``{name}-{config_key(config)}.pt`` from the cache if it is usable, else
    ``build()`` it and write it.

    Args:
        name: a short name for the artefact (``"mri-synthetic-train"``).
        config: everything the artefact depends on (hashed into the file name and stored in
            the header, checked again on load).
        build: returns plain data (tensors, dicts, numbers); called only on a miss.
        kind: the file's kind (default ``"dataset"``).
        directory: overrides :func:`cache_dir`.
    """
    folder = Path(directory) if directory is not None else cache_dir()
    path = folder / f"{name}-{config_key(config)}.pt"
    hit = load_cached(path, kind, config=config)
    if hit is not None:
        return hit[1]
    data = build()
    write(path, kind, data, {"config": config})
    return data

