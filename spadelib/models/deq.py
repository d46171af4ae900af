r"""Deep equilibrium model (DEQ) for multi-coil CS-MRI with an EDSR prior (paper eq. 3-4).

The DEQ's output is a fixed point :math:`\bar x = T_\theta(\bar x)` of the relaxed PnP
proximal-gradient operator

.. math::

    z = x - \gamma A^H (A x - y), \qquad
    T_\theta(x) = \alpha\, D_\theta(z) + (1 - \alpha)\, z,

with :math:`D_\theta` an :class:`~spadelib.models.edsr.EDSR` on ``(B, 2, H, W)`` real/imag
images, and the step :math:`\gamma` and relaxation :math:`\alpha` trainable scalars. Eq. (3) of
the paper is the case :math:`\alpha = 1`.

*Forward pass* (no gradients): starting from the zero-filled image :math:`x_0 = A^H y`, either
plain forward iteration :math:`x_{k+1} = T(x_k)` or Anderson acceleration
(:func:`solve_fixed_point`), stopped when the relative change falls below ``tol`` for every
item of the batch.

*Backward pass* (training only), two choices:

* ``"jfb"``, Jacobian-free backprop (Fung et al. 2022): one more application
  :math:`x = T(\bar x)` with :math:`\bar x` detached, i.e. eq. (4) with the inverse
  :math:`(I - \partial_x T)^{-\top}` replaced by the identity. Cheap, and a descent direction
  when T is contractive.
* ``"implicit"``: the exact gradient of eq. (4). The incoming gradient :math:`v = \nabla\ell(\bar
  x)` is replaced by the solution :math:`g` of :math:`g = v + (\partial_x T(\bar x))^\top g`,
  found by a fixed-point solve whose steps are vector-Jacobian products
  (:func:`torch.autograd.grad`), and then pushed through :math:`\partial_\theta T(\bar x)`.

*Unrolled warm-up* (training only, opt-in): with ``unrolled_steps = K`` set, a training
forward pass is instead K weight-tied steps :math:`x_K = T^K(x_0)` from the zero-filled image,
back-propagated through in full, as in deep unfolding. A step costs K applications of T and no
fixed-point solve, and the gradient is exact for what it computes; pre-training
(:func:`spadelib.zoo.pretrained`) uses it for the first part of a short budget and then trains
the equilibrium itself (JFB or implicit).

Why :math:`\gamma = 1`, :math:`\alpha = 0.5` by default: with ESPIRiT maps
(:math:`\sum_i |S_i|^2 \le 1`) and an orthonormal FFT, :math:`\|A^H A\| \le 1`, so the data step
:math:`x \mapsto x - \gamma A^H(Ax - y)` is non-expansive for :math:`0 < \gamma \le 2`, and with
:math:`\gamma = 1` its linear part :math:`I - A^H A` is the projection onto the unsampled
k-space lines (for unit-norm maps). Then :math:`\mathrm{Lip}(T) \le 1 - \alpha(1 -
\mathrm{Lip}(D))`: the relaxation keeps T contractive for any prior with
:math:`\mathrm{Lip}(D) < 1` and only marginally expansive otherwise, where eq. (3) alone
(:math:`\alpha = 1`) inherits the prior's constant unchanged.

Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn

from .. import checks
from ..data.common import to_device
from ..data.mri import MRIMeasurement
from ..metrics import psnr
from ..presets import Preset, get_preset
from .base import MBDLNetwork, PriorSpec
from .edsr import EDSR

SOLVERS = ("forward", "anderson")
BACKWARDS = ("jfb", "implicit")


def _check_solver(solver: str, name: str = "solver") -> str:
    return checks.choice(solver, SOLVERS, name)


def _check_budget(max_iter, tol, what: str = "") -> tuple[int, float]:
    """``(max_iter, tol)`` of a solver, checked: an int >= 1 and a finite number > 0."""
    return (checks.positive_int(max_iter, f"{what}max_iter"),
            checks.positive_real(tol, f"{what}tol"))


def solve_fixed_point(fn: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, *,
                      solver: str = "anderson", max_iter: int = 100, tol: float = 1e-4,
                      m: int = 5, lam: float = 1e-4, beta: float = 1.0,
                      callback: Callable[[int, torch.Tensor], None] | None = None
                      ) -> tuple[torch.Tensor, dict]:
    r"""Find :math:`x = f(x)` by forward iteration or Anderson acceleration, batched.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Every iteration evaluates ``fn`` once, at the current iterate :math:`x_k`, and measures the
    relative fixed-point residual per batch item

    .. math:: r_k = \|f(x_k) - x_k\| / \|x_k\|,

    which for forward iteration is the relative change :math:`\|x_{k+1} - x_k\| / \|x_k\|`
    between consecutive images (the quantity of the paper's stopping rule and Figure 2). It
    stops as soon as :math:`\max_b r_k < \mathrm{tol}` or after ``max_iter`` evaluations, and
    returns, for each item, :math:`f(x_k)` at its iterate of smallest residual (the last one
    unless the iteration is non-monotone).

    Anderson acceleration (type II, memory m) keeps the last :math:`n \le m` pairs
    :math:`(x_i, f_i)` and residuals :math:`G = [f_i - x_i]` (per item, :math:`n \times N`), solves

    .. math:: \min_a \|G^\top a\|^2 + \lambda \bar h \|a\|^2 \;\;\text{s.t.}\;\; \sum_i a_i = 1,

    with :math:`\bar h = \mathrm{tr}(GG^\top)/n` (so the regularisation is scale-free), via the
    bordered system :math:`\begin{bmatrix}0 & 1^\top\\ 1 & GG^\top + \lambda\bar h I
    \end{bmatrix}\begin{bmatrix}\nu\\ a\end{bmatrix} = \begin{bmatrix}1\\0\end{bmatrix}` in
    float64, and sets :math:`x_{k+1} = \beta \sum_i a_i f_i + (1 - \beta)\sum_i a_i x_i`. The
    first step is a plain forward step.

    Args:
        fn: the map f, ``(B, ...) -> (B, ...)``.
        x0: the starting point ``(B, ...)``.
        solver: ``"forward"`` or ``"anderson"``.
        max_iter: most evaluations of ``fn`` (>= 1).
        tol: stopping threshold on :math:`\max_b r_k` (> 0).
        m: Anderson memory (>= 1; ``m = 1`` is forward iteration).
        lam: relative Tikhonov regularisation of the Anderson least squares (>= 0).
        beta: Anderson mixing (1 = use the f values only).
        callback: called as ``callback(k, f(x_k))`` after each evaluation (e.g. to record
            PSNR); its run time is not counted in ``times``.

    Returns:
        ``(x, stats)``: x of the shape of ``x0``, and a dict with ``iterations`` (evaluations of
        fn), ``residuals`` (:math:`\max_b r_k` per iteration), ``item_residuals`` (per
        iteration, the list of every item's :math:`r_k`: what
        :func:`spadelib.evaluation.fixed_point_report` reads), ``times`` (cumulative seconds
        after each iteration), ``converged`` (bool), ``solver`` and ``tol``.

    Raises:
        ValueError: unknown solver, max_iter < 1, tol <= 0, m < 1 or lam < 0.
    """
    _check_solver(solver)
    _check_budget(max_iter, tol)
    checks.positive_int(m, "Anderson memory m")
    checks.real(lam, "Anderson regularisation lam", low=0.0)
    shape, b = x0.shape, x0.shape[0]
    cuda = x0.is_cuda
    start, paused = time.perf_counter(), 0.0
    x = x0.reshape(b, -1)
    n_feat = x.shape[1]
    if solver == "anderson":
        xs = x.new_zeros(b, m, n_feat)
        fs = x.new_zeros(b, m, n_feat)
    best_f = x.clone()
    best_r = torch.full((b,), math.inf, dtype=torch.float64, device=x.device)
    residuals: list[float] = []
    item_residuals: list[list[float]] = []
    times: list[float] = []
    converged = False
    tiny = torch.finfo(x.dtype).tiny
    for k in range(max_iter):
        f = fn(x.view(shape)).reshape(b, -1)
        r = ((f - x).norm(dim=1) / x.norm(dim=1).clamp_min(tiny)).double()
        better = r < best_r                                   # False for NaN residuals
        best_r = torch.where(better, r, best_r)
        best_f = torch.where(better[:, None], f, best_f)
        r_max = r.max().item()                                # synchronises a GPU
        if cuda:
            torch.cuda.synchronize(x.device)
        times.append(time.perf_counter() - start - paused)
        residuals.append(r_max)
        item_residuals.append(r.tolist())
        if callback is not None:
            t = time.perf_counter()
            callback(k, f.view(shape))
            paused += time.perf_counter() - t
        if r_max < tol:
            converged = True
            break
        if not math.isfinite(r_max):
            break
        if solver == "forward" or m == 1:
            x = f
            continue
        slot = k % m
        xs[:, slot], fs[:, slot] = x, f
        n = min(k + 1, m)
        if n == 1:
            x = f if beta == 1.0 else beta * f + (1 - beta) * x
            continue
        g = (fs[:, :n] - xs[:, :n]).double()                  # (B, n, N)
        gram = g @ g.transpose(1, 2)                          # (B, n, n)
        scale = gram.diagonal(dim1=1, dim2=2).sum(1) / n
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        eye = torch.eye(n, dtype=torch.float64, device=x.device)
        system = torch.zeros(b, n + 1, n + 1, dtype=torch.float64, device=x.device)
        system[:, 0, 1:] = 1.0
        system[:, 1:, 0] = 1.0
        system[:, 1:, 1:] = gram + lam * scale[:, None, None] * eye
        rhs = torch.zeros(b, n + 1, 1, dtype=torch.float64, device=x.device)
        rhs[:, 0] = 1.0
        a = torch.linalg.solve(system, rhs)[:, 1:, 0].to(x.dtype)   # (B, n), sums to 1
        x_new = torch.einsum("bn,bnd->bd", a, fs[:, :n])
        if beta != 1.0:
            x_new = beta * x_new + (1 - beta) * torch.einsum("bn,bnd->bd", a, xs[:, :n])
        # a failed least-squares solve falls back to the plain step
        ok = torch.isfinite(x_new).all(dim=1, keepdim=True)
        x = torch.where(ok, x_new, f)
    stats = {"iterations": len(residuals), "residuals": residuals,
             "item_residuals": item_residuals, "times": times, "converged": converged,
             "solver": solver, "tol": float(tol)}
    return best_f.view(shape), stats


class DEQ(MBDLNetwork):
    r"""Deep equilibrium network for multi-coil MRI: the fixed point of a relaxed PnP step.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    ``T(x) = alpha * prior(z) + (1 - alpha) * z`` with ``z = x - gamma * A^H (A x - y)``; the
    output is :math:`\bar x = T(\bar x)` found from :math:`x_0 = A^H y` (module docstring).

    Args:
        prior: the CNN D, ``(B, 2, H, W) -> (B, 2, H, W)`` (an :class:`EDSR`); it needs a
            ``tail`` attribute (the output conv, which pruning leaves alone).
        gamma: initial step size (trainable; > 0).
        alpha: initial relaxation (trainable; in (0, 1]; 1 = eq. (3) of the paper).
        max_iter: most forward-solver iterations (paper: 100).
        tol: stop at relative change < tol (paper: 1e-4).
        solver: ``"anderson"`` or ``"forward"``.
        backward: ``"jfb"`` or ``"implicit"`` (gradient used in training).
        anderson_m: Anderson memory.
        anderson_lam: relative regularisation of Anderson's least squares.
        backward_solver, backward_max_iter, backward_tol: the solver of the implicit backward
            linear fixed point ``g = v + J^T g`` (relative change < backward_tol).
        unrolled_steps: ``None`` (default), or K >= 1 for the unrolled warm-up: in training
            mode with gradients, forward returns :math:`T^K(x_0)` with full backprop instead
            of the fixed point (module docstring). Evaluation always solves for the fixed
            point. It is not part of the weights (a loaded network has ``None``).

    Attributes:
        last_stats: stats of the latest forward solve (:func:`solve_fixed_point`), or None.
        last_backward_stats: stats of the latest implicit backward solve, or None.

    Shapes:
        ``forward(measurement)``: batched :class:`~spadelib.data.MRIMeasurement` with k-space
        ``(B, C, H, W, 2)`` -> image ``(B, 2, H, W)``.
    """

    task = "mri"
    name = "deq"

    def __init__(self, prior: nn.Module, gamma: float = 1.0, alpha: float = 0.5,
                 max_iter: int = 100, tol: float = 1e-4, solver: str = "anderson",
                 backward: str = "jfb", anderson_m: int = 5, anderson_lam: float = 1e-4,
                 backward_solver: str = "anderson", backward_max_iter: int = 50,
                 backward_tol: float = 1e-4, unrolled_steps: int | None = None):
        super().__init__()
        checks.module(prior, "prior (e.g. an EDSR)")
        if not hasattr(prior, "tail"):
            raise ValueError("prior needs a 'tail' attribute (its output conv, which pruning "
                             "must leave alone), as EDSR has")
        checks.positive_real(gamma, "gamma (step size)")
        checks.real(alpha, "alpha (relaxation)", low=0.0, high=1.0, low_open=True)
        _check_solver(solver)
        _check_solver(backward_solver, "backward_solver")
        checks.choice(backward, BACKWARDS, "backward")
        max_iter, tol = _check_budget(max_iter, tol)
        backward_max_iter, backward_tol = _check_budget(backward_max_iter, backward_tol,
                                                        "backward_")
        anderson_m = checks.positive_int(anderson_m, "anderson_m")
        checks.real(anderson_lam, "anderson_lam", low=0.0)
        self.prior = prior
        self.gamma = nn.Parameter(torch.tensor(float(gamma)))
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))
        self.max_iter, self.tol, self.solver, self.backward = max_iter, float(tol), solver, backward
        self.anderson_m, self.anderson_lam = anderson_m, float(anderson_lam)
        self.backward_solver = backward_solver
        self.backward_max_iter, self.backward_tol = backward_max_iter, float(backward_tol)
        self.unrolled_steps = unrolled_steps
        self.last_stats: dict | None = None
        self.last_backward_stats: dict | None = None

    @property
    def unrolled_steps(self) -> int | None:
        """K of the unrolled warm-up (``None``: train the fixed point)."""
        return self._unrolled_steps

    @unrolled_steps.setter
    def unrolled_steps(self, value: int | None) -> None:
        if value is not None:
            value = checks.positive_int(value, "unrolled_steps (None or K)")
        self._unrolled_steps = value

    # ------------------------------------------------------------------ the operator
    def operator(self, physics, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The map ``T`` of one measurement: ``(B, 2, H, W) -> (B, 2, H, W)``."""
        def T(x: torch.Tensor) -> torch.Tensor:  # noqa: N802
            z = x - self.gamma * physics.grad(x, y)
            return self.alpha * self.prior(z) + (1 - self.alpha) * z
        return T

    def _unpack(self, measurement):
        if not isinstance(measurement, MRIMeasurement):
            raise TypeError("DEQ expects a batched MRIMeasurement (or MRISample) with k-space "
                            f"(B, C, H, W, 2), got {type(measurement).__name__}")
        if not measurement.batched:
            raise ValueError("DEQ expects a batched MRIMeasurement: k-space (B, C, H, W, 2), got "
                             f"{tuple(measurement.kspace.shape)}; use SampleSet.batch() or a "
                             "loader")
        measurement = to_device(measurement, self.gamma.device)
        return measurement.physics(), measurement.y

    def _solve(self, T, x0, solver, max_iter, tol, callback=None):
        with torch.no_grad():
            return solve_fixed_point(T, x0, solver=solver, max_iter=max_iter, tol=tol,
                                     m=self.anderson_m, lam=self.anderson_lam,
                                     callback=callback)

    # ------------------------------------------------------------------ public API
    def forward(self, measurement: MRIMeasurement) -> torch.Tensor:
        """Reconstruct a batch: ``(B, C, H, W, 2)`` k-space -> ``(B, 2, H, W)`` image.

        In training mode with gradients enabled the result carries the JFB or implicit
        gradient (class docstring), or is :math:`T^K(x_0)` during an unrolled warm-up
        (``unrolled_steps``); otherwise it is the detached fixed point.
        """
        physics, y = self._unpack(measurement)
        T = self.operator(physics, y)
        with torch.no_grad():
            x0 = physics.A_adjoint(y)
        if self.unrolled_steps is not None and torch.is_grad_enabled() and self.training:
            x = x0
            for _ in range(self.unrolled_steps):
                x = T(x)
            self.last_stats = {"iterations": self.unrolled_steps, "residuals": [],
                               "times": [], "converged": False, "solver": "unrolled"}
            return x
        x_star, self.last_stats = self._solve(T, x0, self.solver, self.max_iter, self.tol)
        if not (torch.is_grad_enabled() and self.training):
            return x_star
        x_star = x_star.detach()
        if self.backward == "jfb":
            return T(x_star)
        return self._implicit(T, x_star)

    def _implicit(self, T, x_star: torch.Tensor) -> torch.Tensor:
        """``T(x*)`` whose backward pass solves ``g = v + J^T g`` (J = dT/dx at x*)."""
        x_in = x_star.detach().requires_grad_(True)
        f = T(x_in)
        out = f.clone()  # the hook sits on `out`, so the VJPs through `f` do not re-trigger it

        def hook(v: torch.Tensor) -> torch.Tensor:
            def step(g: torch.Tensor) -> torch.Tensor:
                (vjp,) = torch.autograd.grad(f, x_in, g, retain_graph=True)
                return v + vjp
            g, stats = solve_fixed_point(step, v, solver=self.backward_solver,
                                         max_iter=self.backward_max_iter, tol=self.backward_tol,
                                         m=self.anderson_m, lam=self.anderson_lam)
            self.last_backward_stats = stats
            return g

        out.register_hook(hook)
        return out

    def iterate(self, measurement: MRIMeasurement, max_iter: int | None = None,
                tol: float | None = None, solver: str | None = None,
                target: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Run the forward solver alone (no gradients) and record its trace (Figure 2).

        Args:
            measurement: a batched MRIMeasurement.
            max_iter, tol, solver: override the network's settings for this call.
            target: optional ground truth ``(B, 2, H, W)``: then ``stats["psnr"]`` holds the
                batch-mean PSNR (dB, magnitude images) of the output after each iteration.

        Returns:
            ``(x, stats)``: the image ``(B, 2, H, W)`` and the stats of
            :func:`solve_fixed_point` (``iterations``, ``residuals``, ``times`` and, with a
            target, ``psnr``). Also stored as ``self.last_stats``.
        """
        solver = _check_solver(self.solver if solver is None else solver)
        max_iter, tol = _check_budget(self.max_iter if max_iter is None else max_iter,
                                      self.tol if tol is None else tol)
        self.check_measurement(measurement)     # iterate bypasses forward and its pre-hook
        physics, y = self._unpack(measurement)
        T = self.operator(physics, y)
        callback, trace = None, []
        if target is not None:
            expected = (y.shape[0], 2) + tuple(y.shape[2:4])
            if not isinstance(target, torch.Tensor) or tuple(target.shape) != expected:
                got = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target)
                raise ValueError(f"target must have shape (B, 2, H, W) = {expected}, got {got}")
            target_cpu = target.detach().cpu()

            def callback(k, x):
                trace.append(float(psnr(x.detach().cpu(), target_cpu, complex_input=True).mean()))
        with torch.no_grad():
            x0 = physics.A_adjoint(y)
        x, stats = self._solve(T, x0, solver, max_iter, tol, callback)
        if target is not None:
            stats["psnr"] = trace
        self.last_stats = stats
        return x, stats

    def priors(self) -> list[PriorSpec]:
        """The EDSR prior; applications = iterations of the last solve (max_iter before any)."""
        p = next(self.prior.parameters(), None)
        kw = {} if p is None else {"device": p.device, "dtype": p.dtype}
        applications = self.last_stats["iterations"] if self.last_stats else self.max_iter
        return [PriorSpec(name="prior", module=self.prior,
                          example_inputs=(torch.randn(2, 2, 32, 32, **kw),),
                          ignored_layers=[self.prior.tail], applications=applications)]

    def extra_repr(self) -> str:
        return (f"solver={self.solver!r}, backward={self.backward!r}, max_iter={self.max_iter}, "
                f"tol={self.tol:g}")


def build_deq(preset: Preset | str | None = None, **kwargs) -> DEQ:
    """The DEQ of a preset: ``EDSR(2, 2, deq_features, deq_blocks)`` with its solver budget,
    its solver (``deq_solver``) and its initial relaxation (``deq_alpha``): at ``paper`` the
    paper's forward iteration of eq. (3), at ``quick`` Anderson with alpha = 0.5.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        preset: a :class:`~spadelib.presets.Preset` or its name (default: the current one).
        **kwargs: further :class:`DEQ` arguments (``solver``, ``backward``, ...); they take
            precedence over the preset's.
    """
    preset = get_preset(preset)
    prior = EDSR(2, 2, preset.deq_features, preset.deq_blocks)
    kwargs.setdefault("max_iter", preset.deq_max_iter)
    kwargs.setdefault("tol", preset.deq_tol)
    kwargs.setdefault("solver", preset.deq_solver)
    kwargs.setdefault("alpha", preset.deq_alpha)
    return DEQ(prior, **kwargs)
