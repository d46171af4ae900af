"""What every MBDL network of the book shares (taught in Chapter 2,
``book/02_mbdl_networks.ipynb``).

An MBDL network maps a *batched measurement* (:class:`~spadelib.data.MRIMeasurement` or
:class:`~spadelib.data.SRMeasurement`) to an image in the layout of the ground truth
(``(B, 2, H, W)`` for MRI, ``(B, 3, H, W)`` for SR). It also *declares its CNN priors*: the
modules SPADE prunes, a real-valued example input for each (batch size >= 2: torch-pruning
traces through it) and the layers that must never be pruned (output convs, E2E-VarNet's
sensitivity network). Pruning (Chapters 3-4) reads only these declarations.

Every call ``net(measurement)`` first passes :meth:`MBDLNetwork.check_measurement` (a forward
pre-hook installed by the base class, so no network can forget it): a measurement holding NaN
or Inf is refused with an error naming the field, instead of silently turning the whole
reconstruction (and, in training, every weight) into NaN.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import checks


@dataclass
class PriorSpec:
    """One CNN prior inside an MBDL network.

    Taught in Chapter 3 (``book/03_depgraph.ipynb``).

    Attributes:
        name: dotted name of the module inside the network (``"prior"``,
            ``"cascades.3.model"``).
        module: the CNN itself.
        example_inputs: a tuple of real tensors the CNN accepts, batch size >= 2.
        ignored_layers: modules torch-pruning must leave untouched (the output conv, ...).
        applications: how many times one reconstruction applies this CNN (per item).
    """

    name: str
    module: nn.Module
    example_inputs: tuple
    ignored_layers: list = field(default_factory=list)
    applications: int = 1


def _measurement_fields(measurement) -> tuple[str, ...]:
    """The names of the measurement fields of a measurement or sample (never its target)."""
    names = getattr(type(measurement), "measurement_fields", None)
    if names is not None:
        return tuple(names)
    if dataclasses.is_dataclass(measurement):
        return tuple(f.name for f in dataclasses.fields(measurement) if f.name != "target")
    return ()


def _refuse_nonfinite(module: "MBDLNetwork", args: tuple) -> None:
    """Forward pre-hook of every MBDL network: :meth:`MBDLNetwork.check_measurement`."""
    if args:
        module.check_measurement(args[0])


class MBDLNetwork(nn.Module):
    """Base class: ``forward(measurement) -> image`` plus :meth:`priors`.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Subclasses set ``task`` (``"mri"`` or ``"sr"``) and ``name``, and call
    ``super().__init__()``, which installs the measurement check
    (:meth:`check_measurement`) in front of their ``forward``.
    """

    task: str = ""
    name: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.register_forward_pre_hook(_refuse_nonfinite)

    def check_measurement(self, measurement) -> None:
        """Refuse a measurement with a NaN or Inf in any of its measurement fields.

        One ``isfinite`` per field (``measurement_fields`` of the measurement type: MRI
        ``kspace``, ``mask``, ``coil_maps``; SR ``lr``, ``kernel``, ``sigma``). Anything that is
        not a measurement is left to ``forward``'s own checks.

        Raises:
            ValueError: naming the network and the field.
        """
        for name in _measurement_fields(measurement):
            value = getattr(measurement, name, None)
            what = f"{self.name or type(self).__name__}: the measurement's {name!r}"
            if isinstance(value, torch.Tensor):
                checks.finite_tensor(value, what)
            elif isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{what} is {value}; refusing to use it")

    def priors(self) -> list[PriorSpec]:
        """The CNN priors SPADE prunes, with example inputs and layers to leave alone."""
        raise NotImplementedError

    def cnn_applications(self) -> int:
        """CNN applications in one reconstruction (sum over priors)."""
        return sum(p.applications for p in self.priors())

    @property
    def device(self) -> torch.device:
        """The device of the network's parameters."""
        return next(self.parameters()).device


def weights_mismatch(net: nn.Module, reference, limit: int = 3) -> str | None:
    """How ``net``'s weights differ from those of ``reference`` (missing or extra tensors,
    other shapes), in one line naming at most ``limit`` of each; ``None`` when they fit.

    Used where a file is *written*, so that weights that would not load into the network the
    file's header describes are refused at once rather than when someone loads them.

    Args:
        net: the network about to be saved.
        reference: the network the file will be loaded into, or a function that builds it;
            a function is called with the random number generators forked, so checking never
            moves the caller's random stream (results stay the same with or without it).
    """
    if callable(reference) and not isinstance(reference, nn.Module):
        with torch.random.fork_rng(devices=[]):
            reference = reference()
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}

    def some(names) -> str:
        names = sorted(names)
        more = f" and {len(names) - limit} more" if len(names) > limit else ""
        return ", ".join(names[:limit]) + more

    parts = []
    if set(theirs) - set(ours):
        parts.append(f"missing {some(set(theirs) - set(ours))}")
    if set(ours) - set(theirs):
        parts.append(f"unexpected {some(set(ours) - set(theirs))}")
    shaped = [k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k]]
    if shaped:
        shown = sorted(shaped)[:limit]
        parts.append("other shapes: " + ", ".join(f"{k} {ours[k]} (expected {theirs[k]})"
                                                  for k in shown)
                     + (f" and {len(shaped) - limit} more" if len(shaped) > limit else ""))
    if not parts:
        return None
    return (f"{sum(map(_numel, ours.values())):,} values in its state dict against "
            f"{sum(map(_numel, theirs.values())):,} expected; " + "; ".join(parts))


def _numel(shape: tuple) -> int:
    return math.prod(shape)
