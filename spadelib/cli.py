"""The ``spade`` command: the experiment grid and the heavy steps from a terminal.

::

    spade run table1 [--preset paper] [--executor local|ray] [--redo]   # resumable; Ctrl-C saves
    spade status [table1]                                      # done / failed / pending
    spade table 1 [--format text|md|csv|latex]                 # the paper's layout, ours above
    spade pretrain deq [--devices 4] [--setting 0.125] [--ship]  # one network, cached
    spade data build                                           # the preset's data sets
    spade baselines                                            # converged, tuned TV / wavelet
    spade finetune-budget [--networks varnet]                  # gap against fine-tuning steps
    spade inputs                                               # real data / weights in use
    spade bench pruning                                        # latency against the ratio
    spade bench steps --preset paper                           # seconds per step, paper size
    spade bench deq-speed                                      # the DEQ's time to quality
    spade bench hardware --preset paper                        # speed-up against MAC ratio

Every command takes ``--preset`` (default ``$SPADE_PRESET``, else ``quick``) and ``--help``.
A bad grid, network, preset or executor is a one-line error that lists the choices. Ctrl-C,
or SIGTERM from a scheduler that pre-empts the job, stops after saving what is done; the same
command again resumes (every finished cell is in the store, every step is cached).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from . import bench, classical, inputs, zoo
from .data import build_synthetic
from .distributed import pretrain_data_parallel
from .evaluation import evaluate
from .experiments import budget
from .experiments.grid import GRIDS, REGIMES, cells
from .experiments.runner import EXECUTORS, pending, retime, run_grid, stale
from .experiments.store import ResultStore, store_path
from .experiments.printed import FORMATS, fill_note, paper_table
from .experiments.tables import table_source
from .baselines import REGULARISERS
from .models import NAMES
from .presets import CLI_ENV, PRESETS, get_preset
from .tasks import TASKS, task_of, training_preset

__all__ = ["main"]


def _preset(args):
    return get_preset(args.preset)


def _cmd_run(args) -> int:
    P = _preset(args)
    store = ResultStore.for_preset(P)
    chosen = [c for c in cells(args.grid, P) if (not args.networks or c.network in args.networks)
              and (not args.settings or c.setting in args.settings)
              and (args.seeds is None or c.seed in args.seeds)
              and (args.ratios is None or c.ratio in args.ratios)
              and (not args.regimes or c.regime in args.regimes)]
    todo = chosen if args.redo else pending(chosen, P, store)
    only = ", ".join([*(args.networks or ()), *(f"{s:g}" for s in args.settings or ()),
                      *(f"seed {k}" for k in args.seeds or ()),
                      *(f"r = {r:g}" for r in args.ratios or ()), *(args.regimes or ())])
    only = f" ({only} only)" if only else ""
    print(f"grid {args.grid}{only} ({P.name}): {len(todo)} cell(s) to run"
          + (" (--redo: stored ones too)" if args.redo else "") + f"; results in {store.path}")
    if not inputs.current().synthetic:
        print(inputs.describe())

    def say(row: dict) -> None:
        if row["status"] == "ok":
            print(f"  {row['key']}: PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.4f}, "
                  f"{row['time_ms']:.1f} ms, {row['params']:,} params ({row['wall_s']:.0f} s)")
        else:
            print(f"  {row['key']}: FAILED {row['error']}")

    run_grid(todo, P, executor=args.executor, store=store, device=args.device,
             progress=sys.stderr.isatty(), on_row=say, redo=args.redo)
    failed = [r for r in store.rows() if r.get("status") == "failed"]
    return 1 if failed else 0


def _cmd_retime(args) -> int:
    P = _preset(args)
    n = retime(P, networks=args.networks, device=args.device, progress=sys.stderr.isatty(),
               untimed_only=args.new)
    print(f"retimed {n} stored cell(s) of the {P.name} store, one after another")
    return 0


def _cmd_status(args) -> int:
    P = _preset(args)
    rows = {r["key"]: r for r in ResultStore.for_preset(P).rows()}
    names = [args.grid] if args.grid else [g for g in GRIDS if g != "all"]
    for name in names:
        cs = cells(name, P)
        done = [rows[c.key] for c in cs if rows.get(c.key, {}).get("status") == "ok"]
        is_stale = [stale(r, P) for r in done]          # made on a network since re-made
        ok = [r for r, s in zip(done, is_stale) if not s]
        old = sum(is_stale)
        bad = [c for c in cs if rows.get(c.key, {}).get("status") == "failed"]
        left = len(cs) - len(ok) - len(bad)
        spent = sum(r.get("wall_s", 0) for r in ok)
        eta = f", about {spent / len(ok) * left / 60:.1f} min left" if ok and left else ""
        again = f" ({old} on a network made again since)" if old else ""
        print(f"{name:8s} {len(cs):4d} cells: {len(ok)} done, {len(bad)} failed, {left} pending"
              f"{again} ({spent / 60:.1f} min so far{eta})")
        for c in bad:
            print(f"    failed {c.key}: {rows[c.key]['error']}")
    return 0


def _cmd_table(args) -> int:
    P = _preset(args)
    if args.preset is None:              # what the chapters show (tables.table_source)
        P = table_source(P)[0]
    print(paper_table(args.number, P, fmt=args.format))
    note = fill_note(args.number, P) if args.format in ("csv", "latex") else ""
    if note:                            # text and md print it under the table
        print(note, file=sys.stderr)
    return 0


def _cmd_pretrain(args) -> int:
    P = _preset(args)
    task = task_of(args.network)         # the network name from the command line, once
    if args.setting is not None:         # a sampling rate or SR scale other than the preset's
        P = task.with_setting(P, args.setting)
    start = time.perf_counter()
    if args.devices > 1:
        net = pretrain_data_parallel(args.network, P, devices=args.devices,
                                     accelerator=args.accelerator)
    else:
        net = zoo.pretrained(args.network, P, device=args.device, retrain=args.retrain)
    print(f"{args.network} ({P.name}): ready in {time.perf_counter() - start:.0f} s; on the test "
          f"split: {evaluate(net, task.test_data(P))}")
    if args.ship:
        print(f"shipped with the repository as {zoo.ship(args.network, P)}")
    return 0


def _cmd_data(args) -> int:
    P = _preset(args)
    for task in TASKS.values():
        start = time.perf_counter()
        sets = task.build_all(P, progress=True)
        print(f"{task.title} ({P.name}): {', '.join(f'{k} {len(v)}' for k, v in sets.items())}"
              f" samples ({time.perf_counter() - start:.0f} s)")
    return 0


def _cmd_baselines(args) -> int:
    P = _preset(args)
    task = TASKS["mri"]
    rates = args.rates or list(task.settings)
    path = Path(args.out) if args.out else classical.report_path(P)
    done, spent = classical.finished_rates(P, task.data_version(), path)
    try:                                       # Chapter 1's control, kept while it still holds
        control = classical.shipped_control(classical.load_report(P, task.data_version(), path))
    except classical.ReportError:
        control = None
    # a preset that trains as another tunes on that one's validation split: its weights hold
    sweeps = (classical.reusable_sweeps(training_preset(P), task.data_version())
              if P.trains_as else {})
    wanted = {f"{task.with_setting(P, r).mri_rate:g}" for r in task.settings}

    def command_of(done):                      # the command that re-makes what the report holds
        whole = {r for r, cells in done.items() if set(cells) == set(REGULARISERS)}
        return "spade baselines --preset " + P.name + ("" if whole >= wanted else " --rates " + (
            " ".join(sorted(whole, key=float, reverse=True))))

    for rate in rates:
        Q = task.with_setting(P, rate)
        key = f"{Q.mri_rate:g}"
        missing = [reg for reg in REGULARISERS if reg not in done.get(key, {})]
        if not missing:
            print(f"  rate {key}: in {path} already (delete it to solve again)")
            continue
        start = time.perf_counter()
        reused = {reg: sw for reg, sw in sweeps.get(key, {}).items() if reg in missing}
        if reused:
            print(f"  rate {key}: the weights of {', '.join(reused)} tuned on the same validation "
                  f"split in {next(iter(reused.values()))['sweep_from']}; solving the test split")
        val = (None if set(missing) <= set(reused)
               else task.training_data(Q, progress=True)[1])
        new = classical.baseline_report(
            {Q.mri_rate: (val, task.test_data(Q))}, regularisers=missing, workers=args.workers,
            progress=lambda line: print(f"  {line}", flush=True), sweeps={key: reused})[key]
        merged = {**done.get(key, {}), **new}
        done[key] = {reg: merged[reg] for reg in REGULARISERS}       # in a fixed order
        spent += time.perf_counter() - start
        # written after every rate: an interrupted run keeps the cells it finished (and those of
        # an earlier run it has not re-solved yet)
        classical.write_report(done, P, command_of(done), task.data_version(), spent, path=path,
                               control=control)
        print(f"  rate {key} ({', '.join(missing)}) written to {path} ({spent:.0f} s so far)",
              flush=True)
    reg, at = classical.CONTROL["regulariser"], f"{classical.CONTROL['rate']:g}"
    tuned = done.get(at, {}).get(reg)
    if not P.trains_as and tuned is not None and (control is None or control["tau"] != tuned["tau"]):
        start = time.perf_counter()
        print(f"  Chapter 1's control ({reg} with the {at} rate's acceleration and the "
              f"{classical.CONTROL['acs_of']:g} rate's ACS fraction): solving the test split",
              flush=True)
        full = build_synthetic("test", P, progress=True)
        control = classical.control_report(full, tuned["tau"], workers=args.workers)
        spent += time.perf_counter() - start
        classical.write_report(done, P, command_of(done), task.data_version(), spent, path=path,
                               control=control)
        print(f"  control: {np.mean(control['test']['psnr']):.2f} dB, written to {path} "
              f"({spent:.0f} s so far)", flush=True)
    print(f"converged baselines ({P.name}): {path} holds rates {', '.join(sorted(done))}")
    return 0


def _cmd_finetune_budget(args) -> int:
    own = _preset(args)
    P = budget.width_preset(own, args.width)
    if P.varnet_chans != own.varnet_chans:
        if args.networks is None:
            args.networks = list(budget.WIDTH_NETWORKS)
        others = [n for n in args.networks if n not in budget.WIDTH_NETWORKS]
        if others:
            raise ValueError(f"--width sets the U-Net width of "
                             f"{' and '.join(budget.WIDTH_NETWORKS)}; {', '.join(others)} "
                             "has no such width (leave it out of --networks)")
    elif args.networks is None:
        args.networks = list(budget.BUDGET_NETWORKS)
    path = Path(args.out) if args.out else budget.budget_path(P, steps=args.steps)
    old = budget.reusable_rows(P, path, steps=args.steps, lr=args.lr, ratios=args.ratios)
    report = budget.budget_report(P, args.networks, args.ratios, steps=args.steps, lr=args.lr,
                                  scratch=args.scratch, reuse=None if args.redo else old,
                                  log=lambda line: print(f"  {line}", flush=True))
    rows = {**old, **report["rows"]}     # keep the rows of the networks this run did not redo
    report["rows"] = {n: rows[n] for n in budget.BUDGET_NETWORKS if n in rows}
    seconds = sum(r["seconds"] + r.get("scratch", {}).get("seconds", 0.0)
                  for row in report["rows"].values() for r in row["ratios"].values())
    command = (f"spade finetune-budget --preset {P.name} --steps {args.steps} --lr {args.lr:g}"
               + (f" --width {P.varnet_chans}" if args.width is not None else "")
               + (" --scratch" if args.scratch else ""))
    budget.write_budget_report(report, P, command, seconds, path=path)
    print(f"fine-tuning budget ({P.name}): {path} holds {', '.join(report['rows'])}")
    return 0


def _cmd_inputs(args) -> int:
    print(inputs.describe())
    print(f"results of preset {_preset(args).name} go to {store_path(_preset(args))}")
    return 0


def _cmd_bench(args) -> int:
    return bench.main([args.what, "--preset", _preset(args).name, *args.rest])


def _devices(text: str) -> int:
    """``--devices``: a whole number of devices, at least 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of devices: give a whole "
                                         "number, 1 or more")
    return n


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spade", description="SPADE experiments from a terminal.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, fn) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="preset (default: $SPADE_PRESET, else quick)")
        c.set_defaults(fn=fn)
        return c

    c = command("run", "run the pending cells of a grid and store their rows", _cmd_run)
    c.add_argument("grid", choices=list(GRIDS))
    c.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: one cell after another here; ray: Ray tasks, one GPU each")
    c.add_argument("--device", default=None, help="local executor: cpu, cuda, cuda:1, ...")
    c.add_argument("--redo", action="store_true",
                   help="run the stored cells too, replacing their rows (after a code change "
                        "that the cell keys do not capture; cached networks are reused)")
    c.add_argument("--networks", nargs="+", choices=NAMES, default=None,
                   help="only these networks' cells (two processes can share a grid's "
                        "store: each takes other networks)")
    c.add_argument("--settings", nargs="+", type=float, default=None,
                   help="only these sampling rates / SR scales (e.g. 0.167 4)")
    c.add_argument("--seeds", nargs="+", type=int, default=None,
                   help="only the cells of these seeds (e.g. the grid 'seeds' in two processes: "
                        "--seeds 1 and --seeds 2)")
    c.add_argument("--ratios", nargs="+", type=float, default=None,
                   help="only the cells of these channel ratios (0 for the unpruned network)")
    c.add_argument("--regimes", nargs="+", choices=REGIMES, default=None,
                   help="only the cells of these regimes (e.g. scratch-self-supervised: one of "
                        "Table 3's baselines at a time)")
    c = command("retime", "time every stored cell again, one after another (after a grid run "
                "whose processes shared the CPU); nothing is trained", _cmd_retime)
    c.add_argument("--networks", nargs="+", choices=NAMES, default=None)
    c.add_argument("--device", default=None)
    c.add_argument("--new", action="store_true",
                   help="only the rows no retime has timed yet (those a grid run made since)")
    c = command("status", "done / failed / pending cells of one grid or all", _cmd_status)
    c.add_argument("grid", nargs="?", choices=list(GRIDS))
    c = command("table", "one of the paper's tables in its layout: for every pruning ratio our "
                "row above the paper's (its numbers as printed), the commands that fill the "
                "missing cells below", _cmd_table)
    c.add_argument("number", type=int, choices=(1, 2, 3, 4, 5, 6))
    c.add_argument("--format", choices=FORMATS, default="text",
                   help="text: aligned, the paper's two header rows (default); md: Markdown; "
                        "csv / latex: the table alone (the fill commands go to stderr)")
    c = command("pretrain", "pre-train one network (cached) and evaluate it", _cmd_pretrain)
    c.add_argument("network", choices=NAMES)
    c.add_argument("--device", default=None)
    c.add_argument("--retrain", action="store_true", help="ignore a cached checkpoint")
    c.add_argument("--ship", action="store_true",
                   help="also write it to shipped/models/ (committed with the repository; the "
                        "header records this command, the versions and the machine)")
    c.add_argument("--setting", type=float, default=None,
                   help="the sampling rate (MRI: 0.167, 0.125, 0.1) or SR scale (2, 3, 4) to "
                        "pre-train at (default: the preset's)")
    c.add_argument("--devices", type=_devices, default=1,
                   help="train data-parallel on N devices (PyTorch DDP via Lightning Fabric)")
    c.add_argument("--accelerator", default="auto", choices=("auto", "cuda", "cpu"),
                   help="with --devices: the kind of device")
    c = command("data", "build the preset's data sets (cached)", _cmd_data)
    c.add_argument("action", choices=("build",))
    c = command("baselines", "TV and l1-wavelet solved to convergence, their weights tuned on "
                "the validation split at each sampling rate; writes shipped/baselines-PRESET.json",
                _cmd_baselines)
    c.add_argument("--rates", type=float, nargs="+", default=None,
                   help="sampling rates (default: 0.167 0.125 0.1)")
    c.add_argument("--workers", type=int, default=None, help="solver processes (default: cores)")
    c.add_argument("--out", default=None, help="another path for the report")
    c = command("finetune-budget", "supervised fine-tuning of the pruned MRI networks for a "
                "larger budget, the validation PSNR after every epoch; writes "
                "shipped/finetune-budget-PRESET.json", _cmd_finetune_budget)
    c.add_argument("--networks", nargs="+", choices=budget.BUDGET_NETWORKS, default=None,
                   help="default: all three, or with --width the two VarNets")
    c.add_argument("--ratios", type=float, nargs="+", default=list(budget.BUDGET_RATIOS))
    c.add_argument("--steps", type=int, default=budget.DEFAULT_STEPS,
                   help=f"optimiser steps (default {budget.DEFAULT_STEPS})")
    c.add_argument("--width", type=int, default=None,
                   help="the VarNets' U-Net width (channels of its first layer; the paper: "
                        f"{budget.PAPER_WIDTH}): pre-trains them at that width with the preset's "
                        "recipe and writes shipped/finetune-budget-PRESET-widthW.json")
    c.add_argument("--lr", type=float, default=1e-3, help="Adam's rate (default 1e-3)")
    c.add_argument("--scratch", action="store_true",
                   help="also train each pruned architecture from scratch for the unpruned "
                        "network's whole pre-training budget (Table 3's baseline)")
    c.add_argument("--redo", action="store_true",
                   help="re-run the listed networks' fine-tuning instead of keeping the rows of "
                        "the existing report made from the same networks")
    c.add_argument("--out", default=None, help="another path for the report")
    command("inputs", "which real inputs (fastMRI, official USRNet, kernels, CBSD68) are in use,"
            " from the SPADE_* environment variables", _cmd_inputs)
    c = command("bench", "latency benchmarks", _cmd_bench)
    c.add_argument("what", choices=("pruning", "steps", "deq-speed", "hardware"),
                   help="pruning: latency against the ratio; steps: seconds per training step; "
                        "deq-speed: the DEQ's time to quality; hardware: speed-up against the "
                        "MAC ratio under round_to / channels_last / inference_mode / compile")
    c.add_argument("rest", nargs=argparse.REMAINDER, help="options of python -m spadelib.bench")
    return p


def _terminate(signum, frame):  # SIGTERM (a pre-empted job) behaves like Ctrl-C
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``spade`` command (the module docstring lists them) and return its exit status.

    Sets ``$SPADE_CLI`` so that presets allow the long runs they refuse in a notebook
    (:class:`~spadelib.presets.NeedsCLIError`). A bad argument or a missing file is a one-line
    error, not a traceback; Ctrl-C or SIGTERM ends with 130 after saving what finished, so the
    same command resumes.

    Args:
        argv: the arguments after ``spade``; default ``sys.argv[1:]``.

    Returns:
        0 on success, 2 on a bad argument or missing file, 130 when interrupted, else the
        command's own status.
    """
    args = parser().parse_args(argv)
    os.environ[CLI_ENV] = "1"           # long runs are allowed here (Preset.notebook_training)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.fn(args)
    except BrokenPipeError:             # spade table 1 | head
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: what finished is saved; run the same command again to resume",
              file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as err:
        print(f"spade: error: {err}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
