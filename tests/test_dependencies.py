"""pyproject.toml declares exactly the third-party packages the code imports, where it imports them.

- dvos_core: a module-level import needs a core dependency; an import inside a function (an optional feature) needs
  a core dependency or the extra that provides it. The core never needs the `napari` extra (no Qt).
- dvos_napari: core dependencies or the `napari` extra.
- tests/, benchmarks/, docs/ scripts: anything above or the `dev` extra; benchmarks/ also a `bench-*` extra (what
  one benchmark script needs beyond `dev`, e.g. ONNX Runtime for the ONNX probe).
- Every core dependency and every package of the `napari` and `dask` extras is imported somewhere it is declared for.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"dvos_core", "dvos_napari"}


@dataclass(frozen=True)
class Import:
    module: str  # top-level name, e.g. "cv2"
    path: Path
    line: int
    in_function: bool


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(spec: str) -> tuple[str, set[str]]:
    """``"napari[pyqt6]>=0.5"`` -> ``("napari", {"pyqt6"})`` (the name normalised)."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", spec)
    assert m, f"pyproject.toml: cannot read the requirement {spec!r}"
    return _normalise(m.group(1)), {e.strip() for e in (m.group(2) or "").split(",") if e.strip()}


@functools.cache
def _declared() -> dict[str, frozenset[str]]:
    """Normalised distribution names per group: "core" and each extra (self-references expanded)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    me = _normalise(project["name"])
    raw = {"core": project["dependencies"], **project.get("optional-dependencies", {})}
    groups = {}
    for group, reqs in raw.items():
        parsed = [_requirement(r) for r in reqs]
        groups[group] = {name for name, _ in parsed if name != me}
        groups[group] |= {f"extra:{e}" for name, extras in parsed if name == me for e in extras}
    for names in groups.values():  # dev = dvos-napari[napari,dask] + ...
        for ref in [n for n in names if n.startswith("extra:")]:
            names.discard(ref)
            names |= groups[ref.split(":", 1)[1]]
    return {group: frozenset(names) for group, names in groups.items()}


@functools.cache
def _imports(folder: str) -> tuple[Import, ...]:
    """Third-party top-level imports of every .py file under ``folder`` (stdlib, first-party, relative and sibling
    modules such as tests' conftest left out)."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        siblings = {p.stem for p in path.parent.glob("*.py")}
        tree = ast.parse(path.read_text(), str(path))
        function_nodes = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                function_nodes |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in FIRST_PARTY or top in siblings or top == "__future__":
                    continue
                found.append(Import(top, path.relative_to(ROOT), node.lineno, id(node) in function_nodes))
    return tuple(found)


@functools.cache
def _module_owners() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(module: str) -> set[str]:
    """Normalised names of the installed distributions providing ``module`` (its own name when none is installed)."""
    dists = _module_owners().get(module, [module])
    return {_normalise(d) for d in dists}


def _undeclared(imports: tuple[Import, ...], allowed: frozenset[str]) -> list[str]:
    return [f"{i.path}:{i.line} imports {i.module}" for i in imports if not _distributions(i.module) & allowed]


def test_the_declared_groups_are_the_documented_ones():
    groups = _declared()
    assert {"core", "napari", "dask", "dev"} <= set(groups)
    assert not any("qt" in name for name in groups["core"]), "the core must install without a Qt binding"
    assert groups["napari"] <= groups["dev"] and groups["dask"] <= groups["dev"]


def test_core_module_level_imports_are_core_dependencies():
    core = _declared()["core"]
    module_level = [i for i in _imports("dvos_core") if not i.in_function]
    assert module_level, "no third-party import found; is the scan broken?"
    assert _undeclared(module_level, core) == [], f"declare these in [project] dependencies: {core}"


def test_core_function_level_imports_are_core_dependencies_or_a_non_gui_extra():
    groups = _declared()
    allowed = groups["core"] | groups["dask"]
    lazy = [i for i in _imports("dvos_core") if i.in_function]
    assert any(i.module == "dask" for i in lazy)  # the optional Dask backend is imported only when used
    assert _undeclared(lazy, allowed) == []


def test_napari_plugin_imports_are_declared_for_it():
    groups = _declared()
    assert _undeclared(_imports("dvos_napari"), groups["core"] | groups["napari"]) == []


@pytest.mark.parametrize("folder", ["tests", "benchmarks", "docs"])
def test_test_benchmark_and_docs_imports_are_dev_dependencies(folder):
    groups = _declared()
    allowed = groups["core"] | groups["dev"]
    if folder == "benchmarks":
        allowed = allowed.union(*(names for group, names in groups.items() if group.startswith("bench-")))
    assert _undeclared(_imports(folder), allowed) == []


def test_bench_extras_are_imported_only_by_benchmarks():
    groups = _declared()
    bench = frozenset().union(*(names for group, names in groups.items() if group.startswith("bench-")))
    assert not bench & groups["dev"], "a bench-* extra repeats a dev package: drop it there"
    for folder in ("dvos_core", "dvos_napari", "tests", "docs"):
        used = [i for i in _imports(folder) if _distributions(i.module) & bench]
        assert used == [], f"{folder}/ imports a package declared only for benchmarks: {used}"


@pytest.mark.parametrize(("group", "folder"), [("core", "dvos_core"), ("napari", "dvos_napari"), ("dask", "dvos_core")])
def test_every_declared_package_is_imported(group, folder):
    provided = set().union(*(_distributions(i.module) for i in _imports(folder)))
    unused = sorted(_declared()[group] - provided)
    assert unused == [], f"declared in {group!r} but never imported in {folder}/: drop them"
