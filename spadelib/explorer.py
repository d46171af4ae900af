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

:func:`widths_explorer` puts the ``round_to`` of Chapter 8's ``beyond-widths`` grid on the
buttons instead of the regime.

Used in Chapters 6, 7 and 8 (``book/06_cs_mri.ipynb``, ``book/07_super_resolution.ipynb``,
``book/08_beyond.ipynb``).
"""
from __future__ import annotations

import html
from typing import Mapping, Sequence

import ipywidgets as widgets
import torch

from .experiments.grid import RATIOS, Cell, cells, runs_at
from .experiments.store import ResultStore
from .experiments.tables import NAMES, Results
from .plotting import show_images
from .plotting.results import plot_metric_curves
from .presets import Preset, get_preset
from .tasks import task_of
from .widgets import figure_to_png

__all__ = ["explorer", "widths_explorer", "widths_cells", "explorer_ratios", "explorer_regimes",
           "CSS_CLASS"]

#: the class of the explorer's outer box (the browser test finds explorers by it)
CSS_CLASS = "spade-explorer"
_MRI_REGIMES = ("supervised", "school", "self-supervised", "none")
_SR_REGIMES = ("school", "none")
_LABELS = {"none": "not fine-tuned"}


def explorer_regimes(network: str) -> tuple[str, ...]:
    """The regimes the explorer offers for ``network``: the paper's regimes of its task and
    ``"none"`` (pruned, not fine-tuned).

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    return {"mri": _MRI_REGIMES, "sr": _SR_REGIMES}[task_of(network).name]


def explorer_ratios(network: str, setting, preset: Preset | str | None = None) -> list[float]:
    """The channel ratios the preset runs for ``network`` (0, the unpruned network, first).

    Taught in Chapters 6 (``book/06_cs_mri.ipynb``) and 7 (``book/07_super_resolution.ipynb``).
    """
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
    """The explorer of one network at one setting (see the module docstring): a ratio slider
    and one button per fine-tuning regime.

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
    P = get_preset(preset)
    regimes = list(regimes if regimes is not None else explorer_regimes(network))
    choices = [(g, _LABELS.get(g, g), lambda r, g=g: _cell(network, setting, r, g))
               for g in regimes]
    return _explorer(network, setting, P, store, choices, explorer_ratios(network, setting, P),
                     "regime", "pick the regime", images, target, dpi)


def widths_cells(network: str, setting, preset: Preset | str | None = None) -> list[Cell]:
    """The cells of the ``beyond-widths`` grid that ``preset`` runs for ``network`` at
    ``setting`` (the unpruned network and the pruned ones at each ``round_to``).

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    return [c for c in cells("beyond-widths", preset)
            if c.network == network and c.setting == setting]


def widths_explorer(network: str, setting, preset: Preset | str | None = None,
                    store: ResultStore | None = None, *,
                    images: Mapping[str, torch.Tensor] | None = None,
                    target: torch.Tensor | None = None, dpi: int = 72) -> widgets.VBox:
    """The explorer of the ``beyond-widths`` grid for one network: a ratio slider and one
    button per ``round_to`` (0: the paper's widths; 8 and 16: the kept channels rounded down
    to the CPU's blocks), in the regime the grid fine-tunes that network with.

    Only the ``round_to`` values and ratios the preset runs are offered (a rounding that
    would empty a layer group is not). The speed-up is against the unpruned network's stored
    time, as in :func:`explorer`.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Args:
        network, setting, preset, store, images, target, dpi: as in :func:`explorer`.

    Returns:
        A ``VBox`` (class :data:`CSS_CLASS`) to display as the last line of a cell.

    Raises:
        ValueError: the preset runs no pruned ``beyond-widths`` cell of ``network`` at
            ``setting``.
    """
    P = get_preset(preset)
    pruned = [c for c in widths_cells(network, setting, P) if c.ratio > 0]
    if not pruned:
        raise ValueError(f"the {P.name} preset runs no pruned beyond-widths cell of {network} at "
                         f"{setting}: nothing to explore")
    regime = pruned[0].regime
    round_tos = sorted({c.round_to for c in pruned})
    ratios = [0.0] + sorted({c.ratio for c in pruned})

    def make(n):
        return lambda r: (Cell(network, setting, 0.0, "none") if r == 0 else
                          Cell(network, setting, r, regime, round_to=n))

    choices = [(f"round_to {n}" if n else "paper widths",
                f"round_to {n}" if n else "paper widths", make(n)) for n in round_tos]
    return _explorer(network, setting, P, store, choices, ratios, "widths",
                     f"pick the widths ({_LABELS.get(regime, regime)})", images, target, dpi)


def _explorer(network, setting, P: Preset, store, choices, ratios, control: str, hint: str,
              images, target, dpi) -> widgets.VBox:
    """The widgets of an explorer: ``choices`` is ``[(key, button label, ratio -> Cell)]``;
    every (choice, ratio) view is pre-rendered and the controls are linked in JavaScript."""
    res = Results(P, store)
    if images and target is None:
        raise ValueError("explorer: images need the sample's ground truth (target=...)")
    base = res.row(Cell(network, setting, 0.0, "none"))
    values: dict[tuple, dict | None] = {}
    points: dict[str, list] = {key: [] for key, _, _ in choices}
    for key, _, make in choices:
        for r in ratios:
            row = res.row(make(r))
            if row is None:
                values[(key, r)] = None
                continue
            v = {k: row.get(k) for k in ("time_ms", "params")}
            # PSNR / SSIM as the tables show them: averaged over the seeds the store holds
            v.update({k: res.value(make(r), k) for k in ("psnr", "ssim")})
            v["speedup"] = base["time_ms"] / row["time_ms"] if base and row.get("time_ms") \
                else None
            v["ratio"] = r
            values[(key, r)] = v
            points[key].append(v)
    complex_input = target is not None and target.shape[0] == 2      # MRI: (real, imag)

    def view(key: str, label: str, make, r: float) -> widgets.VBox:
        cell = make(r)
        v = values[(key, r)]
        children = [widgets.HTML(_numbers_html(v, res.why_missing(cell)))]
        if any(points.values()):
            fig = plot_metric_curves({k: p for k, p in points.items() if p},
                                     current=(key, r) if v is not None else None, size=2.0)
            children.append(widgets.Image(value=figure_to_png(fig, dpi), format="png"))
        img = (images or {}).get(cell.key)
        if img is not None:
            shown = "unpruned" if r == 0 else f"r = {r:g}, {label}"
            fig = show_images({"ground truth": target, shown: img}, target=target,
                              target_key="ground truth", complex_input=complex_input,
                              error_maps=True, size=2.2)
            children.append(widgets.Image(value=figure_to_png(fig, dpi), format="png"))
        return widgets.VBox(children)

    stacks = [widgets.Stack([view(key, label, make, r) for r in ratios], selected_index=0)
              for key, label, make in choices]
    outer = widgets.Stack(stacks, selected_index=0)
    slider = widgets.SelectionSlider(options=[f"{r:g}" for r in ratios], index=0,
                                     description="ratio", continuous_update=True)
    buttons = widgets.ToggleButtons(options=[label for _, label, _ in choices], index=0,
                                    description=control)
    for stack in stacks:
        widgets.jslink((slider, "index"), (stack, "selected_index"))
    widgets.jslink((buttons, "index"), (outer, "selected_index"))
    title = widgets.HTML(f"<b>{NAMES.get(network, network)} at "
                         f"{task_of(network).setting_text(setting)}</b> "
                         f"({P.name} preset): move the ratio, {html.escape(hint)}")
    box = widgets.VBox([title, widgets.HBox([slider, buttons]), outer])
    box.add_class(CSS_CLASS)
    return box
