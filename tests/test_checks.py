"""The argument checks every public function uses (spadelib/checks.py)."""
import math

import numpy as np
import pytest
import torch

from spadelib import checks


def test_integers_refuse_bools_floats_and_out_of_range_values():
    assert checks.integer(np.int64(3), "n") == 3 and type(checks.integer(np.int64(3), "n")) is int
    assert checks.positive_int(1, "n") == 1 and checks.nonnegative_int(0, "n") == 0
    for bad in (True, 2.0, "2", None):
        with pytest.raises(ValueError, match=f"n must be an int, got {bad!r}"):
            checks.integer(bad, "n")
    with pytest.raises(ValueError, match=r"epochs must be an int >= 1, got 0"):
        checks.positive_int(0, "epochs")
    with pytest.raises(ValueError, match=r"k must be an int in \[2, 5\], got 6"):
        checks.integer(6, "k", low=2, high=5)
    assert checks.is_int(np.int8(1)) and not checks.is_int(False)


def test_reals_are_finite_and_within_their_open_or_closed_bounds():
    assert checks.real(1, "x") == 1.0 and checks.positive_real(np.float32(0.5), "lr") == 0.5
    for bad in (math.nan, math.inf, True, "1"):
        with pytest.raises(ValueError, match="x must be a finite number"):
            checks.real(bad, "x")
    with pytest.raises(ValueError, match=r"lr must be a finite number in \(0.0, inf\), got 0"):
        checks.positive_real(0, "lr")
    assert checks.fraction(0, "r") == 0.0
    with pytest.raises(ValueError, match=r"in \[0.0, 1.0\)"):
        checks.fraction(1.0, "r")
    with pytest.raises(ValueError, match=r"in \(0.0, 1.0\)"):
        checks.fraction(0.0, "r", include_zero=False)


def test_choice_flag_size_module():
    assert checks.choice("l1", ("l1", "l2"), "loss") == "l1"
    with pytest.raises(ValueError, match="unknown loss 'l3'; choose one of l1, l2"):
        checks.choice("l3", ("l1", "l2"), "loss")
    with pytest.raises(ValueError, match="unknown loss 1"):
        checks.choice(1, ("l1",), "loss")
    assert checks.flag(False, "cache") is False
    with pytest.raises(TypeError, match="cache must be True or False, got 1"):
        checks.flag(1, "cache")
    assert checks.size2d(8, "size") == (8, 8) and checks.size2d((4, np.int64(6)), "s") == (4, 6)
    for bad in ((4,), (4, 0), (4.0, 4), "ab", None, True):
        with pytest.raises(ValueError, match="size must be an int or a pair of ints"):
            checks.size2d(bad, "size")
    net = torch.nn.Linear(1, 1)
    assert checks.module(net, "net") is net
    with pytest.raises(TypeError, match="net must be an nn.Module .*got dict"):
        checks.module({}, "net")


def test_finite_tensor_counts_the_bad_entries():
    t = torch.zeros(5)
    assert checks.finite_tensor(t, "y") is t
    assert checks.finite_tensor(torch.arange(3), "i") is not None       # ints cannot be NaN
    t[1], t[3] = math.nan, -math.inf
    with pytest.raises(ValueError, match="y holds 2 non-finite .* entries of 5"):
        checks.finite_tensor(t, "y")
    z = torch.zeros(2, dtype=torch.complex64)
    z[0] = complex(math.inf, 0)
    with pytest.raises(ValueError, match="z holds 1 non-finite .* entry of 2"):
        checks.finite_tensor(z, "z")
    with pytest.raises(TypeError, match="y must be a tensor, got list"):
        checks.finite_tensor([1.0], "y")
