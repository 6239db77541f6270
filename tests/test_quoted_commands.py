"""Commands dvos prints in its messages paste into a shell as they are: a project path with a space or non-ASCII
characters is quoted (it was printed bare, and ``dvos delete /tmp/x/projet é.dvos video v --yes`` split it)."""

import re
import shlex

import numpy as np

from dvos_core.cli import main
from dvos_core.shell import quote
from dvos_core.store import Project
from dvos_core.store.check import _unfinished

ODD = "projet é 中文 x.dvos"


def _commands(text: str) -> list[list[str]]:
    """The ``dvos ...`` commands between backquotes in ``text``, split as a shell would."""
    return [shlex.split(c) for c in re.findall(r"`(dvos [^`]+)`", text)]


def test_quote_leaves_plain_words_and_quotes_the_rest():
    assert quote("/tmp/a/field.dvos") == "/tmp/a/field.dvos"
    assert shlex.split(quote("/tmp/a b/é.dvos")) == ["/tmp/a b/é.dvos"]
    assert quote(None) == "PROJECT"


def test_add_video_with_a_taken_id_names_a_delete_command_that_pastes(tmp_path, capsys):
    path = tmp_path / ODD
    Project.create(path).add_video_array("video", np.zeros((2, 32, 32, 3), np.uint8))
    src = tmp_path / "video.npy"
    np.save(src, np.zeros((2, 32, 32, 3), np.uint8))
    assert main(["add-video", str(path), str(src)]) == 2
    [cmd] = _commands(capsys.readouterr().err)
    assert cmd == ["dvos", "delete", str(path), "video", "video", "--yes"]


def test_check_findings_name_commands_that_paste(tmp_path):
    path = str(tmp_path / ODD)
    summary = {
        "videos": [
            {"id": "v", "complete": False, "source": "/data/my plots.csv"},
            {"id": "w", "complete": True, "predictions_unfinished": {"m": {"done": 1, "frames": 2}}},
        ],
        "orphaned_objects": {"gone": {"head": 2}},
        "backgrounds_interrupted": ["b"],
    }
    cmds = [c for f in _unfinished(summary, path) for c in _commands(f.message)]
    assert ["dvos", "import-csv", path, "/data/my plots.csv"] in cmds
    assert ["dvos", "delete", path, "predictions", "m", "--videos", "w", "--yes"] in cmds
    assert ["dvos", "delete", path, "video", "gone", "--yes"] in cmds
    assert ["dvos", "delete", path, "background", "b", "--yes"] in cmds


def test_damaged_store_fixes_name_commands_that_paste(tmp_path):
    path = tmp_path / ODD
    project = Project.create(path)
    video = project.add_video_array("v", np.zeros((2, 32, 32, 3), np.uint8))
    sset = project.create_synthetic("s", 1, 2, 32, 32)
    assert ["dvos", "delete", str(path), "synthetic", "s", "--yes"] in _commands(sset._fix())
    assert ["dvos", "delete", str(path), "video", "v", "--yes"] in _commands(video._damage_fix())


def test_add_video_of_files_whose_made_up_ids_collide_says_so_and_names_id(tmp_path, capsys):
    """'中文.npy' and '日本.npy' keep no letter dvos uses in ids, so both become 'video': their names differ (it said
    'same name without extension'); the error names both files, the id and --id."""
    path = tmp_path / ODD
    Project.create(path)
    files = []
    for name in ("中文.npy", "日本.npy"):
        np.save(tmp_path / name, np.zeros((2, 32, 32, 3), np.uint8))
        files.append(str(tmp_path / name))
    assert main(["add-video", str(path), *files]) == 2
    err = capsys.readouterr().err
    assert f"{files[0]} and {files[1]} both give the video id 'video'" in err
    assert "same name" not in err
    assert ["dvos", "add-video", str(path), "FILE", "--id", "NAME"] in _commands(err)
    assert Project.open(path).video_ids() == []
