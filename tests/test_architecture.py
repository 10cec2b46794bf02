"""The sidecar's packages import only downward, in the README's layer order, and never in a cycle."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIDECAR = REPO / "sidecar"
TOP = "ainfluencer.sidecar"
NODES_IMPORT = re.compile(r"^\s*(from|import)\s+(\.\.+comfy_nodes|ainfluencer\.comfy_nodes)", re.MULTILINE)


def documented_layers() -> list[list[str]]:
    """The README's `Layers (lowest first):` line, e.g. `core → graph → … → cli, entry`."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^Layers \(lowest first\): `([^`]+)`", text, re.MULTILINE)
    assert match, "the README's Development section names the layer order"
    return [[name.strip() for name in step.split(",")] for step in match.group(1).split("→")]


def module_name(path: Path) -> str:
    """The dotted name of a source file under `ainfluencer.sidecar`."""
    parts = list(path.relative_to(SIDECAR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([TOP, *parts])


def imported_modules(path: Path, modules: set[str]) -> Iterator[str]:
    """Every sidecar module a file imports (relative or absolute, at module level or inside functions)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join([*base, *([node.module] if node.module else [])])
            else:
                stem = node.module or ""
            targets = [f"{stem}.{alias.name}" for alias in node.names] + [stem]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `from .x import Name` names the module x
                target = target.rpartition(".")[0]
            if target.startswith(TOP + ".") and target != name:
                yield target


def import_graph() -> dict[str, set[str]]:
    """Module → the sidecar modules it imports."""
    files = {module_name(p): p for p in SIDECAR.rglob("*.py")}
    modules = set(files)
    graph = {name: set(imported_modules(path, modules)) for name, path in files.items()}
    for name, targets in graph.items():  # a package's own __init__ is not an import of the package's parts
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    return graph


def layer_of(module: str) -> str:
    """The top-level package (or module) of the sidecar a module belongs to."""
    return module.removeprefix(TOP + ".").split(".")[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_of_the_sidecar_has_a_documented_layer():
    ranks = {name: rank for rank, step in enumerate(documented_layers()) for name in step}
    packages = {p.stem if p.is_file() else p.name for p in SIDECAR.iterdir() if not p.name.startswith("__")}
    packages = {p for p in packages if (SIDECAR / p).is_dir() or (SIDECAR / f"{p}.py").is_file()}
    assert packages - {"catalog_data"} <= set(ranks), f"undocumented: {packages - set(ranks)}"


def test_no_module_imports_a_layer_above_its_own():
    ranks = {name: rank for rank, step in enumerate(documented_layers()) for name in step}
    upward = [
        f"{source} → {target}"
        for source, targets in import_graph().items()
        for target in targets
        if layer_of(source) in ranks and ranks[layer_of(target)] > ranks[layer_of(source)]
    ]
    assert upward == []


def test_no_import_cycle_in_the_sidecar():
    assert cycles(import_graph()) == []


def test_the_sidecar_never_imports_the_nodes():
    offenders = [
        str(path.relative_to(REPO))
        for path in SIDECAR.rglob("*.py")
        if NODES_IMPORT.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_checker_sees_a_cycle_and_an_upward_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    ranks = {name: rank for rank, step in enumerate(documented_layers()) for name in step}
    assert ranks["core"] < ranks["remote"] < ranks["http"]
