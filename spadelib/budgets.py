"""How long fine-tuning and the from-scratch baselines train, counted in optimiser steps.

Budgets are counts, never minutes, so the same preset and seed give the same network on an idle
or a busy machine. The three regimes of :mod:`spadelib.finetune` are given the same number of
steps (:func:`matched_epochs`); a scratch baseline of Table 3 gets its own budget
(:func:`scratch_epochs`).

Taught in Chapter 5 (``book/05_finetuning.ipynb``).
"""
from __future__ import annotations

import numpy as np

from . import checks
from .models import spec
from .presets import Preset, get_preset

__all__ = ["steps_per_epoch", "matched_epochs", "finetune_steps", "scratch_epochs",
           "supervised_pairs"]


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps of one epoch over ``n`` samples in batches of ``batch_size`` (the last
    batch may be short)."""
    return -(-checks.positive_int(n, "n") // checks.positive_int(batch_size, "batch_size"))


def matched_epochs(steps: int, n: int, batch_size: int) -> int:
    """The epochs over ``n`` samples that take (at least, and as close as whole epochs allow)
    ``steps`` optimiser steps.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``): supervised fine-tuning learns from the
    whole training split, for as many steps as school and self-supervised fine-tuning take over
    the test measurements, so that the three regimes cost the same and differ only in what
    they learn from.
    """
    steps = checks.positive_int(steps, "steps")
    return -(-steps // steps_per_epoch(n, batch_size))


def finetune_steps(preset: Preset | str | None, n_measurements: int) -> int:
    """The optimiser steps of fine-tuning on ``n_measurements`` test measurements: the preset's
    ``finetune_epochs`` in batches of ``train_batch``. Taught in Chapter 5."""
    P = get_preset(preset)
    return P.finetune_epochs * steps_per_epoch(n_measurements, P.train_batch)


def scratch_epochs(network: str, preset: Preset | str | None, n: int,
                   n_train: int | None = None) -> int:
    """Epochs over ``n`` samples of Table 3's from-scratch baseline of ``network``.

    Its budget in optimiser steps is ``preset.scratch_steps`` or, where that is ``None`` (the
    paper preset), the network's own pre-training budget: its pre-training epochs over the
    training split of ``n_train`` samples. Taught in Chapter 5
    (``book/05_finetuning.ipynb``).

    Raises:
        ValueError: ``scratch_steps`` is None and ``n_train`` is not given.
    """
    P = get_preset(preset)
    steps = P.scratch_steps
    if steps is None:
        if n_train is None:
            raise ValueError("the pre-training budget of a scratch baseline needs n_train, the "
                             "size of the training split")
        s = spec(network)
        steps = getattr(P, s.epochs_field) * steps_per_epoch(n_train, P.train_batch)
    return matched_epochs(steps, n, P.train_batch)


def supervised_pairs(n_train: int, steps: int, batch_size: int, seed: int = 0) -> list[int]:
    """Which pairs of a training split of ``n_train`` supervised fine-tuning learns from, for
    ``steps`` optimiser steps: all of them (over :func:`matched_epochs` epochs) when one epoch
    takes no more than ``steps``; otherwise one epoch over ``steps * batch_size`` pairs drawn
    without replacement under ``seed`` (sorted), so that it takes exactly the steps of the
    other regimes instead of a whole, longer epoch. (The quick preset's 640 training slices
    make an epoch of 320 steps against the grid's 80.) Taught in Chapter 5
    (``book/05_finetuning.ipynb``)."""
    n_train = checks.positive_int(n_train, "n_train")
    if steps_per_epoch(n_train, batch_size) <= steps:
        return list(range(n_train))
    take = checks.positive_int(steps, "steps") * batch_size
    return sorted(int(i) for i in np.random.default_rng(seed).permutation(n_train)[:take])
