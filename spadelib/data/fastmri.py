"""A loader for real fastMRI multi-coil brain ``.h5`` files *as released*, giving the same
samples as the synthetic data of :mod:`spadelib.data.mri`.

Each file is one subject. The paper uses the T2-weighted (``AXT2``) brains only, so by default
only those files count; the contrast comes from the file's ``acquisition`` attribute or, where
that is missing, from the protocol name in its ``ismrmrd_header`` XML. Files are sorted by name
and split into train / val / test by subject. From each volume we take the central
``preset.mri_slices_per_subject`` slices (training volumes up to
``preset.mri_train_slices_per_subject``), never one of the :data:`EDGE_SLICES` first or last
(the volume's ends hold little brain), and per slice:

1. drop the readout oversampling and bring k-space to ``preset.mri_size``
   (:func:`fastmri_slice_kspace`);
2. compress the coils to ``preset.mri_coils`` virtual coils (:mod:`spadelib.data.coils`), with
   one compression matrix per volume;
3. estimate ESPIRiT maps and take the ESPIRiT-combined image as the ground truth, exactly like
   the synthetic data (:func:`~spadelib.data.mri.espirit_reference`);
4. scale the whole volume by one number so that its ground-truth magnitude peaks at 1.

The fully sampled result is cached (``mri-fastmri-<split>``), then undersampled with the same
per-slice masks as the synthetic data.
"""
from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..checkpoints import cached
from ..physics.masks import mask_spec
from ..presets import Preset, get_preset
from .coils import compress_coils, compression_matrix
from .common import SampleSet, center_crop
from .mri import DATA_VERSION, SPLITS, _check_split, _pack, espirit_reference, undersample

__all__ = ["CONTRASTS", "EDGE_SLICES", "FastMRIFile", "fastmri_dataset", "fastmri_files",
           "fastmri_slice_kspace"]

#: the contrasts of fastMRI's brain files (their ``acquisition`` attribute)
CONTRASTS = ("AXT1", "AXT1PRE", "AXT1POST", "AXT2", "AXFLAIR")
#: slices never taken at each end of a volume: fastMRI brain volumes hold about 16 axial slices
#: and the first and last ones cut through the top of the skull and the skull base, with little
#: brain and low signal; two at each end keeps them out while leaving 12 of 16 to choose from
EDGE_SLICES = 2
LOADER_VERSION = 2  # bump when the processing below changes, so caches are rebuilt
_LISTED = 20        # file names listed in a warning before "and N more"


def fastmri_slice_kspace(kspace: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bring one fastMRI multi-coil slice (C, H, W) complex to ``size`` (C, h, w).

    fastMRI brain k-space is oversampled along the readout (e.g. 640 x 320 for a 320 x 320
    image), and other sizes, odd widths included, occur. We crop the coil images to a centred
    square of side min(H, W) (dropping the readout oversampling), then keep the centred
    ``size`` block of its k-space, which lowers the resolution without aliasing. The centred
    FFT keeps the k-space centre at index ``n // 2`` for odd and even sides alike, so the crop
    stays centred on it.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Raises:
        ValueError: not complex (C, H, W) data, or smaller than ``size``.
    """
    import sigpy as sp  # optional heavy dependency (sigpy), only for real files

    kspace = np.asarray(kspace)
    if kspace.ndim != 3 or not np.iscomplexobj(kspace):
        raise ValueError(f"expected one complex multi-coil slice (C, H, W), got {kspace.dtype} "
                         f"of shape {kspace.shape}")
    side = min(kspace.shape[-2:])
    if size[0] > side or size[1] > side:
        raise ValueError(f"cannot bring k-space of size {kspace.shape[-2:]} up to {tuple(size)}: "
                         "choose a preset with a smaller mri_size")
    images = center_crop(sp.ifft(kspace, axes=(-2, -1)), (side, side))
    return center_crop(sp.fft(images, axes=(-2, -1)), size).astype(np.complex64)


# ------------------------------------------------------------------------------- contrasts
def _contrast_of_text(text: str) -> str | None:
    """A fastMRI contrast name from a protocol or series name ("AX T2 FSE" -> "AXT2")."""
    words = re.split(r"[^A-Z0-9+]+", text.upper())
    if {"SAG", "COR", "SAGITTAL", "CORONAL"} & set(words):
        return None                                     # not an axial series
    t = "".join(words)
    if "FLAIR" in t:
        return "AXFLAIR"
    if "T1" in t:
        if "POST" in t or "+C" in t or "GAD" in t:
            return "AXT1POST"
        return "AXT1PRE" if "PRE" in t else "AXT1"
    return "AXT2" if "T2" in t else None


def _contrast_of_header(raw) -> str | None:
    """The contrast named by an ISMRMRD header (its ``protocolName``, else its
    ``seriesDescription``), or None when it names none or does not parse."""
    if isinstance(raw, np.ndarray):
        raw = raw.item() if raw.size == 1 else raw.tobytes()
    data = bytes(raw).strip() if isinstance(raw, (bytes, np.bytes_)) else str(raw).strip()
    try:
        root = ET.fromstring(data)      # bytes: the XML declaration's encoding is honoured
    except (ET.ParseError, ValueError):
        return None
    names = {}
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""
        if tag in ("protocolName", "seriesDescription") and el.text and tag not in names:
            names[tag] = el.text
    for tag in ("protocolName", "seriesDescription"):
        found = _contrast_of_text(names.get(tag, ""))
        if found:
            return found
    return None


def _file_contrast(fh) -> str | None:
    """The contrast of an open fastMRI file: its ``acquisition`` attribute (as stored, upper
    case), else what its ``ismrmrd_header`` names, else None."""
    value = fh.attrs.get("acquisition")
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value.strip():
        return value.strip().upper()
    if "ismrmrd_header" in fh:
        return _contrast_of_header(fh["ismrmrd_header"][()])
    return None


def _wanted_contrasts(contrast) -> tuple[str, ...] | None:
    """The contrasts asked for (None: all), checked."""
    items = (contrast,) if isinstance(contrast, str) else contrast
    if not isinstance(items, (tuple, list)) or not items or \
            not all(isinstance(c, str) for c in items):
        raise ValueError(f"contrast must be one of {', '.join(CONTRASTS)}, 'all', or a tuple of "
                         f"them, got {contrast!r}")
    if any(c.lower() == "all" for c in items):
        if len(items) > 1:
            raise ValueError(f"contrast 'all' cannot be combined with others, got {contrast!r}")
        return None
    for c in items:
        if c.upper() not in CONTRASTS:
            raise ValueError(f"unknown contrast {c!r}; choose one of {', '.join(CONTRASTS)} "
                             "(the paper's is 'AXT2'), 'all', or a tuple of them")
    return tuple(sorted({c.upper() for c in items}))


# ------------------------------------------------------------------------------- files
@dataclass(frozen=True)
class FastMRIFile:
    """One fastMRI file as the loader sees it (one subject).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Attributes:
        path: the ``.h5`` file.
        contrast: its contrast (``"AXT2"``...), None when neither the ``acquisition``
            attribute nor the ``ismrmrd_header`` names one.
        slices, coils, height, width: the shape of its ``kspace`` (slices, coils, H, W).
        taken: the slice indices the loader takes (the central ones, edges excluded); empty
            until the file is selected for a preset.
        error: why the file could not be read (its shape fields are then 0), or None. An
            unreadable file keeps its place in the sorted list, so it fails only the split it
            falls in (:func:`fastmri_dataset` names it there) and the other splits are those
            the folder gives once the file is fixed.
    """

    path: Path
    contrast: str | None
    slices: int
    coils: int
    height: int
    width: int
    taken: tuple[int, ...] = ()
    error: str | None = None


def _scan(path: Path) -> FastMRIFile:
    """Read one file's contrast and k-space shape (no k-space data). Every failure is a
    ValueError that names the file."""
    import h5py  # optional heavy dependency (h5py), only for real fastMRI files

    if not h5py.is_hdf5(path):
        raise ValueError(f"{path} is not an HDF5 file (fastMRI files are HDF5 with a 'kspace' "
                         "dataset): remove it from the folder or replace it with the real file")
    try:
        with h5py.File(path, "r") as fh:
            if "kspace" not in fh or not isinstance(fh["kspace"], h5py.Dataset):
                raise ValueError(f"{path} has no 'kspace' dataset: not a fastMRI file; remove "
                                 "it from the folder")
            ks = fh["kspace"]
            if ks.ndim != 4:
                raise ValueError(f"{path}: expected multi-coil kspace (slices, coils, H, W), "
                                 f"got shape {ks.shape}: single-coil files cannot be used")
            if ks.dtype.kind != "c":
                raise ValueError(f"{path}: kspace must be complex (fastMRI stores complex64), "
                                 f"got {ks.dtype}")
            return FastMRIFile(path, _file_contrast(fh), *map(int, ks.shape))
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - re-raised naming the file
        raise ValueError(f"{path}: could not be read as a fastMRI file "
                         f"({type(err).__name__}: {err})") from err


def _scan_or_note(path: Path) -> FastMRIFile:
    """:func:`_scan`, with a file that cannot be read kept as a placeholder holding why."""
    try:
        return _scan(path)
    except ValueError as err:
        return FastMRIFile(path, None, 0, 0, 0, 0, error=str(err))


def _central_slices(info: FastMRIFile, take: int) -> tuple[int, ...]:
    """The ``take`` central slices of a volume, none of the :data:`EDGE_SLICES` at each end."""
    usable = info.slices - 2 * EDGE_SLICES
    if usable < take:
        raise ValueError(
            f"{info.path}: {info.slices} slices, {max(usable, 0)} once the {EDGE_SLICES} first "
            f"and last (edge slices, little brain) are dropped: fewer than the preset's "
            f"mri_slices_per_subject = {take}; remove the file or lower mri_slices_per_subject")
    first = EDGE_SLICES + (usable - take) // 2
    return tuple(range(first, first + take))


def _listing(items: list[str]) -> str:
    more = f", and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return ", ".join(items[:_LISTED]) + more


def _select(folder: Path, infos: list[FastMRIFile], wanted: tuple[str, ...] | None,
            preset: Preset) -> list[FastMRIFile]:
    """The usable files of the wanted contrasts, sorted by name, with their slices chosen."""
    label = "all" if wanted is None else "/".join(wanted)
    if wanted is not None:
        unknown = [i.path.name for i in infos if i.contrast is None and i.error is None]
        if unknown:
            warnings.warn(f"skipped {len(unknown)} file(s) in {folder} whose contrast is unknown "
                          "(no 'acquisition' attribute, and no contrast in the "
                          f"'ismrmrd_header' protocol name): {_listing(unknown)}", stacklevel=3)
        # an unreadable file's contrast is unknown: it keeps its place (see FastMRIFile.error)
        matching = [i for i in infos if i.contrast in wanted or i.error is not None]
        if not any(i.error is None for i in matching):
            found = Counter("unreadable" if i.error else i.contrast or "unknown" for i in infos)
            table = ", ".join(f"{c} ({n})" for c, n in sorted(found.items()))
            raise ValueError(f"no {label} file in {folder}: found {table}; choose one of those "
                             "with contrast=..., or contrast='all'")
    else:
        matching = list(infos)
    few = [i for i in matching if i.error is None and i.coils < preset.mri_coils]
    if few:
        warnings.warn(
            f"skipped {len(few)} {label} file(s) in {folder} with fewer coils than the preset's "
            f"mri_coils = {preset.mri_coils} (coil compression only removes coils): "
            f"{_listing([f'{i.path.name} ({i.coils} coils)' for i in few])}", stacklevel=3)
    chosen = []
    for info in matching:
        if info.error is not None:
            chosen.append(info)
            continue
        if info.coils < preset.mri_coils:
            continue
        if min(info.height, info.width) < max(preset.mri_size):
            raise ValueError(
                f"{info.path}: cannot bring k-space of size {info.height} x {info.width} (images "
                f"of {min(info.height, info.width)} x {min(info.height, info.width)} once the "
                f"readout oversampling is cropped) up to the preset's mri_size "
                f"{tuple(preset.mri_size)}: choose a preset with a smaller mri_size")
        chosen.append(FastMRIFile(info.path, info.contrast, info.slices, info.coils, info.height,
                                  info.width, _central_slices(info, preset.mri_slices_per_subject)))
    return sorted(chosen, key=lambda i: i.path.name)


def _split_counts(n: int, preset: Preset) -> list[int]:
    """Subjects per split: the preset's counts when there are enough files (any further files
    are left out), else the same proportions of the files there are."""
    counts = list(preset.mri_subjects)
    if n < sum(counts):
        frac = np.array(counts, dtype=float) / sum(counts)
        test = max(1, int(round(n * frac[2]))) if n >= 3 else 0
        val = max(1, int(round(n * frac[1]))) if n >= 3 else 0
        counts = [n - val - test, val, test]
    return counts


def fastmri_files(folder: str | Path, preset: Preset | str | None = None,
                  contrast="AXT2") -> dict[str, list[FastMRIFile]]:
    """Which files (and which of their slices) :func:`fastmri_dataset` takes for each split.

    Reads only the files' attributes and shapes, not their k-space, so it is quick: use it to
    see what a folder holds before building the data. Arguments and errors as
    :func:`fastmri_dataset`.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    preset = get_preset(preset)
    wanted = _wanted_contrasts(contrast)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"fastMRI data folder not found: {folder} (point it at a folder "
                                "of multi-coil brain .h5 files, e.g. multicoil_val/)")
    paths = sorted(folder.glob("*.h5"), key=lambda p: p.name)
    if not paths:
        raise ValueError(f"no .h5 files in {folder}: expected fastMRI multi-coil brain files")
    files = _select(folder, [_scan_or_note(p) for p in paths], wanted, preset)
    edges = np.cumsum([0] + _split_counts(len(files), preset))
    splits = {s: files[edges[i]:edges[i + 1]] for i, s in enumerate(SPLITS)}
    more = preset.slices_per_subject("train")
    if more > preset.mri_slices_per_subject:     # training volumes: up to `more` central slices
        splits["train"] = [f if f.error is not None else dataclasses.replace(
            f, taken=_central_slices(f, min(more, f.slices - 2 * EDGE_SLICES)))
            for f in splits["train"]]
    return splits


def fastmri_dataset(folder: str | Path, split: str, preset: Preset | str | None = None,
                    rate: float | None = None, contrast="AXT2",
                    progress: bool = True) -> SampleSet:
    """Real fastMRI multi-coil brain data from a folder of ``.h5`` files, as :class:`MRISample`.

    The samples have the synthetic data's layout, coil count and scaling, so every network and
    chapter uses them unchanged. What is done to the files, and why (module docstring):

    * **contrast**: only files of ``contrast`` count as subjects (``acquisition`` attribute,
      else the ``ismrmrd_header`` protocol name; a file where neither names one is skipped with
      a warning, unless ``contrast="all"``, which takes every file).
    * **split**: the files are sorted by name and cut into the preset's train / val / test
      subject counts (``preset.mri_subjects``; 145 / 10 / 10 at ``paper``), or the same
      proportions of the files when there are fewer; the same folder always gives the same
      split.
    * **slices**: the central ``preset.mri_slices_per_subject`` ones, never one of the
      :data:`EDGE_SLICES` at either end of the volume.
    * **size**: readout oversampling cropped, k-space centre-cropped to ``preset.mri_size``
      (:func:`fastmri_slice_kspace`).
    * **coils**: compressed to ``preset.mri_coils`` virtual coils by SVD, one matrix per
      volume (:func:`~spadelib.data.coils.compression_matrix`), so slices of files with
      different coil counts batch together. This is the standard step (Buehrer et al. 2007;
      Huang et al. 2008; Zhang et al. 2013, geometric coil compression): the virtual coils span
      the dominant subspace of the coil values, so the root-sum-of-squares and the
      coil-combined image are preserved up to the discarded energy (exactly when no coil is
      discarded). A file with *fewer* coils than ``mri_coils`` is left out with a warning:
      compression cannot add coils, and zero-padded coils carry no signal, which would give
      ESPIRiT empty maps and the networks inputs unlike any other slice.
    * **ground truth**: ESPIRiT maps and the ESPIRiT-combined image, as for the synthetic data.
    * **scale**: one factor per volume, so its ground-truth magnitude peaks at 1. The slices of
      a subject keep their relative brightness, as measured and as fastMRI's per-volume
      evaluation sees them, and a dim slice's noise is not blown up to a full-scale image.
      (The synthetic data are scaled per slice; on real volumes only the brightest slice of
      each subject peaks at exactly 1.)

    Args:
        folder: a folder of fastMRI multi-coil brain files (e.g. ``multicoil_val/``).
        split: ``"train"``, ``"val"`` or ``"test"``.
        preset: a :class:`~spadelib.presets.Preset` or its name; default: the current one.
        rate: sampling rate, 0.167 / 0.125 / 0.1; default ``preset.mri_rate``.
        contrast: ``"AXT2"`` (the paper's), one of :data:`CONTRASTS`, a tuple of them, or
            ``"all"``.
        progress: show a progress bar while building (only the first time: then cached, keyed
            by the split's files (names, sizes, times), the contrast and the preset).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: an unknown contrast; no ``.h5`` file, no file of the contrast (the message
            lists the contrasts found), or too few for the split; or a file that cannot be used
            (not HDF5, no ``kspace`` dataset, not 4-D (slices, coils, H, W), not complex,
            smaller than ``mri_size``, too few slices once the edges are dropped): the message
            names the file.
    """
    _check_split(split)
    preset = get_preset(preset)
    rate = preset.mri_rate if rate is None else rate
    mask_spec(rate)
    folder = Path(folder).expanduser()
    wanted = _wanted_contrasts(contrast)
    label = "all" if wanted is None else "/".join(wanted)
    splits = fastmri_files(folder, preset, contrast)
    chosen = splits[split]
    broken = [f.error for f in chosen if f.error is not None]
    if broken:
        raise ValueError(f"the {split!r} split cannot be built: {'; '.join(broken)} (files are "
                         "split by sorted name; the other splits do not use "
                         f"{'this file' if len(broken) == 1 else 'these files'})")
    if not chosen:
        n = sum(len(v) for v in splits.values())
        raise ValueError(f"only {n} usable {label} file(s) in {folder}: not enough for a "
                         f"{split!r} split (need at least 3 subjects)")
    config = {"version": DATA_VERSION, "loader": LOADER_VERSION, "source": "fastmri",
              "contrast": label, "folder": str(folder.resolve()),
              "files": [(f.path.name, f.path.stat().st_size, int(f.path.stat().st_mtime))
                        for f in chosen],
              "size": preset.mri_size, "coils": preset.mri_coils, "edge": EDGE_SLICES,
              "slices": preset.slices_per_subject(split), "calib": preset.espirit_calib}

    def build() -> dict:
        out = ([], [], [], [], [])
        for sid, info in enumerate(tqdm(chosen, disable=not progress, unit="file",
                                        desc=f"fastMRI {label} {split}")):
            for row in _volume_rows(info, preset):
                for lst, v in zip(out, (*row[:3], sid, row[3])):
                    lst.append(v)
        return _pack(*out)

    full = cached(f"mri-fastmri-{split}", config, build)
    seed = preset.seed + 1000 * SPLITS.index(split)
    return undersample(full, rate, seed, {"source": f"fastMRI {folder.name}", "split": split,
                                          "contrast": label, "preset": preset.name})


def _volume_rows(info: FastMRIFile, preset: Preset) -> list[tuple]:
    """``(k-space, maps, target, slice index)`` for each taken slice of one file: cropped,
    coil-compressed, ESPIRiT-processed, scaled per volume. Failures name the file."""
    import h5py  # optional heavy dependencies (h5py, sigpy), only for real files
    import sigpy as sp

    try:
        with h5py.File(info.path, "r") as fh:
            ks = fh["kspace"]
            k = np.stack([fastmri_slice_kspace(np.asarray(ks[z]), tuple(preset.mri_size))
                          for z in info.taken])                      # (S, C, h, w)
        k = compress_coils(k, compression_matrix(k, preset.mri_coils))
        k = k / max(float(np.abs(k).max()), np.finfo(np.float32).tiny)  # O(1) for ESPIRiT
        rows = []
        for z, kz in zip(info.taken, k):
            _, maps, _ = espirit_reference(kz, preset.espirit_calib)
            # the unscaled ESPIRiT-combined image (espirit_reference scales each slice alone)
            target = np.sum(np.conj(maps) * sp.ifft(kz, axes=(-2, -1)), axis=0)
            rows.append((kz, maps, target, z))
    except Exception as err:  # noqa: BLE001 - re-raised naming the file
        if str(info.path) in str(err):
            raise
        raise ValueError(f"{info.path}: could not be read as fastMRI multi-coil k-space "
                         f"({type(err).__name__}: {err})") from err
    peak = max(float(np.abs(r[2]).max()) for r in rows)
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError(f"{info.path}: the taken slices {list(info.taken)} hold no signal "
                         "(an all-zero or non-finite k-space): remove the file")
    return [((kz / peak).astype(np.complex64), maps, (t / peak).astype(np.complex64), z)
            for kz, maps, t, z in rows]
