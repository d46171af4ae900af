r"""The losses of SPADE's fine-tuning regimes (paper section 3, eqs. 7-9), each written once.

Every regime's loss has the signature of :func:`spadelib.training.fit`'s ``loss_fn``,
``loss(net, batch, kind="l1", ...) -> scalar`` with ``l`` the mean l1 or squared-l2 distance
(``kind``):

============================== ================================================================
:func:`supervised_loss`        eq. (7): :math:`l(f(y_i), x_i)`, a training pair's ground truth
                               (:func:`spadelib.training.supervised_loss`, the loss of
                               pre-training, re-exported here)
:func:`school_loss`            eq. (8): :math:`l(f(y_j), f_\theta(y_j))`, the unpruned
                               teacher's output as the target (:func:`with_teacher_outputs`
                               puts it in the batch)
:func:`self_supervised_loss`   eq. (9): :func:`data_fidelity_loss` + :func:`equivariance_loss`
============================== ================================================================

The two terms of eq. (9) share the signature ``term(net, m, x_net, kind)``, with ``x_net =
net(m)`` computed once. They are written once for both tasks through the one measurement
interface of :mod:`spadelib.data` (``m.y``, ``m.physics()``, ``m.with_y(y)``, ``m.measured``):

.. math::

    \underbrace{l(A_j f(y_j), y_j)}_{\text{data fidelity}} +
    \underbrace{l(f(A_j \hat x_{\phi,j}), \hat x_{\phi,j})}_{\text{equivariance}},\qquad
    \hat x_{\phi,j} = \phi_j f(y_j),

with :math:`\phi_j` a random rotation (:mod:`spadelib.transforms`). Choices the paper leaves
open, and what this module does:

* **Whose operator.** Sample j is re-measured with its *own* :math:`A_j` (its own mask and coil
  maps, or its own blur kernel): ``m.with_y(m.physics().A(x_phi))`` (:func:`ei_measurement`).
  The coil maps are those that come with the measurement (ESPIRiT, estimated from the data as
  in the paper's preprocessing) for every network, E2E-VarNet included: its own estimated maps
  only shape its reconstruction, not the operator of the loss. The new measurement is
  noiseless (eq. 9 has no noise term); an SR measurement keeps its noise level ``sigma``,
  which USRNet reads as an input.
* **Coil maps** (measurements that have them, MRI). By default they rotate with the image
  (``rotate_coil_maps=None``: rotate where there are coil maps), as the authors' code does
  (wustl-cig/MBDL_Pruning, ``sota_module/baseline/e2e_varnet/fastmri/losses.py``,
  ``REILoss.forward``, line 354: ``x2, S2 = self.transform.apply(x1, S)``, commit 49823d0).
  Rotating the maps with the image is rotating the whole scanner around the anatomy, so
  :math:`A_{j,\phi}\,\phi x` is the measurement of a physically possible object. Keeping the
  maps fixed instead (``rotate_coil_maps=False``) measures the rotated anatomy with coils that
  were estimated for the upright one: ESPIRiT maps are zero outside the (tall) head support,
  so part of a head turned by 90 degrees falls where :math:`A_j` sees nothing and no network
  can reconstruct it from :math:`A_j \phi x`; the equivariance term then asks for the
  impossible (Chapter 5 measures both). The rotated maps travel with the new measurement. The
  sampling mask never rotates: it is the scanner's sampling pattern.
* **Arbitrary angles** (``rotations="any"``, bilinear) are refused for measurements
  reconstructed on a finer grid than they were measured on (those with a ``scale``,
  super-resolution): interpolation would blur exactly the detail the network must restore.
* **Gradient through** :math:`\hat x_\phi`. It is *not* detached: eq. (9) is a function of
  :math:`\hat\theta` through both :math:`f(A\hat x_\phi)` and :math:`\hat x_\phi = \phi f(y)`,
  and the original equivariant-imaging loss (Chen et al. 2021) back-propagates through both;
  this is what pushes the reconstruction itself towards the equivariant set.
* **Data-fidelity domain.** Where the measurements live: k-space ``(B, C, H, W, 2)`` for MRI,
  the low-resolution image ``(B, 3, h, w)`` for SR. Both terms are means with weight 1, as
  eq. (9) sums them: the equivariance term over the image, the data-fidelity term over the
  *measured* entries only (:func:`measured_loss`: the sampled k-space lines, every LR pixel).
  A mean over the whole zero-padded k-space would shrink the data term by the sampling rate
  and let the equivariance term win, and fine-tuning then drifts away from the data instead
  of recovering (Chapter 5 shows the effect of the regimes).

**What each loss may see.** School and self-supervised losses accept only a task's
ground-truth-free measurement (:func:`check_measurements_only`): its exact type and exactly its
measurement fields, so ground truth cannot ride along under any name.

Taught in Chapter 5 (``book/05_finetuning.ipynb``).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from . import checks
from .data.common import SampleSet
from .metrics import psnr
from .tasks import TASKS
from .training import image_loss, supervised_loss
from .transforms import check_rotations, draw_rotations, rotate, rotate_maps

__all__ = ["supervised_loss", "school_loss", "self_supervised_loss", "data_fidelity_loss",
           "equivariance_loss", "measured_loss", "ei_measurement", "with_teacher_outputs",
           "measurement_of", "check_measurements_only", "check_ei_options", "has_coil_maps",
           "exact_rotations_only", "rotate_maps_for", "ei_consistency"]

TEACHER_FIELD = "teacher_output"


# --------------------------------------------------------------------------------------------
# what a loss may see
# --------------------------------------------------------------------------------------------
def _measurement_types() -> tuple[type, ...]:
    return tuple(task.measurement_type for task in TASKS.values())


def _tensor_names(obj: Any) -> tuple[type, set[str]]:
    """The sample type of a set or a batch, and the names of every tensor it carries."""
    if isinstance(obj, SampleSet):
        return obj.sample_type, set(obj.fields) | {
            k for k, v in obj.constants.items() if isinstance(v, torch.Tensor)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return type(obj), {f.name for f in dataclasses.fields(obj)
                           if isinstance(getattr(obj, f.name), torch.Tensor)}
    return type(obj), set()


def check_measurements_only(obj, regime: str, *, extra: tuple[str, ...] = ()) -> type:
    """Refuse anything but a task's ground-truth-free measurements.

    ``obj`` (a :class:`~spadelib.data.SampleSet` or a batch) must be of a task's measurement
    type *exactly* (``MRIMeasurement``, ``SRMeasurement``; not a subclass, not a sample) and
    carry exactly its measurement fields as tensors (plus ``extra``, e.g. the teacher's
    outputs): any other tensor is refused whatever its name, so ground truth cannot ride along
    as ``target``, ``clean`` or anything else.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Returns:
        The measurement type.

    Raises:
        TypeError: not a task's measurement at all.
        ValueError: a sample with ground truth, or any tensor beyond the measurement's.
    """
    sample_type, names = _tensor_names(obj)
    base = _WITH_TEACHER_BASE.get(sample_type, sample_type) if extra else sample_type
    types = _measurement_types()
    if not isinstance(base, type) or not issubclass(base, types):
        raise TypeError(f"{regime} fine-tuning needs a task's measurements "
                        f"({' or '.join(t.__name__ for t in types)}), got "
                        f"{getattr(base, '__name__', base)}")
    if base in types and names == {*base.measurement_fields, *extra}:
        return base
    wanted = "; ".join(f"{t.__name__}: {', '.join(t.measurement_fields)}" for t in types)
    raise ValueError(f"{regime} fine-tuning never sees ground truth: pass "
                     f"split.measurements_only() (a task's measurement type with exactly its "
                     f"measurement tensors, {wanted}); got {sample_type.__name__} with tensors "
                     f"{', '.join(sorted(names))}")


def has_coil_maps(measurement) -> bool:
    """Whether a measurement (or its type) carries coil maps that could rotate with the image
    (MRI). Taught in Chapter 5 (``book/05_finetuning.ipynb``)."""
    return "coil_maps" in getattr(measurement, "measurement_fields", ())


def exact_rotations_only(measurement) -> bool:
    """Whether a measurement (or its type) is reconstructed on a grid finer than it was
    measured on (it has a ``scale``: super-resolution), so that only exact rotations suit it
    (interpolation would blur the detail to restore). Taught in Chapter 5
    (``book/05_finetuning.ipynb``)."""
    cls = measurement if isinstance(measurement, type) else type(measurement)
    return dataclasses.is_dataclass(cls) and any(f.name == "scale"
                                                 for f in dataclasses.fields(cls))


def rotate_maps_for(measurement, rotate_coil_maps: bool | None = None) -> bool:
    """``rotate_coil_maps`` resolved for a measurement (or its type): ``None`` (the default)
    means "rotate them where there are coil maps" (MRI), as the authors' code does (cited in
    the module docstring).

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Raises:
        TypeError: ``rotate_coil_maps`` is not a bool or None.
    """
    if rotate_coil_maps is None:
        return has_coil_maps(measurement)
    return checks.flag(rotate_coil_maps, "rotate_coil_maps")


def check_ei_options(measurement, rotations: str = "90",
                     rotate_coil_maps: bool | None = None) -> str:
    """Refuse equivariance options that do not suit a measurement (or its type).

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Returns:
        ``rotations``, checked.

    Raises:
        ValueError: unknown ``rotations``; ``"any"`` for a measurement that needs exact
            rotations (super-resolution); ``rotate_coil_maps=True`` for one without coil maps.
        TypeError: ``rotate_coil_maps`` is not a bool or None.
    """
    rotations = check_rotations(rotations)
    rotate_coil_maps = rotate_maps_for(measurement, rotate_coil_maps)
    name = getattr(measurement, "__name__", type(measurement).__name__)
    if rotations == "any" and exact_rotations_only(measurement):
        raise ValueError(f"super-resolution ({name}) uses exact rotations only "
                         "(rotations='90'): bilinear interpolation would blur the "
                         "high-resolution targets")
    if rotate_coil_maps and not has_coil_maps(measurement):
        raise ValueError(f"rotate_coil_maps applies to MRI only: a {name} has no coil maps")
    return rotations


# --------------------------------------------------------------------------------------------
# eq. (8): the school loss and the teacher's outputs it learns from
# --------------------------------------------------------------------------------------------
_WITH_TEACHER: dict[type, type] = {}        # measurement type -> the same with teacher outputs
_WITH_TEACHER_BASE: dict[type, type] = {}   # and back


def _with_teacher_type(base: type) -> type:
    if base not in _WITH_TEACHER:
        cls = dataclasses.make_dataclass(f"{base.__name__}WithTeacher",
                                         [(TEACHER_FIELD, torch.Tensor)], bases=(base,))
        cls.__module__ = __name__
        cls.__doc__ = (f"A {base.__name__} plus the teacher's reconstruction ``teacher_output`` "
                       "(the target of the school loss, eq. 8).")
        _WITH_TEACHER[base], _WITH_TEACHER_BASE[cls] = cls, base
    return _WITH_TEACHER[base]


def with_teacher_outputs(data: SampleSet, outputs: torch.Tensor) -> SampleSet:
    """A copy of a measurement-only set whose samples also carry ``teacher_output``.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Raises:
        ValueError: the set holds ground truth (or anything beyond its measurements), or the
            outputs do not match it (one per sample), or hold NaN or Inf.
    """
    check_measurements_only(data, "school")
    if not isinstance(outputs, torch.Tensor) or len(outputs) != len(data):
        n = len(outputs) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise ValueError(f"need one teacher output per sample: {len(data)} samples, got {n}")
    checks.finite_tensor(outputs, "the teacher's outputs")
    cls = _with_teacher_type(data.sample_type)
    return SampleSet(cls, {**data.fields, TEACHER_FIELD: outputs}, dict(data.constants),
                     data.measurement_type, {**data.info, "teacher": "outputs attached"})


def measurement_of(batch):
    """The measurement inside a batch that carries teacher outputs (the batch itself
    otherwise): what the network may be given. Taught in Chapter 5
    (``book/05_finetuning.ipynb``)."""
    base = _WITH_TEACHER_BASE.get(type(batch))
    if base is None:
        return batch
    return base(**{f.name: getattr(batch, f.name) for f in dataclasses.fields(base)})


def school_loss(net: nn.Module, batch, kind: str = "l1") -> torch.Tensor:
    r"""Eq. (8): :math:`l(f(y_j), f_\theta(y_j))`, the teacher's output as the target.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        net: the pruned network (the student).
        batch: a batch of :func:`with_teacher_outputs`: measurements plus ``teacher_output``,
            nothing else.
        kind: ``"l1"`` or ``"l2"``.

    Returns:
        A scalar tensor.

    Raises:
        ValueError: the batch holds ground truth, or no teacher outputs.
    """
    if type(batch) not in _WITH_TEACHER_BASE:
        check_measurements_only(batch, "school")      # ground truth is the worse mistake
        raise ValueError("the school loss needs the teacher's outputs in the batch: build the "
                         "set with with_teacher_outputs(measurements, teacher_outputs(...))")
    check_measurements_only(batch, "school", extra=(TEACHER_FIELD,))
    return image_loss(net(measurement_of(batch)), batch.teacher_output, kind)


# --------------------------------------------------------------------------------------------
# eq. (9): data fidelity + equivariant imaging
# --------------------------------------------------------------------------------------------
def measured_loss(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                  kind: str = "l1") -> torch.Tensor:
    """Mean l1 or squared-l2 distance over the *measured* entries only.

    ``pred`` and ``y`` are measurements (e.g. k-space ``(B, C, H, W, 2)``); ``mask``
    (broadcastable to them, e.g. ``(B, 1, 1, W, 1)``) is nonzero where an entry was measured
    (``m.measured``). The unmeasured entries are not data (both sides are zero there), so they
    do not dilute the mean: the term has the same scale at every sampling rate.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Raises:
        ValueError: the mask measures nothing; an unknown ``kind``.
    """
    measured = torch.broadcast_to(mask != 0, y.shape)
    if not measured.any():
        raise ValueError("the mask samples no k-space entry: there is no data to be faithful to")
    return image_loss(pred[measured], y[measured], kind)


def ei_measurement(measurement, x_phi: torch.Tensor, angles: torch.Tensor | None = None,
                   rotate_coil_maps: bool = False):
    r"""The measurement :math:`A_j \hat x_{\phi,j}` of each sample, with its own operator.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        measurement: a measurement of either task (B samples).
        x_phi: the rotated reconstructions, ``(B, 2, H, W)`` (MRI) or ``(B, 3, H, W)`` (SR).
        angles: the rotation of each sample (degrees, ``(B,)``); needed only with
            ``rotate_coil_maps``.
        rotate_coil_maps: rotate the coil maps by ``angles`` before measuring (the official
            code's choice) and ship the rotated maps in the new measurement (MRI only).

    Returns:
        ``measurement.with_y(A_j x_phi)``: the same measurement (mask, maps, kernel, sigma,
        scale are the sample's own) holding the noiseless new measurements.

    Raises:
        TypeError: not a task's measurement.
        ValueError: ``rotate_coil_maps`` without angles, or for a measurement without coil
            maps; ``x_phi`` does not fit the measurement.
    """
    types = _measurement_types()
    if not isinstance(measurement, types):
        raise TypeError(f"ei_measurement needs a task's measurement "
                        f"({' or '.join(t.__name__ for t in types)}), got "
                        f"{type(measurement).__name__}")
    m = _ei_operator(measurement, angles, rotate_coil_maps)
    y = m.physics().A(x_phi)
    if not _finite(y):
        raise ValueError(f"the re-measurement A x_phi holds {int((~torch.isfinite(y)).sum())} "
                         "NaN or Inf entries: x_phi (the rotated reconstruction) is "
                         + ("not finite" if not _finite(x_phi) else "too large to measure"))
    return m.with_y(y)


def _ei_operator(measurement, angles: torch.Tensor | None, rotate_coil_maps: bool):
    """``measurement`` with its coil maps rotated by ``angles`` where ``rotate_coil_maps``."""
    if not rotate_coil_maps:
        return measurement
    check_ei_options(measurement, "90", rotate_coil_maps)
    if angles is None:
        raise ValueError("rotate_coil_maps=True needs the rotation angles")
    return dataclasses.replace(measurement,
                               coil_maps=rotate_maps(measurement.coil_maps, angles))


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t.detach()).all())


@torch.no_grad()
def ei_consistency(net: nn.Module, measurements, angles=(90.0, 180.0, 270.0),
                   rotate_coil_maps: bool | None = None, batch_size: int = 4) -> dict:
    r"""How far a network is from the equivariance term's target on a set of measurements: the
    mean PSNR of :math:`f(A_j \phi f(y_j))` against :math:`\phi f(y_j)`, for each rotation.

    A well-posed EI setup lets a good network score high here; a low score for some angles
    means the re-measured rotated image has lost information no network can restore (for
    example fixed coil maps that are zero where the rotated anatomy now lies).

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        net: the network (left in eval mode).
        measurements: a :class:`~spadelib.data.common.SampleSet` of a task's measurements
            (ground truth, if present, is not used).
        angles: rotations in degrees.
        rotate_coil_maps: as for :func:`ei_measurement`; ``None``: where there are coil maps.
        batch_size: samples per forward pass.

    Returns:
        ``{angle: mean PSNR in dB}``.
    """
    net.eval()
    rotate_maps = rotate_maps_for(measurements.sample_type, rotate_coil_maps)
    scores: dict = {float(a): [] for a in angles}
    p = next(net.parameters())
    for start in range(0, len(measurements), batch_size):
        batch = measurements.batch(range(start, min(start + batch_size, len(measurements))))
        m = measurement_of(batch)
        x = net(m)
        for a in angles:
            ang = torch.full((x.shape[0],), float(a), device=p.device)
            x_phi = rotate(x, ang)
            x2 = net(ei_measurement(m, x_phi, ang, rotate_maps))
            scores[float(a)] += list(np.atleast_1d(psnr(x2, x_phi,
                                                        complex_input=x.shape[1] == 2)))
    return {a: float(np.mean(v)) for a, v in scores.items()}


def data_fidelity_loss(net: nn.Module, m, x_net: torch.Tensor,
                       kind: str = "l1") -> torch.Tensor:
    r"""Eq. (9)'s first term, :math:`l(A_j f(y_j), y_j)`, over the measured entries.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        net: the network (unused: the term needs only its output; kept for the one signature
            of the terms).
        m: the batched measurement.
        x_net: ``net(m)``.
        kind: ``"l1"`` or ``"l2"``.
    """
    y = m.y.to(x_net.device)
    return measured_loss(m.physics().A(x_net), y, m.measured.to(x_net.device), kind)


def equivariance_loss(net: nn.Module, m, x_net: torch.Tensor, kind: str = "l1", *,
                      angles: torch.Tensor, rotate_coil_maps: bool | None = None
                      ) -> torch.Tensor:
    r"""Eq. (9)'s second term, :math:`l(f(A_j \hat x_{\phi,j}), \hat x_{\phi,j})` with
    :math:`\hat x_{\phi,j} = \phi_j f(y_j)` not detached (module docstring).

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        net: the network.
        m: the batched measurement.
        x_net: ``net(m)``.
        kind: ``"l1"`` or ``"l2"``.
        angles: the rotation of each sample, degrees ``(B,)`` (:func:`draw_rotations`).
        rotate_coil_maps: rotate the coil maps with the image (:func:`ei_measurement`);
            ``None``: where there are coil maps (:func:`rotate_maps_for`).
    """
    x_phi = rotate(x_net, angles)
    m2 = _ei_operator(m, angles, rotate_maps_for(m, rotate_coil_maps))
    y2 = m2.physics().A(x_phi)
    if not _finite(y2):
        # the network's output (or its re-measurement) overflowed: nothing can be measured of
        # it, so the term is NaN and the training loop stops with NonFiniteLossError naming the
        # epoch and step, instead of blaming the user's measurements
        return y2.new_full((), float("nan"))
    x2 = net(m2.with_y(y2))
    return image_loss(x2, x_phi, kind)


def self_supervised_loss(net: nn.Module, batch, kind: str = "l1", rotations: str = "90",
                         rotate_coil_maps: bool | None = None,
                         generator: torch.Generator | None = None,
                         return_terms: bool = False):
    r"""Eq. (9): data fidelity plus equivariant imaging, each sample with its own :math:`A_j`.

    .. math::

        l(A_j f(y_j), y_j) + l(f(A_j \hat x_{\phi,j}), \hat x_{\phi,j}),\qquad
        \hat x_{\phi,j} = \phi_j f(y_j),

    with :math:`\phi_j` a random rotation (:func:`~spadelib.transforms.draw_rotations`, drawn
    after the first forward pass) and the gradient kept through :math:`\hat x_{\phi,j}`.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Args:
        net: the pruned network.
        batch: a batched measurement without ground truth: MRI k-space ``(B, C, H, W, 2)``
            or SR ``lr`` ``(B, 3, h, w)``.
        kind: ``"l1"`` or ``"l2"``.
        rotations: ``"90"`` (exact) or ``"any"`` (bilinear, not for super-resolution).
        rotate_coil_maps: MRI: rotate the coil maps with the image (the authors' code's
            choice, cited in the module docstring); ``None`` (default): rotate them where there are coil maps.
        generator: CPU generator for the angles.
        return_terms: also return the two terms and the angles.

    Returns:
        The scalar loss, or ``(loss, {"data_fidelity", "equivariance", "angles"})``.

    Raises:
        ValueError: the batch holds ground truth; ``"any"`` rotations or rotated coil maps
            where they do not apply (:func:`check_ei_options`).
        TypeError: not a task's measurement.
    """
    check_measurements_only(batch, "self-supervised")
    rotations = check_ei_options(batch, rotations, rotate_coil_maps)
    rotate_coil_maps = rotate_maps_for(batch, rotate_coil_maps)
    x1 = net(batch)                                               # f(y_j)
    data_fidelity = data_fidelity_loss(net, batch, x1, kind)
    angles = draw_rotations(x1.shape[0], tuple(x1.shape[-2:]), rotations, generator)
    equivariance = equivariance_loss(net, batch, x1, kind, angles=angles,
                                     rotate_coil_maps=rotate_coil_maps)
    loss = data_fidelity + equivariance
    if return_terms:
        return loss, {"data_fidelity": data_fidelity, "equivariance": equivariance,
                      "angles": angles}
    return loss

