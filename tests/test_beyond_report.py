"""Chapter 8's tables and figures from a small store: criteria with seeds, self-supervision,
rounded widths; missing numbers say why."""
import math

import matplotlib
import pytest

from spadelib.beyond.report import criteria_frame, gap_closed, selfsup_frame, widths_frame
from spadelib.experiments import Cell, ResultStore
from spadelib.experiments.tables import NOT_RUN, PAPER_ONLY
from spadelib.plotting.beyond import (plot_criteria, plot_selfsup, plot_speedup_vs_macs,
                                      plot_time_to_quality)

matplotlib.use("Agg")


def _add(store, cell, psnr, params=1000, **extra):
    store.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": psnr,
               "ssim": 0.8, "time_ms": 10.0, "params": params, **extra})


@pytest.fixture
def store(tmp_path):
    s = ResultStore(tmp_path / "results-paper.spade")
    for net, base in (("deq", 30.0), ("varnet", 29.0)):
        _add(s, Cell(net, 0.167, 0.0, "none"), base, params=1000)
        _add(s, Cell(net, 0.167, 0.4, "none"), base - 10)
    # l1 over three seeds: 25.0, 25.2, 25.4 (sd 0.2); taylor far above, l2 within the spread
    for seed, p in enumerate((25.0, 25.2, 25.4)):
        _add(s, Cell("deq", 0.167, 0.4, "supervised", seed=seed), p, params=350)
        _add(s, Cell("deq", 0.167, 0.4, "supervised", criterion="taylor", seed=seed), p + 2,
             params=350)
        _add(s, Cell("deq", 0.167, 0.4, "supervised", criterion="l2", seed=seed), p + 0.1,
             params=350)
    _add(s, Cell("deq", 0.167, 0.4, "self-supervised"), 21.0)
    _add(s, Cell("deq", 0.167, 0.4, "self-supervised-split"), 24.0)
    _add(s, Cell("varnet", 0.167, 0.4, "supervised"), 27.0)
    _add(s, Cell("varnet", 0.167, 0.4, "self-supervised"), 26.0)
    _add(s, Cell("deq", 0.167, 0.4, "supervised", round_to=16), 24.5, params=250,
         channels=[[32, 16], [2, 2]])
    return s


def test_criteria_frame_averages_seeds_and_reads_differences_against_the_spread(store):
    f = criteria_frame("paper", store).set_index(["key", "criterion"])
    l1, taylor, l2 = f.loc[("deq", "l1")], f.loc[("deq", "taylor")], f.loc[("deq", "l2")]
    assert l1["seeds"] == 3 and l1["psnr"] == pytest.approx(25.2)
    assert l1["psnr_sd"] == pytest.approx(0.2)
    assert taylor["delta_l1"] == pytest.approx(2.0) and taylor["beyond_spread"] is True
    assert l2["delta_l1"] == pytest.approx(0.1) and l2["beyond_spread"] is False
    assert l1["params_kept"] == pytest.approx(35.0)
    # a criterion with no row is NaN with its reason, not a number
    lamp = f.loc[("deq", "lamp-global")]
    assert math.isnan(lamp["psnr"]) and lamp["seeds"] == 0 and lamp["missing"] == NOT_RUN
    fig = plot_criteria(criteria_frame("paper", store))
    assert len(fig.axes) == 2
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["l1 (3)", "l2 (3)", "taylor (3)"]


def test_one_seed_gives_no_verdict_on_the_spread(tmp_path):
    s = ResultStore(tmp_path / "results-quick.spade")
    _add(s, Cell("deq", 0.167, 0.0, "none"), 30.0)
    _add(s, Cell("deq", 0.167, 0.4, "supervised"), 25.0)
    _add(s, Cell("deq", 0.167, 0.4, "supervised", criterion="taylor"), 26.0)
    f = criteria_frame("quick", s, networks=("deq",)).set_index("criterion")
    assert f.loc["taylor", "delta_l1"] == pytest.approx(1.0)
    assert f.loc["taylor", "beyond_spread"] is None
    # hessian is outside the quick subset: marked, not "not run yet"
    assert f.loc["hessian", "missing"] == PAPER_ONLY


def test_selfsup_frame_gives_the_share_of_the_gap_closed(store):
    f = selfsup_frame("paper", store).set_index("key")
    assert f.loc["deq", "gap_closed"] == pytest.approx((24 - 21) / (25.0 - 21))
    assert math.isnan(f.loc["varnet", "gap_closed"])      # no split cell
    assert "self-supervised-split: not run yet" in f.loc["varnet", "missing"]
    assert math.isnan(f.loc["varnet", "self-supervised-split-held-out"])
    _add(store, Cell("varnet", 0.167, 0.4, "self-supervised-split-held-out"), 20.5)
    assert selfsup_frame("paper", store).set_index("key").loc[
        "varnet", "self-supervised-split-held-out"] == 20.5
    assert gap_closed(20.0, 19.0, 22.0) == pytest.approx(-0.5)
    assert math.isnan(gap_closed(22.0, 23.0, 21.0))        # supervised below: no gap
    fig = plot_selfsup(selfsup_frame("paper", store))
    assert fig.axes[0].get_ylabel() == "PSNR (dB)"


def test_widths_frame_compares_rounded_with_the_papers_widths(store):
    f = widths_frame("paper", store)
    deq16 = f[(f["key"] == "deq") & (f["ratio"] == 0.4) & (f["round_to"] == 16)].iloc[0]
    assert deq16["delta_paper_widths"] == pytest.approx(24.5 - 25.0)
    assert deq16["channels"] == "32→16"
    deq8 = f[(f["key"] == "deq") & (f["ratio"] == 0.4) & (f["round_to"] == 8)].iloc[0]
    assert math.isnan(deq8["psnr"]) and deq8["missing"] == NOT_RUN
    assert not (f["ratio"] == 0).any()


def test_time_to_quality_and_speedup_figures_mark_what_they_measure():
    result = {"target_psnr": 27.9, "rows": [
        {"variant": "a", "seconds_to_target": 0.2, "iterations_to_target": 2},
        {"variant": "b", "seconds_to_target": None, "iterations_to_target": None}],
        "traces": {"a": {"times": [0.1, 0.2, 0.3], "psnr": [27.0, 28.0, 28.1]},
                   "b": {"times": [0.05, 0.1, 0.15], "psnr": [26.0, 26.5, 26.6]}}}
    ax = plot_time_to_quality(result).axes[0]
    marks = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [0.2]   # only "a" reaches it
    rows = [{"network": "deq", "ratio": 0.4, "options": "plain", "speedup": 1.5,
             "macs_ratio": 2.8},
            {"network": "deq", "ratio": 0.0, "options": "plain", "speedup": 1.0,
             "macs_ratio": 1.0},
            {"network": "varnet", "ratio": 0.4, "options": "r8", "speedup": None,
             "macs_ratio": None}]
    ax = plot_speedup_vs_macs(rows).axes[0]
    points = [ln for ln in ax.lines if len(ln.get_xdata()) == 1]
    assert [(float(p.get_xdata()[0]), float(p.get_ydata()[0])) for p in points] == [(2.8, 1.5)]
    with pytest.raises(ValueError, match="no timed pruned row"):
        plot_speedup_vs_macs(rows[1:])
