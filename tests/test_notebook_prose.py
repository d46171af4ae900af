"""The chapters' visible code is what the reader learns from, not the code that writes their text.

A chapter pastes measured values into its prose with myst-nb's ``glue`` and ``{glue:text}``.
The cells that only glue values or build sentences are tagged ``remove-cell`` (myst-nb still
reads their glue values: the glue is collected from every cell before removed cells are
dropped); the rules for the sentences themselves live in :mod:`spadelib.prose`.
"""
import ast
import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
HIDING = {"remove-cell", "remove-input", "hide-input"}
MIN_WORDS = 8          # a string of this many words is a sentence, not a label or a table cell


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _visible_code(path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code" and not HIDING & set(cell["metadata"].get("tags", [])):
            yield i, "".join(cell["source"])


def _words(node):
    """The words of a string literal (an f-string's literal parts only)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return len(node.value.split())
    if isinstance(node, ast.JoinedStr):
        return sum(_words(v) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _words(node.left) + _words(node.right)
    if isinstance(node, ast.IfExp):
        return max(_words(node.body), _words(node.orelse))
    return 0


def sentence_dicts(source):
    """Dict literals of ``source`` with at least two values that are sentences."""
    return [node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Dict)
            and sum(_words(v) >= MIN_WORDS for v in node.values) >= 2]


def test_the_rules_can_fail():
    assert sentence_dicts('V = {1: "So Anderson is ahead throughout the whole run.",\n'
                          '     2: f"So neither solver is ahead of the other, {x} times."}') == [1]
    assert sentence_dicts('panels = {"ground truth": a, f"measured x{s} (nearest)": b}') == []
    assert "glue(" in 'glue("ch1_rate", own, display=False)'


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_visible_cells_do_not_glue(path):
    shown = [i for i, src in _visible_code(path) if "glue(" in src]
    assert not shown, (f"{path.name}: cells {shown} call glue() in view of the reader; move "
                       "the glue to a cell tagged remove-cell")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_visible_cells_hold_no_sentence_tables(path):
    found = {i: lines for i, src in _visible_code(path) if (lines := sentence_dicts(src))}
    assert not found, (f"{path.name}: cells {found} (cell: lines) define dictionaries of "
                       "sentences; build them in spadelib.prose or a hidden cell")


def _glue_patterns(path):
    """A regular expression for every key a code cell glues (f-string fields match anything)."""
    patterns = []
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        for call in ast.walk(ast.parse("".join(cell["source"]))):
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "glue"
                    and call.args):
                continue
            key = call.args[0]
            if isinstance(key, ast.Constant):
                patterns.append(re.escape(key.value))
            elif isinstance(key, ast.JoinedStr):
                patterns.append("".join(re.escape(v.value) if isinstance(v, ast.Constant)
                                        else ".+" for v in key.values))
            else:                        # glue(name, ...) with a variable: anything
                patterns.append(".+")
    return [re.compile(p + r"\Z") for p in patterns]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glued_key_in_the_text_is_glued(path):
    used = {m.group(1) for cell in _cells(path) if cell["cell_type"] == "markdown"
            for m in re.finditer(r"\{glue(?::\w+)?\}`([\w-]+)", "".join(cell["source"]))}
    glued = _glue_patterns(path)
    missing = sorted(k for k in used if not any(p.match(k) for p in glued))
    assert not missing, f"{path.name}: the text pastes {missing}, which no cell glues"
