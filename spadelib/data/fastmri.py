"""A loader for real fastMRI multi-coil brain ``.h5`` files, giving the same samples as the
synthetic data of :mod:`spadelib.data.mri`.

Each file is one subject; its central slices are brought to the preset's image size and processed
exactly like the synthetic slices (ESPIRiT maps, ESPIRiT-combined ground truth, peak 1), then
undersampled with the same per-slice masks. The fully sampled result is cached like the synthetic
data (cache name ``mri-fastmri-<split>``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..checkpoints import cached
from ..physics.masks import mask_spec
from ..presets import Preset, get_preset
from .common import SampleSet, center_crop
from .mri import DATA_VERSION, SPLITS, _check_split, _pack, espirit_reference, undersample

__all__ = ["fastmri_dataset", "fastmri_slice_kspace"]


def fastmri_slice_kspace(kspace: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bring one fastMRI multi-coil slice (C, H, W) complex to ``size`` (C, h, w).

    fastMRI brain k-space is oversampled along the readout (e.g. 640 x 320 for a 320 x 320
    image): we crop the coil images to a centred square of side min(H, W) (dropping the
    readout oversampling), then keep the centred ``size`` block of its k-space, which lowers
    the resolution without aliasing.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    import sigpy as sp

    side = min(kspace.shape[-2:])
    if size[0] > side or size[1] > side:
        raise ValueError(f"cannot bring k-space of size {kspace.shape[-2:]} up to {size}: "
                         "choose a preset with a smaller mri_size")
    images = center_crop(sp.ifft(kspace, axes=(-2, -1)), (side, side))
    return center_crop(sp.fft(images, axes=(-2, -1)), size).astype(np.complex64)


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

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no ``.h5`` file, too few for the split, or a file cannot be used
            (not an HDF5 file, no ``kspace`` dataset, not multi-coil k-space, too small for the
            preset); the message names the file.
    """
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
            for z, (k, maps, target) in _fastmri_file(path, preset):
                for lst, v in zip(out, (k, maps, target, sid, z)):
                    lst.append(v)
        return _pack(*out)

    full = cached(f"mri-fastmri-{split}", config, build)
    seed = preset.seed + 1000 * SPLITS.index(split)
    return undersample(full, rate, seed, {"source": f"fastMRI {folder.name}", "split": split,
                                          "preset": preset.name})


def _fastmri_file(path: Path, preset: Preset) -> list[tuple[int, tuple[np.ndarray, ...]]]:
    """The central slices of one fastMRI file, each as ``(slice index, espirit_reference(...))``.
    Every failure is a ValueError that names the file."""
    import h5py

    if not h5py.is_hdf5(path):
        raise ValueError(f"{path} is not an HDF5 file (fastMRI files are HDF5 with a 'kspace' "
                         "dataset): remove it from the folder or replace it with the real file")
    slices = []
    try:
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
                slices.append((z, espirit_reference(k, preset.espirit_calib)))
    except Exception as err:  # noqa: BLE001 - re-raised naming the file
        if str(path) in str(err):
            raise
        raise ValueError(f"{path}: could not be read as fastMRI multi-coil k-space "
                         f"({type(err).__name__}: {err})") from err
    return slices
