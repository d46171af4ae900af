"""The pruning benchmark: its rows and table, its random measurements, its argument checks and
its command line."""
import json

import pytest
import torch

from spadelib import get_preset
from spadelib.bench import (bench_pruning, format_table, image_size, main, random_measurement,
                            random_mri_measurement, random_sr_measurement)
from spadelib.data import MRIMeasurement, SRMeasurement
from spadelib.tasks import MRI, SR
from spadelib.timing import PROTOCOL

ONE = PROTOCOL.replace(repeats=1, warmup=0)      # fast: these tests time nothing they assert


def test_bench_runs_and_tabulates():
    rows = bench_pruning("quick", ["usrnet"], [0.4], protocol=ONE, log=None)
    assert [r["ratio"] for r in rows] == [0.0, 0.4]
    assert rows[0]["speedup"] == 1.0 and rows[1]["params"] < rows[0]["params"]
    assert rows[1]["cnn_applications"] == get_preset("quick").usrnet_iters
    assert rows[1]["macs_per_application"] > 0 and rows[1]["iterations"] is None
    assert rows[1]["image_size"] == [96, 96]
    assert "| usrnet | 0.4 |" in format_table(rows)
    assert {r["protocol"] for r in rows} == {ONE.describe()}


def test_the_bench_times_under_the_books_protocol_by_default(monkeypatch):
    import spadelib.bench as B
    seen = []
    real = B.time_networks
    monkeypatch.setattr(B, "time_networks", lambda *a, **k: seen.append(a[2]) or real(
        *a[:2], ONE, **k))
    rows = bench_pruning("quick", ["usrnet"], [0.4], log=None)
    assert seen == [PROTOCOL]
    assert rows[0]["protocol"] == ONE.describe()


def test_the_deq_runs_a_fixed_number_of_iterations():
    P = get_preset("quick").replace(mri_size=(16, 16), deq_blocks=1, deq_features=8)
    rows = bench_pruning(P, ["deq"], [0.5], deq_iters=3, protocol=ONE, log=None)
    assert [r["iterations"] for r in rows] == [3, 3]
    assert "(3 it.)" in format_table(rows)


def test_random_measurements_follow_the_network_task():
    m = random_measurement("varnet", "quick", batch=2, seed=1)
    assert isinstance(m, MRIMeasurement) and m.kspace.shape == (2, 4, 64, 64, 2)
    assert torch.equal(m.y, MRI.random_measurement("quick", 2, 1).y)
    assert torch.equal(random_mri_measurement("quick", 2, 1).kspace, m.kspace)
    energy = m.coil_maps.pow(2).sum(dim=(1, 4))
    torch.testing.assert_close(energy, torch.ones_like(energy))
    s = random_measurement("usrnet", "quick")
    assert isinstance(s, SRMeasurement) and s.lr.shape == (1, 3, 24, 24)
    assert torch.equal(s.lr, random_sr_measurement("quick").lr)
    assert torch.equal(s.lr, SR.random_measurement("quick").lr)
    assert image_size("deq", "quick") == (64, 64) and image_size("usrnet", "quick") == (96, 96)


def test_bad_arguments_are_refused_before_any_work():
    with pytest.raises(ValueError, match="repeats must be an int >= 1, got 0"):
        bench_pruning("quick", ["usrnet"], [0.4], protocol=PROTOCOL.replace(repeats=0),
                      log=None)
    with pytest.raises(ValueError, match="deq_iters must be an int >= 1"):
        bench_pruning("quick", ["deq"], [0.4], deq_iters=0, log=None)
    with pytest.raises(ValueError, match="unknown network 'unet'"):
        bench_pruning("quick", ["usrnet", "unet"], [0.4], log=None)
    with pytest.raises(ValueError, match="unknown network 'unet'"):
        random_measurement("unet")


def test_command_line_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["pruning", "--preset", "quick", "--networks", "usrnet", "--ratios", "0.4",
                 "--repeats", "1", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert [r["ratio"] for r in saved["rows"]] == [0.0, 0.4]
    assert saved["info"]["preset"] == "quick" and "| usrnet | 0.4 |" in saved["table"]
    assert f"wrote {out}" in capsys.readouterr().out


def test_bench_steps_times_every_step_of_the_pipeline(tiny_varnet_preset, data_dir):
    from spadelib.bench import bench_steps

    rows = bench_steps(tiny_varnet_preset, ["varnet"], log=None)
    assert len(rows) == 1 and rows[0]["network"] == "varnet"
    for key in ("pretrain_step_s", "prune_s", "supervised_step_s", "school_step_s",
                "self_supervised_step_s", "reconstruction_s"):
        assert rows[0][key] > 0, key
