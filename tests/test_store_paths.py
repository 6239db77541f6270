"""Project folders whose names Zarr would read as URLs: a path string with ``::`` is a chain of URLs to Zarr's fsspec
layer, so a project in a folder named ``plots::2026`` could neither be made nor opened ("No group found")."""

import numpy as np

from dvos_core.cli import main
from dvos_core.store import Project


def test_a_project_in_a_folder_named_with_double_colons_is_made_opened_and_read(tmp_path, capsys):
    where = tmp_path / "plots::2026" / "p.dvos"
    where.parent.mkdir()
    p = Project.create(where)
    v = p.add_video_array("v", np.full((3, 16, 16, 3), 7, np.uint8))
    v.set_mask(1, np.ones((16, 16), np.uint8))
    again = Project.open(where, mode="r")
    assert again.video("v").provenance.tolist() == [0, 1, 0] and int(again.video("v").frame(2)[0, 0, 0]) == 7
    assert not (tmp_path / "plots").exists()  # nothing written where the URL chain would point
    assert main(["check", str(where)]) == 0 and "every stored part reads" in capsys.readouterr().out
    assert main(["migrate", str(where)]) == 0
