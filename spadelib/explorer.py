"""The explorer: one network's results, a ratio slider and a regime selector.

For one network at one sampling rate (or SR scale), :func:`explorer` shows what the results
store holds for every channel ratio and fine-tuning regime: PSNR, SSIM, time per
reconstruction, speed-up and #params as numbers and as curves against the ratio with the
current point marked, and a reconstruction with its error map.

It has to work in the rendered (static HTML) book, where no kernel runs, so nothing is
computed when a control moves: every (regime, ratio) view is rendered up front, the views of
one regime go into an ``ipywidgets.Stack`` whose ``selected_index`` the ratio slider drives,
and those stacks go into an outer ``Stack`` that the regime buttons drive. Both links are
``jslink``\\ s, which run in the browser (the mechanism of :mod:`spadelib.widgets`), and the
notebook's saved widget state carries the views into the page.

Used in Chapters 6 and 7 (``book/06_cs_mri.ipynb``, ``book/07_super_resolution.ipynb``).
"""
from __future__ import annotations

import html
from typing import Mapping, Sequence

import ipywidgets as widgets
import torch

from .experiments.grid import RATIOS, Cell, runs_at
from .experiments.store import ResultStore
from .experiments.tables import NAMES, Results
from .presets import Preset, get_preset
from .widgets import figure_to_png

__all__ = ["explorer", "explorer_ratios", "explorer_regimes", "CSS_CLASS"]

#: the class of the explorer's outer box (the browser test finds explorers by it)
CSS_CLASS = "spade-explorer"
_MRI_REGIMES = ("supervised", "school", "self-supervised", "none")
_SR_REGIMES = ("school", "none")
_LABELS = {"none": "not fine-tuned"}


def explorer_regimes(network: str) -> tuple[str, ...]:
    """The regimes the explorer offers for ``network``: the paper's regimes of its task and
    ``"none"`` (pruned, not fine-tuned)."""
    return _SR_REGIMES if network == "usrnet" else _MRI_REGIMES


def explorer_ratios(network: str, setting, preset: Preset | str | None = None) -> list[float]:
    """The channel ratios the preset runs for ``network`` (0, the unpruned network, first)."""
    P = get_preset(preset)
    regime = explorer_regimes(network)[0]
    return [0.0] + [r for r in RATIOS if runs_at(Cell(network, setting, r, regime), P)]


def _cell(network, setting, ratio, regime) -> Cell:
    return Cell(network, setting, ratio, "none" if ratio == 0 else regime)


def _numbers_html(values: dict | None, why: str = "") -> str:
    if values is None:
        return (f'<p class="spade-explorer-numbers"><i>no result for this cell: '
                f"{html.escape(why)}</i></p>")
    cells = [("PSNR", f"{values['psnr']:.2f} dB"), ("SSIM", f"{values['ssim']:.4f}"),
             ("time", f"{values['time_ms']:.1f} ms"),
             ("speed-up", "–" if values.get("speedup") is None else f"×{values['speedup']:.2f}"),
             ("#params", f"{int(values['params']):,}")]
    pad = 'style="padding: 0.15em 0.9em; text-align: right"'
    head = "".join(f"<th {pad}>{k}</th>" for k, _ in cells)
    body = "".join(f"<td {pad}>{v}</td>" for _, v in cells)
    return (f'<table class="spade-explorer-numbers"><thead><tr>{head}</tr></thead>'
            f"<tbody><tr>{body}</tr></tbody></table>")


def explorer(network: str, setting, preset: Preset | str | None = None,
             store: ResultStore | None = None, *,
             images: Mapping[str, torch.Tensor] | None = None, target: torch.Tensor | None = None,
             regimes: Sequence[str] | None = None, dpi: int = 72) -> widgets.VBox:
    """The explorer of one network at one setting (see the module docstring).

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Args:
        network: ``"deq"``, ``"varnet"``, ``"e2e-varnet"`` or ``"usrnet"``.
        setting: the sampling rate (MRI) or the SR scale.
        preset: a preset or its name; default the current one.
        store: default the preset's store.
        images: ``{cell.key: reconstruction (C, H, W)}`` of one test sample
            (:func:`spadelib.experiments.views.cell_images`); a cell without one shows no
            image. ``None``: no reconstructions.
        target: that sample's ground truth (C, H, W); needed with ``images``.
        regimes: default :func:`explorer_regimes`.
        dpi: resolution of the embedded figures.

    Returns:
        A ``VBox`` (class :data:`CSS_CLASS`) to display as the last line of a cell.
    """
    from .plotting import show_images
    from .plotting.results import plot_metric_curves

    P = get_preset(preset)
    res = Results(P, store)
    regimes = list(regimes if regimes is not None else explorer_regimes(network))
    ratios = explorer_ratios(network, setting, P)
    if images and target is None:
        raise ValueError("explorer: images need the sample's ground truth (target=...)")
    base = res.row(_cell(network, setting, 0.0, regimes[0]))
    values: dict[tuple, dict | None] = {}
    points: dict[str, list] = {g: [] for g in regimes}
    for g in regimes:
        for r in ratios:
            row = res.row(_cell(network, setting, r, g))
            if row is None:
                values[(g, r)] = None
                continue
            v = {k: row.get(k) for k in ("psnr", "ssim", "time_ms", "params")}
            v["speedup"] = base["time_ms"] / row["time_ms"] if base and row.get("time_ms") \
                else None
            v["ratio"] = r
            values[(g, r)] = v
            points[g].append(v)
    complex_input = network != "usrnet"

    def view(g: str, r: float) -> widgets.VBox:
        cell = _cell(network, setting, r, g)
        v = values[(g, r)]
        children = [widgets.HTML(_numbers_html(v, res.why_missing(cell)))]
        if any(points.values()):
            fig = plot_metric_curves({k: p for k, p in points.items() if p},
                                     current=(g, r) if v is not None else None, size=2.0)
            children.append(widgets.Image(value=figure_to_png(fig, dpi), format="png"))
        img = (images or {}).get(cell.key)
        if img is not None:
            label = "unpruned" if r == 0 else f"r = {r:g}, {_LABELS.get(g, g)}"
            fig = show_images({"ground truth": target, label: img}, target=target,
                              target_key="ground truth", complex_input=complex_input,
                              error_maps=True, size=2.2)
            children.append(widgets.Image(value=figure_to_png(fig, dpi), format="png"))
        return widgets.VBox(children)

    stacks = [widgets.Stack([view(g, r) for r in ratios], selected_index=0) for g in regimes]
    outer = widgets.Stack(stacks, selected_index=0)
    slider = widgets.SelectionSlider(options=[f"{r:g}" for r in ratios], index=0,
                                     description="ratio", continuous_update=True)
    buttons = widgets.ToggleButtons(options=[_LABELS.get(g, g) for g in regimes], index=0,
                                    description="regime")
    for stack in stacks:
        widgets.jslink((slider, "index"), (stack, "selected_index"))
    widgets.jslink((buttons, "index"), (outer, "selected_index"))
    setting_label = f"×{setting}" if network == "usrnet" else f"{100 * setting:.1f} %"
    title = widgets.HTML(f"<b>{NAMES.get(network, network)} at {setting_label}</b> "
                         f"({P.name} preset): move the ratio, pick the regime")
    box = widgets.VBox([title, widgets.HBox([slider, buttons]), outer])
    box.add_class(CSS_CLASS)
    return box
