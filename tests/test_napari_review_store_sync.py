"""The Review step's predicted layer and the project stay in step (run with xvfb-run): File > Save of a layer the
panel tracks writes only its painted frames, a set predicted again from a terminal is read again, a correction saved
before is not replaced by the model's mask unasked, and a stroke undone is nothing to save."""

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


@pytest.fixture
def field(make_napari_viewer, qtbot, tmp_project):
    """A training video predicted by 'model' (shifted masks), shown in the Review step."""
    frames, gt = tiny_clip(6, seed=4)
    v = tmp_project.add_video_array("field", frames, split="train")
    shifted = np.roll(gt, 7, axis=2)
    prediction_set(v, "model", shifted)
    viewer = make_napari_viewer()
    rv = shown_in(viewer, qtbot, "Review", tmp_project, "field")
    return viewer, rv, tmp_project, gt, shifted


def test_the_predicted_layer_is_tracked_through_the_proxy_napari_hands_the_panel(field):
    """The panel tracked napari's proxy of the layer, and the File menu's writer (handed the layer itself) took it
    for untracked: it compared every frame with the store and wrote frames nobody painted."""
    from dvos_napari import _layers
    from dvos_napari._writer import write_labels

    viewer, rv, project, gt, _shifted = field
    assert _layers.is_tracked(viewer.layers["field predicted"], rv.state)
    assert _layers.is_tracked(viewer.layers["field masks"], rv.state)
    prediction_set(project.video("field"), "model", gt)  # predicted again elsewhere, not yet read here
    layer = viewer.layers["field predicted"]
    layer.data[1] = 0  # the one frame painted here: every head erased
    _layers._CORRECTIONS.setdefault(layer, set()).add(1)
    meta = {"name": layer.name, "metadata": dict(layer.metadata)}
    write_labels(str(project.path), np.asarray(layer.data), meta)
    assert project.video("field").labelled_frames().tolist() == [1]  # not every frame that differs from the store
    assert _layers.unsaved_corrections(viewer, "field") == []


def test_a_set_predicted_again_from_a_terminal_is_read_into_the_layer_again(field, qtbot):
    viewer, rv, project, gt, shifted = field
    np.testing.assert_array_equal(viewer.layers["field predicted"].data, shifted)
    prediction_set(project.video("field"), "model", gt)  # `dvos predict ... --name model` again, elsewhere
    rv.state.store_stamp = None  # as if the look found another program's write
    rv.state.check_store()
    wait_loaded(qtbot, rv.state)
    np.testing.assert_array_equal(viewer.layers["field predicted"].data, gt)


def test_a_correction_saved_before_is_not_replaced_by_the_models_mask_unasked(field, qtbot):
    viewer, rv, project, gt, _shifted = field
    video = project.video("field")
    video.set_mask(2, np.zeros_like(gt[2]), "corrected")  # "no heads here", saved in an earlier session
    rv.jump_to("field", 2)
    wait_loaded(qtbot, rv.state)
    assert "already holds a correction" in rv.fix_info.text()
    with pytest.raises(ValueError, match="holds a correction saved before, which the predicted layer does not show"):
        rv.save_correction()
    assert not video.mask(2).any()
    assert not rv.save_correction(replace_painted=lambda v, t: False)  # asked, and No: kept
    assert not video.mask(2).any()
    viewer.layers["field predicted"].data[2] = gt[2]
    assert rv.save_correction(replace_painted=True)
    np.testing.assert_array_equal(video.mask(2), gt[2])
    viewer.layers["field predicted"].data[2] = 0  # fixed again here: its own correction, no question
    assert rv.save_correction()
    assert not video.mask(2).any()


def test_a_stroke_undone_on_the_predicted_layer_is_nothing_to_save(field):
    from dvos_napari import _layers

    viewer, _rv, _project, _gt, shifted = field
    layer = viewer.layers["field predicted"]
    layer.data[3] = 1  # painted...
    _layers._CORRECTIONS.setdefault(layer, set()).add(3)
    assert _layers.unsaved_corrections(viewer, "field") == [3]
    layer.data[3] = shifted[3]  # ... and undone
    assert _layers.unsaved_corrections(viewer, "field") == []


def test_a_set_predicted_again_over_unsaved_corrections_keeps_them_and_shows_the_new_masks_elsewhere(field, qtbot):
    """The layer of a set predicted again under its name (`dvos predict --replace`) was kept whole while it held an
    unsaved correction, and Save correction on a frame not painted stored the old set's mask as 'corrected'."""
    viewer, rv, project, gt, _shifted = field
    video = project.video("field")
    layer = viewer.layers["field predicted"]
    rv.jump_to("field", 1)
    wait_loaded(qtbot, rv.state)
    layer.brush_size, layer.selected_label = 6, 1
    layer.paint((1, 5, 5), 1)
    painted = np.asarray(layer.data[1]).copy()
    prediction_set(video, "model", gt)  # predicted again elsewhere, not noticed yet
    viewer.dims.set_current_step(0, 2)
    with pytest.raises(ValueError, match="predicted again since; the frames you did not paint are read again"):
        rv.save_correction()  # never the old set's mask
    assert int(video.provenance[2]) == 0
    wait_loaded(qtbot, rv.state)
    for t in (0, 2, 3, 4, 5):
        np.testing.assert_array_equal(layer.data[t], gt[t])
    np.testing.assert_array_equal(layer.data[1], painted)  # the correction is kept
    assert rv.save_correction()
    np.testing.assert_array_equal(video.mask(2) > 0, gt[2] > 0)

    prediction_set(video, "model", np.roll(gt, 3, axis=1))  # again, noticed by the look at the store this time
    rv.state.store_stamp = None
    rv.state.check_store()
    wait_loaded(qtbot, rv.state)
    np.testing.assert_array_equal(layer.data[4], np.roll(gt, 3, axis=1)[4])
    np.testing.assert_array_equal(layer.data[1], painted)
    viewer.dims.set_current_step(0, 1)
    assert rv.save_correction()
    np.testing.assert_array_equal(video.mask(1) > 0, painted > 0)


def test_file_save_of_a_masks_layer_renamed_to_end_in_predicted_saves_its_paint(field, qtbot):
    """File > Save Layers of the masks layer renamed 'field masks (mine) predicted' was taken for the predicted
    layer: the writer saved the Review correction's frame from the masks layer (an empty 'corrected' mask), marked
    that correction saved and left the masks paint unsaved. The layer's dvos role decides, not its name."""
    from napari.plugins.io import save_layers

    from dvos_napari._close_guard import unsaved_work

    viewer, rv, project, _gt, _shifted = field
    video = project.video("field")
    masks, predicted = viewer.layers["field masks"], viewer.layers["field predicted"]
    masks.brush_size = predicted.brush_size = 5
    masks.paint((1, 40, 40), 1)
    predicted.paint((2, 40, 40), 1)
    masks.name = "field masks (mine) predicted"
    assert save_layers(str(project.path), [masks], plugin="dvos-napari") == [str(project.path)]
    assert video.provenance.tolist() == [0, 1, 0, 0, 0, 0]  # the masks paint, as 'manual'; frame 2 untouched
    np.testing.assert_array_equal(video.mask(1), (np.asarray(masks.data[1]) != 0).astype(np.uint8))
    assert unsaved_work(viewer, rv.state) == ["field: corrected frame 2"]  # the correction is still unsaved
    with pytest.warns(UserWarning, match="nothing was saved to video 'field'"):  # saved already: said, no path
        assert save_layers(str(project.path), [masks], plugin="dvos-napari") == []


def test_save_correction_after_the_predicted_layer_was_deleted_shows_it_again_and_saves_nothing(field, qtbot):
    """C after the user deleted 'field predicted' showed the layer again and said the predictions were still being
    read (or, read at once, could save the model's unedited mask as a correction): now, as S after the masks layer
    was deleted, it is shown again and nothing is saved, saying why."""
    from dvos_napari._layers import video_layer

    viewer, rv, project, _gt, shifted = field
    video = project.video("field")
    layer = viewer.layers["field predicted"]
    rv.jump_to("field", 1)
    wait_loaded(qtbot, rv.state)
    layer.brush_size, layer.selected_label = 6, 1
    layer.paint((1, 5, 5), 1)  # a correction, not saved
    viewer.layers.remove(layer)  # the user deletes the layer (select it, then the trash button)
    assert rv.save_correction_asking() is False
    assert rv.fix_info.text().startswith("nothing saved: the predicted layer of field had been removed")
    assert "shown again with the masks predicted by model" in rv.fix_info.text()
    assert video_layer(viewer, "field", "predicted") is not None and video.labelled_frames().tolist() == []
    wait_loaded(qtbot, rv.state)
    np.testing.assert_array_equal(viewer.layers["field predicted"].data, shifted)  # the model's masks, unedited
    assert rv.save_correction(1)  # pressed again: the mask shown is accepted as the user sees it
    np.testing.assert_array_equal(video.mask(1) > 0, shifted[1] > 0)


def test_save_correction_on_predictions_never_shown_still_waits_for_their_read(field, qtbot):
    """A video shown before it had predictions: C shows them and asks to wait for their read (no word of a layer
    removed), then saves; the predicted layer set aside meanwhile is never saved from."""
    viewer, rv, project, gt, _shifted = field
    frames, _ = tiny_clip(4, seed=8)
    other = project.add_video_array("other", frames, split="train")
    rv.state.select_video("other")
    wait_loaded(qtbot, rv.state)
    prediction_set(other, "model", gt[:4])  # predicted meanwhile, elsewhere
    viewer.dims.set_current_step(0, 2)
    with pytest.raises(ValueError, match="still being read"):
        rv.save_correction()
    assert "removed" not in rv.fix_info.text()
    wait_loaded(qtbot, rv.state)
    assert rv.save_correction()
    np.testing.assert_array_equal(other.mask(2) > 0, gt[2] > 0)
