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

None of the last three may change the numbers: :func:`prepare` checks the prepared network
against the plain one. :func:`bench_hardware` reports the speed-up against the MAC ratio
(unpruned over pruned CNN MACs of one reconstruction): how much of the arithmetic saved turns
into time. FFTs and data steps are not counted, so a network whose data steps cost much
cannot reach a speed-up equal to its MAC ratio.

Taught in Chapter 8 (``book/08_beyond.ipynb``).
"""
from __future__ import annotations

import copy
import os
import shutil
import statistics
from dataclasses import dataclass, replace
from typing import Sequence

import torch
from torch import nn

from .. import checks
from ..metrics import count_parameters, measure_latency
from ..models import NAMES, spec
from ..presets import Preset, get_preset
from ..pruning import check_ratio, prune
from ..tasks import task_of

__all__ = ["InferenceOptions", "Prepared", "OPTION_TOKENS", "prepare", "cxx_compiler",
           "bench_hardware", "add_speedups", "targets", "format_rows", "max_relative_error"]

#: the words of an options label (:attr:`InferenceOptions.label`), besides ``r<n>``
OPTION_TOKENS = {"cl": "channels_last", "inf": "inference_mode", "compile": "compile"}
#: largest relative difference (max |a - b| / max |b|) an option may make to a reconstruction
TOLERANCE = 1e-4
#: what a speed-up compares: the median of the timed runs or the fastest one
STATISTICS = ("median", "min")
#: compiled versions torch.compile may keep per frame (its default, 8, is too few for a bench)
RECOMPILE_LIMIT = 256


@dataclass(frozen=True)
class InferenceOptions:
    """How a network is pruned and run for timing.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Attributes:
        round_to: channel counts rounded down to a multiple of this at pruning time (None:
            the paper's counts).
        channels_last: NHWC weights and inputs for the CNN priors.
        inference_mode: run the reconstruction under :func:`torch.inference_mode`.
        compile: :func:`torch.compile` each CNN prior (falls back to eager, with a reason).
    """

    round_to: int | None = None
    channels_last: bool = False
    inference_mode: bool = False
    compile: bool = False

    def __post_init__(self):
        if self.round_to is not None:
            checks.positive_int(self.round_to, "round_to (None or a multiple such as 8 or 16)")
        checks.flag(self.channels_last, "channels_last")
        checks.flag(self.inference_mode, "inference_mode")
        checks.flag(self.compile, "compile")

    @property
    def label(self) -> str:
        """A short name for tables: ``plain``, or tokens joined by ``+`` (``r16+cl+inf``)."""
        parts = [f"r{self.round_to}"] if self.round_to else []
        parts += [tok for tok, field in OPTION_TOKENS.items() if getattr(self, field)]
        return "+".join(parts) or "plain"

    @property
    def runtime(self) -> "InferenceOptions":
        """The same options without ``round_to``: what :func:`prepare` applies (an unpruned
        network is the same whatever ``round_to`` says)."""
        return replace(self, round_to=None)

    @classmethod
    def parse(cls, label: str) -> "InferenceOptions":
        """The options a label names (the inverse of :attr:`label`): ``plain``, or ``+``-joined
        tokens among ``r<n>`` (round_to), ``cl``, ``inf``, ``compile``.

        Raises:
            ValueError: an unknown or repeated token.
        """
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"an options label is a non-empty string, got {label!r}")
        label = label.strip().lower()
        if label == "plain":
            return cls()
        kw: dict = {}
        for tok in label.split("+"):
            tok = tok.strip()
            if tok.startswith("r") and tok[1:].isdigit():
                field, value = "round_to", int(tok[1:])
            elif tok in OPTION_TOKENS:
                field, value = OPTION_TOKENS[tok], True
            else:
                raise ValueError(f"unknown option {tok!r} in {label!r}: use 'plain' or tokens "
                                 f"joined by '+' among r<n> (e.g. r8, r16), "
                                 f"{', '.join(OPTION_TOKENS)}")
            if field in kw:
                raise ValueError(f"option {field} given twice in {label!r}")
            kw[field] = value
        return cls(**kw)


def _options(value) -> InferenceOptions:
    if isinstance(value, InferenceOptions):
        return value
    if isinstance(value, str):
        return InferenceOptions.parse(value)
    raise TypeError(f"options must be InferenceOptions or a label such as 'r16+cl', "
                    f"got {type(value).__name__}")


def cxx_compiler() -> str | None:
    """The C++ compiler torch.compile's CPU backend (inductor) would call: ``$CXX``, else
    ``g++`` / ``clang++`` / ``c++`` on the PATH; None when there is none."""
    for name in (os.environ.get("CXX"), "g++", "clang++", "c++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def max_relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b| / max |b|``: how far a prepared network's output is from the plain one's."""
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).abs().max() / b.abs().max().clamp_min(torch.finfo(b.dtype).tiny))


def _to_channels_last(_module, args):
    return tuple(x.contiguous(memory_format=torch.channels_last)
                 if isinstance(x, torch.Tensor) and x.dim() == 4 else x for x in args)


def _to_contiguous(_module, _args, out):
    return out.contiguous() if isinstance(out, torch.Tensor) else out


class Prepared(nn.Module):
    """A network ready to time: ``prepared(measurement)`` reconstructs as ``network`` does.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Attributes:
        network: the prepared copy (its priors in NHWC and / or compiled).
        options: the :class:`InferenceOptions` applied (``round_to`` is the pruning's).
        compiled: whether the priors really run compiled.
        notes: what happened, in words (a compile fallback's reason, the output check).
        max_error: the output check's :func:`max_relative_error` (None: not checked).
    """

    def __init__(self, network: nn.Module, options: InferenceOptions):
        super().__init__()
        self.network = network
        self.options = options
        self.compiled = False
        self.notes: list[str] = []
        self.max_error: float | None = None

    def forward(self, *args, **kwargs):
        if self.options.inference_mode:
            with torch.inference_mode():
                return self.network(*args, **kwargs)
        return self.network(*args, **kwargs)


def _swap(net: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, attr, module)


def _compile_priors(prepared: Prepared, priors: list, backend: str) -> list:
    """Replace each prior by ``torch.compile(prior)``; returns ``(name, original)`` pairs.

    Every compiled module shares one wrapper frame, whose default limit of 8 compiled
    versions a benchmark of many widths exceeds (dynamo then runs eagerly without a word):
    the limit is raised to :data:`RECOMPILE_LIMIT`.
    """
    import torch._dynamo

    cfg = torch._dynamo.config
    name = "recompile_limit" if hasattr(cfg, "recompile_limit") else "cache_size_limit"
    setattr(cfg, name, max(getattr(cfg, name), RECOMPILE_LIMIT))
    originals = []
    for p in priors:
        _swap(prepared.network, p.name, torch.compile(p.module, dynamic=False, backend=backend))
        originals.append((p.name, p.module))
    prepared.compiled = True
    return originals


def _run(prepared: Prepared, example):
    with torch.no_grad():
        return prepared(example)


def prepare(net: nn.Module, options: InferenceOptions | str = InferenceOptions(), *,
            example=None, reference: torch.Tensor | None = None,
            tolerance: float = TOLERANCE, compile_backend: str = "inductor") -> Prepared:
    """A copy of ``net`` with the runtime options applied, checked against the plain network.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    ``channels_last`` converts each CNN prior's weights to NHWC and installs two hooks on it:
    its 4-D inputs are made NHWC on the way in and its output contiguous (NCHW) on the way
    out, so the rest of the network (FFTs, reshapes, the DEQ's solver) sees the tensors it
    always saw. ``compile`` wraps each prior in ``torch.compile(..., dynamic=False)``; it is
    skipped, with the reason in :attr:`Prepared.notes`, when no C++ compiler is found, and
    undone when the first run raises, converts no frame or changes the output (graph breaks
    are allowed: the frames dynamo leaves out run eagerly). ``inference_mode`` wraps the whole
    call. ``round_to`` belongs to pruning (:func:`spadelib.pruning.prune`) and is ignored
    here.

    With ``example`` (a batched measurement) and some runtime option, the prepared network
    runs it once (which also compiles, at that size) and must match ``reference`` (default:
    ``net(example)``) within ``tolerance`` relative error: an option that changes the numbers
    is a bug.

    Args:
        net: an MBDL network (anything with ``priors()``); left untouched.
        options: :class:`InferenceOptions` or its label (``"cl+inf"``).
        example: a batched measurement to check (and warm up) on; None: no check.
        reference: the plain network's output on ``example``, if already computed.
        tolerance: largest relative difference accepted.
        compile_backend: torch.compile's backend (``"eager"`` traces with dynamo and
            compiles nothing: a fast check of the mechanics).

    Returns:
        A :class:`Prepared` module.

    Raises:
        RuntimeError: channels_last or inference_mode changed the output beyond tolerance.
        TypeError: ``net`` is not a module, or ``options`` is neither options nor a label.
    """
    checks.module(net, "net")
    options = _options(options)
    tolerance = checks.positive_real(tolerance, "tolerance")
    prepared = Prepared(copy.deepcopy(net).eval(), options)
    priors = prepared.network.priors()
    if options.channels_last:
        for p in priors:
            p.module.to(memory_format=torch.channels_last)
            p.module.register_forward_pre_hook(_to_channels_last)
            p.module.register_forward_hook(_to_contiguous)
    originals = []
    if options.compile:
        if not isinstance(compile_backend, str) or not compile_backend:
            raise TypeError(f"compile_backend must be a backend name, got {compile_backend!r}")
        if compile_backend == "inductor" and cxx_compiler() is None:
            prepared.notes.append("compile skipped: no C++ compiler found ($CXX, g++, clang++); "
                                  "torch.compile's CPU backend needs one (install g++)")
        else:
            originals = _compile_priors(prepared, priors, compile_backend)
    if example is None or options.runtime == InferenceOptions():   # nothing to check
        if prepared.compiled:
            prepared.notes.append("compiled; not checked (no example given)")
        return prepared
    if reference is None:
        training = net.training
        with torch.no_grad():
            reference = net.eval()(example)
        net.train(training)
    if prepared.compiled:
        from torch._dynamo.utils import counters

        frames = dict(counters["frames"])
        try:
            out = _run(prepared, example)
            error = max_relative_error(out, reference)
            # frames dynamo tried but none converted: all ran eagerly (recompile limit,
            # unsupported code); no frame tried: compiled code was reused (same widths)
            tried = counters["frames"]["total"] - frames.get("total", 0)
            done = counters["frames"]["ok"] - frames.get("ok", 0)
            why = "dynamo converted no frame" if tried and not done else None
            if why is None and error > tolerance:
                why = f"changed the output by {error:.2g} (relative)"
        except Exception as err:  # noqa: BLE001 - any compile failure means: run eagerly
            why = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:200]}"
        if why is not None:
            for name, module in originals:
                _swap(prepared.network, name, module)
            prepared.compiled = False
            prepared.notes.append(f"compile fell back to eager: {why}")
        else:
            prepared.notes.append(f"compiled {len(originals)} prior(s) ({compile_backend})" +
                                  (f", {tried - done} frame(s) left eager" if tried > done else ""))
    out = _run(prepared, example)
    prepared.max_error = max_relative_error(out, reference)
    if prepared.max_error > tolerance:
        raise RuntimeError(f"options {options.label!r} changed the reconstruction by "
                           f"{prepared.max_error:.2g} (relative, tolerance {tolerance:g}): an "
                           "option that changes the numbers is a bug")
    return prepared


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
                   repeats: int = 3, deq_iters: int = 2, warmup: int = 1, seed: int = 0,
                   statistic: str = "median", log=print) -> list[dict]:
    """Time every network at every ratio under every option, on the CPU.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    For each network (random weights: time does not depend on them; the DEQ at exactly
    ``deq_iters`` iterations), each (ratio, round_to) is pruned once and each option prepared
    from it (:func:`prepare`, checked against the plain pruned network on the measurement, so
    no option may change the numbers). Ratio 0 and the plain options are always included:
    they are the baselines. The variants are timed in interleaved rounds (one reconstruction
    of each per round, the median over ``repeats`` rounds), so a busy machine slows them all
    alike. A (ratio, round_to) that would empty a layer group gives a row with
    ``time_ms=None`` and the reason in ``notes``.

    Args:
        preset: sizes of the networks and the measurement.
        networks: names from :data:`spadelib.models.NAMES`.
        ratios: channel ratios (0 is added).
        options_list: :class:`InferenceOptions` or labels (``"plain"``, ``"r16+cl"``, ...);
            ``"plain"`` is added.
        repeats: timed rounds, >= 1.
        deq_iters: the DEQ's fixed iteration count.
        warmup: untimed runs of each variant after its check run, >= 0.
        seed: seeds the weights and the measurement.
        statistic: ``"median"`` or ``"min"``: the times the speed-ups compare
            (:func:`add_speedups`).
        log: called with each network's table (:func:`format_rows`; None: silent).

    Returns:
        One dict per (network, ratio, options), with :func:`add_speedups`'s fields and
        ``network, preset, ratio, options, round_to, channels_last, inference_mode, compile``
        (asked), ``compiled`` (done), ``notes``, ``params, channels, macs, time_ms,
        time_min_ms, time_max_ms, times_ms, max_error, iterations, threads``.
    """
    repeats = checks.positive_int(repeats, "repeats")
    deq_iters = checks.positive_int(deq_iters, "deq_iters")
    warmup = checks.nonnegative_int(warmup, "warmup")
    seed = checks.integer(seed, "seed")
    checks.choice(statistic, STATISTICS, "statistic")
    P = get_preset(preset)
    networks = [networks] if isinstance(networks, str) else list(networks)
    specs = [spec(n) for n in networks]
    ratios = sorted({0.0, *(check_ratio(r) for r in ratios)})
    opts = list(dict.fromkeys([InferenceOptions(), *(_options(o) for o in options_list)]))
    from ..bench import timed_network

    rows = []
    for s in specs:
        name, task = s.name, task_of(s)
        net, measurement = timed_network(s, P, deq_iters, seed)
        archs = _prune_all(net, ratios, opts, measurement, task.image_size(P))
        variants: dict = {}                         # (architecture, runtime label) -> Prepared
        for ratio in ratios:
            for o in opts:
                arch = archs[(ratio, o.round_to if ratio > 0 else None)]
                key = (arch, o.runtime.label)
                if arch.net is not None and key not in variants:
                    v = variants[key] = prepare(arch.net, o.runtime, example=measurement,
                                                reference=arch.reference)
                    for _ in range(warmup):
                        _run(v, measurement)
        times = {key: [] for key in variants}
        for _ in range(repeats):
            for key, v in variants.items():
                times[key] += measure_latency(v, measurement, warmup=0, repeats=1).times_ms
                if name == "deq" and v.network.last_stats["iterations"] != deq_iters:
                    raise RuntimeError(f"the DEQ ran {v.network.last_stats['iterations']} "
                                       f"iterations instead of {deq_iters}; its timings would "
                                       "not compare")
        net_rows = []
        for ratio in ratios:
            for o in opts:
                arch = archs[(ratio, o.round_to if ratio > 0 else None)]
                row = {"network": name, "preset": P.name, "ratio": ratio, "options": o.label,
                       "round_to": o.round_to, "channels_last": o.channels_last,
                       "inference_mode": o.inference_mode, "compile": o.compile,
                       "iterations": deq_iters if name == "deq" else None,
                       "threads": torch.get_num_threads(), "times_ms": [], "compiled": False,
                       "notes": [arch.error] if arch.error else [], **dict.fromkeys(_TIMED)}
                if arch.net is not None:
                    v, t = variants[(arch, o.runtime.label)], times[(arch, o.runtime.label)]
                    row.update(compiled=v.compiled, notes=list(v.notes),
                               params=count_parameters(arch.net), channels=arch.channels,
                               macs=arch.report.macs_after, time_ms=statistics.median(t),
                               time_min_ms=min(t), time_max_ms=max(t), times_ms=t,
                               max_error=v.max_error)
                net_rows.append(row)
        rows += add_speedups(net_rows, statistic)
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
