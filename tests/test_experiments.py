"""The experiment grid as data, the results store and the spade command's argument handling."""
import multiprocessing as mp

import pytest

from spadelib.checkpoints import CheckpointError
from spadelib.experiments import GRIDS, Cell, ResultStore, cells
from spadelib.experiments.paper import PAPER, paper_value


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
