"""The package's shape (issue 21): no import circle between its modules, no module over about 350 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import exalate_collector

PACKAGE = Path(exalate_collector.__file__).parent
MAX_LINES = 360  # "about 350" (issue 21)


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """The package's modules that ``name`` imports at module level (under TYPE_CHECKING too); imports
    inside functions are deferred on purpose and cannot make a circle at import time."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        bodies = [node]
        if isinstance(node, ast.If):  # ``if TYPE_CHECKING:``
            bodies = node.body
        for stmt in bodies:
            if isinstance(stmt, ast.ImportFrom):
                if stmt.level:
                    base = package.rsplit(".", stmt.level - 1)[0] if stmt.level > 1 else package
                    target = f"{base}.{stmt.module}" if stmt.module else base
                else:
                    target = stmt.module or ""
                found.add(target)
                found |= {f"{target}.{alias.name}" for alias in stmt.names}
            elif isinstance(stmt, ast.Import):
                found |= {alias.name for alias in stmt.names}
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path, name) if m in files and m != name} for name, path in files.items()}


def test_no_module_imports_one_that_imports_it_back():
    graph = _graph()
    circles = []
    state: dict[str, int] = {}

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                circles.append(" -> ".join([*stack[stack.index(other) :], other]))
            elif other not in state:
                visit(other, [*stack, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_the_graph_sees_the_imports_it_checks():
    graph = _graph()
    assert "exalate_collector.pipeline" in graph["exalate_collector.runner"]
    assert "exalate_collector.telemetry.measurements" in graph["exalate_collector.telemetry.points"]


def test_no_module_is_over_350_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
