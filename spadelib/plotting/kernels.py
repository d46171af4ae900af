"""Blur kernels as a grid of small images: :func:`show_kernels`."""
from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure

from .. import checks
from .common import KERNEL_CMAP, _check_panel_size, _grid, _numpy

__all__ = ["show_kernels"]


def show_kernels(kernels: Any, names: list[str] | None = None, *, ncols: int | None = None,
                 cmap: str = KERNEL_CMAP, suptitle: str | None = None,
                 size: float = 1.8) -> Figure:
    """A grid of blur kernels, each on its own colour scale, pixels shown as blocks.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        kernels: (K, k, k) kernels (also (k, k) for one, or (K, 1, k, k)); tensor or array.
        names: one title per kernel (default ``"kernel i"``).
        ncols: panels per row (default min(K, 6)).
        cmap: colour map.
        suptitle: figure title.
        size: side of one panel in inches.

    Returns:
        The matplotlib Figure (one axes per kernel).

    Raises:
        ValueError: an unsupported shape, or ``names`` of the wrong length.
    """
    _check_panel_size(size)
    a = _numpy(kernels, "kernels")
    original = tuple(a.shape)
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or a.shape[0] == 0:
        raise ValueError(f"kernels must have shape (K, k, k), (k, k) or (K, 1, k, k), got "
                         f"{original}")
    n = a.shape[0]
    if names is None:
        names = [f"kernel {i}" for i in range(n)]
    names = list(names)
    if len(names) != n:
        raise ValueError(f"names has {len(names)} entries but there are {n} kernels")
    ncols = min(n, 6) if ncols is None else checks.positive_int(ncols, "ncols")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = _grid(nrows, ncols, size)
    for i in range(n):
        ax = axes[i // ncols, i % ncols]
        ax.imshow(a[i], cmap=cmap, interpolation="nearest")
        ax.set_title(names[i], fontsize=9)
    for j in range(n, nrows * ncols):
        fig.delaxes(axes[j // ncols, j % ncols])
    if suptitle:
        fig.suptitle(suptitle)
    return fig
