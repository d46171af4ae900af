"""Tests of spadelib.plotting.chapter2 (Agg backend, no display)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from spadelib.models.deq import solve_fixed_point  # noqa: E402
from spadelib.plotting.chapter2 import show_solver_runs  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _run(n, rate=0.5, psnr=True):
    stats = {"residuals": [rate ** k for k in range(n)],
             "times": [0.01 * (k + 1) for k in range(n)]}
    if psnr:
        stats["psnr"] = [20.0 + k for k in range(n)]
    return stats


def test_panels_hold_each_run_and_the_marks():
    runs = {"forward": _run(6), "anderson": _run(4, 0.2), "variant": _run(5, psnr=False)}
    fig = show_solver_runs(runs, budget=3, tol=1e-2, title="t")
    ax1, ax2 = fig.axes[:2]
    curves = {ln.get_label(): ln for ln in ax1.lines if not ln.get_label().startswith("_")}
    assert set(curves) == {"forward", "anderson", "variant"}
    np.testing.assert_allclose(curves["anderson"].get_ydata(), runs["anderson"]["residuals"])
    np.testing.assert_allclose(curves["forward"].get_xdata(), np.arange(1, 7))
    assert curves["variant"].get_linestyle() == "--"
    # the budget (vertical) and the tolerance (horizontal) rules
    rules = [ln for ln in ax1.lines if ln.get_label().startswith("_")]
    assert any(np.allclose(ln.get_xdata(), 3) for ln in rules)
    assert any(np.allclose(ln.get_ydata(), 1e-2) for ln in rules)
    # right: PSNR against milliseconds, only runs with a PSNR trace, a dot at the budget
    right = {ln.get_label(): ln for ln in ax2.lines if ln.get_linestyle() == "-"}
    assert set(right) == {"forward", "anderson"}
    np.testing.assert_allclose(right["forward"].get_xdata(), np.arange(1, 7) * 10.0)
    assert ax2.get_xlabel() == "wall time (ms)"
    dots = [ln for ln in ax2.lines if ln.get_marker() == "o"]
    assert sorted(float(d.get_ydata()[0]) for d in dots) == [22.0, 22.0]
    assert fig._suptitle.get_text() == "t"


def test_long_runs_are_timed_in_seconds():
    slow = {"residuals": [1.0, 0.5], "times": [6.0, 12.0], "psnr": [20.0, 21.0]}
    fig = show_solver_runs({"slow": slow, "fast": _run(3)})
    ax2 = fig.axes[1]
    assert ax2.get_xlabel() == "wall time (s)"
    np.testing.assert_allclose(ax2.lines[0].get_xdata(), [6.0, 12.0])
    np.testing.assert_allclose(ax2.lines[1].get_xdata(), [0.01, 0.02, 0.03])


def test_budget_past_a_short_run_marks_its_last_iteration():
    fig = show_solver_runs({"short": _run(2)}, budget=10)
    dots = [ln for ln in fig.axes[1].lines if ln.get_marker() == "o"]
    assert float(dots[0].get_ydata()[0]) == 21.0


def test_draws_the_stats_of_a_real_solve():
    fn = lambda x: 0.5 * x + 1.0  # noqa: E731  fixed point 2
    _, stats = solve_fixed_point(fn, torch.zeros(2, 3), solver="anderson", max_iter=8, tol=1e-9)
    fig = show_solver_runs({"anderson": stats})
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), stats["residuals"])
    assert fig.axes[1].texts and "no run" in fig.axes[1].texts[0].get_text()


@pytest.mark.parametrize("runs, kwargs, error, match", [
    ({}, {}, ValueError, "empty"),
    ([1, 2], {}, TypeError, "dict"),
    ({"a": [1.0]}, {}, TypeError, "stats dict"),
    ({"a": {"times": [1.0]}}, {}, ValueError, "no 'residuals'"),
    ({"a": {"residuals": [1.0, 0.5], "times": [0.1]}}, {}, ValueError, "1 entries"),
    ({"a": {"residuals": [1.0], "psnr": [20.0]}}, {}, ValueError, "no 'times'"),
    ({"a": {"residuals": ["x"]}}, {}, TypeError, "numbers"),
    ({"a": {"residuals": []}}, {}, ValueError, "non-empty"),
    ({"a": {"residuals": [1.0]}}, {"budget": 0}, ValueError, "budget"),
    ({"a": {"residuals": [1.0]}}, {"tol": -1.0}, ValueError, "tol"),
    ({"a": {"residuals": [1.0]}}, {"size": 3}, ValueError, "pair"),
])
def test_refuses_bad_input(runs, kwargs, error, match):
    with pytest.raises(error, match=match):
        show_solver_runs(runs, **kwargs)
