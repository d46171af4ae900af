"""One evaluation for every chapter: PSNR, SSIM, time per reconstruction and parameters.

Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``) and used by every chapter after it.
"""
from __future__ import annotations

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


def _reconstruct(net, data, batch_size, device, progress, iterations: list | None = None
                 ) -> torch.Tensor:
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
    recon = _reconstruct(net, data, batch_size, device, progress, iterations)
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
                      iterations=float(np.mean(iterations)) if iterations else None)
