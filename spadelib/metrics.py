"""Image-quality metrics, latency and parameter counts: the numbers every table of the book shows.

PSNR and SSIM are computed the way fastMRI evaluates (``fastmri/evaluate.py``): with
scikit-image's ``peak_signal_noise_ratio`` and ``structural_similarity`` on *magnitude* images,
with the data range taken from the ground truth (``target.max()``). Complex MRI images are real
tensors (B, 2, H, W) (channel 0 real, 1 imaginary); pass ``complex_input=True`` and both images
are turned into magnitudes (B, 1, H, W) first. Super-resolution images are (B, 3, H, W) in [0, 1].

Shapes accepted by :func:`psnr` and :func:`ssim`:

* (H, W) or (C, H, W): one image, the result is a ``float``;
* (B, C, H, W): a batch, the result is a numpy array of B per-image values (each image with its
  own data range, as fastMRI does per volume).

Latency is the median wall-clock time of several calls (:func:`measure_latency`), with CUDA
synchronisation so that asynchronous kernels are counted.

Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from . import checks

__all__ = [
    "magnitude",
    "psnr",
    "ssim",
    "LatencyResult",
    "measure_latency",
    "count_parameters",
]

def _to_numpy(x: Any, name: str) -> np.ndarray:
    """A float64 numpy copy of a tensor or array (detached, on the CPU)."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise TypeError(f"{name} is a complex torch tensor; store complex images as a real "
                            f"tensor with a channel of size 2, (B, 2, H, W) real/imag")
        return x.detach().cpu().to(torch.float64).numpy()
    arr = np.asarray(x)
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} is a complex array; store complex images as a real array "
                        f"with a channel of size 2, (B, 2, H, W) real/imag")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise TypeError(f"{name} must be a torch tensor or a numeric numpy array, "
                        f"got {type(x).__name__} of dtype {arr.dtype}")
    return arr.astype(np.float64)


def magnitude(x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Magnitude of a complex image stored as real/imaginary channels.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        x: (..., 2, H, W) real tensor or array, channel 0 the real part and channel 1 the
            imaginary part (e.g. (B, 2, H, W) or (2, H, W)).

    Returns:
        (..., 1, H, W) sqrt(re^2 + im^2), the same type (torch or numpy), dtype and device as x;
        the channel axis is kept (size 1) so the image layout is unchanged.

    Raises:
        ValueError: when x has fewer than 3 dimensions or its channel axis (-3) is not of size 2.
    """
    if x.ndim < 3 or x.shape[-3] != 2:
        raise ValueError(f"magnitude expects a complex image (..., 2, H, W) with real/imag "
                         f"channels at axis -3, got shape {tuple(x.shape)}")
    if isinstance(x, torch.Tensor):
        return torch.sqrt(x[..., 0:1, :, :] ** 2 + x[..., 1:2, :, :] ** 2)
    x = np.asarray(x)
    return np.sqrt(x[..., 0:1, :, :] ** 2 + x[..., 1:2, :, :] ** 2)


def _prepare_pair(pred: Any, target: Any, complex_input: bool, metric: str
                  ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Both images as float64 numpy arrays of shape (B, C, H, W), and whether it was a batch."""
    p = _to_numpy(pred, "pred")
    t = _to_numpy(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"{metric}: pred and target must have the same shape, got pred "
                         f"{tuple(p.shape)} and target {tuple(t.shape)}")
    if p.ndim not in (2, 3, 4):
        raise ValueError(f"{metric}: expected images of shape (H, W), (C, H, W) or "
                         f"(B, C, H, W), got {tuple(p.shape)}")
    if complex_input:
        if p.ndim == 2 or p.shape[-3] != 2:
            raise ValueError(f"{metric}: complex_input=True needs real/imag channels, shape "
                             f"(2, H, W) or (B, 2, H, W), got {tuple(p.shape)}")
        p, t = magnitude(p), magnitude(t)
    batched = p.ndim == 4
    if p.ndim == 2:
        p, t = p[None, None], t[None, None]
    elif p.ndim == 3:
        p, t = p[None], t[None]
    return p, t, batched


def _data_range(t: np.ndarray, data_range: float | None, metric: str, index: int,
                batched: bool) -> float:
    """The fastMRI data range: ``target.max()`` unless given; must be positive."""
    dr = float(t.max()) if data_range is None else float(data_range)
    if not np.isfinite(dr) or dr <= 0:
        where = f" (batch item {index})" if batched else ""
        raise ValueError(f"{metric}: data range is {dr:g}{where}; the data range is taken from "
                         f"target.max(), so the target must have a positive maximum (is the "
                         f"target all zeros?). Pass data_range= explicitly otherwise.")
    return dr


def psnr(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *,
         complex_input: bool = False, data_range: float | None = None) -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB, as fastMRI evaluates it.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    PSNR = 10 log10(data_range^2 / MSE) with data_range = ``target.max()`` (per image), computed
    by ``skimage.metrics.peak_signal_noise_ratio`` on magnitude images.

    Args:
        pred: reconstruction, (H, W), (C, H, W) or (B, C, H, W); torch tensor or numpy array.
        target: ground truth, the same shape as ``pred``.
        complex_input: the channel axis holds real/imag parts (C = 2); both images are converted
            to magnitudes (:func:`magnitude`) before the metric.
        data_range: override the data range (default: the target's maximum, per image).

    Returns:
        A float for one image; a numpy array of shape (B,) for a batch (B, C, H, W).

    Raises:
        ValueError: shapes differ, an unsupported number of dimensions, or a data range <= 0
            (e.g. an all-zero target).
    """
    p, t, batched = _prepare_pair(pred, target, complex_input, "psnr")
    values = np.empty(p.shape[0])
    for i in range(p.shape[0]):
        dr = _data_range(t[i], data_range, "psnr", i, batched)
        if np.array_equal(p[i], t[i]):
            values[i] = np.inf
            continue
        values[i] = peak_signal_noise_ratio(t[i], p[i], data_range=dr)
    return values if batched else float(values[0])


def ssim(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *,
         complex_input: bool = False, data_range: float | None = None) -> float | np.ndarray:
    """Structural similarity, as fastMRI evaluates it.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    ``skimage.metrics.structural_similarity`` with its defaults (7 x 7 uniform window) on
    magnitude images, with data_range = ``target.max()`` (per image). Multi-channel images
    (e.g. RGB, C = 3) use ``channel_axis=0``: the mean SSIM over channels.

    Args:
        pred: reconstruction, (H, W), (C, H, W) or (B, C, H, W); torch tensor or numpy array.
            H and W must be at least 7 (the SSIM window).
        target: ground truth, the same shape as ``pred``.
        complex_input: the channel axis holds real/imag parts (C = 2); both images are converted
            to magnitudes (:func:`magnitude`) before the metric.
        data_range: override the data range (default: the target's maximum, per image).

    Returns:
        A float for one image; a numpy array of shape (B,) for a batch (B, C, H, W).

    Raises:
        ValueError: shapes differ, an unsupported number of dimensions, an image smaller than
            7 x 7, or a data range <= 0 (e.g. an all-zero target).
    """
    p, t, batched = _prepare_pair(pred, target, complex_input, "ssim")
    h, w = p.shape[-2:]
    if min(h, w) < 7:
        raise ValueError(f"ssim: images must be at least 7 x 7 (the SSIM window), got "
                         f"{h} x {w}")
    values = np.empty(p.shape[0])
    for i in range(p.shape[0]):
        dr = _data_range(t[i], data_range, "ssim", i, batched)
        if p.shape[1] == 1:
            values[i] = structural_similarity(t[i, 0], p[i, 0], data_range=dr)
        else:
            values[i] = structural_similarity(t[i], p[i], data_range=dr, channel_axis=0)
    return values if batched else float(values[0])


@dataclass
class LatencyResult:
    """Wall-clock latency of repeated calls (see :func:`measure_latency`).

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    Attributes:
        median_ms: median time of one call, in milliseconds (the number the book reports).
        mean_ms: mean time, in milliseconds.
        std_ms: standard deviation (population), in milliseconds; 0 for one repeat.
        times_ms: every timed call, in milliseconds, in order.
        device: the device the timing was taken on, e.g. ``"cpu"`` or ``"cuda:0"``.
        repeats: number of timed calls.
    """

    median_ms: float
    mean_ms: float
    std_ms: float
    times_ms: list[float] = field(repr=False)
    device: str
    repeats: int

    def __str__(self) -> str:
        return (f"{self.median_ms:.2f} ms median (mean {self.mean_ms:.2f} ± {self.std_ms:.2f} "
                f"ms, {self.repeats} runs on {self.device})")


def _find_device(fn: Any, args: tuple, kwargs: dict) -> torch.device:
    """The device of the first tensor among the arguments, else of the module's parameters."""
    def tensors(obj: Any, depth: int = 0):
        if isinstance(obj, torch.Tensor):
            yield obj
        elif depth < 2 and isinstance(obj, (list, tuple)):
            for o in obj:
                yield from tensors(o, depth + 1)
        elif depth < 2 and isinstance(obj, dict):
            for o in obj.values():
                yield from tensors(o, depth + 1)

    for t in tensors((args, kwargs)):
        return t.device
    if isinstance(fn, torch.nn.Module):
        for p in fn.parameters():
            return p.device
    return torch.device("cpu")


def measure_latency(fn: Callable[..., Any], *args: Any, warmup: int = 2, repeats: int = 10,
                    device: str | torch.device | None = None, **kwargs: Any) -> LatencyResult:
    """Median wall-clock time of ``fn(*args, **kwargs)`` under ``torch.no_grad()``.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    The first ``warmup`` calls are not timed (they absorb lazy initialisation, cuDNN autotuning,
    allocator growth); then ``repeats`` calls are timed one by one with ``time.perf_counter``.
    On a CUDA device the GPU is synchronised before and after every timed call, so the time
    covers the asynchronous kernels too.

    Args:
        fn: the callable to time (a network, ``physics.A``, a whole reconstruction).
        *args: positional arguments of ``fn``, e.g. a (B, 2, H, W) input tensor.
        warmup: untimed calls first, >= 0.
        repeats: timed calls, >= 1.
        device: the device to synchronise; default: that of the first tensor argument, else of
            ``fn``'s parameters when it is an ``nn.Module``, else the CPU.
        **kwargs: keyword arguments of ``fn``.

    Returns:
        A :class:`LatencyResult` (median, mean and std in ms, every time, device, repeats).

    Raises:
        ValueError: ``repeats < 1`` or ``warmup < 0``.
    """
    repeats = checks.positive_int(repeats, "measure_latency: repeats")
    warmup = checks.nonnegative_int(warmup, "measure_latency: warmup")
    dev = torch.device(device) if device is not None else _find_device(fn, args, kwargs)
    is_cuda = dev.type == "cuda"

    def sync() -> None:
        if is_cuda:
            torch.cuda.synchronize(dev)

    times: list[float] = []
    with torch.no_grad():
        for _ in range(int(warmup)):
            fn(*args, **kwargs)
        sync()
        for _ in range(int(repeats)):
            start = time.perf_counter()
            fn(*args, **kwargs)
            sync()
            times.append((time.perf_counter() - start) * 1e3)
    return LatencyResult(
        median_ms=float(statistics.median(times)),
        mean_ms=float(statistics.fmean(times)),
        std_ms=float(statistics.pstdev(times)) if len(times) > 1 else 0.0,
        times_ms=times,
        device=str(dev),
        repeats=int(repeats),
    )


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of a module (shared parameters counted once).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        module: any ``nn.Module``.
        trainable_only: count only parameters with ``requires_grad=True``.

    Returns:
        The total number of parameter entries.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``.
    """
    checks.module(module, "count_parameters: module")
    return int(sum(p.numel() for p in module.parameters()
                   if p.requires_grad or not trainable_only))
