"""`dvos new` on a disk it cannot write: the message fits making a project (not 'copy the project to a writable
disk', said of an existing one) and names the folder, not the hidden build folder inside it."""

from __future__ import annotations

import errno
import os

import pytest

from dvos_core.store import Project
from dvos_core.store import project as project_mod
from dvos_core.store.schema import StoreError


@pytest.mark.parametrize(
    "code, fix",
    [
        (errno.EROFS, "Choose a folder on a writable disk for the project"),
        (errno.EACCES, "Choose a folder you may write to for the project, or check that folder's permissions"),
    ],
)
def test_creating_on_a_disk_it_cannot_write_says_to_choose_another_folder(tmp_path, monkeypatch, code, fix):
    def refused(build):
        raise OSError(code, os.strerror(code), str(build / "zarr.json"))

    monkeypatch.setattr(project_mod, "_build_empty", refused)
    path = tmp_path / "p.dvos"
    with pytest.raises(StoreError) as e:
        Project.create(path)
    text = str(e.value)
    assert text.startswith(f"{path}: creating the project failed: ") and text.endswith(f"Nothing was created. {fix}")
    assert f": {tmp_path}. " in text and ".creating-" not in text and "Copy the project" not in text
    assert os.listdir(tmp_path) == []
