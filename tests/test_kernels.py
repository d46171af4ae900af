"""Reading the official USRNet kernels (``kernels_12.mat``) with load_kernels, on mock files in
the official layout, and every way a file can be refused."""
import numpy as np
import pytest
import scipy.io
import torch

from spadelib.data import sr_dataset
from spadelib.kernels import load_kernels, sr_kernels


def cell(kernels) -> np.ndarray:
    """A MATLAB 1 x K cell array as scipy writes and reads it: an object array (1, K)."""
    out = np.empty((1, len(kernels)), dtype=object)
    for i, k in enumerate(kernels):
        out[0, i] = k if isinstance(k, str) else np.asarray(k, dtype=np.float64)
    return out


def raw_kernels(n=12, size=25) -> list[np.ndarray]:
    """Unnormalised, distinct, non-negative kernels (double, as MATLAB stores them)."""
    g = np.random.default_rng(0)
    ks = [(i + 1.5) * g.random((size, size)) ** 4 for i in range(n)]
    ks[3][0, 0] = -1e-12                            # rounding noise in a stored kernel
    return ks


@pytest.fixture
def official(tmp_path):
    ks = raw_kernels()
    path = tmp_path / "kernels_12.mat"
    scipy.io.savemat(path, {"kernels": cell(ks)})
    assert scipy.io.loadmat(path)["kernels"].shape == (1, 12)       # the official layout
    return path, ks


def test_official_layout(official):
    path, ks = official
    k = load_kernels(path)
    assert k.shape == (12, 25, 25) and k.dtype == torch.float32
    assert torch.allclose(k.sum(dim=(1, 2)), torch.ones(12))             # normalised
    assert (k >= 0).all() and k[3, 0, 0] == 0                             # noise clipped
    for i in (0, 5, 11):                                                  # order and values kept
        expected = torch.from_numpy(ks[i] / ks[i].clip(0).sum()).float()
        assert torch.allclose(k[i], expected, rtol=1e-5, atol=1e-9)
    assert load_kernels(str(path)).equal(k)


def test_plain_numeric_array_and_column_cell(tmp_path):
    bank = sr_kernels(size=9).double().numpy() * 5
    scipy.io.savemat(tmp_path / "plain.mat", {"kernels": bank})
    assert torch.allclose(load_kernels(tmp_path / "plain.mat"), sr_kernels(size=9), atol=1e-7)
    scipy.io.savemat(tmp_path / "col.mat", {"kernels": cell(bank[:3]).T})    # a 3 x 1 cell
    assert torch.allclose(load_kernels(tmp_path / "col.mat"), sr_kernels(size=9)[:3], atol=1e-7)


def test_sr_dataset_takes_the_loaded_kernels(official):
    path, _ = official
    bank = load_kernels(path)
    data = sr_dataset("test", "quick", scale=4, kernels=bank)
    assert len(data) % 12 == 0 and len(data) >= 12
    first = data.batch([0, 5, 13])
    assert torch.equal(first.kernel, bank[[0, 5, 1]])                   # image-major order
    assert data.info["kernels"][0] == "custom #0"


@pytest.mark.parametrize("bad, match", [
    ({"other": np.ones((5, 5))}, r"has no variable 'kernels' \(its variables: other\)"),
    ({"kernels": cell([np.ones((5, 5)), np.ones((5, 4))])},
     r"kernel 2 of 2 has shape \(5, 4\); each kernel must be a 2-D square"),
    ({"kernels": cell([np.ones((5, 5)), np.ones((7, 7))])},
     r"kernel 2 of 2 is \(7, 7\), kernel 1 is \(5, 5\); all kernels must have the same size"),
    ({"kernels": cell([np.full((5, 5), np.nan)])}, "kernel 1 of 1 holds NaN or Inf"),
    ({"kernels": cell([np.eye(5) - 0.1])}, "kernel 1 of 1 has negative entries"),
    ({"kernels": cell([np.zeros((5, 5))])}, "kernel 1 of 1 sums to 0"),
    ({"kernels": np.ones((2, 3, 4, 4))}, r"'kernels' has shape \(2, 3, 4, 4\)"),
    ({"kernels": cell(["text"])}, "kernel 1 of 1 is not a real numeric array"),
])
def test_refused_contents_name_the_file(tmp_path, bad, match):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, bad)
    with pytest.raises(ValueError, match=match) as err:
        load_kernels(path)
    assert str(path) in str(err.value)


def test_unusable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="kernels_12.mat does not exist"):
        load_kernels(tmp_path / "kernels_12.mat")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        load_kernels(tmp_path)
    text = tmp_path / "notes.mat"
    text.write_text("these are not kernels")
    with pytest.raises(ValueError, match="notes.mat is not a readable MATLAB .mat file"):
        load_kernels(text)
    torch.save(sr_kernels(), tmp_path / "k.pt")
    with pytest.raises(ValueError, match="k.pt is not a readable MATLAB .mat file"):
        load_kernels(tmp_path / "k.pt")
    with pytest.raises(TypeError, match="file path"):
        load_kernels(sr_kernels())
