r"""SPADE's three fine-tuning regimes for a pruned network (paper section 3, eqs. 7-9).

After pruning, the network :math:`f_{\hat\theta}` has lost some accuracy. SPADE recovers it with
one of three losses, each fitting a different situation: what you may see decides the regime.

=================== ========================== ============================================
regime              what it sees               loss (``l`` = l1 or squared l2, mean)
=================== ========================== ============================================
``supervised``      training pairs (y_i, x_i)  eq. (7): :math:`l(f(y_i), x_i)`
``school``          test measurements y_j and  eq. (8): :math:`l(f(y_j), f_\theta(y_j))`
                    the unpruned *teacher*
``self-supervised`` test measurements y_j and  eq. (9): :math:`l(A_j f(y_j), y_j) +
                    their operators A_j only   l(f(A_j \hat x_{\phi,j}), \hat x_{\phi,j})`
=================== ========================== ============================================

with :math:`\hat x_{\phi,j} = \phi_j f(y_j)` and :math:`\phi_j` a random rotation. The rules are
enforced, not just documented: :func:`finetune` refuses a teacher where the regime has none,
and ground truth (in the set, in a batch, or as a validation split) for school and
self-supervised fine-tuning. Pass ``split.measurements_only()`` to those two.

Choices the paper leaves open, and what this module does:

* **Rotations** (the group :math:`\Phi` of eq. 9). ``rotations="90"`` (default): exact
  multiples of 90 degrees with :func:`torch.rot90`, no interpolation, so the rotated image is
  exactly as sharp as the original and ``rotate(rotate(x, a), -a) == x``. The identity is never
  drawn (with :math:`\phi = I` the EI term only asks :math:`f(A f(y)) = f(y)` and teaches
  nothing about the null space): square images get 90, 180 or 270 degrees, uniformly;
  non-square images only 180 degrees (90 would change their shape). ``rotations="any"``:
  uniform angles in [0, 360) with bilinear :func:`torch.nn.functional.grid_sample` (zeros
  outside the field of view, aspect ratio respected), MRI only: for super-resolution the
  bilinear interpolation blurs exactly the high-resolution detail the network must restore,
  so SR always uses exact rotations. A fresh angle is drawn for every sample at every step,
  from a generator seeded by the preset.
* **Coil maps** (MRI). By default they do *not* rotate with the image: the coils are fixed to
  the scanner while the anatomy moves, and :math:`A_j` stays the operator of sample j.
  ``rotate_coil_maps=True`` rotates the maps with the same rotation before measuring, which is
  what the official code does (REFERENCE.md section 3); the rotated maps then travel with the
  new measurement. The sampling mask never rotates: it is the scanner's sampling pattern.
* **Whose operator.** Sample j is re-measured with its *own* :math:`A_j` (its own mask and coil
  maps, or its own blur kernel), built from the measurement's fields: MRI
  ``dataclasses.replace(m, kspace=A_j(x_phi))``, SR ``replace(m, lr=A_j(x_phi))``. The coil
  maps are those that come with the measurement (ESPIRiT, estimated from the data as in the
  paper's preprocessing) for every network, E2E-VarNet included: its own estimated maps only
  shape its reconstruction, not the operator of the loss. The new measurement is noiseless
  (eq. 9 has no noise term); an SR measurement keeps its noise level ``sigma``, which USRNet
  reads as an input.
* **Gradient through** :math:`\hat x_\phi`. It is *not* detached: eq. (9) is a function of
  :math:`\hat\theta` through both :math:`f(A\hat x_\phi)` and :math:`\hat x_\phi =
  \phi f(y)`, and the original equivariant-imaging loss (Chen et al. 2021) back-propagates
  through both; this is what pushes the reconstruction itself towards the equivariant set.
* **Data-fidelity domain.** Where the measurements live: k-space ``(B, C, H, W, 2)`` for MRI,
  the low-resolution image ``(B, 3, h, w)`` for SR. Both terms are means with weight 1, as
  eq. (9) sums them: the equivariance term over the image, the data-fidelity term over the
  *measured* entries (:func:`measured_loss`; for MRI only the sampled lines, for SR every
  pixel). A mean over the whole zero-padded k-space would shrink the data term by the
  sampling rate (6x at 16.7 %) and let the equivariance term win: on the quick DEQ pruned by
  23 %, ten epochs of such fine-tuning lowered the test PSNR from 25.8 to 24.3 dB, while the
  mean over the measured entries raised it to 26.9 dB.
* **Which epoch is kept.** Supervised fine-tuning may take a validation split (with ground
  truth) and keeps its best epoch. School and self-supervised fine-tuning may not see ground
  truth, so they accept no validation split and keep the last epoch.

Every run is cached like pre-training (:mod:`spadelib.zoo`): ``finetune-{regime}-{key}.pt``
under :func:`~spadelib.cache.cache_dir`, the key a hash of the pruned network (architecture and
initial weights), the regime, the options, the budget, the data and (school) the teacher. An
interrupted run resumes from ``finetune-{regime}-{key}.partial``.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import math
import numbers
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .cache import atomic_save, cache_dir, config_key, jsonable
from .data.common import SampleSet, has_ground_truth
from .data.mri import MRIMeasurement
from .data.sr import SRMeasurement
from .evaluation import reconstruct
from .physics.mri import MultiCoilMRI
from .presets import Preset, get_preset
from .training import LOSSES, FitConfig, History, default_device, fit, image_loss, \
    supervised_loss

__all__ = ["REGIMES", "ROTATIONS", "finetune", "scratch_baseline", "reinitialise",
           "school_loss", "self_supervised_loss", "ei_measurement", "draw_rotations", "rotate",
           "teacher_outputs", "with_teacher_outputs", "finetune_key"]

REGIMES = ("supervised", "school", "self-supervised")
ROTATIONS = ("90", "any")
FORMAT = "spadelib-finetune"
FORMAT_VERSION = 1

_NO_GT = {
    "school": "school fine-tuning never sees ground truth: pass split.measurements_only()",
    "self-supervised": ("self-supervised fine-tuning never sees ground truth: pass "
                        "split.measurements_only()"),
}


# --------------------------------------------------------------------------------------------
# rotations
# --------------------------------------------------------------------------------------------
def _check_rotations(rotations) -> str:
    key = str(rotations)
    if key not in ROTATIONS:
        raise ValueError(f"unknown rotations {rotations!r}; choose one of {ROTATIONS} ('90': "
                         "exact multiples of 90 degrees, 'any': arbitrary angles, bilinear)")
    return key


def draw_rotations(batch: int, size: tuple[int, int], rotations: str = "90",
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Random rotation angles, one per sample, never the identity.

    Args:
        batch: B.
        size: image size ``(H, W)``.
        rotations: ``"90"``: 90, 180 or 270 degrees for square images, 180 for non-square ones;
            ``"any"``: uniform in (0, 360).
        generator: a CPU generator (seeded by the caller for reproducibility).

    Returns:
        Angles in degrees, float64 ``(B,)`` on the CPU.
    """
    rotations = _check_rotations(rotations)
    if rotations == "any":
        u = torch.rand(batch, generator=generator, dtype=torch.float64)
        return 360.0 * u.clamp_min(1e-6)
    if size[0] != size[1]:
        return torch.full((batch,), 180.0, dtype=torch.float64)
    k = torch.randint(1, 4, (batch,), generator=generator)
    return 90.0 * k.double()


def _quarter_turns(angles: torch.Tensor) -> torch.Tensor | None:
    """``angles / 90`` modulo 4 when every angle is a multiple of 90 degrees, else None."""
    k = torch.round(angles.double() / 90.0)
    if torch.all(torch.abs(angles.double() - 90.0 * k) < 1e-9):
        return k.long() % 4
    return None


def rotate(x: torch.Tensor, angles: torch.Tensor | float) -> torch.Tensor:
    r"""Rotate each image of a batch about its centre, by its own angle.

    Multiples of 90 degrees use :func:`torch.rot90` on the last two axes (exact: rotating by
    ``a`` then ``-a`` returns ``x`` bit for bit); other angles use bilinear
    :func:`~torch.nn.functional.grid_sample` with zeros outside the field of view. The sense
    is that of ``torch.rot90(x, 1, dims=(-2, -1))`` for +90 degrees, for both paths.

    Args:
        x: ``(B, ..., H, W)`` real tensor (extra axes, e.g. real/imag channels or coils, are
            rotated together).
        angles: degrees, a number or ``(B,)``.

    Returns:
        The rotated batch, same shape as ``x``.

    Raises:
        ValueError: an odd number of quarter turns on a non-square image, or a wrong number of
            angles.
    """
    if x.dim() < 3:
        raise ValueError(f"rotate expects a batch (B, ..., H, W), got shape {tuple(x.shape)}")
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    angles = torch.as_tensor(angles, dtype=torch.float64).reshape(-1).cpu()
    if angles.numel() == 1:
        angles = angles.expand(b)
    if angles.numel() != b:
        raise ValueError(f"rotate got {angles.numel()} angles for a batch of {b} images")
    k = _quarter_turns(angles)
    if k is not None:
        if h != w and bool(torch.any(k % 2 == 1)):
            raise ValueError(f"a 90-degree rotation would turn the {h}x{w} image into {w}x{h}: "
                             "non-square images can only be rotated by 180 degrees")
        return torch.stack([torch.rot90(x[i], int(k[i]), dims=(-2, -1)) for i in range(b)])
    flat = x.reshape(b, -1, h, w)
    a = torch.deg2rad(angles)
    c, s = torch.cos(a), torch.sin(a)
    # output normalised coords -> input coords, with the aspect ratio of the pixel grid kept
    theta = torch.stack([torch.stack([c, -s * h / w, torch.zeros_like(c)], -1),
                         torch.stack([s * w / h, c, torch.zeros_like(c)], -1)], 1)
    grid = F.affine_grid(theta.to(device=x.device, dtype=x.dtype), list(flat.shape),
                         align_corners=False)
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(x.shape)


def _rotate_maps(maps: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate coil maps ``(B, C, H, W, 2)`` over their spatial axes."""
    return rotate(maps.movedim(-1, 1), angles).movedim(1, -1).contiguous()


# --------------------------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------------------------
def _refuse_ground_truth(batch, regime: str) -> None:
    if has_ground_truth(batch):
        raise ValueError(f"{_NO_GT[regime]} (this batch holds a 'target' field)")


def _measurement_of(batch):
    """The plain measurement inside a batch that carries teacher outputs."""
    base = getattr(type(batch), "_measurement_type", None)
    if base is None:
        return batch
    return base(**{f.name: getattr(batch, f.name) for f in dataclasses.fields(base)})


def school_loss(net: nn.Module, batch, kind: str = "l1") -> torch.Tensor:
    r"""Eq. (8): :math:`l(f(y_j), f_\theta(y_j))`, the teacher's output as the target.

    Args:
        net: the pruned network (the student).
        batch: a batched measurement carrying ``teacher_output`` (a batch of
            :func:`with_teacher_outputs`), no ground truth.
        kind: ``"l1"`` or ``"l2"``.

    Returns:
        A scalar tensor.

    Raises:
        ValueError: the batch holds ground truth, or no teacher outputs.
    """
    _refuse_ground_truth(batch, "school")
    target = getattr(batch, "teacher_output", None)
    if not isinstance(target, torch.Tensor):
        raise ValueError("the school loss needs the teacher's outputs in the batch: build the "
                         "set with with_teacher_outputs(measurements, teacher_outputs(...))")
    return image_loss(net(_measurement_of(batch)), target, kind)


def ei_measurement(measurement, x_phi: torch.Tensor, angles: torch.Tensor | None = None,
                   rotate_coil_maps: bool = False):
    r"""The measurement :math:`A_j \hat x_{\phi,j}` of each sample, with its own operator.

    Args:
        measurement: a batched :class:`~spadelib.data.MRIMeasurement` or
            :class:`~spadelib.data.SRMeasurement` (B samples).
        x_phi: the rotated reconstructions, ``(B, 2, H, W)`` (MRI) or ``(B, 3, H, W)`` (SR).
        angles: the rotation of each sample (degrees, ``(B,)``); needed only with
            ``rotate_coil_maps``.
        rotate_coil_maps: MRI: rotate the coil maps by ``angles`` before measuring (the
            official code's choice) and ship the rotated maps in the new measurement.

    Returns:
        A copy of ``measurement`` whose k-space (MRI: :math:`P_j F S_j \hat x_{\phi,j}`,
        masked with sample j's mask) or LR image (SR: :math:`S H_j \hat x_{\phi,j}`, sample
        j's kernel) is replaced; every other field (mask, maps, kernel, sigma, scale) is the
        sample's own. Noiseless.
    """
    if isinstance(measurement, MRIMeasurement):
        if not measurement.batched:
            raise ValueError("ei_measurement expects a batched MRI measurement, k-space "
                             f"(B, C, H, W, 2), got {tuple(measurement.kspace.shape)}")
        maps = measurement.coil_maps
        if rotate_coil_maps:
            if angles is None:
                raise ValueError("rotate_coil_maps=True needs the rotation angles")
            maps = _rotate_maps(maps, angles)
        kspace = MultiCoilMRI(maps, measurement.mask).A(x_phi)
        return dataclasses.replace(measurement, kspace=kspace, coil_maps=maps)
    if isinstance(measurement, SRMeasurement):
        if rotate_coil_maps:
            raise ValueError("rotate_coil_maps applies to MRI only: an SR measurement has no "
                             "coil maps")
        physics = measurement.physics(tuple(x_phi.shape[-2:]))
        return dataclasses.replace(measurement, lr=physics.A(x_phi))
    raise TypeError("self-supervised fine-tuning needs MRI or SR measurements (MRIMeasurement "
                    f"or SRMeasurement batches), got {type(measurement).__name__}")


def measured_loss(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                  kind: str = "l1") -> torch.Tensor:
    """Mean l1 or squared-l2 distance over the *measured* k-space entries only.

    ``pred`` and ``y`` are ``(B, C, H, W, 2)`` k-space; ``mask`` (broadcastable to them, e.g.
    ``(B, 1, 1, W, 1)``) is nonzero where a line was sampled. The unsampled entries are not
    measurements (both sides are zero there), so they do not dilute the mean: the term has
    the same scale at every sampling rate.
    """
    measured = torch.broadcast_to(mask != 0, y.shape)
    if not measured.any():
        raise ValueError("the mask samples no k-space entry: there is no data to be faithful to")
    return image_loss(pred[measured], y[measured], kind)


def self_supervised_loss(net: nn.Module, batch, kind: str = "l1", rotations: str = "90",
                         rotate_coil_maps: bool = False,
                         generator: torch.Generator | None = None,
                         return_terms: bool = False):
    r"""Eq. (9): data fidelity plus equivariant imaging, each sample with its own :math:`A_j`.

    .. math::

        l(A_j f(y_j), y_j) + l(f(A_j \hat x_{\phi,j}), \hat x_{\phi,j}),\qquad
        \hat x_{\phi,j} = \phi_j f(y_j),

    with :math:`\phi_j` a random rotation (:func:`draw_rotations`) and the gradient kept
    through :math:`\hat x_{\phi,j}` (module docstring).

    Args:
        net: the pruned network.
        batch: a batched measurement without ground truth: MRI k-space ``(B, C, H, W, 2)``
            or SR ``lr`` ``(B, 3, h, w)``.
        kind: ``"l1"`` or ``"l2"``.
        rotations: ``"90"`` (exact) or ``"any"`` (bilinear, MRI only).
        rotate_coil_maps: MRI: rotate the coil maps with the image (the official code).
        generator: CPU generator for the angles.
        return_terms: also return the two terms and the angles.

    Returns:
        The scalar loss, or ``(loss, {"data_fidelity", "equivariance", "angles"})``.

    Raises:
        ValueError: the batch holds ground truth; ``"any"`` rotations or rotated coil maps
            for SR.
        TypeError: neither an MRI nor an SR measurement.
    """
    _refuse_ground_truth(batch, "self-supervised")
    rotations = _check_rotations(rotations)
    if isinstance(batch, MRIMeasurement):
        y = batch.y()
    elif isinstance(batch, SRMeasurement):
        if rotations == "any":
            raise ValueError("super-resolution uses exact rotations only (rotations='90'): "
                             "bilinear interpolation would blur the high-resolution targets")
        y = batch.lr
    else:
        raise TypeError("self-supervised fine-tuning needs MRI or SR measurements "
                        f"(MRIMeasurement or SRMeasurement batches), got {type(batch).__name__}")
    x1 = net(batch)                                               # f(y_j)
    physics = (batch.physics() if isinstance(batch, MRIMeasurement)
               else batch.physics(tuple(x1.shape[-2:])))
    y = y.to(x1.device)
    if isinstance(batch, MRIMeasurement):
        data_fidelity = measured_loss(physics.A(x1), y, batch.mask.to(x1.device), kind)
    else:
        data_fidelity = image_loss(physics.A(x1), y, kind)
    angles = draw_rotations(x1.shape[0], tuple(x1.shape[-2:]), rotations, generator)
    x_phi = rotate(x1, angles)                                    # not detached (EI)
    x2 = net(ei_measurement(batch, x_phi, angles, rotate_coil_maps))
    equivariance = image_loss(x2, x_phi, kind)
    loss = data_fidelity + equivariance
    if return_terms:
        return loss, {"data_fidelity": data_fidelity, "equivariance": equivariance,
                      "angles": angles}
    return loss


# --------------------------------------------------------------------------------------------
# teacher outputs
# --------------------------------------------------------------------------------------------
_WITH_TEACHER: dict[type, type] = {}


def _with_teacher_type(base: type) -> type:
    if base not in _WITH_TEACHER:
        cls = dataclasses.make_dataclass(f"{base.__name__}WithTeacher",
                                         [("teacher_output", torch.Tensor)], bases=(base,))
        cls.__module__ = __name__
        cls.__doc__ = (f"A {base.__name__} plus the teacher's reconstruction ``teacher_output`` "
                       "(the target of the school loss, eq. 8).")
        cls._measurement_type = base
        _WITH_TEACHER[base] = cls
    return _WITH_TEACHER[base]


def teacher_outputs(teacher: nn.Module, data: SampleSet, batch_size: int = 4,
                    device: torch.device | str | None = None,
                    progress: bool = False) -> torch.Tensor:
    r"""The teacher's reconstructions :math:`f_\theta(y_j)` of every sample, computed once.

    The teacher runs in eval mode without gradients and is left untouched (a copy is moved
    when it lives on another device).

    Returns:
        ``(N, ...)`` images on the CPU, in the order of ``data``.
    """
    device = torch.device(device) if device is not None else default_device()
    p = next(teacher.parameters(), None)
    if p is not None and p.device != device:
        teacher = copy.deepcopy(teacher).to(device)
    return reconstruct(teacher, data, batch_size, device, progress).detach()


def with_teacher_outputs(data: SampleSet, outputs: torch.Tensor) -> SampleSet:
    """A copy of a measurement-only set whose samples also carry ``teacher_output``.

    Raises:
        ValueError: the set holds ground truth, or the outputs do not match it.
    """
    if has_ground_truth(data):
        raise ValueError(_NO_GT["school"])
    if not isinstance(outputs, torch.Tensor) or len(outputs) != len(data):
        n = len(outputs) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise ValueError(f"need one teacher output per sample: {len(data)} samples, got {n}")
    cls = _with_teacher_type(data.sample_type)
    return SampleSet(cls, {**data.fields, "teacher_output": outputs}, dict(data.constants),
                     data.measurement_type, {**data.info, "teacher": "outputs attached"})


# --------------------------------------------------------------------------------------------
# re-initialisation (the Table-3 baseline)
# --------------------------------------------------------------------------------------------
def _known_inits() -> dict:
    """Constructor values of trainable scalars that no ``reset_parameters`` covers."""
    table = {}
    try:
        from fastmri.models.varnet import VarNetBlock
        table[VarNetBlock] = {"dc_weight": 1.0}   # fastMRI: nn.Parameter(torch.ones(1))
    except ImportError:  # pragma: no cover - fastmri is a dependency
        pass
    return table


def reinitialise(net: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``net`` (same widths) with every parameter drawn afresh, seeded.

    Every submodule with a ``reset_parameters`` method (convolutions, linear and norm layers)
    calls it, under ``torch.manual_seed(seed)`` on the CPU (the global random state is
    restored afterwards). Trainable parameters held directly by a module without one are reset
    to their constructor defaults where these are known: a default of the constructor argument
    of the same name (the DEQ's ``gamma`` = 1 and ``alpha`` = 0.5) or fastMRI's
    ``VarNetBlock.dc_weight`` = 1. Any other such parameter is left as it was, with a warning
    naming it.

    Returns:
        The new network, on the CPU, in training mode. ``net`` is not modified.
    """
    fresh = copy.deepcopy(net).cpu()
    covered: set[int] = set()
    known = _known_inits()
    left: list[str] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
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
            try:
                defaults = {k: v.default for k, v in inspect.signature(
                    type(module).__init__).parameters.items()
                    if isinstance(v.default, numbers.Real) and not isinstance(v.default, bool)}
            except (TypeError, ValueError):
                defaults = {}
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


# --------------------------------------------------------------------------------------------
# digests and the cache
# --------------------------------------------------------------------------------------------
def _update_tensor(h, name: str, t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())


def state_digest(net: nn.Module) -> str:
    """Hash of a network's class, structure (``repr``), tensor names, shapes, dtypes and values."""
    h = hashlib.sha1(f"{type(net).__module__}.{type(net).__qualname__}|{net!r}".encode())
    for name, t in net.state_dict().items():
        _update_tensor(h, name, t)
    return h.hexdigest()[:16]


def data_digest(data: SampleSet) -> str:
    """Hash of a set's sample type, constants and every tensor field."""
    h = hashlib.sha1(f"{data.sample_type.__name__}|{sorted(data.constants.items())!r}".encode())
    for name in sorted(data.fields):
        _update_tensor(h, name, data.fields[name])
    return h.hexdigest()[:16]


def finetune_key(config: dict) -> str:
    """The cache key of a fine-tuning configuration (see :func:`finetune`)."""
    return config_key(config)


def _load_cached(path: Path, config: dict):
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - an unreadable file is retrained
        warnings.warn(f"{path} could not be read ({type(err).__name__}); fine-tuning again")
        return None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT \
            or payload.get("config") != jsonable(config):
        warnings.warn(f"{path} holds another configuration; fine-tuning again")
        return None
    return payload


# --------------------------------------------------------------------------------------------
# the entry points
# --------------------------------------------------------------------------------------------
def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _check_regime(regime) -> str:
    if regime not in REGIMES:
        raise ValueError(f"unknown fine-tuning regime {regime!r}; choose one of "
                         f"{', '.join(REGIMES)}")
    return regime


def finetune(pruned: nn.Module, regime: str, *, data: SampleSet,
             teacher: nn.Module | None = None, epochs: int | None = None,
             lr: float | None = None, batch_size: int | None = None, loss: str = "l1",
             rotations: str = "90", rotate_coil_maps: bool = False,
             preset: Preset | str | None = None, val_data: SampleSet | None = None,
             max_minutes: float | None | str = "preset", cache: bool = True,
             device: torch.device | str | None = None,
             progress: bool = True) -> tuple[nn.Module, History]:
    r"""Fine-tune a copy of a pruned network with one of SPADE's three regimes.

    ``pruned`` itself is never modified: a deep copy is trained with Adam
    (:func:`spadelib.training.fit`: progress bar, gradient clipping at 1, a resumable
    checkpoint) and returned in eval mode, with the history also attached as ``net.history``.

    Args:
        pruned: the network to fine-tune (any ``net(batched measurement) -> image`` module).
        regime: ``"supervised"`` (eq. 7), ``"school"`` (eq. 8) or ``"self-supervised"``
            (eq. 9).
        data: a :class:`~spadelib.data.SampleSet`. Supervised: training pairs (with ground
            truth). School and self-supervised: test measurements *without* ground truth,
            ``split.measurements_only()``.
        teacher: school only, and required there: the unpruned network; frozen (eval mode, no
            gradients); its outputs are computed once, before training.
        epochs: passes over ``data``; default ``preset.finetune_epochs``.
        lr: Adam learning rate; default ``preset.finetune_lr`` (the paper: 1e-5).
        batch_size: default ``preset.train_batch``.
        loss: ``"l1"`` or ``"l2"`` (mean absolute or squared error).
        rotations: self-supervised only: ``"90"`` (exact, default) or ``"any"`` (bilinear, MRI
            only); see the module docstring.
        rotate_coil_maps: self-supervised MRI only: rotate the coil maps with the image (the
            official code's choice); default False (coils stay with the scanner).
        preset: a preset or its name (budget defaults and the seed); default the current one.
        val_data: supervised only: a split with ground truth; its PSNR is computed after each
            epoch and the best epoch is kept. The other regimes keep the last epoch.
        max_minutes: wall-clock cap of the run; default ``preset.train_minutes`` (a few
            minutes for ``quick``, none for ``paper``); ``None``: no cap.
        cache: store the result as ``finetune-{regime}-{key}.pt`` under
            :func:`~spadelib.cache.cache_dir` and reuse it when the same configuration comes
            again (atomic writes; an interrupted run resumes from a ``.partial`` file). With
            ``cache=False`` nothing is written.
        device: default :func:`~spadelib.training.default_device`.
        progress: show progress bars.

    Returns:
        ``(net, history)``: the fine-tuned copy and its
        :class:`~spadelib.training.History` (per-epoch loss, and validation PSNR when
        ``val_data`` was given).

    Raises:
        TypeError: ``data`` (or ``val_data``) is not a SampleSet, or ``pruned`` / ``teacher``
            is not an ``nn.Module``.
        ValueError: an unknown regime; ground truth handed to school or self-supervised
            fine-tuning; a teacher missing (school) or given (other regimes); ``val_data``
            outside the supervised regime or without ground truth; bad budget or options.

    The cache key hashes: the pruned network (class, structure, every tensor of its state
    dict, so its architecture and initial weights), the regime, the loss and (self-supervised)
    the rotation options, the budget (epochs, lr, batch size, wall-clock cap, seed), the data,
    the validation data and (school) the teacher. The device is not part of it.
    """
    regime = _check_regime(regime)
    if not isinstance(pruned, nn.Module):
        raise TypeError(f"pruned must be an nn.Module (a network), got {type(pruned).__name__}")
    if not isinstance(data, SampleSet):
        raise TypeError(f"data must be a SampleSet (e.g. mri_dataset('test').measurements_only()"
                        f"), got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("data is empty: fine-tuning needs at least one sample")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {LOSSES}")
    rotations = _check_rotations(rotations)
    if not isinstance(rotate_coil_maps, bool):
        raise TypeError(f"rotate_coil_maps must be True or False, got {rotate_coil_maps!r}")

    if regime == "supervised":
        if not has_ground_truth(data):
            raise ValueError("supervised fine-tuning needs training pairs with ground truth; "
                             "this set holds measurements only (use school or self-supervised "
                             "for measurement-only data)")
        if teacher is not None:
            raise ValueError("supervised fine-tuning learns from the ground truth and takes no "
                             "teacher: drop teacher=, or use regime='school'")
    else:
        if has_ground_truth(data):
            raise ValueError(_NO_GT[regime])
        if val_data is not None:
            raise ValueError(f"{regime} fine-tuning may not see ground truth, so it takes no "
                             "val_data (it keeps the last epoch); evaluate the returned network "
                             "on a split with ground truth afterwards instead")
    if regime == "school":
        if teacher is None:
            raise ValueError("school fine-tuning needs teacher= (the unpruned, pre-trained "
                             "network whose outputs the pruned one learns to match)")
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be an nn.Module, got {type(teacher).__name__}")
    if regime == "self-supervised" and teacher is not None:
        raise ValueError("self-supervised fine-tuning assumes no pre-trained model is available "
                         "and takes no teacher: drop teacher=, or use regime='school'")
    if val_data is not None:
        if not isinstance(val_data, SampleSet):
            raise TypeError(f"val_data must be a SampleSet with ground truth, got "
                            f"{type(val_data).__name__}")
        if not has_ground_truth(val_data):
            raise ValueError("val_data must hold ground truth (it is used for a validation "
                             "PSNR); pass the split itself, not measurements_only()")
    if regime == "self-supervised":
        is_sr = issubclass(data.sample_type, SRMeasurement)
        if not (is_sr or issubclass(data.sample_type, MRIMeasurement)):
            raise TypeError("self-supervised fine-tuning needs MRI or SR measurements, got a "
                            f"set of {data.sample_type.__name__}")
        if is_sr and rotations == "any":
            raise ValueError("super-resolution uses exact rotations only (rotations='90'): "
                             "bilinear interpolation would blur the high-resolution targets")
        if is_sr and rotate_coil_maps:
            raise ValueError("rotate_coil_maps applies to MRI only: an SR measurement has no "
                             "coil maps")

    P = get_preset(preset)
    epochs = _positive_int(P.finetune_epochs if epochs is None else epochs, "epochs")
    batch_size = _positive_int(P.train_batch if batch_size is None else batch_size,
                               "batch_size")
    lr = P.finetune_lr if lr is None else lr
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0 \
            or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if isinstance(max_minutes, str) and max_minutes == "preset":
        max_minutes = P.train_minutes
    if max_minutes is not None and not (isinstance(max_minutes, numbers.Real)
                                        and max_minutes > 0):
        raise ValueError(f"max_minutes must be a positive number or None, got {max_minutes!r}")
    config = FitConfig(epochs=epochs, batch_size=batch_size, lr=float(lr),
                       max_minutes=max_minutes, seed=P.seed)
    device = torch.device(device) if device is not None else default_device()

    options = {"loss": loss}
    if regime == "self-supervised":
        options.update(rotations=rotations, rotate_coil_maps=rotate_coil_maps,
                       data_fidelity="measured entries")
    key_config = {
        "v": FORMAT_VERSION, "regime": regime, "network": state_digest(pruned),
        "options": options, "budget": dataclasses.asdict(config), "data": data_digest(data),
        "val": data_digest(val_data) if val_data is not None else None,
        "teacher": state_digest(teacher) if teacher is not None else None,
    }
    key = finetune_key(key_config)
    path = cache_dir() / f"finetune-{regime}-{key}.pt" if cache else None

    net = copy.deepcopy(pruned)
    if path is not None and path.exists():
        payload = _load_cached(path, key_config)
        if payload is not None:
            try:
                net.load_state_dict(payload["state_dict"])
            except RuntimeError as err:
                warnings.warn(f"{path} does not fit the network ({str(err)[:120]}); "
                              "fine-tuning again")
                net = copy.deepcopy(pruned)
            else:
                history = History(**payload["history"])
                net.history = history
                return net.to(device).eval(), history

    if regime == "supervised":
        train_set = data

        def loss_fn(model, batch):
            return supervised_loss(model, batch, loss)
    elif regime == "school":
        outputs = teacher_outputs(teacher, data, batch_size, device, progress)
        train_set = with_teacher_outputs(data, outputs)

        def loss_fn(model, batch):
            return school_loss(model, batch, loss)
    else:
        train_set = data
        gen = torch.Generator().manual_seed(P.seed * 7_919 + 17)

        def loss_fn(model, batch):
            return self_supervised_loss(model, batch, loss, rotations, rotate_coil_maps, gen)

    history = fit(net, train_set, loss_fn, config, val_data=val_data,
                  checkpoint=path.with_suffix(".partial") if path is not None else None,
                  device=device, progress=progress, desc=f"{regime} fine-tuning")
    if path is not None:
        atomic_save({"format": FORMAT, "format_version": FORMAT_VERSION,
                     "config": jsonable(key_config),
                     "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                     "history": dataclasses.asdict(history)}, path)
    net.history = history
    return net.eval(), history


def scratch_baseline(pruned: nn.Module, regime: str, *, seed: int | None = None,
                     **kwargs) -> tuple[nn.Module, History]:
    """Table 3's baseline: the pruned architecture trained from scratch with the same loss.

    The network keeps the pruned network's widths, but every parameter is drawn afresh
    (:func:`reinitialise`, seeded); it is then trained by :func:`finetune` with the same
    regime, data, loss and budget, so the only difference from fine-tuning is the starting
    point. ``pruned`` is not modified.

    Args:
        pruned: the pruned network whose architecture is reused.
        regime: as for :func:`finetune`.
        seed: seed of the re-initialisation; default the preset's seed.
        **kwargs: everything :func:`finetune` takes (``data``, ``teacher``, ``epochs``, ...).

    Returns:
        ``(net, history)`` as :func:`finetune`.
    """
    _check_regime(regime)
    if not isinstance(pruned, nn.Module):
        raise TypeError(f"pruned must be an nn.Module (a network), got {type(pruned).__name__}")
    if seed is None:
        seed = get_preset(kwargs.get("preset")).seed
    return finetune(reinitialise(pruned, seed), regime, **kwargs)
