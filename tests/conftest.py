import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from spadelib.presets import get_preset  # noqa: E402

# CI runs the determinism-marked tests once per thread count (`SPADE_TEST_THREADS=1` and `=2`):
# another thread count splits float reductions differently, a stand-in for another CPU, so a
# test that pins float bits instead of exact values fails in CI rather than on a user's machine
if os.environ.get("SPADE_TEST_THREADS"):
    torch.set_num_threads(int(os.environ["SPADE_TEST_THREADS"]))


@pytest.fixture
def tiny_preset():
    """A preset far smaller than quick, for tests that build data."""
    return get_preset("quick").replace(mri_size=(32, 32), mri_coils=4, mri_subjects=(2, 1, 1),
                                       mri_slices_per_subject=2, espirit_calib=12,
                                       mri_train_slices_per_subject=None)


@pytest.fixture
def tiny_varnet_preset(tiny_preset):
    """A one-cascade VarNet preset with a two-epoch budget, for trainer and zoo tests."""
    return tiny_preset.replace(varnet_cascades=1, varnet_chans=4, varnet_pools=1,
                               varnet_epochs=2, train_batch=2)


@pytest.fixture
def P():
    """A tiny fine-tuning preset: one-cascade VarNet, one epoch at a high rate."""
    return get_preset("quick").replace(
        mri_size=(32, 32), mri_subjects=(2, 1, 1), mri_slices_per_subject=2, espirit_calib=12,
        mri_train_slices_per_subject=None,
        varnet_cascades=1, varnet_chans=4, varnet_pools=1, train_batch=2,
        finetune_epochs=1, finetune_lr=1e-3)


@pytest.fixture
def mri(P, data_dir):
    """The train and test splits of :func:`P`."""
    from spadelib.data import mri_dataset

    return {"train": mri_dataset("train", P, progress=False),
            "test": mri_dataset("test", P, progress=False)}


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Send every cache write of the test to a temporary folder."""
    monkeypatch.setenv("SPADE_DATA_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def _no_preset_leak(monkeypatch):
    """Tests see the default preset and the book's own inputs, whatever the shell sets, and
    a test that calls ``spade``'s ``main`` (which marks the process as the CLI) does not
    leak that mark into the next test."""
    from spadelib.inputs import ENV
    from spadelib.presets import CLI_ENV

    for var in ("SPADE_PRESET", CLI_ENV, *ENV.values()):
        monkeypatch.delenv(var, raising=False)
    yield
    for var in ("SPADE_PRESET", CLI_ENV):
        os.environ.pop(var, None)


class Spy(torch.nn.Module):
    """A stand-in network for the loss tests (``from conftest import Spy``): records the
    measurements it is given and returns a fixed image per sample."""

    def __init__(self, images):
        super().__init__()
        self.images = torch.nn.Parameter(images.clone())
        self.seen = []

    def forward(self, m):
        self.seen.append(m)
        return self.images * 1.0
