"""Time to quality for the DEQ (Chapter 8): traces, the target, the table of variants."""
import pytest
import torch

import spadelib.experiments.runner as R
from spadelib.beyond import deq_speed as S
from spadelib.evaluation import evaluate
from spadelib.metrics import psnr
from spadelib.models.deq import build_deq
from spadelib.presets import get_preset
from spadelib.pruning import prune
from spadelib.tasks import task_of
from spadelib.timing import PROTOCOL

P = get_preset("quick").replace(mri_size=(16, 16), mri_coils=2, deq_blocks=1, deq_features=4)


def _tiny_deq(seed=0, max_iter=6):
    torch.manual_seed(seed)
    return build_deq(P, max_iter=max_iter, tol=1e-9).eval()


@pytest.fixture(scope="module")
def data():
    return task_of("deq").random_samples(P, n=3, seed=3)


def test_time_to_quality_reads_the_first_time_the_target_is_reached():
    trace = {"psnr": [20.0, 25.0, 27.0, 26.0, 27.5], "times": [0.1, 0.2, 0.3, 0.4, 0.5]}
    assert S.time_to_quality(trace, 26.5) == 0.3
    assert S.iterations_to_quality(trace, 26.5) == 3
    assert S.time_to_quality(trace, 20.0) == 0.1
    assert S.time_to_quality(trace, 27.2) == 0.5          # the dip at iteration 4 is skipped
    assert S.time_to_quality(trace, 28.0) is None         # never reached: no invented time
    assert S.time_to_quality({"psnr": [float("nan")], "times": [1.0]}, 0.0) is None
    with pytest.raises(ValueError, match="same iterations"):
        S.time_to_quality({"psnr": [1.0, 2.0], "times": [1.0]}, 1.0)
    with pytest.raises(ValueError, match="'psnr' and 'times'"):
        S.time_to_quality({"psnr": [1.0]}, 1.0)
    with pytest.raises(ValueError, match="target_psnr"):
        S.time_to_quality(trace, float("nan"))


def test_trace_matches_iterate_and_evaluate(data):
    net = _tiny_deq()
    trace = S.deq_trace(net, data, solver="forward")
    batch = data.batch(list(range(len(data))))
    _, stats = net.iterate(batch, solver="forward", target=batch.target)
    assert trace["iterations"] == stats["iterations"] == 6
    assert trace["psnr"] == pytest.approx(stats["psnr"], abs=1e-9)   # the same iterates
    assert trace["residuals"] == pytest.approx(stats["residuals"], abs=1e-12)
    assert all(b > a for a, b in zip(trace["times"], trace["times"][1:]))
    net.solver = "forward"
    ev = evaluate(net, data, batch_size=len(data), timing_repeats=1)
    assert trace["final_psnr"] == pytest.approx(ev.psnr, abs=1e-6)
    assert trace["batch"] == 3 and trace["start"] == "A^H y" and not trace["converged"]


def test_a_warm_start_changes_the_first_iterate(data):
    net = _tiny_deq()
    cold = S.deq_trace(net, data, solver="anderson", max_iter=3, samples=[0, 2])
    batch = data.batch([0, 2])
    x0 = batch.physics().A_adjoint(batch.y)
    same = S.deq_trace(net, data, solver="anderson", max_iter=3, samples=[0, 2], start=x0)
    assert same["psnr"] == pytest.approx(cold["psnr"], abs=1e-9)      # the adjoint, given
    warm = S.deq_trace(net, data, solver="anderson", max_iter=3, samples=[0, 2],
                       start=batch.target)
    with torch.no_grad():                       # the first iterate is T(start)
        first = net.operator(batch.physics(), batch.y)(batch.target)
    assert warm["psnr"][0] == pytest.approx(
        float(psnr(first, batch.target, complex_input=True).mean()), abs=1e-6)
    assert abs(warm["psnr"][0] - cold["psnr"][0]) > 0.3
    assert warm["start"] == "given image"


def test_a_cascade_runs_the_cheap_network_first_within_the_budget(data):
    net, cheap = _tiny_deq(0), _tiny_deq(1)
    cheap_alone = S.deq_trace(cheap, data, solver="forward", max_iter=2)
    cascade = S.deq_trace(net, data, solver="forward", max_iter=5, warm_net=cheap,
                          warm_iters=2)
    assert cascade["iterations"] == 5 and cascade["warm_iters"] == 2
    assert cascade["psnr"][:2] == pytest.approx(cheap_alone["psnr"], abs=1e-9)
    alone = S.deq_trace(net, data, solver="forward", max_iter=5)
    assert cascade["psnr"][2] != pytest.approx(alone["psnr"][2], abs=1e-6)
    with pytest.raises(ValueError, match="below max_iter"):
        S.deq_trace(net, data, max_iter=2, warm_net=cheap, warm_iters=2)
    with pytest.raises(TypeError, match="warm_net"):
        S.deq_trace(net, data, max_iter=5, warm_iters=2)


def test_trace_restores_the_train_modes_even_after_an_error(data, monkeypatch):
    net, cheap = _tiny_deq(0).train(), _tiny_deq(1).train()
    S.deq_trace(net, data, max_iter=3, warm_net=cheap, warm_iters=1)
    assert net.training and cheap.training

    def broken(*args, **kwargs):
        assert not net.training and not cheap.training      # the solve runs in eval mode
        raise RuntimeError("solver failed")

    monkeypatch.setattr(S, "solve_fixed_point", broken)
    with pytest.raises(RuntimeError, match="solver failed"):
        S.deq_trace(net, data, max_iter=3, warm_net=cheap, warm_iters=1)
    assert net.training and cheap.training


def test_bad_inputs_are_refused(data):
    net = _tiny_deq()
    with pytest.raises(ValueError, match="solver"):
        S.deq_trace(net, data, solver="broyden")
    with pytest.raises(ValueError, match="start"):
        S.deq_trace(net, data, start="zeros")
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        S.deq_trace(net, data, start=torch.zeros(1, 2, 16, 16))
    with pytest.raises(ValueError, match="samples"):
        S.deq_trace(net, data, samples=[5])
    with pytest.raises(ValueError, match="ground truth"):
        S.deq_trace(net, data.measurements_only())
    with pytest.raises(TypeError, match="DEQ"):
        S.deq_trace(torch.nn.Linear(2, 2), data)
    with pytest.raises(ValueError, match="repeats"):
        S.compare_variants(net, net, data, repeats=0)
    with pytest.raises(ValueError, match="cascade_iters"):
        S.compare_variants(net, net, data, cascade_iters=(6,))


def test_compare_variants_times_every_variant_against_the_paper_setting(data):
    net = _tiny_deq(max_iter=5)
    pruned = prune(net, 0.5)[0].eval()
    threads = torch.get_num_threads()
    out = S.compare_variants(net, pruned, data, repeats=2, warmup_iters=1, threads=1,
                             cascade_iters=(2,), tolerance_db=0.1)
    assert torch.get_num_threads() == threads                      # restored
    rows = {r["variant"]: r for r in out["rows"]}
    assert list(rows) == ["unpruned + forward", "pruned + forward", "unpruned + anderson",
                          "pruned + anderson", "pruned 2 it. -> unpruned + anderson"]
    ref = rows["unpruned + forward"]
    assert out["target_psnr"] == pytest.approx(ref["final_psnr"] - 0.1)
    assert out["threads"] == 1 and out["repeats"] == 2 and out["batch"] == 3
    for r in out["rows"]:
        trace = out["traces"][r["variant"]]
        assert len(trace["psnr"]) == len(trace["times"]) == r["iterations"] <= 5
        assert r["iterations_to_target"] == S.iterations_to_quality(trace, out["target_psnr"])
        if r["iterations_to_target"] is None:
            assert r["seconds_to_target"] is None and r["speedup"] is None
        else:
            assert len(r["seconds_to_target_all"]) == 2
            assert r["seconds_to_target"] == pytest.approx(
                sum(r["seconds_to_target_all"]) / 2)                  # the median of two
    assert ref["speedup"] == 1.0
    table = S.format_rows(out["rows"])
    assert table.count("\n") == 6 and "x" in table.splitlines()[2]


def test_format_rows_says_when_a_variant_never_gets_there():
    row = {"variant": "pruned + forward", "iterations_to_target": None,
           "seconds_to_target": None, "speedup": None, "final_psnr": 25.0,
           "ms_per_iteration": 2.0, "iterations": 30, "converged": False}
    line = S.format_rows([row]).splitlines()[-1]
    assert line.count("not reached") == 2 and "30 (budget)" in line


def test_bench_builds_the_networks_of_the_grid_cells(monkeypatch):
    cells = []
    test = task_of("deq").random_samples(P, n=5, seed=4)

    def network(cell, preset=None, device=None, progress=False):
        cells.append(cell)
        net = _tiny_deq(max_iter=4)
        return (net if cell.ratio == 0 else prune(net, cell.ratio)[0].eval()), net, test, {}

    monkeypatch.setattr(R, "cell_network", network)
    out = S.bench_time_to_quality("quick", 0.4, "none", n_samples=3, repeats=1, log=None)
    assert [(c.ratio, c.regime) for c in cells] == [(0.0, "none"), (0.4, "none")]
    assert out["samples"] == [0, 2, 4] and out["batch"] == 3
    assert out["rows"][-1]["warm_iters"] == 1            # a third of the budget of 4


def test_iteration_cost_times_unpruned_and_pruned():
    rows = S.iteration_cost(P, 0.5, iters=2, solvers=("forward", "anderson"))
    assert [(r["network"], r["solver"]) for r in rows] == [
        ("unpruned", "forward"), ("unpruned", "anderson"), ("pruned", "forward"),
        ("pruned", "anderson")]
    assert rows[2]["params"] < rows[0]["params"] and rows[0]["speedup"] == 1.0
    assert all(r["ms_per_iteration"] > 0 and len(r["times_ms"]) == PROTOCOL.repeats
               and r["protocol"] == PROTOCOL.describe() and r["iterations"] == 2 for r in rows)
    assert "| pruned | 0.5 | forward |" in S.format_costs(rows)
    with pytest.raises(ValueError, match="iters"):
        S.iteration_cost(P, 0.5, iters=0)
    with pytest.raises(ValueError, match="fixed"):
        S.iteration_cost(P, 0.5, protocol=PROTOCOL.replace(deq_iterations="as-run"))
