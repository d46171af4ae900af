"""The authors' published USRNet weights in our :class:`~spadelib.models.usrnet.USRNet`.

The paper prunes the released USRNet (Zhang, Van Gool and Timofte, CVPR 2020; weights
``usrnet.pth`` of the authors' model zoo). Its state dict names the ResUNet prior ``p`` and
HyPaNet ``h``; this module maps those names onto ours and builds the ``"official"`` variant of
our USRNet (the authors' equations: non-residual prior step, raw ``(sigma, s)`` into HyPaNet),
so that the file gives the authors' network, parameter for parameter.

Official name -> ours (``nb`` residual blocks per level; ``m_up3`` is the *deepest* decoder
level, ``c_3 -> c_2``, so it is our ``up[0]``):

=====================================================  ==========================================
``p.m_head.weight``                                    ``prior.head.weight``
``p.m_down{i}.{b}.res.{0,2}.weight``, b < nb           ``prior.down.{i-1}.{b}.body.{0,2}.weight``
``p.m_down{i}.{nb}.weight`` (2x2 stride-2 conv)        ``prior.down.{i-1}.{nb}.weight``
``p.m_body.{b}.res.{0,2}.weight``                      ``prior.body.{b}.body.{0,2}.weight``
``p.m_up{i}.0.weight`` (2x2 stride-2 transposed)       ``prior.up.{3-i}.0.weight``
``p.m_up{i}.{b}.res.{0,2}.weight``, 1 <= b <= nb       ``prior.up.{3-i}.{b}.body.{0,2}.weight``
``p.m_tail.weight``                                    ``prior.tail.weight``
``h.mlp.{0,2,4}.{weight,bias}``                        ``hypa.mlp.{0,2,4}.{weight,bias}``
=====================================================  ==========================================

Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from .. import checks
from ..checkpoints import CheckpointError
from ..presets import Preset
from .usrnet import USRNet, build_usrnet

__all__ = ["official_state_dict_map", "official_config", "read_official_state_dict",
           "load_usrnet_official"]

#: keys under which training frameworks wrap a state dict (unwrapped when the names are there)
_WRAPPERS = ("state_dict", "params", "params_ema", "model")
_SHOWN = 5          # keys listed in an error message


def _listing(keys) -> str:
    keys = sorted(keys)
    more = f", ... ({len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def official_state_dict_map(net: USRNet) -> dict[str, str]:
    """The official name of every entry of ``net``'s state dict: ``{official: ours}``.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        net: a :class:`USRNet` (either variant: their parameter names are the same).

    Returns:
        One entry per tensor of ``net.state_dict()``, in the official order.

    Raises:
        TypeError: ``net`` is not a USRNet.
    """
    if not isinstance(net, USRNet):
        raise TypeError(f"net must be a USRNet, got {type(net).__name__}")
    nb = net.prior.blocks
    names = {"p.m_head.weight": "prior.head.weight"}

    def res_blocks(official: str, ours: str, first: int) -> None:
        for b in range(first, first + nb):
            for c in (0, 2):
                names[f"{official}.{b}.res.{c}.weight"] = f"{ours}.{b}.body.{c}.weight"

    for i in range(3):
        res_blocks(f"p.m_down{i + 1}", f"prior.down.{i}", 0)
        names[f"p.m_down{i + 1}.{nb}.weight"] = f"prior.down.{i}.{nb}.weight"
    res_blocks("p.m_body", "prior.body", 0)
    for j in range(3):                               # our up[0] is the official m_up3
        names[f"p.m_up{3 - j}.0.weight"] = f"prior.up.{j}.0.weight"
        res_blocks(f"p.m_up{3 - j}", f"prior.up.{j}", 1)
    names["p.m_tail.weight"] = "prior.tail.weight"
    for layer in (0, 2, 4):
        for kind in ("weight", "bias"):
            names[f"h.mlp.{layer}.{kind}"] = f"hypa.mlp.{layer}.{kind}"
    ours = set(net.state_dict())
    if set(names.values()) != ours:    # only if USRNet's modules were renamed: a bug here
        raise RuntimeError(f"the official name map does not cover USRNet's state dict: "
                           f"unmapped {_listing(ours - set(names.values()))}")
    return names


def _shape(sd: Mapping[str, torch.Tensor], key: str, dims: int, label: str) -> tuple[int, ...]:
    if key not in sd:
        found = _listing(sd) if sd else "no keys"
        raise CheckpointError(f"{label} is not an official USRNet state dict: it has no "
                              f"{key!r} (it holds {found}); pass the official usrnet.pth")
    shape = tuple(sd[key].shape)
    if len(shape) != dims:
        raise CheckpointError(f"{label}: {key} has shape {shape}, not a {dims}-D conv weight; "
                              f"this is not an official USRNet state dict")
    return shape


def official_config(state_dict: Mapping[str, torch.Tensor],
                    label: str = "the state dict") -> dict[str, Any]:
    """The size of the USRNet an official state dict holds, read from its tensor shapes.

    Widths ``c_0`` from ``p.m_head`` and ``c_1..c_3`` from the stride-2 convs
    ``p.m_down{1,2,3}.{nb}``; ``nb`` from the residual blocks ``p.m_down1.{0,1,...}``;
    ``iters`` from HyPaNet's output ``h.mlp.4`` (``2 iters`` channels) and its width from
    ``h.mlp.0``. The released ``usrnet.pth`` is ``channels=(64, 128, 256, 512)``, ``blocks=2``,
    ``iters=8``, ``hypa_hidden=64`` (the paper's preset).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        state_dict: official names -> tensors.
        label: how errors name its source (the file).

    Returns:
        ``{"channels", "blocks", "iters", "hypa_hidden"}``, the arguments of :class:`USRNet`.

    Raises:
        spadelib.checkpoints.CheckpointError: a key needed is absent or has the wrong rank,
            or the network is not USRNet's colour one (4 -> 3 channels, HyPaNet 2 -> 2 K).
    """
    head = _shape(state_dict, "p.m_head.weight", 4, label)
    blocks = 0
    while f"p.m_down1.{blocks}.res.0.weight" in state_dict:
        blocks += 1
    if blocks == 0:
        _shape(state_dict, "p.m_down1.0.res.0.weight", 4, label)   # raises, naming it
    channels = [head[0]] + [_shape(state_dict, f"p.m_down{i}.{blocks}.weight", 4, label)[0]
                            for i in (1, 2, 3)]
    tail = _shape(state_dict, "p.m_tail.weight", 4, label)
    h0 = _shape(state_dict, "h.mlp.0.weight", 4, label)
    h4 = _shape(state_dict, "h.mlp.4.weight", 4, label)
    if head[1] != 4 or tail[0] != 3 or h0[1] != 2 or h4[0] % 2:
        raise CheckpointError(
            f"{label} holds a USRNet with a {head[1]}-channel input, a {tail[0]}-channel "
            f"output and HyPaNet {h0[1]} -> {h4[0]}; ours is the colour USRNet (4 -> 3, "
            f"HyPaNet 2 -> 2 x iterations): pass the official usrnet.pth")
    return {"channels": tuple(channels), "blocks": blocks, "iters": h4[0] // 2,
            "hypa_hidden": h0[0]}


def read_official_state_dict(weights) -> tuple[dict[str, torch.Tensor], str]:
    """Read an official USRNet state dict (a file or a mapping) and say where it came from.

    The file is read with ``torch.load(path, map_location="cpu", weights_only=True)`` (no
    code in it runs). A dict that wraps the state dict under ``"state_dict"``, ``"params"``,
    ``"params_ema"`` or ``"model"`` is unwrapped, and a ``"module."`` prefix on every key
    (saved from ``nn.DataParallel``) is dropped.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        weights: a path (``str`` or ``os.PathLike``) or a mapping of names to tensors.

    Returns:
        ``(state_dict, label)``, label naming the file (or "the given state dict").

    Raises:
        FileNotFoundError: no such file.
        spadelib.checkpoints.CheckpointError: a folder, a file ``torch.load`` cannot read
            safely, or a content that is not a mapping of names to finite tensors.
        TypeError: ``weights`` is neither a path nor a mapping.
    """
    if isinstance(weights, Mapping):
        obj, label = weights, "the given state dict"
    elif isinstance(weights, (str, os.PathLike)):
        path = Path(weights).expanduser()
        label = str(path)
        if not path.exists():
            raise FileNotFoundError(
                f"official USRNet weights {label} do not exist: download usrnet.pth from the "
                f"USRNet authors' model zoo (cszn/USRNet) and pass its path (or set "
                f"SPADE_USRNET_WEIGHTS to it)")
        if path.is_dir():
            raise CheckpointError(f"{label} is a folder, not a weights file: pass the path "
                                  f"of usrnet.pth itself")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any failure means: not a usable torch file
            raise CheckpointError(
                f"{label} is not a PyTorch weights file that torch.load(weights_only=True) can "
                f"read ({checks.reason(err)}); pass the official "
                f"usrnet.pth (a state dict)") from None
    else:
        raise TypeError(f"weights must be a file path or a state dict, got "
                        f"{type(weights).__name__}")
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{label} holds a {type(obj).__name__}, not a state dict of "
                              f"named tensors; pass the official usrnet.pth")
    if not any(str(k).startswith(("p.", "h.", "module.")) for k in obj):
        for key in _WRAPPERS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    sd = dict(obj)
    if sd and all(isinstance(k, str) and k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    for k, v in sd.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{label}: entry {k!r} is a {type(v).__name__}, not a named "
                                  f"tensor; this is not a state dict")
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{label}: {k} holds NaN or Inf values; the file is damaged")
    return sd, label


def load_usrnet_official(weights, preset: Preset | str | None = None,
                         device: torch.device | str | None = None) -> USRNet:
    """The authors' released USRNet, as our :class:`USRNet` (variant ``"official"``).

    Why: the paper prunes these published weights; with them the tables start from the
    network the paper started from rather than one we trained. The network is built at the
    size the file holds (:func:`official_config`), or at ``preset``'s size if one is given,
    then every official tensor is copied to its module (:func:`official_state_dict_map`).
    Nothing is left out and nothing is guessed: a file with a missing, unexpected or
    mis-shaped tensor is refused.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        weights: the path of ``usrnet.pth`` (or a state dict in the official naming).
        preset: build at this preset's USRNet size instead of the file's (``"paper"`` is the
            released size); None reads the size from the file.
        device: where to put the network; default the CPU.

    Returns:
        The network in eval mode.

    Raises:
        FileNotFoundError: no such file.
        spadelib.checkpoints.CheckpointError (a ValueError): not a readable torch file, not a
            state dict, or one that does not fit: the message names the file and lists the
            missing and unexpected keys, or the key whose shape differs with both shapes.
    """
    sd, label = read_official_state_dict(weights)
    if preset is None:
        net = USRNet(**official_config(sd, label), variant="official")
    else:
        net = build_usrnet(preset, variant="official")
    names = official_state_dict_map(net)
    size = f"channels={net.prior.channels}, blocks={net.prior.blocks}, iters={net.iters}"
    missing, unexpected = set(names) - set(sd), set(sd) - set(names)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_listing(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
        raise CheckpointError(f"{label} does not fit the official USRNet ({size}): "
                              f"{'; '.join(parts)}. Pass the official usrnet.pth (or a state "
                              f"dict in its naming) and the matching preset (or none)")
    ours = net.state_dict()
    bad = [f"{k} is {tuple(sd[k].shape)}, the network needs {tuple(ours[v].shape)}"
           for k, v in names.items() if sd[k].shape != ours[v].shape]
    if bad:
        more = f" (and {len(bad) - _SHOWN} more)" if len(bad) > _SHOWN else ""
        raise CheckpointError(f"{label} does not fit the official USRNet ({size}): "
                              f"{'; '.join(bad[:_SHOWN])}{more}")
    net.load_state_dict({names[k]: v for k, v in sd.items()}, strict=True)
    net.eval()
    return net.to(device) if device is not None else net
