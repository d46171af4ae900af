"""The rotations of equivariant imaging: exact, never the identity, applied per sample."""
import pytest
import torch

from spadelib import finetune as ft
from spadelib import transforms as tf


def test_rotations_are_exact_and_never_the_identity():
    x = torch.randn(5, 2, 3, 8, 8)
    gen = torch.Generator().manual_seed(0)
    angles = tf.draw_rotations(5, (8, 8), "90", gen)
    assert set(angles.tolist()) <= {90.0, 180.0, 270.0}
    y = tf.rotate(x, angles)
    assert torch.equal(tf.rotate(y, -angles), x)                    # bit-exact inverse
    assert torch.equal(tf.rotate(x[:1], 90.0), torch.rot90(x[:1], 1, dims=(-2, -1)))
    assert tf.draw_rotations(3, (8, 6), "90", gen).tolist() == [180.0] * 3
    with pytest.raises(ValueError, match="non-square"):
        tf.rotate(torch.zeros(1, 1, 8, 6), 90.0)
    # bilinear path: same sense as rot90, and a 90-degree grid rotation matches it closely
    img = torch.zeros(1, 1, 9, 9)
    img[0, 0, 1, 6] = 1.0
    near90 = tf.rotate(img, torch.tensor([90.0 + 1e-7]))
    assert torch.allclose(near90, torch.rot90(img, 1, dims=(-2, -1)), atol=1e-4)
    a = tf.draw_rotations(4, (8, 8), "any", gen)
    assert torch.all((a > 0) & (a < 360))


@pytest.mark.determinism
def test_draws_are_reproducible_and_only_square_images_use_the_generator():
    a = tf.draw_rotations(6, (8, 8), "90", torch.Generator().manual_seed(5))
    b = tf.draw_rotations(6, (8, 8), "90", torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.dtype == torch.float64
    gen = torch.Generator().manual_seed(5)
    state = gen.get_state()
    tf.draw_rotations(6, (8, 6), "90", gen)                          # 180 degrees: no draw
    assert torch.equal(gen.get_state(), state)


def test_each_sample_gets_its_own_angle_and_wrong_inputs_are_refused():
    x = torch.randn(3, 2, 6, 6)
    out = tf.rotate(x, torch.tensor([90.0, 180.0, 270.0]))
    for i, k in enumerate((1, 2, 3)):
        assert torch.equal(out[i], torch.rot90(x[i], k, dims=(-2, -1)))
    with pytest.raises(ValueError, match="2 angles for a batch of 3"):
        tf.rotate(x, torch.tensor([90.0, 180.0]))
    with pytest.raises(ValueError, match="expects a batch"):
        tf.rotate(torch.zeros(6, 6), 90.0)
    with pytest.raises(ValueError, match="unknown rotations '45'"):
        tf.draw_rotations(2, (6, 6), "45")
    assert tf.check_rotations(90) == "90"


def test_coil_maps_rotate_over_their_spatial_axes():
    maps = torch.randn(2, 4, 6, 6, 2)
    angles = torch.tensor([90.0, 270.0])
    out = tf.rotate_maps(maps, angles)
    assert out.shape == maps.shape and out.is_contiguous()
    for i, k in enumerate((1, 3)):
        assert torch.equal(out[i], torch.rot90(maps[i], k, dims=(1, 2)))
    with pytest.raises(ValueError, match=r"coil maps \(B, C, H, W, 2\)"):
        tf.rotate_maps(torch.zeros(4, 6, 6, 2), 90.0)


def test_finetune_still_exports_the_rotations():
    assert ft.rotate is tf.rotate and ft.draw_rotations is tf.draw_rotations
    assert ft.ROTATIONS == tf.ROTATIONS == ("90", "any")
