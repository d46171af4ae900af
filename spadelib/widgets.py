"""Sliders that keep working in the rendered (static HTML) book.

A Python callback needs a running kernel, so the rendered book cannot redraw a figure when a
slider moves. Instead we render every figure up front, put them in an ``ipywidgets.Stack`` and
tie the slider to the stack with ``jslink``: the link runs in the browser, so the slider works
on the static page as well as in Jupyter.

Used in Chapters 1 and 4 (``book/01_inverse_problems.ipynb``, ``book/04_l1_pruning.ipynb``).
"""
from __future__ import annotations

import io
from typing import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt


def figure_to_png(fig, dpi: int = 80) -> bytes:
    """PNG bytes of a matplotlib figure (the figure is closed).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def figure_slider(figures: Mapping[str, object], description: str = "",
                  dpi: int = 80) -> widgets.VBox:
    """A slider over pre-rendered figures, one per slider position.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        figures: ordered mapping ``label -> matplotlib Figure`` (or PNG bytes).
        description: the slider's label, e.g. ``"rate"``.
        dpi: resolution of the embedded PNGs.

    Returns:
        A ``VBox`` (slider, label, figures) to display as the last line of a cell.
    """
    if not figures:
        raise ValueError("figure_slider needs at least one figure")
    labels = list(figures)
    images = [widgets.Image(value=f if isinstance(f, bytes) else figure_to_png(f, dpi),
                            format="png") for f in figures.values()]
    stack = widgets.Stack(images, selected_index=0)
    slider = widgets.IntSlider(value=0, min=0, max=len(labels) - 1, description=description,
                               readout=False, continuous_update=True)
    # label widgets stacked the same way, so the readout is also browser-side
    names = widgets.Stack([widgets.HTML(f"<b>{lab}</b>") for lab in labels], selected_index=0)
    widgets.jslink((slider, "value"), (stack, "selected_index"))
    widgets.jslink((slider, "value"), (names, "selected_index"))
    return widgets.VBox([widgets.HBox([slider, names]), stack])
