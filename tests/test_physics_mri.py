"""The multi-coil MRI operator A_i = P F S_i: adjointness, a NumPy reference, bad input."""
import numpy as np
import pytest
import torch

from spadelib.physics.base import inner
from spadelib.physics.mri import (MultiCoilMRI, channels_to_complex, complex_to_channels,
                                  zero_filled)


def random_problem(b=2, c=3, h=37, w=31, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    maps = torch.randn(b, c, h, w, 2, generator=g, dtype=dtype)
    mask = (torch.rand(b, 1, 1, w, 1, generator=g) > 0.5).to(dtype)
    x = torch.randn(b, 2, h, w, generator=g, dtype=dtype)
    y = torch.randn(b, c, h, w, 2, generator=g, dtype=dtype)
    return MultiCoilMRI(maps, mask), x, y


@pytest.mark.parametrize("shape", [(37, 31), (32, 32), (17, 40)])
def test_adjointness_at_odd_sizes(shape):
    A, x, y = random_problem(h=shape[0], w=shape[1])
    lhs, rhs = inner(A.A(x), y), inner(x, A.A_adjoint(y))
    assert torch.isclose(lhs, rhs, rtol=1e-10), (lhs, rhs)


def test_adjointness_float32_without_mask():
    g = torch.Generator().manual_seed(1)
    A = MultiCoilMRI(torch.randn(1, 4, 37, 31, 2, generator=g))
    x, y = torch.randn(1, 2, 37, 31, generator=g), torch.randn(1, 4, 37, 31, 2, generator=g)
    assert torch.isclose(inner(A.A(x), y), inner(x, A.A_adjoint(y)), rtol=1e-5)


def test_forward_equals_numpy_fft_reference():
    A, x, _ = random_problem(h=37, w=31, seed=3)
    maps = A.coil_maps[..., 0].numpy() + 1j * A.coil_maps[..., 1].numpy()     # (B, C, H, W)
    img = x[:, 0].numpy() + 1j * x[:, 1].numpy()                               # (B, H, W)
    coil = maps * img[:, None]
    ref = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil, axes=(-2, -1)), norm="ortho"),
                          axes=(-2, -1)) * A.mask[..., 0].numpy()
    out = A.A(x)
    np.testing.assert_allclose(out[..., 0].numpy(), ref.real, atol=1e-10)
    np.testing.assert_allclose(out[..., 1].numpy(), ref.imag, atol=1e-10)


def test_gradient_matches_autograd():
    A, x, y = random_problem(seed=5)
    x = x.clone().requires_grad_(True)
    A.data_fidelity(x, y).sum().backward()
    assert torch.allclose(x.grad, A.grad(x.detach(), y), atol=1e-9)


def test_zero_filled_inverts_fully_sampled_with_normalised_maps():
    g = torch.Generator().manual_seed(2)
    maps = torch.randn(1, 4, 16, 16, 2, generator=g, dtype=torch.float64)
    norm = maps.pow(2).sum(-1).sum(1, keepdim=True).sqrt()[..., None]     # sum_i |S_i|^2 = 1
    maps = maps / norm
    x = torch.randn(1, 2, 16, 16, generator=g, dtype=torch.float64)
    y = MultiCoilMRI(maps).A(x)
    assert torch.allclose(zero_filled(y, maps), x, atol=1e-10)


def test_layout_round_trip():
    x = torch.randn(2, 2, 5, 7)
    assert torch.equal(complex_to_channels(channels_to_complex(x)), x)


def test_bad_shapes_are_named():
    A, x, y = random_problem()
    with pytest.raises(ValueError, match=r"x must have shape \(B, 2, H, W\)"):
        A.A(torch.randn(2, 3, 37, 31, dtype=torch.float64))
    with pytest.raises(ValueError, match="does not match coil maps"):
        A.A(torch.randn(2, 2, 36, 31, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"y must have shape \(B, C, H, W, 2\)"):
        A.A_adjoint(y[..., 0])
    with pytest.raises(ValueError, match="coil_maps must have shape"):
        MultiCoilMRI(torch.randn(3, 37, 31, 2))
    with pytest.raises(ValueError, match="does not broadcast"):
        MultiCoilMRI(A.coil_maps, torch.ones(2, 1, 1, 30, 1))
    with pytest.raises(TypeError, match="torch.Tensor"):
        MultiCoilMRI(np.zeros((1, 2, 4, 4, 2)))


def test_complex_dtypes_are_refused_naming_the_real_imag_layout():
    """fastMRI's layout keeps complex numbers as a real axis of size 2; a complex tensor would
    otherwise fail deep inside fastMRI with a view_as_complex error."""
    A, x, y = random_problem()
    maps = torch.view_as_complex(A.coil_maps.contiguous())
    with pytest.raises(ValueError, match=r"coil_maps has the complex dtype torch.complex128.*"
                                         r"\(B, C, H, W, 2\) real/imag.*view_as_real"):
        MultiCoilMRI(maps)
    with pytest.raises(ValueError, match=r"mask has the complex dtype"):
        MultiCoilMRI(A.coil_maps, A.mask.to(torch.complex128))
    with pytest.raises(ValueError, match=r"x has the complex dtype.*\(B, 2, H, W\) real/imag"):
        A.A(x.to(torch.complex128))
    with pytest.raises(ValueError, match=r"y has the complex dtype.*\(B, C, H, W, 2\)"):
        A.A_adjoint(torch.view_as_complex(y.contiguous()))
    with pytest.raises(ValueError, match=r"y has the complex dtype"):
        zero_filled(torch.view_as_complex(y.contiguous()), A.coil_maps)
    # the conversion the message names is the right one
    torch.testing.assert_close(MultiCoilMRI(torch.view_as_real(maps), A.mask).A(x), A.A(x))
