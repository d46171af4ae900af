"""Widths the hardware likes (spadelib.beyond.hardware): options as data, prepare keeps the
numbers, round_to widths, the speed-up arithmetic."""
import pytest
import torch

from spadelib.beyond import inference
from spadelib.beyond.hardware import (InferenceOptions, add_speedups, bench_hardware,
                                      format_rows, max_relative_error, prepare, targets)
from spadelib.models import NAMES, build
from spadelib.presets import get_preset
from spadelib.tasks import task_of
from spadelib.timing import PROTOCOL


@pytest.fixture
def tiny():
    """Every network a few thousand parameters, images of 32 x 32 (MRI) and 36 x 36 (SR)."""
    return get_preset("quick").replace(
        mri_size=(32, 32), mri_coils=2, deq_blocks=1, deq_features=16, deq_max_iter=2,
        deq_tol=1e-30, varnet_cascades=1, varnet_chans=4, varnet_pools=1, sens_chans=2,
        sens_pools=1, usrnet_channels=(8, 16, 32, 64), usrnet_blocks=1, usrnet_iters=1,
        sr_size=36, sr_scale=2)


# ------------------------------------------------------------------ options as data
def test_labels_round_trip_and_name_the_options():
    opts = [InferenceOptions(), InferenceOptions(round_to=16),
            InferenceOptions(8, True, True, True), InferenceOptions(channels_last=True)]
    assert [o.label for o in opts] == ["plain", "r16", "r8+cl+inf+compile", "cl"]
    assert [InferenceOptions.parse(o.label) for o in opts] == opts
    assert InferenceOptions(16, True).runtime == InferenceOptions(channels_last=True)


@pytest.mark.parametrize("kwargs", [{"round_to": 0}, {"round_to": True}, {"round_to": 8.0},
                                    {"channels_last": 1}, {"compile": "yes"},
                                    {"inference_mode": None}])
def test_bad_options_are_refused(kwargs):
    with pytest.raises((ValueError, TypeError)):
        InferenceOptions(**kwargs)


@pytest.mark.parametrize("label", ["", "r", "r0", "cl+cl", "r8+r16", "fast", "cl,inf"])
def test_bad_labels_are_refused(label):
    with pytest.raises(ValueError):
        InferenceOptions.parse(label)


def test_prepare_refuses_what_is_not_options(tiny):
    net = build("deq", tiny)
    with pytest.raises(TypeError):
        prepare(net, {"channels_last": True})
    with pytest.raises(TypeError):
        prepare(torch.zeros(3), "cl")


# ------------------------------------------------------------------ prepare keeps the numbers
@pytest.mark.parametrize("name", NAMES)
def test_channels_last_and_inference_mode_keep_the_output(name, tiny):
    torch.manual_seed(0)
    net = build(name, tiny).eval()
    m = task_of(name).random_measurement(tiny, batch=1, seed=0)
    with torch.no_grad():
        ref = net(m)
    p = prepare(net, "cl+inf", example=m)
    assert p.max_error is not None and p.max_error < 1e-4
    with torch.no_grad():
        out = p(m)
    assert out.is_inference()                     # it really ran under inference_mode
    assert out.is_contiguous()                    # the rest of the network saw NCHW
    assert max_relative_error(out, ref) < 1e-4
    conv = next(mod for mod in p.network.priors()[0].module.modules()
                if isinstance(mod, torch.nn.Conv2d) and mod.kernel_size != (1, 1))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    # the network handed in is left as it was
    orig = next(mod for mod in net.priors()[0].module.modules()
                if isinstance(mod, torch.nn.Conv2d) and mod.kernel_size != (1, 1))
    assert orig.weight.is_contiguous() and not p.compiled


def test_an_option_that_changes_the_numbers_is_refused(tiny):
    net = build("deq", tiny).eval()
    m = task_of("deq").random_measurement(tiny, seed=0)
    with torch.no_grad():
        ref = net(m)
    with pytest.raises(RuntimeError, match="changed the reconstruction"):
        prepare(net, "cl", example=m, reference=ref * 1.01)


def test_compile_traces_the_priors_and_keeps_the_output(tiny):
    # the "eager" backend runs dynamo's tracing (hooks included) without inductor's C++ build
    net = build("deq", tiny).eval()
    m = task_of("deq").random_measurement(tiny, seed=0)
    p = prepare(net, "cl+compile", example=m, compile_backend="eager")
    assert p.compiled and p.notes == ["compiled 1 prior(s) (eager)"] and p.max_error < 1e-4
    assert type(p.network.prior).__name__ == "OptimizedModule"
    assert type(net.prior).__name__ == "EDSR"                     # the original is untouched
    again = prepare(net, "cl+compile", example=m, compile_backend="eager")
    assert again.compiled                          # the same graph reused is still compiled


def test_compile_without_a_compiler_falls_back_with_a_reason(tiny, monkeypatch):
    monkeypatch.setattr(inference, "cxx_compiler", lambda: None)
    net = build("deq", tiny).eval()
    m = task_of("deq").random_measurement(tiny, seed=0)
    p = prepare(net, "compile", example=m)
    assert not p.compiled and "no C++ compiler" in p.notes[0] and p.max_error < 1e-4


def test_a_failing_compile_is_undone(tiny, monkeypatch):
    class Broken(torch.nn.Module):
        def __init__(self, module):
            super().__init__()
            self.inner = module
            self.tail = module.tail

        def forward(self, x):
            raise RuntimeError("inductor exploded\nsecond line")

    monkeypatch.setattr(inference, "cxx_compiler", lambda: "/usr/bin/g++")
    monkeypatch.setattr(torch, "compile", lambda module, **kw: Broken(module))
    net = build("deq", tiny).eval()
    m = task_of("deq").random_measurement(tiny, seed=0)
    p = prepare(net, "compile+cl", example=m)
    assert not p.compiled
    assert p.notes == ["compile fell back to eager: RuntimeError: inductor exploded"]
    assert type(p.network.prior).__name__ == "EDSR" and p.max_error < 1e-4


# ------------------------------------------------------------------ the benchmark
def test_bench_rounds_widths_and_reports_infeasible_ones(tiny):
    rows = bench_hardware(tiny, ["deq"], [0.4], ["r8+cl", "r4+cl", "r16"], deq_iters=1,
                          protocol=PROTOCOL.replace(repeats=1, warmup=0), log=None)
    by = {(r["ratio"], r["options"]): r for r in rows}
    assert set(by) == {(ratio, o) for ratio in (0.0, 0.4)
                       for o in ("plain", "r8+cl", "r4+cl", "r16")}
    assert {a for _, a in by[0.4, "plain"]["channels"]} == {9}           # floor(16 * 0.6)
    assert {a for _, a in by[0.4, "r8+cl"]["channels"]} == {8}           # rounded to 8
    assert by[0.0, "r16"]["time_ms"] == by[0.0, "plain"]["time_ms"]      # the same network
    # r4 and r8 keep the same 8 channels: one network, timed once
    assert by[0.4, "r4+cl"]["times_ms"] == by[0.4, "r8+cl"]["times_ms"]
    r16 = by[0.4, "r16"]                                                 # 9 -> 0: infeasible
    assert r16["time_ms"] is None and "infeasible" in r16["notes"][0] and r16["speedup"] is None
    r8 = by[0.4, "r8+cl"]
    assert r8["macs_ratio"] > by[0.4, "plain"]["macs_ratio"] > 1
    assert r8["speedup"] == pytest.approx(by[0.0, "r8+cl"]["time_ms"] / r8["time_ms"])
    assert r8["max_error"] < 1e-4 and r8["iterations"] == 1
    assert {r["protocol"] for r in rows} == {PROTOCOL.replace(repeats=1, warmup=0).describe()}
    table = format_rows(rows)          # ratio 0: plain and cl once (r8+cl = r4+cl = cl there)
    assert table.count("\n") == len(rows) - 2 + 1 and "| deq | 0.4 | r8+cl |" in table
    assert "| deq | 0 | cl |" in table and "| deq | 0 | r8+cl |" not in table
    assert "| deq | 0.4 | r16 | – | – | infeasible |" in table


def test_bench_refuses_bad_arguments(tiny):
    for kw in ({"deq_iters": 0}, {"options_list": ["r16+turbo"]}, {"ratios": [1.0]}):
        with pytest.raises(ValueError):
            bench_hardware(tiny, ["deq"], **{"ratios": [0.4], **kw}, log=None)


# ------------------------------------------------------------------ the arithmetic
def _row(net, ratio, options, t, macs, t_min=None):
    return {"network": net, "ratio": ratio, "options": options, "time_ms": t, "macs": macs,
            "time_min_ms": t if t_min is None else t_min}


def test_speedups_compare_with_the_unpruned_network_under_the_same_options():
    rows = add_speedups([
        _row("deq", 0.0, "plain", 100.0, 1000), _row("deq", 0.0, "cl", 50.0, 1000),
        _row("deq", 0.4, "plain", 80.0, 400), _row("deq", 0.4, "r16+cl", 20.0, 250),
        _row("deq", 0.05, "r8", None, None),
        _row("usrnet", 0.0, "plain", 10.0, 100), _row("usrnet", 0.4, "plain", 8.0, 50)])
    d = {(r["network"], r["ratio"], r["options"]): r for r in rows}
    r = d["deq", 0.4, "r16+cl"]                   # baseline: unpruned under "cl" (50 ms)
    assert (r["speedup"], r["speedup_vs_plain"], r["macs_ratio"]) == (2.5, 5.0, 4.0)
    assert r["efficiency"] == pytest.approx(2.5 / 4.0)
    r = d["deq", 0.4, "plain"]
    assert (r["speedup"], r["macs_ratio"], r["efficiency"]) == (1.25, 2.5, 0.5)
    assert d["deq", 0.05, "r8"]["speedup"] is None                 # not timed
    assert d["usrnet", 0.4, "plain"]["speedup"] == 1.25            # networks do not mix
    assert d["deq", 0.0, "cl"]["speedup_vs_plain"] == 2.0


def test_speedups_from_the_fastest_runs():
    rows = add_speedups([_row("deq", 0.0, "plain", 100.0, 10, t_min=60.0),
                         _row("deq", 0.4, "plain", 90.0, 5, t_min=30.0)], statistic="min")
    assert rows[1]["speedup"] == 2.0 and rows[1]["statistic"] == "min"
    with pytest.raises(ValueError):
        add_speedups(rows, statistic="mean")


def test_targets_pick_the_best_option_and_judge_it():
    rows = add_speedups([
        _row("varnet", 0.0, "plain", 100.0, 1000), _row("varnet", 0.0, "cl", 100.0, 1000),
        _row("varnet", 0.05, "plain", 97.0, 900), _row("varnet", 0.05, "cl", 94.0, 900),
        _row("varnet", 0.4, "plain", 50.0, 350), _row("varnet", 0.4, "r16+cl", 40.0, 350)])
    t = {x["ratio"]: x for x in targets(rows)}
    assert t[0.4]["best_options"] == "r16+cl" and t[0.4]["met"]            # 2.5 / 2.857 = 87 %
    assert t[0.05]["best_options"] == "cl" and t[0.05]["met"]              # x1.064 > x1.05
    rows[3]["time_ms"] = 96.0
    t = {x["ratio"]: x for x in targets(add_speedups(rows))}
    assert not t[0.05]["met"] and t[0.05]["value"] == pytest.approx(100 / 96)
