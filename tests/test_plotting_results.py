"""Figures of the paper's experiments (Figures 2-8) and the explorer, on small data."""
import ipywidgets as widgets
import numpy as np
import pytest
import torch

from spadelib.experiments import Cell, ResultStore
from spadelib.experiments.tables import PAPER_ONLY, degradation_frame
from spadelib.plotting.results import plot_degradation, plot_iterates, plot_metric_curves, \
    plot_reconstruction_grid


def _add(store, net, setting, ratio, regime, psnr, time_ms=100.0, params=1000):
    cell = Cell(net, setting, ratio, regime)
    store.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": psnr,
               "ssim": psnr / 40, "time_ms": time_ms, "params": params})
    return cell


@pytest.fixture
def store(tmp_path):
    s = ResultStore(tmp_path / "results-quick.spade")
    _add(s, "deq", 0.167, 0.0, "none", 30.0, 200.0, 1000)
    for r in (0.2, 0.4):
        for k, g in enumerate(("supervised", "school", "self-supervised", "none")):
            _add(s, "deq", 0.167, r, g, 29.0 - 10 * r - k, 200.0 * (1 - r),
                 int(1000 * (1 - r) ** 2))
    return s


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_degradation_figure_has_ours_and_the_papers_lines(store):
    fig = plot_degradation(degradation_frame(0.167, "quick", store), title="Figure 3")
    deq, varnet, e2e = fig.axes[:3]
    assert [ax.get_title() for ax in (deq, varnet, e2e)] == ["DEQ", "VarNet", "E2E-VarNet"]
    ours = [l for l in deq.lines if l.get_label() == "supervised (ours)"][0]
    # ours at the parameter reduction our pruned networks have (1000 -> 640, 360), not the
    # paper's nominal 35 / 65 %; the paper's at its nominal reductions
    np.testing.assert_allclose(ours.get_xdata(), [36, 64])
    np.testing.assert_allclose(ours.get_ydata(), [100 * (30 - 27) / 30, 100 * (30 - 25) / 30])
    paper = [l for l in deq.lines if l.get_label() == "supervised (paper)"][0]
    assert len(paper.get_xdata()) == 4 and paper.get_linestyle() == "--"
    np.testing.assert_allclose(paper.get_xdata(), [10, 20, 35, 65])
    # no invented points: the quick preset has no VarNet here, the panel says so
    assert not [l for l in varnet.lines if "(ours)" in l.get_label()]
    assert any(PAPER_ONLY in t.get_text() or "not run yet" in t.get_text() for t in varnet.texts)
    with pytest.raises(ValueError, match="degradation_frame"):
        plot_degradation(degradation_frame(0.167, "quick", store).drop(columns="missing"))


def test_reconstruction_grid_labels_psnr_and_degradation():
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(1, 16, 16, generator=gen)
    target[0, 0, 0] = 1.0                           # the peak of PSNR
    images = {(0.2, "supervised"): target + 0.01, (0.4, "supervised"): target + 0.1,
              (0.2, "school"): target + 0.02}
    fig = plot_reconstruction_grid(images, target, unpruned=target + 0.005,
                                   ratios=[0.2, 0.4], regimes=["supervised", "school"],
                                   missing="paper preset only")
    texts = _texts(fig)
    assert "40.00 dB" in texts                     # |error| 0.01 everywhere, peak 1 -> 40 dB
    assert "20.00 dB" in texts
    p0 = 20 * np.log10(1.0 / 0.005)
    assert f"{100 * (p0 - 20.0) / p0:.1f} %" in texts
    assert "paper preset only" in texts             # (0.4, school) has no image
    assert len(fig.axes) == 2 * 3
    with pytest.raises(ValueError, match="at least one ratio"):
        plot_reconstruction_grid({}, target, ratios=[], regimes=["school"])


def test_iterates_figure_plots_each_trace_against_time_or_iteration():
    traces = {"unpruned": {"times": [0.1, 0.2, 0.3], "residuals": [1e-1, 1e-2, 1e-3],
                           "psnr": [20.0, 25.0, 26.0]},
              "pruned": {"times": [0.05, 0.1], "residuals": [1e-1, 1e-3], "psnr": [21.0, 25.5]}}
    fig = plot_iterates(traces)
    res, psnr = fig.axes[:2]
    assert res.get_yscale() == "log"
    np.testing.assert_allclose(psnr.lines[1].get_xdata(), [0.05, 0.1])
    fig = plot_iterates({k: {"psnr": v["psnr"]} for k, v in traces.items()}, x="iteration",
                        residual=False)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), [1, 2, 3])
    with pytest.raises(ValueError, match="2 times for 3 psnr"):
        plot_iterates({"bad": {"times": [1, 2], "psnr": [1, 2, 3]}}, residual=False)


def test_metric_curves_mark_the_current_point():
    pts = {"supervised": [{"ratio": 0.0, "psnr": 30, "ssim": 0.9, "time_ms": 10, "speedup": 1,
                           "params": 100},
                          {"ratio": 0.4, "psnr": 28, "ssim": 0.8, "time_ms": 5, "speedup": 2,
                           "params": 36}]}
    fig = plot_metric_curves(pts, current=("supervised", 0.4))
    psnr_ax = fig.axes[0]
    marker = [l for l in psnr_ax.lines if l.get_markersize() == 10]
    assert len(marker) == 1 and marker[0].get_ydata()[0] == 28
    assert [ax.get_title() for ax in fig.axes] == ["PSNR (dB)", "SSIM", "time (ms)",
                                                  "speed-up", "#params"]


def test_explorer_prerenders_every_view_and_links_the_controls_in_javascript(store,
                                                                               monkeypatch):
    import spadelib.explorer as E

    links = []
    real = widgets.jslink
    monkeypatch.setattr(E.widgets, "jslink", lambda a, b: links.append((a, b)) or real(a, b))
    target = torch.rand(2, 16, 16)
    images = {Cell("deq", 0.167, 0.0, "none").key: target * 0.9,
              Cell("deq", 0.167, 0.4, "school").key: target * 0.5}
    box = E.explorer("deq", 0.167, "quick", store, images=images, target=target)
    assert E.CSS_CLASS in box._dom_classes
    _, controls, outer = box.children
    slider, buttons = controls.children
    assert list(slider.options) == ["0", "0.2", "0.4"]
    assert list(buttons.options) == ["supervised", "school", "self-supervised",
                                     "not fine-tuned"]
    assert isinstance(outer, widgets.Stack) and len(outer.children) == 4
    # the slider drives every regime's stack, the buttons the outer stack: all in the browser
    assert {(id(a[0]), a[1], b[1]) for a, b in links} == {
        (id(slider), "index", "selected_index"), (id(buttons), "index", "selected_index")}
    assert sorted(id(b[0]) for _, b in links) == sorted(
        [id(s) for s in outer.children] + [id(outer)])
    school = outer.children[1]
    views = school.children
    numbers = [v.children[0].value for v in views]
    assert "30.00 dB" in numbers[0] and "24.00 dB" in numbers[2] and "×1.67" in numbers[2]
    assert len(set(numbers)) == 3                    # each ratio shows its own numbers
    # ratio 0.4 school has a reconstruction; 0.2 has none; every view has its curves
    assert len(views[2].children) == 3 and len(views[1].children) == 2
    pngs = [v.children[1].value for v in views]
    assert len(set(pngs)) == 3                       # the marked point moves
    with pytest.raises(ValueError, match="ground truth"):
        E.explorer("deq", 0.167, "quick", store, images=images)


def test_widths_explorer_puts_the_round_to_on_the_buttons(store):
    import spadelib.explorer as E

    # the quick preset runs the DEQ at 0.4 with round_to 0, 8 and 16 (beyond-widths)
    for n, psnr, params in ((0, 25.0, 360), (8, 24.0, 256), (16, 23.0, 256)):
        cell = Cell("deq", 0.167, 0.4, "supervised", round_to=n)
        store.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": psnr,
                   "ssim": psnr / 40, "time_ms": 100.0 - n, "params": params})
    assert {c.round_to for c in E.widths_cells("deq", 0.167, "quick") if c.ratio} == {0, 8, 16}
    target = torch.rand(2, 16, 16)
    images = {Cell("deq", 0.167, 0.4, "supervised", round_to=8).key: target * 0.7}
    box = E.widths_explorer("deq", 0.167, "quick", store, images=images, target=target)
    assert E.CSS_CLASS in box._dom_classes
    _, controls, outer = box.children
    slider, buttons = controls.children
    assert list(slider.options) == ["0", "0.4"]
    assert list(buttons.options) == ["paper widths", "round_to 8", "round_to 16"]
    at_04 = [stack.children[1] for stack in outer.children]
    numbers = [v.children[0].value for v in at_04]
    assert "25.00 dB" in numbers[0] and "24.00 dB" in numbers[1] and "23.00 dB" in numbers[2]
    assert "×2.38" in numbers[2]                     # 200 ms unpruned / 84 ms at round_to 16
    assert [len(v.children) for v in at_04] == [2, 3, 2]   # only round_to 8 has an image
    # ratio 0 is the unpruned network under every button
    assert len({stack.children[0].children[0].value for stack in outer.children}) == 1
    # USRNet at the quick size: 0.4 with round_to 16 would empty a layer group, no button
    s2 = ResultStore(store.path.parent / "other.spade")
    usr = E.widths_explorer("usrnet", 4, "quick", s2)
    assert list(usr.children[1].children[1].options) == ["paper widths", "round_to 8"]
    assert "not run yet" in usr.children[2].children[1].children[1].children[0].value
    with pytest.raises(ValueError, match="no pruned beyond-widths cell"):
        E.widths_explorer("e2e-varnet", 0.167, "quick", store)
