"""The note (`dvos info`, `dvos check`, napari) for an unfinished smoothed set whose source was predicted again
said "finish it with `dvos smooth ...` (it resumes)", but `dvos smooth` starts that set over (with a warning): what
was smoothed came from the source's earlier masks. It now says so; a source deleted or made by a model trained
again since must be predicted again first."""

import numpy as np
import pytest

from dvos_core.store import Project
from dvos_core.store.notes import unfinished_note


@pytest.fixture
def half_smoothed(tmp_path):
    from dvos_core.infer import smooth_predictions

    p = Project.create(tmp_path / "field.dvos")
    p.add_video_array("v", np.zeros((6, 16, 16, 3), np.uint8))
    src = p.video("v").predictions["image"]
    src.start({"kind": "frame", "checkpoint": "image.pt", "threshold": 0.5}, "f1")
    src.set_many(range(4), np.full((4, 16, 16), 0.9, np.float32))  # 4 of 6 frames: the smoothed set is unfinished
    assert smooth_predictions(p, "v", "image") == 4
    return p


def _note(p):
    d = Project.open(p.path).summary()["videos"][0]["predictions_unfinished"]["image_smoothed"]
    return unfinished_note(p.path, "v", "image_smoothed", d)


def test_a_source_predicted_again_makes_smoothing_start_over_and_the_note_says_so(half_smoothed):
    from dvos_core.infer import smooth_predictions

    p = half_smoothed
    assert "(it resumes)" in _note(p)  # the source unchanged: smoothing resumes
    src = p.video("v").predictions["image"]
    src.start({"kind": "frame", "checkpoint": "image.pt", "threshold": 0.5}, "f2")  # predicted again...
    src.set_many(range(5), np.full((5, 16, 16), 0.8, np.float32))
    note = _note(p)
    assert "'image' was predicted again since it was smoothed" in note, note
    assert "it starts over, not resumes" in note and "dvos smooth" in note and "(it resumes)" not in note, note
    with pytest.warns(UserWarning, match="made again"):
        assert smooth_predictions(p, "v", "image") == 5  # every frame smoothed again, as the note says


def test_a_deleted_source_must_be_predicted_again_first(half_smoothed):
    p = half_smoothed
    p.delete_predictions("image")
    note = _note(p)
    assert "its source set 'image' was deleted since" in note, note
    assert "predict 'image' again first (`dvos predict" in note and "--name image" in note, note
    assert "(it resumes)" not in note, note
