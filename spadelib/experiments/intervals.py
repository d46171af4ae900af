"""Paired intervals over test images and the verdicts they decide (Chapters 6 and 7).

Two cells of the grid are evaluated on the same test images in the same order, so a difference
between them is judged by a paired bootstrap (:func:`paired_interval`): the images are
resampled with replacement, the same draw for every cell, and the percentile interval of the
statistic over the resamples is reported. :func:`decide` turns an interval and a threshold into
a verdict: :data:`HOLDS` when the whole interval lies on the claimed side, :data:`FAILS` when it
lies wholly on the other, :data:`UNRESOLVED` ("no difference resolved") when it straddles the
threshold; :func:`combine` joins the verdicts of several cells.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

__all__ = ["Interval", "HOLDS", "FAILS", "UNRESOLVED", "UNDECIDED", "RESAMPLES", "LEVEL", "SEED",
           "paired_interval", "mean_difference", "relative_loss", "decide", "combine",
           "side_of_zero", "interval_comparison", "interval_ranking"]

HOLDS, FAILS, UNRESOLVED, UNDECIDED = ("holds", "does not hold", "not resolved",
                                       "cannot be checked")

#: the paired bootstrap: resamples, confidence level, seed of its numpy Generator
RESAMPLES, LEVEL, SEED = 2000, 0.95, 0


@dataclass(frozen=True)
class Interval:
    """A statistic and its interval; ``n`` images were resampled (0: a value without an
    interval, a printed number or a mean without per-image values)."""

    estimate: float
    low: float
    high: float
    n: int = 0

    def show(self, unit: str = "", digits: int = 2) -> str:
        f = f"{{:.{digits}f}}"
        text = f.format(self.estimate) + unit
        return text if self.n == 0 else f"{text} [{f.format(self.low)}, {f.format(self.high)}]"


def mean_difference(a, b):
    """``mean(a) - mean(b)`` along the last axis (a statistic for :func:`paired_interval`)."""
    return a.mean(-1) - b.mean(-1)


def relative_loss(a, b):
    """``100 (mean(a) - mean(b)) / mean(a)``: what ``b`` loses, in % of ``a``."""
    return 100 * (a.mean(-1) - b.mean(-1)) / a.mean(-1)


def paired_interval(*samples, statistic=mean_difference, resamples: int = RESAMPLES,
                    level: float = LEVEL, seed: int = SEED) -> Interval:
    """A paired bootstrap interval of ``statistic(*samples)``.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Args:
        samples: per-image values of the cells compared, all in the same image order (e.g. the
            ``psnr_per_sample`` of two store rows).
        statistic: maps as many arrays of shape (resamples, n) to one value per resample
            (:func:`mean_difference`, :func:`relative_loss`, ...).
        resamples, level: number of resamples and the interval's confidence level (percentile
            interval).
        seed: seed of the ``numpy.random.Generator`` that draws the resamples; the same images
            are drawn for every sample, so the pairing is kept.

    Raises:
        ValueError: no sample, samples of different lengths or empty, a bad level or count.
    """
    arrays = [np.asarray(s, dtype=float) for s in samples]
    if not arrays or any(a.ndim != 1 or len(a) == 0 for a in arrays):
        raise ValueError("paired_interval needs one or more non-empty 1-D samples")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"paired samples must have one length, got {[len(a) for a in arrays]}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if int(resamples) != resamples or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples}")
    idx = np.random.default_rng(seed).integers(0, n, size=(int(resamples), n))
    boot = np.asarray(statistic(*(a[idx] for a in arrays)), dtype=float)
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    estimate = float(np.asarray(statistic(*(a[None] for a in arrays)))[0])
    return Interval(estimate, float(low), float(high), n)


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def decide(interval: Interval, op: str, threshold: float) -> str:
    """:data:`HOLDS` if the whole interval satisfies ``value op threshold``, :data:`FAILS` if
    none of it does, else :data:`UNRESOLVED` (it straddles the threshold)."""
    ok = _OPS[op]
    ends = [ok(interval.low, threshold), ok(interval.high, threshold)]
    return HOLDS if all(ends) else FAILS if not any(ends) else UNRESOLVED


def combine(verdicts, every: bool = True) -> str:
    """One verdict from several: with ``every``, :data:`FAILS` if one fails, :data:`HOLDS` if
    all hold; otherwise (``every=False``, "one can achieve") :data:`HOLDS` if one holds,
    :data:`FAILS` if all fail; else :data:`UNRESOLVED`; :data:`UNDECIDED` if there is none."""
    verdicts = [v for v in verdicts if v != UNDECIDED]
    if not verdicts:
        return UNDECIDED
    if every:
        return FAILS if FAILS in verdicts else HOLDS if set(verdicts) == {HOLDS} else UNRESOLVED
    return HOLDS if HOLDS in verdicts else FAILS if set(verdicts) == {FAILS} else UNRESOLVED


def side_of_zero(interval, digits: int = 2) -> int:
    """``1`` when the interval lies above zero, ``-1`` below it, ``0`` when it reaches zero,
    all decided on its ends as shown with ``digits`` decimals (an end shown as ``-0.00``
    reaches zero), so the words never disagree with the printed interval."""
    low, high = round(interval.low, digits), round(interval.high, digits)
    return 1 if low > 0 else -1 if high < 0 else 0


def interval_comparison(name: str, other: str, interval, unit: str = " dB",
                        digits: int = 2) -> str:
    """``name`` against ``other`` from a paired interval of ``name - other`` (an object with
    ``estimate``, ``low``, ``high``, ``n``, e.g. :class:`spadelib.experiments.intervals.Interval`):
    ``"VarNet is 1.23 dB above TV (95 % interval 0.80 to 1.60 dB over 16 test images)"`` when
    the whole interval lies on one side of zero at the shown precision (an end shown as
    ``-0.00`` reaches zero), else ``"no difference resolved between VarNet and TV (...)"``."""
    if interval is None or not np.isfinite(interval.estimate):
        return f"{name} was not measured against {other}"
    f = f"{{:.{digits}f}}"
    span = (f"95 % interval {f.format(interval.low)} to {f.format(interval.high)}{unit} over "
            f"{interval.n} test images")
    side = side_of_zero(interval, digits)
    if side:
        side = "above" if side > 0 else "below"
        return f"{name} is {f.format(abs(interval.estimate))}{unit} {side} {other} ({span})"
    return (f"no difference resolved between {name} and {other} "
            f"({f.format(interval.estimate)}{unit}, {span})")


def interval_ranking(per_image: dict, unit: str = " dB", digits: int = 2) -> str:
    """``{label: per-image values}`` (paired: the same test images) ranked by their means, best
    first: ``"a 27.50 dB > b 26.63 dB"`` where the paired interval of the difference lies above
    zero at the shown precision, ``"a 27.50 dB ≈ b 27.47 dB (difference not resolved)"`` where
    it reaches zero. A ranking of means alone would order two cells their interval cannot."""
    means = {k: float(np.mean(v)) for k, v in per_image.items()}
    order = sorted(means, key=lambda k: -means[k])
    f = f"{{:.{digits}f}}"
    parts = [f"{order[0]} {f.format(means[order[0]])}{unit}"] if order else []
    for better, label in zip(order, order[1:]):
        iv = paired_interval(per_image[better], per_image[label])
        shown = f"{label} {f.format(means[label])}{unit}"
        parts.append(f" > {shown}" if side_of_zero(iv, digits) > 0
                     else f" ≈ {shown} (difference not resolved)")
    return "".join(parts)
