"""The fine-tuning-budget report (spadelib.experiments.budget) and `spade finetune-budget`."""
import json

import numpy as np

import pytest

from spadelib.cli import main
from spadelib.experiments import budget, widths


@pytest.fixture
def tiny(tiny_varnet_preset):
    return tiny_varnet_preset.replace(name="quick")


def test_report_rows_and_round_trip(tiny, data_dir, tmp_path, monkeypatch):
    report = budget.budget_report(tiny, ["varnet"], [0.4], steps=3, lr=1e-3, progress=False)
    row = report["rows"]["varnet"]
    n_train, n_test = tiny.mri_split_sizes["train"], tiny.mri_split_sizes["test"]
    assert row["steps_per_epoch"] == n_train // tiny.train_batch
    assert row["epochs"] * row["steps_per_epoch"] >= 3                     # whole epochs
    cell = row["ratios"]["0.4"]
    assert len(cell["val"]) == row["epochs"] and 1 <= cell["best_epoch"] <= row["epochs"]
    assert len(cell["test"]) == len(row["test_unpruned"]) == n_test
    assert 0 < cell["removed"] < 1 and cell["params"] < row["params"]
    path = budget.write_budget_report(report, tiny, "spade finetune-budget", 1.0,
                                      path=tmp_path / "r.json")
    back = budget.load_budget_report(tiny, path)
    assert back["rows"] == json.loads(json.dumps(report["rows"]))
    assert back["header"]["networks"] == {"varnet": budget.zoo.checkpoint_path(
        "varnet", tiny).name}
    assert back["header"]["command"] == "spade finetune-budget"
    with pytest.raises(budget.BudgetReportError, match="other networks"):
        budget.load_budget_report(tiny.replace(varnet_epochs=3), path)   # another network
    with pytest.raises(budget.BudgetReportError, match="spade finetune-budget --preset quick"):
        budget.load_budget_report(tiny, tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(budget.BudgetReportError, match="not a fine-tuning-budget report"):
        budget.load_budget_report(tiny, tmp_path / "bad.json")


def test_only_mri_networks(tiny, data_dir):
    with pytest.raises(ValueError, match="MRI networks"):
        budget.budget_report(tiny, ["usrnet"], [0.4], steps=1, progress=False)


def test_the_shipped_quick_report_matches_the_quick_networks():
    """The report the book reads was made from today's quick networks, with every network and
    ratio, by the package's own command."""
    report = budget.load_budget_report("quick")
    assert list(report["rows"]) == list(budget.BUDGET_NETWORKS)
    assert report["header"]["command"].startswith("spade finetune-budget --preset quick")
    for row in report["rows"].values():
        assert list(row["ratios"]) == [f"{r:g}" for r in report["ratios"]]
        for cell in row["ratios"].values():
            assert len(cell["val"]) == row["epochs"]
            assert len(cell["test"]) == len(row["test_unpruned"]) == 16
    assert report["header"]["command"].endswith("--scratch")
    for name in ("varnet", "e2e-varnet"):             # the networks of the paper's Table 3
        epochs = budget.zoo.fit_config(name, "quick").epochs
        for cell in report["rows"][name]["ratios"].values():
            assert cell["scratch"]["epochs"] == epochs             # the whole pre-training
            assert len(cell["scratch"]["test"]) == 16


def test_the_shipped_width_and_budget_studies_match_their_networks():
    """Chapter 5's crossed study: the VarNets at widths 8 and 18, at 1,600 and 6,400 steps, each
    report made by the package's command from the networks of its width, on the same 16 test
    images and ratios."""
    for steps in (1600, 6400):
        reports = widths.width_study_reports("quick", steps=steps)
        assert sorted(reports) == [8, budget.PAPER_WIDTH]
        for width, report in reports.items():
            assert report["steps"] == steps and report["ratios"] == list(budget.BUDGET_RATIOS)
            assert list(report["rows"]) == list(budget.WIDTH_NETWORKS)
            command = report["header"]["command"]
            assert command.startswith(f"spade finetune-budget --preset quick --steps {steps} ")
            assert (f"--width {width}" in command) == (width != 8)
            for row in report["rows"].values():
                assert len(row["test_unpruned"]) == 16
                assert all(len(c["test"]) == 16 for c in row["ratios"].values())
        rows = widths.factor_rows(reports)
        assert {r["width"] for r in rows} == {8, budget.PAPER_WIDTH}
    wide = widths.width_study_reports("quick")[budget.PAPER_WIDTH]
    assert all(row["pretrain_seconds"] > 0 for row in wide["rows"].values())


def test_the_command_keeps_the_rows_of_networks_it_did_not_redo(tmp_path, monkeypatch, capsys):
    reused = []

    def fake(P, networks, ratios, *, steps, lr, scratch=False, reuse=None, log=None,
             progress=True):
        reused.append(sorted(reuse or {}))
        rows = {}
        for n in networks:
            row = (reuse or {}).get(n) or {"ratios": {f"{r:g}": {"val": [1.0], "test": [2.0],
                                                                 "seconds": 5.0}
                                                      for r in ratios}}
            if scratch:
                for cell in row["ratios"].values():
                    cell.setdefault("scratch", {"test": [1.0], "seconds": 7.0})
            rows[n] = row
        return {"steps": steps, "lr": lr, "ratios": [float(r) for r in ratios], "rows": rows}

    monkeypatch.setattr(budget, "budget_report", fake)
    out = tmp_path / "r.json"
    run = lambda *extra: main(["finetune-budget", "--preset", "quick", *extra,   # noqa: E731
                               "--out", str(out)])
    assert run("--networks", "deq") == 0
    assert run("--networks", "varnet") == 0
    report = budget.load_budget_report("quick", out)
    assert list(report["rows"]) == ["varnet", "deq"]          # the package's order
    assert report["header"]["seconds"] == 4 * 5.0             # 2 networks x 2 ratios
    assert reused == [[], ["deq"]]                           # what the report held
    assert run("--networks", "deq", "--scratch") == 0         # its fine-tuning rows are kept
    assert reused[-1] == ["deq", "varnet"]
    report = budget.load_budget_report("quick", out)
    assert report["header"]["seconds"] == 4 * 5.0 + 2 * 7.0
    assert report["header"]["command"].endswith("--scratch")
    assert all("scratch" in c for c in report["rows"]["deq"]["ratios"].values())
    assert not any("scratch" in c for c in report["rows"]["varnet"]["ratios"].values())
    assert run("--networks", "deq", "--redo") == 0
    assert reused[-1] == []
    assert run("--networks", "varnet", "--steps", "7") == 0   # another budget: a new report
    assert list(budget.load_budget_report("quick", out)["rows"]) == ["varnet"]
    assert "holds varnet" in capsys.readouterr().out


def test_rows_of_a_network_made_since_are_not_reused(tiny, data_dir, tmp_path):
    report = {"steps": 3, "lr": 1e-3, "ratios": [0.4],
              "rows": {"varnet": {"ratios": {"0.4": {"test": [1.0], "seconds": 1.0}}}}}
    path = budget.write_budget_report(report, tiny, "spade finetune-budget", 1.0,
                                      path=tmp_path / "r.json")
    assert list(budget.reusable_rows(tiny, path, steps=3, lr=1e-3, ratios=[0.4])) == ["varnet"]
    assert budget.reusable_rows(tiny, path, steps=4, lr=1e-3, ratios=[0.4]) == {}
    assert budget.reusable_rows(tiny, path, steps=3, lr=1e-3, ratios=[0.2]) == {}
    assert budget.reusable_rows(tiny.replace(varnet_epochs=3), path, steps=3, lr=1e-3,
                                ratios=[0.4]) == {}                  # the network was re-made
    assert budget.reusable_rows(tiny, tmp_path / "none.json") == {}
    (tmp_path / "bad.json").write_text("[")
    with pytest.raises(budget.BudgetReportError, match="not a fine-tuning-budget report"):
        budget.reusable_rows(tiny, tmp_path / "bad.json")


def test_scratch_baseline_gets_the_pre_training_budget(tiny, data_dir, monkeypatch):
    import torch

    from spadelib import finetune as ft, zoo
    from spadelib.pruning import prune

    net = zoo.pretrained("varnet", tiny, progress=False)
    pruned, _ = prune(net, 0.4)
    fresh, history = ft.pretraining_scratch("varnet", pruned, preset=tiny, progress=False)
    assert len(history.val_psnr) == tiny.varnet_epochs            # the pre-training epochs
    assert sum(p.numel() for p in fresh.parameters()) == sum(p.numel() for p in pruned.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                     pruned.state_dict().values()))

    def no_training(*args, **kwargs):
        raise AssertionError("the cached run was trained again")

    monkeypatch.setattr(ft, "fit", no_training)
    again, _ = ft.pretraining_scratch("varnet", pruned, preset=tiny, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                 again.state_dict().values()))
    monkeypatch.undo()
    report = budget.budget_report(tiny, ["varnet"], [0.4], steps=3, scratch=True, progress=False)
    row = report["rows"]["varnet"]
    sc = row["ratios"]["0.4"]["scratch"]
    assert sc["steps"] == tiny.varnet_epochs * row["steps_per_epoch"]
    assert len(sc["test"]) == len(sc["test_ssim"]) == len(row["test_unpruned"])
    test = budget.task_of("varnet").test_data(tiny)
    assert sc["test"] == pytest.approx(budget.evaluate(again, test).psnr_per_sample)


def _fake_report():
    rng = np.random.default_rng(0)
    unpruned = list(30 + rng.normal(0, 1, 16))
    rows = {}
    for name, shift in (("varnet", 0.0), ("deq", 2.0)):
        rows[name] = {"val_unpruned": 30.0, "test_unpruned": unpruned, "params": 1000,
                      "steps_per_epoch": 10, "epochs": 3, "ratios": {
                          "0.2": {"removed": 0.38, "val_pruned": 20.0, "val": [29.0, 29.6, 29.7],
                                  "test": [u - 0.2 - shift for u in unpruned]},
                          "0.4": {"removed": 0.66, "val_pruned": 15.0, "val": [27.0, 28.0, 28.2],
                                  "test": [u - 1.0 + rng.normal(0, 2) for u in unpruned]}}}
    return {"rows": rows}


def test_rows_decide_each_margin_on_the_paired_interval():
    rows = {(r["network"], r["ratio"]): r for r in budget.budget_rows(_fake_report())}
    assert rows[("varnet", 0.2)]["verdict"] == "holds"            # -0.2 dB exactly, margin 0.5
    assert rows[("deq", 0.2)]["verdict"] == "does not hold"       # -2.2 dB
    assert rows[("varnet", 0.4)]["verdict"] == "not resolved"     # -1 dB +- noise of 2 dB
    assert rows[("varnet", 0.2)]["gap"].estimate == pytest.approx(-0.2)
    assert rows[("varnet", 0.2)]["reached_at"] == 20              # 29.6 >= 30 - 0.5, epoch 2
    assert rows[("varnet", 0.4)]["reached_at"] is None            # at best 1.8 dB below
    assert rows[("varnet", 0.2)]["val_gaps"][0] == -1.0 and rows[("varnet", 0.2)]["steps"] == 30


def test_budget_curves_draw_every_run():
    from spadelib.plotting import budget_curves

    fig = budget_curves(budget.budget_rows(_fake_report()), book_steps=8)
    assert len(fig.axes) == 2
    lines = [ln for ln in fig.axes[0].lines if ln.get_marker() == "o"]
    assert len(lines) == 2 and list(lines[0].get_xdata()) == [0, 10, 20, 30]
    assert list(lines[0].get_ydata()) == pytest.approx([-10.0, -1.0, -0.4, -0.3])


def test_summary_words_follow_the_numbers():
    from spadelib.prose_check import contradictions

    rows = budget.budget_rows(_fake_report())
    text = budget.budget_summary(rows, {"varnet": "VarNet", "deq": "the DEQ"})
    assert text.startswith("After 30 steps of supervised fine-tuning: VarNet with 38 %")
    assert "0.20 dB below the unpruned network" in text
    assert "within 0.5 dB of it on the test images: holds (its validation gap came within it " \
           "after 20 steps)" in text
    assert "never came within it" in text
    holds = sum(r["verdict"] == "holds" for r in rows)
    assert holds >= 1 and text.endswith(f"{holds} of the 4 pruned networks are within the "
                                        "paper's margin on the whole interval.")
    assert not contradictions(text)
    listed = budget.budget_summary(rows, {"varnet": "VarNet", "deq": "the DEQ"}, as_list=True)
    bullets = [ln for ln in listed.splitlines() if ln.startswith("- ")]
    assert len(bullets) == len(rows) and all(b.endswith(").") for b in bullets)
    assert listed.endswith(text.split(". ")[-1]) and not contradictions(listed)


def test_summary_explains_a_pruned_network_above_the_unpruned_one():
    report = _fake_report()
    cell = report["rows"]["deq"]["ratios"]["0.2"]
    cell["test"] = [u + 1.0 for u in report["rows"]["deq"]["test_unpruned"]]
    text = budget.budget_summary(budget.budget_rows(report), {"varnet": "VarNet", "deq": "DEQ"})
    assert "1.00 dB above the unpruned network" in text
    assert "(DEQ), the unpruned network had not finished training" in text
    plain = budget.budget_summary(budget.budget_rows(_fake_report()), {})
    assert "had not finished training" not in plain


def test_scratch_rows_pair_spade_with_the_fair_baseline():
    from spadelib.prose_check import contradictions

    report = _fake_report()
    assert budget.scratch_rows(report) == []
    assert "no scratch baseline" in budget.scratch_summary([])
    deq = report["rows"]["deq"]["ratios"]
    deq["0.2"]["scratch"] = {"test": [t - 1.0 for t in deq["0.2"]["test"]], "steps": 90}
    deq["0.4"]["scratch"] = {"test": list(deq["0.4"]["test"]), "steps": 90,
                             "test_ssim": [0.5] * 16}
    rows = budget.scratch_rows(report)
    assert [(r["network"], r["ratio"]) for r in rows] == [("deq", 0.2), ("deq", 0.4)]
    assert rows[0]["delta"].estimate == pytest.approx(1.0)
    assert rows[0]["random_steps"] == 90 and rows[0]["spade_steps"] == 30
    assert rows[0]["random_ssim"] is None and rows[1]["random_ssim"] == pytest.approx(0.5)
    text = budget.scratch_summary(rows, {"deq": "DEQ"})
    assert text.startswith("The pruned DEQ (38 % of its parameters removed, fine-tuned) is "
                           "1.00 dB above the same architecture trained from scratch")
    assert "no difference resolved between the pruned DEQ (66 %" in text
    assert text.endswith("in 1 of 2 comparisons, below it in 0, and no difference is "
                         "resolved in 1.")
    assert not contradictions(text)


def test_group_widths_are_depgraphs_groups_at_each_size():
    """The widths Chapter 5 sets beside the verdicts: quick's U-Nets start at varnet_chans and
    double per pooling; the paper's at 18; the DEQ's trunk at deq_features."""
    from spadelib import get_preset

    for name in ("varnet", "deq"):
        for preset in ("quick", "paper"):
            P = get_preset(preset)
            found = widths.group_widths(name, P)
            if name == "varnet":
                assert found[0] == P.varnet_chans
                assert set(found) == {P.varnet_chans * 2 ** k for k in range(P.varnet_pools + 1)}
            else:
                assert set(found) == {P.deq_features}


def test_width_rows_set_the_narrowest_group_beside_the_verdicts(monkeypatch):
    """width_rows: the narrowest group and what it keeps at each ratio (floor(K(1 - r))), the
    verdicts at the report's preset only; width_summary decides from the verdicts whether they
    follow the widths, and says so either way."""
    sizes = {("varnet", "quick"): [8, 8, 16], ("varnet", "paper"): [18, 36],
              ("deq", "quick"): [32, 32], ("deq", "paper"): [64]}
    monkeypatch.setattr(widths, "group_widths", lambda name, P: sizes[name, P])
    rows = [{"network": n, "ratio": q, "verdict": v} for n, q, v in (
        ("varnet", 0.2, "does not hold"), ("varnet", 0.4, "does not hold"),
        ("deq", 0.2, "holds"), ("deq", 0.4, "not resolved"))]
    w = widths.width_rows(rows, "quick")
    assert [(r["network"], r["preset"]) for r in w] == [("varnet", "quick"), ("varnet", "paper"),
                                                       ("deq", "quick"), ("deq", "paper")]
    assert w[0]["narrowest"] == 8 and w[0]["kept"] == {0.2: 6, 0.4: 4}
    assert w[0]["removed"][0.4] == pytest.approx(0.5) and w[1]["kept"][0.4] == 10
    assert w[0]["verdicts"] == {0.2: "does not hold", 0.4: "does not hold"} and w[1]["verdicts"] == {}
    text = widths.width_summary(w, {"varnet": "VarNet", "deq": "DEQ"})
    assert "VarNet's narrowest group has 8 channels and keeps 4 at r = 0.4 (50 % removed)" in text
    assert "18 channels keep 10 (44 % removed)" in text
    assert text.endswith("DEQ keeps within the paper's margin at more ratios (1 of 2) than VarNet, "
                         "and its narrowest groups are wider: at this size the verdicts follow "
                         "the widths.")
    sizes["deq", "quick"] = [4, 32]                      # now the better network is narrower
    text = widths.width_summary(widths.width_rows(rows, "quick"), {})
    assert text.endswith("the widths do not order the verdicts that way.")
    even = [dict(r, verdict="holds") for r in rows]
    assert "the widths do not separate them here" in widths.width_summary(
        widths.width_rows(even, "quick", compare=None))


def test_width_preset_keys_the_wider_networks_apart():
    """A width study's networks: the preset at another U-Net width, cached under keys of their
    own, their report beside the preset's; the preset's own width is the preset itself."""
    from spadelib import get_preset

    quick = get_preset("quick")
    assert budget.width_preset(quick, None) is quick
    assert budget.width_preset(quick, quick.varnet_chans) is quick
    wide = budget.width_preset("quick", budget.PAPER_WIDTH)
    assert budget.PAPER_WIDTH == get_preset("paper").varnet_chans == 18
    assert wide.varnet_chans == 18 and wide.replace(varnet_chans=8) == quick
    for name in budget.WIDTH_NETWORKS:
        assert budget.zoo.checkpoint_path(name, wide) != budget.zoo.checkpoint_path(name, quick)
        assert widths.group_widths(name, wide)[0] == 18
    assert budget.budget_path(wide).name == "finetune-budget-quick-width18.json"
    assert budget.budget_path(quick).name == "finetune-budget-quick.json"
    with pytest.raises(ValueError, match="width must be an int >= 1"):
        budget.width_preset(quick, 0)


def test_the_command_runs_a_width_study_of_the_varnets(tmp_path, monkeypatch, capsys):
    seen = []

    def fake(P, networks, ratios, *, steps, lr, scratch=False, reuse=None, log=None,
             progress=True):
        seen.append((P.varnet_chans, list(networks)))
        return {"steps": steps, "lr": lr, "ratios": [float(r) for r in ratios],
                "rows": {n: {"ratios": {f"{r:g}": {"val": [1.0], "test": [2.0], "seconds": 5.0}
                                        for r in ratios}} for n in networks}}

    monkeypatch.setattr(budget, "budget_report", fake)
    out = tmp_path / "w.json"
    assert main(["finetune-budget", "--preset", "quick", "--width", "18", "--out", str(out)]) == 0
    assert seen == [(18, ["varnet", "e2e-varnet"])]          # the DEQ has no U-Net width
    wide = budget.width_preset("quick", 18)
    report = budget.load_budget_report(wide, out)
    assert report["header"]["command"] == ("spade finetune-budget --preset quick --steps 1600 "
                                           "--lr 0.001 --width 18")
    with pytest.raises(budget.BudgetReportError, match="other networks"):
        budget.load_budget_report("quick", out)               # the narrow networks' key differs
    assert main(["finetune-budget", "--preset", "quick", "--width", "18", "--networks", "deq",
                 "--out", str(out)]) == 2
    assert "deq has no such width" in capsys.readouterr().err
    assert main(["finetune-budget", "--preset", "quick", "--width", "0", "--out", str(out)]) == 2
    assert len(seen) == 1                                    # neither bad call ran anything


def _fake_width_reports(narrowing=1.0):
    narrow = _fake_report()
    wide = json.loads(json.dumps(narrow))
    for row in wide["rows"].values():
        row["test_unpruned"] = [u + 0.5 for u in row["test_unpruned"]]
        row["params"] = 4000
        for cell in row["ratios"].values():
            cell["test"] = [t + 0.5 + narrowing for t in cell["test"]]
    for r in (narrow, wide):
        r.update(steps=30, lr=1e-3, ratios=[0.2, 0.4])
    return {8: narrow, 18: wide}


def test_width_study_rows_pair_each_gap_with_the_narrowest_widths():
    reports = _fake_width_reports(narrowing=1.0)
    rows = widths.factor_rows(reports)
    assert len(rows) == 8 and {r["width"] for r in rows} == {8, 18}
    at = {(r["width"], r["network"], r["ratio"]): r for r in rows}
    assert at[8, "varnet", 0.2]["change"] is None
    assert at[18, "varnet", 0.2]["change"].estimate == pytest.approx(1.0)   # 1 dB less lost
    assert at[18, "varnet", 0.4]["change"].estimate == pytest.approx(1.0)
    assert at[18, "deq", 0.2]["unpruned_change"].estimate == pytest.approx(0.5)
    assert at[18, "varnet", 0.2]["gap"].estimate == pytest.approx(0.8)      # -0.2 + 1
    assert at[18, "varnet", 0.2]["params"] == 4000 and at[8, "varnet", 0.2]["params"] == 1000
    assert at[8, "deq", 0.2]["verdict"] == at[18, "deq", 0.2]["verdict"] == "does not hold"
    wider = widths.factor_rows(_fake_width_reports(narrowing=2.0))     # -2.2 -> -0.2 dB
    assert [r["verdict"] for r in wider if (r["network"], r["ratio"]) == ("deq", 0.2)] == \
        ["does not hold", "holds"]
    reports[18]["steps"] = 60
    with pytest.raises(ValueError, match="must share steps, lr, ratios"):
        widths.factor_rows(reports)
    with pytest.raises(ValueError, match="at least one level"):
        widths.factor_rows({})


def test_width_study_summary_words_follow_the_numbers():
    from spadelib.prose_check import contradictions

    titles = {"varnet": "VarNet", "deq": "DEQ"}
    rows = widths.factor_rows(_fake_width_reports(narrowing=1.0))
    text = widths.factor_summary(rows, titles)
    assert text.startswith("VarNet at r = 0.2 (38 % removed): -0.20 dB at width 8, +0.80 dB at "
                           "width 18; widening narrows the gap by 1.00 dB")
    assert "Widening narrows every gap." in text
    within = {w: sum(r["verdict"] == "holds" for r in rows if r["width"] == w) for w in (8, 18)}
    assert text.endswith(f"{within[18]} of 4 pruned networks at width 18, {within[8]} of 4 at "
                         "width 8.")
    assert not contradictions(text)
    listed = widths.factor_summary(rows, titles, as_list=True)
    bullets = [ln for ln in listed.splitlines() if ln.startswith("- ")]
    assert len(bullets) == 4 and listed.endswith(text.split(". ", 4)[-1])
    assert not contradictions(listed)
    worse = widths.factor_summary(widths.factor_rows(
        _fake_width_reports(narrowing=-1.0)), titles)
    assert "widening widens the gap by 1.00 dB" in worse and "widens 4" in worse
    same = widths.factor_summary(widths.factor_rows(
        _fake_width_reports(narrowing=0.0)), titles)
    assert "no change with the width resolved (+0.00 dB" in same
    assert "No gap changes resolvably with the width." in same
    assert "one level (width 8)" in widths.factor_summary(
        widths.factor_rows({8: _fake_width_reports()[8]}))
    assert "No study of the width" in widths.factor_summary([])


def test_a_budget_study_compares_one_widths_reports_at_two_budgets():
    """factor="steps": the same pairing over budgets; reports of other networks or rates are
    refused, and the words name the budgets."""
    from spadelib.prose_check import contradictions

    short = _fake_width_reports()[8]
    long = json.loads(json.dumps(short))
    long["steps"] = 120
    for row in long["rows"].values():
        for cell in row["ratios"].values():
            cell["test"] = [t + 0.4 for t in cell["test"]]
    rows = widths.factor_rows({30: short, 120: long}, factor="steps")
    at = {(r["steps"], r["network"], r["ratio"]): r for r in rows}
    assert at[120, "varnet", 0.4]["change"].estimate == pytest.approx(0.4)
    assert at[30, "varnet", 0.4]["change"] is None
    text = widths.factor_summary(rows, {"varnet": "VarNet", "deq": "DEQ"}, factor="steps")
    assert "-0.20 dB at 30 steps, +0.20 dB at 120 steps; the longer budget narrows the gap by " \
           "0.40 dB" in text
    assert "The longer budget narrows every gap." in text and "at 120 steps, " in text
    assert not contradictions(text)
    with pytest.raises(ValueError, match="must share lr, ratios and networks"):
        widths.factor_rows({30: short, 120: dict(long, lr=1e-4)}, factor="steps")
    other = dict(long, header={"networks": {"varnet": "model-varnet-quick-other.pt"}})
    with pytest.raises(ValueError, match="must share lr, ratios and networks"):
        widths.factor_rows({30: short, 120: other}, factor="steps")
    with pytest.raises(ValueError, match="factor must be one of"):
        widths.factor_rows({30: short}, factor="depth")


def test_width_study_plot_draws_each_network_at_each_width():
    from spadelib.plotting import factor_plot

    rows = widths.factor_rows(_fake_width_reports(narrowing=1.0))
    fig = factor_plot(rows, {"varnet": "VarNet", "deq": "DEQ"})
    assert len(fig.axes) == 2 and list(fig.axes[0].get_xticks()) == [8, 18]
    bars = [c for c in fig.axes[0].containers]
    assert len(bars) == 2                                       # VarNet and the DEQ
    ys = sorted(np.round(bars[0].lines[0].get_ydata(), 2))
    assert ys == [-0.2, 0.8]                                    # VarNet's gaps at r = 0.2
    assert any(ln.get_linestyle() == "--" and ln.get_ydata()[0] == -0.5
               for ln in fig.axes[0].lines)


def test_width_study_reports_finds_every_width_beside_the_preset(tmp_path, monkeypatch):
    """The chapter's reader: the preset's own report and each width's, each checked against
    that width's networks, the DEQ left out; a report of other networks is refused."""
    from spadelib import get_preset

    quick = get_preset("quick")
    assert widths.width_study_reports(quick, tmp_path) == {}
    report = {"steps": 1600, "lr": 1e-3, "ratios": [0.2], "rows": {
        n: {"ratios": {"0.2": {"test": [1.0]}}} for n in budget.BUDGET_NETWORKS}}
    budget.write_budget_report(report, quick, "spade finetune-budget", 1.0,
                               path=budget.budget_path(quick, tmp_path))
    wide = budget.width_preset(quick, 18)
    narrow_rows = {n: report["rows"][n] for n in budget.WIDTH_NETWORKS}
    budget.write_budget_report(dict(report, rows=narrow_rows), wide, "spade finetune-budget",
                               1.0, path=budget.budget_path(wide, tmp_path))
    found = widths.width_study_reports(quick, tmp_path)
    assert sorted(found) == [8, 18]
    assert all(list(r["rows"]) == list(budget.WIDTH_NETWORKS) for r in found.values())
    assert widths.width_study_reports(quick, tmp_path, steps=30) == {}     # no such budget
    long = dict(report, steps=6400)
    budget.write_budget_report(long, quick, "spade finetune-budget", 1.0,
                               path=budget.budget_path(quick, tmp_path, steps=6400))
    budget.write_budget_report(dict(long, rows=narrow_rows), wide, "spade finetune-budget", 1.0,
                               path=budget.budget_path(wide, tmp_path, steps=6400))
    assert budget.budget_path(wide, tmp_path, steps=6400).name == \
        "finetune-budget-quick-width18-steps6400.json"
    found = widths.width_study_reports(quick, tmp_path, steps=6400)
    assert sorted(found) == [8, 18] and all(r["steps"] == 6400 for r in found.values())
    assert sorted(widths.width_study_reports(quick, tmp_path)) == [8, 18]   # 1,600 unchanged
    with pytest.raises(budget.BudgetReportError, match="holds a budget of 1600 steps, not 6400"):
        budget.load_budget_report(quick, budget.budget_path(quick, tmp_path), steps=6400)
    budget.write_budget_report(dict(report, rows=narrow_rows), quick, "spade finetune-budget",
                               1.0, path=tmp_path / "finetune-budget-quick-width12.json")
    with pytest.raises(budget.BudgetReportError, match="other networks"):
        widths.width_study_reports(quick, tmp_path)       # written from the width-8 networks
