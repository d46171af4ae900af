"""What every figure of :mod:`spadelib.plotting` shares: colour maps, array conversion, the grid.

Private helpers of the plotting package; the figures themselves live in its other modules.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .. import checks

ERROR_CMAP = "magma"
PHASE_CMAP = "twilight"
KERNEL_CMAP = "viridis"
_LABEL_BOX = dict(boxstyle="round,pad=0.25", facecolor="black", alpha=0.55, linewidth=0)


def _numpy(x: Any, name: str, *, allow_complex: bool = False) -> np.ndarray:
    """A numpy copy (float64, or complex128 when allowed) of a tensor or array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.to(torch.complex128) if x.is_complex() else x.to(torch.float64)
        arr = x.numpy()
    else:
        arr = np.asarray(x)
    if np.iscomplexobj(arr):
        if not allow_complex:
            raise TypeError(f"{name} is complex; store complex images as real/imag channels "
                            f"(2, H, W) and pass complex_input=True")
        return arr.astype(np.complex128)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a torch tensor or a numeric array, got "
                        f"{type(x).__name__} of dtype {arr.dtype}")
    return arr.astype(np.float64)


def _grid(nrows: int, ncols: int, size: float, *, extra_width: float = 0.0,
          extra_height: float = 0.0) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure with an (nrows, ncols) array of axes, ticks off."""
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(size * ncols + extra_width, size * nrows + extra_height))
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def _fmt_db(value: float) -> str:
    return "inf" if np.isinf(value) else f"{value:.2f}"


def _check_panel_size(size: float) -> float:
    """The side of one panel, in inches: a finite number > 0."""
    return checks.positive_real(size, "size (inches per panel)")
