"""Classical reconstructions: the anchors every learned network is compared with.

* CS-MRI: the zero-filled image ``A^H y`` and sparsity-regularised reconstructions that solve
  eq. (2) with h(x) = 1/2 ||A x - y||^2 and g = total variation or an l1 wavelet penalty
  (sigpy's ``TotalVariationRecon`` / ``L1WaveletRecon``; sigpy's centred orthonormal FFT is the
  same as fastMRI's, so its ``SenseRecon`` forward model equals :class:`MultiCoilMRI`).
* Super-resolution: bicubic interpolation (:func:`spadelib.physics.sr.bicubic_upsample`).

Each task's classical baseline is also :meth:`spadelib.tasks.Task.baseline`. Taught in
Chapter 1 (``book/01_inverse_problems.ipynb``).
"""
from __future__ import annotations

import importlib
import os

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checks
from .physics.mri import from_torch_complex, zero_filled  # noqa: F401  (re-exported)
from .physics.sr import bicubic_upsample  # noqa: F401  (re-exported: the SR baseline)
from .workers import pool_size, process_pool

__all__ = ["zero_filled", "mri_zero_filled", "mri_regularised", "default_workers",
           "bicubic_upsample"]

REGULARISERS = ("tv", "l1-wavelet")


def mri_zero_filled(batch) -> torch.Tensor:
    """Zero-filled reconstructions ``A^H y`` of an :class:`~spadelib.data.MRIMeasurement` (or
    sample): ``(B, 2, H, W)`` (``B = 1`` for a single one).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    return batch.physics().A_adjoint(batch.y)


def _complex(t: torch.Tensor) -> np.ndarray:
    a = t.detach().cpu().double().numpy()
    return a[..., 0] + 1j * a[..., 1]


# weights chosen on the quick preset's validation split (Chapter 1 shows the sweep)
DEFAULT_LAMDA = {"tv": 3e-4, "l1-wavelet": 1e-5}
# ADMM with inner conjugate gradients converges in far fewer iterations than sigpy's default
# primal-dual solver here: each ADMM step solves the data term nearly exactly with a few CG
# steps, so a fixed budget of outer iterations gets much closer to the minimiser
SOLVER = {"solver": "ADMM", "rho": 0.1, "max_cg_iter": 10}


def default_workers() -> int:
    """Processes :func:`mri_regularised` solves in by default: the CPU cores this process may
    use, at most 8 (sigpy's solver runs on one core, and a slice's solve is independent of the
    others).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                     # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _solve_one(regulariser: str, y: np.ndarray, maps: np.ndarray, mask: np.ndarray,
               lamda: float, max_iter: int) -> np.ndarray:
    """One slice's solve of eq. (2) by sigpy (run in a worker process or in this one)."""
    import sigpy.mri as mr  # optional heavy dependency (sigpy), loaded by the first solve

    app_cls = mr.app.TotalVariationRecon if regulariser == "tv" else mr.app.L1WaveletRecon
    weights = np.broadcast_to(mask, y.shape)
    x = app_cls(y, maps, lamda, weights=weights, max_iter=max_iter, show_pbar=False,
                **SOLVER).run()
    return np.asarray(x)


def mri_regularised(batch, regulariser: str = "tv", lamda: float | None = None,
                    max_iter: int = 100, progress: bool = False,
                    workers: int | None = None) -> torch.Tensor:
    """Solve eq. (2), min_x 1/2 ||P F S x - y||^2 + lamda g(x), for every item of a batch.

    The items are solved independently, by the same sigpy solver, so the result does not
    depend on ``workers``: more workers only solve several slices at once.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        batch: an :class:`~spadelib.data.mri.MRIMeasurement` (or sample), batched or not.
        regulariser: ``"tv"`` (total variation, g = ||D x||_1) or ``"l1-wavelet"``.
        lamda: regularisation weight tau (data scaled so the image peaks at about 1);
            default :data:`DEFAULT_LAMDA` of the regulariser.
        max_iter: outer ADMM iterations of sigpy's solver (each runs up to 10 CG steps). A
            fixed budget: at the smallest weights the solver has not converged when it stops,
            and the early stop regularises too (Chapter 1's exercises measure how much).
        progress: show a progress bar over the batch.
        workers: processes to solve the slices in (forked from this one, so nothing is
            re-imported; on Linux only, elsewhere the slices are solved here); default
            :func:`default_workers`; 1 solves them here, one by one.

    Returns:
        ``(B, 2, H, W)`` reconstructions.
    """
    importlib.import_module("sigpy.mri")      # imported here, so forked workers inherit it

    checks.choice(regulariser, REGULARISERS, "regulariser")
    lamda = checks.positive_real(DEFAULT_LAMDA[regulariser] if lamda is None else lamda,
                                 "lamda")
    max_iter = checks.positive_int(max_iter, "max_iter")
    workers = default_workers() if workers is None else checks.positive_int(workers, "workers")
    ys = _complex(batch.y)
    maps = _complex(batch.coil_maps if batch.batched else batch.coil_maps[None])
    masks = batch.measured.detach().cpu().double().numpy()[..., 0]     # (B, 1, 1, W)
    jobs = [(regulariser, y, s, m, float(lamda), max_iter) for y, s, m in zip(ys, maps, masks)]
    bar = tqdm(total=len(jobs), disable=not progress, desc=f"{regulariser} reconstruction")
    workers = pool_size(workers, len(jobs))
    if workers <= 1:
        out = []
        for job in jobs:
            out.append(_solve_one(*job))
            bar.update()
    else:
        with process_pool(workers) as ex:
            futures = [ex.submit(_solve_one, *job) for job in jobs]
            out = []
            for f in futures:
                out.append(f.result())
                bar.update()
    bar.close()
    return from_torch_complex(torch.stack([torch.from_numpy(x) for x in out])).float()
