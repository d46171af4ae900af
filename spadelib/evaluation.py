"""One evaluation for every chapter: PSNR, SSIM, time per reconstruction and parameters,
and, for a network that solves a fixed point (the DEQ), how far its solver got
(:func:`fixed_point_report`, :func:`convergence`).

Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``) and used by every chapter after it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checks
from .data.common import SampleSet, has_ground_truth, to_device
from .metrics import count_parameters, psnr, ssim
from .timing import PROTOCOL, TimingProtocol, time_networks


@dataclass
class Evaluation:
    """Mean metrics of a network on a split.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Attributes:
        psnr, ssim: means over the samples (magnitude images, data range from the ground truth).
        psnr_std: standard deviation of the per-sample PSNR.
        time_ms: time of one reconstruction (batch of one) under the book's timing protocol
            (:data:`spadelib.timing.PROTOCOL`: a DEQ held to its full ``max_iter``; its
            iterations to tolerance are ``iterations``, apart).
        params: number of parameters of the network.
        n: number of samples evaluated.
        ssim_std: standard deviation of the per-sample SSIM.
        psnr_per_sample, ssim_per_sample: every sample's value, in the data set's order.
        time_ms_all: every timed reconstruction (milliseconds), so a reader can see the spread.
        iterations: for a network that solves a fixed point (the DEQ), the mean number of
            solver iterations over the evaluated batches; ``None`` otherwise.
        residual_median, converged_share, diverging_share, residual_rate: for a fixed-point
            network, the summary of :func:`fixed_point_report` over the samples (the median
            final relative residual, the shares of samples that reached the tolerance and that
            diverge, the median late residual ratio); ``None`` otherwise.
        residual_per_sample: every sample's final relative residual (fixed-point networks).
    """

    psnr: float
    ssim: float
    psnr_std: float
    time_ms: float
    params: int
    n: int
    ssim_std: float = float("nan")
    psnr_per_sample: list = field(default_factory=list)
    ssim_per_sample: list = field(default_factory=list)
    time_ms_all: list = field(default_factory=list)
    iterations: float | None = None
    residual_median: float | None = None
    converged_share: float | None = None
    diverging_share: float | None = None
    residual_rate: float | None = None
    residual_per_sample: list | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return (f"PSNR {self.psnr:.2f} dB, SSIM {self.ssim:.4f}, {self.time_ms:.1f} ms per "
                f"reconstruction, {self.params:,} parameters ({self.n} samples)")


def _check_inputs(net, data, batch_size) -> None:
    checks.module(net, "net")
    if not isinstance(data, SampleSet):
        raise TypeError(f"data must be a SampleSet (e.g. mri_dataset('test')), got "
                        f"{type(data).__name__}")
    checks.positive_int(batch_size, "batch_size")
    fields = getattr(data.measurement_type, "measurement_fields", None) or \
        [f for f in data.fields if f != "target"]
    for name in fields:
        checks.finite_tensor(data.fields[name], f"the measurement field {name!r} of the data")


def reconstruct(net: torch.nn.Module, data: SampleSet, batch_size: int = 4,
                device: torch.device | str | None = None, progress: bool = False) -> torch.Tensor:
    """Reconstructions of every sample of ``data`` (in order), on the CPU.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Raises:
        TypeError: ``net`` is not a network or ``data`` not a :class:`SampleSet`.
        ValueError: a bad batch size, or a measurement holds NaN or Inf.
    """
    _check_inputs(net, data, batch_size)
    return _reconstruct(net, data, batch_size, device, progress)


def _reconstruct(net, data, batch_size, device, progress, iterations: list | None = None,
                 traces: list | None = None) -> torch.Tensor:
    """The reconstructions; with ``iterations`` / ``traces`` given, each batch's solver
    iterations and each sample's residual trace (``last_stats``) are appended to them."""
    device = torch.device(device) if device is not None else next(net.parameters()).device
    was_training = net.training
    net.eval()
    out = []
    with torch.no_grad():
        for batch in tqdm(data.loader(batch_size), disable=not progress, desc="reconstructing"):
            out.append(net(to_device(batch, device)).cpu())
            stats = getattr(net, "last_stats", None)
            if iterations is not None and isinstance(stats, dict) and "iterations" in stats:
                iterations.append(stats["iterations"])
            if traces is not None and isinstance(stats, dict) and "item_residuals" in stats:
                traces.extend((list(t), stats["tol"]) for t in zip(*stats["item_residuals"]))
    net.train(was_training)
    return torch.cat(out)


def evaluate(net: torch.nn.Module, data: SampleSet, batch_size: int = 4,
             timing_repeats: int | None = None, device: torch.device | str | None = None,
             progress: bool = False, protocol: TimingProtocol | None = None) -> Evaluation:
    """PSNR, SSIM, time per reconstruction and parameters of ``net`` on ``data``.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        net: an MBDL network (``net(batched measurement) -> image``).
        data: a :class:`SampleSet` with ground truth (MRI or SR).
        batch_size: batch size of the reconstructions used for PSNR / SSIM.
        timing_repeats: timed single-sample reconstructions (default: the protocol's).
        device: where to run; default: the network's device.
        progress: show a progress bar.
        protocol: how the time of one reconstruction of the first test sample is measured
            (default: the book's :data:`~spadelib.timing.PROTOCOL`).

    Raises:
        TypeError: ``net`` is not a network or ``data`` not a :class:`SampleSet`.
        ValueError: ``data`` has no ground truth or no sample, a measurement field or the
            ground truth holds NaN or Inf, or a bad batch size or number of repeats.
    """
    _check_inputs(net, data, batch_size)
    protocol = PROTOCOL if protocol is None else protocol
    if timing_repeats is not None:
        protocol = protocol.replace(repeats=checks.positive_int(timing_repeats,
                                                                "timing_repeats"))
    if not has_ground_truth(data):
        raise ValueError("evaluate needs a split with ground truth; this set holds measurements "
                         "only")
    if len(data) == 0:
        raise ValueError("evaluate got an empty data set")
    checks.finite_tensor(data.fields["target"], "the ground truth 'target' of the data")
    iterations: list = []
    traces: list = []
    recon = _reconstruct(net, data, batch_size, device, progress, iterations, traces)
    fp = fixed_point_report(*zip(*traces)) if traces else None
    target = data.fields["target"]
    complex_input = target.shape[1] == 2
    p = np.atleast_1d(psnr(recon, target, complex_input=complex_input))
    s = np.atleast_1d(ssim(recon, target, complex_input=complex_input))
    dev = torch.device(device) if device is not None else next(net.parameters()).device
    one = to_device(data.batch([0]), dev)
    was_training = net.training
    net.eval()
    timed = time_networks({"net": net}, one, protocol, device=dev)["net"]
    net.train(was_training)
    return Evaluation(float(p.mean()), float(s.mean()), float(p.std()), timed.ms,
                      count_parameters(net), len(data), ssim_std=float(s.std()),
                      psnr_per_sample=[float(v) for v in p],
                      ssim_per_sample=[float(v) for v in s],
                      time_ms_all=[float(t) for t in timed.times_ms],
                      iterations=float(np.mean(iterations)) if iterations else None,
                      **(fp.summary() if fp else {}),
                      residual_per_sample=fp.final if fp else None)


@dataclass
class FixedPointReport:
    r"""How far a fixed-point solver got on each sample, read off its residual traces.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    A sample's trace is its relative fixed-point residual :math:`r_k = \|T(x_k) - x_k\| /
    \|x_k\|` after each iteration (:func:`spadelib.models.deq.solve_fixed_point`), cut after
    the first iteration below the tolerance (a batch iterates until its last sample
    converges; the iterations after a sample's own convergence are not its own).

    * *converged*: some :math:`r_k` fell below the tolerance;
    * *diverging*: not converged, and the last residual is not finite or larger than the
      first, :math:`r_K > r_1`: the solver ended farther from a fixed point than one step
      from the start. A sample that merely stalls (:math:`r_1 > r_K \geq` tol) is neither;
    * *rate*: the mean ratio of successive residuals over the last (up to) five iterations,
      :math:`(r_K / r_{K-j})^{1/j}`, an empirical contraction factor of the solver there
      (below 1: still shrinking; about 1: stalled; NaN for a one-iteration trace). For
      Anderson acceleration it is the accelerated rate, not the Lipschitz constant of T.

    Attributes:
        traces: each sample's residual trace (cut as above), in the data set's order.
        tol: the solver's tolerance.
    """

    traces: list
    tol: float

    @property
    def final(self) -> list[float]:
        """Each sample's residual at its last iteration."""
        return [t[-1] for t in self.traces]

    @property
    def best(self) -> list[float]:
        """Each sample's smallest residual (the iterate the DEQ solver returns); NaN if none
        is finite."""
        return [min((r for r in t if math.isfinite(r)), default=math.nan) for t in self.traces]

    @property
    def iterations(self) -> list[int]:
        """Each sample's iterations (up to and including its first below the tolerance)."""
        return [len(t) for t in self.traces]

    @property
    def converged(self) -> list[bool]:
        return [t[-1] < self.tol for t in self.traces]

    @property
    def diverging(self) -> list[bool]:
        return [not c and (not math.isfinite(t[-1]) or t[-1] > t[0])
                for t, c in zip(self.traces, self.converged)]

    @property
    def rate(self) -> list[float]:
        out = []
        for t in self.traces:
            j = min(5, len(t) - 1)
            ok = j > 0 and all(math.isfinite(r) and r > 0 for r in (t[-1], t[-1 - j]))
            out.append((t[-1] / t[-1 - j]) ** (1 / j) if ok else math.nan)
        return out

    def summary(self) -> dict:
        """``residual_median`` (median final residual), ``converged_share``,
        ``diverging_share`` and ``residual_rate`` (median rate over the samples with one)."""
        rates = [r for r in self.rate if math.isfinite(r)]
        final = [r if math.isfinite(r) else math.inf for r in self.final]   # NaN: diverged
        return {"residual_median": float(np.median(final)),
                "converged_share": float(np.mean(self.converged)),
                "diverging_share": float(np.mean(self.diverging)),
                "residual_rate": float(np.median(rates)) if rates else math.nan}


def fixed_point_report(traces, tols) -> FixedPointReport:
    """A :class:`FixedPointReport` from each sample's full residual trace and its solver's
    tolerance (one tolerance, or one per sample, all equal).

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Raises:
        ValueError: no trace, an empty trace, or samples solved with different tolerances.
    """
    traces = [[float(r) for r in t] for t in traces]
    tols = {float(t) for t in (tols if isinstance(tols, (list, tuple)) else [tols])}
    if not traces or not all(traces):
        raise ValueError("fixed_point_report needs one non-empty residual trace per sample")
    if len(tols) != 1:
        raise ValueError(f"the samples were solved with different tolerances: {sorted(tols)}")
    tol = tols.pop()
    cut = [t[:next((k + 1 for k, r in enumerate(t) if r < tol), len(t))] for t in traces]
    return FixedPointReport(cut, tol)


def convergence(net: torch.nn.Module, data: SampleSet, batch_size: int = 4,
                device: torch.device | str | None = None) -> FixedPointReport:
    """The :class:`FixedPointReport` of a fixed-point network (the DEQ) on ``data``: its
    solver's residual traces while reconstructing every sample, in batches of ``batch_size``
    (as :func:`evaluate`, whose summary columns it gives).

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Raises:
        TypeError: as :func:`reconstruct`.
        ValueError: as :func:`reconstruct`, or ``net`` records no residual traces (it is no
            fixed-point network).
    """
    _check_inputs(net, data, batch_size)
    traces: list = []
    _reconstruct(net, data, batch_size, device, False, None, traces)
    if not traces:
        raise ValueError(f"{type(net).__name__} records no residual traces (last_stats "
                         "with item_residuals): convergence needs a fixed-point network, the DEQ")
    return fixed_point_report(*zip(*traces))
