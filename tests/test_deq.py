"""The DEQ and its EDSR prior: sizes, solvers, JFB / implicit gradients, bad input."""
import math

import pytest
import torch

from spadelib.data.mri import MRIMeasurement, MRISample, mri_dataset
from spadelib.models.deq import DEQ, build_deq, solve_fixed_point
from spadelib.models.edsr import EDSR


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def toy_measurement(b=2, c=3, h=8, w=8, seed=0, dtype=torch.float64):
    """A small MRI problem with unit-norm coil maps (sum_i |S_i|^2 = 1, so ||A^H A|| <= 1)."""
    g = torch.Generator().manual_seed(seed)
    maps = torch.randn(b, c, h, w, 2, generator=g, dtype=dtype)
    maps = maps / maps.pow(2).sum(dim=(1, 4), keepdim=True).sqrt()
    mask = torch.zeros(b, 1, 1, w, 1, dtype=dtype)
    mask[..., ::2, :] = 1
    mask[..., w // 2 - 1:w // 2 + 1, :] = 1
    x = torch.randn(b, 2, h, w, generator=g, dtype=dtype)
    m = MRIMeasurement(torch.zeros(b, c, h, w, 2, dtype=dtype), mask, maps)
    noise = 0.01 * torch.randn(b, c, h, w, 2, generator=g, dtype=dtype)
    # noise on the sampled lines only: a measurement is zero off its mask
    return m.with_y(m.physics().A(x) + noise * mask), x


def toy_deq(alpha=0.5, weight_scale=0.5, seed=0, **kw):
    """A tiny float64 DEQ whose prior has small weights, so T is clearly contractive."""
    torch.manual_seed(seed)
    prior = EDSR(2, 2, features=4, blocks=1)
    with torch.no_grad():
        for p in prior.parameters():
            p.mul_(weight_scale)
    return DEQ(prior, alpha=alpha, **kw).double()


# ----------------------------------------------------------------------------- sizes
def test_paper_sizes():
    prior = EDSR(2, 2, 64, 13)
    assert n_params(prior) == 999_426
    assert n_params(DEQ(prior)) == 999_428
    assert {"head", "body", "tail"} <= {n for n, _ in prior.named_children()}


def test_edsr_shape_and_relu_not_inplace():
    net = EDSR(2, 2, features=8, blocks=2)
    assert net(torch.randn(2, 2, 12, 10)).shape == (2, 2, 12, 10)
    assert all(not m.inplace for m in net.modules() if isinstance(m, torch.nn.ReLU))
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        net(torch.randn(2, 3, 12, 10))


# ----------------------------------------------------------------------------- real data
def test_forward_on_tiny_mri_batch(tiny_preset, data_dir):
    ds = mri_dataset("train", tiny_preset, progress=False)
    batch = ds.batch([0, 1])
    torch.manual_seed(0)
    net = build_deq(tiny_preset).eval()
    assert net.max_iter == tiny_preset.deq_max_iter and net.tol == tiny_preset.deq_tol
    assert net.priors()[0].applications == tiny_preset.deq_max_iter   # before any solve
    x = net(batch)
    assert x.shape == (2, 2, 32, 32) and torch.isfinite(x).all() and not x.requires_grad
    stats = net.last_stats
    assert stats["iterations"] == len(stats["residuals"]) == len(stats["times"])
    assert 1 <= stats["iterations"] <= net.max_iter
    assert stats["residuals"][-1] < stats["residuals"][0]             # random prior converges
    assert all(t1 >= t0 for t0, t1 in zip(stats["times"], stats["times"][1:]))
    spec = net.priors()[0]
    assert spec.name == "prior" and spec.module is net.prior
    assert spec.ignored_layers == [net.prior.tail] and spec.applications == stats["iterations"]
    assert spec.example_inputs[0].shape == (2, 2, 32, 32)

    _, traced = net.iterate(batch, max_iter=5, tol=1e-12, solver="forward", target=batch.target)
    assert traced["iterations"] == 5 and len(traced["psnr"]) == 5
    assert all(math.isfinite(p) for p in traced["psnr"])

    # training mode: JFB gives gradients to the prior, gamma and alpha
    net.train()
    loss = (net(batch) - batch.target).pow(2).mean()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert net.gamma.grad.abs() > 0 and net.alpha.grad.abs() > 0


# ----------------------------------------------------------------------------- solvers
def test_anderson_needs_fewer_iterations_than_forward():
    # alpha = 0.1 makes T = 0.9 z + 0.1 D(z): slow linear convergence on unsampled k-space
    net = toy_deq(alpha=0.1).eval()
    m, _ = toy_measurement()
    x_f, s_f = net.iterate(m, max_iter=1000, tol=1e-8, solver="forward")
    x_a, s_a = net.iterate(m, max_iter=1000, tol=1e-8, solver="anderson")
    assert s_f["converged"] and s_a["converged"]
    assert s_a["iterations"] < s_f["iterations"] / 2, (s_a["iterations"], s_f["iterations"])
    assert torch.allclose(x_f, x_a, atol=1e-6)                         # the same fixed point
    assert net.last_stats is s_a


def test_solver_stops_at_max_iter_and_records_stats():
    def contraction(x):
        return 0.5 * x + 1.0
    x, stats = solve_fixed_point(contraction, torch.zeros(3, 4), solver="forward", max_iter=4,
                                 tol=1e-12)
    assert stats["iterations"] == 4 and not stats["converged"]
    assert stats["residuals"][0] > stats["residuals"][-1]
    x, stats = solve_fixed_point(contraction, torch.zeros(3, 4, dtype=torch.float64),
                                 solver="anderson", max_iter=50, tol=1e-10)
    assert stats["converged"] and torch.allclose(x, torch.full_like(x, 2.0))


# ----------------------------------------------------------------------------- gradients
def _param_grads(net):
    return torch.cat([p.grad.reshape(-1) for p in net.parameters()])


def _loss_grad(net, m, w):
    net.zero_grad()
    (w * net(m)).sum().backward()
    return _param_grads(net)


@pytest.mark.parametrize("backward", ["jfb", "implicit"])
def test_training_gives_gradients(backward):
    net = toy_deq(backward=backward).train()
    m, x_true = toy_measurement()
    (net(m) - x_true).pow(2).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert net.gamma.grad.abs() > 0 and net.alpha.grad.abs() > 0
    assert net.prior.head.weight.grad.abs().sum() > 0
    if backward == "implicit":
        assert net.last_backward_stats["converged"]


def test_implicit_gradient_is_exact():
    """Implicit gradient = finite differences of the fixed point = gradient of a long unroll.

    T has Lipschitz constant <= 1 - alpha (1 - Lip D) ~ 0.6 here, so both solves converge
    linearly. Forward tol 1e-13 and backward tol 1e-12 leave fixed-point errors ~1e-13, which
    perturb a central difference with step 1e-4 by ~1e-9 relative; its truncation error is
    O(eps^2) ~ 1e-8. The 150-step unroll differs from the limit by O(0.6^150). So 1e-5
    relative is a safe bound, while JFB (an approximation) misses by percent.
    """
    m, _ = toy_measurement(seed=1)
    w = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    net = toy_deq(backward="implicit", max_iter=500, tol=1e-13, backward_max_iter=500,
                  backward_tol=1e-12).train()
    g_imp = _loss_grad(net, m, w)
    assert net.last_stats["converged"] and net.last_backward_stats["converged"]

    # (a) directional finite difference over every parameter at once
    params = list(net.parameters())
    gen = torch.Generator().manual_seed(3)
    direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
    eps = 1e-4

    def loss_at(t):
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(t * d)
            net.eval()
            val = (w * net(m)).sum().item()
            for p, d in zip(params, direction):
                p.sub_(t * d)
        return val

    fd = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    analytic = float(sum((p.grad * d).sum() for p, d in zip(params, direction)))
    assert abs(fd - analytic) <= 1e-5 * abs(fd), (fd, analytic)

    # (b) gradient of unrolling 150 plain iterations from x0 = A^H y
    net.train()
    physics, y = m.physics(), m.y
    T = net.operator(physics, y)
    x = physics.A_adjoint(y)
    for _ in range(150):
        x = T(x)
    net.zero_grad()
    (w * x).sum().backward()
    g_unroll = _param_grads(net)
    assert torch.allclose(g_imp, g_unroll, rtol=1e-5, atol=1e-8 * g_unroll.abs().max())

    # JFB is only an approximation: clearly different from the exact gradient
    net.backward = "jfb"
    g_jfb = _loss_grad(net, m, w)
    assert (g_jfb - g_imp).norm() > 1e-2 * g_imp.norm()


def test_unrolled_warm_up_backprops_through_k_steps_and_eval_still_solves():
    """With unrolled_steps = K a training pass is T^K(x0) with its exact gradient; eval mode
    (and no-grad) still returns the fixed point; None switches the warm-up off."""
    m, _ = toy_measurement(seed=4)
    w = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    net = toy_deq(max_iter=200, tol=1e-10, unrolled_steps=3).train()
    out = net(m)
    physics, y = m.physics(), m.y
    T = net.operator(physics, y)
    x = physics.A_adjoint(y)
    for _ in range(3):
        x = T(x)
    torch.testing.assert_close(out, x)
    assert net.last_stats["solver"] == "unrolled" and net.last_stats["iterations"] == 3
    net.zero_grad()
    (w * out).sum().backward()
    g_net = _param_grads(net)
    net.zero_grad()
    (w * x).sum().backward()
    torch.testing.assert_close(g_net, _param_grads(net))
    # not the fixed point: evaluation solves for that, whatever unrolled_steps says
    net.eval()
    fixed = net(m)
    assert net.last_stats["converged"]
    torch.testing.assert_close(fixed, T(fixed).detach(), rtol=1e-8, atol=1e-8)
    assert (fixed - out.detach()).norm() > 1e-3 * fixed.norm()
    with torch.no_grad():
        torch.testing.assert_close(net.train()(m), fixed)
    net.unrolled_steps = None              # back to JFB: one step from the fixed point
    torch.testing.assert_close(net.train()(m).detach(), fixed, rtol=1e-8, atol=1e-8)
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="unrolled_steps"):
            net.unrolled_steps = bad


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, match", [
    ({"solver": "newton"}, "anderson"),
    ({"backward": "unrolled"}, "implicit"),
    ({"max_iter": 0}, "max_iter"),
    ({"tol": 0.0}, "tol"),
    ({"tol": -1e-3}, "tol"),
    ({"gamma": 0.0}, "gamma"),
    ({"alpha": 1.5}, "alpha"),
    ({"anderson_m": 0}, "anderson_m"),
    ({"backward_solver": "lbfgs"}, "forward"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DEQ(EDSR(2, 2, 4, 1), **kwargs)


def test_bad_measurements_and_iterate_args():
    net = toy_deq().eval()
    m, x = toy_measurement()
    with pytest.raises(TypeError, match="MRIMeasurement"):
        net(m.kspace)
    single = MRISample(m.kspace[0], m.mask[0], m.coil_maps[0], x[0])
    with pytest.raises(ValueError, match="batched"):
        net(single)
    with pytest.raises(ValueError, match="anderson"):
        net.iterate(m, solver="broyden")
    with pytest.raises(ValueError, match="max_iter"):
        net.iterate(m, max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        net.iterate(m, tol=0)
    with pytest.raises(ValueError, match="target"):
        net.iterate(m, target=x[:, :1])
    with pytest.raises(TypeError, match="prior"):
        DEQ("edsr")
