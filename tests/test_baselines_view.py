"""The store's networks against the classical baselines (Chapters 5-7: the converged TV, and
bicubic for USRNet): rows, paired intervals and the words computed from them, on a synthetic
store and report."""
import numpy as np
import pytest

from spadelib import classical
from spadelib.experiments.baselines_view import (bicubic_rows, classical_by_rate,
                                                 classical_markdown, classical_rows,
                                                 classical_summary)
from spadelib.experiments.grid import Cell
from spadelib.experiments.store import ResultStore
from spadelib.experiments.intervals import interval_comparison


@pytest.fixture
def report(tmp_path, monkeypatch):
    """A report of 12 test images: TV at 30 dB +- noise, the wavelet 2 dB lower."""
    rng = np.random.default_rng(0)
    tv = 30 + rng.normal(0, 1, 12)
    cells = {reg: {"tau": 1e-4, "grid": [], "at_edge": False,
                   "test": {"psnr": list(tv - d), "ssim": [0.9] * 12, "converged": [True]}}
             for reg, d in (("tv", 0.0), ("l1-wavelet", 2.0))}
    path = classical.write_report({"0.167": cells}, "quick", "spade baselines --preset quick",
                                  2, 1.0, path=tmp_path / "baselines-quick.json")
    monkeypatch.setattr(classical, "report_path", lambda preset=None, directory=None: path)
    return tv


def _row(store, network, ratio, regime, per_image, seed=0, setting=0.167):
    cell = Cell(network, setting, ratio, regime, seed=seed)
    store.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok",
               "psnr": float(np.mean(per_image)), "ssim": 0.8,
               "psnr_per_sample": list(per_image)})


def test_rows_intervals_and_words_follow_the_numbers(tmp_path, report):
    store = ResultStore(tmp_path / "store.spade")
    rng = np.random.default_rng(1)
    _row(store, "varnet", 0.0, "none", report + 1.5 + rng.normal(0, 0.1, 12))   # clearly above
    _row(store, "varnet", 0.4, "supervised", report - 3 + rng.normal(0, 0.1, 12))  # below
    _row(store, "deq", 0.0, "none", report + rng.normal(0, 1, 12))              # a toss-up
    _row(store, "varnet", 0.4, "school", report, seed=1)                        # other seed: out
    frame = classical_rows("quick", store, 0.167, networks=("deq", "varnet"))
    nets = frame[frame.kind == "network"].set_index(["network", "ratio", "regime"])
    assert len(nets) == 3
    assert nets.loc[("varnet", 0.0, "none"), "verdict"] == "above TV"
    assert nets.loc[("varnet", 0.4, "supervised"), "verdict"] == "below TV"
    iv = nets.loc[("deq", 0.0, "none")]
    assert (iv.verdict == "no difference resolved") == (iv.delta_low <= 0 <= iv.delta_high)
    wav = frame[frame.network == "ℓ1-wavelet"].iloc[0]
    assert wav.verdict == "below TV" and wav.delta == pytest.approx(-2.0)
    text = classical_summary(frame, {"varnet": "VarNet", "deq": "DEQ"})
    assert "Of the 3 network cells" in text and "1 are above" in text
    assert "unpruned VarNet above TV" in text
    table = classical_markdown(frame, {"varnet": "VarNet"})
    assert table.count("\n") == 2 + len(frame) - 1 and "| VarNet | 0.4 | supervised |" in table


def test_interval_words():
    class Iv:
        def __init__(self, e, lo, hi):
            self.estimate, self.low, self.high, self.n = e, lo, hi, 48
    assert interval_comparison("VarNet", "TV", Iv(1.2, 0.8, 1.6)).startswith(
        "VarNet is 1.20 dB above TV (95 % interval 0.80 to 1.60 dB over 48 test images)")
    assert interval_comparison("VarNet", "TV", Iv(-1.2, -1.6, -0.8)).startswith(
        "VarNet is 1.20 dB below TV")
    assert interval_comparison("VarNet", "TV", Iv(0.1, -0.2, 0.4)).startswith(
        "no difference resolved between VarNet and TV")
    assert "not measured" in interval_comparison("VarNet", "TV", None)


def test_seeds_are_pooled_and_rates_stacked(tmp_path, report, monkeypatch):
    """A cell at two seeds enters as its per-image mean; classical_by_rate stacks the rates
    with a sampling column, each rate against its own baselines."""
    store = ResultStore(tmp_path / "store.spade")
    _row(store, "varnet", 0.4, "school", report - 1.0)
    _row(store, "varnet", 0.4, "school", report + 1.0, seed=1)
    _row(store, "varnet", 0.0, "none", report + 2.0)
    frame = classical_rows("quick", store, 0.167, networks=("varnet",))
    school = frame[frame.regime == "school"].iloc[0]
    assert school.psnr == pytest.approx(report.mean()) and school.delta == pytest.approx(0.0)
    assert school.verdict == "no difference resolved"
    only = classical_rows("quick", store, 0.167, networks=("varnet",), ratios=(0.0,))
    assert list(only[only.kind == "network"].ratio) == [0.0]
    # a second rate in the report, 1 dB lower, with the unpruned VarNet stored there too
    report_file = classical.report_path("quick")
    import json
    data = json.loads(report_file.read_text())
    data["rates"]["0.1"] = {reg: {**c, "test": {**c["test"], "psnr": [v - 1 for v in
                                                                          c["test"]["psnr"]]}}
                            for reg, c in data["rates"]["0.167"].items()}
    report_file.write_text(json.dumps(data))
    _row(store, "varnet", 0.0, "none", report + 1.0, setting=0.1)
    both = classical_by_rate("quick", store, (0.167, 0.1), networks=("varnet",))
    assert list(both.rate) == [0.167] * 3 + [0.1] * 3
    unpruned = both[both.network == "varnet"]
    assert list(unpruned.delta.round(6)) == [2.0, 2.0]         # each against its own rate's TV
    table = classical_markdown(both, {"varnet": "VarNet"})
    assert "| 10.0 % | VarNet | 0 | none |" in table and table.startswith("| sampling |")


def test_usrnet_against_bicubic_at_each_scale_it_holds(tmp_path):
    """bicubic_rows computes bicubic on the scale's test images and pairs it with the stored
    per-image values; a scale without its unpruned network is left out."""
    from spadelib.metrics import psnr
    from spadelib.tasks import task_of

    task = task_of("usrnet")
    batch = task.test_data(Cell("usrnet", 4, 0.0, "none").preset("quick")).batch()
    bic = np.atleast_1d(psnr(task.baseline(batch), batch.target))
    store = ResultStore(tmp_path / "store.spade")
    for cell, shift in ((Cell("usrnet", 4, 0.0, "none"), 1.0),
                        (Cell("usrnet", 4, 0.4, "school"), -0.5),
                        (Cell("usrnet", 2, 0.4, "school"), 3.0)):       # no unpruned x2: out
        store.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok",
                   "psnr": float((bic + shift).mean()), "ssim": 0.8,
                   "psnr_per_sample": list(bic + shift)})
    frame = bicubic_rows("quick", store, scales=(2, 3, 4))
    assert list(frame.scale) == [4, 4, 4] and frame.attrs["reference"] == "bicubic"
    nets = frame[frame.kind == "network"].set_index("ratio")
    assert nets.loc[0.0, "delta"] == pytest.approx(1.0)
    assert nets.loc[0.0, "verdict"] == "above bicubic"
    assert nets.loc[0.4, "delta"] == pytest.approx(-0.5)
    assert nets.loc[0.4, "verdict"] == "below bicubic"
    table = classical_markdown(frame, {"usrnet": "USRNet"})
    assert table.startswith("| scale |") and "| ×4 | USRNet | 0 | none |" in table
    text = classical_summary(frame, {"usrnet": "USRNet"}, where="every scale")
    assert text.startswith(
        "Of the 2 network cells at every scale, 1 are above bicubic interpolation")
    assert "unpruned USRNet ×4 above bicubic (+1.00 dB)" in text
