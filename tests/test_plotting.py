"""Tests of spadelib.plotting (Agg backend, no display)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from spadelib.metrics import psnr  # noqa: E402
from spadelib.plotting import (metrics_table, show_coils, show_images, show_kernels,  # noqa: E402
                               show_kspace)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def mri():
    """A complex target (1, 2, H, W) and two degraded versions."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 24), torch.linspace(-1, 1, 24), indexing="ij")
    mag = (xx ** 2 + yy ** 2 < 0.6).float() * (1 + 0.3 * xx)
    target = torch.stack([mag * torch.cos(yy), mag * torch.sin(yy)])[None]
    noisy = target + 0.05 * torch.randn(target.shape, generator=g)
    noisier = target + 0.2 * torch.randn(target.shape, generator=g)
    return target, noisy, noisier


def _label_texts(ax):
    return [t.get_text() for t in ax.texts]


def test_show_images_axes_and_metric_labels(mri):
    target, noisy, noisier = mri
    fig = show_images({"noisy": noisy, "noisier": noisier, "target": target}, target,
                      complex_input=True)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["noisy", "noisier", "target"]
    expected = psnr(noisy, target, complex_input=True)[0]
    labels = _label_texts(fig.axes[0])
    assert len(labels) == 1 and f"PSNR {expected:.2f} dB" in labels[0] and "SSIM" in labels[0]
    assert _label_texts(fig.axes[2]) == []  # the target panel (same object) is not labelled
    # all grey panels share the target's scale
    vmax = float(torch.sqrt(target[0, 0] ** 2 + target[0, 1] ** 2).max())
    for ax in fig.axes:
        assert ax.images[0].get_clim() == pytest.approx((0.0, vmax))
    assert set(fig.spade_metrics) == {"noisy", "noisier"}
    assert fig.spade_metrics["noisy"]["psnr"] > fig.spade_metrics["noisier"]["psnr"]


def test_show_images_error_maps(mri):
    target, noisy, noisier = mri
    fig = show_images({"noisy": noisy, "noisier": noisier, "gt": target}, target_key="gt",
                      complex_input=True, error_maps=True, suptitle="errors")
    # 3 images + 2 error maps (none for the target) + 1 colour bar
    assert len(fig.axes) == 3 + 2 + 1
    error_images = [ax.images[0] for ax in fig.axes if ax.images and
                    ax.images[0].get_cmap().name == "magma"]
    assert len(error_images) == 2
    clims = {im.get_clim() for im in error_images}
    assert len(clims) == 1  # one shared colour scale
    assert fig._suptitle.get_text() == "errors"


def test_show_images_error_maps_without_target_in_dict_and_scale(mri):
    target, noisy, _ = mri
    fig = show_images({"noisy": noisy}, target, complex_input=True, error_maps=True,
                      error_scale=0.5, label_metrics=False)
    assert len(fig.axes) == 1 + 1 + 1
    assert len(fig.axes[0].texts) == 0  # label_metrics=False
    err_im = fig.axes[1].images[0]
    assert err_im.get_clim() == pytest.approx((0.0, 0.5))


def test_show_images_wraps_columns_and_no_target():
    imgs = {f"im{i}": np.random.default_rng(i).random((1, 16, 16)) for i in range(5)}
    fig = show_images(imgs, ncols=2)
    assert len(fig.axes) == 5
    assert all(len(ax.texts) == 0 for ax in fig.axes)


def test_show_images_rgb_and_batch_of_one():
    rng = np.random.default_rng(0)
    target = rng.random((1, 3, 16, 16))
    pred = np.clip(target + 0.05 * rng.standard_normal(target.shape), 0, 1)
    fig = show_images({"pred": torch.from_numpy(pred), "hr": target}, target)
    assert len(fig.axes) == 2
    assert fig.axes[0].images[0].get_array().shape == (16, 16, 3)
    assert "PSNR" in _label_texts(fig.axes[0])[0]


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 8, 8)), "4 channels"),
    (np.zeros((8,)), "shape"),
    (np.zeros((1, 1, 1, 8, 8)), "shape"),
    (np.zeros((2, 1, 8, 8)), "batch of 2"),
    (np.zeros((2, 8, 8)), "complex_input=True"),
])
def test_show_images_bad_inputs(bad, match):
    with pytest.raises(ValueError, match=match):
        show_images({"bad": bad})


def test_show_images_other_errors(mri):
    target, noisy, _ = mri
    with pytest.raises(ValueError, match="needs a target"):
        show_images({"a": noisy}, complex_input=True, error_maps=True)
    with pytest.raises(ValueError, match="target_key 'x'"):
        show_images({"a": noisy}, target_key="x", complex_input=True)
    with pytest.raises(ValueError, match="match the target"):
        show_images({"a": np.ones((8, 8))}, np.ones((9, 9)))
    with pytest.raises(TypeError, match="dict"):
        show_images([noisy])


def test_show_kspace_single_multi_coil_and_mask():
    rng = np.random.default_rng(0)
    k = rng.standard_normal((4, 16, 20, 2))
    mask = np.zeros((1, 1, 20, 1))
    mask[..., ::4, :] = 1
    fig = show_kspace(k * mask, mask)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 + 1  # RSS panel, mask panel, colour bar
    assert "RSS" in fig.axes[0].get_title()
    assert "25.0%" in fig.axes[1].get_title()
    fig = show_kspace(torch.from_numpy(k), combine="coils", max_coils=3)
    assert len(fig.axes) == 3 + 1
    fig = show_kspace(torch.complex(torch.randn(16, 20), torch.randn(16, 20)), np.ones(20))
    assert len(fig.axes) == 2 + 1


def test_show_kspace_errors():
    with pytest.raises(ValueError, match="trailing real/imag axis"):
        show_kspace(np.ones((16, 16)))
    with pytest.raises(ValueError, match="does not fit"):
        show_kspace(np.ones((16, 20, 2)), np.ones(16))
    with pytest.raises(ValueError, match="combine"):
        show_kspace(np.ones((16, 20, 2)), combine="mean")


def test_show_coils_magnitude_and_phase():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((12, 10, 10, 2))
    fig = show_coils(maps)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 8 + 1  # max_coils=8 panels + colour bar
    assert "first 8 of 12" in fig._suptitle.get_text()
    z = torch.complex(torch.randn(3, 10, 10), torch.randn(3, 10, 10))
    fig = show_coils(z, kind="phase")
    assert len(fig.axes) == 3 + 1
    assert fig.axes[0].images[0].get_clim() == pytest.approx((-np.pi, np.pi))
    with pytest.raises(ValueError, match="kind"):
        show_coils(z, kind="real")


def test_show_kernels():
    kernels = torch.rand(5, 7, 7)
    fig = show_kernels(kernels, names=[f"k{i}" for i in range(5)], ncols=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 5
    assert [ax.get_title() for ax in fig.axes] == [f"k{i}" for i in range(5)]
    assert len(show_kernels(np.ones((9, 9))).axes) == 1
    with pytest.raises(ValueError, match="names has 2 entries"):
        show_kernels(kernels, names=["a", "b"])
    with pytest.raises(ValueError, match=r"\(K, k, k\)"):
        show_kernels(np.ones((2, 3, 5, 5)))


def test_metrics_table():
    table = metrics_table({"zero-filled": {"PSNR": 27.123, "ssim": 0.81234},
                           "SPADE": {"psnr": np.array([30.0, 32.0]), "ssim": 0.9,
                                     "params": 12345}})
    lines = table.splitlines()
    assert lines[0] == "| method | PSNR (dB) | SSIM | params |"
    assert lines[2] == "| zero-filled | 27.12 | 0.8123 | – |"
    assert lines[3] == "| SPADE | 31.00 | 0.9000 | 12,345 |"
    with pytest.raises(ValueError, match="empty"):
        metrics_table({})


def test_show_images_wrapped_error_maps_skip_rows_without_errors(mri):
    target, noisy, noisier = mri
    fig = show_images({"noisy": noisy, "noisier": noisier, "target": target}, target,
                      complex_input=True, error_maps=True, ncols=2, size=2.0)
    assert len(fig.axes) == 3 + 2 + 1
    # rows: images, their errors, the target alone (no empty error row under it)
    assert fig.get_size_inches()[1] == pytest.approx(3 * 2.0)


def test_show_groups_draws_one_column_per_group():
    import torch
    from torch import nn

    from spadelib.plotting import show_groups
    from spadelib.pruning import groups

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 5, 3),
                        nn.BatchNorm2d(5))
    infos = groups(net, (torch.randn(2, 3, 8, 8),))
    fig = show_groups(infos, net, title="toy")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0\n(4)", "1\n(5)"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2", "3"]
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one group"):
        show_groups([])


def test_regime_points_shows_every_run_and_the_reference():
    from spadelib.plotting import regime_points

    tags, labels = ["20 % pruned", "60 % pruned"], ["supervised", "school"]
    results = {f"{t}: {lab}": {"psnr": 20.0 + i + j, "ssim": 0.5 + 0.1 * j}
               for i, t in enumerate(tags) for j, lab in enumerate(labels)}
    results["unpruned"] = {"psnr": 25.0, "ssim": 0.9}
    fig = regime_points(results, tags, labels)
    psnr_ax = fig.axes[0]
    points = [line for line in psnr_ax.lines if line.get_marker() == "o"]
    assert [list(p.get_ydata()) for p in points] == [[20.0, 21.0], [21.0, 22.0]]
    assert any(list(line.get_ydata()) == [25.0, 25.0] for line in psnr_ax.lines)
    with pytest.raises(KeyError):
        regime_points(results, ["10 % pruned"], labels)
