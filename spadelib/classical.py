"""Converged, tuned classical MRI baselines: TV and l1-wavelet solved until they stop moving,
their weight tau chosen on the validation split at each sampling rate.

A regularised reconstruction is only a fair baseline if its solver has converged: a solver
stopped early regularises too (its result depends on the budget, not only on tau), and a weight
tuned under one budget is not the weight of the problem (2) it claims to solve. So:

* :func:`solve` minimises ``1/2 ||M F S x - y||^2 + tau g(x)`` with sigpy's solvers on a batch
  of slices at once (the batch is one separable problem: a block-diagonal operator built from
  sigpy linops), until the relative change of ``x`` between iterations falls below ``tol``,
  and records the objective and the relative change at every iteration. TV uses sigpy's ADMM
  (each iteration solves the data term by conjugate gradients); the l1-wavelet uses FISTA (an
  accelerated proximal gradient: the wavelet is orthonormal and ``||A^H A|| <= 1`` with ESPIRiT
  maps, so a unit step is safe) with gradient-based adaptive restart (O'Donoghue and Candes,
  2015), written here on sigpy's operators: sigpy's plain FISTA oscillates at small weights, its
  iterates kept moving by more than ``tol`` for 4000 iterations where the restarted one stops
  within about 2000 (measured on 8 validation slices at 10 % sampling, tau 1e-5).
* :func:`sweep` solves the validation split over a grid of weights (each solve warm-started
  from the previous weight's solution) and picks the best, per sampling rate;
  :func:`baseline_report` adds the test split at the chosen weight.
* Those solves take tens of minutes on a 2-core CPU, longer than the book's build may spend, so
  the report ships with the repository (``shipped/baselines-<preset>.json``, written by
  ``spade baselines --preset quick``, its header recording the command, the versions and the
  machine). :func:`load_report` checks that its header matches the preset it is read under;
  a test re-solves a sample of its cells and compares within a stated tolerance.

Taught in Chapter 1 (``book/01_inverse_problems.ipynb``); Chapters 2, 5 and 6 show the rows.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoints, checks
from .baselines import REGULARISERS, _complex, default_workers
from .data import MRISample
from .metrics import psnr, ssim
from .physics.masks import cartesian_mask, mask_spec
from .physics.mri import from_torch_complex
from .presets import Preset, get_preset
from .workers import pool_size, process_pool

__all__ = ["SOLVERS", "TOL", "MAX_ITER", "GRID", "Solve", "solve", "sweep", "baseline_report",
           "report_path", "write_report", "load_report", "finished_rates", "ReportError",
           "header_fields", "reusable_sweeps", "CONTROL", "control_sample", "control_report",
           "shipped_control"]

#: the solver of each regulariser (sigpy names and options)
SOLVERS = {"tv": {"solver": "ADMM", "rho": 0.01, "max_cg_iter": 10},
           "l1-wavelet": {"solver": "FISTA", "step": 1.0, "restart": "gradient"}}
#: stop when ||x_k - x_{k-1}|| / ||x_k|| falls below this
TOL = 1e-5
#: iteration cap: a solve that reaches it is reported as not converged
MAX_ITER = {"tv": 2000, "l1-wavelet": 4000}
#: the weights tried on the validation split, per regulariser (images peak at about 1)
GRID = {"tv": (3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3),
        "l1-wavelet": (3e-6, 1e-5, 3e-5, 1e-4)}
#: slices solved together in one process (one separable problem)
CHUNK = 8
#: the preset fields a report depends on (those of the MRI data)
HEADER_FIELDS = ("seed", "mri_size", "mri_coils", "mri_subjects", "mri_slices_per_subject",
                 "mri_noise", "espirit_calib")
FORMAT = 1


class ReportError(RuntimeError):
    """A shipped baseline report that is missing, damaged or made for other settings."""


@dataclasses.dataclass
class Solve:
    """A converged solve of a batch: ``recon`` ``(B, 2, H, W)``; per chunk of slices solved
    together, the iterations used, whether ``tol`` was reached, and the relative change and
    objective at every iteration."""
    recon: torch.Tensor
    iterations: list[int]
    converged: list[bool]
    rel_change: list[list[float]]
    objective: list[list[float]]


def _operators(ys, maps, masks):
    """The forward operator ``A = P F S`` of a chunk as a sigpy linop, and the masked data."""
    import sigpy as sp  # optional heavy dependency (sigpy), loaded by the first solve

    b, c, h, w = ys.shape
    weights = np.broadcast_to(masks, ys.shape)                 # 0 / 1 per k-space line
    A = (sp.linop.Multiply(ys.shape, weights) * sp.linop.FFT(ys.shape, axes=(-2, -1), center=True)
         * sp.linop.Multiply((b, 1, h, w), maps))
    return A, ys * weights


def _start(x0, shape, dtype):
    return np.zeros(shape, dtype) if x0 is None else np.array(x0, dtype=dtype).reshape(shape)


def _admm_tv(ys, maps, masks, lamda, tol, max_iter, x0):
    import sigpy as sp  # optional heavy dependency (sigpy), loaded by the first solve

    A, y = _operators(ys, maps, masks)
    G = sp.linop.FiniteDifference(A.ishape, axes=(-2, -1))
    app = sp.app.LinearLeastSquares(
        A, y, x=_start(x0, A.ishape, ys.dtype), proxg=sp.prox.L1Reg(G.oshape, lamda),
        g=lambda z: lamda * float(np.abs(z).sum()), G=G, max_iter=max_iter, show_pbar=False,
        **SOLVERS["tv"])
    prev = app.x.copy()
    rel, obj = [], []
    while not app.alg.done():
        app.alg.update()
        x = app.x
        rel.append(_change(x, prev))
        obj.append(float(app.objective()))
        prev = x.copy()
        if rel[-1] < tol:
            break
    return app.x, rel, obj


def _fista_wavelet(ys, maps, masks, lamda, tol, max_iter, x0):
    """FISTA with gradient-based adaptive restart: the momentum is dropped whenever it points
    against the last proximal step, which stops the oscillation of plain FISTA."""
    import sigpy as sp  # optional heavy dependency (sigpy), loaded by the first solve

    A, y = _operators(ys, maps, masks)
    W = sp.linop.Wavelet(A.ishape, axes=(-2, -1))
    prox = sp.prox.UnitaryTransform(sp.prox.L1Reg(W.oshape, lamda), W)
    step = SOLVERS["l1-wavelet"]["step"]
    x = _start(x0, A.ishape, ys.dtype)
    z, t = x.copy(), 1.0
    rel, obj = [], []
    for _ in range(max_iter):
        new = prox(step, z - step * A.H(A(z) - y))
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        if np.vdot(z - new, new - x).real > 0:             # restart
            z, t_next = new.copy(), 1.0
        else:
            z = new + ((t - 1) / t_next) * (new - x)
        rel.append(_change(new, x))
        r = A(new) - y
        obj.append(float(0.5 * np.vdot(r, r).real + lamda * np.abs(W(new)).sum()))
        x, t = new, t_next
        if rel[-1] < tol:
            break
    return x, rel, obj


def _change(x, prev) -> float:
    return float(np.linalg.norm(x - prev) / max(np.linalg.norm(x), 1e-30))


def _solve_chunk(regulariser, ys, maps, masks, lamda, tol, max_iter, x0):
    """One chunk's solve (run in a worker process or in this one)."""
    run = _admm_tv if regulariser == "tv" else _fista_wavelet
    x, rel, obj = run(ys, maps, masks, lamda, tol, max_iter, x0)
    return np.asarray(x)[:, 0], len(rel), bool(rel) and rel[-1] < tol, rel, obj


def solve(batch, regulariser: str, lamda: float, *, tol: float = TOL,
          max_iter: int | None = None, workers: int | None = None,
          start: torch.Tensor | None = None) -> Solve:
    """Minimise ``1/2 ||P F S x - y||^2 + lamda g(x)`` for every slice of ``batch`` until the
    relative change of ``x`` falls below ``tol`` (or ``max_iter``, default
    :data:`MAX_ITER`). Slices are solved in chunks of :data:`CHUNK` (each chunk one separable
    problem), the chunks in ``workers`` forked processes; ``start`` (``(B, 2, H, W)``) warm-starts
    the solver.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    checks.choice(regulariser, REGULARISERS, "regulariser")
    lamda = checks.positive_real(lamda, "lamda")
    tol = checks.positive_real(tol, "tol")
    max_iter = checks.positive_int(MAX_ITER[regulariser] if max_iter is None else max_iter,
                                   "max_iter")
    workers = default_workers() if workers is None else checks.positive_int(workers, "workers")
    ys = _complex(batch.y)
    maps = _complex(batch.coil_maps if batch.batched else batch.coil_maps[None])
    masks = batch.measured.detach().cpu().double().numpy()[..., 0]     # (B, 1, 1, W)
    if ys.ndim == 3:
        ys = ys[None]
    x0 = None if start is None else _complex(start.permute(0, 2, 3, 1))
    n = len(ys)
    parts = [slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]
    jobs = [(regulariser, ys[p], maps[p], masks[p], float(lamda), tol, max_iter,
             None if x0 is None else x0[p]) for p in parts]
    workers = pool_size(workers, len(jobs))
    if workers <= 1:
        out = [_solve_chunk(*job) for job in jobs]
    else:
        with process_pool(workers) as ex:
            out = [f.result() for f in [ex.submit(_solve_chunk, *job) for job in jobs]]
    x = np.concatenate([o[0] for o in out])
    recon = from_torch_complex(torch.from_numpy(x)).float()
    return Solve(recon, [o[1] for o in out], [o[2] for o in out], [o[3] for o in out],
                 [o[4] for o in out])


def _scores(recon, target) -> dict:
    p = np.atleast_1d(psnr(recon, target, complex_input=True))
    s = np.atleast_1d(ssim(recon, target, complex_input=True))
    return {"psnr": [float(v) for v in p], "ssim": [float(v) for v in s]}


def _record(result: Solve) -> dict:
    return {"iterations": result.iterations, "converged": result.converged}


def sweep(val, regulariser: str, grid=None, *, tol: float = TOL, workers: int | None = None,
          progress=None) -> dict:
    """Solve the validation set ``val`` at every weight of ``grid`` (default :data:`GRID`),
    from the largest weight down, each solve warm-started from the previous one's result;
    return the weights, mean validation PSNR, iterations and convergence per weight, and the
    best weight (``"tau"``).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    taus = sorted(GRID[regulariser] if grid is None else grid, reverse=True)
    batch, start, rows = val.batch(), None, []
    for tau in taus:
        result = solve(batch, regulariser, tau, tol=tol, workers=workers, start=start)
        start = result.recon
        rows.append({"tau": tau, "psnr": float(np.mean(_scores(result.recon, batch.target)["psnr"])),
                     **_record(result)})
        if progress is not None:
            progress(f"{regulariser} tau {tau:g}: {rows[-1]['psnr']:.2f} dB, "
                     f"{max(result.iterations)} iterations")
    rows.sort(key=lambda r: r["tau"])
    best = max(rows, key=lambda r: r["psnr"])
    return {"grid": rows, "tau": best["tau"],
            "at_edge": best["tau"] in (rows[0]["tau"], rows[-1]["tau"])}


def baseline_report(splits_at: dict, regularisers=REGULARISERS, *, workers=None,
                    progress=None, sweeps: dict | None = None) -> dict:
    """For each sampling rate of ``splits_at`` (``{rate: (val, test)}``) and each regulariser:
    the validation sweep (:func:`sweep`), then the test split at the chosen weight, with
    per-slice PSNR / SSIM (in the test split's order, for paired comparisons), iterations,
    convergence, the objective and relative-change traces of the first chunk, and the seconds
    the regulariser took at that rate.

    ``sweeps`` (``{rate: {regulariser: sweep}}``, a sweep as :func:`sweep` returns it, plus
    ``"sweep_from"``: where it was read) gives sweeps already made on the *same* validation
    split: those are not solved again, only the test split is (``val`` may then be ``None``).
    The ``medium`` preset reads the ``quick`` report's sweeps this way (:func:`reusable_sweeps`).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    rates = {}
    for rate, (val, test) in splits_at.items():
        per = {}
        for reg in regularisers:
            start = time.perf_counter()
            sw = (sweeps or {}).get(f"{rate:g}", {}).get(reg)
            if sw is None:
                sw = sweep(val, reg, workers=workers, progress=progress)
            b = test.batch()
            result = solve(b, reg, sw["tau"], workers=workers)
            per[reg] = {**sw, "test": {**_scores(result.recon, b.target), **_record(result)},
                        "trace": {"rel_change": result.rel_change[0],
                                  "objective": result.objective[0]},
                        "seconds": round(time.perf_counter() - start, 1)}
            if progress is not None:
                progress(f"{reg} at {rate:g}: tau {sw['tau']:g}, test "
                         f"{np.mean(per[reg]['test']['psnr']):.2f} dB")
        rates[f"{rate:g}"] = per
    return rates


#: Chapter 1's control: TV on the test slices with the 12.5 % rate's acceleration and the 10 %
#: rate's (smaller) ACS fraction, at the weight tuned for 12.5 %; slice i's mask offset is drawn
#: from seed i. ``spade baselines`` solves it into the report beside the rates.
CONTROL = {"regulariser": "tv", "rate": 0.125, "acs_of": 0.1}


def control_sample(full: dict):
    """The fully sampled slices ``full`` (:func:`spadelib.data.build_synthetic`) undersampled
    as :data:`CONTROL` says, as one :class:`~spadelib.data.MRISample` batch.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    width, n = full["kspace_full"].shape[-2], len(full["target"])
    acs = mask_spec(CONTROL["acs_of"]).center_fraction
    masks = torch.stack([cartesian_mask(width, CONTROL["rate"], seed=i, center_fraction=acs)
                         for i in range(n)])
    return MRISample(kspace=full["kspace_full"] * masks, mask=masks,
                     coil_maps=full["coil_maps"], target=full["target"])


def control_report(full: dict, tau: float, *, workers: int | None = None) -> dict:
    """:data:`CONTROL` solved on :func:`control_sample` of ``full`` at the weight ``tau``: its
    settings, per-slice PSNR / SSIM, iterations, convergence and seconds.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    start = time.perf_counter()
    b = control_sample(full)
    result = solve(b, CONTROL["regulariser"], tau, workers=workers)
    return {**CONTROL, "tau": float(tau),
            "test": {**_scores(result.recon, b.target), **_record(result)},
            "seconds": round(time.perf_counter() - start, 1)}


def shipped_control(report: dict) -> dict | None:
    """The control a report holds (:func:`control_report`), where it was solved as
    :data:`CONTROL` says, with the report's solver, and at the weight the report tuned for its
    rate; else ``None`` (solve it again).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    c = report.get("control")
    if not c or any(c.get(k) != v for k, v in CONTROL.items()):
        return None
    reg = CONTROL["regulariser"]
    tuned = report["rates"].get(f"{CONTROL['rate']:g}", {}).get(reg)
    if tuned is None or tuned["tau"] != c["tau"] or reg not in _solved_today(report["header"]):
        return None
    return c


def reusable_sweeps(base: Preset | str | None, data_version: int) -> dict:
    """The validation sweeps of ``base``'s shipped report, for a preset that tunes on the same
    validation split: ``{rate: {regulariser: sweep}}``, each marked with ``"sweep_from"``
    (where it was read), or ``{}`` where there is no such report. A rate that report lacks, or
    a regulariser solved with other solver settings than today's, is not in it (swept anew).

    A preset that ``trains_as`` another (``medium`` trains as ``quick``) has that one's
    training and validation split (:func:`spadelib.tasks.training_preset`, which ``spade
    baselines`` passes here, refuses it otherwise); only its test split is larger. The weight
    tuned on that validation split is the weight it would tune itself, and the sweep's hours
    need not be spent twice.

    Taught in Chapter 6 (``book/06_cs_mri.ipynb``).
    """
    B = get_preset(base)
    done, _ = finished_rates(B, data_version)
    source = f"shipped/{report_path(B).name}"
    return {rate: {reg: {k: v for k, v in cell.items() if k in ("grid", "tau", "at_edge")}
                   | {"sweep_from": source} for reg, cell in cells.items()}
            for rate, cells in done.items()}


def header_fields(preset: Preset | str | None = None) -> dict:
    """The preset fields a report depends on, as JSON values."""
    P = get_preset(preset)
    return {f: (list(v) if isinstance(v, tuple) else v)
            for f in HEADER_FIELDS for v in [getattr(P, f)]}


def report_path(preset: Preset | str | None = None, directory=None) -> Path:
    """``shipped/baselines-<preset>.json`` of the repository (or of ``directory``)."""
    folder = (Path(directory) if directory is not None
              else checkpoints.SHIPPED)
    return folder / f"baselines-{get_preset(preset).name}.json"


def write_report(rates: dict, preset, command: str, data_version: int, seconds: float,
                 path=None, control: dict | None = None) -> Path:
    """Write ``rates`` (:func:`baseline_report`) and, where given, Chapter 1's ``control``
    (:func:`control_report`) with a header: the command that made it, the preset fields, the
    data version, the solver settings, versions, machine, date and time
    (:func:`spadelib.checkpoints.provenance`)."""
    import sigpy  # optional heavy dependency (sigpy): its version goes into the header

    P = get_preset(preset)
    made = checkpoints.provenance(command, seconds, sigpy=sigpy.__version__)
    header = {"format": FORMAT, "command": command, "preset": P.name,
              "fields": header_fields(P), "data_version": data_version,
              "solvers": SOLVERS, "tol": TOL, "max_iter": MAX_ITER, "grid": _grid(),
              **{k: made[k] for k in ("versions", "machine", "date", "seconds")}}
    path = Path(path) if path is not None else report_path(P)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    body = {"header": header, "rates": rates} | ({"control": control} if control else {})
    tmp.write_text(json.dumps(body, indent=1) + "\n")
    os.replace(tmp, path)                              # never a half-written report
    return path


def _grid() -> dict:
    return {reg: list(taus) for reg, taus in GRID.items()}


def _solved_today(header: dict) -> set:
    """The regularisers a report's header says were solved with today's solver, tolerance, cap
    and grid."""
    if header.get("tol") != TOL:
        return set()
    today = json.loads(json.dumps({"solvers": SOLVERS, "max_iter": MAX_ITER, "grid": _grid()}))
    return {reg for reg in REGULARISERS
            if all(header.get(k, {}).get(reg) == today[k].get(reg) for k in today)}


def finished_rates(preset, data_version: int, path=None) -> tuple[dict, float]:
    """The cells (``{rate: {regulariser: cell}}``) an earlier, perhaps interrupted,
    ``spade baselines`` wrote to ``path`` for today's data whose regulariser was solved with
    today's solver, tolerance, cap and grid, and the seconds the runs spent; ``({}, 0.0)`` where
    there is no such report. A cell made otherwise is left out (solved again, not mixed in), so
    changing one regulariser's solver re-solves that regulariser only."""
    try:
        report = load_report(preset, data_version, path=path)
    except ReportError:
        return {}, 0.0
    h = report["header"]
    same = _solved_today(h)
    rates = {rate: {reg: c for reg, c in cells.items() if reg in same}
             for rate, cells in report["rates"].items()}
    rates = {rate: cells for rate, cells in rates.items() if cells}
    return rates, (float(h.get("seconds", 0.0)) if rates else 0.0)


def load_report(preset: Preset | str | None = None, data_version: int | None = None,
                path=None) -> dict:
    """The shipped report of ``preset``, its header checked against the preset's data fields
    (and ``data_version`` where given).

    Raises:
        ReportError: no report for this preset, a damaged one, or one made for other settings
            (the message gives the command that re-makes it).
    """
    P = get_preset(preset)
    path = Path(path) if path is not None else report_path(P)
    again = f"spade baselines --preset {P.name}"
    report = checks.json_report(path, "converged-baseline report", P.name, again, ReportError)
    header = report["header"]
    wanted = header_fields(P)
    if header.get("fields") != wanted or header.get("format") != FORMAT:
        diff = sorted(k for k in wanted if header.get("fields", {}).get(k) != wanted[k])
        raise ReportError(f"{path} was made for other settings (differs in {diff or 'format'}); "
                          f"re-make it with `{again}`")
    if data_version is not None and header.get("data_version") != data_version:
        raise ReportError(f"{path} was made from data version {header.get('data_version')}, "
                          f"this spadelib builds version {data_version}; re-make it with "
                          f"`{again}`")
    return report
