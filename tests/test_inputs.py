"""The real inputs chosen by environment variables (spadelib.inputs) and their wiring."""
import numpy as np
import pytest

from spadelib import inputs
from spadelib.experiments.store import store_path
from spadelib.tasks import MRI, SR


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
