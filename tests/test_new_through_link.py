"""`dvos new link.dvos --overwrite`, link.dvos a symbolic link to a project elsewhere, renamed the link aside as the
"old project" and put a new project in its place: the link stayed beside it as a hidden ``.link.dvos.replaced-*``
(its rmtree refused a link, silently) and the project it pointed to was left as it was. It is now refused, naming
the project the link points to and how to replace it or make a new project at the link's path; nothing changes."""

import os

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.store import Project


def _listing(folder):
    return sorted(os.listdir(folder))


def test_overwrite_through_a_link_is_refused_naming_its_project(tmp_path, capsys):
    real = Project.create(tmp_path / "elsewhere" / "real.dvos")
    real.add_video_array("v", np.zeros((2, 8, 8, 3), np.uint8))
    link = tmp_path / "link.dvos"
    link.symlink_to(real.path)
    before = _listing(tmp_path)
    assert main(["new", str(link), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"{link} is a symbolic link to the dvos project {real.path}" in err
    assert f"`dvos new {real.path} --overwrite`" in err and f"remove the link first (`rm {link}`)" in err
    assert _listing(tmp_path) == before and link.is_symlink()  # no hidden leftover, the link kept
    assert Project.open(link).video_ids() == ["v"]  # the project it points to as it was


@pytest.mark.parametrize("target", ["nowhere.dvos", "empty"])
def test_no_project_is_created_through_a_link(tmp_path, capsys, target):
    (tmp_path / "empty").mkdir()
    link = tmp_path / "link.dvos"
    link.symlink_to(tmp_path / target)
    before = _listing(tmp_path)
    assert main(["new", str(link)]) == 2
    err = capsys.readouterr().err
    assert f"{link} is a symbolic link to {tmp_path / target}" in err and f"`dvos new {tmp_path / target}`" in err
    assert _listing(tmp_path) == before and _listing(tmp_path / "empty") == []
