"""What Chapters 6 and 7 show beside the tables: filling the store, reconstructions of its
cells, and the iterates of Figure 2.

* :func:`fill` runs the pending cells of some grids when the preset lets a notebook train
  (``quick``), and otherwise only says what is missing and which ``spade`` command fills it
  (``paper``: hours of GPU time are never started from a chapter);
* :func:`cell_images` reconstructs a few test samples with the network of each stored cell
  (rebuilt from the caches exactly as :func:`~spadelib.experiments.runner.run_cell` built it),
  for Figures 5-8 and the explorer; cached, keyed by the cell's row;
* :func:`deq_trace` and :func:`usrnet_trace`: a reconstruction while the network runs
  (Figure 2).

Used in Chapters 6 and 7 (``book/06_cs_mri.ipynb``, ``book/07_super_resolution.ipynb``).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch

from .. import checks, inputs
from ..checkpoints import SHIPPED, cached
from ..data.common import to_device
from ..evaluation import reconstruct
from ..metrics import psnr
from ..presets import CLI_ENV, NeedsCLIError, Preset, get_preset
from . import runner
from .grid import Cell, cells
from .store import SHIPPED_RESULTS, ResultStore

__all__ = ["Filled", "fill", "cell_images", "shipped_images", "image_config", "deq_trace",
           "usrnet_trace", "usrnet_iterates"]


@dataclass
class Filled:
    """What :func:`fill` did: how many cells it ran, which are still pending or failed.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Attributes:
        grids: the grids asked for.
        preset: the preset's name.
        ran: the cells run now (their keys).
        pending: the cells the store still lacks (not run: the preset leaves them to the
            ``spade`` command).
        failed: ``{key: error}`` of the cells that failed.
        seconds: wall time spent running cells.
    """

    grids: tuple[str, ...]
    preset: str
    ran: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def commands(self) -> list[str]:
        """The ``spade run`` commands that fill what is pending."""
        return [f"spade run {g} --preset {self.preset}" for g in self.grids]

    def __str__(self) -> str:
        lines = [f"grids {', '.join(self.grids)} ({self.preset} preset): {len(self.ran)} cell(s) "
                 f"run now ({self.seconds:.0f} s), {len(self.pending)} pending, "
                 f"{len(self.failed)} failed"]
        if self.pending:
            lines.append("the chapter does not train at this preset; fill the store from a "
                         "terminal (then run the chapter again):")
            lines += [f"    {c}" for c in self.commands]
        lines += [f"failed {k}: {v}" for k, v in self.failed.items()]
        return "\n".join(lines)


def fill(grids: Sequence[str], preset: Preset | str | None = None,
         store: ResultStore | None = None, networks: Sequence[str] | None = None,
         device=None) -> Filled:
    """Run the cells of ``grids`` that the store lacks, if the preset lets a notebook train.

    With ``preset.notebook_training`` (``quick``), or under the ``spade`` command, each
    pending cell is run as :func:`~spadelib.experiments.runner.run_grid` runs it (its row
    stored at once; a failing cell stores its error and the others go on), without progress
    bars; every step is cached, so a second call runs nothing. Otherwise (``paper``) nothing
    is run: the result lists the pending cells and the commands that fill them.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Args:
        grids: grid names (:data:`~spadelib.experiments.grid.GRIDS`).
        preset: a preset or its name; default the current one.
        store: default the preset's store.
        networks: only the cells of these networks (a chapter fills its own task's cells).
        device: where to run; default CUDA if available.
    """
    grids = tuple(grids)
    P = get_preset(preset)
    store = store if store is not None else ResultStore.for_preset(P)
    out = Filled(grids, P.name)
    todo, seen = [], set()
    for g in grids:
        for c in cells(g, P):
            if c.key not in seen and (networks is None or c.network in networks):
                seen.add(c.key)
                todo.append(c)
    start = time.perf_counter()
    if P.notebook_training or os.environ.get(CLI_ENV):
        done = store.done()
        for c in todo:
            if c.key in done:
                continue
            t0 = time.perf_counter()
            try:
                row = runner.run_cell(c, P, device=device, progress=False)
            except KeyboardInterrupt:
                raise
            except Exception as err:  # noqa: BLE001 - recorded, the others go on (run_grid)
                row = runner.failed_row(c, P.name, err, time.perf_counter() - t0)
            store.add(row)
            out.ran.append(c.key)
    out.seconds = time.perf_counter() - start
    rows = {r["key"]: r for r in store.rows()}
    for c in todo:
        r = rows.get(c.key)
        if r is None:
            out.pending.append(c.key)
        elif r.get("status") != "ok":
            out.failed[c.key] = str(r.get("error"))
    return out


def _test_split(cell: Cell, P: Preset):
    return cell.task_object.test_data(cell.preset(P))


def shipped_images(preset: Preset | str | None = None):
    """The folder beside the shipped results store that holds its cells' reconstructions
    (``shipped/images-medium/``), or ``None`` for a store that does not ship (or real
    inputs, whose store is a cache file)."""
    P = get_preset(preset)
    if inputs.current().tag() or P.name not in SHIPPED_RESULTS:
        return None
    return SHIPPED / f"images-{P.name}"


def image_config(cell: Cell, indices: Sequence[int], preset: Preset | str | None,
                 row: dict) -> dict:
    """What the cached reconstructions of ``cell``'s test samples ``indices`` are keyed by:
    the cell, the samples, the preset, the inputs and the date of the cell's stored ``row``
    (:func:`cell_images`)."""
    return {"cell": cell.key, "indices": list(indices), "preset": get_preset(preset).name,
            "inputs": inputs.current().tag(), "row_date": row.get("date")}


def cell_images(cell_list: Sequence[Cell], indices: Sequence[int] = (0,),
                preset: Preset | str | None = None, store: ResultStore | None = None,
                device=None) -> dict[str, torch.Tensor]:
    """Reconstructions of the test samples ``indices`` by the network of each cell.

    Only cells with a stored row are reconstructed; the network is
    :func:`~spadelib.experiments.runner.cell_network` (every step loads from the caches). A
    network the cache does not hold at a preset that does not train in a notebook
    (``paper``, ``medium``) is skipped. The images are cached, keyed by the cell, the samples,
    the inputs and the date of the cell's row (a re-run cell is reconstructed again); those of
    a store that ships with the repository (``medium``) go to :func:`shipped_images` in
    half precision, so a fresh clone shows them without the networks that made them.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Returns:
        ``{cell.key: images (len(indices), C, H, W)}`` on the CPU.
    """
    indices = [checks.nonnegative_int(i, "sample index") for i in indices]
    P = get_preset(preset)
    store = store if store is not None else ResultStore.for_preset(P)
    rows = {r["key"]: r for r in store.rows() if r.get("status") == "ok"}
    shipped = shipped_images(P)
    out = {}
    for cell in cell_list:
        row = rows.get(cell.key)
        if row is None:
            continue
        config = image_config(cell, indices, P, row)

        def build(cell=cell):
            net = runner.cell_network(cell, P, device=device)[0]
            images = reconstruct(net, _test_split(cell, P).subset(indices))
            return {"images": images.half() if shipped else images}

        try:
            out[cell.key] = cached("images", config, build, directory=shipped)["images"].float()
        except NeedsCLIError:
            continue
    return out


def deq_trace(cell: Cell, index: int = 0, preset: Preset | str | None = None,
              device=None) -> dict:
    """Figure 2 (DEQ): one test sample reconstructed by the cell's DEQ, iteration by
    iteration, with its own solver budget (``max_iter``, ``tol``: what the tables time).

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).

    Returns:
        ``{"times": cumulative seconds, "residuals": distance between consecutive iterates
        (relative), "psnr": dB after each iteration, "iterations": n}``.
    """
    if cell.network != "deq":
        raise ValueError(f"deq_trace needs a DEQ cell, got {cell.network!r}")
    P = get_preset(preset)
    net = runner.cell_network(cell, P, device=device)[0]

    batch = _test_split(cell, P).batch([checks.nonnegative_int(index, "index")])
    batch = to_device(batch, next(net.parameters()).device)
    net.eval()
    _, stats = net.iterate(batch, target=batch.target)
    return {"times": list(stats["times"]), "residuals": list(stats["residuals"]),
            "psnr": list(stats["psnr"]), "iterations": stats["iterations"]}


def usrnet_trace(cell: Cell, index: int = 0, preset: Preset | str | None = None,
                 device=None) -> dict:
    """Figure 2 (USRNet): one test sample after each unrolled iteration of the cell's USRNet.

    The iterates are read off the network's own forward pass (a hook on its prior: each
    iteration ends with a prior step), so they are exactly what :meth:`USRNet.forward`
    computes; the last one is its output.

    Taught in Chapter 7 (``book/07_super_resolution.ipynb``).

    Returns:
        ``{"times": cumulative seconds, "psnr": dB after each iteration, "iterates": the
        images (iters, 3, H, W), "output": the network's output (3, H, W)}``.
    """
    if cell.network != "usrnet":
        raise ValueError(f"usrnet_trace needs a USRNet cell, got {cell.network!r}")
    P = get_preset(preset)
    net = runner.cell_network(cell, P, device=device)[0]
    return usrnet_iterates(net, _test_split(cell, P).batch(
        [checks.nonnegative_int(index, "index")]))


def usrnet_iterates(net, batch) -> dict:
    """The iterates of a USRNet on one batched sample (see :func:`usrnet_trace`).

    Taught in Chapter 7 (``book/07_super_resolution.ipynb``).
    """
    batch = to_device(batch, next(net.parameters()).device)
    xs, times = [], []
    start = time.perf_counter()

    def hook(module, args, output):
        x_in = args[0][:, :3]
        xs.append((x_in + output if net.residual else output).detach().cpu())
        times.append(time.perf_counter() - start)

    handle = net.prior.register_forward_hook(hook)
    try:
        net.eval()
        with torch.no_grad():
            out = net(batch).cpu()
    finally:
        handle.remove()
    target = batch.target.cpu()
    return {"times": times, "psnr": [float(psnr(x, target).mean()) for x in xs],
            "iterates": torch.cat(xs), "output": out[0]}
