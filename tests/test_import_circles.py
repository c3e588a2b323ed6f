"""No import circle among the modules of harness/ (issue 19, item 9).

Why: a circle (protocol imports claims, claims import protocol's constants) works only while every
import of it stays inside a function and happens late enough; moving one line to the top turns it
into an ImportError at start-up. The check reads the import statements of every module (also
those inside functions) without importing anything, builds the graph of who imports whom, and
fails on every strongly connected group of two or more modules.

Edges: ``import a.b`` and ``from a.b import c`` point at the module ``a.b.c`` when it exists, else
at ``a.b``. A package's ``__init__`` is an edge target only for the names it defines itself
(``from harness.claims import Claim``): that a submodule import runs its package's ``__init__``
first is how Python works and no circle a module can avoid, so it is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]


def module_files(package: str = "harness") -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of ``package`` (a package under its own name)."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported_names(module: str, path: Path) -> list[str]:
    """Every dotted name ``module`` imports (``from a import b`` gives ``a.b``), relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def import_graph(files: dict[str, Path]) -> nx.DiGraph:
    """Module -> the modules of ``files`` it imports (the longest known prefix of each name)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for module, path in files.items():
        for name in imported_names(module, path):
            target = name
            while target and target not in files:
                target = target.rpartition(".")[0]
            if target and target != module:
                graph.add_edge(module, target)
    return graph


def circles(graph: nx.DiGraph) -> list[list[str]]:
    return sorted(sorted(group) for group in nx.strongly_connected_components(graph) if len(group) > 1)


def test_no_import_circle_among_harness_modules():
    files = module_files()
    assert len(files) > 100  # the walk found the package
    found = circles(import_graph(files))
    assert found == [], "import circles: " + "; ".join(" <-> ".join(group) for group in found)


def test_the_check_sees_a_circle_through_an_import_inside_a_function(tmp_path):
    """The same functions on a made-up package with the shape issue 19 reported (protocol imports
    claims at its top; claims import protocol's constant inside a function)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from pkg.protocol import Track\n")
    (pkg / "protocol.py").write_text("from pkg.claims import track_claims\nSWEEP = 1\nclass Track: ...\n")
    (pkg / "claims.py").write_text("def track_claims():\n    from .protocol import SWEEP\n    return SWEEP\n")
    (pkg / "settings.py").write_text("SWEEP = 1\n")
    files = {
        "pkg": pkg / "__init__.py",
        "pkg.protocol": pkg / "protocol.py",
        "pkg.claims": pkg / "claims.py",
        "pkg.settings": pkg / "settings.py",
    }
    assert circles(import_graph(files)) == [["pkg.claims", "pkg.protocol"]]
    (pkg / "claims.py").write_text("def track_claims():\n    from .settings import SWEEP\n    return SWEEP\n")
    assert circles(import_graph(files)) == []
