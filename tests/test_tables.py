"""The paper's tables in its own layout (the chapters' and `spade table`'s), Figures 3/4's data
and the claims, from a small store."""
import dataclasses
import io

import pandas as pd
import pytest

from spadelib.experiments import Cell, ResultStore
from spadelib.experiments.claims import FAILS, HOLDS, UNDECIDED, claims_table, mri_checks, \
    mri_claims, sr_claims
from spadelib.experiments.runner import failed_row
from spadelib.experiments.paper import PAPER
from spadelib.experiments.printed import paper_table
from spadelib.experiments.tables import FAILED, NAMES, NOMINAL, NOT_RUN, PAPER_ONLY, \
    REGIME_TITLES, degradation_frame, layout_frame, paper_layout


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
    assert list(df.index.names) == ["Network", "Pruning Ratio", ""]
    assert list(df.columns.get_level_values(0)[:3]) == ["PSNR (dB)"] * 3
    assert list(df.columns.get_level_values(1)[:3]) == ["Supervised", "School",
                                                        "Self-supervised"]
    row = df.loc[("DEQ", "65 %", "ours")]
    assert row[("PSNR (dB)", "Supervised")] == "27.90"
    assert row[("SSIM (%)", "School")] == "88.0"
    assert row[("Speed Up", "")] == "×2.00"            # 200 ms unpruned, 100 ms pruned
    assert row[("# Params", "")] == "360"
    assert row[("DEQ iterations", "")] == "20.0"
    paper = df.loc[("DEQ", "65 %", "paper")]
    assert paper[("PSNR (dB)", "Supervised")] == "41.36"
    assert paper[("Speed Up", "")] == "×1.51" and paper[("# Params", "")] == "353,328"
    # the quick preset does not run r = 0.05, nor E2E-VarNet: not invented, marked
    assert df.loc[("DEQ", "10 %", "ours")][("PSNR (dB)", "School")] == PAPER_ONLY
    assert set(df.loc[("E2E-VarNet", "0 %", "ours")]) <= {PAPER_ONLY, ""}
    # the unpruned network has one PSNR, under the first regime, as in the paper
    unpruned = df.loc[("VarNet", "0 %", "ours")]
    assert unpruned[("PSNR (dB)", "Supervised")] == "29.00"
    assert unpruned[("PSNR (dB)", "School")] == ""


def test_cells_of_the_preset_not_run_yet_are_not_run_yet(store, tmp_path):
    empty = ResultStore(tmp_path / "empty.spade")
    df = layout_frame(1, "quick", empty)
    assert df.loc[("DEQ", "35 %", "ours")][("PSNR (dB)", "School")] == NOT_RUN
    # at the paper preset every cell is in the grid: nothing is "paper preset only"
    paper = layout_frame(2, "paper", empty)
    assert PAPER_ONLY not in set(paper.values.ravel())


def test_table3_shows_spade_random_and_their_difference(store):
    df = layout_frame(3, "quick", store)
    ss = "(a) Self-supervised: PSNR (dB)"
    row = df.loc[("DEQ", "35 %", "ours")]
    assert row[(ss, "SPADE")] == "27.00" and row[(ss, "Random")] == "18.00"
    assert row[(ss, "Δ")] == "9.00"
    vn = df.loc[("VarNet", "65 %", "ours")]
    assert vn[("(b) Supervised: PSNR (dB)", "Random")] == FAILED
    assert vn[("(b) Supervised: PSNR (dB)", "Δ")] == "–"
    paper = df.loc[("VarNet", "65 %", "paper")]
    assert paper[(ss, "Δ")] == "16.63" and paper[("(b) Supervised: SSIM (%)", "SPADE")] == "97.3"
    # the paper's Table 3 has no DEQ: its paper rows are empty, ours are filled
    assert set(df.loc[("DEQ", "65 %", "paper")]) <= {"–", ""}


def test_sr_tables_give_the_degradation_in_percent(store):
    df = layout_frame(6, "quick", store)
    row = df.loc[("×4", "65 %", "ours")]
    assert row[("PSNR (dB)", "School")] == "26.50"
    assert row[("PSNR (dB)", "Degrad. %")] == f"{100 * 26.5 / 27.0:.1f} %"
    assert row[("Speed Up", "")] == "×2.00"
    # the paper's Degrad. % as printed (98.9 %), not recomputed from its PSNRs (98.8 %)
    assert df.loc[("×4", "65 %", "paper")][("PSNR (dB)", "Degrad. %")] == "98.9 %"
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


#: speed-ups as experiments.speed.paper_speedups gives them (the paper-size architectures timed
#: on this machine); the speed claims are decided on these rows, not on the store's times
SPEED = [{"network": "deq", "ratio": 0.4, "speedup": 2.0},
         {"network": "varnet", "ratio": 0.4, "speedup": 1.05},
         {"network": "usrnet", "ratio": 0.4, "speedup": 2.0}]


def test_mri_claims_are_decided_by_the_numbers(store):
    claims = {c.claim: c for c in mri_claims("quick", store, speed=SPEED)}
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
    claims = {c.claim: c for c in sr_claims("quick", store, speed=SPEED)}
    x4 = claims["School keeps USRNet within 1.1 % of its PSNR at ×4"]
    assert x4.verdict == FAILS and "1.85 % ✗" in x4.evidence
    # the x2 / x3 claim is not made for x4: our x4 cells do not decide it
    assert claims["School keeps USRNet within 1 % of its PSNR and SSIM at ×2 and ×3"
                  ].verdict == UNDECIDED
    assert claims["65 % fewer parameters make USRNet ×1.81 faster"].verdict == HOLDS
    untimed = {c.claim: c for c in sr_claims("quick", store)}       # no paper-size timings
    assert untimed["65 % fewer parameters make USRNet ×1.81 faster"].verdict == UNDECIDED
    empty = mri_claims("quick", ResultStore(tmp_path / "none.spade"))
    assert {c.verdict for c in empty} == {UNDECIDED}
    assert all("not run yet" in c.evidence or "paper preset only" in c.evidence for c in empty)


# --------------------------------------------------------------------------------------------
# `spade table N`: the same layout as the chapters, printed
# --------------------------------------------------------------------------------------------
def _lines(text):
    """The header and body lines of a printed table (between the caption and the note)."""
    body = text.split("\n\n")[1].splitlines()
    return body[0], body[1], body[3:]


def test_printed_table1_has_the_papers_headers_rows_and_our_row_above_the_papers(store):
    top, sub, rows = _lines(paper_table(1, "quick", "text", store))
    # the paper's header, in its order, and its regimes under PSNR and under SSIM
    order = ["Network", "Pruning Ratio", "PSNR (dB)", "SSIM (%)", "Time (ms)", "Speed Up",
             "# Params"]
    assert [top.index(h) for h in order] == sorted(top.index(h) for h in order)
    assert sub.split() == ["Supervised", "School", "Self-supervised"] * 2
    # the paper's networks and ratios in its order, ratios as it prints them; ours first, the
    # paper's below
    nets = [r.split()[0] for r in rows if not r.startswith(" ")]
    assert nets == ["DEQ", "VarNet", "E2E-VarNet"]
    ratios = [" ".join(r.split()[r.split().index("ours") - 2:][:3]) for r in rows[:10:2]]
    assert ratios == ["0 % ours", "10 % ours", "20 % ours", "35 % ours", "65 % ours"]
    assert all(r.split()[0] == "paper" for r in rows[1::2])
    deq65, paper65 = rows[8].split(), rows[9].split()
    # SSIM in %, as the paper prints it; time, speed-up and #params ours / the paper's
    assert deq65[3:] == ["27.90", "27.50", "26.00", "89.0", "88.0", "80.0", "100.0", "×2.00",
                         "360", "20.0"]
    assert paper65 == ["paper", "41.36", "39.99", "34.54", "98.5", "98.2", "95.7", "3274.58",
                       "×1.51", "353,328", "–"]


def test_printed_paper_rows_are_papers_printed_constants(store):
    df = layout_frame(5, "quick", store)
    for (net, setting, ratio), entry in PAPER.items():
        if setting != 0.10:
            continue
        row = df.loc[(NAMES[net], f"{NOMINAL[ratio]} %", "paper")]
        for g in ("supervised", "school", "self-supervised") if ratio else ("none",):
            col = "Supervised" if g == "none" else REGIME_TITLES[g]
            assert row[("PSNR (dB)", col)] == f"{entry['psnr'][g]:.2f}"
            assert float(row[("SSIM (%)", col)]) == pytest.approx(100 * entry["ssim"][g])
        assert row[("Speed Up", "")] == f"×{entry['speedup']:.2f}"
        assert row[("# Params", "")] == f"{entry['params']:,}"
    # Table 4's paper rows: its Degrad. % columns as printed, beside ours computed from ours
    t6 = paper_table(6, "quick", "text", store)
    top, sub, rows = _lines(t6)
    assert sub.split() == ["School", "Degrad.", "%", "School", "Degrad.", "%"]
    ours, paper = rows[8].split(), rows[9].split()
    assert ours[:7] == ["65", "%", "ours", "26.50", "98.1", "%", "69.0"]
    assert paper[:6] == ["paper", "25.60", "98.9", "%", "70.5", "98.4"]


def test_printed_table3_has_both_parts_with_ssim(store):
    text = paper_table(3, "quick", "text", store)
    top, sub, rows = _lines(text)
    parts = ["(a) Self-supervised: PSNR (dB)", "(a) Self-supervised: SSIM (%)",
             "(b) Supervised: PSNR (dB)", "(b) Supervised: SSIM (%)"]
    assert [top.index(p) for p in parts] == sorted(top.index(p) for p in parts)
    assert sub.split() == ["SPADE", "Random", "Δ"] * 4
    assert [r.split()[0] for r in rows if not r.startswith(" ")] == ["E2E-VarNet", "VarNet",
                                                                     "DEQ"]
    varnet65 = rows[19].split()
    assert varnet65[:2] == ["paper", "34.17"] and varnet65[1:] == [
        "34.17", "17.54", "16.63", "95.3", "51.7", "43.6", "38.12", "35.67", "2.45", "97.3",
        "95.9", "1.4"]
    # ours: Δ and SSIM in % computed from our cells; a failed scratch cell says so in its own
    # column, the row's other numbers stay
    assert rows[18].split() == ["65", "%", "ours", "26.70", "19.00", "7.70", "90.0", "90.0",
                                "0.0", "26.90", FAILED, "–", "90.0", FAILED, "–"]


def test_missing_cells_say_so_once_and_the_command_that_fills_them_is_printed_once(store):
    text = paper_table(1, "quick", "text", store)
    top, sub, rows = _lines(text)
    e2e = rows[20]
    assert e2e.split()[:4] == ["E2E-VarNet", "0", "%", "ours"] and e2e.endswith(PAPER_ONLY)
    assert e2e.count(PAPER_ONLY) == 1
    note = text.split("To fill the missing cells:")[1]
    assert text.count("spade run table1 --preset paper") == 1
    assert "spade run table1 --preset quick" not in text        # every quick cell is stored
    t3 = paper_table(3, "quick", "text", store)
    assert t3.count("spade run table3 --preset quick") == 1 and "spade status table3" in t3
    assert PAPER_ONLY in note and "spade table 1 --preset paper" in note


def test_markdown_and_csv_have_the_same_layout(store):
    md = paper_table(4, "quick", "md", store).split("\n\n")[1].splitlines()
    assert md[0] == ("| Scale | Pruning Ratio |  | PSNR (dB) School | PSNR (dB) Degrad. % | "
                     "SSIM (%) School | SSIM (%) Degrad. % | Time (ms) | Speed Up | # Params |")
    assert md[2].startswith("| ×2 | 0 % | ours | paper preset only |  |")
    frame = pd.read_csv(io.StringIO(paper_table(4, "quick", "csv", store)), dtype=str)
    assert list(frame.columns[:4]) == ["Scale", "Pruning Ratio", "Row", "PSNR (dB) School"]
    assert len(frame) == 2 * 2 * 5 and list(frame.Row[:2]) == ["ours", "paper"]
    assert "\\multicolumn{2}{c}{PSNR (dB)}" in paper_table(4, "quick", "latex", store)
    with pytest.raises(ValueError, match="format"):
        paper_table(4, "quick", "html", store)


def test_our_differences_carry_paired_intervals_over_the_test_images(tmp_path):
    """Table 3's Δ and Tables 4 / 6's Degrad. % of our rows come with a paired 95 % bootstrap
    interval over the test images, computed from the per-image values of the two cells."""
    s = ResultStore(tmp_path / "results-quick.spade")
    spade = [30.0, 31.0, 29.0, 30.5, 29.5, 30.0]
    rows = {Cell("varnet", 0.167, 0.0, "none"): [v + 1 for v in spade],
            Cell("varnet", 0.167, 0.4, "supervised"): spade,
            Cell("varnet", 0.167, 0.4, "scratch-supervised"): [v - 2 for v in spade[:3]]
            + [v - 1 for v in spade[3:]],
            Cell("usrnet", 4, 0.0, "none"): [25.0, 26.0, 27.0, 28.0],
            Cell("usrnet", 4, 0.4, "school"): [24.0, 26.0, 26.0, 27.0]}
    for cell, psnr in rows.items():
        s.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok",
               "psnr": sum(psnr) / len(psnr), "ssim": 0.9, "time_ms": 10.0, "params": 10,
               "psnr_per_sample": psnr, "ssim_per_sample": [0.9] * len(psnr)})
    t3 = layout_frame(3, "quick", s).loc[("VarNet", "65 %", "ours")]
    delta = t3[("(b) Supervised: PSNR (dB)", "Δ")]
    assert delta.startswith("1.50 [") and delta.endswith("]")      # 2 dB on half, 1 on half
    low, high = map(float, delta[delta.index("[") + 1:-1].split(", "))
    assert 1.0 <= low < 1.5 < high <= 2.0
    assert t3[("(b) Supervised: SSIM (%)", "Δ")] == "0.0 [0.0, 0.0]"
    degrad = layout_frame(6, "quick", s).loc[("×4", "65 %", "ours")][("PSNR (dB)", "Degrad. %")]
    assert degrad.startswith("97.2 % [") and degrad.endswith("]"), degrad   # 103 / 106 dB


def test_comparisons_pool_the_seeds_the_store_holds_image_by_image(tmp_path):
    """A cell stored at several seeds enters a comparison as its per-image mean over them
    (claims and table intervals alike); a cell at one seed as it is."""
    from spadelib.experiments.evidence import StoreNumbers
    from spadelib.experiments.intervals import mean_difference
    from spadelib.experiments.tables import Results

    s = ResultStore(tmp_path / "results-quick.spade")
    unpruned = Cell("varnet", 0.167, 0.0, "none")
    per_seed = {0: [28.0, 29.0, 30.0, 31.0], 1: [27.0, 29.0, 29.0, 31.0],
                2: [27.5, 28.0, 30.5, 30.0]}
    for cell, psnr in [(unpruned, [30.0, 30.0, 31.0, 32.0])] + [
            (Cell("varnet", 0.167, 0.4, "school", seed=k), v) for k, v in per_seed.items()]:
        s.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": sum(psnr) / 4,
               "ssim": 0.9, "time_ms": 1.0, "params": 1, "psnr_per_sample": psnr})
    res = Results("quick", s)
    values, seeds = res.per_image(Cell("varnet", 0.167, 0.4, "school", seed=2))
    assert seeds == 3 and values == pytest.approx([27.5, 28.6666667, 29.8333333, 30.6666667])
    assert res.per_image(unpruned) == ([30.0, 30.0, 31.0, 32.0], 1)
    loss = res.interval(unpruned, Cell("varnet", 0.167, 0.4, "school"))
    assert loss.estimate == pytest.approx(30.75 - 29.1666667) and loss.n == 4
    claim = StoreNumbers("quick", s).compare([("varnet", 0.167, 0.0, "none"),
                                              ("varnet", 0.167, 0.4, "school")],
                                             mean_difference)
    assert claim.estimate == pytest.approx(loss.estimate)
    # a table shows what its intervals compare: the PSNR pooled over the seeds; the SSIM,
    # stored without per-image values here, is the row's own
    assert res.value(Cell("varnet", 0.167, 0.4, "school", seed=1), "psnr") == pytest.approx(
        29.1666667)
    assert res.value(Cell("varnet", 0.167, 0.4, "school"), "ssim") == 0.9
    assert res.seeds(Cell("varnet", 0.167, 0.4, "school")) == 3 and res.seeds(unpruned) == 1
    assert res.seeds(Cell("deq", 0.167, 0.4, "school")) == 0
    from spadelib.experiments.coverage import seeds_text
    # seed means 29.5, 29.0, 29.0 dB: a spread of 0.5 dB
    assert seeds_text("quick", s) == (
        "Seeds the store holds for each trained cell, averaged image by image in every "
        "comparison: Table 1: 1 cell at 3 seeds (a cell's mean PSNR moves by up to 0.50 dB "
        "between its seeds, by 0.50 dB at the median).")
    assert res.seed_spread(Cell("varnet", 0.167, 0.4, "school")) == pytest.approx(0.5)
    assert res.seed_spread(unpruned) is None
    scratch = Cell("varnet", 0.167, 0.4, "scratch-supervised")
    s.add({"key": scratch.key, "cell": scratch.as_dict(), "status": "ok", "psnr": 29.0,
           "ssim": 0.9, "time_ms": 1.0, "params": 1, "psnr_per_sample": [29.0] * 4})
    assert seeds_text("quick", s).endswith(
        "the median); Table 3: 1 cell at 1 seed. Table 3's cells here, its Random "
        "baselines, are each a pre-training from scratch, which the grid \"table3-seeds\" repeats "
        "apart from the grid \"seeds\"; verdicts on those at one seed rest on that seed.")
    for k in (1, 2):   # the grid table3-seeds at this cell: no cell of it rests on one seed
        again = dataclasses.replace(scratch, seed=k)
        s.add({"key": again.key, "cell": again.as_dict(), "status": "ok", "psnr": 29.0 + k,
               "ssim": 0.9, "time_ms": 1.0, "params": 1, "psnr_per_sample": [29.0 + k] * 4})
    assert seeds_text("quick", s).endswith(
        "Table 3: 1 cell at 3 seeds (a cell's mean PSNR moves by up to 2.00 dB between its seeds, "
        "by 2.00 dB at the median). Table 3's cells here, its Random baselines, are each a "
        "pre-training from scratch, which the grid \"table3-seeds\" repeats apart from the grid "
        "\"seeds\".")
    assert seeds_text("quick", s, tables=(1,)).endswith("0.50 dB at the median).")
    assert seeds_text("quick", s, tables=(4, 6)).startswith("The store holds no trained cell")
    assert seeds_text("quick", ResultStore(tmp_path / "empty.spade")).startswith(
        "The store holds no trained cell")


def test_missing_cells_are_named_by_table_network_and_regime(tmp_path):
    """What the store lacks of the paper's tables, grouped; nothing once all is there."""
    from spadelib.experiments.coverage import missing_cells, missing_text, paper_cells

    s = ResultStore(tmp_path / "results-quick.spade")
    every = paper_cells()
    for n, cs in every.items():
        for c in cs:
            if not (n == 3 and c.network == "varnet" and c.ratio in (0.05, 0.1)) and not (
                    n == 4 and c.setting == 2):
                s.add({"key": c.key, "cell": c.as_dict(), "status": "ok", "psnr": 30.0})
    missing = missing_cells("quick", s)
    assert sorted(missing) == [3, 4]
    assert len(missing[3]) == 4 and len(missing[4]) == 5
    text = missing_text(missing)
    assert "Table 3: VarNet at 16.7 %, Random (supervised), r = 0.05, 0.1" in text
    assert "Table 3: VarNet at 16.7 %, Random (self-supervised), r = 0.05, 0.1" in text
    assert "Table 4: USRNet at ×2, unpruned;" in text
    assert "×2, school, r = 0.05, 0.1, 0.2, 0.4" in text
    assert "×3" not in text and missing_text({}) == ""
