"""spadelib: the helper package of the SPADE book.

Structured pruning for model-based deep learning (Park, Gan et al., "A Structured Pruning
Algorithm for Model-based Deep Learning"). One module per concern:

* :mod:`spadelib.presets`: sizes and budgets (``SPADE_PRESET=quick|paper``);
* :mod:`spadelib.checks`: the argument checks at the public boundary;
  :mod:`spadelib.checkpoints`: the one checksummed file format for everything the package
  writes (networks, training states, data sets, results) and its on-disk cache;
* :mod:`spadelib.physics`: measurement models (multi-coil MRI, super-resolution) and masks;
* :mod:`spadelib.data`: embedded data sets (synthetic brain MRI, fastMRI files, SR photos);
* :mod:`spadelib.kernels`: the 12 blur kernels of the SR experiments;
* :mod:`spadelib.tasks`: the two tasks (CS-MRI, super-resolution) behind one interface;
* :mod:`spadelib.models`: DEQ (EDSR prior), VarNet, E2E-VarNet, USRNet and their registry,
  each declaring its CNN priors; :mod:`spadelib.training` and :mod:`spadelib.zoo`: one
  resumable trainer and the cached pre-trained networks;
* :mod:`spadelib.pruning`: SPADE pruning on DepGraph, one module per step:
  :mod:`~spadelib.pruning.dependency` (layer groups), :mod:`~spadelib.pruning.importance`
  (group-l1 and other rankings), :mod:`~spadelib.pruning.pruner` (pruning CNNs and networks),
  :mod:`~spadelib.pruning.report` (what pruning removed), :mod:`~spadelib.pruning.reference`
  (the zeroed-channels check) and :mod:`~spadelib.pruning.io` (saving and reloading pruned
  networks); :mod:`spadelib.bench`: ``python -m spadelib.bench pruning``;
* :mod:`spadelib.losses` and :mod:`spadelib.transforms`: the fine-tuning losses and the
  rotations of equivariant imaging; :mod:`spadelib.splitting`: measurement splitting (SSDU),
  the loss of the ``self-supervised-split`` regimes; :mod:`spadelib.finetune`: supervised,
  school and self-supervised fine-tuning; :mod:`spadelib.evaluation`: PSNR, SSIM, time and
  parameters of a network on a split;
* :mod:`spadelib.baselines`: zero-filled, TV / l1-wavelet and bicubic reconstructions;
* :mod:`spadelib.metrics`: PSNR, SSIM, latency, parameter counts;
* :mod:`spadelib.plotting` and :mod:`spadelib.widgets`: figures and static-HTML sliders;
* :mod:`spadelib.experiments`: the paper's experiments as data: the grid
  (:mod:`~spadelib.experiments.grid`), the results store (:mod:`~spadelib.experiments.store`),
  the runner (:mod:`~spadelib.experiments.runner`, locally or on Ray), the tables
  (:mod:`~spadelib.experiments.tables`) and the paper's own numbers
  (:mod:`~spadelib.experiments.paper`);
* :mod:`spadelib.cli`: the ``spade`` command (run the grid, its status and tables, pre-training,
  data building, benchmarks from a terminal).
"""
from .presets import Preset, get_preset

__version__ = "0.1.0"
__all__ = ["Preset", "get_preset", "__version__"]
