"""spadelib: the helper package of the SPADE book.

Structured pruning for model-based deep learning (Park, Gan et al., "A Structured Pruning
Algorithm for Model-based Deep Learning"). One module per concern:

* :mod:`spadelib.presets`: sizes and budgets (``SPADE_PRESET=quick|paper``);
* :mod:`spadelib.physics`: measurement models (multi-coil MRI, super-resolution) and masks;
* :mod:`spadelib.data`: embedded data sets (synthetic brain MRI, fastMRI files, SR photos);
* :mod:`spadelib.kernels`: the 12 blur kernels of the SR experiments;
* :mod:`spadelib.models`: DEQ (EDSR prior), VarNet, E2E-VarNet, USRNet, each declaring its
  CNN priors; :mod:`spadelib.training` and :mod:`spadelib.zoo`: one resumable trainer and the
  cached pre-trained networks;
* :mod:`spadelib.pruning`: DepGraph layer groups, group-l1 ranking, SPADE pruning;
  :mod:`spadelib.bench`: ``python -m spadelib.bench pruning``;
* :mod:`spadelib.finetune`: supervised, school and self-supervised fine-tuning;
  :mod:`spadelib.evaluation`: PSNR, SSIM, time and parameters of a network on a split;
* :mod:`spadelib.baselines`: zero-filled, TV / l1-wavelet and bicubic reconstructions;
* :mod:`spadelib.metrics`: PSNR, SSIM, latency, parameter counts;
* :mod:`spadelib.plotting` and :mod:`spadelib.widgets`: figures and static-HTML sliders;
* :mod:`spadelib.cache`: the atomic, configuration-keyed on-disk cache.
"""
from .presets import Preset, get_preset

__version__ = "0.1.0"
__all__ = ["Preset", "get_preset", "__version__"]
