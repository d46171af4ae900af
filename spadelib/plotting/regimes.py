"""Fine-tuning regimes side by side (Chapter 5, ``book/05_finetuning.ipynb``)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["regime_points"]


def regime_points(results: Mapping[str, Mapping[str, Any]], tags: Sequence[str],
                  labels: Sequence[str], reference: str = "unpruned",
                  metrics: Sequence[str] = ("psnr", "ssim")):
    """PSNR and SSIM of every run, one column per regime, one marker series per pruning level,
    the reference network as a dashed line.

    Points rather than bars: a bar's length reads as the value, so bars on a truncated axis
    exaggerate differences, while an axis that starts at zero hides them; points on an axis
    fitted to the values show every run and nothing else.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        results: ``{"<tag>: <label>": {"psnr": ..., "ssim": ...}, reference: {...}}``.
        tags: the pruning levels (e.g. ``"35 % pruned"``), one marker series each.
        labels: the regimes, one column each, in order.
        reference: the key of the reference run (drawn as a line); ignored if absent.
        metrics: the metric keys, one panel each.

    Returns:
        The figure.

    Raises:
        KeyError: a ``"<tag>: <label>"`` run is missing from ``results``.
    """
    names = {"psnr": "test PSNR (dB)", "ssim": "test SSIM"}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.4),
                             layout="constrained", squeeze=False)
    x = np.arange(len(labels))
    for ax, metric in zip(axes[0], metrics):
        for i, tag in enumerate(tags):
            values = [results[f"{tag}: {label}"][metric] for label in labels]
            ax.plot(x + (i - (len(tags) - 1) / 2) * 0.12, values, "o", ms=7, label=tag,
                    color=f"C{i}")
        if reference in results:
            ax.axhline(results[reference][metric], color="k", ls="--", lw=1, label=reference)
        ax.set_xticks(x, [str(label).replace(" (", "\n(") for label in labels], fontsize=7,
                      rotation=20)
        ax.set_ylabel(names.get(metric, metric))
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return fig
