"""Masks edited from code (run with xvfb-run): a ``masks`` or ``predicted`` layer whose data is replaced
(``layer.data = ...``, as napari's console, a script or another plugin does) has its frames compared with the project
when dvos next asks what is unsaved, so Save all painted saves the frames that differ, and closing napari asks about
them; a layer whose data was not replaced is never compared whole, and dvos's own replacements (a layer re-used for
another video) are no edit."""

from __future__ import annotations

import os

import numpy as np
import pytest
from napari_helpers import prediction_set, shown_in, tiny_clip, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _open(make_napari_viewer, qtbot, project, step: str, video: str, role: str):
    """A viewer with the dvos step ``step`` on ``project``, ``video`` shown: (viewer, step, its ``role`` layer)."""
    viewer = make_napari_viewer()
    widget = shown_in(viewer, qtbot, step, project, video)
    return viewer, widget, viewer.layers[f"{video} {role}"]


@pytest.fixture
def compared(monkeypatch):
    """The frames whose label mask dvos compared with the layer, call after call."""
    import dvos_napari._layers as layers

    calls, real = [], layers.differs_from_label

    def counted(video, data, t):
        calls.append(int(t))
        return real(video, data, t)

    monkeypatch.setattr(layers, "differs_from_label", counted)
    return calls


def test_masks_replaced_from_code_are_saved_by_save_all_and_asked_about_at_close(
    make_napari_viewer, qtbot, tmp_project, compared
):
    from dvos_core.store.schema import MANUAL
    from dvos_napari._close_guard import unsaved_work

    frames, masks = tiny_clip(6)
    v = tmp_project.add_video_array("a", frames, split="train")
    v.set_mask(3, masks[3], "manual")
    viewer, ann, layer = _open(make_napari_viewer, qtbot, tmp_project, "Annotate", "a", "masks")
    state = ann.state
    layer.paint((2, 5, 5), 1)  # the brush: its frame is known at once
    assert unsaved_work(viewer, state) == ["a: painted mask frame 2"] and compared == [2]  # no other frame read
    compared.clear()
    data = layer.data
    data[1] = np.where(masks[1] > 0, 7, 0)  # a label map written from code (instance ids), then given back
    layer.data = data
    assert compared == []  # compared when dvos asks, not at each replacement
    assert "masks replaced from code" in ann.info.text()
    assert unsaved_work(viewer, state) == ["a: painted mask frames 1, 2"]
    assert sorted(set(compared)) == [1, 2, 3]  # every frame holding a mask (empty ones are not annotated)
    compared.clear()
    assert unsaved_work(viewer, state) == ["a: painted mask frames 1, 2"] and compared == [1, 2]  # once per replacement
    assert ann.save_all() == [1, 2]
    assert np.array_equal(v.mask(1) != 0, masks[1] != 0) and v.provenance[1] == MANUAL
    assert v.provenance[3] == MANUAL and np.array_equal(v.mask(3) != 0, masks[3] != 0)  # as stored: not re-saved
    assert unsaved_work(viewer, state) == [] and state.dirty["a"] == set()
    layer.data = layer.data  # replaced with what the project holds: nothing to save
    assert ann.save_all() == [] and unsaved_work(viewer, state) == []


def test_a_layer_reused_for_another_video_is_no_edit_and_replaced_data_keeps_its_layers(
    make_napari_viewer, qtbot, tmp_project
):
    from dvos_napari._close_guard import unsaved_work
    from dvos_napari._layers import is_replaced, video_layer

    frames, masks = tiny_clip(6)
    for vid in ("a", "b", "c"):
        tmp_project.add_video_array(vid, frames, split="train")
    viewer, ann, layer = _open(make_napari_viewer, qtbot, tmp_project, "Annotate", "a", "masks")
    state = ann.state
    state.select_video("b")  # a's saved layers are re-used: dvos replaces their data itself
    wait_loaded(qtbot, state)
    reused = video_layer(viewer, "b", "masks")
    assert reused is layer and not is_replaced(viewer, "b")
    data = reused.data.copy()
    data[4] = masks[4]
    reused.data = data
    state.select_video("c")  # b's replaced data differs from the project: its layers stay, with the edit
    wait_loaded(qtbot, state)
    assert video_layer(viewer, "b", "masks") is reused and np.array_equal(reused.data[4], masks[4])
    assert video_layer(viewer, "c", "masks") is not reused
    assert unsaved_work(viewer, state) == ["b: painted mask frame 4"]


def test_predicted_data_replaced_from_code_is_an_unsaved_correction(make_napari_viewer, qtbot, tmp_project):
    from dvos_napari._close_guard import unsaved_work
    from dvos_napari._layers import unsaved_corrections

    frames, masks = tiny_clip(6)
    v = tmp_project.add_video_array("plot", frames, split="val")
    pred = np.zeros_like(masks)
    pred[:, 10:30, 10:30] = 1
    prediction_set(v, "m", pred)
    viewer, rv, layer = _open(make_napari_viewer, qtbot, tmp_project, "Review", "plot", "predicted")
    data = layer.data.copy()
    data[2] = 0  # every head of frame 2 erased from code: its right answer is "no heads"
    data[4, 40:50, 40:50] = 3
    layer.data = data
    assert unsaved_corrections(viewer, "plot") == [2, 4]
    assert unsaved_work(viewer, rv.state) == ["plot: corrected frames 2, 4"]
    viewer.dims.set_current_step(0, 4)
    assert rv.save_correction()
    assert np.array_equal(v.mask(4) != 0, data[4] != 0)
    assert unsaved_corrections(viewer, "plot") == [2]


def test_replaced_data_of_another_shape_is_named_not_lost(make_napari_viewer, qtbot, tmp_project):
    from dvos_napari._close_guard import unsaved_work

    v = tmp_project.add_video_array("a", tiny_clip(6)[0], split="train")
    viewer, ann, layer = _open(make_napari_viewer, qtbot, tmp_project, "Annotate", "a", "masks")
    layer.data = np.ones((6, 32, 32), np.uint8)  # not one mask per frame of the video
    assert unsaved_work(viewer, ann.state) == [
        "a: the masks layer's data, replaced from code (not comparable with the project)"
    ]
    with pytest.raises(ValueError, match=r"has shape \(6, 32, 32\), but video 'a' is \(6, 64, 64\)"):
        ann.save_all()
    assert not v.provenance[:].any()


def test_masks_replaced_from_code_survive_a_reread_after_another_programs_write(make_napari_viewer, qtbot, tmp_project):
    from dvos_core.store import Project

    frames, masks = tiny_clip(6)
    tmp_project.add_video_array("a", frames, split="train")
    _viewer, ann, layer = _open(make_napari_viewer, qtbot, tmp_project, "Annotate", "a", "masks")
    state = ann.state
    data = layer.data
    data[1] = masks[1]
    layer.data = data
    other = Project.open(tmp_project.path).video("a")
    other.set_mask(4, masks[4], "manual")  # another program (a terminal, another window) saves frame 4
    state.reread_stored_masks()  # as check_store does once it has finished
    wait_loaded(qtbot, state)
    assert np.array_equal(layer.data[1], masks[1]) and np.array_equal(layer.data[4] != 0, masks[4] != 0)
    assert state.dirty["a"] == {1}
    data = layer.data
    data[2] = masks[2]
    data[5] = masks[5]  # both changed from code; the other program then writes frame 5 (known now): its mask wins
    layer.data = data
    other.set_mask(5, np.zeros_like(masks[5]), "manual")
    state.reread_stored_masks()
    wait_loaded(qtbot, state)
    assert not layer.data[5].any() and np.array_equal(layer.data[2], masks[2])
    assert ann.save_all() == [1, 2]
