r"""Inference options: running a (pruned) network the way the hardware likes, without changing
its numbers.

Four options, as data (:class:`InferenceOptions`):

* ``round_to``: channel counts multiples of 8 or 16, applied at pruning time
  (:func:`spadelib.pruning.prune`): oneDNN computes convolutions in channel blocks of 16
  (AVX-512) or 8 (AVX2), so 57 channels cost about as much as 64;
* ``channels_last``: the CNN priors' weights and inputs in NHWC, oneDNN's native layout;
* ``inference_mode``: the reconstruction under :func:`torch.inference_mode`;
* ``compile``: each CNN prior through :func:`torch.compile` (inductor writes C++ on a CPU
  and needs a compiler; without one, or when compiling fails, the prior runs eagerly and the
  reason is recorded).

None of the last three may change the numbers: :func:`prepare` checks the prepared network
against the plain one. :mod:`spadelib.beyond.hardware` times them.

Taught in Chapter 8 (``book/08_beyond.ipynb``).
"""
from __future__ import annotations

import copy
import os
import shutil
from dataclasses import dataclass, replace

import torch
from torch import nn

from .. import checks

__all__ = ["InferenceOptions", "Prepared", "OPTION_TOKENS", "TOLERANCE", "prepare",
           "cxx_compiler", "max_relative_error", "as_options", "run_prepared"]

#: the words of an options label (:attr:`InferenceOptions.label`), besides ``r<n>``
OPTION_TOKENS = {"cl": "channels_last", "inf": "inference_mode", "compile": "compile"}
#: largest relative difference (max |a - b| / max |b|) an option may make to a reconstruction
TOLERANCE = 1e-4
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


def as_options(value) -> InferenceOptions:
    """``value`` as :class:`InferenceOptions` (it may be one, or a label such as ``"r16+cl"``).

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    if isinstance(value, InferenceOptions):
        return value
    if isinstance(value, str):
        return InferenceOptions.parse(value)
    raise TypeError(f"options must be InferenceOptions or a label such as 'r16+cl', "
                    f"got {type(value).__name__}")


def cxx_compiler() -> str | None:
    """The C++ compiler torch.compile's CPU backend (inductor) would call: ``$CXX``, else
    ``g++`` / ``clang++`` / ``c++`` on the PATH; None when there is none.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
    for name in (os.environ.get("CXX"), "g++", "clang++", "c++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def max_relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b| / max |b|``: how far a prepared network's output is from the plain one's.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
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
    import torch._dynamo  # heavy: torch.compile's machinery, loaded only when compiling

    cfg = torch._dynamo.config
    name = "recompile_limit" if hasattr(cfg, "recompile_limit") else "cache_size_limit"
    setattr(cfg, name, max(getattr(cfg, name), RECOMPILE_LIMIT))
    originals = []
    for p in priors:
        _swap(prepared.network, p.name, torch.compile(p.module, dynamic=False, backend=backend))
        originals.append((p.name, p.module))
    prepared.compiled = True
    return originals


def run_prepared(prepared: Prepared, example):
    """One reconstruction by a prepared network, without gradients (the benchmark's call).

    Taught in Chapter 8 (``book/08_beyond.ipynb``).
    """
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
    options = as_options(options)
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
        from torch._dynamo.utils import counters  # heavy, as above: only for a compiled net

        frames = dict(counters["frames"])
        try:
            out = run_prepared(prepared, example)
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
    out = run_prepared(prepared, example)
    prepared.max_error = max_relative_error(out, reference)
    if prepared.max_error > tolerance:
        raise RuntimeError(f"options {options.label!r} changed the reconstruction by "
                           f"{prepared.max_error:.2g} (relative, tolerance {tolerance:g}): an "
                           "option that changes the numbers is a bug")
    return prepared
