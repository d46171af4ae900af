"""The paper's tables printed: what ``spade table N`` shows.

The layout is the chapters' own (:func:`~spadelib.experiments.tables.layout_frame`: the
paper's rows and column headers, its pruning ratios, SSIM in %, our row above the paper's);
this module only prints it: aligned text under the paper's two header rows, Markdown, CSV or
LaTeX (:func:`paper_table`), with the commands that fill the missing cells (:func:`fill_note`).
"""
from __future__ import annotations

import textwrap

from ..checks import choice
from ..presets import Preset, get_preset
from .store import ResultStore
from .tables import FAILED, NOT_RUN, OURS, PAPER_ONLY, caption, layout_frame

__all__ = ["FORMATS", "paper_table", "fill_note"]

#: what ``spade table --format`` takes (:func:`paper_table`)
FORMATS = ("text", "md", "csv", "latex")


def _shown_index(df) -> list[tuple[str, str, str]]:
    """Row labels as printed: a network (or scale) on its first row only, a ratio on our row
    only (the paper's row below it is marked "paper")."""
    out, last = [], None
    for net, ratio, source in df.index:
        out.append(("" if net == last else net, ratio if source == OURS else "", source))
        last = net
    return out


def _one_reason(values) -> str | None:
    """The reason a row of ours is missing, where all its numbers are missing for that one
    reason (printed once, not in every column), else ``None``."""
    shown = set(values) - {"", "–"}
    return shown.pop() if len(shown) == 1 and shown <= {PAPER_ONLY, NOT_RUN, FAILED} else None


def _printed_rows(df) -> list[list[str]]:
    """Label cells and value cells of every row; a row of ours missing for one reason has that
    reason in its first value cell and the others blank."""
    out = []
    for label, row in zip(_shown_index(df), df.itertuples(index=False)):
        values = [str(v) for v in row]
        reason = _one_reason(values) if label[-1] == OURS else None
        out.append(list(label) + (values if reason is None else
                                  [reason] + [""] * (len(values) - 1)))
    return out


def _text_table(df) -> str:
    """``df`` (:func:`layout_frame`) as aligned text with the paper's two header rows, a
    group title ("PSNR (dB)") over its columns ("Supervised", "School", ...)."""
    cols, k = list(df.columns), df.index.nlevels
    top = list(df.index.names) + [g for g, _ in cols]
    sub = [""] * k + [c for _, c in cols]
    body = _printed_rows(df)
    spanning = [r for r in body if r[k] and not any(r[k + 1:])]    # one reason: may overflow
    widths = [max(len(r[j]) for r in body + [sub] if j != k or r not in spanning)
              for j in range(len(top))]
    for j in range(k):
        widths[j] = max(widths[j], len(top[j]))
    runs, j = [], k                        # spans of equal group titles: (first, last + 1)
    while j < len(top):
        end = j
        while end < len(top) and top[end] == top[j]:
            end += 1
        runs.append((j, end))
        span = sum(widths[j:end]) + 2 * (end - j - 1)
        widths[end - 1] += max(0, len(top[j]) - span)
        j = end
    head = [top[j].ljust(widths[j]) for j in range(k)] + [
        top[a].center(sum(widths[a:b]) + 2 * (b - a - 1)) for a, b in runs]
    lines = ["  ".join(head).rstrip(),
             "  ".join(s.ljust(w) if j < k else s.rjust(w)
                       for j, (s, w) in enumerate(zip(sub, widths))).rstrip(),
             "  ".join("-" * w for w in widths)]
    for r in body:
        if r in spanning:
            lines.append("  ".join([s.ljust(w) for s, w in zip(r[:k], widths)] + [r[k]]))
        else:
            lines.append("  ".join(s.ljust(w) if j < k else s.rjust(w)
                                   for j, (s, w) in enumerate(zip(r, widths))).rstrip())
    return "\n".join(lines)


def _md_table(df) -> str:
    """``df`` (:func:`layout_frame`) as a Markdown table: one header row ("PSNR (dB)
    Supervised"), the rows labelled as in :func:`_text_table`."""
    k = df.index.nlevels
    head = list(df.index.names) + [" ".join(p for p in c if p) for c in df.columns]
    rows = _printed_rows(df)
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join([":---"] * k + ["---:"] * (len(head) - k)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def fill_note(number: int, preset: Preset | str | None = None,
              store: ResultStore | None = None, frame=None) -> str:
    """The commands that fill table ``number``'s missing cells, one line per kind of missing
    cell ("" when none is missing): what ``spade table`` prints under the table.

    Args:
        frame: the table's :func:`layout_frame`, if already made.
    """
    P = get_preset(preset)
    df = frame if frame is not None else layout_frame(number, P, store)
    ours = set(df.xs(OURS, level=-1).values.ravel())
    grid, lines = f"table{number}", []
    if ours & {NOT_RUN, FAILED}:
        lines.append(" / ".join(w for w in (NOT_RUN, FAILED) if w in ours)
                     + f": spade run {grid} --preset {P.name}"
                     + (f" (spade status {grid} --preset {P.name} says why a cell failed)"
                        if FAILED in ours else ""))
    if PAPER_ONLY in ours:
        lines.append(f"{PAPER_ONLY}: outside the {P.name} preset's grid; spade run {grid} "
                     f"--preset paper fills them (spade table {number} --preset paper shows "
                     "them)")
    return "\n".join(lines)


def paper_table(number: int, preset: Preset | str | None = None, fmt: str = "text",
                store: ResultStore | None = None) -> str:
    """Table ``number`` in the paper's layout (:func:`layout_frame`, the chapters' tables) as
    text: what ``spade table N`` prints.

    Args:
        fmt: ``"text"`` (aligned columns under the paper's two header rows) or ``"md"``
            (Markdown), each with the caption above and :func:`fill_note` below; ``"csv"``
            (every label on every row, headers such as "PSNR (dB) Supervised") or
            ``"latex"``: the table alone.
    """
    choice(fmt, FORMATS, "format")
    df = layout_frame(number, preset, store)
    if fmt == "csv":
        flat = df.copy()
        flat.columns = [" ".join(p for p in c if p) for c in df.columns]
        flat.index = flat.index.set_names([*df.index.names[:-1], "Row"])
        return flat.reset_index().to_csv(index=False)
    if fmt == "latex":
        return df.to_latex(caption=caption(number, preset), multicolumn=True,
                           multicolumn_format="c")
    note = fill_note(number, preset, store, frame=df)
    table = _text_table(df) if fmt == "text" else _md_table(df)
    text = textwrap.fill(caption(number, preset), 100) + "\n\n" + table
    if note:
        text += "\n\nTo fill the missing cells:\n" + textwrap.indent(note, "  ")
    return text
