"""The package's layout: one-way imports, in a declared order of layers.

Every module of ``spadelib`` is parsed with :mod:`ast` (nothing is imported) and its imports of
``spadelib`` are drawn as arrows between modules (``from . import x`` and ``from .x import y``
resolved to the module or subpackage they name). The test asserts that

* the arrows make no circle (at module or function level: an import inside a function
  only hides a circle);
* every arrow, at module or function level, goes down the layers of :data:`LAYERS` (the
  order README.md's "How the package is laid out" gives, top to bottom);
* imports sit at the top of a module: at most :data:`MAX_FUNCTION_IMPORTS` function-level
  imports of ``spadelib``, and every function-level import (of anything) says why on its line
  or the line above (``# optional heavy dependency``, ``# CLI start-up: ...``).

A *room* is a top-level module (``spadelib.finetune``) or a subpackage (``spadelib.data``,
all its modules); an arrow inside one room is checked for circles only. A package's
``__init__`` that re-exports its submodules is a module of its own, above them: a submodule
that imports from its package's ``__init__`` closes a circle.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "spadelib"
PACKAGE = "spadelib"

#: the rooms, by floor, top to bottom: a room imports only rooms on lower floors. "spadelib"
#: is the package's own ``__init__`` (it re-exports the presets); README.md mirrors this list.
LAYERS = [
    ["cli"],                                                  # the `spade` command
    ["bench"],                                                # `spade bench`
    ["beyond", "explorer"],                                   # Chapter 8; the results explorer
    ["experiments"],                                          # the paper's grid, store, tables
    ["finetune"],                                             # the fine-tuning regimes
    ["splitting", "plotting", "distributed"],
    ["losses", "pruning", "zoo"],
    ["tasks", "training", "budgets"],                         # only tasks knows MRI from SR
    ["inputs", "models", "evaluation", "classical"],
    ["data", "baselines", "timing"],                          # timing: the one protocol
    ["checkpoints", "metrics", "physics", "kernels", "reinit", "spadelib"],
    ["checks", "presets", "transforms", "widgets", "prose", "prose_check", "workers"],
]
MAX_FUNCTION_IMPORTS = 30


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules of ``spadelib`` an import statement of ``module`` names."""
    if isinstance(node, ast.Import):
        out = []
        for alias in node.names:
            name = alias.name
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                while name not in MODULES:
                    name = name.rsplit(".", 1)[0]
                out.append(name)
        return out
    if node.level:
        package = module if _is_package(module) else module.rsplit(".", 1)[0]
        parts = package.split(".")
        base = parts[:len(parts) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not (target == PACKAGE or target.startswith(PACKAGE + ".")):
        return []
    while target not in MODULES:                       # a name inside a module
        target = target.rsplit(".", 1)[0]
    return [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target
            for a in node.names]


def _says_why(lines: list[str], node: ast.stmt) -> bool:
    """Whether an import carries a comment: on its own lines, or on the comment line above it
    (or above the run of imports it belongs to, one comment for the group)."""
    if any("#" in text for text in lines[node.lineno - 1: node.end_lineno]):
        return True
    i = node.lineno - 2
    while i >= 0:
        text = lines[i].strip()
        if text.startswith("#"):
            return True
        if not text.startswith(("import ", "from ")):
            return False
        if "#" in text:                  # an import of the same group that says why
            return True
        i -= 1
    return False


def _imports():
    """``(module, line, targets, at_module_level, statement, says_why)`` of every import."""
    out = []
    for module, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source, filename=str(path))

        def walk(node, in_function: bool):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    out.append((module, child.lineno, _targets(module, child), not in_function,
                                ast.unparse(child), _says_why(lines, child)))
                walk(child, in_function or isinstance(
                    child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        walk(tree, False)
    return out


IMPORTS = _imports()


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT.parent)}:{line}"


def test_every_room_has_a_floor():
    declared = [room for floor in LAYERS for room in floor]
    assert len(declared) == len(set(declared)), "a room is on two floors"
    rooms = {_room(m) for m in MODULES}
    missing = sorted(rooms - set(declared))
    assert not missing, f"rooms on no floor of LAYERS (add them): {missing}"
    gone = sorted(set(declared) - rooms)
    assert not gone, f"LAYERS names rooms that do not exist: {gone}"


def test_readme_gives_the_same_floors():
    text = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    section = text.split("## How the package is laid out", 1)[1].split("\n## ", 1)[0]
    floors = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].isdigit():
            rooms = re.findall(r"`([\w/]+)`", re.sub(r"\([^)]*\)", "", cells[1]))
            floors.append([r.rstrip("/") for r in rooms])
    assert floors == LAYERS, ("README.md's floors (How the package is laid out) differ from "
                              f"LAYERS:\n{floors}\n{LAYERS}")


def test_no_import_circle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    where: dict[tuple[str, str], int] = {}
    for module, line, targets, _, _, _ in IMPORTS:       # at module and function level
        for t in targets:
            if t != module:
                graph[module].add(t)
                where.setdefault((module, t), line)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                circle = stack[stack.index(t):] + [t]
                arrows = " -> ".join(f"{a} ({_where(a, where[a, b])})"
                                     for a, b in zip(circle, circle[1:]))
                pytest.fail(f"import circle: {arrows} -> {t}")
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_every_arrow_goes_down():
    floor = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}
    upward = []
    for module, line, targets, _, statement, _ in IMPORTS:
        for t in targets:
            a, b = _room(module), _room(t)
            if a != b and floor.get(b, -1) <= floor.get(a, -1):
                upward.append(f"{_where(module, line)}: {statement!r}: room {a!r} (floor "
                              f"{floor.get(a)}) imports {b!r} (floor {floor.get(b)}), which "
                              "is not below it")
    assert not upward, "imports that do not go down LAYERS:\n" + "\n".join(upward)


def test_imports_at_the_top():
    inside = [(m, line, targets, s, why) for m, line, targets, top, s, why in IMPORTS if not top]
    ours = [(m, line, s) for m, line, targets, s, _ in inside if targets]
    assert len(ours) <= MAX_FUNCTION_IMPORTS, (
        f"{len(ours)} function-level imports of spadelib (at most {MAX_FUNCTION_IMPORTS}); "
        "move them to the top of their module:\n"
        + "\n".join(f"{_where(m, line)}: {s}" for m, line, s in ours))
    silent = [f"{_where(m, line)}: {s}" for m, line, _, s, why in inside if not why]
    assert not silent, ("function-level imports without a comment saying why (on the line or "
                        "the line above):\n" + "\n".join(silent))


def test_no_module_over_500_lines():
    """Small files: a module that grows past 500 lines is split by concern."""
    long = {str(p.relative_to(ROOT.parent)): n for p in sorted(ROOT.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > 500}
    assert not long, f"modules over 500 lines (split them by concern): {long}"
