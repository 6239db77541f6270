"""`dvos check` on a prediction set written from Python (``predictions["mine"].set`` on 4 of 6 frames, no model
recorded) said it "holds nothing yet: run the command that made it again", and named the delete command twice. It
now says the set was written without a record of the model, how many frames it holds, and the delete command once;
a set killed as it began (nothing in it, nothing recorded) keeps its note."""

import numpy as np

from dvos_core.cli import main as dvos
from dvos_core.store import Project
from dvos_core.store.check import check_project


def _notes(project):
    return [f.message for f in check_project(Project.open(project.path), models=False) if "predictions" in f.where]


def test_a_set_written_from_python_is_named_for_what_it_holds(tmp_path, capsys):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("v", np.zeros((6, 16, 16, 3), np.uint8))
    for t in range(4):
        v.predictions["mine"].set(t, np.full((16, 16), 0.9, np.float32))
    (note,) = _notes(p)
    assert note.startswith("4/6 frames predicted, written without a record of the model that made them")
    assert "holds nothing" not in note and "the command that made it" not in note
    assert note.count("dvos delete") == 1
    assert note.endswith(f"or delete the set (`dvos delete {p.path} predictions mine --videos v --yes`)")
    assert dvos(["info", str(p.path)]) == 0
    info = capsys.readouterr().out
    assert "mine: 4/6 frames predicted, written without a record of the model" in info
    assert info.count("dvos delete") == 1


def test_a_set_killed_as_it_began_keeps_its_note(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("v", np.zeros((6, 16, 16, 3), np.uint8))
    v.predictions["m"].arrays(create=True)  # killed before start() recorded anything
    (note,) = _notes(p)
    assert note.startswith("only 0/6 frames predicted (unfinished: interrupted, or run on some frames only); it holds")
    assert "it holds nothing yet: run the command that made it again (it takes the set over)" in note
    assert note.count("dvos delete") == 1


def test_a_finished_by_command_set_names_the_delete_command_once(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("v", np.zeros((6, 16, 16, 3), np.uint8))
    v.predictions["ctx"].start({"kind": "frame", "checkpoint": "/x/ctx.pt", "threshold": 0.5}, "f")
    v.predictions["ctx"].set_many([0, 1], np.zeros((2, 16, 16), np.float32))
    (note,) = _notes(p)
    assert "finish it with `dvos predict " in note and note.count("dvos delete") == 1
    assert note.endswith(f"or delete the set (`dvos delete {p.path} predictions ctx --videos v --yes`)")
