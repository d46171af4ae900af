"""What Chapters 6 and 7 compute beside the tables: filling the store, images, Figure 2."""
import pytest
import torch

import spadelib.experiments.runner as R
import spadelib.experiments.views as V
from spadelib.experiments import Cell, ResultStore, cells
from spadelib.presets import NeedsCLIError, get_preset
from spadelib.tasks import task_of


def _ok(cell, preset, device=None, progress=False):
    return {"key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": 30.0,
            "date": "2026-01-01T00:00:00+00:00"}


def test_fill_runs_the_pending_cells_of_its_networks_at_quick(tmp_path, monkeypatch):
    calls, failed_once = [], set()

    def run(cell, preset, device=None, progress=False):
        calls.append(cell.key)
        if cell.regime == "school" and cell.key not in failed_once:   # fails the first time
            failed_once.add(cell.key)
            raise RuntimeError("out of memory")
        return _ok(cell, preset)

    monkeypatch.setattr(R, "run_cell", run)
    store = ResultStore(tmp_path / "results-quick.spade")
    filled = V.fill(["smoke", "table6"], "quick", store, networks=("deq",))
    assert calls == [c.key for c in cells("smoke", "quick")]        # no USRNet cell
    assert filled.ran == calls and filled.pending == []
    assert list(filled.failed) == ["deq|rate0.167|ratio0.4|school|l1|seed0"]
    assert "out of memory" in filled.failed["deq|rate0.167|ratio0.4|school|l1|seed0"]
    calls.clear()
    again = V.fill(["smoke"], "quick", store, networks=("deq",))
    assert calls == ["deq|rate0.167|ratio0.4|school|l1|seed0"]       # only the failed one
    assert again.ran == calls and again.failed == {}    # the second call made it


def test_fill_starts_no_training_at_the_paper_preset(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the paper preset must not run a cell from a chapter")

    monkeypatch.setattr(R, "run_cell", refuse)
    store = ResultStore(tmp_path / "results-paper.spade")
    filled = V.fill(["table6"], "paper", store)
    assert filled.ran == [] and len(filled.pending) == len(cells("table6", "paper"))
    assert filled.commands == ["spade run table6 --preset paper"]
    assert "spade run table6 --preset paper" in str(filled)


def _tiny_deq(P):
    from spadelib.models.deq import build_deq

    torch.manual_seed(0)
    return build_deq(P.replace(deq_blocks=1, deq_features=4), max_iter=5, tol=1e-9).eval()


@pytest.fixture
def tiny(monkeypatch):
    """cell_network gives a tiny DEQ; the test split is four random samples."""
    P = get_preset("quick").replace(mri_size=(16, 16), mri_coils=2)
    built = []

    def network(cell, preset, device=None, progress=False):
        built.append(cell.key)
        if cell.ratio == 0.4:
            raise NeedsCLIError("not cached")
        net = _tiny_deq(P)
        return net, net, None, {}

    monkeypatch.setattr(R, "cell_network", network)
    monkeypatch.setattr(V, "_test_split",
                        lambda cell, preset: task_of("deq").random_samples(P, n=4, seed=3))
    return built


def test_cell_images_reconstruct_stored_cells_once(tmp_path, data_dir, tiny):
    store = ResultStore(tmp_path / "results-quick.spade")
    a, b, c = (Cell("deq", 0.167, 0.0, "none"), Cell("deq", 0.167, 0.2, "school"),
               Cell("deq", 0.167, 0.4, "school"))
    for cell in (a, c):
        store.add(_ok(cell, "quick"))
    images = V.cell_images([a, b, c], [1, 2], "quick", store)
    # b has no row; c's network is not cached at a preset that does not train: skipped
    assert list(images) == [a.key] and images[a.key].shape == (2, 2, 16, 16)
    assert tiny == [a.key, c.key]
    again = V.cell_images([a], [1, 2], "quick", store)
    assert torch.equal(again[a.key], images[a.key]) and tiny == [a.key, c.key]  # cached
    store.add({**_ok(a, "quick"), "date": "2026-02-01T00:00:00+00:00"})         # re-run
    V.cell_images([a], [1, 2], "quick", store)
    assert tiny[-1] == a.key and len(tiny) == 3


def test_deq_trace_records_every_iteration(tiny):
    trace = V.deq_trace(Cell("deq", 0.167, 0.0, "none"), 1, "quick")
    assert trace["iterations"] == 5
    assert len(trace["times"]) == len(trace["residuals"]) == len(trace["psnr"]) == 5
    assert all(t1 > t0 for t0, t1 in zip(trace["times"], trace["times"][1:]))
    with pytest.raises(ValueError, match="needs a DEQ cell"):
        V.deq_trace(Cell("usrnet", 4, 0.0, "none"))


def test_usrnet_iterates_end_with_the_networks_output():
    from spadelib.models.usrnet import build_usrnet

    P = get_preset("quick").replace(sr_size=32, sr_scale=2)
    batch = task_of("usrnet").random_samples(P, n=1, seed=0).batch([0])
    for variant in ("zoo", "official"):
        torch.manual_seed(1)
        net = build_usrnet(P, variant=variant, channels=(4, 8, 8, 8), blocks=1, iters=3)
        torch.nn.init.normal_(net.prior.tail.weight, std=0.1)   # the zoo's starts at zero
        out = V.usrnet_iterates(net, batch)
        assert out["iterates"].shape == (3, 3, 32, 32) and len(out["psnr"]) == 3
        torch.testing.assert_close(out["iterates"][-1], out["output"])
        assert len(set(out["psnr"])) == 3                # each iteration changes the image


def test_the_shipped_stores_images_ship_in_half_precision_and_need_no_network(
        tmp_path, data_dir, tiny, monkeypatch):
    """The medium store's reconstructions go beside it (``shipped/images-medium``) in half
    precision; a clone without the networks that made them still shows them."""
    assert V.shipped_images("medium").name == "images-medium"
    assert V.shipped_images("quick") is None and V.shipped_images("paper") is None
    folder = tmp_path / "images-medium"
    monkeypatch.setattr(V, "shipped_images", lambda P: folder)
    store = ResultStore(tmp_path / "results-medium.spade")
    a = Cell("deq", 0.167, 0.0, "none")
    store.add(_ok(a, "medium"))
    made = V.cell_images([a], [0], "medium", store)[a.key]
    files = list(folder.iterdir())
    assert len(files) == 1 and made.dtype == torch.float32 and tiny == [a.key]
    from spadelib.checkpoints import read
    _, payload = read(files[0], "dataset")
    assert payload["images"].dtype == torch.float16
    monkeypatch.setattr(R, "cell_network", lambda *a, **k: pytest.fail("no network is built"))
    again = V.cell_images([a], [0], "medium", store)[a.key]
    assert torch.equal(again, made.half().float())
