r"""Time to quality for the DEQ: pruning, Anderson acceleration and warm starts, timed honestly.

Pruning cuts the cost of one iteration of the DEQ; Anderson acceleration and a better start
cut the number of iterations. What counts is their product: the wall time until the
reconstruction is as good as the paper's setting (unpruned DEQ, forward iteration) makes it.
:func:`deq_trace` records the PSNR and the cumulative wall time after every iteration of one
variant, :func:`time_to_quality` reads off when a target is first reached, and
:func:`compare_variants` tables the variants against the paper's setting. The target is within
``tolerance_db`` (0.1 dB) of the reference's final PSNR under its own budget; a variant that
never gets there within the same iteration budget has no time to quality (``None``).

Timing rules, so that the speed-ups compare: the same thread count and iteration budget for
every variant (budgets are iterations, never seconds); untimed warm-up iterations first;
interleaved rounds (one run of each variant per round) and the median over the rounds, so a
slowdown of a shared machine falls on all of them; the clock covers the start and every
iteration and leaves out only the PSNR bookkeeping; iterations are counted apart from seconds.

Starts: :math:`A^H y` (the DEQ's own), an explicit image (e.g. a neighbouring slice's
solution), or a *cascade*: the first iterations with a cheaper network (the pruned DEQ), the
rest with the network itself, which therefore ends at its own fixed point and, unlike the
pruned DEQ alone, can reach the unpruned quality.

Taught in Chapter 8 (``book/08_beyond.ipynb``).
"""
from __future__ import annotations

import statistics
import time
from typing import Sequence

import torch

from .. import checks
from ..data.common import SampleSet, has_ground_truth, to_device
from ..experiments import runner
from ..experiments.grid import Cell
from ..metrics import count_parameters, psnr
from ..models.deq import DEQ, SOLVERS, build_deq, solve_fixed_point
from ..presets import get_preset
from ..pruning import check_ratio, prune
from ..tasks import MRI
from ..timing import PROTOCOL, TimingProtocol, time_networks
from ..timing import threads as _threads

__all__ = ["deq_trace", "time_to_quality", "iterations_to_quality", "compare_variants",
           "bench_time_to_quality", "iteration_cost", "format_rows", "format_costs"]

#: what the time is measured against: the paper's setting
REFERENCE = "unpruned + forward"


def _check_deq(net, name: str) -> DEQ:
    checks.module(net, name)
    if not isinstance(net, DEQ):
        raise TypeError(f"{name} must be a DEQ (spadelib.models.deq.DEQ), got "
                        f"{type(net).__name__}")
    return net


def _batch(data, samples):
    """One batched MRISample with ground truth from a SampleSet (``samples``: indices)."""
    if not isinstance(data, SampleSet):
        raise TypeError(f"data must be a SampleSet of MRI samples (e.g. "
                        f"task_of('deq').test_data()), got {type(data).__name__}")
    if not has_ground_truth(data):
        raise ValueError("time to quality needs the ground truth to compute PSNR; this set "
                         "holds measurements only")
    if samples is None:
        samples = list(range(len(data)))
    samples = [checks.integer(i, "samples[i]", low=0, high=len(data) - 1) for i in samples]
    if not samples:
        raise ValueError("samples is empty; give at least one index of data")
    return data.batch(samples)


def _check_start(start, shape) -> torch.Tensor | None:
    if isinstance(start, str):
        checks.choice(start, ("adjoint",), "start (or give an image tensor)")
        return None
    if not isinstance(start, torch.Tensor) or tuple(start.shape) != tuple(shape):
        got = tuple(start.shape) if isinstance(start, torch.Tensor) else type(start).__name__
        raise ValueError(f"start must be 'adjoint' or an image (B, 2, H, W) = {tuple(shape)}, "
                         f"got {got}")
    return checks.finite_tensor(start, "start")


def deq_trace(net: DEQ, data: SampleSet, *, solver: str = "forward", start="adjoint",
              max_iter: int | None = None, tol: float | None = None,
              warm_net: DEQ | None = None, warm_iters: int = 0,
              samples: Sequence[int] | None = None, record_psnr: bool = True) -> dict:
    r"""Run a DEQ on a batch of test samples and record PSNR and wall time after each iteration.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    The solve is :func:`~spadelib.models.deq.solve_fixed_point` on the network's own operator
    (as :meth:`DEQ.iterate <spadelib.models.deq.DEQ.iterate>` does), with the network's
    Anderson settings, and a start of our choosing. The clock starts before the start image is
    computed and stops after every iteration; the PSNR computed in between is left out.

    Args:
        net: the DEQ to run.
        data: a SampleSet of MRI samples with ground truth (the test split).
        solver: ``"forward"`` (the paper's) or ``"anderson"``.
        start: ``"adjoint"`` (:math:`A^H y`, the DEQ's own start) or an image tensor
            ``(B, 2, H, W)`` (e.g. a neighbouring slice's solution).
        max_iter: iteration budget, the cascade's cheap iterations included (default
            ``net.max_iter``).
        tol: the stopping rule on the relative residual (default ``net.tol``).
        warm_net: a cheaper DEQ (e.g. the pruned one) for a cascade, or ``None``.
        warm_iters: iterations of ``warm_net`` (same solver) before ``net`` takes over
            (0: no cascade; needs ``warm_net`` and must be below ``max_iter``).
        samples: indices of ``data`` solved together as one batch (default: all). The batch
            runs on the network's device.
        record_psnr: compute the PSNR after each iteration (off for pure timing runs).

    Returns:
        A dict: ``psnr`` (batch-mean PSNR in dB of the image after each iteration, empty when
        not recorded), ``times`` (cumulative seconds), ``residuals``, ``iterations``,
        ``final_psnr`` (of the image the solve returns, as :func:`spadelib.evaluation.evaluate`
        would score it), ``converged`` (the stopping rule was met), ``solver``, ``start``
        (a label), ``warm_iters`` and ``batch`` (number of samples).

    Raises:
        TypeError: ``net`` (or ``warm_net``) is not a DEQ, or ``data`` not a SampleSet.
        ValueError: an unknown solver or start, a bad budget or index, ``warm_iters >=
            max_iter``, or no ground truth.
    """
    _check_deq(net, "net")
    checks.choice(solver, SOLVERS, "solver")
    max_iter = checks.positive_int(net.max_iter if max_iter is None else max_iter, "max_iter")
    tol = checks.positive_real(net.tol if tol is None else tol, "tol")
    warm_iters = checks.nonnegative_int(warm_iters, "warm_iters")
    record_psnr = checks.flag(record_psnr, "record_psnr")
    if warm_iters:
        _check_deq(warm_net, "warm_net (the cheap network of the cascade)")
        if warm_iters >= max_iter:
            raise ValueError(f"warm_iters ({warm_iters}) must be below max_iter ({max_iter}): "
                             "the budget counts the cheap iterations too")
    device = net.gamma.device
    if warm_iters and warm_net.gamma.device != device:
        raise ValueError(f"warm_net is on {warm_net.gamma.device}, net on {device}; move them "
                         "to the same device")
    batch = _batch(data, samples)
    net.check_measurement(batch)
    batch = to_device(batch, device)
    target = batch.target.detach().cpu()
    x_start = _check_start(start, target.shape)
    nets = [(warm_net, warm_iters)] if warm_iters else []
    nets.append((net, max_iter - warm_iters))
    was = [(n, n.training, n.eval()) for n, _ in nets]
    psnrs, times, residuals = [], [], []
    paused = 0.0

    def callback(k, f):
        nonlocal paused
        now = time.perf_counter()
        times.append(now - origin - paused)
        if record_psnr:
            psnrs.append(float(psnr(f.detach().cpu(), target, complex_input=True).mean()))
        paused += time.perf_counter() - now

    converged = False
    try:
        with torch.no_grad():
            origin = time.perf_counter()
            physics = batch.physics()
            x = physics.A_adjoint(batch.y) if x_start is None else x_start.to(device)
            for n, budget in nets:
                T = n.operator(physics, batch.y)
                x, stats = solve_fixed_point(T, x, solver=solver, max_iter=budget, tol=tol,
                                             m=n.anderson_m, lam=n.anderson_lam,
                                             callback=callback)
                residuals += stats["residuals"]
                converged = stats["converged"]
                if converged:      # the cheap network met the stopping rule: the budget ends
                    break
    finally:                       # the train/eval modes come back even after an error
        for n, mode, _ in was:
            n.train(mode)
    final = float(psnr(x.detach().cpu(), target, complex_input=True).mean())
    label = "A^H y" if x_start is None else "given image"
    if warm_iters:
        label += f", {warm_iters} it. of the cheap network"
    return {"psnr": psnrs, "times": times, "residuals": residuals, "iterations": len(times),
            "final_psnr": final, "converged": converged, "solver": solver, "start": label,
            "warm_iters": warm_iters, "batch": int(target.shape[0])}


def _check_trace(trace: dict) -> tuple[list, list]:
    if not isinstance(trace, dict) or "psnr" not in trace or "times" not in trace:
        raise ValueError("trace must be a dict with 'psnr' and 'times' lists (from deq_trace "
                         "with record_psnr=True)")
    p, t = list(trace["psnr"]), list(trace["times"])
    if len(p) != len(t):
        raise ValueError(f"trace has {len(p)} PSNR values but {len(t)} times; they must be "
                         "recorded after the same iterations")
    return p, t


def iterations_to_quality(trace: dict, target_psnr: float) -> int | None:
    """The first iteration (counted from 1) after which the trace's PSNR reaches
    ``target_psnr``, or ``None`` when it never does.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    p, _ = _check_trace(trace)
    target_psnr = checks.real(target_psnr, "target_psnr")
    for k, value in enumerate(p):
        if value >= target_psnr:          # NaN never reaches
            return k + 1
    return None


def time_to_quality(trace: dict, target_psnr: float) -> float | None:
    """The first wall time (seconds) at which the trace's PSNR reaches ``target_psnr``.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Args:
        trace: from :func:`deq_trace` (``psnr`` and ``times`` after each iteration).
        target_psnr: in dB, e.g. the reference's final PSNR minus 0.1.

    Returns:
        The cumulative time after the first iteration that reaches the target, or ``None``
        when no iteration of the trace does (a variant that never gets there has no time to
        quality; none is extrapolated).

    Raises:
        ValueError: a malformed trace or a non-finite target.
    """
    k = iterations_to_quality(trace, target_psnr)
    return None if k is None else float(trace["times"][k - 1])


# --------------------------------------------------------------------------------------------
# the variants
# --------------------------------------------------------------------------------------------
def _variants(cascade_iters: Sequence[int], max_iter: int) -> list[dict]:
    out = [{"variant": f"{net} + {solver}", "network": net, "solver": solver, "warm_iters": 0}
           for solver in SOLVERS for net in ("unpruned", "pruned")]
    for k in cascade_iters:
        k = checks.positive_int(k, "cascade_iters[i]")
        if k >= max_iter:
            raise ValueError(f"cascade_iters holds {k}, not below the budget max_iter = "
                             f"{max_iter}")
        out.append({"variant": f"pruned {k} it. -> unpruned + anderson", "network": "unpruned",
                    "solver": "anderson", "warm_iters": k})
    return out


def _at(runs: list[dict], k: int | None) -> list[float] | None:
    """The cumulative time after iteration ``k`` in each run (every round repeats the same
    arithmetic, so the same iteration reaches a target)."""
    return None if k is None else [r["times"][k - 1] for r in runs if len(r["times"]) >= k]


def _row(v: dict, runs: list[dict], target: float, reference: dict, tolerance_db: float):
    first = runs[0]
    its = iterations_to_quality(first, target)
    own = iterations_to_quality(first, first["final_psnr"] - tolerance_db)
    total = statistics.median(r["times"][-1] for r in runs)
    median = (lambda xs: None if xs is None else statistics.median(xs))
    return {**v, "start": first["start"], "iterations_to_target": its,
            "seconds_to_target": median(_at(runs, its)), "final_psnr": first["final_psnr"],
            "psnr_gap_db": first["final_psnr"] - reference["final_psnr"],
            "iterations": first["iterations"], "converged": first["converged"],
            "seconds_total": total, "ms_per_iteration": 1e3 * total / first["iterations"],
            "iterations_to_own_final": own, "seconds_to_own_final": median(_at(runs, own)),
            "seconds_to_target_all": _at(runs, its)}


def compare_variants(unpruned: DEQ, pruned: DEQ, data: SampleSet, *,
                     samples: Sequence[int] | None = None, repeats: int = 3,
                     warmup_iters: int = 3, threads: int | None = None,
                     max_iter: int | None = None, tol: float | None = None,
                     tolerance_db: float = 0.1, cascade_iters: Sequence[int] = (),
                     log=None) -> dict:
    """Time to quality of each DEQ variant against the paper's setting (unpruned + forward).

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Variants: unpruned + forward (the reference), pruned + forward, unpruned + Anderson,
    pruned + Anderson, and for each ``k`` of ``cascade_iters`` a cascade: ``k`` Anderson
    iterations of the pruned network from :math:`A^H y`, then the unpruned one with Anderson.
    All share the iteration budget and stopping rule (default: the unpruned network's
    ``max_iter`` and ``tol``), the thread count, the batch and the device (the networks' own,
    which must be the same); the timing rules are those of the module docstring.

    Args:
        unpruned, pruned: the two DEQs (the pruned one fine-tuned or not: say which).
        data: a SampleSet with ground truth (the test split).
        samples: indices of ``data`` solved as one batch (default: all).
        repeats: timed rounds (the median is reported), >= 1.
        warmup_iters: untimed iterations of each network and solver first, >= 0.
        threads: torch threads for every variant (default: the current number).
        max_iter, tol: the shared budget (default: the unpruned network's).
        tolerance_db: the target is the reference's final PSNR minus this, > 0.
        cascade_iters: cheap iterations of each cascade variant (each below ``max_iter``).
        log: called with a line per variant (``None``: silent).

    Returns:
        A dict: ``rows`` (one per variant, see :func:`format_rows`), ``traces`` (per variant:
        ``iterations``, ``psnr`` and median cumulative ``times``: what a PSNR-against-time
        figure needs), ``target_psnr``, ``reference_psnr``, ``threads``, ``repeats``,
        ``max_iter``, ``tol``, ``batch``.
    """
    _check_deq(unpruned, "unpruned")
    _check_deq(pruned, "pruned")
    repeats = checks.positive_int(repeats, "repeats")
    warmup_iters = checks.nonnegative_int(warmup_iters, "warmup_iters")
    tolerance_db = checks.positive_real(tolerance_db, "tolerance_db")
    max_iter = checks.positive_int(unpruned.max_iter if max_iter is None else max_iter,
                                   "max_iter")
    tol = checks.positive_real(unpruned.tol if tol is None else tol, "tol")
    variants = _variants(cascade_iters, max_iter)
    nets = {"unpruned": unpruned, "pruned": pruned}
    with _threads(threads) as threads:
        common = {"samples": samples, "tol": tol}
        if warmup_iters:
            for net in nets.values():
                for solver in SOLVERS:
                    deq_trace(net, data, solver=solver, max_iter=warmup_iters,
                              record_psnr=False, **common)
        runs = {v["variant"]: [] for v in variants}
        for r in range(repeats):
            for v in variants:
                warm = {"warm_net": pruned, "warm_iters": v["warm_iters"]} \
                    if v["warm_iters"] else {}
                runs[v["variant"]].append(deq_trace(
                    nets[v["network"]], data, solver=v["solver"], max_iter=max_iter,
                    record_psnr=(r == 0), **warm, **common))
    reference = runs[REFERENCE][0]
    target = reference["final_psnr"] - tolerance_db
    rows = [_row(v, runs[v["variant"]], target, reference, tolerance_db) for v in variants]
    traces = {name: {"psnr": r[0]["psnr"], "iterations": r[0]["iterations"],
                     "times": [statistics.median(t) for t in zip(*(x["times"] for x in r))]}
              for name, r in runs.items()}
    base = rows[0]["seconds_to_target"]
    for row in rows:
        row["speedup"] = None if base is None or row["seconds_to_target"] is None else \
            base / row["seconds_to_target"]
        if log is not None:
            log(format_rows([row]).splitlines()[-1])
    return {"rows": rows, "traces": traces, "target_psnr": target,
            "reference_psnr": reference["final_psnr"], "tolerance_db": tolerance_db,
            "threads": threads, "repeats": repeats, "max_iter": max_iter, "tol": tol,
            "batch": reference["batch"]}


def _fmt(value, spec: str, none: str = "not reached") -> str:
    return none if value is None else format(value, spec)


def format_rows(rows: list[dict]) -> str:
    """The rows of :func:`compare_variants` (or :func:`bench_time_to_quality`) as a Markdown
    table; a variant that never reaches the target says so.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    if isinstance(rows, dict):
        rows = rows["rows"]
    lines = ["| variant | iterations to target | seconds to target | speed-up | final PSNR (dB) "
             "| ms / iteration | iterations run |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {_fmt(r['iterations_to_target'], 'd')} | "
                     f"{_fmt(r['seconds_to_target'], '.3f')} | "
                     f"{_fmt(r['speedup'], '.2f', '-')}{'' if r['speedup'] is None else ' x'} | "
                     f"{r['final_psnr']:.2f} | {r['ms_per_iteration']:.1f} | "
                     f"{r['iterations']}{'' if r['converged'] else ' (budget)'} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# benchmark entries
# --------------------------------------------------------------------------------------------
def _spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all when ``k >= n``)."""
    return list(range(n)) if k >= n else \
        sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)})


def bench_time_to_quality(preset=None, ratio: float = 0.4, regime: str = "supervised", *,
                          rate: float = 0.167, n_samples: int = 4, repeats: int = 3,
                          threads: int | None = 1, cascade_iters: Sequence[int] | None = None,
                          device=None, log=print) -> dict:
    """Time to quality of the DEQ variants of a preset, from its cached networks.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    The unpruned DEQ is the pre-trained one, the pruned one the grid cell ``Cell("deq", rate,
    ratio, regime)``: the very networks the book's tables score, built (and trained where the
    preset allows, :class:`~spadelib.presets.NeedsCLIError` otherwise) by
    :func:`spadelib.experiments.runner.cell_network`.

    Args:
        preset: ``"quick"`` or ``"paper"`` (default: the current one).
        ratio: the channel ratio of the pruned network (the paper's largest is 0.4).
        regime: its fine-tuning regime (``"none"``: pruned, not fine-tuned).
        rate: the sampling rate.
        n_samples: test samples solved together as one batch, spread over the split.
        repeats, threads, log: as in :func:`compare_variants` (threads default 1: the same
            on every machine).
        cascade_iters: cheap iterations of the cascade variants (default: one cascade with
            a third of the budget).
        device: where the networks run (default: CUDA if available).

    Returns:
        :func:`compare_variants`'s dict, with ``preset``, ``ratio``, ``regime`` and
        ``samples`` added.
    """
    n_samples = checks.positive_int(n_samples, "n_samples")
    unpruned, _, test, _ = runner.cell_network(Cell("deq", rate, 0.0, "none"), preset,
                                               device=device)
    pruned = runner.cell_network(Cell("deq", rate, ratio, regime), preset, device=device)[0]
    if cascade_iters is None:
        cascade_iters = (max(1, unpruned.max_iter // 3),) if unpruned.max_iter > 1 else ()
    samples = _spread(len(test), n_samples)
    out = compare_variants(unpruned, pruned, test, samples=samples, repeats=repeats,
                           threads=threads, cascade_iters=cascade_iters, log=log)
    return {**out, "preset": get_preset(preset).name, "ratio": ratio, "regime": regime,
            "rate": rate, "samples": samples}


def iteration_cost(preset="paper", ratio: float = 0.4, *, iters: int = 3,
                   solvers: Sequence[str] = ("forward",), seed: int = 0,
                   round_to: int | None = None, protocol: TimingProtocol | None = None,
                   device="cpu") -> list[dict]:
    """Milliseconds per DEQ iteration, unpruned against pruned, at a preset's size, random
    weights, under the book's timing protocol.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    The cost of an iteration does not depend on the weights' values, so it can be measured at
    the paper's size without the paper's trained networks (which quality needs). For each
    solver the two networks are timed together (:func:`~spadelib.timing.time_networks` under
    ``protocol``, default :data:`~spadelib.timing.PROTOCOL`), each reconstruction held to
    exactly ``iters`` iterations; the time per iteration is the reconstruction's over
    ``iters`` (the start :math:`A^H y` included: a small share), so the speed-up per
    iteration is the speed-up of a reconstruction at any fixed iteration count.

    Args:
        preset, ratio: the sizes (default ``"paper"``) and the pruned network's channel ratio.
        iters: iterations per timed reconstruction, >= 1; solvers: which solvers.
        seed: seeds the weights and the measurement; round_to: of
            :func:`~spadelib.pruning.prune`; protocol: a
            :class:`~spadelib.timing.TimingProtocol` (its ``deq_iterations`` must be
            ``"fixed"``); device: where to run.

    Returns:
        One dict per (network, solver): ``network`` (``"unpruned"``/``"pruned"``), ``solver``,
        ``ratio``, ``params``, ``ms_per_iteration``, ``times_ms`` (every timed reconstruction
        over ``iters``), ``speedup`` (against the unpruned network with the same solver),
        ``threads``, ``iterations``, ``protocol``.
    """
    P = get_preset(preset)
    ratio = check_ratio(ratio)
    iters = checks.positive_int(iters, "iters")
    solvers = [checks.choice(s, SOLVERS, "solver") for s in solvers]
    protocol = PROTOCOL if protocol is None else protocol
    if protocol.deq_iterations != "fixed":
        raise ValueError("iteration_cost needs a protocol with deq_iterations='fixed'")
    torch.manual_seed(checks.integer(seed, "seed"))
    net = build_deq(P).to(device).eval()
    pruned = prune(net, ratio, round_to=round_to, macs_size=P.mri_size)[0].eval()
    measurement = MRI.random_measurement(P, batch=1, seed=seed)      # the DEQ's task
    timed = {}
    for solver in solvers:
        net.solver = pruned.solver = solver
        timed[solver] = time_networks({"unpruned": net, "pruned": pruned}, measurement,
                                      protocol, iterations=iters, device=device)
    rows = []
    for name, n in (("unpruned", net), ("pruned", pruned)):
        for solver in solvers:
            t, ms = timed[solver][name], timed[solver][name].ms / iters
            rows.append({"network": name, "solver": solver,
                         "ratio": 0.0 if n is net else ratio,
                         "params": count_parameters(n), "ms_per_iteration": ms,
                         "times_ms": [x / iters for x in t.times_ms],
                         "speedup": timed[solver]["unpruned"].ms / t.ms, "iterations": iters,
                         "threads": protocol.threads or torch.get_num_threads(),
                         "protocol": t.protocol, "preset": P.name})
    return rows


def format_costs(rows: list[dict]) -> str:
    """The rows of :func:`iteration_cost` as a Markdown table.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    lines = ["| network | ratio | solver | # params | ms / iteration | speed-up |",
             "|---|---:|---|---:|---:|---:|"]
    lines += [f"| {r['network']} | {r['ratio']:g} | {r['solver']} | {r['params']:,} | "
              f"{r['ms_per_iteration']:,.1f} | x{r['speedup']:.2f} |" for r in rows]
    return "\n".join(lines)
