"""The import graph of hwsim/ has no circle and no upward import (docs/interfaces.md, "Layers").

Every `import hwsim.x` / `from hwsim.x import …` in hwsim/ — module level or inside a function — is
read with `ast`; an import from package P to package Q is allowed only when Q's layer is below P's
(or Q is P). Run directly for the package graph: `python tests/test_import_graph.py`.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "hwsim"

#: packages (first component under hwsim.) from the bottom up; a package may import only lower layers
LAYERS: list[set[str]] = [
    {"errors"},
    {"units", "fileio", "paths", "records", "data", "presets", "kept"},
    {"plotting", "formats", "workload"},
    {"pareto"},
    {"core"},  # Accelerator, Field, Precision, OpColumns: the shared vocabulary
    {"tech", "sim"},  # datapath costs; cycle-level building blocks
    {"families"},  # one package per family, the registry
    {"arch"},  # YAML loader (needs the families' fields)
    {"engine", "metrics"},  # analytical engine, sweeps; cost metrics of its totals
    {"cycle", "roofline", "accuracy", "serve"},  # cycle engine; roofline; format accuracy; serving
    {"allocate", "study"},
    {"sweep"},
    {"cli"},
    {"__main__"},
]
LAYER = {pkg: n for n, layer in enumerate(LAYERS) for pkg in layer}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) → 'file:line' of each import."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        mod = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        src = package_of(mod) if mod != "hwsim" else "__init__"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [
                    f"hwsim.{a.name}"
                    for a in node.names
                    if node.module == "hwsim" and ((ROOT / a.name).is_dir() or (ROOT / f"{a.name}.py").exists())
                ]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("hwsim.") and (dst := package_of(name)) != src:
                    edges[(src, dst)].append(f"{rel}.py:{node.lineno}")
    return edges


def test_every_package_has_a_layer():
    pkgs = {
        p.stem if p.is_file() else p.name
        for p in ROOT.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"
    }
    assert pkgs - set(LAYER) == set(), "add new packages to LAYERS (and docs/interfaces.md)"


def test_no_upward_or_sideways_import():
    bad = [
        f"{a} -> {b} ({', '.join(where)})"
        for (a, b), where in sorted(imports().items())
        if a in LAYER and LAYER[b] >= LAYER[a]
    ]
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_import_circle():
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in imports():
        graph[a].add(b)
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack + [node, nxt]
            if nxt not in state and (cyc := visit(nxt, stack + [node])):
                return cyc
        state[node] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            cyc = visit(n, [])
            assert cyc is None, "import circle: " + " -> ".join(cyc)


if __name__ == "__main__":
    for (a, b), where in sorted(imports().items()):
        print(f"{a:>10} -> {b:<10} {len(where):3d}  {where[0]}")
    sys.exit(0)
