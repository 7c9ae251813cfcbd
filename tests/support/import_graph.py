"""The project's import graph, read from the source with ``ast`` (nothing is imported).

Every ``import`` counts, including those inside functions (a lazy import is still a
dependency). Relative imports stay inside their package, so they are not edges.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT

PACKAGES = ("audit", "core", "gateway", "hpp", "jobs", "ml", "observability", "webui", "workers")


@dataclass(frozen=True)
class Import:
    """One absolute import of a project module: which file, which module it names."""

    path: Path
    importer: str
    module: str

    @property
    def package(self) -> str:
        """The top-level package of the imported module."""
        return self.module.split(".", 1)[0]

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)} imports {self.module}"


def project_imports(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> list[Import]:
    """Every import, in the given packages' sources, of a module of one of those packages."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for module in _imported_modules(path):
                if module.split(".", 1)[0] in packages:
                    found.append(Import(path, package, module))
    return found


def package_edges(imports: list[Import]) -> dict[str, set[str]]:
    """Which packages each package imports (itself left out)."""
    edges: dict[str, set[str]] = {}
    for item in imports:
        if item.package != item.importer:
            edges.setdefault(item.importer, set()).add(item.package)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each group of packages that import each other, directly or round a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:  # unwinds a finite stack: no deadline needed
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def _imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
