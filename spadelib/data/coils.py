"""Coil compression: fewer, *virtual* receiver coils that keep the dominant part of the signal.

Real multi-coil scans come with different coil counts (fastMRI's brain files hold from a handful
to about twenty coils), but a batch of measurements needs one coil count, and every operation of
an MBDL network costs in proportion to it. Coil compression is the standard answer (Buehrer et
al. 2007, "Array compression for MRI with large coil arrays"; Huang et al. 2008, "A software
channel compression technique for faster reconstruction with many channels"; Zhang et al. 2013,
"Coil compression for accelerated imaging with Cartesian sampling", the *geometric* variant that
aligns the compression along the readout): replace the ``C`` physical coils by ``K < C``
linear combinations of them.

Here the combination is the principal-component (SVD) one. Stack every pixel of every slice of
a volume as a column of a ``(C, N)`` matrix ``X`` of coil values; its left singular vectors
``U`` (the eigenvectors of the coil covariance ``X X^H``, sorted by energy) give the virtual
coils ``U_K^H X`` with ``U_K`` the ``K`` dominant ones. Because ``U`` is unitary:

* with ``K = C`` nothing is lost: per pixel, the vector of coil values is only rotated, so the
  root-sum-of-squares (RSS) image and any coil-combined image are preserved exactly;
* with ``K < C`` the virtual coils span the dominant ``K``-dimensional subspace of the coil
  values, so the RSS image (and the coil-combined image) is preserved up to the discarded
  energy, the sum of the ``C - K`` smallest eigenvalues. Coil sensitivities are smooth and
  overlapping, so a few components carry nearly all of the signal.

The compression is linear and acts on the coil axis only, so it commutes with the per-coil
Fourier transform: compressing k-space or coil images is the same. One matrix is computed per
volume (from all the slices used), so every slice of a subject sees the same virtual array.

Used by the fastMRI loader (:mod:`spadelib.data.fastmri`), the real-data counterpart of
Chapter 1 (``book/01_inverse_problems.ipynb``).
"""
from __future__ import annotations

import numpy as np

from .. import checks

__all__ = ["compression_matrix", "compress_coils", "retained_energy", "rss"]


def _coil_columns(data: np.ndarray, coil_axis: int) -> np.ndarray:
    """``data`` as a ``(C, N)`` complex128 matrix: the coil axis first, everything else flat."""
    a = np.asarray(data)
    if a.ndim < 2:
        raise ValueError(f"coil data needs a coil axis and at least one sample axis, got shape "
                         f"{a.shape}")
    return np.moveaxis(a, coil_axis, 0).reshape(a.shape[coil_axis], -1).astype(np.complex128)


def compression_matrix(data: np.ndarray, coils: int, coil_axis: int = -3) -> np.ndarray:
    """The ``(coils, C)`` SVD coil-compression matrix of multi-coil data.

    Its rows are the ``coils`` dominant principal directions of the coil values (orthonormal,
    so ``M @ M.conj().T`` is the identity), each with a fixed phase (its largest entry real and
    positive) so the result does not depend on the eigen-solver's arbitrary phases.

    Args:
        data: complex multi-coil data, k-space or coil images: e.g. ``(C, H, W)`` for one slice
            or ``(S, C, H, W)`` for a volume (the same matrix then serves every slice).
        coils: the number of virtual coils ``K``, at most ``C``.
        coil_axis: the coil axis of ``data`` (default ``-3``).

    Raises:
        ValueError: ``coils`` is more than the data has: zero-padded coils would carry no
            signal and break coil-map estimation (ESPIRiT).

    Background for Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    coils = checks.positive_int(coils, "coils")
    x = _coil_columns(data, coil_axis)
    n_coils = x.shape[0]
    if coils > n_coils:
        raise ValueError(f"cannot compress {n_coils} coils to {coils}: compression only "
                         "reduces the coil count; use data with at least that many coils")
    gram = x @ x.conj().T                                   # (C, C) coil covariance
    energy, vectors = np.linalg.eigh(gram)                  # ascending
    vectors = vectors[:, np.argsort(energy)[::-1][:coils]]  # (C, K), dominant first
    peak = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(coils)]
    vectors = vectors * (np.abs(peak) / np.where(peak == 0, 1, peak))
    return vectors.conj().T.astype(np.complex64)


def compress_coils(data: np.ndarray, matrix: np.ndarray, coil_axis: int = -3) -> np.ndarray:
    """Apply a ``(K, C)`` compression matrix to the coil axis of ``data``: ``K`` virtual coils.

    Background for Chapter 1 (``book/01_inverse_problems.ipynb``).

    Raises:
        ValueError: the matrix does not fit the data's coil count.
    """
    a = np.asarray(data)
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[1] != a.shape[coil_axis]:
        raise ValueError(f"a compression matrix of shape {m.shape} does not fit data with "
                         f"{a.shape[coil_axis]} coils (shape {a.shape}): expected (K, "
                         f"{a.shape[coil_axis]})")
    moved = np.moveaxis(a, coil_axis, -1)                   # coils last
    out = moved @ m.T.astype(np.result_type(moved, m))
    return np.moveaxis(out, -1, coil_axis).astype(np.complex64)


def retained_energy(data: np.ndarray, matrix: np.ndarray, coil_axis: int = -3) -> float:
    """The fraction of the data's energy (sum of ``|.|^2``) that compression keeps, in [0, 1].

    Background for Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    total = float(np.sum(np.abs(np.asarray(data)) ** 2))
    kept = float(np.sum(np.abs(compress_coils(data, matrix, coil_axis)) ** 2))
    return kept / total if total > 0 else 1.0


def rss(coil_images: np.ndarray, coil_axis: int = -3) -> np.ndarray:
    """Root-sum-of-squares over the coil axis: the standard coil-combined magnitude image.

    Background for Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    return np.sqrt(np.sum(np.abs(np.asarray(coil_images)) ** 2, axis=coil_axis))
