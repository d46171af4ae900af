"""Classical baselines: zero-filled and regularised MRI, bicubic SR; each task's baseline."""
import pytest
import torch

from spadelib.baselines import (DEFAULT_LAMDA, bicubic_upsample, default_workers,
                                mri_regularised, mri_zero_filled, zero_filled)
from spadelib.data import mri_dataset, sr_dataset
from spadelib.metrics import psnr
from spadelib.tasks import MRI, SR


@pytest.fixture
def mri(tiny_preset, data_dir):
    return mri_dataset("test", tiny_preset, progress=False)


def test_zero_filled_is_the_adjoint(mri):
    b = mri.batch()
    x = mri_zero_filled(b)
    torch.testing.assert_close(x, zero_filled(b.kspace, b.coil_maps, b.mask))
    torch.testing.assert_close(x, b.physics().A_adjoint(b.kspace))
    torch.testing.assert_close(mri_zero_filled(mri[1]), x[1:])   # a single sample too
    torch.testing.assert_close(MRI.baseline(b), x)


def test_regularised_mri_runs_per_item(mri):
    b = mri.batch([0, 1])
    tv = mri_regularised(b, "l1-wavelet", max_iter=5)
    assert tv.shape == (2, 2, 32, 32) and tv.dtype == torch.float32
    assert bool(torch.isfinite(tv).all()) and not torch.equal(tv[0], tv[1])
    torch.testing.assert_close(mri_regularised(mri[1], "l1-wavelet", max_iter=5), tv[1:])
    assert set(DEFAULT_LAMDA) == {"tv", "l1-wavelet"}


def test_regularised_mri_refuses_bad_settings(mri):
    b = mri.batch([0])
    with pytest.raises(ValueError, match="unknown regulariser 'l2'; choose one of tv"):
        mri_regularised(b, "l2")
    with pytest.raises(ValueError, match="lamda must be a finite number in \\(0.0"):
        mri_regularised(b, "tv", lamda=0)
    with pytest.raises(ValueError, match="max_iter must be an int >= 1"):
        mri_regularised(b, "tv", max_iter=0)


def test_bicubic_is_the_sr_baseline():
    data = sr_dataset("test", "quick", kernels=[0])
    b = data.batch()
    up = SR.baseline(b)
    torch.testing.assert_close(up, bicubic_upsample(b.lr, b.scale))
    assert up.shape == b.target.shape
    assert (psnr(up, b.target) > 20).all()


@pytest.mark.determinism
def test_regularised_mri_gives_the_same_slices_with_any_number_of_workers(mri):
    b = mri.batch()
    alone = mri_regularised(b, "tv", max_iter=4, workers=1)
    torch.testing.assert_close(mri_regularised(b, "tv", max_iter=4, workers=2), alone,
                               rtol=0, atol=0)
    assert default_workers() >= 1
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        mri_regularised(b, "tv", workers=0)
