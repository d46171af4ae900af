"""Re-initialisation: the pruned architecture with every parameter drawn afresh, the starting
point of Table 3's from-scratch baseline (:func:`spadelib.finetune.scratch_baseline`).

Taught in Chapter 5 (``book/05_finetuning.ipynb``).
"""
from __future__ import annotations

import copy
import inspect
import numbers
import warnings

import torch
from torch import nn

from . import checks

__all__ = ["reinitialise"]


def _known_inits() -> dict:
    """Constructor values of trainable scalars that no ``reset_parameters`` covers."""
    table = {}
    try:
        from fastmri.models.varnet import VarNetBlock  # optional: only its networks need it
        table[VarNetBlock] = {"dc_weight": 1.0}   # fastMRI: nn.Parameter(torch.ones(1))
    except ImportError:  # pragma: no cover - fastmri is a dependency
        pass
    return table


def _constructor_defaults(module: nn.Module) -> dict:
    """Numeric defaults of the constructor arguments of ``module``'s class."""
    try:
        params = inspect.signature(type(module).__init__).parameters.items()
    except (TypeError, ValueError):
        return {}
    return {k: v.default for k, v in params
            if isinstance(v.default, numbers.Real) and not isinstance(v.default, bool)}


def reinitialise(net: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``net`` (same widths) with every parameter drawn afresh, seeded.

    Every submodule with a ``reset_parameters`` method (convolutions, linear and norm layers)
    calls it, under ``torch.manual_seed(seed)`` on the CPU (the global random state is
    restored afterwards). Trainable parameters held directly by a module without one are reset
    to their constructor defaults where these are known: a default of the constructor argument
    of the same name (the DEQ's ``gamma`` and ``alpha``) or fastMRI's
    ``VarNetBlock.dc_weight`` (1). Any other such parameter is left as it was, with a warning
    naming it.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Returns:
        The new network, on the CPU, in training mode. ``net`` is not modified.
    """
    checks.module(net, "net")
    seed = checks.integer(seed, "seed")
    fresh = copy.deepcopy(net).cpu()
    covered: set[int] = set()
    known = _known_inits()
    left: list[str] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in fresh.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
                covered.update(id(p) for p in module.parameters(recurse=False))
    with torch.no_grad():
        for mname, module in fresh.named_modules():
            own = [(n, p) for n, p in module.named_parameters(recurse=False)
                   if id(p) not in covered]
            if not own:
                continue
            defaults = _constructor_defaults(module)
            for kind, values in known.items():
                if isinstance(module, kind):
                    defaults = {**defaults, **values}
            for pname, p in own:
                if pname in defaults:
                    p.fill_(float(defaults[pname]))
                else:
                    left.append(f"{mname}.{pname}" if mname else pname)
    if left:
        warnings.warn(f"reinitialise: no known initial value for {', '.join(left)}; these "
                      "parameters keep their trained values", stacklevel=2)
    return fresh.train()
