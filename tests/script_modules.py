"""Import a script of the repository (a benchmark, a docs builder) as a module, for tests of its functions."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str):
    """The module of ``ROOT/relative_path``, registered under its file name (its dataclasses look themselves up
    there, and a process it spawns finds its functions by that name)."""
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
