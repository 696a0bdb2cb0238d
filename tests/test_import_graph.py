"""The static import graph of the project's own packages has no cycle, and the axes import only `bench.base`.

Read with `ast` (every import statement, those inside functions too), so a loop hidden behind a lazy import is found
as well: lazy imports that close a loop only work by accident of import order.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "tasks", "representations", "models")
AXES = ("tasks", "representations", "models")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module `name` names: itself, or its nearest enclosing package (`pkg.mod.attr` -> `pkg.mod`)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported anywhere in `path`. `from pkg import mod` resolves to `pkg.mod` when that is a module,
    else to `pkg`; relative imports are resolved against the module's package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for t in targets:
            m = _resolve(t, modules)
            if m and m != module:
                found.add(m)
    # importing `a.b.c` first runs the packages `a` and `a.b` (those enclosing the importer already run)
    for m in list(found):
        while "." in m:
            m = m.rpartition(".")[0]
            if m != module and not module.startswith(m + ".") and m in modules:
                found.add(m)
    return found


def import_graph() -> nx.DiGraph:
    modules = project_modules()
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for name, path in modules.items():
        g.add_edges_from((name, target) for target in imports_of(name, path, modules))
    return g


def test_graph_sees_lazy_and_from_imports():
    g = import_graph()
    assert len(g) > 100
    assert g.has_edge("bench.harness.driver", "bench.harness.grid")  # top-level `from X import Y`
    assert g.has_edge("bench.harness.driver", "bench.harness.tracking")  # `from bench.harness import tracking`
    assert g.has_edge("bench.harness.grid", "models")  # an import inside a method


def test_no_import_cycle():
    g = import_graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    if cycles:
        loop = nx.find_cycle(g.subgraph(cycles[0]))
        pytest.fail(f"{len(cycles)} import cycle(s); one: " + " -> ".join([a for a, _ in loop] + [loop[0][0]]))


@pytest.mark.parametrize("axis", AXES)
def test_axes_import_only_bench_base(axis):
    g = import_graph()
    # `bench` itself runs before any `bench.base` module does; it must stay free of imports (checked below)
    bad = sorted((a, b) for a, b in g.edges
                 if (a == axis or a.startswith(axis + ".")) and b.split(".")[0] == "bench"
                 and not (b in ("bench", "bench.base") or b.startswith("bench.base.")))
    assert not bad, f"{axis}/ must import only bench.base from bench: {bad}"
    assert not list(g.successors("bench")), "bench/__init__.py is imported by every axis: keep it import-free"
