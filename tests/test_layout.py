"""The tree is the architecture: neither the Python package nor the Rust core has an
import cycle, between modules or between the folders of `src/`."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / "python"
SRC = ROOT / "src"


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle of `graph` as the path that closes it, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in graph.get(node, ()):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    return next((cycle for node in graph if (cycle := visit(node, []))), None)


def python_imports() -> dict[str, set[str]]:
    """Module -> the modules of `ami` it imports, type-checking imports included."""
    modules = {
        ".".join(path.relative_to(PYTHON).with_suffix("").parts).removesuffix(".__init__"): path
        for path in PYTHON.rglob("*.py*")
        if path.suffix in (".py", ".pyi")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.stem == "__init__" else name.rpartition(".")[0]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base) if node.level else ""
                module = ".".join(filter(None, [origin, node.module or ""]))
                # `from ami import _ami` imports the submodule, not the package's names.
                subs = {f"{module}.{alias.name}" for alias in node.names} & set(modules)
                imported.update(subs or {module})
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def rust_folder_imports() -> dict[str, set[str]]:
    """Top-level module or folder of `src/` -> the others its code uses."""
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.rs"):
        top = path.relative_to(SRC).parts[0].removesuffix(".rs")
        code = path.read_text().split("#[cfg(test)]")[0]
        used = set(re.findall(r"crate::(\w+)", code)) - {top}
        graph.setdefault(top, set()).update(used)
    return graph


def test_the_python_package_has_no_import_cycle() -> None:
    graph = python_imports()
    assert {"ami.ops.inspect", "ami.cli.app", "ami.cluster.local_cluster"} <= set(graph)
    assert find_cycle(graph) is None


def test_the_rust_folders_depend_one_way() -> None:
    graph = rust_folder_imports()
    assert {"producer", "consumer", "admin", "cluster", "wire", "python"} <= set(graph)
    assert find_cycle(graph) is None
    assert "python" not in set().union(*graph.values()), "only lib.rs may name python/"


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
