"""Leaving a video with predictions for one without keeps its predicted and probability layers (set aside: hidden,
blank, read-only, of no video) instead of removing them, which cost napari a garbage collection (0.6-1.3 s) at every
such switch; nothing saves, counts or refreshes them, and the next video with predictions takes them back (run with
xvfb-run)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from napari_helpers import dock, prediction_set, tiny_clip, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture
def shown(make_napari_viewer, qtbot, tmp_project):
    """Videos 'a' and 'c' predicted by 'model', 'b' (another size) not predicted; 'a' shown in the Review step."""
    frames, gt = tiny_clip(6, seed=4)
    prediction_set(tmp_project.add_video_array("a", frames, split="train"), "model", gt)
    tmp_project.add_video_array("b", np.zeros((4, 32, 48, 3), np.uint8), split="train")
    frames_c, gt_c = tiny_clip(5, seed=6)
    prediction_set(tmp_project.add_video_array("c", frames_c, split="train"), "model", gt_c)
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(tmp_project)
    rv.state.select_video("a")
    wait_loaded(qtbot, rv.state)
    return viewer, rv, gt_c


def test_the_prediction_layers_are_set_aside_not_removed_and_taken_back(shown, qtbot):
    from dvos_napari import _layers
    from dvos_napari._close_guard import unsaved_work

    viewer, rv, gt_c = shown
    predicted, probability = viewer.layers["a predicted"], viewer.layers["a probability"]
    removed = []
    viewer.layers.events.removed.connect(lambda e: removed.append(e.value.name))
    rv.state.select_video("b")
    wait_loaded(qtbot, rv.state)
    assert removed == []  # no layer left the viewer (each removal cost napari a garbage collection)
    assert _layers.video_layer(viewer, "b", "predicted") is None
    assert _layers.video_layer(viewer, "a", "predicted") is None
    for layer in (predicted, probability):
        assert any(x is layer for x in viewer.layers)
        assert not layer.visible and tuple(layer.data.shape) == (4, 32, 48) and not np.asarray(layer.data).any()
        assert not (layer.metadata or {}).get("dvos_video")
    assert not predicted.editable
    assert viewer.dims.range[-3].stop == 3  # the slider keeps the length of 'b', not of the video left
    assert unsaved_work(viewer, rv.state) == [] and _layers.unsaved_corrections(viewer, "b") == []
    with pytest.raises(ValueError, match="has no predictions"):
        rv.save_correction(0)  # never taken for b's predictions
    assert rv.state.project.video("b").labelled_frames().tolist() == []

    rv.state.select_video("c")  # predicted: the layers set aside are taken back
    wait_loaded(qtbot, rv.state)
    assert removed == []
    assert viewer.layers["c predicted"] is predicted and viewer.layers["c probability"] is probability
    assert predicted.visible and predicted.editable and not probability.visible  # as they were seen before
    np.testing.assert_array_equal(predicted.data, gt_c)
    assert _layers.shown_model(viewer, "c") == "model"


def test_a_model_that_did_not_predict_the_video_sets_its_layers_aside(shown, qtbot):
    from dvos_napari import _layers

    viewer, rv, _gt_c = shown
    predicted = viewer.layers["a predicted"]
    removed = []
    viewer.layers.events.removed.connect(lambda e: removed.append(e.value.name))
    rv.state.set_prediction_model("other")  # predicted nothing here: no 'a predicted' to correct
    assert removed == [] and _layers.video_layer(viewer, "a", "predicted") is None
    assert not predicted.visible and not np.asarray(predicted.data).any() and predicted.data.shape[0] == 6
    rv.state.set_prediction_model(None)
    wait_loaded(qtbot, rv.state)
    assert viewer.layers["a predicted"] is predicted and predicted.visible and np.asarray(predicted.data).any()
