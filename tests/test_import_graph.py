"""The first-party import graph: no cycles between modules (lazy imports included) and no dock importing another."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module_imports() -> dict[str, set[str]]:
    """module -> the first-party modules it imports anywhere in its file (packages' __init__ left out)."""
    files = {}
    for p in sorted(ROOT.glob("dvos_*/**/*.py")):
        if p.name != "__init__.py":
            files[".".join(p.relative_to(ROOT).with_suffix("").parts)] = p
    graph = {}
    for name, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("dvos_"):
                deps |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("dvos_")}
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_between_modules():
    assert _cycles(_module_imports()) == []


def test_no_dock_imports_another_dock():
    graph = _module_imports()
    docks = {m for m in graph if m.startswith("dvos_napari.docks.")}
    assert docks
    assert {(m, d) for m in docks for d in graph[m] if d in docks} == set()


def test_smoothing_does_not_load_torch():
    """`dvos smooth` works on stored probabilities with numpy and OpenCV: loading torch cost it about a second."""
    import subprocess
    import sys

    code = "import sys, dvos_core.infer.smooth, dvos_core.cli.infer_cmds; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
