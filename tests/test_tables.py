"""The paper's tables in its own layout, Figures 3/4's data and the claims, from a small store."""
import pytest

from spadelib.experiments import Cell, ResultStore
from spadelib.experiments.claims import FAILS, HOLDS, UNDECIDED, claims_table, mri_checks, \
    mri_claims, sr_claims
from spadelib.experiments.runner import failed_row
from spadelib.experiments.tables import FAILED, NOT_RUN, PAPER_ONLY, degradation_frame, \
    layout_frame, paper_layout


def _add(store, net, setting, ratio, regime, psnr, ssim=0.9, time_ms=100.0, params=1000,
         iterations=None):
    cell = Cell(net, setting, ratio, regime)
    store.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": psnr,
               "ssim": ssim, "time_ms": time_ms, "params": params, "iterations": iterations})


@pytest.fixture
def store(tmp_path):
    """A quick-preset store: the DEQ and VarNet at 16.7 %, USRNet at x4, ratios 0.2 and 0.4."""
    s = ResultStore(tmp_path / "results-quick.spade")
    _add(s, "deq", 0.167, 0.0, "none", 30.0, 0.90, 200.0, 1000, 30.0)
    _add(s, "varnet", 0.167, 0.0, "none", 29.0, 0.92, 20.0, 2000)
    for r, scale in ((0.2, 1.0), (0.4, 2.0)):
        _add(s, "deq", 0.167, r, "none", 20.0 - scale, time_ms=150.0 / scale)
        _add(s, "deq", 0.167, r, "supervised", 29.9 - scale, 0.89, 200.0 / (1 + scale / 2),
             int(1000 * (1 - r) ** 2), 20.0)
        _add(s, "deq", 0.167, r, "school", 29.5 - scale, 0.88, 190.0, int(1000 * (1 - r) ** 2))
        _add(s, "deq", 0.167, r, "self-supervised", 28.0 - scale, 0.80)
        _add(s, "deq", 0.167, r, "scratch-self-supervised", 18.0)
        _add(s, "deq", 0.167, r, "scratch-supervised", 25.0)
        _add(s, "varnet", 0.167, r, "supervised", 28.9 - scale, time_ms=19.0)
        _add(s, "varnet", 0.167, r, "school", 28.5 - scale)
        _add(s, "varnet", 0.167, r, "self-supervised", 28.7 - scale)
        _add(s, "varnet", 0.167, r, "scratch-self-supervised", 19.0)
    s.add(failed_row(Cell("varnet", 0.167, 0.4, "scratch-supervised"), "quick",
                     RuntimeError("out of memory"), 1.0))
    _add(s, "usrnet", 4, 0.0, "none", 27.0, 0.70, 30.0, 5000)
    _add(s, "usrnet", 4, 0.2, "school", 26.9, 0.698, 25.0, 3000)
    _add(s, "usrnet", 4, 0.4, "school", 26.5, 0.69, 15.0, 2000)
    return s


def test_table1_layout_puts_ours_above_the_papers_and_says_why_a_number_is_missing(store):
    df = layout_frame(1, "quick", store)
    assert list(df.index.names) == ["Network", "Pruning ratio", ""]
    assert list(df.columns.get_level_values(0)[:3]) == ["PSNR (dB)"] * 3
    assert list(df.columns.get_level_values(1)[:3]) == ["Supervised", "School",
                                                        "Self-supervised"]
    row = df.loc[("DEQ", "65 % (r = 0.4)", "ours")]
    assert row[("PSNR (dB)", "Supervised")] == "27.90"
    assert row[("SSIM (%)", "School")] == "88.0"
    assert row[("Speed-up", "")] == "×2.00"            # 200 ms unpruned, 100 ms pruned
    assert row[("# Params", "")] == "360"
    assert row[("DEQ iterations", "")] == "20.0"
    paper = df.loc[("DEQ", "65 % (r = 0.4)", "paper")]
    assert paper[("PSNR (dB)", "Supervised")] == "41.36"
    assert paper[("Speed-up", "")] == "×1.51" and paper[("# Params", "")] == "353,328"
    # the quick preset does not run r = 0.05, nor E2E-VarNet: not invented, marked
    assert df.loc[("DEQ", "10 % (r = 0.05)", "ours")][("PSNR (dB)", "School")] == PAPER_ONLY
    assert set(df.loc[("E2E-VarNet", "0 %", "ours")]) <= {PAPER_ONLY, ""}
    # the unpruned network has one PSNR, under the first regime, as in the paper
    unpruned = df.loc[("VarNet", "0 %", "ours")]
    assert unpruned[("PSNR (dB)", "Supervised")] == "29.00"
    assert unpruned[("PSNR (dB)", "School")] == ""


def test_cells_of_the_preset_not_run_yet_are_not_run_yet(store, tmp_path):
    empty = ResultStore(tmp_path / "empty.spade")
    df = layout_frame(1, "quick", empty)
    assert df.loc[("DEQ", "35 % (r = 0.2)", "ours")][("PSNR (dB)", "School")] == NOT_RUN
    # at the paper preset every cell is in the grid: nothing is "paper preset only"
    paper = layout_frame(2, "paper", empty)
    assert PAPER_ONLY not in set(paper.values.ravel())


def test_table3_shows_spade_random_and_their_difference(store):
    df = layout_frame(3, "quick", store)
    ss = "(a) Self-supervised: PSNR (dB)"
    row = df.loc[("DEQ", "35 % (r = 0.2)", "ours")]
    assert row[(ss, "SPADE")] == "27.00" and row[(ss, "Random")] == "18.00"
    assert row[(ss, "Δ")] == "9.00"
    vn = df.loc[("VarNet", "65 % (r = 0.4)", "ours")]
    assert vn[("(b) Supervised: PSNR (dB)", "Random")] == FAILED
    assert vn[("(b) Supervised: PSNR (dB)", "Δ")] == "–"
    paper = df.loc[("VarNet", "65 % (r = 0.4)", "paper")]
    assert paper[(ss, "Δ")] == "16.63" and paper[("(b) Supervised: SSIM (%)", "SPADE")] == "97.3"
    # the paper's Table 3 has no DEQ: its paper rows are empty, ours are filled
    assert set(df.loc[("DEQ", "65 % (r = 0.4)", "paper")]) <= {"–", ""}


def test_sr_tables_give_the_degradation_in_percent(store):
    df = layout_frame(6, "quick", store)
    row = df.loc[("×4", "65 % (r = 0.4)", "ours")]
    assert row[("PSNR (dB)", "School")] == "26.50"
    assert row[("PSNR (dB)", "Degrad. %")] == f"{100 * 26.5 / 27.0:.1f} %"
    assert row[("Speed-up", "")] == "×2.00"
    # the paper's Degrad. % as printed (98.9 %), not recomputed from its PSNRs (98.8 %)
    assert df.loc[("×4", "65 % (r = 0.4)", "paper")][("PSNR (dB)", "Degrad. %")] == "98.9 %"
    assert set(layout_frame(4, "quick", store).xs("ours", level=2).values.ravel()) == {
        PAPER_ONLY}


def test_paper_layout_is_an_html_table_with_a_caption(store):
    html = paper_layout(1, "quick", store).to_html()
    assert html.count("<table") == 1 and 'class="spade-results"' in html
    assert "<caption>" in html and "Table 1" in html and "27.90" in html
    assert "|---" not in html
    with pytest.raises(ValueError, match="unknown table 7"):
        layout_frame(7, "quick", store)


def test_degradation_frame_is_figure_3s_data(store):
    df = degradation_frame(0.167, "quick", store)
    deq = df[(df.network == "deq") & (df.regime == "supervised") & (df.ratio == 0.4)].iloc[0]
    assert deq.degradation == pytest.approx(100 * (30.0 - 27.9) / 30.0)
    assert deq.paper_degradation == pytest.approx(100 * (42.13 - 41.36) / 42.13)
    assert deq.reduction == 65 and deq.missing == ""
    # the reduction our pruned network has, from the store's parameter counts (1000 -> 360)
    assert deq.params_reduction == pytest.approx(64.0)
    e2e = df[df.network == "e2e-varnet"]
    assert e2e.degradation.isna().all() and set(e2e.missing) == {PAPER_ONLY}


def test_mri_claims_are_decided_by_the_numbers(store):
    claims = {c.claim: c for c in mri_claims("quick", store)}
    assert all(c.claimed and c.quote and c.where for c in claims.values())
    four = claims["Supervised: less than 4 % PSNR lost at 65 % fewer parameters"]
    # no per-image values in this store: the means decide
    assert four.verdict == FAILS and "DEQ, 65 % (r = 0.4): 7.00 % ✗" in four.evidence
    assert four.paper_verdict == HOLDS
    assert claims["×1.06 faster with virtually no PSNR lost at 20 % fewer parameters"
                  ].verdict == UNDECIDED
    ss = claims["Self-supervised SPADE beats training from scratch by at least 8 dB"]
    assert ss.verdict == FAILS and "9.00 dB" in ss.evidence and "7.70 dB ✗" in ss.evidence
    speed = claims["The DEQ gains more speed than the unrolled networks at the same ratio"]
    assert speed.verdict == HOLDS and "65 %: DEQ ×2.00 against VarNet ×1.05" in speed.evidence
    html = claims_table(list(claims.values()))
    assert html.startswith("<table") and html.count("<tr>") == len(claims) + 1
    assert "on the paper&#x27;s numbers" in html or "on the paper's numbers" in html
    checks = {c.claim: c for c in mri_checks("quick", store)}
    assert not any(c.claimed for c in checks.values())
    recover = checks["Fine-tuning recovers most of the PSNR that pruning loses"]
    assert recover.verdict == HOLDS and "82.50 % of the loss recovered" in recover.evidence
    assert recover.paper_verdict == UNDECIDED
    order = checks["Supervised ≥ school ≥ self-supervised"]
    # VarNet: self-supervised (26.7) > school (26.5) at r = 0.4
    assert order.verdict == FAILS and "VarNet, 65 % (r = 0.4): SV − SC 0.40 dB, SC − SS " \
        "-0.20 dB ✗" in order.evidence
    assert "our own checks (not claimed by the paper)" in claims_table(list(checks.values()))


def test_sr_claims_and_an_empty_store(store, tmp_path):
    claims = {c.claim: c for c in sr_claims("quick", store)}
    x4 = claims["School keeps USRNet within 1.1 % of its PSNR at ×4"]
    assert x4.verdict == FAILS and "1.85 % ✗" in x4.evidence
    # the x2 / x3 claim is not made for x4: our x4 cells do not decide it
    assert claims["School keeps USRNet within 1 % of its PSNR and SSIM at ×2 and ×3"
                  ].verdict == UNDECIDED
    assert claims["65 % fewer parameters make USRNet ×1.81 faster"].verdict == HOLDS
    empty = mri_claims("quick", ResultStore(tmp_path / "none.spade"))
    assert {c.verdict for c in empty} == {UNDECIDED}
    assert all("not run yet" in c.evidence or "paper preset only" in c.evidence for c in empty)
