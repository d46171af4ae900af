"""Multi-coil brain MRI data: synthetic T2-weighted slices built from nilearn's templates, and a
loader for real fastMRI multi-coil brain ``.h5`` files. Both give the same samples.

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
nearly real (on the quick preset its imaginary part holds 0.3 % of the energy instead of 51 %)
and its magnitude is unchanged. The maps still satisfy ``sum_i |S_i|^2 = 1`` on the support.
This matters for learning: with coil 0's phase reference the quick VarNet plateaued at about
25.5 dB in its 2.5-minute budget, with this one it reaches 28.2 dB in 1.5 minutes (TV: 27.1 dB
on either).

Layouts (per sample; a batch adds a leading axis): ``kspace`` and ``coil_maps`` ``(C, H, W, 2)``,
``mask`` ``(1, 1, W, 1)``, ``target`` ``(2, H, W)`` real/imag.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..cache import cached
from ..physics.masks import cartesian_mask, mask_spec
from ..physics.mri import MultiCoilMRI
from ..presets import Preset, get_preset
from .common import SampleSet

SPLITS = ("train", "val", "test")
DATA_VERSION = 2  # bump when the synthesis changes, so caches are rebuilt


@dataclass
class MRIMeasurement:
    """What the scanner gives: undersampled k-space ``y = P F S x + e``, the mask and coil maps.

    Attributes:
        kspace: ``(C, H, W, 2)`` (or ``(B, C, H, W, 2)``) undersampled k-space, zeros where
            not sampled.
        mask: ``(1, 1, W, 1)`` (or ``(B, 1, 1, W, 1)``) 1D Cartesian sampling mask.
        coil_maps: ``(C, H, W, 2)`` (or batched) ESPIRiT coil sensitivity maps.
    """

    kspace: torch.Tensor
    mask: torch.Tensor
    coil_maps: torch.Tensor

    @property
    def batched(self) -> bool:
        return self.kspace.dim() == 5

    def physics(self) -> MultiCoilMRI:
        """The forward model A of this measurement (batched: one A per batch item)."""
        if self.batched:
            return MultiCoilMRI(self.coil_maps, self.mask)
        return MultiCoilMRI(self.coil_maps[None], self.mask[None])

    def y(self) -> torch.Tensor:
        """The measurements with a batch axis: ``(B, C, H, W, 2)``."""
        return self.kspace if self.batched else self.kspace[None]


@dataclass
class MRISample(MRIMeasurement):
    """A measurement with its ground truth ``target``: ``(2, H, W)`` (or batched)."""

    target: torch.Tensor


# ----------------------------------------------------------------------------- templates
@functools.lru_cache(maxsize=1)
def _templates() -> dict[str, np.ndarray]:
    """nilearn's bundled MNI152 maps at 1 mm, as float32 (197 x 233 x 189)."""
    from nilearn import datasets

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
    from scipy.ndimage import zoom

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
    from scipy.ndimage import map_coordinates
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
    import sigpy as sp
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

    Args:
        kspace: complex (C, H, W) k-space, centred.
        maps: complex (C, H, W) coil maps.
        calib_width: side of the calibration block.
    """
    import sigpy as sp

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
    """
    import sigpy as sp
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
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")


def _subject_ids(split: str, preset: Preset) -> range:
    """Global subject numbers of a split: train first, then val, then test (disjoint)."""
    n_train, n_val, n_test = preset.mri_subjects
    start = {"train": 0, "val": n_train, "test": n_train + n_val}[split]
    return range(start, start + dict(zip(SPLITS, preset.mri_subjects))[split])


def build_synthetic(split: str, preset: Preset | str | None = None, progress: bool = True) -> dict:
    """Build (or load from the cache) the fully sampled synthetic data of one split.

    Returns a dict of tensors: ``kspace_full`` and ``coil_maps`` (N, C, H, W, 2), ``target``
    (N, 2, H, W), ``subject`` and ``slice`` (N,). Subjects never cross splits.
    """
    _check_split(split)
    preset = get_preset(preset)
    config = {"version": DATA_VERSION, "split": split, "seed": preset.seed,
              "size": preset.mri_size, "coils": preset.mri_coils,
              "subjects": preset.mri_subjects, "slices": preset.mri_slices_per_subject,
              "noise": preset.mri_noise, "calib": preset.espirit_calib}

    def build() -> dict:
        out = ([], [], [], [], [])
        ids = _subject_ids(split, preset)
        bar = tqdm(total=len(ids) * preset.mri_slices_per_subject, disable=not progress,
                   desc=f"synthetic MRI {split} ({preset.name})", unit="slice")
        for sid in ids:
            subject = _draw_subject(preset.seed * 100_003 + sid, preset.mri_slices_per_subject)
            rng = np.random.default_rng(subject.seed + 7)
            for z in subject.slices:
                image = _synthetic_image(subject, z, tuple(preset.mri_size))
                k = _coil_kspace(image, preset.mri_coils, subject.coil_radius, preset.mri_noise,
                                 rng)
                k, maps, target = espirit_reference(k, preset.espirit_calib)
                for lst, v in zip(out, (k, maps, target, sid, z)):
                    lst.append(v)
                bar.update()
        bar.close()
        return _pack(*out)

    return cached(f"mri-synthetic-{split}", config, build)


def undersample(full: dict, rate: float, seed: int, info: dict) -> SampleSet:
    """Turn fully sampled data (as from :func:`build_synthetic`) into undersampled samples.

    Each slice gets its own equispaced mask (seeded by ``seed`` and its index, so masks are
    reproducible); the fully sampled k-space itself is not kept in the returned set.
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
    """
    _check_split(split)
    preset = get_preset(preset)
    rate = preset.mri_rate if rate is None else rate
    mask_spec(rate)  # fail before any heavy work on an unknown rate
    full = build_synthetic(split, preset, progress)
    seed = preset.seed + 1000 * SPLITS.index(split)
    return undersample(full, rate, seed, {"source": "synthetic MNI152", "split": split,
                                          "preset": preset.name})


# ----------------------------------------------------------------------------- fastMRI files
def _center_crop(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = a.shape[-2:]
    th, tw = shape
    top, left = (h - th) // 2, (w - tw) // 2
    return a[..., top:top + th, left:left + tw]


def fastmri_slice_kspace(kspace: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bring one fastMRI multi-coil slice (C, H, W) complex to ``size`` (C, h, w).

    fastMRI brain k-space is oversampled along the readout (e.g. 640 x 320 for a 320 x 320
    image): we crop the coil images to a centred square of side min(H, W) (dropping the
    readout oversampling), then keep the centred ``size`` block of its k-space, which lowers
    the resolution without aliasing.
    """
    import sigpy as sp

    side = min(kspace.shape[-2:])
    if size[0] > side or size[1] > side:
        raise ValueError(f"cannot bring k-space of size {kspace.shape[-2:]} up to {size}: "
                         "choose a preset with a smaller mri_size")
    images = _center_crop(sp.ifft(kspace, axes=(-2, -1)), (side, side))
    return _center_crop(sp.fft(images, axes=(-2, -1)), size).astype(np.complex64)


def _split_files(files: list[Path], preset: Preset) -> dict[str, list[Path]]:
    """Split volumes (one subject each) into train / val / test, preset counts if enough."""
    n = len(files)
    counts = list(preset.mri_subjects)
    if n < sum(counts):
        frac = np.array(counts, dtype=float) / sum(counts)
        test = max(1, int(round(n * frac[2]))) if n >= 3 else 0
        val = max(1, int(round(n * frac[1]))) if n >= 3 else 0
        counts = [n - val - test, val, test]
    edges = np.cumsum([0] + counts)
    return {s: files[edges[i]:edges[i + 1]] for i, s in enumerate(SPLITS)}


def fastmri_dataset(folder: str | Path, split: str, preset: Preset | str | None = None,
                    rate: float | None = None, progress: bool = True) -> SampleSet:
    """Real fastMRI multi-coil brain data from a folder of ``.h5`` files, as :class:`MRISample`.

    Each file is one subject (fastMRI's layout: dataset ``kspace`` of shape
    (slices, coils, H, W), complex64). Files are sorted by name and split into train / val /
    test by subject (the preset's counts, or proportionally when there are fewer files). From
    each volume the ``preset.mri_slices_per_subject`` central slices are taken, brought to
    ``preset.mri_size`` (:func:`fastmri_slice_kspace`), and processed like the synthetic data
    (ESPIRiT maps, ESPIRiT-combined ground truth, peak 1). The result is cached, keyed by the
    files (names, sizes, times) and the preset.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no ``.h5`` file, or a file lacks a ``kspace`` dataset.
    """
    import h5py

    _check_split(split)
    preset = get_preset(preset)
    rate = preset.mri_rate if rate is None else rate
    mask_spec(rate)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"fastMRI data folder not found: {folder} (point it at a folder "
                                "of multi-coil brain .h5 files, e.g. multicoil_val/)")
    files = sorted(folder.glob("*.h5"))
    if not files:
        raise ValueError(f"no .h5 files in {folder}: expected fastMRI multi-coil brain files")
    chosen = _split_files(files, preset)[split]
    if not chosen:
        raise ValueError(f"only {len(files)} file(s) in {folder}: not enough for a "
                         f"{split!r} split (need at least 3 subjects)")
    config = {"version": DATA_VERSION, "source": "fastmri",
              "files": [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in chosen],
              "folder": str(folder.resolve()), "size": preset.mri_size,
              "slices": preset.mri_slices_per_subject, "calib": preset.espirit_calib}

    def build() -> dict:
        out = ([], [], [], [], [])
        for sid, path in enumerate(tqdm(chosen, disable=not progress, desc=f"fastMRI {split}",
                                        unit="file")):
            with h5py.File(path, "r") as fh:
                if "kspace" not in fh:
                    raise ValueError(f"{path} has no 'kspace' dataset: not a fastMRI file")
                ks = fh["kspace"]
                if ks.ndim != 4:
                    raise ValueError(f"{path}: expected multi-coil kspace (slices, coils, H, W), "
                                     f"got shape {ks.shape}")
                n = ks.shape[0]
                take = min(n, preset.mri_slices_per_subject)
                first = (n - take) // 2
                for z in range(first, first + take):
                    k = fastmri_slice_kspace(np.asarray(ks[z]), tuple(preset.mri_size))
                    k, maps, target = espirit_reference(k, preset.espirit_calib)
                    for lst, v in zip(out, (k, maps, target, sid, z)):
                        lst.append(v)
        return _pack(*out)

    full = cached(f"mri-fastmri-{split}", config, build)
    seed = preset.seed + 1000 * SPLITS.index(split)
    return undersample(full, rate, seed, {"source": f"fastMRI {folder.name}", "split": split,
                                          "preset": preset.name})
