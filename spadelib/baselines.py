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

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checks
from .physics.mri import from_torch_complex, zero_filled  # noqa: F401  (re-exported)
from .physics.sr import bicubic_upsample  # noqa: F401  (re-exported: the SR baseline)

__all__ = ["zero_filled", "mri_zero_filled", "mri_regularised", "bicubic_upsample"]

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


def mri_regularised(batch, regulariser: str = "tv", lamda: float | None = None,
                    max_iter: int = 100, progress: bool = False) -> torch.Tensor:
    """Solve eq. (2), min_x 1/2 ||P F S x - y||^2 + lamda g(x), for every item of a batch.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        batch: an :class:`~spadelib.data.mri.MRIMeasurement` (or sample), batched or not.
        regulariser: ``"tv"`` (total variation, g = ||D x||_1) or ``"l1-wavelet"``.
        lamda: regularisation weight tau (data scaled so the image peaks at about 1);
            default :data:`DEFAULT_LAMDA` of the regulariser.
        max_iter: outer ADMM iterations of sigpy's solver (each runs up to 10 CG steps).
        progress: show a progress bar over the batch.

    Returns:
        ``(B, 2, H, W)`` reconstructions.
    """
    import sigpy.mri as mr

    checks.choice(regulariser, REGULARISERS, "regulariser")
    lamda = checks.positive_real(DEFAULT_LAMDA[regulariser] if lamda is None else lamda,
                                 "lamda")
    max_iter = checks.positive_int(max_iter, "max_iter")
    app_cls = mr.app.TotalVariationRecon if regulariser == "tv" else mr.app.L1WaveletRecon
    ys = _complex(batch.y)
    maps = _complex(batch.coil_maps if batch.batched else batch.coil_maps[None])
    masks = batch.measured.detach().cpu().double().numpy()[..., 0]     # (B, 1, 1, W)
    out = []
    for y, s, m in tqdm(list(zip(ys, maps, masks)), disable=not progress,
                        desc=f"{regulariser} reconstruction"):
        weights = np.broadcast_to(m, y.shape)
        x = app_cls(y, s, lamda, weights=weights, max_iter=max_iter, show_pbar=False,
                    **SOLVER).run()
        out.append(torch.from_numpy(np.asarray(x)))
    return from_torch_complex(torch.stack(out)).float()
