"""How wide the layer groups are that pruning cuts, and a width study: the networks of the
fine-tuning-budget report (:mod:`spadelib.experiments.budget`) at another U-Net width.

:func:`group_widths` and :func:`width_rows` set the channels of every DepGraph layer group, and
what the narrowest keeps at each ratio, beside the report's verdicts. A width study re-makes the
report with the VarNets pre-trained at another U-Net width (``spade finetune-budget --width
W``, :func:`~spadelib.experiments.budget.width_preset`): :func:`width_study_reports` reads
every width's report, :func:`factor_rows` pairs each gap with the narrowest width's on the
same test images, and :func:`factor_summary` puts it in words decided by the numbers; the same
two compare reports of one width at two fine-tuning budgets (``factor="steps"``).

Taught in Chapter 5 (``book/05_finetuning.ipynb``).
"""
from __future__ import annotations

import json

import numpy as np

from ..models import build
from ..presets import Preset, get_preset
from ..pruning import groups, kept_channels
from .budget import (DEFAULT_STEPS, WIDTH_NETWORKS, budget_path, budget_rows,
                     load_budget_report, width_preset)
from .intervals import HOLDS, paired_interval, side_of_zero

__all__ = ["group_widths", "width_rows", "width_summary", "width_study_reports", "FACTORS",
           "factor_rows", "factor_summary"]


def group_widths(network: str, preset: Preset | str | None = None) -> list[int]:
    """The channels of every layer group of ``network``'s first CNN prior at ``preset``'s size
    (DepGraph's groups, :func:`spadelib.pruning.groups`, on a freshly built network: widths do
    not depend on the weights), smallest first. Every cascade of a VarNet has the same U-Net.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).
    """
    spec = build(network, get_preset(preset)).priors()[0]
    return sorted(g.channels for g in groups(spec.module, spec.example_inputs,
                                             spec.ignored_layers))


def width_rows(rows: list[dict], preset: Preset | str | None = None,
               compare: str | None = "paper") -> list[dict]:
    """How wide the layer groups are that the ratios of :func:`budget_rows` cut: per network of
    ``rows``, at ``preset`` (the report's) and at ``compare``, the group widths
    (:func:`group_widths`), the narrowest group, the channels it keeps at each ratio
    (:func:`spadelib.pruning.kept_channels`) and the share of them removed, with the verdicts
    ``rows`` found at each ratio (``{}`` at ``compare``, where nothing was run).

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).
    """
    ours = get_preset(preset).name
    presets = [ours] + ([compare] if compare and compare != ours else [])
    ratios = sorted({r["ratio"] for r in rows})
    out = []
    for name in dict.fromkeys(r["network"] for r in rows):
        verdicts = {r["ratio"]: r["verdict"] for r in rows if r["network"] == name}
        for at in presets:
            widths = group_widths(name, at)
            narrow = widths[0]
            kept = {q: kept_channels(narrow, q) for q in ratios}
            out.append({"network": name, "preset": at, "widths": widths, "narrowest": narrow,
                        "kept": kept, "removed": {q: 1 - k / narrow for q, k in kept.items()},
                        "verdicts": verdicts if at == ours else {}})
    return out


def width_summary(rows: list[dict], titles: dict | None = None) -> str:
    """:func:`width_rows` in words: each network's narrowest group at the report's preset and
    what it keeps at the largest ratio, against the paper's size, and whether the networks that
    stay within the paper's margins are the ones with the wider groups (decided from the
    verdicts, not assumed)."""
    titles = dict(titles or {})
    ours = [r for r in rows if r["verdicts"]]
    if not ours:
        return "The report holds no verdicts to set beside the widths."
    top = max(ours[0]["kept"])
    paper = {r["network"]: r for r in rows if not r["verdicts"]}
    parts = []
    for r in ours:
        text = (f"{titles.get(r['network'], r['network'])}'s narrowest group has "
                f"{r['narrowest']} channels and keeps {r['kept'][top]} at r = {top:g} "
                f"({100 * r['removed'][top]:.0f} % removed)")
        if r["network"] in paper:
            q = paper[r["network"]]
            text += (f"; at the {q['preset']} preset's size, {q['narrowest']} channels keep "
                     f"{q['kept'][top]} ({100 * q['removed'][top]:.0f} % removed)")
        parts.append(text)
    holds = {r["network"]: sum(v == HOLDS for v in r["verdicts"].values()) for r in ours}
    best = max(holds.values())
    ahead = [r for r in ours if holds[r["network"]] == best]
    behind = [r for r in ours if holds[r["network"]] < best]
    if not behind:
        order = ("every network keeps within the paper's margin as often as the others "
                 f"({best} of {len(ours[0]['verdicts'])} ratios), so the widths do not separate "
                 "them here")
    else:
        def names(rs):
            n = [titles.get(r["network"], r["network"]) for r in rs]
            return n[0] if len(n) == 1 else ", ".join(n[:-1]) + " and " + n[-1]
        wider = min(r["narrowest"] for r in ahead) > max(r["narrowest"] for r in behind)
        verb, its = ("keeps", "its") if len(ahead) == 1 else ("keep", "their")
        order = (f"{names(ahead)} {verb} within the paper's margin at more ratios ({best} of "
                 f"{len(ours[0]['verdicts'])}) than {names(behind)}, and "
                 + (f"{its} narrowest groups are wider: at this size the verdicts follow the "
                    "widths" if wider else "the widths do not order the verdicts that way"))
    return "; ".join(parts) + ". " + order[0].upper() + order[1:] + "."


def width_study_reports(preset: Preset | str | None = None, directory=None, *,
                        steps: int = DEFAULT_STEPS) -> dict:
    """``{width: report}``: the fine-tuning-budget report of ``preset`` (its own width) at a
    budget of ``steps`` and every report of a width study beside it at that budget
    (``finetune-budget-<preset>-width<W>[-steps<N>].json`` in ``directory``, default
    ``shipped/``, :func:`~spadelib.experiments.budget.budget_path`), each checked by
    :func:`load_budget_report` against the networks of that width and the budget, and cut to
    the networks a width changes (:data:`WIDTH_NETWORKS`). ``{}`` when the preset has no report
    of its own at that budget.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Raises:
        BudgetReportError: a report that is damaged, made from other networks or with another
            budget.
    """
    P = get_preset(preset)
    own = budget_path(P, directory, steps=steps)
    if not own.exists():
        return {}
    found = {P.varnet_chans: own}
    tail = own.name[len(f"finetune-budget-{P.name}"):]        # "" or "-steps<N>", + ".json"
    for path in own.parent.glob(f"finetune-budget-{P.name}-width*{tail}"):
        width = path.name[len(f"finetune-budget-{P.name}-width"):-len(tail)]
        if width.isdigit() and int(width) != P.varnet_chans:
            found[int(width)] = path
    out = {}
    for width in sorted(found):
        report = load_budget_report(width_preset(P, width), found[width], steps=steps)
        report["rows"] = {n: r for n, r in report["rows"].items() if n in WIDTH_NETWORKS}
        out[width] = report
    return out


#: what a study varies: the settings its reports must share, and how its words name a level
FACTORS = {
    "width": {"shared": ("steps", "lr", "ratios"), "level": lambda v: f"width {v}",
              "change": "widening", "noun": "the width"},
    "steps": {"shared": ("lr", "ratios"), "level": lambda v: f"{v:,} steps",
              "change": "the longer budget", "noun": "the budget"},
}


def _factor(factor: str) -> dict:
    if factor not in FACTORS:
        raise ValueError(f"factor must be one of {sorted(FACTORS)}, got {factor!r}")
    return FACTORS[factor]


def factor_rows(reports: dict, margins: dict | None = None, *,
                factor: str = "width") -> list[dict]:
    """Fine-tuning-budget reports of the same networks that differ in one ``factor``, side by
    side: ``reports`` maps a level of the factor (a U-Net width, :func:`width_study_reports`;
    or a budget in steps, the reports of one width) to its report; every other setting of the
    :data:`FACTORS` entry must be the same. One row per level, network and ratio: the
    :func:`budget_rows` fields (gap, margin, verdict, ...), the level under the factor's name,
    the unpruned network's parameters and mean test PSNR, and, against the lowest level's row
    of the same network and ratio (``None`` at that level), ``change``: the paired 95 %
    interval of this level's per-image gap minus the lowest level's (above zero: the network
    loses less to pruning here) and ``unpruned_change``: that of the unpruned networks' PSNR.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).

    Raises:
        ValueError: no report, an unknown factor, or reports that differ in another setting (a
            width study compares widths at one budget, a budget study budgets at one width).
    """
    spec = _factor(factor)
    if not reports:
        raise ValueError(f"a study of {spec['noun']} needs the report of at least one level")
    shared = {v: tuple(tuple(r[k]) if isinstance(r[k], list) else r[k]
                       for k in spec["shared"]) for v, r in reports.items()}
    if factor == "steps":        # one width: the same network files, where a header names them
        def files(report):
            made = report.get("header", {}).get("networks") or {}
            return json.dumps({n: made.get(n) for n in report["rows"]}, sort_keys=True)
        shared = {v: (*k, files(reports[v])) for v, k in shared.items()}
    if len(set(shared.values())) > 1:
        raise ValueError(f"the reports of a study of {spec['noun']} must share "
                         f"{', '.join(spec['shared'])}"
                         + (" and networks" if factor == "steps" else "") + ", got "
                         + "; ".join(f"{spec['level'](v)}: {b}" for v, b in sorted(shared.items())))
    levels = sorted(reports)

    def per_image(level, name, ratio):
        row = reports[level]["rows"][name]
        tuned = row["ratios"][f"{ratio:g}"]["test"]
        return np.asarray(tuned, float) - np.asarray(row["test_unpruned"], float)

    base = levels[0]
    out = []
    for v in levels:
        for b in budget_rows(reports[v], margins):
            name, ratio = b["network"], b["ratio"]
            row = reports[v]["rows"][name]
            base_row = reports[base]["rows"].get(name)
            compared = (v != base and base_row is not None
                        and f"{ratio:g}" in base_row["ratios"])
            out.append({**b, factor: v, "params": row["params"],
                        "unpruned": float(np.mean(row["test_unpruned"])),
                        "change": (paired_interval(per_image(v, name, ratio),
                                                   per_image(base, name, ratio))
                                   if compared else None),
                        "unpruned_change": (paired_interval(row["test_unpruned"],
                                                            base_row["test_unpruned"])
                                            if compared else None)})
    return out


def factor_summary(rows: list[dict], titles: dict | None = None, *, factor: str = "width",
                   as_list: bool = False) -> str:
    """:func:`factor_rows` in words, each decided by the numbers: per network and ratio the
    gap at the lowest and the highest level and whether the change (wider, or a longer budget)
    narrows it (the paired interval lies above zero), widens it (below) or leaves no change
    resolved, then how many pruned networks are within the paper's margin at each level.
    ``as_list``: Markdown, one bullet per network and ratio, instead of one paragraph."""
    spec = _factor(factor)
    level, change = spec["level"], spec["change"]
    if not rows:
        return (f"No study of {spec['noun']}: `spade finetune-budget` with "
                f"`--{'width W' if factor == 'width' else 'steps N'}` makes one.")
    titles = dict(titles or {})
    levels = sorted({r[factor] for r in rows})
    base, top = levels[0], levels[-1]
    if base == top:
        return f"The study holds one level ({level(base)}): nothing to compare."
    at = {(r[factor], r["network"], r["ratio"]): r for r in rows}
    parts, sides = [], []
    for r in (r for r in rows if r[factor] == top and r["change"] is not None):
        b = at[(base, r["network"], r["ratio"])]
        c = r["change"]
        side = side_of_zero(c)
        sides.append(side)
        span = f"{c.low:+.2f} to {c.high:+.2f} dB"
        moved = (f"{change} narrows the gap by {c.estimate:.2f} dB ({span})" if side > 0 else
                 f"{change} widens the gap by {-c.estimate:.2f} dB ({span})" if side < 0 else
                 f"no change with {spec['noun']} resolved ({c.estimate:+.2f} dB, {span})")
        removed = [f"{100 * b['removed']:.0f} %", f"{100 * r['removed']:.0f} %"]
        removed = (f"{removed[0]} removed" if removed[0] == removed[1] else
                   f"{removed[0]} removed at {level(base)}, {removed[1]} at {level(top)}")
        parts.append(f"{titles.get(r['network'], r['network'])} at r = {r['ratio']:g} "
                     f"({removed}): {b['gap'].estimate:+.2f} dB at {level(base)}, "
                     f"{r['gap'].estimate:+.2f} dB at {level(top)}; {moved}")
    if not parts:
        return f"No network and ratio was run at both {level(base)} and {level(top)}."
    keys = {(r["network"], r["ratio"]) for r in rows
            if r["margin"] is not None and r["change"] is not None}
    within = {v: sum(at[(v, n, q)]["verdict"] == HOLDS for n, q in keys) for v in (base, top)}
    narrowed, widened = sum(s > 0 for s in sides), sum(s < 0 for s in sides)
    n = len(sides)
    trend = (f"{change} narrows every gap" if narrowed == n else
             f"no gap changes resolvably with {spec['noun']}" if narrowed == widened == 0 else
             f"{change} narrows {narrowed} of the {n} gaps and widens {widened}")
    tally = (f"{trend[0].upper() + trend[1:]}. Within the paper's margin on the whole interval: "
             f"{within[top]} of {len(keys)} pruned networks at {level(top)}, {within[base]} of "
             f"{len(keys)} at {level(base)}.")
    if as_list:
        return "\n".join(f"- {p}." for p in parts) + "\n\n" + tally
    return "; ".join(parts) + ". " + tally
