"""Multi-coil brain MRI data: synthetic T2-weighted slices built from nilearn's templates, and a
loader for real fastMRI multi-coil brain ``.h5`` files (in :mod:`spadelib.data.fastmri`,
re-exported here). Both give the same samples.

The paper uses T2-weighted fastMRI brain scans of 165 subjects (145 / 10 / 10). We cannot
download them here, so :func:`mri_dataset` synthesises a stand-in from the MNI152 templates that
nilearn ships (grey matter, white matter, brain mask, T1):

1. a T2-like contrast: CSF bright, grey matter brighter than white matter, scalp in between,
   with per-subject contrast jitter;
2. a per-subject random smooth deformation (plus a small rotation and scaling), so subjects differ;
3. a random smooth phase, as real MR images have;
4. sigpy birdcage coil maps and complex Gaussian k-space noise.

From the noisy fully sampled k-space we then do what the paper does with real data: estimate
coil maps with ESPIRiT (sigpy) and take the ESPIRiT coil combination as the ground truth.
Everything is normalised so the ground-truth magnitude peaks at 1.

ESPIRiT fixes each pixel's coil-map vector only up to a phase; sigpy takes coil 0 as the
reference, so the combined image carries coil 0's phase on top of the object's. We reference
the maps to the phase of the low-resolution image of the calibration region instead (the role a
body coil plays on a scanner): the maps absorb the smooth phase, the ground truth becomes
nearly real (almost all of its energy is in the real part, instead of being split between real
and imaginary parts by coil 0's phase) and its magnitude is unchanged. The maps still satisfy
``sum_i |S_i|^2 = 1`` on the support. This matters for learning: a network then need not learn
coil 0's arbitrary phase, and the networks learn markedly faster and better within the same
budget (Chapter 1 shows the ground truth, Chapter 2 the networks' scores).

Layouts (per sample; a batch adds a leading axis): ``kspace`` and ``coil_maps`` ``(C, H, W, 2)``,
``mask`` ``(1, 1, W, 1)``, ``target`` ``(2, H, W)`` real/imag.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import checks
from ..checkpoints import cached
from ..physics.masks import cartesian_mask, mask_spec
from ..physics.mri import MultiCoilMRI
from ..presets import Preset, get_preset
from .common import SampleSet, batch_like
from ..workers import pool_size, process_pool

SPLITS = ("train", "val", "test")
DATA_VERSION = 2  # bump when the synthesis changes, so caches are rebuilt


@dataclass
class MRIMeasurement:
    """What the scanner gives: undersampled k-space ``y = P F S x + e``, the mask and coil maps.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Attributes:
        kspace: ``(C, H, W, 2)`` (or ``(B, C, H, W, 2)``) undersampled k-space, zeros where
            not sampled.
        mask: ``(1, 1, W, 1)`` (or ``(B, 1, 1, W, 1)``) 1D Cartesian sampling mask.
        coil_maps: ``(C, H, W, 2)`` (or batched) ESPIRiT coil sensitivity maps.

    Raises:
        ValueError: the k-space is non-zero off the mask. A measurement holds only the sampled
            lines; anything else there would be used as data by a loss over ``y`` and ignored
            by the operator, a silent mismatch.
    """

    kspace: torch.Tensor
    mask: torch.Tensor
    coil_maps: torch.Tensor

    #: the tensor fields of the measurement (no ground truth)
    measurement_fields: ClassVar[tuple[str, ...]] = ("kspace", "mask", "coil_maps")

    def __post_init__(self):
        kspace, mask = self.kspace, self.mask
        if not (isinstance(kspace, torch.Tensor) and isinstance(mask, torch.Tensor)):
            return          # not data (e.g. a placeholder): the operator will complain
        with torch.no_grad():
            try:
                # where(), not a product: NaN * 0 is NaN, so a NaN on a sampled line would
                # count as "off the mask" (NaN and Inf are refused where the data is used)
                outside = torch.where(mask.detach() == 0, kspace.detach(), 0)
                off = torch.count_nonzero(outside)
                off_bad = int((~torch.isfinite(outside)).sum()) if kspace.is_floating_point() \
                    else 0
            except RuntimeError:
                raise ValueError(f"the mask {tuple(mask.shape)} does not broadcast against the "
                                 f"k-space {tuple(kspace.shape)}: expected (1, 1, W, 1) for "
                                 "(C, H, W, 2), with a leading batch axis on both when batched"
                                 ) from None
        if off_bad:
            # NaN * 0 is NaN: multiplying by the mask cannot clear these, so say what they are
            raise ValueError(f"k-space holds {off_bad} NaN or Inf entries off the sampling "
                             f"mask ({int(off)} non-zero entries there in all): a measurement "
                             "holds only the sampled lines, and NaN * 0 is NaN, so set them to "
                             "zero with torch.where(mask == 0, 0, kspace) (and check where the "
                             "NaN / Inf came from)")
        if int(off):
            raise ValueError(f"k-space has {int(off)} non-zero entries off the sampling mask: a "
                             "measurement holds only the sampled lines; multiply by the mask")

    @property
    def batched(self) -> bool:
        """Whether the fields have a leading batch axis."""
        return self.kspace.dim() == 5

    def physics(self) -> MultiCoilMRI:
        """The forward model A of this measurement (batched: one A per batch item)."""
        if self.batched:
            return MultiCoilMRI(self.coil_maps, self.mask)
        return MultiCoilMRI(self.coil_maps[None], self.mask[None])

    @property
    def y(self) -> torch.Tensor:
        """The measurements with a batch axis: ``(B, C, H, W, 2)`` (``B = 1`` unbatched)."""
        return self.kspace if self.batched else self.kspace[None]

    @property
    def measured(self) -> torch.Tensor:
        """1 where an entry of :attr:`y` was measured (the mask), broadcastable to it."""
        return self.mask if self.batched else self.mask[None]

    def with_y(self, y: torch.Tensor) -> "MRIMeasurement":
        """A copy holding the measurements ``y`` (shaped like :attr:`y`) and every other field
        of this one (mask, coil maps, and a sample's target).

        Raises:
            ValueError: ``y`` has another shape than :attr:`y`, or is non-zero off the mask.
        """
        return replace(self, kspace=batch_like(y, self.y, self.batched, "k-space"))


@dataclass
class MRISample(MRIMeasurement):
    """A measurement with its ground truth ``target``: ``(2, H, W)`` (or batched).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """

    target: torch.Tensor


# ----------------------------------------------------------------------------- templates
@functools.lru_cache(maxsize=1)
def _templates() -> dict[str, np.ndarray]:
    """nilearn's bundled MNI152 maps at 1 mm, as float32 (197 x 233 x 189)."""
    from nilearn import datasets  # heavy dependency, only when the templates are built

    def load(fn):
        return np.asarray(fn(resolution=1).get_fdata(), dtype=np.float32)

    return {
        "t1": load(datasets.load_mni152_template),
        "gm": load(datasets.load_mni152_gm_template),
        "wm": load(datasets.load_mni152_wm_template),
        "brain": load(datasets.load_mni152_brain_mask),
    }


def _axial(vol: np.ndarray, z: int) -> np.ndarray:
    """Axial slice ``z`` as a square image, anterior at the top (233 x 233)."""
    sl = np.flipud(vol[:, :, z].T)                   # (233, 197): rows = posterior->anterior
    pad = sl.shape[0] - sl.shape[1]
    return np.pad(sl, ((0, 0), (pad // 2, pad - pad // 2)))


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], coarse: int,
                  amplitude: float) -> np.ndarray:
    """A smooth random 2D field: Gaussian noise on a coarse grid, zoomed up with cubics."""
    from scipy.ndimage import zoom  # heavy dependency (scipy), only while synthesising

    small = rng.standard_normal((coarse, coarse)).astype(np.float32)
    field = zoom(small, (shape[0] / coarse, shape[1] / coarse), order=3)[: shape[0], : shape[1]]
    return amplitude * field / (np.abs(field).max() + 1e-8)


@dataclass(frozen=True)
class _Subject:
    """Random draws that make one synthetic subject."""

    seed: int
    weights: tuple[float, float, float, float]  # csf, gm, wm, scalp
    angle: float
    scale: float
    coil_radius: float
    slices: tuple[int, ...]


def _draw_subject(seed: int, n_slices: int) -> _Subject:
    rng = np.random.default_rng(seed)
    base = np.array([1.0, 0.55, 0.38, 0.30])
    weights = tuple(float(w) for w in base * rng.uniform(0.9, 1.1, 4))
    centres = np.linspace(62, 112, n_slices) if n_slices > 1 else np.array([88.0])
    slices = tuple(int(z) for z in np.clip(centres + rng.integers(-4, 5, n_slices), 40, 130))
    return _Subject(seed, weights, float(rng.uniform(-6, 6)), float(rng.uniform(0.93, 1.05)),
                    float(rng.uniform(1.3, 1.8)), slices)


def _synthetic_image(subject: _Subject, z: int, size: tuple[int, int]) -> np.ndarray:
    """One complex T2-like slice (H, W), magnitude peak about 1."""
    from scipy.ndimage import map_coordinates  # heavy dependencies, only while synthesising
    from skimage.transform import resize

    t = _templates()
    gm, wm, brain, t1 = (_axial(t[k], z) for k in ("gm", "wm", "brain", "t1"))
    csf = np.clip(brain - gm - wm, 0, 1) * brain
    scalp = t1 * (1 - brain)
    w = subject.weights
    mag = w[0] * csf + w[1] * gm + w[2] * wm + w[3] * scalp

    # per-subject smooth deformation + rotation/scale about the centre (same for all slices)
    rng = np.random.default_rng(subject.seed + 1)
    n = mag.shape[0]
    dy = _smooth_field(rng, mag.shape, 6, 0.03 * n)
    dx = _smooth_field(rng, mag.shape, 6, 0.03 * n)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) - (n - 1) / 2
    a = np.deg2rad(subject.angle)
    src_y = (np.cos(a) * yy - np.sin(a) * xx) / subject.scale + (n - 1) / 2 + dy
    src_x = (np.sin(a) * yy + np.cos(a) * xx) / subject.scale + (n - 1) / 2 + dx
    mag = map_coordinates(mag, [src_y, src_x], order=1, mode="constant")
    mag = resize(mag, size, anti_aliasing=True, order=1).astype(np.float32)
    mag = np.clip(mag, 0, None) / (mag.max() + 1e-8)

    # a smooth random phase: a low-order polynomial plus a smooth random bump field
    prng = np.random.default_rng(subject.seed * 1000 + z)
    v, u = np.meshgrid(np.linspace(-1, 1, size[0]), np.linspace(-1, 1, size[1]), indexing="ij")
    c = prng.normal(0, 0.4, 6)
    phase = c[0] * np.pi + c[1] * u + c[2] * v + c[3] * u * v + c[4] * u**2 + c[5] * v**2
    phase = phase + _smooth_field(prng, size, 4, 0.5)
    return (mag * np.exp(1j * phase)).astype(np.complex64)


def _coil_kspace(image: np.ndarray, coils: int, radius: float, noise: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Fully sampled noisy multi-coil k-space (C, H, W) of a complex image."""
    import sigpy as sp  # optional heavy dependency (sigpy), only while synthesising
    import sigpy.mri as mr

    maps = mr.birdcage_maps((coils,) + image.shape, r=radius, nzz=coils).astype(np.complex64)
    k = sp.fft(maps * image, axes=(-2, -1))  # centred, orthonormal: same as fastmri.fft2c
    sigma = noise * np.sqrt(np.mean(np.abs(k) ** 2))
    k = k + sigma / np.sqrt(2) * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape))
    return k.astype(np.complex64)


def _to_view(z: np.ndarray) -> torch.Tensor:
    """complex (..., H, W) numpy -> (..., H, W, 2) float32 tensor."""
    return torch.from_numpy(np.stack([z.real, z.imag], -1).astype(np.float32))


def calibration_phase(kspace: np.ndarray, maps: np.ndarray, calib_width: int) -> np.ndarray:
    """The unit-modulus phase map ``exp(i angle(x_low))`` of the low-resolution image ``x_low``.

    ``x_low = sum_i conj(S_i) F^H (w * y_i)`` with ``w`` a separable Hann window on the central
    ``calib_width`` x ``calib_width`` block of k-space (the calibration region, so it is known
    from undersampled data too). Multiplying ESPIRiT maps by it moves the image's smooth phase
    into the maps (module docstring).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        kspace: complex (C, H, W) k-space, centred.
        maps: complex (C, H, W) coil maps.
        calib_width: side of the calibration block.
    """
    import sigpy as sp  # optional heavy dependency (sigpy), only while synthesising

    _, h, w = kspace.shape
    c = min(calib_width, h, w)
    window = np.zeros((h, w))
    h0, w0 = h // 2 - c // 2, w // 2 - c // 2
    window[h0:h0 + c, w0:w0 + c] = np.outer(np.hanning(c), np.hanning(c))
    low = np.sum(np.conj(maps) * sp.ifft(kspace * window, axes=(-2, -1)), axis=0)
    return np.exp(1j * np.angle(low)).astype(np.complex64)


def espirit_reference(kspace_full: np.ndarray, calib_width: int) -> tuple[np.ndarray, ...]:
    """ESPIRiT coil maps and the coil-combined ground truth of fully sampled k-space.

    Args:
        kspace_full: complex (C, H, W) fully sampled k-space (centred, orthonormal FFT).
        calib_width: width of the fully sampled calibration region used by ESPIRiT.

    Returns:
        ``(kspace, maps, target)``: k-space and maps (C, H, W) and the image
        ``x = sum_i conj(S_i) F^H y_i`` (H, W), all scaled so that ``|x|`` peaks at 1. The
        maps are phase-referenced with :func:`calibration_phase`.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    import sigpy as sp  # optional heavy dependency (sigpy), only while synthesising
    import sigpy.mri as mr

    maps = mr.app.EspiritCalib(kspace_full, calib_width=calib_width, thresh=0.02,
                               kernel_width=6, crop=0.95, show_pbar=False).run()
    maps = np.asarray(maps, dtype=np.complex64) * calibration_phase(kspace_full, maps,
                                                                    calib_width)
    target = np.sum(np.conj(maps) * sp.ifft(kspace_full, axes=(-2, -1)), axis=0)
    scale = 1.0 / (np.abs(target).max() + 1e-12)
    return ((kspace_full * scale).astype(np.complex64), maps,
            (target * scale).astype(np.complex64))


def _pack(kspaces, maps, targets, subjects, slices) -> dict:
    return {
        "kspace_full": _to_view(np.stack(kspaces)),
        "coil_maps": _to_view(np.stack(maps)),
        "target": _to_view(np.stack(targets)).permute(0, 3, 1, 2).contiguous(),
        "subject": torch.tensor(subjects, dtype=torch.long),
        "slice": torch.tensor(slices, dtype=torch.long),
    }


def _check_split(split: str) -> None:
    checks.choice(split, SPLITS, "split")


def _subject_ids(split: str, preset: Preset) -> range:
    """Global subject numbers of a split: train first, then val, then test (disjoint)."""
    n_train, n_val, n_test = preset.mri_subjects
    start = {"train": 0, "val": n_train, "test": n_train + n_val}[split]
    return range(start, start + dict(zip(SPLITS, preset.mri_subjects))[split])


def _subject_rows(sid: int, preset: Preset, n_slices: int) -> list[tuple]:
    """``n_slices`` slices of subject ``sid``: ``(k-space, ESPIRiT maps, target, sid, z)``. A
    subject draws from its own seeded generator, so subjects can be built in any order,
    anywhere."""
    subject = _draw_subject(preset.seed * 100_003 + sid, n_slices)
    rng = np.random.default_rng(subject.seed + 7)
    rows = []
    for z in subject.slices:
        image = _synthetic_image(subject, z, tuple(preset.mri_size))
        k = _coil_kspace(image, preset.mri_coils, subject.coil_radius, preset.mri_noise, rng)
        k, maps, target = espirit_reference(k, preset.espirit_calib)
        rows.append((k, maps, target, sid, z))
    return rows


def _map_subjects(ids: list[int], preset: Preset, n_slices: int, workers: int | None):
    """The rows of each subject, in order: in this process, or spread over ``workers``
    processes (ESPIRiT dominates the cost and each subject is independent)."""
    if workers is not None:
        checks.positive_int(workers, "workers")
    workers = pool_size(workers, len(ids))
    if workers <= 1:
        for sid in ids:
            yield _subject_rows(sid, preset, n_slices)
        return
    with process_pool(workers) as pool:
        yield from pool.map(_subject_rows, ids, [preset] * len(ids), [n_slices] * len(ids))


def build_synthetic(split: str, preset: Preset | str | None = None, progress: bool = True,
                    workers: int | None = None) -> dict:
    """Build (or load from the cache) the fully sampled synthetic data of one split.

    Returns a dict of tensors: ``kspace_full`` and ``coil_maps`` (N, C, H, W, 2), ``target``
    (N, 2, H, W), ``subject`` and ``slice`` (N,). Subjects never cross splits. ``workers``
    processes build the subjects (default: one per CPU core); the result does not depend on
    how many.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    _check_split(split)
    preset = get_preset(preset)
    n_slices = preset.slices_per_subject(split)
    config = {"version": DATA_VERSION, "split": split, "seed": preset.seed,
              "size": preset.mri_size, "coils": preset.mri_coils,
              "subjects": preset.mri_subjects, "slices": n_slices,
              "noise": preset.mri_noise, "calib": preset.espirit_calib}

    def build() -> dict:
        out = ([], [], [], [], [])
        ids = list(_subject_ids(split, preset))
        bar = tqdm(total=len(ids) * n_slices, disable=not progress,
                   desc=f"synthetic MRI {split} ({preset.name})", unit="slice")
        for rows in _map_subjects(ids, preset, n_slices, workers):
            for row in rows:
                for lst, v in zip(out, row):
                    lst.append(v)
                bar.update()
        bar.close()
        return _pack(*out)

    return cached(f"mri-synthetic-{split}", config, build)


def undersample(full: dict, rate: float, seed: int, info: dict) -> SampleSet:
    """Turn fully sampled data (as from :func:`build_synthetic`) into undersampled samples.

    Each slice gets its own equispaced mask (seeded by ``seed`` and its index, so masks are
    reproducible); the fully sampled k-space itself is not kept in the returned set.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    spec = mask_spec(rate)
    k_full = full["kspace_full"]
    width = k_full.shape[-2]
    masks = torch.stack([cartesian_mask(width, spec.rate, seed=seed * 7919 + i)
                         for i in range(len(k_full))])                     # (N, 1, 1, W, 1)
    kspace = k_full * masks.unsqueeze(1).squeeze(2)                         # (N, C, H, W, 2)
    return SampleSet(MRISample, {"kspace": kspace, "mask": masks, "coil_maps": full["coil_maps"],
                                 "target": full["target"]},
                     measurement_type=MRIMeasurement,
                     info={**info, "rate": spec.label, "acceleration": spec.acceleration})


def mri_dataset(split: str, preset: Preset | str | None = None, rate: float | None = None,
                progress: bool = True) -> SampleSet:
    """The synthetic multi-coil brain data of one split, undersampled at ``rate``.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        preset: a :class:`~spadelib.presets.Preset` or its name; default: the current one.
        rate: sampling rate, 0.167 / 0.125 / 0.1; default ``preset.mri_rate``.
        progress: show a progress bar while building (only the first time: then cached).

    Returns:
        A :class:`~spadelib.data.common.SampleSet` of :class:`MRISample`; call
        ``.measurements_only()`` for a copy without ground truth.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    _check_split(split)
    preset = get_preset(preset)
    rate = preset.mri_rate if rate is None else rate
    mask_spec(rate)  # fail before any heavy work on an unknown rate
    full = build_synthetic(split, preset, progress)
    seed = preset.seed + 1000 * SPLITS.index(split)
    return undersample(full, rate, seed, {"source": "synthetic MNI152", "split": split,
                                          "preset": preset.name})
