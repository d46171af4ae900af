r"""Self-supervised fine-tuning by measurement splitting in k-space (SSDU), an alternative to the
paper's eq. (9): the split, its loss and their checks, for the fine-tuning regimes
``self-supervised-split`` and ``self-supervised-split-held-out`` of :mod:`spadelib.finetune`
(the other regimes' losses are in :mod:`spadelib.losses`).

Eq. (9) asks a pruned network to be faithful to its own measurements and equivariant to
rotations. Both terms score the network against what it was *given*: the data-fidelity term
can be met by any image that agrees with the sampled lines (a pruned DEQ or VarNet keeps
them by construction), and the equivariance term only asks for consistency. Neither tells the
network what the k-space it did *not* see looks like.

Measurement splitting (Yaman et al. 2020, "SSDU") does: the sampled k-space locations
:math:`\Omega_j` of each test measurement are split at random into two disjoint sets, an input
set :math:`\Theta_j` and a held-out set :math:`\Lambda_j = \Omega_j \setminus \Theta_j`; the
network reconstructs from :math:`y_{\Theta_j}` alone and is scored against real data,

.. math::

    \ell_{\mathrm{split}} = l\big(P_{S} A_j f(y_{\Theta_j}),\; y_{S}\big),

the mean over the entries of a scoring set :math:`S` (:func:`spadelib.losses.measured_loss`):
every measured entry, :math:`S = \Omega_j` (``score="measured"``, the default), or the held-out
ones only, :math:`S = \Lambda_j` (``score="held-out"``, SSDU's own choice). Either way part of
the target was not in the input: a prediction task with real data as the target, the closest a
ground-truth-free loss comes to the supervised one. A fresh split is drawn at every step, from
a seeded generator, so over the epochs every sampled entry serves as both input and target.
Only the test measurements are read: no ground truth, no teacher
(:func:`spadelib.losses.check_measurements_only`).

Choices, and why:

* **Points, not lines** (``unit="points"``, the default). The book's masks are 1D Cartesian,
  and at the quick preset they hold only a handful of lines outside the centre. Holding out
  whole lines removes one or two of them, and with them part of the aliasing pattern the
  network sees at test time. Splitting the sampled *entries* (the same ``(row, column)``
  positions for every coil: they are sampled together) keeps every sampled line partly in the
  input and holds out hundreds of entries, as SSDU does for 1D masks. ``unit="lines"`` splits
  whole columns instead (the input is then a test-like mask with fewer lines).
* **The centre stays in the input** (``keep_centre=True``, the default). The contiguous block
  of fully sampled lines around the centre (the ACS lines) always goes to :math:`\Theta`, never
  to :math:`\Lambda`: these lines carry most of the image's energy and its contrast, so
  removing part of them would show the network an input far from any test-time input, and
  E2E-VarNet estimates its coil maps from exactly these lines (it finds them by their
  contiguity). SSDU's own code keeps a small central block in the input for the same reason.
  ``keep_centre=False`` splits them like any other entry.
* **Scored on every measured entry** (``score="measured"``, the default). This is the
  re-undersampling view of splitting (Noisier2Noise, Millard & Chiew 2023): the input
  :math:`\Theta` is the test mask with some entries removed, and the target is *all* the data,
  :math:`y_\Omega`. The entries of :math:`\Theta` keep eq. (9)'s data-fidelity term in the loss
  (stay faithful to what you were given), the entries of :math:`\Lambda` add what eq. (9)
  lacks (predict what you were not given). Scoring :math:`\Lambda` alone drops the first half:
  nothing then ties the output to the entries the network *was* given, and an unrolled
  network whose data-consistency step is learnt and soft (VarNet) can drift from them, which
  costs more than the held-out entries teach (SSDU's scoring stays available as
  ``score="held-out"``). Millard and Chiew also weight the entries by how often they are held
  out, to make the loss an unbiased stand-in for the supervised one; the plain mean is kept
  here (the centre block, never held out, would otherwise need a weight of its own).
* **MRI only.** Super-resolution measures every low-resolution pixel: removing some of them
  gives an input of another kind (a low-resolution image with holes) than USRNet ever sees, so
  the regime refuses a non-MRI set (:func:`check_split_data`).

Taught in Chapter 8 (``book/08_beyond.ipynb``).
"""
from __future__ import annotations

import torch
from torch import nn

from . import checks
from .data.mri import MRIMeasurement
from .losses import check_measurements_only, equivariance_loss, measured_loss
from .transforms import draw_rotations

__all__ = ["SPLIT_UNITS", "SPLIT_SCORES", "REGIME_NAME", "HELD_OUT_REGIME", "centre_lines",
           "split_mask", "split_measurement", "split_loss", "check_split_data", "check_split_options"]

#: how the sampled k-space is split: single entries (every coil alike) or whole lines
SPLIT_UNITS = ("points", "lines")
#: which entries the split loss is scored on: every measured one, or the held-out ones only
SPLIT_SCORES = ("measured", "held-out")
#: the fine-tuning regime of :mod:`spadelib.finetune` that uses :func:`split_loss`
REGIME_NAME = "self-supervised-split"
#: the same splitting scored as SSDU scores it, on the held-out entries only (Chapter 8's
#: comparison; ``finetune(..., split_score="held-out")`` under the grid's own regime name)
HELD_OUT_REGIME = "self-supervised-split-held-out"


def check_split_data(sample_type, regime: str = REGIME_NAME) -> type:
    """Refuse data that measurement splitting does not apply to: anything but MRI
    measurements. Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Raises:
        ValueError: the set (or its type) is not MRI (e.g. super-resolution).
    """
    cls = sample_type if isinstance(sample_type, type) else type(sample_type)
    if not issubclass(cls, MRIMeasurement):
        raise ValueError(f"{regime} fine-tuning splits sampled k-space and applies to MRI "
                         f"only, got {cls.__name__}: for super-resolution use "
                         "regime='self-supervised' (eq. 9) or 'school'")
    return cls


def check_split_options(fraction=0.4, unit: str = "points", keep_centre: bool = True,
                        ei_weight=0.0, score: str = "measured") -> dict:
    """The split options, checked, as the dict that enters the cache key.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Raises:
        ValueError: ``fraction`` not in (0, 1), an unknown ``unit`` or ``score``, a negative
            ``ei_weight``.
        TypeError: ``keep_centre`` is not a bool.
    """
    return {"split_fraction": checks.fraction(fraction, "split_fraction", include_zero=False),
            "split_unit": checks.choice(unit, SPLIT_UNITS, "split_unit"),
            "keep_centre": checks.flag(keep_centre, "keep_centre"),
            "ei_weight": checks.real(ei_weight, "ei_weight", low=0.0),
            "split_score": checks.choice(score, SPLIT_SCORES, "split_score")}


def centre_lines(mask: torch.Tensor) -> torch.Tensor:
    """The block of fully sampled columns around the centre column ``W // 2`` of each mask
    (the ACS lines of fastMRI's centred k-space), found by contiguity as E2E-VarNet finds them.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Args:
        mask: ``(B, 1, 1, W, 1)`` or ``(B, 1, H, W, 1)``, nonzero where sampled.

    Returns:
        A bool tensor ``(B, 1, 1, W, 1)``, True on the centre block (all False for a mask
        whose centre column is not fully sampled).
    """
    full = (mask != 0).all(dim=2, keepdim=True)                    # (B, 1, 1, W, 1)
    cols = full[:, 0, 0, :, 0]                                       # (B, W)
    w = cols.shape[-1]
    centre = torch.zeros_like(cols)
    for b in range(cols.shape[0]):
        if not cols[b, w // 2]:
            continue
        lo, hi = w // 2, w // 2
        while lo > 0 and cols[b, lo - 1]:
            lo -= 1
        while hi < w - 1 and cols[b, hi + 1]:
            hi += 1
        centre[b, lo:hi + 1] = True
    return centre[:, None, None, :, None]


def split_mask(mask: torch.Tensor, height: int, fraction: float = 0.4, unit: str = "points",
               keep_centre: bool = True, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Split each sampling pattern :math:`\Omega` into disjoint input and held-out sets,
    :math:`\Omega = \Theta \cup \Lambda`, at random.

    Of the sampled entries that may be split (all of them, or all but the centre block with
    ``keep_centre``), ``round(fraction * n)`` go to :math:`\Lambda` (at least one, and at least
    one stays in :math:`\Theta`), drawn without replacement from ``generator``; the rest, and
    the centre block, form :math:`\Theta`.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Args:
        mask: ``(B, 1, 1, W, 1)`` (a 1D Cartesian mask) or ``(B, 1, H, W, 1)``.
        height: H, the number of k-space rows (for ``unit="points"``).
        fraction: the share of the splittable entries held out of the input, in (0, 1).
        unit: ``"points"`` (entries ``(row, column)``, every coil alike) or ``"lines"``
            (whole columns; needs a 1D mask).
        keep_centre: the centre block (:func:`centre_lines`) always stays in the input.
        generator: a CPU generator (seeded by the caller).

    Returns:
        ``(input_mask, held_out_mask)``, float tensors of ``mask``'s dtype and device, shaped
        ``(B, 1, H, W, 1)`` for points and ``(B, 1, 1, W, 1)`` for lines.

    Raises:
        ValueError: a mask with fewer than two entries to split; ``unit="lines"`` with a 2D
            mask; bad options.
    """
    options = check_split_options(fraction, unit, keep_centre)
    fraction, unit = options["split_fraction"], options["split_unit"]
    height = checks.positive_int(height, "height")
    if mask.dim() != 5 or mask.shape[1] != 1 or mask.shape[-1] != 1:
        raise ValueError(f"mask must be (B, 1, 1, W, 1) or (B, 1, H, W, 1), got "
                         f"{tuple(mask.shape)}")
    b, _, h, w, _ = mask.shape
    if unit == "lines" and h != 1:
        raise ValueError("split_unit='lines' splits the columns of a 1D Cartesian mask "
                         f"(B, 1, 1, W, 1); got {tuple(mask.shape)}: use split_unit='points'")
    rows = 1 if unit == "lines" else height
    omega = torch.broadcast_to(mask.detach().cpu() != 0, (b, 1, rows, w, 1))
    splittable = omega & ~centre_lines(mask.detach().cpu()) if keep_centre else omega
    loss = torch.zeros(omega.shape, dtype=torch.bool)
    for i in range(b):
        where = splittable[i].reshape(-1).nonzero().squeeze(1)
        n = where.numel()
        if n < 2:
            what = "lines" if unit == "lines" else "k-space entries"
            raise ValueError(f"sample {i} of the batch has too few sampled {what} to split "
                             f"({n} with keep_centre={keep_centre}): at least two are needed, "
                             "one to reconstruct from and one to score on; try "
                             "split_unit='points' or keep_centre=False")
        k = min(max(round(fraction * n), 1), n - 1)
        chosen = where[torch.randperm(n, generator=generator)[:k]]
        loss[i].view(-1)[chosen] = True
    theta = omega & ~loss
    dtype = mask.dtype if mask.is_floating_point() else torch.float32
    return theta.to(mask.device, dtype), loss.to(mask.device, dtype)


def split_measurement(m: MRIMeasurement, fraction: float = 0.4, unit: str = "points",
                      keep_centre: bool = True, generator: torch.Generator | None = None
                      ) -> tuple[MRIMeasurement, torch.Tensor]:
    r"""A batched MRI measurement cut to its input set :math:`\Theta` (:func:`split_mask`),
    and the held-out set :math:`\Lambda` it was cut from.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Returns:
        ``(m_theta, held_out_mask)``: an :class:`~spadelib.data.MRIMeasurement` holding the
        k-space on :math:`\Theta` only, with :math:`\Theta` as its mask and the same coil maps;
        and :math:`\Lambda`, broadcastable to ``m.y``.

    Raises:
        TypeError: not an MRI measurement.
        ValueError: not batched, or too few entries to split (:func:`split_mask`).
    """
    if not isinstance(m, MRIMeasurement):
        raise TypeError(f"split_measurement needs a batched MRIMeasurement, got "
                        f"{type(m).__name__}")
    if not m.batched:
        raise ValueError("split_measurement needs a batched MRIMeasurement (k-space "
                         "(B, C, H, W, 2)); use SampleSet.batch() or a loader")
    theta, loss = split_mask(m.mask, m.kspace.shape[2], fraction, unit, keep_centre, generator)
    return MRIMeasurement(kspace=m.kspace * theta, mask=theta, coil_maps=m.coil_maps), loss


def split_loss(net: nn.Module, batch, kind: str = "l1", fraction: float = 0.4,
               unit: str = "points", keep_centre: bool = True, ei_weight: float = 0.0,
               score: str = "measured", generator: torch.Generator | None = None,
               return_terms: bool = False):
    r"""The measurement-splitting loss :math:`l(P_S A f(y_\Theta), y_S)`, scored on every
    measured entry (:math:`S = \Omega`) or on the held-out ones (:math:`S = \Lambda`), plus
    (``ei_weight > 0``) that weight times eq. (9)'s equivariance term on the reconstruction
    from :math:`\Theta`, re-measured with the sample's full operator.

    A fresh split (and rotation) is drawn from ``generator`` at every call. Only the
    measurement is read, never a target.

    Taught in Chapter 8 (``book/08_beyond.ipynb``).

    Args:
        net: the pruned network (``net(measurement) -> (B, 2, H, W)``).
        batch: a batched MRI measurement without ground truth.
        kind: ``"l1"`` or ``"l2"`` (mean over the scored entries).
        fraction, unit, keep_centre: the split (:func:`split_mask`).
        ei_weight: weight of the equivariance term (0: pure splitting, one forward pass).
        score: ``"measured"`` (every sampled entry, the input's included: the
            re-undersampling loss of the module docstring) or ``"held-out"`` (the entries of
            :math:`\Lambda` only, as SSDU).
        generator: CPU generator of the splits and rotations.
        return_terms: also return the terms and the masks.

    Returns:
        The scalar loss, or ``(loss, {"split", "equivariance", "input_mask",
        "held_out_mask", "loss_mask"})``: :math:`\Theta`, :math:`\Lambda` and the scored set
        :math:`S`, each broadcastable to the k-space.

    Raises:
        TypeError: not a task's measurement.
        ValueError: the batch holds ground truth or anything beyond the measurement; the batch
            is not MRI; bad options.
    """
    check_measurements_only(batch, REGIME_NAME)
    check_split_data(batch)
    options = check_split_options(fraction, unit, keep_centre, ei_weight, score)
    m_theta, lam = split_measurement(batch, options["split_fraction"], options["split_unit"],
                                     options["keep_centre"], generator)
    x = net(m_theta)                                                  # f(y_Theta)
    lam = lam.to(x.device)
    scored = batch.measured.to(x.device) if options["split_score"] == "measured" else lam
    split = measured_loss(batch.physics().A(x), batch.y.to(x.device), scored, kind)
    loss, equivariance = split, None
    if options["ei_weight"] > 0:
        angles = draw_rotations(x.shape[0], tuple(x.shape[-2:]), "90", generator)
        equivariance = equivariance_loss(net, batch, x, kind, angles=angles.to(x.device),
                                         rotate_coil_maps=True)
        loss = split + options["ei_weight"] * equivariance
    if return_terms:
        return loss, {"split": split, "equivariance": equivariance,
                      "input_mask": m_theta.mask, "held_out_mask": lam, "loss_mask": scored}
    return loss
