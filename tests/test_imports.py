"""The import graph of the project, read with `ast` (nothing is imported to build it): no cycles,
and the folder rules of docs/architecture.md.

Every `import` and `from … import` of a first-party module counts, at module level or inside a
function, except those under `if TYPE_CHECKING:` (they never run). `from package import name`
counts as an import of `package.name` when that is a module, else of `package`; importing
`a.b.c` also runs `a` and `a.b` (their `__init__`), so those count too unless the importer is
inside them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".venv", "var", "node_modules", "build", "dist"}

# Importing these is what makes code impure or tied to one store: the menu engine and the trees'
# tooling must run without a web framework, Redis, SQL or HTTP.
MENUS_FORBIDDEN = {"gateway", "sessions", "flask", "werkzeug", "redis", "sqlalchemy", "requests"}
# Who may import gateway/ (the edge): the app factory, the command line, tests and tools.
GATEWAY_IMPORTERS = {"app", "cli", "tests", "tools", "gateway"}
# backend_client/ is the core-service client only. The one exception is the alias that keeps the
# queued-application job's old RQ path working for one release (docs/architecture.md).
BACKEND_CLIENT_ALIAS = "backend_client.queued"


def _module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in relative.parts):
            continue
        name = ".".join(relative.with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = _module_files()


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, leaving out the bodies of `if TYPE_CHECKING:` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for other in node.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield node
        yield from _runtime_nodes(node)


def _first_party(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imported_names(module: str) -> set[str]:
    """Every name `module` imports (dotted, absolute), first-party or not."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.add(full if full in MODULES else base)
    return names


@cache
def edges() -> dict[str, set[str]]:
    """The import graph, parsed once when a test first asks (not at collection, on every worker)."""
    return _edges()


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in MODULES:
        targets: set[str] = set()
        for name in imported_names(module):
            target = _first_party(name)
            if target is None or target == module:
                continue
            targets.add(target)
            parts = target.split(".")
            for depth in range(1, len(parts)):
                ancestor = ".".join(parts[:depth])
                inside = module == ancestor or module.startswith(ancestor + ".")
                if ancestor in MODULES and not inside:
                    targets.add(ancestor)
        edges[module] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_graph_sees_the_whole_project():
    for expected in ("app", "cli", "gateway.ussd", "menus.engine", "citizen.actions", "sms.worker", "tests"):
        assert expected in MODULES, expected
    assert "citizen.actions" in edges()["gateway.ussd"]
    # function-level imports count: cli.py imports these only inside its commands
    assert {"audit.drain", "common.jobs"} <= edges()["cli"]


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(edges()) == []


def test_menus_import_no_web_framework_store_or_http():
    offenders = {
        (module, name)
        for module in MODULES
        if _top(module) == "menus"
        for name in imported_names(module)
        if _top(name) in MENUS_FORBIDDEN
    }
    assert offenders == set()


def test_only_the_app_the_cli_tests_and_tools_import_gateway():
    offenders = {
        (module, target)
        for module, targets in edges().items()
        if _top(module) not in GATEWAY_IMPORTERS
        for target in targets
        if _top(target) == "gateway"
    }
    assert offenders == set()


@pytest.mark.parametrize("package", ["backend_client"])
def test_backend_client_imports_only_itself(package):
    offenders = {
        (module, target)
        for module, targets in edges().items()
        if _top(module) == package and module != BACKEND_CLIENT_ALIAS
        for target in targets
        if _top(target) != package
    }
    assert offenders == set()
    # the alias points at the job and nothing else
    assert {_top(t) for t in edges()[BACKEND_CLIENT_ALIAS]} == {"citizen"}
