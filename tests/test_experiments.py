"""The experiment grid as data, the results store and the spade command's argument handling."""
import multiprocessing as mp

import pytest

from spadelib.checkpoints import CheckpointError
from spadelib.experiments import GRIDS, Cell, ResultStore, cells
from spadelib.experiments.paper import PAPER, paper_value
from spadelib.presets import get_preset
from spadelib import zoo


@pytest.mark.determinism
def test_cells_validate_and_have_stable_keys():
    c = Cell("E2E_VarNet", 0.167, 0.2, "school")
    assert c.network == "e2e-varnet" and c.task == "mri"
    assert c.key == "e2e-varnet|rate0.167|ratio0.2|school|l1|seed0"
    assert Cell("usrnet", 3, 0.4, "school").key == "usrnet|x3|ratio0.4|school|l1|seed0"
    assert c.preset("quick").mri_rate == 0.167
    assert Cell("usrnet", 2, 0.1, "school").preset("quick").sr_scale == 2
    with pytest.raises(ValueError, match="unknown regime 'teacher'; choose one of none"):
        Cell("deq", 0.167, 0.2, "teacher")
    with pytest.raises(ValueError, match="ratio 0"):
        Cell("deq", 0.167, 0.0, "school")
    with pytest.raises(ValueError, match="the scale must be one of 2, 3, 4, got 0.167"):
        Cell("usrnet", 0.167, 0.2, "school")
    with pytest.raises(ValueError, match="ratio must be a finite number in"):
        Cell("deq", 0.167, 1.0, "school")
    with pytest.raises(ValueError, match="unknown network"):
        Cell("unet", 0.167, 0.2, "school")


def test_named_grids_follow_the_paper():
    t1 = cells("table1", "paper")
    # 3 networks x (1 unpruned + 4 ratios x 3 regimes)
    assert len(t1) == 3 * (1 + 4 * 3)
    assert {c.setting for c in t1} == {0.167}
    t4 = cells("table4", "paper")
    assert {c.setting for c in t4} == {2, 3} and {c.regime for c in t4} == {"none", "school"}
    t3 = cells("table3", "paper")
    assert {"scratch-supervised", "scratch-self-supervised"} <= {c.regime for c in t3}
    everything = cells("all", "paper")
    assert len({c.key for c in everything}) == len(everything)
    assert {c.key for c in t1} <= {c.key for c in everything}
    # every paper-preset cell of table 1 has the paper's number to compare with
    assert all(paper_value(c.network, c.setting, c.ratio, c.regime) is not None for c in t1)
    with pytest.raises(ValueError, match="unknown grid 'table9'; choose one of table1"):
        cells("table9")


def test_quick_preset_runs_a_documented_subset():
    quick, paper = cells("table1", "quick"), cells("table1", "paper")
    assert 0 < len(quick) < len(paper)
    assert {c.key for c in quick} <= {c.key for c in paper}
    assert {c.ratio for c in quick} <= {0.0, 0.2, 0.4}
    assert cells("table2", "quick") == []
    # Chapter 8's criteria: three seeds on VarNet (cheap cells, a spread to judge by), one on
    # the DEQ; the paper preset three on both
    seeds = {}
    for c in cells("beyond-criteria", "quick"):
        seeds.setdefault((c.network, c.criterion), set()).add(c.seed)
    assert seeds[("varnet", "l1")] == seeds[("varnet", "lamp-global")] == {0, 1, 2}
    assert seeds[("deq", "l1")] == seeds[("deq", "taylor")] == {0}
    assert {c.seed for c in cells("beyond-criteria", "paper") if c.network == "deq"} == {0, 1, 2}
    assert all(c.seed == 0 for c in cells("table1", "quick"))
    held_out = [c for c in cells("beyond-selfsup", "quick")
                if c.regime == "self-supervised-split-held-out"]
    assert [c.network for c in held_out] == ["varnet"]


def test_paper_numbers_are_transcribed_consistently():
    assert paper_value("deq", 0.167, 0.4, "supervised") == 41.36
    assert paper_value("varnet", 0.125, 0.0, "none") == 36.17
    assert paper_value("usrnet", 3, 0.4, "school", "ssim") == pytest.approx(0.782)
    assert paper_value("deq", 0.167, 0.4, "none", "params") == 353_328
    for entry in PAPER.values():
        assert all(0 < v < 1 for v in entry["ssim"].values())


def _row(key, psnr=30.0, status="ok"):
    return {"key": key, "status": status, "psnr": psnr, "cell": {"network": "deq"}}


def test_store_adds_replaces_and_survives_a_reload(tmp_path):
    store = ResultStore(tmp_path / "results-quick.spade")
    assert store.rows() == [] and store.done() == set()
    store.add(_row("a"))
    store.add(_row("b", status="failed"))
    store.add(_row("a", psnr=31.0))
    again = ResultStore(store.path)
    assert [r["key"] for r in again.rows()] == ["b", "a"]
    assert again.get("a")["psnr"] == 31.0 and again.done() == {"a"}
    assert list(again.frame()["psnr"]) == [30.0, 31.0]
    with pytest.raises(ValueError, match="needs a 'key'"):
        store.add({"psnr": 1.0})


def test_a_damaged_store_is_refused_not_rebuilt(tmp_path):
    store = ResultStore(tmp_path / "results-quick.spade")
    store.add(_row("a"))
    raw = bytearray(store.path.read_bytes())
    raw[-5] ^= 0xFF
    store.path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="not rebuilt automatically"):
        store.rows()
    assert store.path.exists()


def _add_many(path, start):
    store = ResultStore(path)
    for i in range(start, start + 10):
        store.add(_row(f"cell{i}"))


def test_concurrent_writers_lose_no_row(tmp_path):
    path = tmp_path / "results-quick.spade"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_add_many, args=(path, k * 10)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert {r["key"] for r in ResultStore(path).rows()} == {f"cell{i}" for i in range(30)}


def test_cli_refuses_bad_names_in_one_line(capsys):
    from spadelib.cli import main

    for argv, word in ((["run", "table9"], "table9"), (["pretrain", "unet"], "unet"),
                       (["status", "--preset", "huge"], "huge"),
                       (["run", "table1", "--executor", "slurm"], "slurm")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert word in err and "choose from" in err
    assert set(GRIDS) >= {"table1", "table2", "table3", "table4", "table5", "table6", "fig2",
                          "all"}


def test_run_grid_records_failures_goes_on_and_resumes(tmp_path, monkeypatch):
    import spadelib.experiments.runner as R

    calls = []

    def fake_cell(cell, preset, device=None, progress=False):
        calls.append(cell.key)
        if cell.regime == "school" and len(calls) < 5:
            raise RuntimeError("out of memory")
        return {"key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": 30.0}

    monkeypatch.setattr(R, "run_cell", fake_cell)
    store = ResultStore(tmp_path / "results-quick.spade")
    keys = [c.key for c in cells("smoke", "quick")]
    rows = R.run_grid("smoke", "quick", store=store, progress=False)
    assert [r["key"] for r in rows] == keys == calls
    failed = [r for r in store.rows() if r["status"] == "failed"]
    assert len(failed) == 1 and "RuntimeError: out of memory" in failed[0]["error"]
    # a second run re-runs only what is not done: the failed cell
    again = R.run_grid("smoke", "quick", store=store, progress=False)
    assert [r["key"] for r in again] == [failed[0]["key"]] and store.done() == set(keys)
    assert R.run_grid("smoke", "quick", store=store, progress=False) == []


def test_an_interrupted_grid_keeps_what_finished(tmp_path, monkeypatch):
    import spadelib.experiments.runner as R

    def fake_cell(cell, preset, device=None, progress=False):
        if cell.ratio == 0.4 and cell.regime == "supervised":
            raise KeyboardInterrupt
        return {"key": cell.key, "cell": cell.as_dict(), "status": "ok"}

    monkeypatch.setattr(R, "run_cell", fake_cell)
    store = ResultStore(tmp_path / "results-quick.spade")
    with pytest.raises(KeyboardInterrupt):
        R.run_grid("smoke", "quick", store=store, progress=False)
    assert len(store.done()) == 2           # the two cells before the interruption
    assert len(R.pending("smoke", "quick", store)) == 2


def test_a_row_on_another_network_is_pending_again(tmp_path, monkeypatch):
    """Each row records the file its unpruned network came from; when that network is made
    again with other settings (another budget), the cell is pending until it runs on the new
    one. A row from before rows recorded it counts as current."""
    import spadelib.experiments.runner as R

    store = ResultStore(tmp_path / "results-quick.spade")
    smoke = cells("smoke", "quick")
    current = R.network_file(smoke[0], "quick")
    assert current == zoo.checkpoint_path(smoke[0].network, smoke[0].preset("quick")).name
    for i, cell in enumerate(smoke):
        row = {"key": cell.key, "cell": cell.as_dict(), "status": "ok"}
        if i == 0:
            row["network_file"] = "an-older-network.pt"      # any file but the current one
        elif i == 1:
            row["network_file"] = R.network_file(cell, "quick")
        store.add(row)
    assert R.stale(store.rows()[0], "quick") and not R.stale(store.rows()[1], "quick")
    assert not R.stale(store.rows()[2], "quick")                        # it records none
    assert [c.key for c in R.pending("smoke", "quick", store)] == [smoke[0].key]
    monkeypatch.setattr(R, "run_cell", lambda cell, preset, device=None, progress=False: {
        "key": cell.key, "cell": cell.as_dict(), "status": "ok",
        "network_file": R.network_file(cell, preset)})
    assert [r["key"] for r in R.run_grid("smoke", "quick", store=store, progress=False)] == \
        [smoke[0].key]
    assert R.pending("smoke", "quick", store) == []


def test_status_and_table_commands(tmp_path, monkeypatch, capsys):
    from spadelib.cli import main
    from spadelib.experiments.runner import failed_row

    monkeypatch.setenv("SPADE_DATA_DIR", str(tmp_path))
    store = ResultStore.for_preset("quick")
    ref, pruned = Cell("deq", 0.167, 0.0, "none"), Cell("deq", 0.167, 0.4, "supervised")
    store.add({"key": ref.key, "cell": ref.as_dict(), "status": "ok", "psnr": 28.0,
               "ssim": 0.9, "time_ms": 200.0, "params": 1000, "wall_s": 60})
    store.add({"key": pruned.key, "cell": pruned.as_dict(), "status": "ok", "psnr": 27.0,
               "ssim": 0.88, "time_ms": 100.0, "params": 400, "wall_s": 120})
    school = Cell("deq", 0.167, 0.4, "school")
    store.add(failed_row(school, "quick", ValueError("boom"), 1.0))
    assert main(["status", "table1"]) == 0
    out = capsys.readouterr().out
    n = len(cells("table1", "quick"))
    assert f"table1   {n:4d} cells: 2 done, 1 failed, {n - 3} pending" in out
    assert "failed deq|rate0.167|ratio0.4|school|l1|seed0: ValueError: boom" in out
    assert main(["table", "1", "--format", "csv", "--preset", "quick"]) == 0
    import csv as csvlib
    import io

    printed = capsys.readouterr()
    rows = list(csvlib.DictReader(io.StringIO(printed.out)))
    # the channel ratio r = 0.4 is printed as the paper's pruning ratio, 65 %
    ours = next(r for r in rows if r["Network"] == "DEQ" and r["Pruning Ratio"] == "65 %"
                and r["Row"] == "ours")
    paper = next(r for r in rows if r["Network"] == "DEQ" and r["Pruning Ratio"] == "65 %"
                 and r["Row"] == "paper")
    assert float(ours["PSNR (dB) Supervised"]) == 27.0
    assert ours["PSNR (dB) School"] == "failed"          # stored as failed above
    assert ours["PSNR (dB) Self-supervised"] == "not run yet"
    assert float(paper["PSNR (dB) Supervised"]) == 41.36
    assert ours["Speed Up"] == "×2.00" and ours["# Params"] == "400"
    # the legend names the command that fills the missing cells, off the CSV itself
    assert "not run yet / failed: spade run table1 --preset quick" in printed.err
    assert main(["table", "1", "--preset", "quick"]) == 0
    text = capsys.readouterr().out
    assert "DEQ " in text and "27.00" in text and "41.36" in text and "(quick preset)" in text
    # without --preset: what the chapters show, the shipped medium store (tables.table_source)
    assert main(["table", "1"]) == 0
    assert "(medium preset)" in capsys.readouterr().out


def test_run_takes_some_networks_and_settings_of_a_grid(tmp_path, monkeypatch, capsys):
    import spadelib.experiments.runner as R
    from spadelib.cli import main

    monkeypatch.setenv("SPADE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(R, "run_cell", lambda cell, P, **_: {
        "key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": 30.0, "ssim": 0.9,
        "time_ms": 1.0, "params": 1, "wall_s": 0.0})
    assert main(["run", "pruned", "--preset", "paper", "--networks", "varnet", "usrnet",
                 "--settings", "0.125", "4"]) == 0
    assert "grid pruned (varnet, usrnet, 0.125, 4 only) (paper): 8 cell(s)" in capsys.readouterr().out
    done = {(r["cell"]["network"], r["cell"]["setting"])
            for r in ResultStore.for_preset("paper").rows()}
    assert done == {("varnet", 0.125), ("usrnet", 4)}
    assert main(["run", "seeds", "--preset", "paper", "--networks", "deq", "--seeds", "2"]) == 0
    assert "grid seeds (deq, seed 2 only) (paper): 36 cell(s)" in capsys.readouterr().out
    seeds = {r["cell"]["seed"] for r in ResultStore.for_preset("paper").rows()
             if r["cell"]["network"] == "deq"}
    assert seeds == {2}
    # one of Table 3's baselines at a time
    assert main(["run", "table3", "--preset", "paper", "--networks", "varnet", "--ratios", "0.4",
                 "--regimes", "scratch-self-supervised"]) == 0
    assert ("grid table3 (varnet, r = 0.4, scratch-self-supervised only) (paper): 1 cell(s)"
            in capsys.readouterr().out)
    assert [r["cell"]["regime"] for r in ResultStore.for_preset("paper").rows()
            if r["cell"]["network"] == "varnet" and r["cell"]["ratio"] == 0.4
            and r["cell"]["seed"] == 0].count("scratch-self-supervised") == 1
    with pytest.raises(SystemExit):
        main(["run", "table3", "--preset", "paper", "--regimes", "scratch"])


def test_all_is_the_paper_grids_without_the_smoke_grid():
    paper = {c.key for name in ("table1", "table2", "table3", "table4", "table5", "table6",
                                "fig2", "pruned") for c in cells(name, "paper")}
    assert {c.key for c in cells("all", "paper")} == paper
    assert not {c.key for c in cells("smoke", "paper")} - paper
    # the pruned, not fine-tuned networks of every table setting
    assert {(c.network, c.setting) for c in cells("pruned", "paper")} == {
        (n, s) for n in ("deq", "varnet", "e2e-varnet") for s in (0.167, 0.125, 0.10)} | {
        ("usrnet", s) for s in (2, 3, 4)}
    assert {c.regime for c in cells("pruned", "paper")} == {"none"}


def test_budgets_match_steps_and_scratch_gets_its_own():
    from spadelib import finetune as ft

    assert ft.steps_per_epoch(15, 2) == 8 and ft.steps_per_epoch(16, 2) == 8
    assert ft.matched_epochs(80, 160, 2) == 1 and ft.matched_epochs(80, 16, 2) == 10
    assert ft.matched_epochs(81, 160, 2) == 2              # at least the steps asked for
    P = get_preset("quick")
    assert ft.finetune_steps(P, 16) == P.finetune_epochs * 8
    assert ft.scratch_epochs("deq", P, 16) == ft.matched_epochs(P.scratch_steps, 16, 2)
    # quick: a scratch baseline gets the steps of fine-tuning on the quick test split
    assert P.scratch_steps == ft.finetune_steps(P, P.mri_split_sizes["test"])
    paper = get_preset("paper")
    assert paper.scratch_steps is None
    with pytest.raises(ValueError, match="needs n_train"):
        ft.scratch_epochs("deq", paper, 80)
    # the paper preset's scratch baseline gets the network's whole pre-training budget
    steps = paper.deq_epochs * ft.steps_per_epoch(1160, paper.train_batch)
    assert ft.scratch_epochs("deq", paper, 80, 1160) == ft.matched_epochs(steps, 80,
                                                                          paper.train_batch)


def test_cell_network_gives_each_regime_its_data_and_budget(tiny_varnet_preset, data_dir,
                                                             monkeypatch):
    """Supervised fine-tuning learns from the whole training split for as many steps as the
    regimes that learn from the test measurements; a scratch baseline gets its own budget."""
    import spadelib.experiments.runner as R
    from spadelib import finetune as ft
    from spadelib import zoo
    from spadelib.experiments import Cell
    from spadelib.models import build
    from spadelib.tasks import MRI

    P = tiny_varnet_preset
    seen = {}

    def fake(kind):
        def run(net, regime, *, data, epochs=None, **kwargs):
            seen[(kind, regime)] = (len(data), epochs, "teacher" in kwargs,
                                    getattr(data, "sample_type", None))
            return net, None
        return run

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    monkeypatch.setattr(zoo, "pretrained", lambda *a, **k: build("varnet", P).eval())
    monkeypatch.setattr(ft, "finetune", fake("finetune"))
    monkeypatch.setattr(ft, "scratch_baseline", lambda net, regime, seed=None, **k:
                        fake("scratch")(net, regime, **k))
    for regime in ("supervised", "school", "self-supervised", "scratch-supervised",
                   "scratch-self-supervised"):
        R.cell_network(Cell("varnet", 0.167, 0.4, regime), P, device="cpu")
    n_train, n_test = len(MRI.training_data(P)[0]), len(MRI.test_data(P))
    steps = ft.finetune_steps(P, n_test)
    assert seen[("finetune", "supervised")][:3] == (
        n_train, ft.matched_epochs(steps, n_train, P.train_batch), False)
    # school and self-supervised: the preset's fine-tuning epochs (None: finetune's default)
    assert seen[("finetune", "school")][:3] == (n_test, None, True)
    assert seen[("finetune", "self-supervised")][:3] == (n_test, None, False)
    assert seen[("scratch", "supervised")][:2] == (
        n_train, ft.scratch_epochs("varnet", P, n_train, n_train))
    assert seen[("scratch", "self-supervised")][:2] == (
        n_test, ft.scratch_epochs("varnet", P, n_test, n_train))


def test_run_grid_takes_a_list_of_cells(tmp_path, monkeypatch):
    import spadelib.experiments.runner as R
    from spadelib.experiments import Cell

    monkeypatch.setattr(R, "run_cell", lambda cell, preset, device=None, progress=False:
                        {"key": cell.key, "cell": cell.as_dict(), "status": "ok"})
    store = ResultStore(tmp_path / "results-quick.spade")
    mine = [Cell("deq", 0.167, 0.0, "none"), Cell("deq", 0.167, 0.2, "school")]
    assert [r["key"] for r in R.run_grid(mine, "quick", store=store, progress=False)] == \
        [c.key for c in mine]
    assert R.pending(mine, "quick", store) == []
    with pytest.raises(TypeError, match="a list of Cell"):
        R.run_grid(["deq"], "quick", store=store, progress=False)


def test_a_refusal_to_train_here_stops_the_grid_and_stores_nothing(tmp_path, monkeypatch):
    """In the paper preset a notebook's run_grid meets NeedsCLIError: that is no failed cell
    (it would fill the store with failures); it stops the grid with the command to run."""
    import spadelib.experiments.runner as R
    from spadelib.presets import NeedsCLIError

    def refuse(cell, preset, device=None, progress=False):
        raise NeedsCLIError("deq fine-tuning ... spade run all --preset paper")

    monkeypatch.setattr(R, "run_cell", refuse)
    store = ResultStore(tmp_path / "results-paper.spade")
    with pytest.raises(NeedsCLIError, match="spade run all --preset paper"):
        R.run_grid("smoke", "paper", store=store, progress=False)
    assert store.rows() == []


def test_redo_runs_the_stored_cells_again_and_replaces_their_rows(tmp_path, monkeypatch):
    import spadelib.experiments.runner as R

    psnr = {"value": 30.0}
    monkeypatch.setattr(R, "run_cell", lambda cell, preset, device=None, progress=False: {
        "key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": psnr["value"]})
    store = ResultStore(tmp_path / "results-quick.spade")
    assert len(R.run_grid("smoke", "quick", store=store, progress=False)) == 4
    psnr["value"] = 31.0                             # the code changed; the keys did not
    assert R.run_grid("smoke", "quick", store=store, progress=False) == []
    assert {r["psnr"] for r in store.rows()} == {30.0}
    again = R.run_grid("smoke", "quick", store=store, progress=False, redo=True)
    assert len(again) == 4 and len(store) == 4
    assert {r["psnr"] for r in store.rows()} == {31.0}
    with pytest.raises(TypeError, match="redo"):
        R.run_grid("smoke", "quick", store=store, progress=False, redo="yes")


def test_retime_times_the_stored_cells_again_and_keeps_their_quality(tiny_varnet_preset,
                                                                     data_dir):
    import spadelib.experiments.runner as R

    P = tiny_varnet_preset.replace(varnet_epochs=1)
    store = ResultStore(data_dir / "results.spade")
    cell = Cell("varnet", 0.167, 0.4, "none")
    R.run_grid([Cell("varnet", 0.167, 0.0, "none"), cell], P, store=store, progress=False)
    before = {r["key"]: r for r in store.rows()}
    assert R.retime(P, store, networks=("varnet",), device="cpu", progress=False) == 2
    assert R.retime(P, store, networks=("deq",), progress=False) == 0
    for key, row in {r["key"]: r for r in store.rows()}.items():
        old = before[key]
        assert row["psnr_per_sample"] == old["psnr_per_sample"] and row["params"] == old["params"]
        assert row["time_ms_all"] != old["time_ms_all"] and row["time_ms"] > 0
        assert row["timed"]["device"].startswith("cpu") and row["timed"]["date"]
    # a row a grid run adds later is the only one an untimed-only retime times
    R.run_grid([Cell("varnet", 0.167, 0.2, "none")], P, store=store, progress=False)
    assert R.retime(P, store, device="cpu", progress=False, untimed_only=True) == 1
    assert R.retime(P, store, device="cpu", progress=False, untimed_only=True) == 0
    assert all(r.get("timed") for r in store.rows())


def test_a_scratch_baseline_at_the_whole_budget_is_trained_as_the_network_was_pretrained(
        tiny_varnet_preset, data_dir, monkeypatch):
    """``scratch_steps=None`` (paper, medium): Table 3(b)'s Random is
    ``finetune.pretraining_scratch``, the unpruned network's own pre-training recipe."""
    import spadelib.experiments.runner as R

    P = tiny_varnet_preset.replace(varnet_epochs=1, scratch_steps=None)
    seen = []

    def fake(name, pruned, *, preset, seed, device, progress):
        seen.append((name, preset.scratch_steps, seed))
        return pruned, None

    monkeypatch.setattr(R.finetune, "pretraining_scratch", fake)
    R.cell_network(Cell("varnet", 0.167, 0.4, "scratch-supervised", seed=2), P, device="cpu")
    assert seen == [("varnet", None, 2)]
    R.cell_network(Cell("varnet", 0.167, 0.4, "scratch-supervised"), P.replace(scratch_steps=3),
                   device="cpu")                     # a step budget: the fine-tuning recipe
    assert len(seen) == 1


def test_the_seeds_grid_repeats_the_tables_fine_tuning_at_two_more_seeds():
    from spadelib.experiments.grid import MORE_SEEDS

    seeds = cells("seeds", "medium")
    tuned = [c for name in ("table1", "table2", "table5", "table4", "table6")
             for c in cells(name, "medium") if c.regime != "none"]
    # 3 MRI networks x 3 rates x 4 ratios x 3 regimes, and USRNet x 3 scales x 4 ratios (school)
    assert len(seeds) == len(MORE_SEEDS) * len(tuned) == 2 * (108 + 12) == 240
    assert not any(c.regime.startswith("scratch-") for c in seeds)
    assert {(c.network, c.setting, c.ratio, c.regime) for c in seeds} == {
        (c.network, c.setting, c.ratio, c.regime) for c in tuned}
    assert {c.seed for c in seeds} == set(MORE_SEEDS)
    assert not {c.key for c in seeds} & {c.key for c in cells("all", "medium")}


def test_the_table3_seeds_grid_repeats_only_the_scratch_baselines():
    """Table 3's baselines (whole pre-trainings) at seeds 1 and 2, kept out of 'seeds' and 'all'."""
    from spadelib.experiments.grid import MORE_SEEDS

    again = cells("table3-seeds", "medium")
    scratch = [c for c in cells("table3", "medium") if c.regime.startswith("scratch-")]
    # DEQ, VarNet, E2E-VarNet x 4 ratios x (supervised, self-supervised) from scratch
    assert len(again) == len(MORE_SEEDS) * len(scratch) == 2 * 24 == 48
    assert {(c.network, c.setting, c.ratio, c.regime) for c in again} == {
        (c.network, c.setting, c.ratio, c.regime) for c in scratch}
    assert {c.seed for c in again} == set(MORE_SEEDS)
    assert not {c.key for c in again} & {c.key for name in ("all", "seeds")
                                         for c in cells(name, "medium")}
