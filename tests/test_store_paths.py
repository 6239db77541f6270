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


def test_an_output_name_near_the_longest_allowed_is_written_whole(tmp_path):
    """A legal output name of 125 accented letters (250 bytes) failed with "File name too long", naming a hidden
    temporary file the user never asked for: the hidden name was 10 bytes longer."""
    import json
    import os

    from dvos_core.io.coco import write_json
    from dvos_core.io.output_paths import NAME_MAX, partial_path

    out = tmp_path / ("é" * 122 + ".json")
    assert len(os.fsencode(out.name)) <= NAME_MAX < len(os.fsencode(f".{out.stem}.partial.json"))
    hidden = partial_path(out)
    assert hidden.name.startswith(".") and hidden.suffix == ".json" and len(os.fsencode(hidden.name)) <= NAME_MAX
    assert partial_path(out) == hidden and partial_path(tmp_path / "a.png").name == ".a.partial.png"
    write_json(out, {"images": []})
    assert json.loads(out.read_text()) == {"images": []} and sorted(p.name for p in tmp_path.iterdir()) == [out.name]
