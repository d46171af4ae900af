"""What every MBDL network of the book shares.

An MBDL network maps a *batched measurement* (:class:`~spadelib.data.MRIMeasurement` or
:class:`~spadelib.data.SRMeasurement`) to an image in the layout of the ground truth
(``(B, 2, H, W)`` for MRI, ``(B, 3, H, W)`` for SR). It also *declares its CNN priors*: the
modules SPADE prunes, a real-valued example input for each (batch size >= 2: torch-pruning
traces through it) and the layers that must never be pruned (output convs, E2E-VarNet's
sensitivity network). Pruning (Chapter 3-4) reads only these declarations.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class PriorSpec:
    """One CNN prior inside an MBDL network.

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


class MBDLNetwork(nn.Module):
    """Base class: ``forward(measurement) -> image`` plus :meth:`priors`.

    Subclasses set ``task`` (``"mri"`` or ``"sr"``) and ``name``.
    """

    task: str = ""
    name: str = ""

    def priors(self) -> list[PriorSpec]:
        """The CNN priors SPADE prunes, with example inputs and layers to leave alone."""
        raise NotImplementedError

    def cnn_applications(self) -> int:
        """CNN applications in one reconstruction (sum over priors)."""
        return sum(p.applications for p in self.priors())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
