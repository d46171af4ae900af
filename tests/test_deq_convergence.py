"""How far a DEQ's solver gets: the fixed-point report of spadelib.evaluation, and its verdicts
under another thread count."""
import math

import numpy as np
import pytest
import torch

from spadelib import pruning
from spadelib.evaluation import convergence, fixed_point_report
from spadelib.models.deq import DEQ
from spadelib.models.edsr import EDSR
from test_deq import toy_measurement


def test_report_definitions():
    rep = fixed_point_report([[0.1, 0.05, 5e-4, 1e-4],      # converged at iteration 3
                              [0.1, 0.2, 0.3],              # grows: diverging
                              [0.1, 0.09, 0.089],           # stalls: neither
                              [0.1, math.nan]], 1e-3)       # not finite: diverging
    assert rep.traces[0] == [0.1, 0.05, 5e-4]               # cut after its own convergence
    assert rep.iterations == [3, 3, 3, 2]
    assert rep.converged == [True, False, False, False]
    assert rep.diverging == [False, True, False, True]
    assert rep.best[1] == 0.1 and rep.best[3] == 0.1
    assert rep.rate[1] == pytest.approx(3 ** 0.5) and math.isnan(rep.rate[3])
    s = rep.summary()
    assert s["converged_share"] == 0.25 and s["diverging_share"] == 0.5
    assert s["residual_median"] == pytest.approx((0.089 + 0.3) / 2)   # NaN counts as +inf
    with pytest.raises(ValueError, match="different tolerances"):
        fixed_point_report([[0.1], [0.2]], (1e-3, 1e-4))
    with pytest.raises(ValueError, match="non-empty"):
        fixed_point_report([[]], 1e-3)


def test_convergence_of_a_network_on_a_split(tiny_preset, data_dir):
    from spadelib.data.mri import mri_dataset
    from spadelib.models.deq import build_deq

    data = mri_dataset("test", tiny_preset, progress=False)
    net = build_deq(tiny_preset, max_iter=3)
    rep = convergence(net, data, batch_size=2)
    assert len(rep.traces) == len(data) and rep.tol == net.tol
    assert all(1 <= n <= 3 for n in rep.iterations)

    class ZeroFilled(torch.nn.Module):               # no fixed point, no traces
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def forward(self, m):
            return self.w * m.physics().A_adjoint(m.y)

    with pytest.raises(ValueError, match="no residual traces"):
        convergence(ZeroFilled(), data)


def test_residual_traces_draws_every_image():
    from spadelib.plotting import residual_traces

    fig = residual_traces({"a": [[0.1, 0.01], [0.1, 0.05, 0.02]], "b": [[0.2, 0.3]]}, tol=1e-3)
    assert len(fig.axes) == 2
    first = fig.axes[0].lines
    assert [list(line.get_ydata()) for line in first[:2]] == [[0.1, 0.01], [0.1, 0.05, 0.02]]
    assert list(first[2].get_ydata()) == pytest.approx([0.1, 0.03])   # median where most run
    with pytest.raises(ValueError, match="at least one network"):
        residual_traces({"a": []})


def _edge_deq(scale: float) -> DEQ:
    """A random float32 DEQ whose prior weights are scaled by ``scale``: at 2 its solver
    stalls (residual ratio about 1 per iteration), the regime of the quick preset's DEQ
    pruned at 0.4."""
    torch.manual_seed(0)
    prior = EDSR(2, 2, features=16, blocks=2)
    with torch.no_grad():
        for p in prior.parameters():
            p.mul_(scale)
    return DEQ(prior, alpha=0.5, max_iter=20, tol=1e-3).eval()


def _verdicts(net, measurement) -> dict:
    _, stats = net.iterate(measurement)
    rep = fixed_point_report(list(zip(*stats["item_residuals"])), stats["tol"])
    return {"converged": rep.converged, "diverging": rep.diverging,
            "median": rep.summary()["residual_median"]}


@pytest.mark.determinism
def test_pruned_deq_verdicts_agree_under_one_and_two_threads():
    """The verdicts of a convergence report, computed under 1 and under 2 torch threads (a
    stand-in for another machine: float reductions split differently), agree: which samples
    converged, which diverge, and which of two networks ends nearer its fixed point when
    their median final residuals differ by more than a factor 1.5.

    What it proves: for a stalling DEQ (an unpruned random DEQ with its weights doubled and
    the same pruned at 0.4; residual ratios about 1, nothing reaches tol), the verdicts read
    off the residual traces do not hinge on float bits. It does not reproduce the flip of the
    quick preset's self-supervised cell at ratio 0.4, which comes from fine-tuning: on the
    machine that wrote this test, that cell's pruned, not fine-tuned DEQ evaluated alike
    under 1 and 2 threads (18.35 dB, no image converged, median final residual 0.045),
    while its 10 epochs of self-supervised fine-tuning, through a solver that stalls, ended
    at 19.42 dB under 1 thread and 17.57 dB under 2 (about half the images converged in
    both). Catching that needs two fine-tuning runs, minutes each, beyond a unit test.
    """
    measurement, _ = toy_measurement(b=4, c=4, h=32, w=32, dtype=torch.float32)
    before = torch.get_num_threads()
    seen = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            full = _edge_deq(2.0)
            pruned = pruning.prune(full, 0.4)[0].eval()
            seen[threads] = {"full": _verdicts(full, measurement),
                             "pruned": _verdicts(pruned, measurement)}
    finally:
        torch.set_num_threads(before)
    one, two = seen[1], seen[2]
    for name in ("full", "pruned"):
        assert one[name]["converged"] == two[name]["converged"], name
        assert one[name]["diverging"] == two[name]["diverging"], name
    ratios = [v["pruned"]["median"] / v["full"]["median"] for v in (one, two)]
    assert max(ratios) < 1 / 1.5 or min(ratios) > 1.5, \
        f"the two networks' residuals are within the tolerance of each other: {ratios}"
    assert (ratios[0] > 1) == (ratios[1] > 1)
    assert not any(one["pruned"]["converged"]) and np.isfinite(one["pruned"]["median"])


def test_convergence_sentence_follows_the_numbers():
    from spadelib.prose import convergence_sentence

    ok = {"residual_median": 4e-4, "converged_share": 1.0, "diverging_share": 0.0,
          "residual_rate": 0.6}
    stuck = {"residual_median": 0.045, "converged_share": 0.0, "diverging_share": 0.25,
             "residual_rate": 0.97}
    text = convergence_sentence({"the unpruned DEQ": ok, "the pruned DEQ": stuck}, 1e-3, 20)
    assert "at most 20 iterations" in text and "tolerance 0.001" in text
    assert "unpruned DEQ reaches it on all of the test images (100 %)" in text
    assert "still shrinking" in text and "pruned DEQ reaches it on none of" in text
    assert "diverges on 25 %" in text and "stalled at the end (0.97" in text
    grown = convergence_sentence({"x": {**stuck, "residual_rate": 1.3,
                                        "diverging_share": 0.0}}, 1e-3, 20)
    assert "growing" in grown and "diverges" not in grown
