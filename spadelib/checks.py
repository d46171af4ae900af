"""Argument checks at the package's public boundary, written once.

Every public function of :mod:`spadelib` validates what a user hands it with these helpers and
lets private helpers trust their inputs (the fastMRI habit: check once, at the door). Each
check returns the normalised value and raises ``ValueError`` (or ``TypeError`` for a value of
the wrong kind) with a message that names the argument, what it must be and what it got::

    epochs = checks.positive_int(epochs, "epochs")   # ValueError: epochs must be an int >= 1, got 0

A ``bool`` is never accepted as a number (``True`` is an ``int`` to Python, not to a reader).
"""
from __future__ import annotations

import json
import math
import numbers
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

__all__ = ["is_int", "integer", "positive_int", "nonnegative_int", "real", "positive_real",
           "fraction", "choice", "flag", "size2d", "finite_tensor", "module", "reason"]


def is_int(value: Any) -> bool:
    """True for a Python or NumPy integer that is not a ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def integer(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (either bound optional)."""
    if not is_int(value) or (low is not None and value < low) or \
            (high is not None and value > high):
        bounds = (f" >= {low}" if high is None else f" in [{low}, {high}]") if low is not None \
            else (f" <= {high}" if high is not None else "")
        raise ValueError(f"{name} must be an int{bounds}, got {value!r}")
    return int(value)


def positive_int(value: Any, name: str) -> int:
    """``value`` as an ``int >= 1``."""
    return integer(value, name, low=1)


def nonnegative_int(value: Any, name: str) -> int:
    """``value`` as an ``int >= 0``."""
    return integer(value, name, low=0)


def real(value: Any, name: str, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite ``float`` within the given bounds (closed unless ``*_open``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and \
        math.isfinite(float(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        where = f" in {lo or '(-inf'}, {hi or 'inf)'}" if (lo or hi) else ""
        raise ValueError(f"{name} must be a finite number{where}, got {value!r}")
    return float(value)


def positive_real(value: Any, name: str) -> float:
    """``value`` as a finite ``float > 0``."""
    return real(value, name, low=0.0, low_open=True)


def fraction(value: Any, name: str, *, include_zero: bool = True) -> float:
    """``value`` as a float in ``[0, 1)`` (``(0, 1)`` without ``include_zero``)."""
    return real(value, name, low=0.0, high=1.0, low_open=not include_zero, high_open=True)


def choice(value: Any, choices: Iterable[str], name: str) -> str:
    """``value`` if it is one of ``choices``; the error lists them."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")
    return value


def flag(value: Any, name: str) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def size2d(value: Any, name: str, *, low: int = 1) -> tuple[int, int]:
    """An image size: an int ``n`` (-> ``(n, n)``) or a pair of ints, each ``>= low``."""
    pair: Sequence[Any] = (value, value) if is_int(value) else value
    try:
        ok = len(pair) == 2 and all(is_int(v) and v >= low for v in pair)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an int or a pair of ints, each >= {low}, got {value!r}")
    return int(pair[0]), int(pair[1])


def finite_tensor(t: Any, name: str) -> torch.Tensor:
    """``t`` if it is a tensor with no NaN or Inf entry; the error counts the bad entries."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
    if t.is_floating_point() or t.is_complex():
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            raise ValueError(f"{name} holds {int(bad.sum())} non-finite (NaN or Inf) "
                             f"entr{'y' if int(bad.sum()) == 1 else 'ies'} of {t.numel()}; "
                             "refusing to use it")
    return t


def module(value: Any, name: str) -> torch.nn.Module:
    """``value`` if it is an ``nn.Module`` (a network)."""
    if not isinstance(value, torch.nn.Module):
        raise TypeError(f"{name} must be an nn.Module (a network), got {type(value).__name__}")
    return value


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def reason(err: BaseException, limit: int = 300) -> str:
    """Another library's error, fit to quote inside one of ours: ``"Type: message"`` on one
    line, without terminal colour codes (torch's unpickler prints some), cut after the last
    whole sentence (or word) within ``limit`` characters, with ``" ..."`` where it was cut.
    """
    text = " ".join(_ANSI.sub("", str(err)).split())
    if len(text) > limit:
        cut = text[:limit]
        end = cut.rfind(". ")
        text = (cut[:end + 1] if end > limit // 3 else cut.rsplit(" ", 1)[0]) + " ..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def json_report(path, what: str, preset_name: str, again: str, error: type[Exception],
                keys: Sequence[str] = ("header",)) -> dict:
    """A shipped JSON report read from ``path``, with ``keys`` present at its top level.

    Raises ``error`` with a message that names the report (``what``), the preset and the
    command that (re-)makes it (``again``) when the file is missing or is not such a report;
    checking the header against today's settings is the caller's.
    """
    path = Path(path)
    if not path.exists():
        raise error(f"no {what} for the {preset_name!r} preset at {path}; make it with `{again}`")
    try:
        report = json.loads(path.read_text())
        for key in keys:
            report[key]
    except (ValueError, KeyError, TypeError) as err:
        raise error(f"{path} is not a {what} ({reason(err)}); re-make it with `{again}`") from None
    return report
