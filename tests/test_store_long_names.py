"""Project folders with long names: any name the file system takes (up to 255 bytes) is created, though its hidden
build sibling (.NAME.creating-<12 hex>) would be 23 bytes longer; what a stopped creation leaves beside it is still
found and named; a name over the limit is refused up front, naming the path and the limit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dvos_core.store import Project
from dvos_core.store.check import check_project
from dvos_core.store.schema import StoreError

ROOT = Path(__file__).resolve().parents[1]


def _limit(folder) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


@pytest.mark.parametrize("stem", ["a" * 228, "b" * 250, "é" * 125])
def test_a_name_the_file_system_takes_makes_a_project(tmp_path, stem):
    name = f"{stem}.dvos"
    if len(os.fsencode(name)) > _limit(tmp_path):
        pytest.skip("this file system takes shorter names")
    p = Project.create(tmp_path / name)
    assert Project.open(p.path).video_ids() == [] and os.listdir(tmp_path) == [name]
    Project.create(p.path, overwrite=True)  # replacing it takes a hidden sibling too
    assert os.listdir(tmp_path) == [name]


def _killed_create(path: Path, overwrite: bool = False) -> None:
    """A `dvos new path` killed just before its first rename (leaves its hidden build beside ``path``)."""
    code = (
        "import os, sys; from dvos_core.store import Project; "
        f"os.rename = lambda *a: os._exit(9); Project.create(sys.argv[1], overwrite={overwrite})"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    assert subprocess.run([sys.executable, "-c", code, str(path)], env=env).returncode == 9


def test_a_stopped_creation_of_a_long_named_project_is_found(tmp_path):
    path = tmp_path / f"{'c' * 240}.dvos"
    if len(os.fsencode(path.name)) > _limit(tmp_path):
        pytest.skip("this file system takes shorter names")
    _killed_create(path)
    (build,) = [tmp_path / n for n in os.listdir(tmp_path)]
    assert build.name.startswith(".ccc") and ".creating-" in build.name and len(os.fsencode(build.name)) <= 255
    p = Project.create(path)  # a build stopped only before its rename is swept
    assert not build.exists() and os.listdir(tmp_path) == [path.name]
    _killed_create(path, overwrite=True)  # a `dvos new --overwrite` stopped: its new build is left beside
    (build,) = [tmp_path / n for n in os.listdir(tmp_path) if n != path.name]
    _killed_create(tmp_path / f"{'c' * 239}.dvos")  # the build of another name is not this project's
    assert p.summary()["hidden_leftovers"] == [str(build)]
    found = check_project(p, models=False)
    # the killed overwrite held the writer lock of the project: its record is left, and named too
    assert [(f.kind, f.where) for f in found] == [("unfinished", "beside the project"), ("unfinished", "writer record")]
    assert str(build) in found[0].message and "was killed mid-write" in found[1].message


def test_a_name_over_the_limit_is_refused_naming_path_and_limit(tmp_path):
    path = tmp_path / f"{'d' * 256}.dvos"
    with pytest.raises(StoreError) as e:
        Project.create(path)
    text = str(e.value)
    assert str(path) in text and f"at most {_limit(tmp_path)} bytes" in text and "261 bytes" in text
    assert os.listdir(tmp_path) == []
    with pytest.raises(StoreError, match=f"the folder name '{'e' * 256}' in it is 256 bytes"):
        Project.create(tmp_path / ("e" * 256) / "p.dvos")
