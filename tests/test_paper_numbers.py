"""The paper's numbers are quoted as printed (spadelib.experiments.paper), never recomputed."""
import io

import pandas as pd
import pytest

from spadelib.experiments import ResultStore
from spadelib.experiments.paper import NOTES, PAPER, TABLE3, TABLE3_DELTA, TABLE3_SSIM, \
    TABLE3_UNPRUNED, paper_value
from spadelib.experiments.printed import paper_table
from spadelib.experiments.tables import layout_frame


def test_speed_ups_are_the_printed_ones():
    # 4954.30 / 4708.00 = 1.052: the paper prints x1.06, and so do we
    assert 4954.30 / 4708.00 == pytest.approx(1.052, abs=1e-3)
    for s in (0.167, 0.125, 0.10):
        assert [paper_value("deq", s, r, "none", "speedup") for r in
                (0.0, 0.05, 0.1, 0.2, 0.4)] == [1.00, 1.03, 1.06, 1.17, 1.51]
        assert [paper_value("varnet", s, r, "none", "speedup") for r in
                (0.0, 0.05, 0.1, 0.2, 0.4)] == [1.00, 1.00, 1.06, 1.12, 1.32]
        assert [paper_value("e2e-varnet", s, r, "none", "speedup") for r in
                (0.0, 0.05, 0.1, 0.2, 0.4)] == [1.00, 1.01, 1.05, 1.09, 1.24]
    for scale in (2, 3, 4):
        assert [paper_value("usrnet", scale, r, "school" if r else "none", "speedup")
                for r in (0.0, 0.05, 0.1, 0.2, 0.4)] == [1.00, 1.04, 1.09, 1.13, 1.81]
    # every other printed speed-up agrees with the printed times to the printed digits
    for (net, s, r), e in PAPER.items():
        t0 = PAPER[(net, s, 0.0)]["time_ms"]
        if (net, r) != ("deq", 0.1):
            assert round(t0 / e["time_ms"], 2) == e["speedup"], (net, s, r)


def test_degrad_columns_are_the_printed_ones():
    printed = {2: [(100.0, 100.0), (99.5, 99.6), (99.5, 99.5), (99.5, 99.5), (99.1, 99.4)],
               3: [(100.0, 100.0), (99.5, 99.3), (99.5, 99.3), (99.5, 99.3), (99.1, 98.9)],
               4: [(100.0, 100.0), (99.4, 99.1), (99.4, 99.0), (99.3, 99.0), (98.9, 98.4)]}
    differ = 0
    for scale, rows in printed.items():
        for r, (dp, ds) in zip((0.0, 0.05, 0.1, 0.2, 0.4), rows):
            g = "school" if r else "none"
            assert paper_value("usrnet", scale, r, g, "degrad_psnr") == dp
            assert paper_value("usrnet", scale, r, g, "degrad_ssim") == ds
            for metric, d in (("psnr", dp), ("ssim", ds)):
                v, v0 = (paper_value("usrnet", scale, x, y, metric) for x, y in
                         ((r, g), (0.0, "none")))
                differ += round(100 * v / v0, 1) != d
    assert differ == 8          # the eight cells a recomputation would change


def test_the_deq_has_both_printed_parameter_counts():
    assert paper_value("deq", 0.167, 0.0, "none", "params") == 999_428     # Table 1
    assert paper_value("deq", 0.125, 0.0, "none", "params") == 999_429     # Table 2
    assert paper_value("deq", 0.10, 0.0, "none", "params") == 999_429      # Table 5
    assert any("999,428" in n and "999,429" in n for n in NOTES)


def test_table3_is_quoted_from_table3():
    assert TABLE3_UNPRUNED["e2e-varnet"] == {"psnr": 44.24, "ssim": 0.991}   # Table 1: 99.2
    assert paper_value("e2e-varnet", 0.167, 0.0, "none", "ssim") == pytest.approx(0.992)
    assert TABLE3[("varnet", 0.05)]["self-supervised"][0] == 39.10             # Table 1: 39.11
    for key, by_regime in TABLE3_DELTA.items():
        for g, (dp, ds) in by_regime.items():
            spade, rnd = TABLE3[key][g]
            assert round(spade - rnd, 2) == dp
            s_spade, s_rnd = TABLE3_SSIM[key][g]
            assert round(100 * (s_spade - s_rnd), 1) == ds


def test_tables_show_the_printed_values(tmp_path):
    empty = ResultStore(tmp_path / "results-quick.spade")
    t1 = layout_frame(1, "quick", empty)
    assert t1.loc[("DEQ", "20 %", "paper")][("Speed Up", "")] == "×1.06"
    assert layout_frame(2, "quick", empty).loc[("DEQ", "0 %", "paper")][("# Params", "")] \
        == "999,429"
    assert t1.loc[("DEQ", "0 %", "paper")][("# Params", "")] == "999,428"
    t4 = layout_frame(4, "quick", empty)
    assert t4.loc[("×3", "65 %", "paper")][("SSIM (%)", "Degrad. %")] == "98.9 %"
    assert t4.loc[("×2", "10 %", "paper")][("SSIM (%)", "Degrad. %")] == "99.6 %"
    t3 = layout_frame(3, "quick", empty)
    row = t3.loc[("E2E-VarNet", "0 %", "paper")]
    assert row[("(a) Self-supervised: SSIM (%)", "SPADE")] == "99.1"
    assert row[("(a) Self-supervised: PSNR (dB)", "SPADE")] == "44.24"
    e2e10 = t3.loc[("E2E-VarNet", "10 %", "paper")]
    assert e2e10[("(a) Self-supervised: SSIM (%)", "Δ")] == "7.4"
    assert e2e10[("(b) Supervised: PSNR (dB)", "Δ")] == "1.78"
    # what `spade table 1` prints is the same layout: the printed x1.06 and 4708.00
    frame = pd.read_csv(io.StringIO(paper_table(1, "quick", "csv", empty)), dtype=str)
    deq = frame[(frame.Network == "DEQ") & (frame["Pruning Ratio"] == "20 %")
                & (frame.Row == "paper")].iloc[0]
    assert deq["Speed Up"] == "×1.06" and deq["Time (ms)"] == "4708.00"
