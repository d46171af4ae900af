"""The four MBDL networks the paper prunes, built from a preset, and their registry.

* ``"deq"``: deep equilibrium model, PnP proximal gradient with an EDSR prior (eq. 3);
* ``"varnet"``: VarNet, 8 unrolled cascades with U-Net priors, coil maps given;
* ``"e2e-varnet"``: E2E-VarNet, VarNet plus a coil-sensitivity U-Net;
* ``"usrnet"``: USRNet for super-resolution, 8 unrolled iterations of a closed-form data step
  and a ResUNet prior.

Every network is an :class:`~spadelib.models.base.MBDLNetwork`: ``net(batched measurement)``
returns an image in the ground truth's layout, and ``net.priors()`` declares the CNNs SPADE
prunes.

:data:`NETWORKS` is the one registry: for each network its task, its builder, its model
version and the preset fields it is built from (:class:`NetworkSpec`). Everything that depends
on a network's identity (the key of a cached checkpoint, the task's data) reads it from there.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from ..presets import Preset, get_preset
from .base import MBDLNetwork, PriorSpec
from .deq import DEQ, build_deq
from .edsr import EDSR
from .usrnet import USRNet, build_usrnet
from .varnet import E2EVarNet, VarNet, build_e2e_varnet, build_varnet


@dataclass(frozen=True)
class NetworkSpec:
    """What the package knows about one network.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Attributes:
        name: the canonical name (``"e2e-varnet"``).
        task: the task it solves, a key of :data:`spadelib.tasks.TASKS` (``"mri"``, ``"sr"``).
        build: ``build(preset) -> MBDLNetwork``, a freshly initialised network.
        version: bumped whenever the network's forward pass or initialisation changes, so that
            a cached checkpoint of the old behaviour is never loaded into the new one.
        fields: the preset fields this network (and only this network) is built from: its
            sizes, its solver budget, its pre-training recipe and budget (its
            :attr:`epochs_field` is among them). A change to any of them
            invalidates its pre-trained checkpoint and no other network's. (A field of
            :data:`spadelib.tasks.KEYED_IF_CHANGED` enters the key only where it differs from
            the value it had before the field existed.)
    """

    name: str
    task: str
    build: Callable[[Preset], MBDLNetwork]
    version: int
    fields: tuple[str, ...]

    @property
    def epochs_field(self) -> str:
        """The preset field holding this network's pre-training budget in epochs."""
        return self.name.replace("-", "_") + "_epochs"


_VARNET_FIELDS = ("varnet_cascades", "varnet_chans", "varnet_pools")

NETWORKS: dict[str, NetworkSpec] = {
    "deq": NetworkSpec("deq", "mri", build_deq, 1,
                       ("deq_blocks", "deq_features", "deq_max_iter", "deq_tol", "deq_solver",
                        "deq_alpha", "deq_warmup", "deq_warmup_steps", "deq_epochs")),
    "varnet": NetworkSpec("varnet", "mri", build_varnet, 1, _VARNET_FIELDS + ("varnet_epochs",)),
    "e2e-varnet": NetworkSpec("e2e-varnet", "mri", build_e2e_varnet, 2,
                              _VARNET_FIELDS + ("sens_chans", "sens_pools",
                                                "e2e_varnet_epochs")),
    "usrnet": NetworkSpec("usrnet", "sr", build_usrnet, 2,
                          ("usrnet_channels", "usrnet_blocks", "usrnet_iters", "usrnet_epochs")),
}
NAMES = tuple(NETWORKS)
# derived views, kept for code that reads them
BUILDERS = {n: s.build for n, s in NETWORKS.items()}
TASKS = {n: s.task for n, s in NETWORKS.items()}
VERSIONS = {n: s.version for n, s in NETWORKS.items()}


def check_name(name: str) -> str:
    """Normalise a network name (``"E2E_VarNet"`` -> ``"e2e-varnet"``) or raise ValueError.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose one of {', '.join(NAMES)}")
    return key


def spec(name: str | NetworkSpec) -> NetworkSpec:
    """The :class:`NetworkSpec` of network ``name`` (a spec is returned as it is).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Raises:
        ValueError: an unknown network name.
    """
    if isinstance(name, NetworkSpec):
        return name
    return NETWORKS[check_name(name)]


def build(name: str, preset: Preset | str | None = None, **options) -> MBDLNetwork:
    """A freshly initialised network ``name`` at the sizes of ``preset``.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        name: ``"deq"``, ``"varnet"``, ``"e2e-varnet"`` or ``"usrnet"``.
        preset: a :class:`~spadelib.presets.Preset` or its name; default: the current one.
        **options: passed to the network's builder, for the options it has: USRNet's
            ``variant`` (``"zoo"`` or ``"official"``, :func:`.usrnet.build_usrnet`), the
            DEQ's :class:`~.deq.DEQ` arguments (:func:`.deq.build_deq`).

    Raises:
        ValueError: an unknown network name, or a bad option value.
        TypeError: an option the network's builder does not take (say ``variant`` for the
            DEQ); the message lists the options it takes.
    """
    s = spec(name)
    if not options:
        return s.build(get_preset(preset))
    params = inspect.signature(s.build).parameters
    accepted = [p for p, v in params.items() if p != "preset" and v.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    open_ended = any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values())
    unknown = sorted(set(options) - set(accepted))

    def refuse():
        takes = (f"it takes {', '.join(map(repr, accepted))}" if accepted
                 else f"see {getattr(s.build, '__name__', 'its builder')}() for the options "
                      f"it takes" if open_ended else "it takes no options")
        return TypeError(f"network {s.name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"{takes}")

    if unknown and not open_ended:
        raise refuse()
    try:
        return s.build(get_preset(preset), **options)
    except TypeError as err:     # a builder passing **options on, to a class that lacks one
        if unknown and "unexpected keyword argument" in str(err):
            raise refuse() from None
        raise


__all__ = ["build", "check_name", "spec", "NetworkSpec", "NETWORKS", "NAMES", "TASKS",
           "VERSIONS", "MBDLNetwork", "PriorSpec", "DEQ", "EDSR", "VarNet", "E2EVarNet",
           "USRNet"]
