"""Embedded data: synthetic multi-coil brain MRI, real fastMRI files, and SR photos.

* :func:`mri_dataset` (synthetic, :mod:`~spadelib.data.mri`) / :func:`fastmri_dataset` (real
  files, :mod:`~spadelib.data.fastmri`): :class:`MRISample` sets (CS-MRI);
* :func:`sr_dataset` / :func:`load_image_folder`: :class:`SRSample` sets (super-resolution);
* ``SampleSet.measurements_only()``: the ground-truth-free view that the school and
  self-supervised fine-tuning regimes receive.
"""
from .common import SampleSet, collate, has_ground_truth
from .fastmri import fastmri_dataset, fastmri_files
from .mri import MRIMeasurement, MRISample, build_synthetic, mri_dataset
from .sr import SRMeasurement, SRSample, builtin_images, load_image_folder, sr_dataset

# ``from spadelib.data.mri import fastmri_dataset`` keeps working: the real-fastMRI loader
# lives in data.fastmri, which builds on data.mri, so the old names are set here, above both
# modules (data.mri importing data.fastmri would close an import circle)
from . import fastmri, mri  # noqa: E402  (the submodules themselves, for the two names below)

mri.fastmri_dataset = fastmri.fastmri_dataset
mri.fastmri_slice_kspace = fastmri.fastmri_slice_kspace

__all__ = ["SampleSet", "collate", "has_ground_truth", "MRIMeasurement", "MRISample",
           "mri_dataset", "fastmri_dataset", "fastmri_files", "build_synthetic", "SRMeasurement",
           "SRSample", "sr_dataset", "load_image_folder", "builtin_images"]
