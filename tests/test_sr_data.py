"""SR kernels and data sets: the 12 kernels, built-in photos, sr_dataset, load_image_folder."""
import dataclasses

import numpy as np
import pytest
import torch
from skimage.io import imsave

from spadelib.data.common import has_ground_truth
from spadelib.data.sr import (TEST_IMAGES, TRAIN_IMAGES, SRMeasurement, SRSample,
                              builtin_images, load_image_folder, sr_dataset)
from spadelib.kernels import KERNEL_NAMES, gaussian_kernel, motion_kernel, sr_kernels
from spadelib.physics.sr import SuperResolution
from spadelib.presets import get_preset

QUICK = get_preset("quick")


# ---------------------------------------------------------------- kernels
def test_twelve_kernels_are_normalised_and_centred():
    ks = sr_kernels()
    assert ks.shape == (12, 25, 25) and ks.dtype == torch.float32
    assert (ks >= 0).all()
    torch.testing.assert_close(ks.sum(dim=(1, 2)), torch.ones(12), atol=1e-5, rtol=0)
    assert len(KERNEL_NAMES) == 12 and len(set(KERNEL_NAMES)) == 12
    # every kernel has its centre of mass at the centre pixel (12, 12): no image shift
    pos = torch.arange(25.0)
    torch.testing.assert_close((ks.sum(2) * pos).sum(1), torch.full((12,), 12.0), atol=1e-3,
                               rtol=0)
    torch.testing.assert_close((ks.sum(1) * pos).sum(1), torch.full((12,), 12.0), atol=1e-3,
                               rtol=0)
    # all twelve differ
    flat = ks.flatten(1)
    dist = torch.cdist(flat, flat) + torch.eye(12)
    assert dist.min() > 1e-3


def test_gaussians_have_the_requested_shape():
    iso = gaussian_kernel(1.6)
    torch.testing.assert_close(iso, iso.T)
    torch.testing.assert_close(iso, iso.flip(0))
    # the variance of an isotropic kernel is sigma^2 (up to truncation at 25 x 25)
    pos = torch.arange(25.0) - 12
    assert abs(float((iso.sum(0) * pos ** 2).sum()) - 1.6 ** 2) < 1e-3
    horiz = gaussian_kernel(2.5, 0.7, theta=0.0)
    var_x = float((horiz.sum(0) * pos ** 2).sum())
    var_y = float((horiz.sum(1) * pos ** 2).sum())
    assert abs(var_x - 2.5 ** 2) < 1e-2 and abs(var_y - 0.7 ** 2) < 1e-2
    torch.testing.assert_close(gaussian_kernel(2.5, 0.7, theta=90.0), horiz.T, atol=1e-6,
                               rtol=0)
    # 45 degrees counter-clockwise as displayed: mass along the anti-diagonal (up-right)
    diag = gaussian_kernel(2.5, 0.7, theta=45.0)
    assert diag[12 - 4, 12 + 4] > 10 * diag[12 + 4, 12 + 4]
    assert gaussian_kernel(1.0, size=9).shape == (9, 9)
    with pytest.raises(ValueError, match=r"sigma_x .*must be a (finite|positive)"):
        gaussian_kernel(0.0)
    with pytest.raises(ValueError, match=r"sigma_y .*must be a (finite|positive)"):
        gaussian_kernel(1.0, -1.0)


@pytest.mark.determinism
def test_motion_kernels_are_reproducible_and_distinct():
    a, b = motion_kernel(7), motion_kernel(7)
    assert torch.equal(a, b)
    ks = sr_kernels()
    for i, seed in enumerate((1, 2, 3, 4)):
        assert torch.equal(ks[8 + i], motion_kernel(seed))
    many = torch.stack([motion_kernel(s) for s in range(20)]).flatten(1)
    dist = torch.cdist(many, many) + torch.eye(20)
    assert dist.min() > 1e-3
    assert torch.all((many >= 0).all(1)) and torch.allclose(many.sum(1), torch.ones(20))
    # a motion blur is elongated, not a round blob: its covariance is anisotropic
    k = ks[10].double()
    pos = torch.arange(25.0, dtype=torch.float64) - 12
    cov = torch.stack([torch.stack([(k * pos[None, :] ** 2).sum(), (k * pos[:, None]
                                    * pos[None, :]).sum()]),
                       torch.stack([(k * pos[:, None] * pos[None, :]).sum(),
                                    (k * pos[:, None] ** 2).sum()])])
    ev = torch.linalg.eigvalsh(cov)
    assert ev[1] > 2 * ev[0]
    with pytest.raises(ValueError, match="size must be an int >= 9"):
        motion_kernel(1, size=5)


# ---------------------------------------------------------------- built-in photos
def test_builtin_test_images_load_offline():
    imgs = builtin_images("test")
    assert tuple(imgs) == TEST_IMAGES and len(imgs) >= 2
    for name, im in imgs.items():
        assert im.dtype == np.float32 and im.ndim == 3 and im.shape[2] == 3
        assert 0.0 <= im.min() and im.max() <= 1.0 and im.std() > 0.05, name
    assert not set(TRAIN_IMAGES) & set(TEST_IMAGES) and len(TRAIN_IMAGES) > len(TEST_IMAGES)
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all'"):
        builtin_images("validation")


# ---------------------------------------------------------------- sr_dataset
@pytest.fixture(scope="module")
def test_set():
    return sr_dataset("test", preset=QUICK)


def test_test_split_shapes_and_layout(test_set):
    side = QUICK.sr_size // 12 * 12
    s = QUICK.sr_scale
    assert len(test_set) == len(TEST_IMAGES) * 12
    assert test_set.fields["target"].shape[1:] == (3, side, side)
    assert test_set.fields["lr"].shape[1:] == (3, side // s, side // s)
    assert test_set.constants == {"scale": s}
    sample = test_set[13]
    assert isinstance(sample, SRSample) and sample.scale == s
    assert torch.equal(sample.kernel, sr_kernels()[1])           # image 1, kernel 1
    assert torch.equal(sample.target, test_set[12].target)       # same image, other kernel
    torch.testing.assert_close(sample.sigma, torch.tensor(QUICK.sr_noise))
    # the measurement is A x + noise of the stated level
    batch = test_set.batch(range(len(test_set)))
    resid = batch.lr - batch.physics().A(batch.target)
    assert abs(float(resid.std()) - QUICK.sr_noise) < 0.1 * QUICK.sr_noise


@pytest.mark.determinism
def test_test_split_is_deterministic_and_noise_free_when_asked(test_set):
    again = sr_dataset("test", preset=QUICK)
    for k, v in test_set.fields.items():
        assert torch.equal(v, again.fields[k]), k
    clean = sr_dataset("test", preset=QUICK, scale=3, sigma=0.0, kernels=[0, 8])
    assert len(clean) == 2 * len(TEST_IMAGES)
    assert clean.fields["lr"].shape[-1] == clean.fields["target"].shape[-1] // 3
    b = clean.batch()
    torch.testing.assert_close(b.lr, SuperResolution(b.kernel, 3).A(b.target))


def test_measurements_only_hides_the_ground_truth(test_set):
    meas = test_set.measurements_only()
    assert not has_ground_truth(meas) and has_ground_truth(test_set)
    assert set(meas.fields) == {"lr", "kernel", "sigma"}
    m = meas[0]
    assert type(m) is SRMeasurement and not hasattr(m, "target")
    assert {f.name for f in dataclasses.fields(m)} == {"lr", "kernel", "sigma", "scale"}
    phys = m.physics()
    assert phys.scale == QUICK.sr_scale
    assert phys.A_adjoint(m.lr[None]).shape == (1, 3, QUICK.sr_size, QUICK.sr_size)
    batch = next(iter(meas.loader(batch_size=5)))
    assert batch.lr.shape[0] == 5 and batch.kernel.shape == (5, 25, 25)
    assert batch.physics().A(torch.rand(5, 3, QUICK.sr_size, QUICK.sr_size)).shape == \
        batch.lr.shape


def test_the_measurement_interface_on_sr_data(test_set):
    b = test_set.batch([0, 5])
    assert b.batched and b.y is b.lr
    assert SRMeasurement.measurement_fields == ("lr", "kernel", "sigma")
    assert torch.broadcast_shapes(b.measured.shape, b.y.shape) == b.y.shape
    assert bool((b.measured == 1).all())
    moved = b.with_y(b.physics().A(b.target))
    assert type(moved) is SRSample and torch.equal(moved.target, b.target)
    assert torch.equal(moved.kernel, b.kernel) and moved.scale == b.scale
    torch.testing.assert_close(moved.lr, b.physics().A(b.target))
    single = test_set[3]
    assert not single.batched and torch.equal(single.y, single.lr[None])
    assert torch.equal(single.with_y(single.y * 0).lr, single.lr * 0)
    with pytest.raises(ValueError, match=r"with_y needs an LR image shaped like"):
        single.with_y(single.lr)              # y has a batch axis, so with_y wants one too


def test_train_split_random_crops_are_seeded():
    small = QUICK.replace(sr_size=48, sr_crops_per_image=2)
    a = sr_dataset("train", preset=small)
    b = sr_dataset("train", preset=small)
    assert len(a) == 2 * len(TRAIN_IMAGES)
    assert a.fields["target"].shape[1:] == (3, 48, 48)
    assert a.fields["lr"].shape[1:] == (3, 12, 12)
    for k in a.fields:
        assert torch.equal(a.fields[k], b.fields[k]), k
    # every kernel is one of the 12, and the crops are not all the same
    bank = sr_kernels().flatten(1)
    for ker in a.fields["kernel"].flatten(1):
        assert (bank - ker).abs().sum(1).min() == 0
    assert not torch.equal(a.fields["target"][0], a.fields["target"][1])
    c = sr_dataset("train", preset=small.replace(seed=1))
    assert not torch.equal(a.fields["target"], c.fields["target"])
    ranged = sr_dataset("train", preset=small, sigma=(0.0, 0.05))
    sig = ranged.fields["sigma"]
    assert sig.min() >= 0 and sig.max() <= 0.05 and sig.std() > 0


def test_sr_dataset_errors():
    with pytest.raises(ValueError, match="scale must be one of 2, 3, 4, got 5"):
        sr_dataset("test", preset=QUICK, scale=5)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        sr_dataset("val", preset=QUICK)
    with pytest.raises(ValueError, match=r"kernels must be indices in 0\.\.11"):
        sr_dataset("test", preset=QUICK, kernels=[0, 12])
    with pytest.raises(ValueError, match="sigma must be a noise std >= 0"):
        sr_dataset("test", preset=QUICK, sigma=-0.1)
    for bad in (True, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="sigma must be a noise std >= 0"):
            sr_dataset("test", preset=QUICK, sigma=bad)
    # bools are not numbers (spadelib.checks); a range is two finite numbers, low <= high
    for bad in ((True, True), (0.0, True), (0.0, float("inf")), (0.05, 0.01), (0.0,),
                (0.0, 0.01, 0.02)):
        with pytest.raises(ValueError, match=r"a sigma range must be \(low, high\)"):
            sr_dataset("test", preset=QUICK, sigma=bad)
    with pytest.raises(ValueError, match="smaller than the 25x25 kernels"):
        sr_dataset("test", preset=QUICK, images=[np.zeros((20, 30, 3))])


def test_custom_images_and_kernels():
    rng = np.random.default_rng(0)
    imgs = {"noise": rng.random((50, 61, 3)), "grey": (rng.random((70, 40)) * 255).astype(
        np.uint8)}
    ds = sr_dataset("test", preset=QUICK, scale=2, images=imgs,
                    kernels=gaussian_kernel(1.0, size=9)[None])
    assert len(ds) == 2 and ds.fields["target"].shape[1:] == (3, 36, 36)   # 40 -> 36
    grey = ds[1].target
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[0], grey[2])


# ---------------------------------------------------------------- load_image_folder
def test_load_image_folder(tmp_path):
    rng = np.random.default_rng(1)
    rgb = (rng.random((60, 50, 3)) * 255).astype(np.uint8)
    grey = (rng.random((52, 64)) * 255).astype(np.uint8)
    rgba = (rng.random((55, 55, 4)) * 255).astype(np.uint8)
    imsave(tmp_path / "a_rgb.png", rgb)
    imsave(tmp_path / "b_grey.png", grey)
    imsave(tmp_path / "c_rgba.png", rgba, check_contrast=False)
    (tmp_path / "notes.txt").write_text("not an image")
    ds = load_image_folder(tmp_path, preset=QUICK, scale=2, kernels=[0, 9])
    assert ds.info["images"] == ("a_rgb.png", "b_grey.png", "c_rgba.png")
    assert len(ds) == 3 * 2
    assert ds.fields["target"].shape[1:] == (3, 48, 48)   # min side 50 -> 48
    assert ds.fields["lr"].shape[1:] == (3, 24, 24)
    # centre crop of the RGB image, exactly
    top, left = (60 - 48) // 2, (50 - 48) // 2
    expect = torch.from_numpy(rgb[top:top + 48, left:left + 48].transpose(2, 0, 1) / 255.0)
    torch.testing.assert_close(ds[0].target, expect.float())
    g = ds[2].target
    assert torch.equal(g[0], g[1]) and torch.equal(g[1], g[2])        # grey -> RGB
    top = left = (55 - 48) // 2
    expect = torch.from_numpy(rgba[top:top + 48, left:left + 48, :3].transpose(2, 0, 1) / 255.0)
    torch.testing.assert_close(ds[4].target, expect.float())           # alpha dropped
    again = load_image_folder(tmp_path, preset=QUICK, scale=2, kernels=[0, 9])
    assert torch.equal(ds.fields["lr"], again.fields["lr"])
    assert not has_ground_truth(ds.measurements_only())


def test_load_image_folder_errors(tmp_path):
    missing = tmp_path / "CBSD68"
    with pytest.raises(FileNotFoundError, match="CBSD68"):
        load_image_folder(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="no images with suffix"):
        load_image_folder(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="could not read image"):
        load_image_folder(bad)
