"""Paint not saved yet on a frame whose stored mask another program wrote meanwhile (run with xvfb-run): it is saved
by what the person painted over (a frame shown empty: 'manual', not 'corrected' of a pseudo-label nobody saw), and
the step says which mask it replaced. The paint is never lost."""

from __future__ import annotations

import os

import numpy as np
import pytest
from napari_helpers import shown_in, tiny_clip, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture
def shown(make_napari_viewer, qtbot, tmp_project):
    """A video without masks shown in the Annotate step, and a pseudo mask (what `dvos pseudo-label` writes)."""
    frames, gt = tiny_clip(6, seed=5)
    tmp_project.add_video_array("v1", frames, split="train")
    viewer = make_napari_viewer()
    ann = shown_in(viewer, qtbot, "Annotate", tmp_project, "v1")
    return viewer, ann, tmp_project, (gt > 0).astype(np.uint8)


def _paint(ann, layer, t):
    layer.data[t][10:20, 10:20] = 1
    ann.state.mark_dirty("v1", [t])


def _other_program(project, frames, pseudo):
    """Another process writes pseudo masks (its own handle on the project)."""
    from dvos_core.store import Project

    video = Project.open(project.path).video("v1")
    for t in frames:
        video.set_mask(t, pseudo[t], "pseudo")


def test_paint_on_a_frame_pseudo_labelled_meanwhile_is_saved_as_manual_and_said(shown, qtbot):
    viewer, ann, project, pseudo = shown
    layer = viewer.layers["v1 masks"]
    _paint(ann, layer, 2)  # painted on a frame shown empty
    _other_program(project, [2, 3], pseudo)
    ann.state.store_stamp = None  # as if the look at the store found the other program's write
    ann.state.check_store()
    wait_loaded(qtbot, ann.state)
    assert layer.data[2][10:20, 10:20].all() and int(layer.data[2].sum()) == 100  # the paint is kept
    np.testing.assert_array_equal(layer.data[3] > 0, pseudo[3] > 0)  # the frame not painted shows the new mask
    _paint(ann, layer, 3)  # painted over the pseudo mask it shows: a correction
    assert ann.save_all() == [2, 3]
    video = project.video("v1")
    assert int(video.provenance[2]) == 1  # manual: what the person did
    assert int(video.provenance[3]) == 4  # corrected: the pseudo mask was shown and edited
    assert int(video.mask(2).sum()) == 100
    text = ann.messages.label.text()
    assert "frame 2 saved as 'manual' over its 'pseudo' mask" in text and "v1" in text
    assert "frame 3" not in text  # its pseudo mask was shown: nothing replaced unseen


def test_save_frame_before_the_panel_looked_at_the_store_is_saved_as_manual_and_said(shown):
    viewer, ann, project, pseudo = shown
    layer = viewer.layers["v1 masks"]
    _paint(ann, layer, 4)
    _other_program(project, [4], pseudo)  # not noticed yet: the layer still shows frame 4 empty
    viewer.dims.set_current_step(0, 4)
    assert ann.save_frame(4)
    video = project.video("v1")
    assert int(video.provenance[4]) == 1 and int(video.mask(4).sum()) == 100
    assert "frame 4 saved as 'manual' over its 'pseudo' mask" in ann.messages.label.text()


def test_frames_saved_here_are_not_taken_for_another_programs_write(shown, qtbot):
    viewer, ann, project, pseudo = shown
    layer = viewer.layers["v1 masks"]
    _paint(ann, layer, 1)
    assert ann.save_all() == [1]
    layer.data[1][30:34, 30:34] = 1  # painted again after its save
    ann.state.mark_dirty("v1", [1])
    _other_program(project, [5], pseudo)  # another frame written elsewhere
    ann.state.store_stamp = None
    ann.state.check_store()
    wait_loaded(qtbot, ann.state)
    ann.messages.info("")
    assert ann.save_all() == [1]
    assert int(project.video("v1").provenance[1]) == 1
    assert ann.messages.label.text() == ""


def test_file_save_of_the_masks_layer_saves_such_paint_as_manual_and_warns(shown):
    from dvos_napari._writer import write_labels

    viewer, ann, project, pseudo = shown
    layer = viewer.layers["v1 masks"]
    _paint(ann, layer, 2)
    _other_program(project, [2], pseudo)
    meta = {"name": layer.name, "metadata": dict(layer.metadata)}
    with pytest.warns(UserWarning, match="frame 2 saved as 'manual' over its 'pseudo' mask"):
        write_labels(str(project.path), np.asarray(layer.data), meta)
    assert int(project.video("v1").provenance[2]) == 1
