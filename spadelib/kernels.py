"""The 12 blur kernels of the super-resolution experiments (USRNet's reference set, our design).

Every kernel is ``(size, size)`` (25 x 25 by default), non-negative and sums to 1, with its
centre at index ``size // 2`` (the convention of :func:`spadelib.physics.sr.kernel_to_otf`):

* 1-4: isotropic Gaussians, sigma = 0.7, 1.2, 1.6, 2.0 pixels;
* 5-8: anisotropic Gaussians (sigma_1, sigma_2, theta) = (2.0, 0.6, 0°), (2.6, 1.0, 45°),
  (1.6, 0.8, 110°), (3.0, 1.4, 150°): long axis sigma_1 at angle theta counter-clockwise from
  the horizontal, as displayed;
* 9-12: camera-shake motion blurs, :func:`motion_kernel` with seeds 1-4.

Example:
    >>> from spadelib.kernels import sr_kernels, KERNEL_NAMES
    >>> k = sr_kernels()           # (12, 25, 25) float32
    >>> KERNEL_NAMES[4]
    'aniso 2.0/0.6 0°'

The authors' own 12 kernels (``kernels_12.mat``, the set the paper evaluates on) are read by
:func:`load_kernels`.

Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from . import checks

__all__ = ["gaussian_kernel", "motion_kernel", "sr_kernels", "load_kernels", "KERNEL_NAMES",
           "ISO_SIGMAS", "ANISO_PARAMS", "MOTION_SEEDS"]

#: sigma of the isotropic Gaussians (kernels 1-4)
ISO_SIGMAS = (0.7, 1.2, 1.6, 2.0)
#: (sigma_1, sigma_2, theta in degrees) of the anisotropic Gaussians (kernels 5-8)
ANISO_PARAMS = ((2.0, 0.6, 0.0), (2.6, 1.0, 45.0), (1.6, 0.8, 110.0), (3.0, 1.4, 150.0))
#: seeds of the motion blurs (kernels 9-12)
MOTION_SEEDS = (1, 2, 3, 4)

KERNEL_NAMES = tuple(
    [f"iso σ={s}" for s in ISO_SIGMAS]
    + [f"aniso {a}/{b} {t:g}°" for a, b, t in ANISO_PARAMS]
    + [f"motion #{i + 1}" for i in range(len(MOTION_SEEDS))])


def _gaussian_np(sigma_x: float, sigma_y: float, theta: float, size: int) -> np.ndarray:
    c = size // 2
    t = math.radians(theta)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    cov = rot @ np.diag([sigma_x ** 2, sigma_y ** 2]) @ rot.T
    prec = np.linalg.inv(cov)
    rows, cols = np.mgrid[0:size, 0:size]
    u = cols - c          # horizontal offset, to the right
    v = c - rows          # vertical offset, upwards (rows grow downwards)
    q = prec[0, 0] * u * u + 2 * prec[0, 1] * u * v + prec[1, 1] * v * v
    k = np.exp(-0.5 * q)
    return k / k.sum()


def gaussian_kernel(sigma_x: float, sigma_y: float | None = None, theta: float = 0.0,
                    size: int = 25) -> torch.Tensor:
    """A (possibly anisotropic, rotated) Gaussian blur kernel.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    With offsets ``d = (u, v)`` from the centre pixel ``size // 2`` (u to the right, v upwards
    as displayed), ``R`` the rotation by ``theta`` and
    ``Sigma = R diag(sigma_x^2, sigma_y^2) R^T``:

        k(d) = exp(-d^T Sigma^{-1} d / 2) / sum_d' exp(-d'^T Sigma^{-1} d' / 2).

    Args:
        sigma_x: std (pixels) along the first principal axis, > 0.
        sigma_y: std along the second axis; default ``sigma_x`` (isotropic).
        theta: angle of the first axis, in **degrees**, counter-clockwise from the horizontal.
        size: side of the square kernel (default 25).

    Returns:
        float32 tensor ``(size, size)``, non-negative, summing to 1.

    Raises:
        ValueError: a non-positive sigma or a bad size.
    """
    size = checks.positive_int(size, "size")
    sigma_y = sigma_x if sigma_y is None else sigma_y
    sigma_x = checks.positive_real(sigma_x, "sigma_x (pixels)")
    sigma_y = checks.positive_real(sigma_y, "sigma_y (pixels)")
    theta = checks.real(theta, "theta (degrees)")
    return torch.from_numpy(_gaussian_np(sigma_x, sigma_y, theta, size)).float()


def motion_kernel(seed: int, size: int = 25) -> torch.Tensor:
    """A seeded random camera-shake blur.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Our own simple model of a shaking hand-held camera, fully determined by ``seed``:

    1. *Trajectory*: 2-D random walk with momentum over T = 48 exposure instants,
       ``v_t = 0.8 v_{t-1} + 0.6 n_t`` (``n_t`` standard normal, ``v_0`` a unit vector in a
       random direction), ``p_t = p_{t-1} + v_t``; so the path drifts and curves smoothly.
    2. *Extent*: the path is centred on its mean and scaled so that its farthest point lies
       ``r`` pixels from the centre (Chebyshev distance), ``r`` uniform in
       ``[0.35, 0.85] * (size // 2 - 2)`` (about 3.5 to 8.5 pixels for 25 x 25).
    3. *Exposure*: each segment p_{t-1} -> p_t gets the same exposure time, spread over 16
       points along it, each splatted bilinearly into the grid (so slow parts of the path
       are brighter, as in a real photo; bilinear splatting keeps the centre of mass at the
       kernel centre).
    4. *Smoothing*: a 3 x 3 binomial filter (``[1, 2, 1] / 4`` in each direction) models the
       lens and sensor, then the kernel is normalised to sum 1.

    Args:
        seed: any int; the same seed always gives the same kernel.
        size: side of the square kernel, >= 9 (default 25).

    Returns:
        float32 tensor ``(size, size)``, non-negative, summing to 1, centred: its centre of
        mass is exactly the centre pixel ``size // 2`` (splatting and the symmetric smoothing
        keep the mean of the path, and the path stays 2 pixels inside the border), so the
        blur does not shift the image.
    """
    size = checks.integer(size, "size", low=9)
    seed = checks.integer(seed, "seed")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5ADE])
    steps, sub = 48, 16
    phi = rng.uniform(0, 2 * np.pi)
    v = np.array([np.cos(phi), np.sin(phi)])
    pts = [np.zeros(2)]
    for _ in range(steps):
        v = 0.8 * v + 0.6 * rng.standard_normal(2)
        pts.append(pts[-1] + v)
    pts = np.asarray(pts)
    # dense samples, equal exposure per step
    t = (np.arange(sub) + 0.5) / sub
    dense = (pts[:-1, None, :] * (1 - t)[None, :, None]
             + pts[1:, None, :] * t[None, :, None]).reshape(-1, 2)
    dense -= dense.mean(axis=0)
    radius = rng.uniform(0.35, 0.85) * (size // 2 - 2)
    extent = np.abs(dense).max()
    if extent > 0:
        dense *= radius / extent
    c = size // 2
    xy = dense + c                     # (col, row) positions in the grid
    k = np.zeros((size, size))
    x0 = np.floor(xy[:, 0]).astype(int)
    y0 = np.floor(xy[:, 1]).astype(int)
    fx = xy[:, 0] - x0
    fy = xy[:, 1] - y0
    for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                        (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (y0 + dy, x0 + dx), wgt)
    b = np.array([0.25, 0.5, 0.25])
    padded = np.pad(k, ((1, 1), (0, 0)))
    k = sum(b[i] * padded[i:i + size, :] for i in range(3))          # vertical
    padded = np.pad(k, ((0, 0), (1, 1)))
    k = sum(b[j] * padded[:, j:j + size] for j in range(3))          # horizontal
    k = np.clip(k, 0, None)
    return torch.from_numpy(k / k.sum()).float()


def sr_kernels(size: int = 25) -> torch.Tensor:
    """The 12 kernels of the SR experiments, in the order of :data:`KERNEL_NAMES`.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        size: side of each kernel (default 25, as in USRNet), >= 9.

    Returns:
        float32 tensor ``(12, size, size)``; each kernel non-negative and summing to 1.
    """
    size = checks.integer(size, "size", low=9)
    ks = [gaussian_kernel(s, size=size) for s in ISO_SIGMAS]
    ks += [gaussian_kernel(a, b, t, size=size) for a, b, t in ANISO_PARAMS]
    ks += [motion_kernel(seed, size=size) for seed in MOTION_SEEDS]
    return torch.stack(ks)


#: negative entries down to this fraction of a kernel's largest entry are rounding noise
#: (clipped to 0); larger ones are refused
_NEGATIVE_TOLERANCE = 1e-6


def _kernel_list(raw: np.ndarray, label: str) -> list:
    """The kernels of a ``kernels`` MAT variable: a cell array, or a numeric (K, k, k) array."""
    if raw.dtype == object:                      # a MATLAB cell array: (1, K) or (K, 1)
        return [np.asarray(k) for k in raw.reshape(-1)]
    if raw.ndim == 3:
        return list(raw)
    if raw.ndim == 2:
        return [raw]
    raise ValueError(f"{label}: the variable 'kernels' has shape {raw.shape}; expected a "
                     f"1 x K cell array of k x k kernels or a numeric (K, k, k) array")


def load_kernels(path: str | os.PathLike) -> torch.Tensor:
    """Read blur kernels from a MATLAB file, e.g. the USRNet authors' ``kernels_12.mat``.

    Why: the paper evaluates USRNet on the authors' 12 kernels, which ship only as a MAT file;
    :func:`sr_kernels` is our own reconstruction of that set. Pass the result as the
    ``kernels`` of :func:`spadelib.data.sr_dataset`.

    The file must hold a variable ``kernels``: a MATLAB cell array of k x k kernels
    (``scipy.io.loadmat`` reads the official ``1 x 12`` cell as an object array of shape
    ``(1, 12)``), or a numeric ``(K, k, k)`` array. Each kernel must be 2-D, square, of the
    same size as the others, finite, with a positive sum and no negative entry (entries above
    ``-1e-6`` times the kernel's maximum are rounding noise and are set to 0). Each kernel is
    then **normalised to sum 1**, so that blurring keeps the mean intensity
    (:mod:`spadelib.physics.sr`). Kernels are used as stored, centre at index ``k // 2``.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        path: the ``.mat`` file (MATLAB v4 to v7.2; save v7.3 files with ``-v7``).

    Returns:
        float32 tensor ``(K, k, k)`` (``(12, 25, 25)`` for ``kernels_12.mat``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable MAT file, no ``kernels`` variable, or a kernel that breaks
            the rules above; the message names the file (and the kernel).
    """
    import scipy.io  # heavy dependency, only to read a MAT file

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    file = Path(path).expanduser()
    label = str(file)
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise FileNotFoundError(f"kernel file {label} {what}: pass the path of a .mat file "
                                f"such as the USRNet authors' kernels_12.mat")
    try:
        mat = scipy.io.loadmat(str(file))
    except NotImplementedError:                  # MATLAB v7.3 (HDF5)
        raise ValueError(f"{label} is a MATLAB v7.3 (HDF5) file, which scipy cannot read: "
                         f"save it again in MATLAB with save(..., '-v7')") from None
    except Exception as err:  # noqa: BLE001 - any failure means: not a MAT file
        raise ValueError(f"{label} is not a readable MATLAB .mat file ({type(err).__name__}: "
                         f"{str(err).strip()[:120]})") from None
    if "kernels" not in mat:
        names = sorted(k for k in mat if not k.startswith("__")) or ["none"]
        raise ValueError(f"{label} has no variable 'kernels' (its variables: "
                         f"{', '.join(names)}); the official file is kernels_12.mat")
    kernels = _kernel_list(np.asarray(mat["kernels"]), label)
    if not kernels:
        raise ValueError(f"{label}: the variable 'kernels' holds no kernel")
    out = []
    for i, k in enumerate(kernels):
        where = f"{label}: kernel {i + 1} of {len(kernels)}"
        if k.dtype == object or not np.issubdtype(k.dtype, np.number) or \
                np.iscomplexobj(k):
            raise ValueError(f"{where} is not a real numeric array (dtype {k.dtype})")
        if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] == 0:
            raise ValueError(f"{where} has shape {k.shape}; each kernel must be a 2-D square "
                             f"k x k array")
        if k.shape != kernels[0].shape:
            raise ValueError(f"{where} is {k.shape}, kernel 1 is {kernels[0].shape}; all "
                             f"kernels must have the same size")
        k = k.astype(np.float64)
        if not np.isfinite(k).all():
            raise ValueError(f"{where} holds NaN or Inf values")
        if k.min() < -_NEGATIVE_TOLERANCE * max(abs(k).max(), 1e-300):
            raise ValueError(f"{where} has negative entries (down to {k.min():.3g}); a blur "
                             f"kernel must be non-negative")
        k = np.clip(k, 0.0, None)
        if not k.sum() > 0:
            raise ValueError(f"{where} sums to 0; a blur kernel must have a positive sum")
        out.append(k / k.sum())
    return torch.from_numpy(np.stack(out)).float()
