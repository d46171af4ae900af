"""The four MBDL networks the paper prunes, built from a preset.

* ``"deq"``: deep equilibrium model, PnP proximal gradient with an EDSR prior (eq. 3);
* ``"varnet"``: VarNet, 8 unrolled cascades with U-Net priors, coil maps given;
* ``"e2e-varnet"``: E2E-VarNet, VarNet plus a coil-sensitivity U-Net;
* ``"usrnet"``: USRNet for super-resolution, 8 unrolled iterations of a closed-form data step
  and a ResUNet prior.

Every network is an :class:`~spadelib.models.base.MBDLNetwork`: ``net(batched measurement)``
returns an image in the ground truth's layout, and ``net.priors()`` declares the CNNs SPADE
prunes.
"""
from __future__ import annotations

from ..presets import Preset, get_preset
from .base import MBDLNetwork, PriorSpec
from .deq import DEQ, build_deq
from .edsr import EDSR
from .usrnet import USRNet, build_usrnet
from .varnet import E2EVarNet, VarNet, build_e2e_varnet, build_varnet

BUILDERS = {"deq": build_deq, "varnet": build_varnet, "e2e-varnet": build_e2e_varnet,
            "usrnet": build_usrnet}
TASKS = {"deq": "mri", "varnet": "mri", "e2e-varnet": "mri", "usrnet": "sr"}
NAMES = tuple(BUILDERS)
# bumped whenever a network's forward pass or initialisation changes, so that cached
# checkpoints of the old behaviour are never loaded into the new one
VERSIONS = {"deq": 1, "varnet": 1, "e2e-varnet": 2, "usrnet": 2}


def check_name(name: str) -> str:
    """Normalise a network name (``"E2E_VarNet"`` -> ``"e2e-varnet"``) or raise ValueError."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in BUILDERS:
        raise ValueError(f"unknown network {name!r}; choose one of {', '.join(NAMES)}")
    return key


def build(name: str, preset: Preset | str | None = None) -> MBDLNetwork:
    """A freshly initialised network ``name`` at the sizes of ``preset``.

    Args:
        name: ``"deq"``, ``"varnet"``, ``"e2e-varnet"`` or ``"usrnet"``.
        preset: a :class:`~spadelib.presets.Preset` or its name; default: the current one.
    """
    return BUILDERS[check_name(name)](get_preset(preset))


__all__ = ["build", "check_name", "NAMES", "TASKS", "MBDLNetwork", "PriorSpec", "DEQ", "EDSR",
           "VarNet", "E2EVarNet", "USRNet"]
