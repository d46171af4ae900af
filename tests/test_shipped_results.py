"""The results store that ships with the repository (``shipped/results-medium.spade``, made by
``spade run all``, ``spade run seeds`` and ``spade run table3-seeds``, ``--preset medium``): the chapters render the paper's tables from it, so every
row must say where it came from, and a sample of its cells, run again here, must agree with it.

Tolerances: another CPU (or thread count) sums floats in another order. An unpruned cell only
evaluates the shipped network, so it agrees to 0.05 dB. A pruned and fine-tuned VarNet cell
carries that difference through 240 optimiser steps: 0.5 dB, a fraction of the spread of its
PSNR over the test images (about 2 dB)."""
import math

import pytest

from spadelib.experiments import Cell, ResultStore, cells, run_cell
from spadelib.experiments.store import store_path
from spadelib.experiments.coverage import coverage, paper_cells
from spadelib.experiments.tables import table_source
from spadelib.presets import CLI_ENV

SHIPPED = store_path("medium")
#: (cell, PSNR tolerance in dB): cheap cells, one without training and one fine-tuned
SAMPLE = ((Cell("varnet", 0.167, 0.0, "none"), 0.05),
          (Cell("varnet", 0.167, 0.4, "school"), 0.5))


def _rows():
    assert SHIPPED.exists(), f"no shipped store at {SHIPPED}: run `spade run all --preset medium`"
    return ResultStore(SHIPPED).rows()


def test_the_shipped_store_is_the_medium_grid_with_provenance_in_every_row():
    rows = _rows()
    grid = {c.key for name in ("all", "seeds", "table3-seeds")
            for c in cells(name, "medium")}
    assert rows, "the shipped store is empty"
    for r in rows:
        assert r["key"] in grid, f"{r['key']} is no cell of the medium preset's grids"
        assert r["status"] == "ok", f"{r['key']} failed: {r.get('error')}"
        assert r["preset"] == "medium"
        assert r["versions"]["torch"] and r["versions"]["torch_pruning"], r["key"]
        assert r["device"] and r["date"] and r["wall_s"] >= 0, r["key"]
        assert r["n"] == 48 if r["cell"]["task"] == "mri" else r["n"] > 0, r["key"]
        assert len(r["psnr_per_sample"]) == r["n"] and all(map(math.isfinite,
                                                               r["psnr_per_sample"]))


def test_every_shipped_row_rests_on_the_network_its_cell_loads_now():
    """A network pre-trained again (another budget, another setting) leaves the rows made on
    the old one stale: `spade run` makes them again, and none may ship."""
    from spadelib.experiments.runner import network_file
    stale = {}
    for r in _rows():
        now = network_file(Cell.from_dict(r["cell"]), "medium")
        if r.get("network_file") != now:
            stale.setdefault((r.get("network_file"), now), []).append(r["key"])
    assert not stale, "rows made on another network than their cell's: " + "; ".join(
        f"{len(keys)} on {was}, not {now} (e.g. {keys[0]})" for (was, now), keys in stale.items())


def test_the_chapters_render_the_shipped_store_and_count_what_it_fills():
    P, store = table_source("quick")
    assert P.name == "medium" and store.path == SHIPPED
    assert table_source("paper")[0].name == "paper"
    counts = coverage(P, store)
    assert sum(t for _, t in counts.values()) == sum(map(len, paper_cells().values())) == 148
    keys = {r["key"] for r in _rows()}
    assert sum(f for f, _ in counts.values()) == sum(
        c.key in keys for cs in paper_cells().values() for c in cs)


@pytest.mark.parametrize("cell,tol", SAMPLE, ids=[c.key for c, _ in SAMPLE])
def test_a_sample_of_shipped_cells_runs_again_to_the_same_numbers(cell, tol, data_dir,
                                                                   monkeypatch):
    stored = {r["key"]: r for r in _rows()}.get(cell.key)
    if stored is None:
        pytest.fail(f"the shipped store lacks {cell.key}: run `spade run table1 --preset medium`")
    monkeypatch.setenv(CLI_ENV, "1")          # medium leaves training to the spade command
    row = run_cell(cell, "medium", device="cpu")
    assert row["n"] == stored["n"] == 48
    assert abs(row["psnr"] - stored["psnr"]) <= tol, (row["psnr"], stored["psnr"])
    assert abs(row["ssim"] - stored["ssim"]) <= tol / 10, (row["ssim"], stored["ssim"])
    assert row["params"] == stored["params"]


def test_every_cell_the_figures_and_explorers_show_has_its_shipped_image():
    """Chapters 6 and 7 show test image 0 of every stored cell at 16.7 % (Figures 6-8, the
    explorers) and of USRNet at x4 or x3 (Figure 5): a fresh clone, without the networks,
    must find each in ``shipped/images-medium``, made for the row as it is stored."""
    from spadelib.checkpoints import config_key
    from spadelib.experiments.views import image_config, shipped_images

    folder = shipped_images("medium")
    shown = [r for r in _rows() if r["cell"]["setting"] in (0.167, 3, 4)
             and r["cell"]["regime"] in ("none", "supervised", "school", "self-supervised")
             and r["cell"]["criterion"] == "l1" and r["cell"]["round_to"] == 0
             and r["cell"]["seed"] == 0]                  # the figures show seed 0's images
    assert shown
    def path(row):
        cell = Cell.from_dict(row["cell"])
        return folder / f"images-{config_key(image_config(cell, [0], 'medium', row))}.pt"

    missing = [r["key"] for r in shown if not path(r).exists()]
    assert not missing, f"no shipped image for {missing}: run Chapters 6 and 7 where their " \
                        "networks are cached"
