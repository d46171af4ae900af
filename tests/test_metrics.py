"""Tests of spadelib.metrics: PSNR / SSIM as fastMRI evaluates, latency, parameter counts."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from spadelib.metrics import (LatencyResult, count_parameters, magnitude, measure_latency, psnr,
                              ssim)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _smooth_image(rng, shape=(32, 32)):
    """A positive, smooth-ish image (so SSIM is meaningful)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    return 0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy) + 0.05 * rng.random(shape)


# ----------------------------------------------------------------------------- magnitude

def test_magnitude_torch_and_numpy_keep_layout():
    x = torch.tensor([[[[3.0]], [[4.0]]]])  # (1, 2, 1, 1)
    m = magnitude(x)
    assert isinstance(m, torch.Tensor) and m.shape == (1, 1, 1, 1)
    assert m.item() == pytest.approx(5.0)
    m_np = magnitude(x.numpy()[0])  # (2, 1, 1)
    assert isinstance(m_np, np.ndarray) and m_np.shape == (1, 1, 1)
    assert m_np.item() == pytest.approx(5.0)


def test_magnitude_rejects_wrong_channels():
    with pytest.raises(ValueError, match=r"\(\.\.\., 2, H, W\).*\(1, 3, 4, 4\)"):
        magnitude(torch.zeros(1, 3, 4, 4))


# ----------------------------------------------------------------------------- psnr

def test_psnr_matches_hand_computation(rng):
    target = _smooth_image(rng)
    pred = target + 0.02 * rng.standard_normal(target.shape)
    mse = np.mean((pred - target) ** 2)
    expected = 10 * math.log10(target.max() ** 2 / mse)
    assert psnr(pred, target) == pytest.approx(expected, rel=1e-10)
    # torch tensors give the same float
    value = psnr(torch.from_numpy(pred).float(), torch.from_numpy(target).float())
    assert isinstance(value, float)
    assert value == pytest.approx(expected, abs=1e-3)


def test_psnr_data_range_is_target_max_not_pred_max(rng):
    target = _smooth_image(rng)
    pred = target.copy()
    pred[0, 0] = 10 * target.max()  # a huge outlier in pred must not change the data range
    mse = np.mean((pred - target) ** 2)
    assert psnr(pred, target) == pytest.approx(10 * math.log10(target.max() ** 2 / mse))


def test_psnr_complex_input_uses_magnitude(rng):
    mag_t = _smooth_image(rng)
    mag_p = mag_t + 0.02 * rng.standard_normal(mag_t.shape)
    phase = rng.uniform(-np.pi, np.pi, mag_t.shape)

    def as_channels(mag, ph):
        return torch.from_numpy(np.stack([mag * np.cos(ph), mag * np.sin(ph)]))[None]

    real_only = psnr(as_channels(mag_p, 0 * phase), as_channels(mag_t, 0 * phase),
                     complex_input=True)
    with_phase = psnr(as_channels(mag_p, phase), as_channels(mag_t, phase), complex_input=True)
    np.testing.assert_allclose(with_phase, real_only, rtol=1e-10)
    expected = 10 * math.log10(mag_t.max() ** 2 / np.mean((mag_p - mag_t) ** 2))
    np.testing.assert_allclose(real_only, [expected], rtol=1e-10)


def test_psnr_complex_input_needs_two_channels():
    with pytest.raises(ValueError, match="complex_input=True"):
        psnr(torch.ones(1, 1, 8, 8), torch.ones(1, 1, 8, 8), complex_input=True)


def test_batched_input_gives_per_image_values(rng):
    targets = np.stack([_smooth_image(rng)[None] for _ in range(3)])  # (3, 1, H, W)
    noise = np.array([0.01, 0.03, 0.1])[:, None, None, None]
    preds = targets + noise * rng.standard_normal(targets.shape)
    p = psnr(torch.from_numpy(preds), torch.from_numpy(targets))
    s = ssim(preds, targets)
    assert isinstance(p, np.ndarray) and p.shape == (3,)
    assert isinstance(s, np.ndarray) and s.shape == (3,)
    for i in range(3):
        assert p[i] == pytest.approx(psnr(preds[i], targets[i]))
        assert s[i] == pytest.approx(ssim(preds[i, 0], targets[i, 0]))
    assert p[0] > p[1] > p[2]
    assert s[0] > s[1] > s[2]


def test_identical_images_psnr_is_inf(rng):
    x = _smooth_image(rng)
    assert psnr(x, x) == math.inf


# ----------------------------------------------------------------------------- ssim

def test_ssim_identical_is_one_noisy_is_less(rng):
    target = _smooth_image(rng)
    assert ssim(target, target) == pytest.approx(1.0)
    noisy = target + 0.05 * rng.standard_normal(target.shape)
    value = ssim(torch.from_numpy(noisy), torch.from_numpy(target))
    assert isinstance(value, float)
    assert 0.0 < value < 1.0


def test_ssim_rgb_uses_channel_axis(rng):
    target = np.clip(np.stack([_smooth_image(rng) for _ in range(3)]), 0, 1)  # (3, H, W)
    noisy = np.clip(target + 0.05 * rng.standard_normal(target.shape), 0, 1)
    from skimage.metrics import structural_similarity
    expected = structural_similarity(target, noisy, data_range=target.max(), channel_axis=0)
    assert ssim(noisy, target) == pytest.approx(expected)
    assert ssim(target, target) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("metric", [psnr, ssim])
def test_shape_mismatch_names_both_shapes(metric):
    with pytest.raises(ValueError, match=r"\(1, 16, 16\).*\(1, 16, 17\)"):
        metric(np.ones((1, 16, 16)), np.ones((1, 16, 17)))


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_zero_target_raises(metric):
    with pytest.raises(ValueError, match="data range"):
        metric(np.ones((16, 16)), np.zeros((16, 16)))


def test_zero_target_in_batch_names_the_item(rng):
    targets = np.stack([_smooth_image(rng)[None], np.zeros((1, 32, 32))])
    with pytest.raises(ValueError, match="batch item 1"):
        psnr(targets + 0.1, targets)


def test_wrong_ndim_raises():
    with pytest.raises(ValueError, match=r"\(H, W\), \(C, H, W\) or \(B, C, H, W\)"):
        psnr(np.ones((1, 1, 1, 8, 8)), np.ones((1, 1, 1, 8, 8)))


def test_ssim_too_small_raises():
    with pytest.raises(ValueError, match="7 x 7"):
        ssim(np.ones((5, 5)), np.ones((5, 5)))


# ----------------------------------------------------------------------------- latency

def test_measure_latency_counts_calls_and_reports_median():
    calls = {"n": 0, "grad": []}

    def fn(x, scale=1.0):
        calls["n"] += 1
        calls["grad"].append(torch.is_grad_enabled())
        return x * scale

    res = measure_latency(fn, torch.ones(4), warmup=3, repeats=5, scale=2.0)
    assert isinstance(res, LatencyResult)
    assert calls["n"] == 3 + 5
    assert not any(calls["grad"])  # run under torch.no_grad()
    assert res.repeats == 5 and len(res.times_ms) == 5
    assert res.device == "cpu"
    assert res.median_ms == pytest.approx(float(np.median(res.times_ms)))
    assert res.mean_ms == pytest.approx(float(np.mean(res.times_ms)))
    assert res.std_ms == pytest.approx(float(np.std(res.times_ms)))
    assert "ms" in str(res) and "5 runs" in str(res) and "cpu" in str(res)


def test_measure_latency_median_of_known_times(monkeypatch):
    # a fake clock: call i takes durations[i] seconds, so the median is known exactly
    durations = iter([0.001, 0.005, 0.003])
    clock = {"t": 0.0}

    def fake_perf_counter():
        return clock["t"]

    def fn():
        clock["t"] += next(durations)

    import spadelib.metrics as metrics_module
    monkeypatch.setattr(metrics_module.time, "perf_counter", fake_perf_counter)
    res = measure_latency(fn, warmup=0, repeats=3)
    assert res.times_ms == pytest.approx([1.0, 5.0, 3.0])
    assert res.median_ms == pytest.approx(3.0)


def test_measure_latency_infers_device_from_module():
    net = nn.Linear(3, 2)
    res = measure_latency(net, torch.zeros(1, 3), warmup=0, repeats=1)
    assert res.device == "cpu" and res.std_ms == 0.0


@pytest.mark.parametrize("kwargs, match", [({"repeats": 0}, "repeats"),
                                           ({"warmup": -1}, "warmup")])
def test_measure_latency_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        measure_latency(lambda: None, **kwargs)


# ----------------------------------------------------------------------------- parameters

def test_count_parameters_hand_count_and_frozen():
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Conv2d(4, 1, 1, bias=False))
    # conv1: 4*2*3*3 + 4 = 76; conv2: 1*4*1*1 = 4
    assert count_parameters(net) == 80
    net[0].bias.requires_grad_(False)
    assert count_parameters(net) == 80
    assert count_parameters(net, trainable_only=True) == 76


def test_count_parameters_shared_counted_once_and_type_error():
    lin = nn.Linear(2, 2)
    assert count_parameters(nn.Sequential(lin, lin)) == 6
    with pytest.raises(TypeError, match="nn.Module"):
        count_parameters([torch.zeros(3)])
