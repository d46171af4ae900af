r"""Widths the hardware likes: turning fewer MACs into less time on a CPU.

Pruning removes multiply-accumulates (MACs); a CPU turns them into time only when the
remaining work suits its kernels. Four options, as data (:class:`InferenceOptions`):

* ``round_to``: channel counts multiples of 8 or 16, applied at pruning time
  (:func:`spadelib.pruning.prune`): oneDNN computes convolutions in channel blocks of 16
  (AVX-512) or 8 (AVX2), so 57 channels cost about as much as 64;
* ``channels_last``: the CNN priors' weights and inputs in NHWC, oneDNN's native layout;
* ``inference_mode``: the reconstruction under :func:`torch.inference_mode`;
* ``compile``: each CNN prior through :func:`torch.compile` (inductor writes C++ on a CPU
  and needs a compiler; without one, or when compiling fails, the prior runs eagerly and the
  reason is recorded).

None of the last three may change the numbers: :func:`~spadelib.beyond.inference.prepare`
(in :mod:`spadelib.beyond.inference`, re-exported here) checks the prepared network against
the plain one. :func:`bench_hardware` reports the speed-up against the MAC ratio
(unpruned over pruned CNN MACs of one reconstruction): how much of the arithmetic saved turns
into time. FFTs and data steps are not counted, so a network whose data steps cost much
cannot reach a speed-up equal to its MAC ratio.

Taught in Chapter 8 (``book/08_beyond.ipynb``).
"""
from __future__ import annotations

import statistics
from typing import Sequence

import torch

from .. import checks
from ..metrics import count_parameters
from ..models import NAMES, spec
from ..presets import Preset, get_preset
from ..pruning import check_ratio, prune
from ..tasks import task_of, timed_network
from ..timing import PROTOCOL, STATISTICS, TimingProtocol, time_networks
from .inference import (OPTION_TOKENS, InferenceOptions, Prepared, as_options, cxx_compiler,
                        max_relative_error, prepare, run_prepared)

__all__ = ["InferenceOptions", "Prepared", "OPTION_TOKENS", "prepare", "cxx_compiler",
           "bench_hardware", "add_speedups", "targets", "format_rows", "max_relative_error"]



def add_speedups(rows: list[dict], statistic: str = "median") -> list[dict]:
    """Fill each timed row's speed-ups from the rows of the same network (in place; returned).

    ``speedup``: time of the unpruned network (ratio 0) under the row's runtime options (its
    options without ``round_to``) over the row's time; ``speedup_vs_plain``: over the plain
    unpruned network's time; ``macs_ratio``: unpruned over pruned CNN MACs of one
    reconstruction; ``efficiency``: ``speedup / macs_ratio`` (1: every MAC saved became time).
    A row needs ``network, ratio, options`` (a label), ``time_ms`` (None: not timed) and
    ``macs``; rows that lack their baseline get None. ``statistic="min"`` compares the
    fastest runs (``time_min_ms``) instead of the medians: on a machine other jobs share, the
    minimum is the run that was disturbed least.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    field = {"median": "time_ms", "min": "time_min_ms"}[checks.choice(statistic, STATISTICS,
                                                                      "statistic")]
    base, macs0 = {}, {}
    for r in rows:
        if r["ratio"] == 0 and r.get(field) is not None:
            base[(r["network"], InferenceOptions.parse(r["options"]).runtime.label)] = r[field]
            macs0[r["network"]] = r["macs"]
    for r in rows:
        t = r.get(field)
        r["statistic"] = statistic
        same = base.get((r["network"], InferenceOptions.parse(r["options"]).runtime.label))
        plain = base.get((r["network"], "plain"))
        m0 = macs0.get(r["network"])
        r["macs_ratio"] = m0 / r["macs"] if m0 and r.get("macs") else None
        r["speedup"] = same / t if same and t else None
        r["speedup_vs_plain"] = plain / t if plain and t else None
        r["efficiency"] = (r["speedup"] / r["macs_ratio"]
                           if r["speedup"] and r["macs_ratio"] else None)
    return rows


#: the issue's targets: at ratio 0.4 the speed-up reaches this fraction of the MAC ratio ...
TARGET_EFFICIENCY = (0.4, 0.70)
#: ... and at ratio 0.05 the speed-up exceeds this
TARGET_SPEEDUP = (0.05, 1.05)


def targets(rows: list[dict]) -> list[dict]:
    """For each network, the best option at the target ratios and whether it meets the target:
    at 0.4 ``efficiency >= 0.70``, at 0.05 ``speedup > 1.05`` (same-options speed-up, the
    pruning's own gain; ``speedup_vs_plain`` is reported alongside).

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    out = []
    for network in dict.fromkeys(r["network"] for r in rows):
        for (ratio, goal), key in ((TARGET_EFFICIENCY, "efficiency"),
                                   (TARGET_SPEEDUP, "speedup")):
            timed = [r for r in rows if r["network"] == network and r["ratio"] == ratio
                     and r.get(key) is not None]
            if not timed:
                continue
            best = max(timed, key=lambda r: r[key])
            met = best[key] >= goal if key == "efficiency" else best[key] > goal
            out.append({"network": network, "ratio": ratio, "measure": key, "goal": goal,
                        "best_options": best["options"], "value": best[key],
                        "speedup_vs_plain": best["speedup_vs_plain"], "met": bool(met)})
    return out


_TIMED = ("params", "channels", "macs", "time_ms", "time_min_ms", "time_max_ms", "max_error")


class _Arch:
    """One pruned architecture: the network, its report, its plain output, or why not."""

    def __init__(self, net=None, report=None, reference=None, error: str | None = None):
        self.net, self.report, self.reference, self.error = net, report, reference, error
        self.channels = None if report is None else sorted(
            {(g.before, g.after) for p in report.priors for g in p.groups})


def _prune_all(net, ratios, opts, measurement, size) -> dict:
    """``{(ratio, round_to): _Arch}``; round_to values that give the same widths share one
    architecture (the same channels are kept), so the same network is timed once."""
    archs: dict = {}
    for ratio in ratios:
        seen: dict = {}
        for rt in dict.fromkeys(o.round_to if ratio > 0 else None for o in opts):
            try:
                p, report = prune(net, ratio, round_to=rt, macs_size=size)
            except ValueError as err:             # the rounding would empty a layer group
                archs[(ratio, rt)] = _Arch(error=f"infeasible: {err}")
                continue
            widths = tuple((pr.name, g.root, g.after) for pr in report.priors for g in pr.groups)
            if widths not in seen:
                with torch.no_grad():
                    seen[widths] = _Arch(p.eval(), report, p(measurement))
            archs[(ratio, rt)] = seen[widths]
    return archs


def bench_hardware(preset: Preset | str | None = None, networks: Sequence[str] = NAMES,
                   ratios: Sequence[float] = (0.0, 0.05, 0.4),
                   options_list: Sequence[InferenceOptions | str] = ("plain",),
                   deq_iters: int = 2, seed: int = 0, protocol: TimingProtocol | None = None,
                   log=print) -> list[dict]:
    """Time every network at every ratio under every option, on the CPU.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    For each network (random weights: time does not depend on them; the DEQ at exactly
    ``deq_iters`` iterations), each (ratio, round_to) is pruned once and each option prepared
    from it (:func:`prepare`, checked against the plain pruned network on the measurement, so
    no option may change the numbers). Ratio 0 and the plain options are always included:
    they are the baselines. The variants are timed together under ``protocol`` (default: the
    book's :data:`~spadelib.timing.PROTOCOL`: interleaved rounds, so a busy machine slows them
    all alike; its statistic is the one the speed-ups compare). A (ratio, round_to) that would empty a layer group gives a row with
    ``time_ms=None`` and the reason in ``notes``.

    Args:
        preset: sizes of the networks and the measurement.
        networks: names from :data:`spadelib.models.NAMES`.
        ratios: channel ratios (0 is added).
        options_list: :class:`InferenceOptions` or labels (``"plain"``, ``"r16+cl"``, ...);
            ``"plain"`` is added.
        deq_iters: the DEQ's fixed iteration count.
        seed: seeds the weights and the measurement.
        protocol: a :class:`~spadelib.timing.TimingProtocol` (default: the book's); its
            ``statistic`` is what the speed-ups compare (:func:`add_speedups`).
        log: called with each network's table (:func:`format_rows`; None: silent).

    Returns:
        One dict per (network, ratio, options), with :func:`add_speedups`'s fields and
        ``network, preset, ratio, options, round_to, channels_last, inference_mode, compile``
        (asked), ``compiled`` (done), ``notes``, ``params, channels, macs, time_ms,
        time_min_ms, time_max_ms, times_ms, max_error, iterations, threads, protocol``.
    """
    deq_iters = checks.positive_int(deq_iters, "deq_iters")
    seed = checks.integer(seed, "seed")
    protocol = PROTOCOL if protocol is None else protocol
    P = get_preset(preset)
    networks = [networks] if isinstance(networks, str) else list(networks)
    specs = [spec(n) for n in networks]
    ratios = sorted({0.0, *(check_ratio(r) for r in ratios)})
    opts = list(dict.fromkeys([InferenceOptions(), *(as_options(o) for o in options_list)]))
    rows = []
    for s in specs:
        name, task = s.name, task_of(s)
        net, measurement = timed_network(s, task, P, deq_iters, seed)
        archs = _prune_all(net, ratios, opts, measurement, task.image_size(P))
        variants: dict = {}                         # (architecture, runtime label) -> Prepared
        for ratio in ratios:
            for o in opts:
                arch = archs[(ratio, o.round_to if ratio > 0 else None)]
                key = (arch, o.runtime.label)
                if arch.net is not None and key not in variants:
                    variants[key] = prepare(arch.net, o.runtime, example=measurement,
                                            reference=arch.reference)
        timed = time_networks(variants, measurement, protocol, iterations=deq_iters)
        net_rows = []
        for ratio in ratios:
            for o in opts:
                arch = archs[(ratio, o.round_to if ratio > 0 else None)]
                row = {"network": name, "preset": P.name, "ratio": ratio, "options": o.label,
                       "round_to": o.round_to, "channels_last": o.channels_last,
                       "inference_mode": o.inference_mode, "compile": o.compile,
                       "iterations": deq_iters if name == "deq" else None,
                       "threads": protocol.threads or torch.get_num_threads(),
                       "protocol": protocol.describe(), "times_ms": [], "compiled": False,
                       "notes": [arch.error] if arch.error else [], **dict.fromkeys(_TIMED)}
                if arch.net is not None:
                    v = variants[(arch, o.runtime.label)]
                    t = timed[(arch, o.runtime.label)].times_ms
                    row.update(compiled=v.compiled, notes=list(v.notes),
                               params=count_parameters(arch.net), channels=arch.channels,
                               macs=arch.report.macs_after, time_ms=statistics.median(t),
                               time_min_ms=min(t), time_max_ms=max(t), times_ms=t,
                               max_error=v.max_error)
                net_rows.append(row)
        rows += add_speedups(net_rows, protocol.statistic)
        if log is not None:
            log(format_rows(net_rows))
        del variants, archs
    return rows


def _x(value, digits: int = 2) -> str:
    return "–" if value is None else f"x{value:.{digits}f}"


def format_rows(rows: list[dict]) -> str:
    """The rows of :func:`bench_hardware` as a Markdown table. A ratio-0 row shows its
    options without ``round_to`` (the unpruned network is the same whatever it says), once;
    ``–``: not measured; a ``*`` after the options: compile was asked for and fell back to
    eager.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    lines = ["| network | ratio | options | # params | MAC ratio | time (ms) [min–max] | "
             "speed-up | vs plain | speed-up / MAC ratio |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    shown = set()
    for r in rows:
        opt = r["options"] if r["ratio"] else InferenceOptions.parse(r["options"]).runtime.label
        if (r["network"], r["ratio"], opt) in shown:
            continue
        shown.add((r["network"], r["ratio"], opt))
        opt += "*" if r.get("compile") and not r.get("compiled") else ""
        head = f"| {r['network']} | {r['ratio']:g} | {opt} |"
        if r["time_ms"] is None:
            why = "infeasible" if str(r.get("notes")).find("infeasible") >= 0 else "not timed"
            lines.append(f"{head} – | – | {why} | – | – | – |")
            continue
        eff = "–" if r["efficiency"] is None else f"{100 * r['efficiency']:.0f} %"
        lines.append(f"{head} {r['params']:,} | {_x(r['macs_ratio'])} | {r['time_ms']:,.1f} "
                     f"[{r['time_min_ms']:,.1f}–{r['time_max_ms']:,.1f}] | {_x(r['speedup'])} | "
                     f"{_x(r['speedup_vs_plain'])} | {eff} |")
    return "\n".join(lines)
