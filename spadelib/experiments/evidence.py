"""The two sources a claim of the paper is decided on (:mod:`~spadelib.experiments.claims`):
our cells from a results store (:class:`StoreNumbers`, compared by paired bootstrap intervals
over the test images) and the paper's printed numbers (:class:`PaperNumbers`, decided on the
values as printed). Both answer the same questions (``has``, ``compare``, ``degradation``,
``speedup``, ``table3``, ``missing``), so a claim is written once.

Taught in Chapters 6 (``book/06_cs_mri.ipynb``) and 7 (``book/07_super_resolution.ipynb``).
"""
from __future__ import annotations

import numpy as np

from .grid import Cell
from .intervals import Interval, mean_difference, paired_interval, relative_loss
from .paper import PAPER, TABLE3_DELTA, paper_value
from .speed import speedup_of
from .tables import Results

__all__ = ["StoreNumbers", "PaperNumbers"]


class StoreNumbers:
    """Our cells, from a results store: comparisons by paired bootstrap intervals. Speed-ups
    come from ``speed``, rows of :func:`~spadelib.experiments.speed.paper_speedups` (the
    paper-size architectures timed on this machine), not from the store's quick-size times:
    without them a speed claim is not decided."""

    def __init__(self, preset, store, speed=None):
        self.res = Results(preset, store)
        self.speed = speed

    @staticmethod
    def cell(net, s, ratio, regime) -> Cell:
        return Cell(net, s, ratio, "none" if ratio == 0 else regime)

    def has(self, net, s) -> bool:
        return self.res.row(self.cell(net, s, 0.0, "none")) is not None

    def compare(self, cells, statistic, metric="psnr") -> Interval | None:
        """``statistic`` of the cells ``(net, s, ratio, regime)``, paired over test images."""
        rows = [self.res.row(self.cell(*c)) for c in cells]
        if any(r is None or r.get(metric) is None for r in rows):
            return None
        pooled = [self.res.per_image(self.cell(*c), metric) for c in cells]  # seeds averaged
        per_image = [p[0] if p else [] for p in pooled]
        if all(per_image) and len({len(p) for p in per_image}) == 1:
            return paired_interval(*per_image, statistic=statistic)
        v = float(np.asarray(statistic(*(np.array([[r[metric]]]) for r in rows)))[0])
        return Interval(v, v, v)                  # no per-image values: the means decide

    def degradation(self, net, s, ratio, regime, metric="psnr"):
        return self.compare([(net, s, 0.0, "none"), (net, s, ratio, regime)], relative_loss,
                            metric)

    def speedup(self, net, s, ratio, regime):
        """At the paper's size: the same for every setting and regime (the architecture)."""
        return speedup_of(self.speed, net, ratio)

    def table3(self, net, s, ratio, regime):
        return self.compare([(net, s, ratio, regime), (net, s, ratio, f"scratch-{regime}")],
                            mean_difference)

    def missing(self, cells) -> str:
        reasons = sorted({self.res.why_missing(c) for c in cells if self.res.row(c) is None})
        return (f"the store lacks the cells it needs ({', '.join(reasons)})" if reasons else
                "no cell to decide it")


def _printed(v) -> Interval:
    v = round(float(v), 9)                  # 100 - 98.9 is 1.1, not 1.0999999999999943
    return Interval(v, v, v)


class PaperNumbers:
    """The paper's printed numbers: a verdict on the values as printed."""

    @staticmethod
    def has(net, s) -> bool:
        return (net, s, 0.0) in PAPER

    @staticmethod
    def compare(cells, statistic, metric="psnr"):
        values = [paper_value(n, s, r, "none" if r == 0 else g, metric) for n, s, r, g in cells]
        if any(v is None for v in values):
            return None
        return _printed(np.asarray(statistic(*(np.array([[v]]) for v in values)))[0])

    def degradation(self, net, s, ratio, regime, metric="psnr"):
        kept = paper_value(net, s, ratio, regime, f"degrad_{metric}")  # Tables 4 / 6 print it
        if kept is not None:
            return _printed(100 - kept)
        return self.compare([(net, s, 0.0, "none"), (net, s, ratio, regime)], relative_loss,
                            metric)

    @staticmethod
    def speedup(net, s, ratio, regime):
        return paper_value(net, s, ratio, regime, "speedup")

    @staticmethod
    def table3(net, s, ratio, regime):
        delta = TABLE3_DELTA.get((net, ratio), {}).get(regime) if s == 0.167 else None
        return None if delta is None else _printed(delta[0])

    @staticmethod
    def missing(cells) -> str:
        return "the paper prints no number for it" + (
            " (no pruned network without fine-tuning)" if any(c.regime == "none" and c.ratio
                                                               for c in cells) else "")
