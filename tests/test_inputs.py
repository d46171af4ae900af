"""The real inputs chosen by environment variables (spadelib.inputs) and their wiring."""
import numpy as np
import pytest

from spadelib import inputs
from spadelib.experiments.store import store_path
from spadelib.tasks import MRI, SR


@pytest.mark.determinism
def test_no_variable_means_the_books_own_inputs_and_unchanged_keys(data_dir):
    from spadelib import zoo

    src = inputs.current()
    assert src.synthetic and src.tag() == "" and src.provenance() == {}
    assert MRI.inputs() == {} and SR.inputs() == {}
    assert "inputs" not in zoo.checkpoint_header("deq", "quick")
    assert store_path("quick").name == "results-quick.spade"
    assert "synthetic brains" in inputs.describe()


def test_bad_paths_and_contrasts_name_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SPADE_USRNET_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError, match="SPADE_USRNET_WEIGHTS=.*missing.pth"):
        inputs.current()
    monkeypatch.delenv("SPADE_USRNET_WEIGHTS")
    monkeypatch.setenv("SPADE_FASTMRI_DIR", str(tmp_path / "f.h5"))
    (tmp_path / "f.h5").write_bytes(b"x")
    with pytest.raises(ValueError, match="SPADE_FASTMRI_DIR=.*must name a folder"):
        inputs.current()
    monkeypatch.setenv("SPADE_FASTMRI_DIR", str(tmp_path))
    monkeypatch.setenv("SPADE_FASTMRI_CONTRAST", "T2")
    with pytest.raises(ValueError, match="choose one of AXT1, AXT1PRE, AXT1POST, AXT2"):
        inputs.current()


def test_sr_test_images_from_a_folder_change_the_data_and_the_keys(tmp_path, monkeypatch,
                                                                   data_dir):
    from skimage.io import imsave

    from spadelib import zoo

    folder = tmp_path / "cbsd"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        imsave(folder / f"{i:04d}.png", (rng.random((130, 110, 3)) * 255).astype(np.uint8),
               check_contrast=False)
    before = zoo.checkpoint_header("usrnet", "quick")
    path_before = zoo.checkpoint_path("usrnet", "quick")
    monkeypatch.setenv("SPADE_SR_TEST_IMAGES", str(folder))
    src = inputs.current()
    assert not src.synthetic and src.tag().startswith("real-")
    assert src.provenance("sr")["sr_test_images"]["images"] == 2
    assert src.provenance("mri") == {}
    test = SR.test_data("quick")
    assert test.info["images"] == ("0000.png", "0001.png") and len(test) == 2 * 12
    # the SR networks' checkpoints and the results store are keyed by the inputs; MRI's are not
    after = zoo.checkpoint_header("usrnet", "quick")
    assert after["inputs"] == src.provenance("sr") and "inputs" not in before
    assert zoo.checkpoint_path("usrnet", "quick") != path_before
    assert "inputs" not in zoo.checkpoint_header("deq", "quick")
    assert store_path("quick").name == f"results-quick-{src.tag()}.spade"
    assert f"SR test images: {folder.resolve()}" in inputs.describe()


def test_fastmri_folder_feeds_the_mri_task_and_its_networks(tmp_path, monkeypatch, data_dir):
    """SPADE_FASTMRI_DIR: the MRI task's splits are the T2 files' (mock files in the release
    layout of tests/test_fastmri.py), and the MRI networks are keyed by them."""
    from test_fastmri import FILES, name, write_file

    from spadelib import zoo
    from spadelib.presets import get_preset

    P = get_preset("quick").replace(mri_size=(32, 32), mri_coils=4, mri_subjects=(3, 1, 1),
                                    mri_slices_per_subject=2, espirit_calib=12,
                                    mri_train_slices_per_subject=None)
    folder = tmp_path / "multicoil_val"
    folder.mkdir()
    for i, (s, c, h, w, acq, protocol) in enumerate(FILES):
        write_file(folder / name(i), s, c, h, w, acq, protocol, seed=i)
    synthetic_key = zoo.checkpoint_path("varnet", P)
    monkeypatch.setenv("SPADE_FASTMRI_DIR", str(folder))
    src = inputs.current()
    assert src.fastmri_contrast == "AXT2" and src.provenance("mri")["fastmri"]["files"] == \
        len(FILES)
    test = MRI.test_data(P)
    assert "fastMRI" in test.info["source"] and len(test) == 2
    assert test.batch([0, 1]).kspace.shape == (2, 4, 32, 32, 2)
    assert zoo.checkpoint_header("varnet", P)["inputs"] == src.provenance("mri")
    assert zoo.checkpoint_path("varnet", P) != synthetic_key
    monkeypatch.setenv("SPADE_FASTMRI_CONTRAST", "axflair")
    assert inputs.current().fastmri_contrast == "AXFLAIR"
    assert zoo.checkpoint_header("varnet", P)["inputs"]["fastmri"]["contrast"] == "AXFLAIR"


def test_official_usrnet_weights_replace_the_zoos(tmp_path, monkeypatch, data_dir):
    """SPADE_USRNET_WEIGHTS: zoo.pretrained('usrnet') is the official network from the file
    (no training), and it prunes, saves and loads back as the official variant."""
    import torch
    from test_usrnet_official import official_state_dict

    from spadelib import zoo
    from spadelib.pruning import load_pruned, prune, save_pruned

    path = tmp_path / "usrnet.pth"
    sd = official_state_dict()
    torch.save(sd, path)
    monkeypatch.setenv("SPADE_USRNET_WEIGHTS", str(path))
    net = zoo.pretrained("usrnet", "quick", device="cpu")
    assert net.variant == "official" and net.history is None and not net.training
    assert torch.equal(net.prior.head.weight, sd["p.m_head.weight"])
    assert inputs.current().provenance()["usrnet_weights"]["file"] == "usrnet.pth"
    assert store_path("quick").name.startswith("results-quick-real-")
    pruned, report = prune(net, 0.2)
    saved = save_pruned(pruned, tmp_path / "pruned.pt", "usrnet", "quick", report)
    back = load_pruned(saved)
    assert back.variant == "official"
    batch = SR.random_measurement("quick")
    with torch.no_grad():
        assert torch.allclose(back(batch), pruned(batch), atol=1e-6)


def test_official_kernels_replace_the_remade_ones_in_every_sr_set(tmp_path, monkeypatch,
                                                                  data_dir):
    import scipy.io
    import torch
    from test_kernels import cell, raw_kernels

    from spadelib.kernels import load_kernels, sr_kernels

    path = tmp_path / "kernels_12.mat"
    scipy.io.savemat(path, {"kernels": cell(raw_kernels())})
    monkeypatch.setenv("SPADE_USRNET_KERNELS", str(path))
    official = load_kernels(path)
    assert not torch.allclose(official, sr_kernels())
    test = SR.test_data("quick")
    assert torch.equal(test.batch(range(12)).kernel, official)
    train, _ = SR.training_data("quick")
    assert all(any(torch.equal(k, o) for o in official) for k in train.batch(range(8)).kernel)
    assert SR.inputs()["sr_kernels"]["file"] == "kernels_12.mat"
