"""The package's shape: wings import one way, nothing imports in a circle, modules stay small.

Read from the source with ``ast``; nothing is imported. The wings and their floors are
those of README's layout: cli -> {report, measure} -> {analyse, loadgen} -> {rundir,
targets} -> {config, safefs} -> {paths, errors}. A module may import its own wing or any
wing on a lower floor, except that ``analyse`` and ``report`` never reach the measuring wings.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "harness"
FLOORS = {"__main__": 6, "cli": 5, "report": 4, "measure": 4, "analyse": 3, "loadgen": 3,
          "rundir": 2, "targets": 2, "config": 1, "paths": 0, "errors": 0, "safefs": 1,
          "__init__": 0}
MEASURING = {"measure", "loadgen", "targets"}
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def wing(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported harness module, line, at module level?) for every import in ``module``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:  # `from harness.x import y` may name the module x.y
                sub = f"{node.module}.{alias.name}"
                targets.append(sub if sub in MODULES else node.module)
        for target in targets:
            if target == "harness" or target.startswith("harness."):
                found.append((target, node.lineno, id(node) in top))
    return found


def test_the_wings_are_the_documented_ones() -> None:
    assert {wing(m) for m in MODULES} == set(FLOORS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_down_only(module: str) -> None:
    mine = wing(module)
    for target, line, at_top in imports(module):
        theirs = wing(target)
        where = f"{module}:{line} imports {target}"
        assert at_top, f"{where} inside a function or block; imports belong at the top"
        if theirs == mine:
            continue
        assert FLOORS[theirs] < FLOORS[mine], f"{where}: {theirs} is not below {mine}"
        if mine in ("analyse", "report"):
            assert theirs not in MEASURING, f"{where}: the analysing half never measures"


def test_no_import_circle() -> None:
    graph = {m: {t for t, _, _ in imports(m)} - {m} for m in MODULES}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt in graph and not state.get(nxt):
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by concern"
