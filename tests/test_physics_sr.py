"""Super-resolution operator: adjointness, agreement with SciPy, the closed-form data step."""
import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from spadelib.physics.base import inner
from spadelib.physics.sr import (SCALES, SuperResolution, bicubic_upsample, downsample,
                                 kernel_to_otf, nearest_upsample, upsample_zero)


def random_kernel(k: int, gen: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """A non-symmetric, non-negative kernel summing to 1."""
    ker = torch.rand(k, k, generator=gen, dtype=dtype)
    ker[0, :] += 2.0  # make it clearly asymmetric
    return ker / ker.sum()


def dense_matrix(op, n_in_shape) -> np.ndarray:
    """Matrix of a linear map by applying it to every basis vector (float64)."""
    n = int(np.prod(n_in_shape))
    cols = []
    for i in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[i] = 1.0
        cols.append(op(e.view(n_in_shape)).reshape(-1).numpy())
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("s", SCALES)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_adjointness_odd_size(s, dtype, tol):
    gen = torch.Generator().manual_seed(s)
    H, W = 37, 31
    kernels = torch.stack([random_kernel(7, gen, dtype) for _ in range(2)])
    for kernel in (kernels[0], kernels):  # shared and per-item kernels
        phys = SuperResolution(kernel, s, img_size=(H, W))
        x = torch.randn(2, 3, H, W, generator=gen, dtype=dtype)
        y = torch.randn(2, 3, -(-H // s), -(-W // s), generator=gen, dtype=dtype)
        ax = phys.A(x)
        assert ax.shape == y.shape
        aty = phys.A_adjoint(y)
        assert aty.shape == x.shape and aty.dtype == dtype
        lhs, rhs = inner(ax, y), inner(x, aty)
        assert abs(lhs - rhs) / abs(lhs) < tol


@pytest.mark.parametrize("s", SCALES)
def test_forward_matches_scipy_wrap_convolution(s):
    gen = torch.Generator().manual_seed(10 + s)
    kernel = random_kernel(5, gen)
    x = torch.rand(1, 2, 37, 31, generator=gen, dtype=torch.float64)
    y = SuperResolution(kernel, s).A(x)
    for c in range(2):
        ref = ndi.convolve(x[0, c].numpy(), kernel.numpy(), mode="wrap")[::s, ::s]
        np.testing.assert_allclose(y[0, c].numpy(), ref, atol=1e-12)


def test_otf_of_delta_is_one_and_centre_convention():
    delta = torch.zeros(5, 5, dtype=torch.float64)
    delta[2, 2] = 1.0
    otf = kernel_to_otf(delta, (8, 9))
    assert otf.shape == (8, 9)
    torch.testing.assert_close(otf, torch.ones(8, 9, dtype=torch.complex128))
    shifted = torch.zeros(5, 5, dtype=torch.float64)
    shifted[2, 3] = 1.0  # one pixel right of the centre: H x moves the image right
    x = torch.rand(1, 1, 8, 9, dtype=torch.float64)
    hx = SuperResolution(shifted, 2).blur(x)
    torch.testing.assert_close(hx, torch.roll(x, 1, dims=-1))
    assert kernel_to_otf(torch.rand(3, 5, 5), (8, 9)).shape == (3, 8, 9)


def test_downsample_upsample_are_adjoint_at_odd_size():
    x = torch.randn(2, 37, 31, dtype=torch.float64)
    y = torch.randn(2, 13, 11, dtype=torch.float64)
    assert downsample(x, 3).shape == (2, 13, 11)
    up = upsample_zero(y, 3, (37, 31))
    assert up.shape == (2, 37, 31)
    assert abs(inner(downsample(x, 3), y) - inner(x, up)) < 1e-10
    assert torch.equal(up[..., ::3, ::3], y)
    assert torch.count_nonzero(up) == torch.count_nonzero(y)  # zeros elsewhere


@pytest.mark.parametrize("s", SCALES)
def test_data_step_equals_dense_solve(s):
    gen = torch.Generator().manual_seed(20 + s)
    H = W = 12
    kernel = random_kernel(5, gen)
    phys = SuperResolution(kernel, s)
    A = dense_matrix(lambda e: phys.A(e.view(1, 1, H, W)), (H, W))
    assert A.shape == ((H // s) * (W // s), H * W)
    z = torch.rand(2, 1, H, W, generator=gen, dtype=torch.float64)
    y = torch.rand(2, 1, H // s, W // s, generator=gen, dtype=torch.float64)
    alphas = torch.tensor([0.05, 0.7], dtype=torch.float64)
    x = phys.data_step(z, y, alphas.view(2, 1, 1, 1))
    for b in range(2):
        a = float(alphas[b])
        rhs = A.T @ y[b, 0].reshape(-1).numpy() + a * z[b, 0].reshape(-1).numpy()
        ref = np.linalg.solve(A.T @ A + a * np.eye(H * W), rhs)
        np.testing.assert_allclose(x[b, 0].reshape(-1).numpy(), ref, atol=1e-9)
    # a float alpha and a (B,) alpha give the same as the broadcast tensor
    torch.testing.assert_close(phys.data_step(z[:1], y[:1], 0.05), x[:1])
    torch.testing.assert_close(phys.data_step(z, y, alphas), x)


def test_data_step_per_item_kernels_and_gradients():
    gen = torch.Generator().manual_seed(3)
    kernels = torch.stack([random_kernel(5, gen) for _ in range(2)])
    z = torch.rand(2, 3, 24, 24, generator=gen, dtype=torch.float64)
    y = torch.rand(2, 3, 12, 12, generator=gen, dtype=torch.float64)
    batched = SuperResolution(kernels, 2).data_step(z, y, 0.3)
    for b in range(2):
        single = SuperResolution(kernels[b], 2).data_step(z[b:b + 1], y[b:b + 1], 0.3)
        torch.testing.assert_close(batched[b:b + 1], single)
    # the optimality condition A^T (A x - y) + alpha (x - z) = 0
    phys = SuperResolution(kernels, 2)
    alpha = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    x = phys.data_step(z, y, alpha)
    g = phys.grad(x, y) + alpha * (x - z)
    assert g.abs().max() < 1e-10
    x.sum().backward()
    assert alpha.grad is not None and torch.isfinite(alpha.grad)


def test_bicubic_and_nearest_follow_top_left_convention():
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(2, 3, 10, 9, generator=gen)
    for s in SCALES:
        up = bicubic_upsample(y, s)
        assert up.shape == (2, 3, 10 * s, 9 * s)
        # LR pixel j sits at HR pixel j * s: interpolation reproduces the samples there
        torch.testing.assert_close(up[..., ::s, ::s], y, atol=1e-5, rtol=0)
        nn = nearest_upsample(y, s)
        assert torch.equal(nn[..., ::s, ::s], y) and torch.equal(nn[..., s - 1::s, s - 1::s], y)
    # odd HR size and unbatched input
    assert bicubic_upsample(y[0], 3, img_size=(28, 25)).shape == (3, 28, 25)
    assert nearest_upsample(y[0], 3, img_size=(28, 25)).shape == (3, 28, 25)
    # a linear ramp (slope 1/160 per HR pixel) is followed without bias away from the border
    # (a centred resize would be off by (s - 1) / 2 = 1.5 HR pixels, i.e. 0.0094); Keys' cubic
    # with a = -0.75 leaves an odd ripple of 0.19 HR pixel between samples
    ramp = torch.arange(12, dtype=torch.float32).view(1, 1, 1, 12).expand(1, 1, 12, 12) / 40
    err = bicubic_upsample(ramp, 4)[0, 0, 8, 8:40] - torch.arange(8, 40) / 160.0
    assert err.mean().abs() < 1e-5 and err.abs().max() < 0.25 / 160
    assert bicubic_upsample(y * 3 - 1, 2).min() >= 0  # clamped to [0, 1] by default
    assert bicubic_upsample(y * 3 - 1, 2, clamp=False).min() < 0


def test_bicubic_beats_nearest_on_a_smooth_image():
    u = torch.linspace(0, 3, 48)
    x = (torch.sin(u)[:, None] * torch.cos(u)[None, :] * 0.4 + 0.5).expand(1, 3, 48, 48)
    phys = SuperResolution(torch.ones(1, 1), 4)  # pure decimation
    y = phys.A(x.contiguous())
    err_bic = (bicubic_upsample(y, 4) - x).pow(2).mean()
    err_nn = (nearest_upsample(y, 4) - x).pow(2).mean()
    assert err_bic < 0.2 * err_nn


# ---------------------------------------------------------------- errors
def test_bad_scale_is_rejected():
    k = torch.ones(3, 3) / 9
    for bad in (5, 1, 2.5, "2", True):
        with pytest.raises(ValueError, match=r"scale must be one of 2, 3, 4"):
            SuperResolution(k, bad)
    with pytest.raises(ValueError, match=r"scale must be one of 2, 3, 4, got 5"):
        bicubic_upsample(torch.rand(1, 3, 4, 4), 5)


def test_bad_shapes_are_rejected():
    k = torch.ones(3, 3) / 9
    phys = SuperResolution(k, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(B, C, H, W\)"):
        phys.A(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match=r"kernel must have shape \(k, k\) or \(B, k, k\)"):
        SuperResolution(torch.rand(1, 1, 3, 3), 2)
    with pytest.raises(ValueError, match=r"batch size 3 but there are 2 kernels"):
        SuperResolution(torch.rand(2, 3, 3), 2).A(torch.rand(3, 1, 8, 8))
    fixed = SuperResolution(k, 3, img_size=(37, 31))
    with pytest.raises(ValueError, match=r"img_size 37x31"):
        fixed.A(torch.rand(1, 1, 36, 31))
    with pytest.raises(ValueError, match=r"y must have size 13x11"):
        fixed.A_adjoint(torch.rand(1, 1, 12, 11))
    for bad in ((0, 4), (37.0, 31), (4,), "37x31", (True, 4)):
        with pytest.raises(ValueError, match=r"img_size must be an int or a pair of ints"):
            SuperResolution(k, 2, img_size=bad)
    assert SuperResolution(k, 2, img_size=8).img_size == (8, 8)      # an int: a square
    with pytest.raises(ValueError, match=r"real floating-point"):
        phys.A(torch.rand(1, 1, 8, 8, dtype=torch.complex64))


def test_kernel_bigger_than_image_is_rejected():
    k = torch.ones(25, 25) / 625
    with pytest.raises(ValueError, match=r"25x25 kernel is larger than the 24x30 image"):
        SuperResolution(k, 2).A(torch.rand(1, 3, 24, 30))
    with pytest.raises(ValueError, match=r"kernel is larger than img_size"):
        SuperResolution(k, 2, img_size=(20, 20))
    with pytest.raises(ValueError, match=r"kernel is larger than the"):
        kernel_to_otf(k, (16, 40))


def test_data_step_errors():
    phys = SuperResolution(torch.ones(3, 3, dtype=torch.float64) / 9, 3)
    z = torch.rand(1, 3, 13, 12, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"divisible by the scale 3, got 13x12"):
        phys.data_step(z, torch.rand(1, 3, 5, 4, dtype=torch.float64), 0.1)
    z = torch.rand(1, 3, 12, 12, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"y must have shape \(1, 3, 4, 4\)"):
        phys.data_step(z, torch.rand(1, 3, 6, 6, dtype=torch.float64), 0.1)
    for bad in (0.0, -1.0, math.inf, True, "0.1"):
        with pytest.raises(ValueError, match=r"alpha \(a positive number or tensor\) must be"):
            phys.data_step(z, torch.rand(1, 3, 4, 4, dtype=torch.float64), bad)
    with pytest.raises(ValueError, match=r"alpha must be positive"):
        phys.data_step(z, torch.rand(1, 3, 4, 4, dtype=torch.float64), torch.zeros(1))
    with pytest.raises(ValueError, match=r"alpha must be broadcastable to \(B, 1, 1, 1\)"):
        phys.data_step(z, torch.rand(1, 3, 4, 4, dtype=torch.float64), torch.ones(2, 3, 1, 1))


def test_upsample_zero_rejects_inconsistent_shape():
    with pytest.raises(ValueError, match=r"not the x2 decimation of a 37x31 image"):
        upsample_zero(torch.rand(1, 18, 16), 2, (37, 31))
