"""The Predict step, predicting again into a set made by a model trained since (or with other settings), replaced
its frames at once: it now asks first (Yes replaces them, No keeps them and predicts nothing). Run with xvfb-run."""

from __future__ import annotations

import os

import numpy as np
import pytest
from napari_helpers import dock, tiny_clip, wait_job

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _save_model(project, seed: int) -> None:
    import torch

    from dvos_core.model import build_model, save_checkpoint
    from dvos_core.train.config import TrainConfig

    torch.manual_seed(seed)
    d = project.model_dir("img", create=True)
    save_checkpoint(d / "best.pt", build_model("tiny", "frame"), phase="image")
    TrainConfig(phase="image").to_yaml(d / "config.yaml")


def _predict_step(viewer, project):
    """A 4-frame video 'v' and the image model 'img' in ``project``, chosen in the Predict step of ``viewer``."""
    frames, _ = tiny_clip(4)
    video = project.add_video_array("v", frames, split="train")
    _save_model(project, 0)
    pr = dock(viewer, "Predict")
    pr.state.set_project(project)
    pr.state.select_video("v")
    pr.device.setCurrentText("cpu")
    pr.checkpoint.setCurrentText("img")
    return video, pr


def test_predicting_again_with_a_model_trained_since_asks_before_replacing(
    make_napari_viewer, qtbot, tmp_project, monkeypatch
):
    from qtpy.QtWidgets import QMessageBox

    video, pr = _predict_step(make_napari_viewer(), tmp_project)
    asked, answers = [], []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append(a[2]) or answers.pop(0))
    wait_job(qtbot, pr.predict())
    assert asked == [] and video.predictions["img"].frames().tolist() == [0, 1, 2, 3]  # a new set: not asked
    wait_job(qtbot, pr.predict())  # the same model and settings: resumed, not asked
    assert asked == []
    made = video.predictions["img"].attrs["fingerprint"]

    _save_model(tmp_project, 1)  # trained again
    answers.append(QMessageBox.StandardButton.No)
    wait_job(qtbot, pr.predict())
    assert len(asked) == 1 and "'img'" in asked[0] and "v: 4 frames made by an earlier version of" in asked[0]
    assert video.predictions["img"].attrs["fingerprint"] == made  # kept
    assert "nothing predicted: the prediction set 'img' of v is kept as it was" in pr.messages.text()

    answers.append(QMessageBox.StandardButton.Yes)
    first = pr.predict()
    wait_job(qtbot, first)
    qtbot.waitUntil(lambda: pr.job is not first and pr.job.status is not None, timeout=120_000)  # predicted again
    assert pr.job.status == "ok" and len(asked) == 2
    assert video.predictions["img"].attrs["fingerprint"] != made
    assert video.predictions["img"].frames().tolist() == [0, 1, 2, 3] and pr.state.prediction_model == "img"


def test_a_refusal_that_reaches_the_step_names_its_answer_not_an_option():
    """Should the core refuse in the step after all (a set changed between the question and the run), the message
    names the step's way out, not the command's --replace."""
    from dvos_core.infer import PredictionSetReplaced
    from dvos_napari._errors import user_message

    text = user_message(PredictionSetReplaced("v", "img", 4, "m.pt with other settings: threshold 0.5 -> 0.3")).text
    assert "answer Yes to replace them, or type another name under 'save predictions as'" in text
    assert "--" not in text and "replace=True" not in text


def test_replacing_a_set_over_unsaved_corrections_shows_its_new_masks_and_saves_no_old_one(
    make_napari_viewer, qtbot, tmp_project, monkeypatch
):
    """A set replaced under the same name while its layer held an unsaved correction left the layer showing the old
    set, the Predict step said the new one was shown, and Save correction on a frame not painted stored the old
    set's mask as 'corrected'. Now the question names the correction, it is kept, the other frames show the new set."""
    import numpy as np
    from napari_helpers import prediction_set, wait_loaded
    from qtpy.QtWidgets import QMessageBox

    frames, gt = tiny_clip(4)
    video = tmp_project.add_video_array("v", frames, split="train")
    prediction_set(video, "img", np.zeros_like(gt) + 1)  # the old set: every pixel a head
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(tmp_project)
    rv.jump_to("v", 1)
    wait_loaded(qtbot, rv.state)
    layer = viewer.layers["v predicted"]
    layer.brush_size = 6
    layer.paint((1, 10, 10), 0)  # a correction of the old set, not saved
    painted = np.asarray(layer.data[1]).copy()
    _save_model(tmp_project, 0)  # 'img' trained again
    pr = dock(viewer, "Predict")
    pr.device.setCurrentText("cpu")
    pr.checkpoint.setCurrentText("img")
    pr.scope.setCurrentText("current video")
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    first = pr.predict()
    wait_job(qtbot, first)
    qtbot.waitUntil(lambda: pr.job is not first and pr.job.status is not None, timeout=120_000)
    wait_loaded(qtbot, rv.state)
    assert len(asked) == 1 and "You corrected 'img' without saving (v frames 1)" in asked[0]
    new = np.asarray(video.predictions["img"].masks([0, 1, 2, 3])) > 0
    assert not new[2].all()  # the new set differs from the old one
    for t in (0, 2, 3):
        np.testing.assert_array_equal(np.asarray(layer.data[t]) > 0, new[t])
    np.testing.assert_array_equal(layer.data[1], painted)
    assert "shows them but on frames [1], which keep your unsaved corrections" in pr.messages.text()
    viewer.dims.set_current_step(0, 2)
    assert rv.save_correction()
    np.testing.assert_array_equal(video.mask(2) > 0, new[2])  # the new set's mask, not the old one
    viewer.dims.set_current_step(0, 1)
    assert rv.save_correction()
    np.testing.assert_array_equal(video.mask(1) > 0, painted > 0)


def test_the_frames_just_predicted_are_read_into_the_layer_once(make_napari_viewer, qtbot, tmp_project, monkeypatch):
    """Showing a new prediction set read its masks twice on the main thread (choosing the set showed it, then the
    step showed the current video again)."""
    import dvos_napari._layers as layers

    video, pr = _predict_step(make_napari_viewer(), tmp_project)
    reads, load = [], layers.load_masks
    monkeypatch.setattr(
        layers, "load_masks", lambda layer, v, role, *a, **k: reads.append(role) or load(layer, v, role, *a, **k)
    )
    wait_job(qtbot, pr.predict())
    assert video.predictions["img"].frames().tolist() == [0, 1, 2, 3] and pr.state.prediction_model == "img"
    assert reads.count("predicted") == 1, reads
    layer = next(la for la in pr.viewer.layers if la.name == "v predicted")
    stored = video.predictions["img"].masks([0, 1, 2, 3]) > 0
    qtbot.waitUntil(lambda: np.array_equal(np.asarray(layer.data) > 0, stored))  # and the masks are there
    assert reads.count("predicted") == 1, reads

    wait_job(qtbot, pr.predict())  # the same set again (resumed, nothing new): shown again, once
    assert reads.count("predicted") == 2, reads
