"""The pre-trained quick networks shipped with the repository (``shipped/models/``, written by
``spade pretrain NAME --preset quick --ship``): one per network, each header matching what the
quick preset's network is keyed by today and recording the command, the versions and the
machine; ``zoo.pretrained`` loads them instead of training, and falls back to training (with a
warning that says why) when a shipped file does not fit."""
import pytest
import torch

from spadelib import checkpoints, get_preset, zoo
from spadelib.models import NETWORKS

NAMES = list(NETWORKS)


@pytest.mark.parametrize("name", NAMES)
def test_each_network_is_shipped_for_the_quick_preset_with_its_provenance(name):
    path = zoo.shipped_path(name, "quick")
    assert path.exists(), f"missing: run `{zoo.ship_command(name, 'quick')}`"
    header = checkpoints.read_header(path)
    # keyed exactly as the cache's checkpoint of today's quick network (else it is not loaded)
    checkpoints.check_header(header, path, **zoo.checkpoint_header(name, "quick"))
    assert path.name == zoo.checkpoint_path(name, "quick").name
    made = header["made_by"]
    assert made["command"] == zoo.ship_command(name, "quick") == \
        f"spade pretrain {name} --preset quick --ship"
    assert set(made["versions"]) >= {"python", "numpy", "torch", "spadelib"}
    assert made["machine"]["cpus"] >= 1 and made["date"].endswith("UTC")
    assert made["seconds"] > 0


@pytest.mark.parametrize("name", NAMES)
def test_pretrained_loads_the_shipped_network_without_training(name, data_dir, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("pretrained() trained although the network is shipped")

    monkeypatch.setattr(zoo, "fit", no_training)
    net = zoo.pretrained(name, "quick", device="cpu")
    _, payload = checkpoints.read(zoo.shipped_path(name, "quick"), zoo.KIND)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in payload["state_dict"].items())
    assert net.made_by["command"] == zoo.ship_command(name, "quick")
    assert net.history is not None and len(net.history.val_psnr) == \
        zoo.fit_config(name, "quick").epochs
    assert not zoo.checkpoint_path(name, "quick").exists()      # read in place, not copied


def test_a_shipped_file_that_does_not_fit_warns_and_trains(data_dir, monkeypatch, tmp_path):
    """A shipped file made for other settings (here: the header of another data version) is
    not loaded: a warning says why, and the network is trained as without it."""
    monkeypatch.setattr(checkpoints, "SHIPPED", tmp_path / "shipped")
    target = zoo.shipped_path("varnet", "quick")
    header = {**zoo.checkpoint_header("varnet", "quick"), "data_version": -1}
    checkpoints.write(target, zoo.KIND, {"state_dict": {}, "history": None}, header)

    class Trained(Exception):
        pass

    def training(*args, **kwargs):      # the first step of training (before the data are built)
        raise Trained

    monkeypatch.setattr(zoo, "require_cli", training)
    with pytest.warns(UserWarning, match=r"shipped weights cannot be used .*data_version: file "
                                         r"-1 .*training varnet instead"):
        with pytest.raises(Trained):
            zoo.pretrained("varnet", get_preset("quick"), device="cpu", progress=False)


def test_ship_refuses_a_network_the_cache_does_not_hold(data_dir, monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoints, "SHIPPED", tmp_path / "shipped")
    with pytest.raises(FileNotFoundError, match=r"no pre-trained deq \(quick\) in the cache.*"
                                                r"spade pretrain deq --preset quick"):
        zoo.ship("deq", "quick")


def test_ship_writes_the_cached_network_with_its_provenance_and_pretrained_reads_it(
        data_dir, monkeypatch, tmp_path):
    """The round trip of ``spade pretrain NAME --ship``: the cached network is copied to
    shipped/models/ with ``made_by``; once the cache is empty, ``pretrained`` loads the
    shipped file (the same weights and history) instead of training."""
    from spadelib.models import build
    from spadelib.training import History

    monkeypatch.setattr(checkpoints, "SHIPPED", tmp_path / "shipped")
    P = get_preset("quick")
    torch.manual_seed(3)
    net = build("varnet", P)
    history = History(loss=[0.1, 0.05], val_psnr=[20.0, 21.0], seconds=[1.5, 3.0],
                      phase=[None, None], best_epoch=1)
    zoo.save_checkpoint(net, zoo.checkpoint_path("varnet", P), "varnet", P, history)
    path = zoo.ship("varnet", P)
    assert path == zoo.shipped_path("varnet", P) and path.parent == tmp_path / "shipped" / "models"
    made = checkpoints.read_header(path)["made_by"]
    assert made["command"] == "spade pretrain varnet --preset quick --ship"
    assert made["seconds"] == 3.0                           # the training's own time
    zoo.checkpoint_path("varnet", P).unlink()
    monkeypatch.setattr(zoo, "require_cli", lambda *a: (_ for _ in ()).throw(AssertionError))
    again = zoo.pretrained("varnet", P, device="cpu")
    assert all(torch.equal(again.state_dict()[k], v) for k, v in net.state_dict().items())
    assert again.history.val_psnr == [20.0, 21.0] and again.made_by == made


def test_every_shipped_file_is_a_quick_network_at_one_of_its_settings():
    """The networks of the other sampling rates and SR scales (Tables 2, 4 and 5; made by
    ``spade pretrain NAME --setting S --preset quick --ship``) are keyed like the cache's
    network at that setting and say which command made them."""
    from spadelib.tasks import task_of

    known = {}
    for name in NAMES:
        task = task_of(name)
        for s in task.settings:
            P = task.with_setting("quick", s)
            known[zoo.shipped_path(name, P).name] = (name, P)
    files = sorted((checkpoints.SHIPPED / "models").glob("*.pt"))
    assert len(files) > len(NAMES)
    for path in files:
        assert path.name in known, f"{path.name} is no quick network at any setting"
        name, P = known[path.name]
        header = checkpoints.read_header(path)
        checkpoints.check_header(header, path, **zoo.checkpoint_header(name, P))
        assert header["made_by"]["command"] == zoo.ship_command(name, P)
