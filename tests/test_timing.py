"""The one timing protocol (spadelib.timing): its checks, its sentence, the interleaved order,
a DEQ held to exactly N iterations, and every chapter-facing timer using it. No test here
asserts a speed."""
import pytest
import torch

from spadelib import get_preset
from spadelib.evaluation import evaluate
from spadelib.experiments.speed import paper_speedups, speedup_of
from spadelib.models.deq import build_deq
from spadelib.tasks import MRI
from spadelib.timing import PROTOCOL, TimingProtocol, fix_iterations, time_networks


class _Recorder:
    """A callable that logs its calls: what the timer ran, in which order."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def __call__(self, x):
        self.log.append(self.name)
        return x


def test_the_default_protocol_and_its_sentence():
    assert PROTOCOL == TimingProtocol(threads=1, warmup=1, repeats=3, interleave=True,
                                      statistic="median", deq_iterations="fixed")
    text = PROTOCOL.describe()
    assert text.startswith("One reconstruction of one measurement, timed on 1 torch thread:")
    assert "1 untimed warm-up run of each network" in text and "3 timed runs" in text
    assert "interleaved rounds" in text and "median" in text and "fixed number" in text
    assert "to its tolerance" in PROTOCOL.replace(deq_iterations="as-run").describe()
    assert "one network after the other" in PROTOCOL.replace(interleave=False).describe()


@pytest.mark.parametrize("kwargs", [{"threads": 0}, {"warmup": -1}, {"repeats": 0},
                                    {"repeats": 2.5}, {"statistic": "mean"},
                                    {"deq_iterations": "converged"}, {"interleave": "yes"}])
def test_bad_protocol_values_are_refused(kwargs):
    with pytest.raises((ValueError, TypeError)):
        TimingProtocol(**kwargs)
    with pytest.raises((ValueError, TypeError)):
        PROTOCOL.replace(**kwargs)


def test_interleaved_rounds_run_the_networks_round_robin():
    log = []
    nets = {k: _Recorder(k, log) for k in "abc"}
    out = time_networks(nets, torch.zeros(1), PROTOCOL.replace(warmup=1, repeats=2))
    assert log == list("abc") * 3                  # one warm-up round, then two timed rounds
    assert list(out) == ["a", "b", "c"] and all(len(t.times_ms) == 2 for t in out.values())
    log.clear()
    time_networks(nets, torch.zeros(1), PROTOCOL.replace(warmup=1, repeats=2,
                                                         interleave=False))
    assert log == ["a"] * 3 + ["b"] * 3 + ["c"] * 3


def test_the_statistic_and_the_threads_are_the_protocols(monkeypatch):
    import spadelib.timing as T
    times = iter([5.0, 1.0, 3.0])
    monkeypatch.setattr(T, "measure_latency", lambda *a, **k: type(
        "L", (), {"times_ms": [next(times)]})())
    assert time_networks({"a": abs}, 0, PROTOCOL.replace(warmup=0)).get("a").ms == 3.0
    times = iter([5.0, 1.0, 3.0])
    assert time_networks({"a": abs}, 0, PROTOCOL.replace(warmup=0, statistic="min"))["a"].ms \
        == 1.0
    monkeypatch.undo()
    before = torch.get_num_threads()
    seen = []
    time_networks({"a": lambda x: seen.append(torch.get_num_threads())}, 0,
                  PROTOCOL.replace(warmup=0, repeats=1, threads=1))
    assert seen == [1] and torch.get_num_threads() == before          # restored


def _tiny_deq():
    P = get_preset("quick").replace(mri_size=(16, 16), mri_coils=2, deq_blocks=1,
                                    deq_features=8, deq_max_iter=7, deq_tol=1e-2)
    torch.manual_seed(0)
    return P, build_deq(P).eval(), MRI.random_measurement(P, batch=1, seed=0)


def test_a_fixed_deq_runs_exactly_n_iterations_and_is_restored():
    P, net, m = _tiny_deq()
    out = time_networks({"deq": net}, m, PROTOCOL.replace(warmup=0, repeats=2), iterations=4)
    assert out["deq"].iterations == 4 and net.last_stats["iterations"] == 4
    assert (net.max_iter, net.tol) == (7, 1e-2)                       # restored
    out = time_networks({"deq": net}, m, PROTOCOL.replace(warmup=0, repeats=1))
    assert out["deq"].iterations == 7                                # default: its budget
    fix_iterations("deq", net, 3)
    assert (net.max_iter, net.tol) == (3, 1e-30)


def test_an_as_run_deq_stops_at_its_tolerance():
    P, net, m = _tiny_deq()
    net.tol = 1e10                                                    # met at once
    out = time_networks({"deq": net}, m, PROTOCOL.replace(warmup=0, repeats=1,
                                                          deq_iterations="as-run"))
    assert out["deq"].iterations == 1


def test_time_networks_refuses_bad_calls():
    with pytest.raises(TypeError):
        time_networks({"a": abs}, 0, {"repeats": 1})
    with pytest.raises(ValueError):
        time_networks({}, 0)
    with pytest.raises(ValueError):
        time_networks({"a": abs}, 0, iterations=0)


def test_evaluate_times_under_the_protocol(monkeypatch):
    import spadelib.evaluation as E
    seen = []
    real = E.time_networks
    monkeypatch.setattr(E, "time_networks", lambda nets, m, protocol, **k: seen.append(
        protocol) or real(nets, m, protocol, **k))
    P, net, _ = _tiny_deq()
    data = MRI.random_samples(P, n=2, seed=0)
    ev = evaluate(net, data, batch_size=2)
    assert seen == [PROTOCOL] and len(ev.time_ms_all) == PROTOCOL.repeats
    evaluate(net, data, batch_size=2, timing_repeats=1)
    assert seen[-1] == PROTOCOL.replace(repeats=1)


def test_paper_speedups_rows_and_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SPADE_DATA_DIR", str(tmp_path))
    import spadelib.experiments.speed as S
    calls = []

    def fake(networks, ratios, deq_iters, usrnet_iters, protocol, seed, log):
        calls.append(protocol)
        return [{"network": n, "ratio": r, "speedup": 1 + r} for n in networks
                for r in (0.0, *ratios)]

    monkeypatch.setattr(S, "_measure", fake)
    rows = paper_speedups(["deq"], (0.4,))
    assert calls == [PROTOCOL] and speedup_of(rows, "deq", 0.4) == 1.4
    assert paper_speedups(["deq"], (0.4,)) == rows and len(calls) == 1     # cached
    assert speedup_of(rows, "deq", 0.2) is None and speedup_of(None, "deq", 0.4) is None
    with pytest.raises(ValueError):
        paper_speedups(["deq"], (0.4,), protocol=PROTOCOL.replace(deq_iterations="as-run"))
