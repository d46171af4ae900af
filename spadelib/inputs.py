"""The paper's real inputs, chosen by environment variables (taught in the book's introduction,
``book/intro.md``, and in Chapter 1, ``book/01_inverse_problems.ipynb``).

Out of the box every chapter, grid and command runs on inputs made here: synthetic multi-coil
brains for CS-MRI, the built-in photos and the re-made kernels for super-resolution, and
networks pre-trained by :mod:`spadelib.zoo`. On a machine that holds the paper's real inputs,
point the package at them and everything downstream uses them instead:

==========================  =============================================================
``SPADE_FASTMRI_DIR``       a folder of fastMRI multi-coil brain ``.h5`` files as released
                            (the paper: the validation set, ``multicoil_val/``), read by
                            :func:`spadelib.data.fastmri_dataset`
``SPADE_FASTMRI_CONTRAST``  which contrast to keep (default ``AXT2``, the paper's T2; or
                            ``AXT1``, ``AXT1PRE``, ``AXT1POST``, ``AXFLAIR``, ``all``)
``SPADE_USRNET_WEIGHTS``    the official USRNet weights (``usrnet.pth``), loaded by
                            :func:`spadelib.zoo.load_usrnet_official` in place of the zoo's
``SPADE_USRNET_KERNELS``    the official 12 kernels (``kernels_12.mat``), read by
                            :func:`spadelib.kernels.load_kernels` in place of the re-made set
``SPADE_SR_TEST_IMAGES``    a folder of test photos (the paper: CBSD68's 68 PNGs), read by
                            :func:`spadelib.data.load_image_folder`
==========================  =============================================================

:func:`current` reads them (checking that each named path exists). What a result was computed
from is part of its identity: pre-trained checkpoints carry the inputs of their task in their
header and file name, and the results store of a preset gets its own file per set of inputs
(:meth:`Inputs.tag`), so results from real and synthetic inputs never mix. With no variable
set nothing changes: the keys are those of the synthetic inputs.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .data.fastmri import CONTRASTS as _FASTMRI_CONTRASTS

__all__ = ["ENV", "CONTRASTS", "Inputs", "current", "describe"]

#: the environment variable of each input
ENV = {"fastmri_dir": "SPADE_FASTMRI_DIR", "fastmri_contrast": "SPADE_FASTMRI_CONTRAST",
       "usrnet_weights": "SPADE_USRNET_WEIGHTS", "sr_kernels": "SPADE_USRNET_KERNELS",
       "sr_test_images": "SPADE_SR_TEST_IMAGES"}
#: fastMRI brain contrasts (the ``acquisition`` attribute of a file), and ``"all"``
CONTRASTS = _FASTMRI_CONTRASTS + ("all",)
#: which inputs each task's data (and so its networks) depends on
_TASK_INPUTS = {"mri": ("fastmri_dir", "fastmri_contrast"),
                "sr": ("sr_kernels", "sr_test_images")}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _folder_listing(folder: Path, suffixes: tuple[str, ...]) -> list:
    return sorted((p.name, p.stat().st_size) for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in suffixes)


@dataclass(frozen=True)
class Inputs:
    """The real inputs in use (``None``: the package's own).

    Attributes:
        fastmri_dir: folder of fastMRI multi-coil brain files.
        fastmri_contrast: the contrast kept from it.
        usrnet_weights: the official USRNet weights file.
        sr_kernels: the official ``kernels_12.mat``.
        sr_test_images: folder of SR test photos.
    """

    fastmri_dir: Path | None = None
    fastmri_contrast: str = "AXT2"
    usrnet_weights: Path | None = None
    sr_kernels: Path | None = None
    sr_test_images: Path | None = None

    @property
    def synthetic(self) -> bool:
        """True when no real input is set (the book's default)."""
        return all(getattr(self, f) is None for f in
                   ("fastmri_dir", "usrnet_weights", "sr_kernels", "sr_test_images"))

    def provenance(self, task: str | None = None) -> dict:
        """What the inputs are, as a JSON-able dict for checkpoint headers and results rows:
        empty for the package's own inputs, so their keys are unchanged. ``task`` (``"mri"``
        or ``"sr"``) keeps only that task's data inputs; the USRNet weights are a network,
        not data, and appear only without ``task``."""
        names = _TASK_INPUTS[task] if task is not None else tuple(ENV)
        out: dict = {}
        if "fastmri_dir" in names and self.fastmri_dir is not None:
            out["fastmri"] = {"folder": self.fastmri_dir.name,
                              "files": len(_folder_listing(self.fastmri_dir, (".h5",))),
                              "contrast": self.fastmri_contrast}
        if "usrnet_weights" in names and self.usrnet_weights is not None:
            out["usrnet_weights"] = {"file": self.usrnet_weights.name,
                                     "sha256": _sha256(self.usrnet_weights)}
        if "sr_kernels" in names and self.sr_kernels is not None:
            out["sr_kernels"] = {"file": self.sr_kernels.name,
                                 "sha256": _sha256(self.sr_kernels)}
        if "sr_test_images" in names and self.sr_test_images is not None:
            listing = _folder_listing(self.sr_test_images, (".png", ".jpg", ".jpeg", ".bmp",
                                                            ".tif", ".tiff"))
            out["sr_test_images"] = {"folder": self.sr_test_images.name, "images": len(listing),
                                     "sha256": hashlib.sha256(repr(listing).encode())
                                     .hexdigest()}
        return out

    def tag(self) -> str:
        """A short name for this set of inputs: ``""`` for the package's own, otherwise
        ``"real-"`` and a digest of :meth:`provenance` (used in the results store's name)."""
        if self.synthetic:
            return ""
        digest = hashlib.sha256(repr(sorted(self.provenance().items())).encode()).hexdigest()
        return f"real-{digest[:10]}"

    def describe(self) -> str:
        """One line per input: what is used and where it comes from."""
        def line(label, value, default):
            return f"{label}: {value if value is not None else default}"
        mri = (f"fastMRI files in {self.fastmri_dir} ({self.fastmri_contrast})"
               if self.fastmri_dir is not None else None)
        return "\n".join([
            line("CS-MRI data", mri, "synthetic brains (set SPADE_FASTMRI_DIR for fastMRI)"),
            line("USRNet", self.usrnet_weights and f"official weights {self.usrnet_weights}",
                 "pre-trained by spadelib.zoo (set SPADE_USRNET_WEIGHTS for the official)"),
            line("SR kernels", self.sr_kernels and f"official {self.sr_kernels}",
                 "the re-made 12 kernels (set SPADE_USRNET_KERNELS for kernels_12.mat)"),
            line("SR test images", self.sr_test_images,
                 "the built-in photos (set SPADE_SR_TEST_IMAGES for CBSD68)")])


def _path_from(field: str, must_be_dir: bool) -> Path | None:
    var = ENV[field]
    value = os.environ.get(var, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{var}={value}: no such {'folder' if must_be_dir else 'file'}"
                                f" (unset {var} to use the book's own inputs)")
    if must_be_dir != path.is_dir():
        kind = "a folder" if must_be_dir else "a file"
        raise ValueError(f"{var}={value} must name {kind}")
    return path.resolve()


def current() -> Inputs:
    """The inputs chosen by the environment variables of :data:`ENV` (read at each call).

    Raises:
        FileNotFoundError: a variable names a path that does not exist.
        ValueError: a variable names a file where a folder is expected (or the reverse), or an
            unknown contrast.
    """
    contrast = os.environ.get(ENV["fastmri_contrast"], "").strip() or "AXT2"
    contrast = contrast if contrast.lower() == "all" else contrast.upper()
    if contrast not in CONTRASTS:
        raise ValueError(f"{ENV['fastmri_contrast']}={contrast!r}: choose one of "
                         f"{', '.join(CONTRASTS)}")
    return Inputs(fastmri_dir=_path_from("fastmri_dir", True), fastmri_contrast=contrast,
                  usrnet_weights=_path_from("usrnet_weights", False),
                  sr_kernels=_path_from("sr_kernels", False),
                  sr_test_images=_path_from("sr_test_images", True))


def describe() -> str:
    """:meth:`Inputs.describe` of :func:`current`."""
    return current().describe()

