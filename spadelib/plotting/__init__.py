"""Figures of the book: reconstructions side by side, k-space, coils and blur kernels.

Every function takes torch tensors or numpy arrays, builds one matplotlib ``Figure`` with the
same look (panel side ``size`` inches, grey images, ``magma`` error maps, ``twilight`` phase)
and returns it; none calls ``plt.show``. In a notebook the inline backend shows a pyplot figure
at the end of the cell, so write ``fig = show_images(...)`` (or end the line with ``;``) to
avoid seeing it twice.

Layouts (see :mod:`spadelib.metrics` for the conventions):

* images: (H, W), (1, H, W), (2, H, W) real/imag (with ``complex_input=True``: shown as the
  magnitude), (3, H, W) RGB in [0, 1]; a leading batch axis of size 1 is dropped;
* k-space and coil images: fastMRI layout, complex as a trailing axis of size 2,
  (H, W, 2) or (C, H, W, 2); complex dtypes (C, H, W) are accepted too.

Used from Chapter 1 (``book/01_inverse_problems.ipynb``) on; :func:`show_groups` in Chapter 3
(``book/03_depgraph.ipynb``).

Modules: :mod:`~spadelib.plotting.images` (:func:`show_images`), :mod:`~spadelib.plotting.mri`
(:func:`show_kspace`, :func:`show_coils`), :mod:`~spadelib.plotting.kernels`
(:func:`show_kernels`), :mod:`~spadelib.plotting.tables` (:func:`metrics_table`),
:mod:`~spadelib.plotting.groups` (:func:`show_groups`); their shared helpers and colour maps in
:mod:`~spadelib.plotting.common`.
"""
from __future__ import annotations

from .common import ERROR_CMAP, KERNEL_CMAP, PHASE_CMAP
from .groups import show_groups
from .images import show_images
from .kernels import show_kernels
from .mri import show_coils, show_kspace
from .regimes import budget_curves, regime_points, residual_traces, factor_plot
from .tables import metrics_table

__all__ = ["show_images", "show_kspace", "show_coils", "show_kernels", "metrics_table",
           "show_groups", "regime_points", "residual_traces", "budget_curves", "factor_plot", "ERROR_CMAP", "KERNEL_CMAP", "PHASE_CMAP"]
