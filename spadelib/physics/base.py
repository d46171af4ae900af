"""The one interface every measurement model of the book shares.

A measurement model is a linear operator ``A`` with its adjoint ``A_adjoint``; the data-fidelity
term of eq. (2) is h(x) = 1/2 ||A x - y||_2^2, whose gradient is ``A^H (A x - y)``. MBDL networks
only ever talk to the physics through these methods, so a DEQ written for MRI runs unchanged on
super-resolution.

Inner products are real: <u, v> = sum(u * v) over every entry of the real tensors (complex data
is stored as a trailing or channel axis of size 2, see each operator's docstring). For a
complex-linear operator this real inner product makes ``A_adjoint`` the Hermitian adjoint A^H.

Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
"""
from __future__ import annotations

import torch


class LinearPhysics:
    """Base class: ``y = A x`` (eq. 1 without noise), its adjoint and the data-fidelity term.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Subclasses implement :meth:`A` and :meth:`A_adjoint`; everything else is derived.
    """

    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802 (the maths name)
        raise NotImplementedError

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(x)

    def residual(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``A x - y``.

        Raises:
            TypeError: ``y`` is not a real floating-point tensor (complex data is stored as a
                trailing or channel axis of size 2: ``torch.view_as_real(y)``).
            ValueError: ``y`` does not have the shape of ``A x``.
        """
        check_measurements(y, "y")
        ax = self.A(x)
        if y.shape != ax.shape:
            raise ValueError(f"y must have the shape of A x, {tuple(ax.shape)}, got "
                             f"{tuple(y.shape)}")
        return ax - y

    def data_fidelity(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """h(x) = 1/2 ||A x - y||^2, one value per batch item: shape (B,)."""
        r = self.residual(x, y)
        return 0.5 * r.pow(2).flatten(1).sum(1)

    def grad(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gradient of h at x: ``A^H (A x - y)``, the same shape as x (used in eq. 3)."""
        return self.A_adjoint(self.residual(x, y))

    def to(self, *args, **kwargs) -> "LinearPhysics":
        """Move every tensor attribute (coil maps, masks, kernels) like ``Tensor.to``."""
        for name, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(*args, **kwargs))
        return self


def inner(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Real inner product <u, v> summed over all entries (float64 for the adjointness tests).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    return (u.double() * v.double()).sum()


def check_measurements(y, name: str = "y") -> None:
    """Refuse measurements that are not a real floating-point tensor.

    The operators store complex data as an axis of size 2 (real, imaginary); a complex-dtype
    tensor would broadcast against them and give complex residuals of the wrong shape.

    Raises:
        TypeError: naming ``name``, what it must be and its type or dtype.
    """
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y.is_complex():
        raise TypeError(f"{name} must be a real floating-point tensor with complex values "
                        f"stored as an axis of size 2 (real, imaginary), got dtype {y.dtype}: "
                        f"pass torch.view_as_real({name})")
    if not y.is_floating_point():
        raise TypeError(f"{name} must be a real floating-point tensor, got dtype {y.dtype}")


def check_shape(t: torch.Tensor, name: str, ndim: int, layout: str, *, last: int | None = None,
                dim1: int | None = None) -> None:
    """Raise a ValueError naming the tensor and the expected layout when ``t`` does not fit.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        t: the tensor to check.
        name: its name in the message (``"x"``, ``"coil_maps"``).
        ndim: expected number of dimensions.
        layout: the documented layout, e.g. ``"(B, 2, H, W) real/imag"``.
        last: required size of the last axis, if any.
        dim1: required size of axis 1, if any.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {layout}, got {type(t).__name__}")
    ok = t.dim() == ndim and (last is None or t.shape[-1] == last) and (
        dim1 is None or t.shape[1] == dim1)
    if not ok:
        raise ValueError(f"{name} must have shape {layout}, got {tuple(t.shape)}")
