r"""Benchmarks behind the book's speed-up tables (paper Tables 1-2, columns Time / Speed Up).

``python -m spadelib.bench pruning`` prunes each network at several channel ratios and
measures, on the current device:

* parameters of the whole network and the fraction removed;
* MACs of one CNN application at the preset's image size (one item, counted by
  ``tp.utils.count_ops_and_params``: convolutions and norms only, FFTs and the data steps are
  not counted; transposed convs are over-counted by stride^2), and CNN applications per
  reconstruction;
* the time of one reconstruction of one measurement under the book's timing protocol
  (:data:`spadelib.timing.PROTOCOL`: one thread, warm-up, interleaved rounds, the median),
  and the speed-up over the unpruned network.

The weights are untrained (random): the time of a forward pass does not depend on their values
(the DEQ's iteration count does, so it is fixed: ``max_iter = deq_iters`` and ``tol = 1e-30``,
every run does exactly ``deq_iters`` iterations, checked). The measurement is random data of
the preset's size, so no data set is built: for MRI random k-space ``(1, C, H, W, 2)`` under the
preset's real Cartesian mask with random coil maps normalised to :math:`\sum_i |S_i|^2 = 1`;
for SR a random low-resolution image at the preset's scale with the first of the 12 kernels.

Real speed-up lags the reduction of MACs on a CPU: oneDNN pads channels to blocks of 16
(AVX-512) or 8 (AVX2), so a convolution costs about as much for any width within one block
(49 to 64 channels are all computed as 64): the paper's widths 60 / 57 / 51 (ratios 0.05 /
0.1 / 0.2 of 64) stay in the top block and can bring no speed-up there, 38 (ratio 0.4) leaves
it. ``--round-to 16`` makes the widths multiples of the block, at the price of removing more
channels than the ratio says. Chapter 4 (``book/04_l1_pruning.ipynb``) shows the measurements.

Example::

    OMP_NUM_THREADS=1 python -m spadelib.bench pruning --preset paper --networks deq,usrnet \
        --ratios 0,0.4 --repeats 3 --deq-iters 2 --out bench-pruning.json

``python -m spadelib.bench hardware`` times the same networks under the options of
:mod:`spadelib.beyond.hardware` (``round_to``, channels_last, inference_mode, torch.compile)
and prints the speed-up against the MAC ratio (Chapter 8, ``book/08_beyond.ipynb``)::

    python -m spadelib.bench hardware --preset paper --networks deq,varnet \
        --ratios 0.05,0.4 --options plain,r8,r16,r16+cl+inf --repeats 3 --deq-iters 1
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from . import checks, finetune, pruning
from .beyond import deq_speed, hardware
from .data.common import to_device
from .metrics import count_parameters
from .models import NAMES, spec
from .presets import Preset, get_preset
from .pruning import check_ratio, prune
from .tasks import MRI, SR, task_of, timed_network
from .timing import PROTOCOL, TimingProtocol, time_networks
from .training import FitConfig, fit, supervised_loss

__all__ = ["random_mri_measurement", "random_sr_measurement", "random_measurement",
           "image_size", "timed_network", "bench_pruning", "format_table", "main"]

#: a random MRI measurement (:meth:`spadelib.tasks.Task.random_measurement` of the MRI task)
random_mri_measurement = MRI.random_measurement
#: a random SR measurement (:meth:`spadelib.tasks.Task.random_measurement` of the SR task)
random_sr_measurement = SR.random_measurement


def random_measurement(name: str, preset: Preset | str | None = None, batch: int = 1,
                       seed: int = 0):
    """The random measurement that network ``name`` takes, at the preset's size: its task's
    :meth:`~spadelib.tasks.Task.random_measurement`.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
    """
    return task_of(name).random_measurement(preset, batch, seed)


def image_size(name: str, preset: Preset | str | None = None) -> tuple[int, int]:
    """(H, W) of the images the CNN priors of ``name`` see at this preset (its task's
    :meth:`~spadelib.tasks.Task.image_size`).

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
    """
    return task_of(name).image_size(preset)


def bench_pruning(preset: Preset | str | None = None, networks: Sequence[str] = NAMES,
                  ratios: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.4),
                  deq_iters: int | None = None, round_to: int | None = None,
                  protocol: TimingProtocol | None = None,
                  device: str | torch.device = "cpu", seed: int = 0,
                  log=print) -> list[dict]:
    """Parameters, MACs and reconstruction time of each network at each channel ratio.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).

    For each network, every pruned variant is built first and then all are timed together
    under ``protocol`` (default: the book's :data:`~spadelib.timing.PROTOCOL`, by
    :func:`~spadelib.timing.time_networks`: interleaved rounds, so a slowdown of a shared
    machine falls on every variant alike and the speed-ups stay fair).

    Args:
        preset: sizes of the networks and of the measurement.
        networks: names from :data:`spadelib.models.NAMES`.
        ratios: channel ratios; 0 (the unpruned baseline of the speed-up) is always measured.
        deq_iters: the DEQ's fixed number of iterations (default: the preset's budget).
        round_to: passed to :func:`~spadelib.pruning.prune` (None: the paper's counts).
        protocol: a :class:`~spadelib.timing.TimingProtocol` (default: the book's).
        device: where to run.
        seed: seeds the weights and the measurement.
        log: called with a line of progress per entry (``None``: silent).

    Returns:
        One dict per (network, ratio): ``network, ratio, params, param_reduction,
        macs_per_application`` and ``cnn_applications`` (of the main CNN prior: the one with
        the most MACs per reconstruction), ``macs_total``
        (CNN MACs of one reconstruction), ``time_ms`` (the protocol's statistic),
        ``time_mean_ms, time_std_ms, times_ms, speedup, iterations`` (DEQ), ``protocol``
        (its :meth:`~spadelib.timing.TimingProtocol.describe`) and ``device``.
    """
    P = get_preset(preset)
    deq_iters = checks.positive_int(P.deq_max_iter if deq_iters is None else deq_iters,
                                    "deq_iters")
    protocol = PROTOCOL if protocol is None else protocol
    if isinstance(networks, str):
        networks = [networks]
    specs = [spec(n) for n in networks]
    ratios = sorted({0.0, *(check_ratio(r) for r in ratios)})
    device = torch.device(device)
    rows = []
    for s in specs:
        name, task = s.name, task_of(s)
        net, measurement = timed_network(s, task, P, deq_iters, seed, device)
        size = task.image_size(P)
        variants = []
        for ratio in ratios:
            pruned, report = prune(net, ratio, round_to=round_to, macs_size=size)
            variants.append((ratio, pruned.eval(), report))
        timed = time_networks({ratio: pruned for ratio, pruned, _ in variants}, measurement,
                              protocol, iterations=deq_iters, device=device)
        base_ms = timed[0.0].ms
        for ratio, pruned, report in variants:
            t = timed[ratio].times_ms
            # the main prior (most MACs per reconstruction): USRNet's one HyPaNet application
            # is negligible and would only blur a per-application figure
            main = max(report.priors, key=lambda p: p.macs_before * p.applications)
            apps = sum(p.applications for p in report.priors if p.macs_before == main.macs_before)
            row = {"network": name, "preset": P.name, "ratio": ratio,
                   "params": count_parameters(pruned),
                   "param_reduction": report.param_reduction,
                   "channels": sorted({(g.before, g.after) for p in report.priors
                                       for g in p.groups}),
                   "macs_per_application": main.macs_after,
                   "cnn_applications": apps, "macs_total": report.macs_after,
                   "image_size": list(size), "time_ms": timed[ratio].ms,
                   "time_mean_ms": statistics.fmean(t),
                   "time_std_ms": statistics.pstdev(t) if len(t) > 1 else 0.0, "times_ms": t,
                   "speedup": base_ms / timed[ratio].ms,
                   "iterations": deq_iters if name == "deq" else None,
                   "round_to": round_to, "protocol": timed[ratio].protocol,
                   "device": str(device)}
            rows.append(row)
            if log is not None:
                log(f"{name:>10} r={ratio:<5g} {row['params']:>11,} params  "
                    f"{row['time_ms']:>10.1f} ms  x{row['speedup']:.2f}")
        del variants
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows of :func:`bench_pruning` as a Markdown table.

    Taught in Chapter 4 (``book/04_l1_pruning.ipynb``).
    """
    head = ("| network | ratio | # params | removed | GMACs / CNN app. | CNN apps | "
            "time (ms) | speed-up |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        apps = f"{r['cnn_applications']}" + (f" ({r['iterations']} it.)"
                                             if r.get("iterations") else "")
        lines.append(f"| {r['network']} | {r['ratio']:g} | {r['params']:,} | "
                     f"{100 * r['param_reduction']:.1f} % | "
                     f"{r['macs_per_application'] / 1e9:.2f} | {apps} | "
                     f"{r['time_ms']:,.1f} | x{r['speedup']:.2f} |")
    return "\n".join(lines)


def _parse_list(text: str, cast) -> list:
    return [cast(t) for t in text.split(",") if t.strip()]


def bench_steps(preset: Preset | str | None = "paper", networks: Sequence[str] = NAMES, *,
                deq_iters: int = 1, device: str = "cpu", log=print) -> list[dict]:
    """Seconds per step of each network at ``preset``'s sizes, on one sample: a pre-training
    step (forward, backward, Adam), SPADE pruning at 0.4, a fine-tuning step in each regime,
    and one reconstruction. At the paper preset this is what a step costs before a long run
    (``spade bench steps --preset paper``); the DEQ runs ``deq_iters`` solver iterations per
    application (the paper's budget is up to 100, so its real steps cost about that many
    times more than the one-iteration figure).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    P = get_preset(preset).replace(deq_max_iter=checks.positive_int(deq_iters, "deq_iters"),
                                   deq_tol=1e-30)
    rows = []
    for name in networks:
        data = task_of(name).random_samples(P, n=1, seed=1)
        torch.manual_seed(0)
        net = spec(name).build(P)
        row = {"network": name, "params": count_parameters(net)}

        def timed(key, fn):
            t0 = time.perf_counter()
            out = fn()
            row[key] = time.perf_counter() - t0  # unrounded: a tiny step is not 0
            return out

        one = FitConfig(epochs=1, batch_size=1, lr=1e-5)
        timed("pretrain_step_s", lambda: fit(net, data, supervised_loss, one, device=device,
                                            progress=False))
        net.eval()
        pruned, _ = timed("prune_s", lambda: pruning.prune(net, 0.4))
        budget = {"epochs": 1, "batch_size": 1, "preset": P, "cache": False, "device": device,
                  "progress": False}
        measurements = data.measurements_only()
        timed("supervised_step_s", lambda: finetune.finetune(pruned, "supervised", data=data,
                                                             **budget))
        timed("school_step_s", lambda: finetune.finetune(pruned, "school", data=measurements,
                                                         teacher=net, **budget))
        timed("self_supervised_step_s", lambda: finetune.finetune(
            pruned, "self-supervised", data=measurements, **budget))
        batch = to_device(data.batch([0]), device)
        with torch.no_grad():
            timed("reconstruction_s", lambda: pruned.to(device)(batch))
        rows.append(row)
        if log is not None:
            log(f"{name}: {row}")
    return rows


def _protocol(args) -> TimingProtocol:
    """The book's protocol with the command line's ``--repeats``, ``--threads`` and
    ``--statistic`` where given."""
    given = {k: getattr(args, k, None) for k in ("repeats", "threads", "statistic")}
    return PROTOCOL.replace(**{k: v for k, v in given.items() if v is not None})


def _deq_speed(args) -> int:
    """``python -m spadelib.bench deq-speed``: the time-to-quality table of the DEQ variants
    (:func:`spadelib.beyond.deq_speed.bench_time_to_quality`), printed and written to JSON."""
    cascades = None if args.cascade_iters is None else _parse_list(args.cascade_iters, int)
    start = time.perf_counter()
    out = deq_speed.bench_time_to_quality(args.preset, args.ratio, args.regime, rate=args.rate,
                                          n_samples=args.samples, repeats=args.repeats,
                                          threads=args.threads, cascade_iters=cascades,
                                          device=args.device, log=None)
    table = deq_speed.format_rows(out["rows"])
    print(table)
    print(f"target: {out['target_psnr']:.2f} dB (the reference's final PSNR "
          f"{out['reference_psnr']:.2f} dB - {out['tolerance_db']:g} dB); {out['batch']} test "
          f"samples as one batch, budget {out['max_iter']} iterations, tol {out['tol']:g}, "
          f"{out['threads']} thread(s), median of {out['repeats']} rounds")
    info = {"preset": out["preset"], "ratio": args.ratio, "regime": args.regime,
            "rate": args.rate, "device": args.device, "threads": out["threads"],
            "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
            "seconds": time.perf_counter() - start}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"info": info, **out, "table": table}, indent=1))
    print(f"wrote {path}")
    return 0


def _hardware(args) -> int:
    """``python -m spadelib.bench hardware``: :func:`spadelib.beyond.hardware.bench_hardware`,
    its table and the issue's targets, printed and written to JSON."""
    protocol = _protocol(args)
    preset = get_preset(args.preset)
    start = time.perf_counter()
    rows = hardware.bench_hardware(preset, _parse_list(args.networks, str),
                                   _parse_list(args.ratios, float), _parse_list(args.options, str),
                                   deq_iters=args.deq_iters, protocol=protocol, log=None)
    table = hardware.format_rows(rows)
    print(table)
    goals = hardware.targets(rows)
    for g in goals:
        print(f"{g['network']} at {g['ratio']:g}: best {g['best_options']}, {g['measure']} "
              f"{g['value']:.2f} (goal {'>=' if g['measure'] == 'efficiency' else '>'} "
              f"{g['goal']:g}): {'met' if g['met'] else 'NOT met'}")
    info = {"preset": preset.name, "deq_iters": args.deq_iters,
            "protocol": protocol.describe(),
            "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
            "seconds": time.perf_counter() - start}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"info": info, "rows": rows, "targets": goals, "table": table},
                              indent=1))
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m spadelib.bench pruning|steps|deq-speed|hardware [options]``
    (``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m spadelib.bench",
                                     description="Benchmarks of the SPADE book.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pruning", help="parameters, MACs and time of pruned networks")
    p.add_argument("--preset", default=None, help="quick or paper (default: $SPADE_PRESET)")
    p.add_argument("--networks", default=",".join(NAMES),
                   help="comma-separated names (default: all four)")
    p.add_argument("--ratios", default="0,0.05,0.1,0.2,0.4", help="channel ratios")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs (default: the book's protocol's)")
    p.add_argument("--deq-iters", type=int, default=None,
                   help="fixed DEQ iterations (default: the preset's budget)")
    p.add_argument("--round-to", type=int, default=None, help="round channels to a multiple")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the book's protocol's, 1)")
    p.add_argument("--out", default="bench-pruning.json", help="JSON file to write")
    q = sub.add_parser("steps", help="seconds per training / fine-tuning step at a preset's "
                                     "sizes, on one sample")
    q.add_argument("--preset", default="paper", help="quick or paper (default: paper)")
    q.add_argument("--networks", default=",".join(NAMES))
    q.add_argument("--deq-iters", type=int, default=1, help="DEQ solver iterations")
    q.add_argument("--device", default="cpu")
    d = sub.add_parser("deq-speed", help="time to quality of the DEQ: pruning, Anderson "
                                         "acceleration, warm starts (Chapter 8)")
    d.add_argument("--preset", default=None, help="quick or paper (default: $SPADE_PRESET)")
    d.add_argument("--ratio", type=float, default=0.4, help="channel ratio of the pruned DEQ")
    d.add_argument("--regime", default="supervised",
                   help="fine-tuning regime of the pruned DEQ (none: not fine-tuned)")
    d.add_argument("--rate", type=float, default=0.167, help="sampling rate")
    d.add_argument("--samples", type=int, default=4, help="test samples solved as one batch")
    d.add_argument("--repeats", type=int, default=3, help="timed rounds (median reported)")
    d.add_argument("--threads", type=int, default=1, help="torch threads for every variant")
    d.add_argument("--cascade-iters", default=None,
                   help="comma-separated pruned iterations of the cascades (default: a third "
                        "of the budget)")
    d.add_argument("--device", default=None, help="default: CUDA if available")
    d.add_argument("--out", default="bench-deq-speed.json", help="JSON file to write")
    h = sub.add_parser("hardware", help="speed-up against MAC ratio under round_to, "
                                        "channels_last, inference_mode, torch.compile (Chapter 8)")
    h.add_argument("--preset", default=None, help="quick or paper (default: $SPADE_PRESET)")
    h.add_argument("--networks", default=",".join(NAMES),
                   help="comma-separated names (default: all four)")
    h.add_argument("--ratios", default="0.05,0.4", help="channel ratios (0 is added)")
    h.add_argument("--options", default="plain,r8,r16,cl,inf,r16+cl+inf",
                   help="comma-separated labels: plain, or '+'-joined r<n> (round_to), cl "
                        "(channels_last), inf (inference_mode), compile (torch.compile)")
    h.add_argument("--repeats", type=int, default=None,
                   help="timed rounds (default: the book's protocol's)")
    h.add_argument("--deq-iters", type=int, default=2, help="fixed DEQ iterations")
    h.add_argument("--statistic", default=None, choices=("median", "min"),
                   help="the times speed-ups compare (min: the least disturbed run)")
    h.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the book's protocol's, 1)")
    h.add_argument("--out", default="bench-hardware.json", help="JSON file to write")
    args = parser.parse_args(argv)
    if args.command == "deq-speed":
        return _deq_speed(args)
    if args.command == "hardware":
        return _hardware(args)
    if args.command == "steps":
        rows = bench_steps(args.preset, _parse_list(args.networks, str),
                           deq_iters=args.deq_iters, device=args.device, log=None)
        keys = list(rows[0])
        print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for r in rows:
            print("| " + " | ".join(f"{r[k]:,}" if isinstance(r[k], int)
                                    else f"{r[k]:.3g}" if isinstance(r[k], float) else str(r[k])
                                    for k in keys) + " |")
        return 0
    protocol = _protocol(args)
    preset = get_preset(args.preset)
    networks = _parse_list(args.networks, str)
    ratios = _parse_list(args.ratios, float)
    start = time.perf_counter()
    rows = bench_pruning(preset, networks, ratios, deq_iters=args.deq_iters,
                         round_to=args.round_to, protocol=protocol, device=args.device)
    table = format_table(rows)
    print(table)
    info = {"preset": preset.name, "deq_iters": args.deq_iters,
            "round_to": args.round_to, "device": args.device,
            "protocol": protocol.describe(), "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "seconds": time.perf_counter() - start}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"info": info, "rows": rows, "table": table}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
