"""Tests of spadelib.plotting.chapter4 (Agg backend, no display)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from spadelib.plotting.chapter4 import (removal_ratio, show_group_scores,  # noqa: E402
                                        show_pruning_sweep)
from spadelib.pruning import kept_channels  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_removal_ratio_follows_the_local_rule():
    alpha = np.array([5.0, 1, 2, 3, 4, 6, 7, 8, 9, 10])      # K = 10
    got = removal_ratio(alpha, (0.4, 0.05, 0.2, 0.1))
    # 0.05 and 0.1 remove 1 channel (keep int(9.5) = int(9.0) = 9), 0.2 two, 0.4 four
    expected = [np.nan, 0.05, 0.2, 0.4, 0.4] + [np.nan] * 5
    np.testing.assert_array_equal(got, expected)
    for r in (0.05, 0.1, 0.2, 0.4):
        assert (got <= r).sum() == 10 - kept_channels(10, r)


def test_removal_ratio_refuses_bad_input():
    with pytest.raises(ValueError, match="pruning ratio"):
        removal_ratio([1.0, 2.0], (1.5,))
    with pytest.raises(ValueError, match="empty"):
        removal_ratio([], (0.1,))


def test_group_scores_axis_spans_the_scores_not_zero():
    gen = torch.Generator().manual_seed(0)
    alpha = torch.linspace(0.95, 1.05, 32)[torch.randperm(32, generator=gen)]
    fig = show_group_scores(alpha, title="trunk")
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert 0.9 < lo < 0.95 and 1.05 < hi < 1.1        # the spread fills the axis, not 0..1
    # scatters: the kept channels first, then one per ratio (the channels it starts removing)
    offsets = [c.get_offsets() for c in ax.collections if type(c).__name__ == "PathCollection"]
    xy = np.concatenate(offsets)
    assert len(xy) == 32                               # every channel drawn once
    xy = xy[np.argsort(xy[:, 0])]
    np.testing.assert_allclose(xy[:, 1], np.sort(alpha.numpy()), rtol=1e-6)   # sorted
    assert sum(len(o) for o in offsets[1:]) == 32 - kept_channels(32, 0.4)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "removed from ratio 0.4 on" in labels and "mean" in labels
    assert ax.get_title() == "trunk"


def test_group_scores_refuses_nan():
    with pytest.raises(ValueError, match="NaN"):
        show_group_scores(np.array([1.0, np.nan, 2.0]))


def _points():
    out = []
    for name, base_ms, apps in (("deq", 100.0, 12.0), ("usrnet", 50.0, 5)):
        for r, shrink in ((0.0, 1.0), (0.2, 0.64), (0.4, 0.36)):
            out.append(dict(network=name, ratio=r, params=int(1000 * shrink),
                            macs_per_application=int(1e6 * shrink), applications=apps + 10 * r,
                            psnr=30.0 - 5 * r,
                            times_ms=[base_ms * (0.5 + shrink / 2) * f
                                      for f in (0.9, 1.0, 1.3)]))
    return out


def test_sweep_shows_every_repeat_and_the_median():
    fig = show_pruning_sweep(_points(), fixed_iterations=30)
    ax_p, ax_m, ax_t, ax_a, ax_psnr = fig.axes[:5]
    assert "fixed 30 iterations" in ax_t.get_title()
    assert "per application" in ax_m.get_title()
    dots = [c for c in ax_t.collections if len(c.get_offsets())]
    assert len(dots) == 6 and all(len(c.get_offsets()) == 3 for c in dots)   # every repeat
    deq_line = ax_t.get_lines()[0]
    # the unpruned median is x1; at r = 0.4 the median time is 100 * 0.68 ms -> x1/0.68
    np.testing.assert_allclose(deq_line.get_ydata(), [1.0, 1 / 0.82, 1 / 0.68])
    np.testing.assert_allclose(ax_p.get_lines()[0].get_ydata(), [1.0, 0.64, 0.36])
    np.testing.assert_allclose(ax_a.get_lines()[0].get_ydata(), [12.0, 14.0, 16.0])
    np.testing.assert_allclose(ax_psnr.get_lines()[1].get_ydata(), [0.0, -1.0, -2.0])


def test_sweep_refuses_points_without_a_baseline_or_a_time():
    pts = [p for p in _points() if not (p["network"] == "deq" and p["ratio"] == 0)]
    with pytest.raises(ValueError, match="no point at ratio 0"):
        show_pruning_sweep(pts)
    pts = _points()
    pts[1]["times_ms"] = []
    with pytest.raises(ValueError, match="no timed repeat"):
        show_pruning_sweep(pts)
    pts = _points()
    del pts[2]["psnr"]
    with pytest.raises(ValueError, match="lacks psnr"):
        show_pruning_sweep(pts)
    with pytest.raises(ValueError, match="at least one point"):
        show_pruning_sweep([])
