"""DepGraph layer groups as a layer x group membership chart: :func:`show_groups`."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

__all__ = ["show_groups"]


def show_groups(group_infos, module=None, *, title: str | None = None, max_layers: int = 60,
                size: float = 0.28):
    """Draw DepGraph layer groups as a layer x group membership chart.

    Taught in Chapter 3 (``book/03_depgraph.ipynb``).

    Each column is one group (from :func:`spadelib.pruning.groups`), each row a layer. A filled
    square marks a layer whose **output** channels the group removes (conv filters, norm
    channels), a hollow circle a layer whose **input** slices it removes (a conv reading those
    channels). A column with many filled squares is a group tied by residual additions.

    Args:
        group_infos: list of ``GroupInfo`` (``.index``, ``.channels``, ``.root``, ``.members``
            with ``.layer`` and ``.pruning``).
        module: the CNN the groups belong to; when given, rows follow its layer order.
        title: figure title.
        max_layers: draw at most this many rows (the first ones, in module order of appearance).
        size: inches per cell.
    """
    if not group_infos:
        raise ValueError("show_groups needs at least one group")
    layers: list[str] = []
    for g in group_infos:
        for m in g.members:
            if m.layer not in layers:
                layers.append(m.layer)
    if module is not None:
        order = {name: i for i, (name, _) in enumerate(module.named_modules())}
        layers.sort(key=lambda n: order.get(n, len(order)))
    layers = layers[:max_layers]
    row = {name: i for i, name in enumerate(layers)}
    ng, nl = len(group_infos), len(layers)
    fig, ax = plt.subplots(figsize=(max(4.0, 2.5 + size * ng), max(2.5, 0.8 + size * nl)),
                           layout="constrained")
    colours = plt.get_cmap("tab10")
    for j, g in enumerate(group_infos):
        c = colours(j % 10)
        for m in g.members:
            if m.layer not in row:
                continue
            if m.pruning == "out":
                ax.scatter(j, row[m.layer], marker="s", s=60, color=c)
            else:
                ax.scatter(j, row[m.layer], marker="o", s=50, facecolors="none", edgecolors=c)
    ax.set_yticks(range(nl), layers, fontsize=7)
    ax.set_xticks(range(ng), [f"{g.index}\n({g.channels})" for g in group_infos], fontsize=7)
    ax.set_xlabel("group (channels)")
    ax.invert_yaxis()
    ax.set_xlim(-0.7, ng - 0.3)
    ax.grid(True, color="0.92")
    ax.set_axisbelow(True)
    ax.legend(handles=[Line2D([], [], marker="s", ls="", color="0.3", label="output channels"),
                       Line2D([], [], marker="o", ls="", mfc="none", color="0.3",
                              label="input channels")],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
