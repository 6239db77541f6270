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


def test_a_save_here_does_not_hide_another_programs_earlier_write(shown, qtbot):
    """The panel's own save took the store's new mark as seen, so a mask imported from a terminal just before stayed
    unshown (and painting that frame replaced it)."""
    viewer, ann, project, pseudo = shown
    layer = viewer.layers["v1 masks"]
    _other_program(project, [3], pseudo)  # the panel has not looked at the store since
    _paint(ann, layer, 0)
    assert ann.save_all() == [0]
    wait_loaded(qtbot, ann.state)
    np.testing.assert_array_equal(layer.data[3] > 0, pseudo[3] > 0)
    assert ann.state.check_store() is False  # and that write counts as seen


def _replace_video(project, seed: int = 9):
    """Another program deletes video v1 and adds another video under its id."""
    from dvos_core.store import Project

    frames, _ = tiny_clip(6, seed=seed)
    other = Project.open(project.path)
    other.delete_video("v1")
    other.add_video_array("v1", frames, split="train")
    return frames


def test_paint_on_a_video_deleted_and_added_again_is_never_saved_into_the_new_one(shown, qtbot):
    from dvos_napari._writer import write_labels

    viewer, ann, project, _ = shown
    layer = viewer.layers["v1 masks"]
    _paint(ann, layer, 2)
    _replace_video(project)
    with pytest.raises(ValueError, match="deleted and added again by another program"):
        ann.save_all()
    with pytest.raises(ValueError, match="deleted and added again by another program"):
        write_labels(str(project.path), np.asarray(layer.data), {"name": layer.name, "metadata": dict(layer.metadata)})
    assert ann.state.check_store()  # the look keeps the old layers, which hold the paint
    wait_loaded(qtbot, ann.state)
    assert viewer.layers["v1 masks"] is layer and int(layer.data[2].sum()) >= 100
    assert not np.asarray(viewer.layers["v1"].data[2]).any()  # blank: not the new video's frames under the paint
    project.add_video_array("v2", tiny_clip(6, seed=3)[0], split="train")
    ann.state.select_video("v2")
    with pytest.raises(ValueError, match="deleted and added again by another program"):
        ann.state.select_video("v1")
    assert ann.state.video_id == "v2"  # the refused switch leaves the video shown current
    assert not project.video("v1").provenance[:].any()  # nothing was saved into the new video


def test_a_video_deleted_and_added_again_without_unsaved_work_is_shown_anew(shown, qtbot):
    viewer, ann, project, _ = shown
    frames = _replace_video(project)
    assert ann.state.check_store()
    wait_loaded(qtbot, ann.state)
    np.testing.assert_array_equal(np.asarray(viewer.layers["v1"].data[0]), frames[0])  # the new video's frames
    layer = viewer.layers["v1 masks"]
    _paint(ann, layer, 1)
    assert ann.save_all() == [1]  # painted on the new video: saved into it
    assert int(project.video("v1").provenance[1]) == 1


def test_a_model_trained_elsewhere_is_seen_by_the_look_at_the_store(shown):
    """A training run writes its checkpoints inside models/NAME without the writer lock: the panel never saw the
    model (nor its run ending) until some other write."""
    _, ann, project, _ = shown
    folder = project.path / "models" / "elsewhere"
    folder.mkdir(parents=True)
    ann.state.notify_store_changed()  # the run's start (it takes the lock to make the folder) was seen
    assert ann.state.check_store() is False
    (folder / "best.pt").write_bytes(b"a checkpoint")  # the run's first checkpoint, no lock taken
    assert ann.state.check_store() is True
