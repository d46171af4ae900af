"""Presets: every size in the book is read from one place.

A chapter never hard-codes an image size, a coil count or a data-set size; it asks the current
preset::

    from spadelib import get_preset
    P = get_preset()           # reads SPADE_PRESET, default "quick"
    P.mri_size, P.mri_coils

``quick`` is what CI and a laptop CPU run in minutes; ``paper`` mirrors the sizes of the SPADE
paper (section 4) and is meant for a GPU box::

    SPADE_PRESET=paper jupyter-book build .

The preset is a frozen dataclass, so a chapter can derive a variant without touching the global
one: ``dataclasses.replace(P, mri_size=(96, 96))``.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

ENV_VAR = "SPADE_PRESET"
DEFAULT = "quick"


@dataclass(frozen=True)
class Preset:
    """Sizes and budgets of one way of running the book.

    Attributes:
        name: ``"quick"`` or ``"paper"``.
        seed: base seed of every random choice made while building data.
        mri_size: (H, W) of the MRI images and k-space.
        mri_coils: number of receiver coils of the synthetic MRI data.
        mri_subjects: subjects in the (train, val, test) splits (the paper: 145 / 10 / 10).
        mri_slices_per_subject: axial slices taken from each synthetic subject.
        mri_noise: std of the complex Gaussian k-space noise, relative to the k-space RMS.
        mri_rate: default sampling rate of the undersampling masks (the paper's 16.7 %).
        espirit_calib: ESPIRiT calibration width (k-space lines) for coil-map estimation.
        sr_size: side of the square high-resolution SR crops (a multiple of 12, so of 2, 3, 4).
        sr_scale: default super-resolution scale factor.
        sr_noise: std of the Gaussian noise on the low-resolution images (images in [0, 1]).
        sr_crops_per_image: training crops drawn from each training photo.
    """

    name: str
    seed: int = 0
    # --- compressed-sensing MRI ---
    mri_size: tuple[int, int] = (64, 64)
    mri_coils: int = 4
    mri_subjects: tuple[int, int, int] = (8, 2, 2)
    mri_slices_per_subject: int = 4
    mri_noise: float = 0.01
    mri_rate: float = 0.167
    espirit_calib: int = 16
    # --- super-resolution ---
    sr_size: int = 96
    sr_scale: int = 4
    sr_noise: float = 0.01
    sr_crops_per_image: int = 4
    extras: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def mri_split_sizes(self) -> dict[str, int]:
        """Number of slices in each split: subjects x slices per subject."""
        return {s: n * self.mri_slices_per_subject
                for s, n in zip(("train", "val", "test"), self.mri_subjects)}

    def replace(self, **changes) -> "Preset":
        """A copy with some fields changed (``P.replace(mri_size=(96, 96))``)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """A short human-readable summary, for the top of a chapter."""
        sizes = self.mri_split_sizes
        return (f"preset '{self.name}': MRI {self.mri_size[0]}x{self.mri_size[1]}, "
                f"{self.mri_coils} coils, slices train/val/test = "
                f"{sizes['train']}/{sizes['val']}/{sizes['test']}; "
                f"SR crops {self.sr_size}x{self.sr_size}, x{self.sr_scale}")


PRESETS: dict[str, Preset] = {
    "quick": Preset(name="quick"),
    "paper": Preset(
        name="paper",
        mri_size=(256, 256),
        mri_coils=8,
        mri_subjects=(145, 10, 10),
        mri_slices_per_subject=8,
        espirit_calib=24,
        sr_size=252,
        sr_crops_per_image=32,
    ),
}


def get_preset(name: str | None = None) -> Preset:
    """The preset named ``name``, or the one chosen by the ``SPADE_PRESET`` environment variable.

    Args:
        name: ``"quick"`` or ``"paper"``; ``None`` reads ``$SPADE_PRESET`` (default ``"quick"``).

    Raises:
        ValueError: the name is not a known preset.
    """
    if isinstance(name, Preset):
        return name
    chosen = name if name is not None else os.environ.get(ENV_VAR, DEFAULT)
    key = str(chosen).strip().lower()
    if key not in PRESETS:
        source = "argument" if name is not None else f"environment variable {ENV_VAR}"
        raise ValueError(
            f"unknown preset {chosen!r} (from the {source}); choose one of {sorted(PRESETS)}")
    return PRESETS[key]
