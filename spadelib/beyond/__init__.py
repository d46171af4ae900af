"""Beyond the paper (Chapter 8, ``book/08_beyond.ipynb``): faster DEQs, widths the hardware
likes, other pruning criteria and better self-supervised fine-tuning.

Each part is a module of its own, usable without the book; the experiments run through the
grid (``beyond-*`` grids of :mod:`spadelib.experiments.grid`).
"""
