"""The frame dvos saves is the frame the video's layers show (also when the slider's steps are not the video's
frames: a layer of another time scale, a translate along time), and a copy napari makes of a dvos layer (Duplicate
Layer) is a layer of the user's own, never taken for the layer it copies (run with xvfb-run)."""

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


def _shown(viewer, qtbot, project, name="Annotate"):
    step = dock(viewer, name)
    step.state.set_project(project)
    step.state.select_video("a")
    wait_loaded(qtbot, step.state)
    return step


def _no_questions(monkeypatch):
    from qtpy.QtWidgets import QMessageBox

    def asked(*args, **kwargs):
        raise AssertionError(f"asked: {args[2]}")

    monkeypatch.setattr(QMessageBox, "question", staticmethod(asked))


def test_save_frame_saves_the_frame_shown_when_another_layer_halves_the_time_step(
    make_napari_viewer, qtbot, tmp_project, monkeypatch
):
    frames, _ = tiny_clip(6)
    video = tmp_project.add_video_array("a", frames, split="train")
    viewer = make_napari_viewer()
    ann = _shown(viewer, qtbot, tmp_project)
    viewer.add_image(np.zeros((12, 64, 64), np.float32), name="mine", scale=(0.5, 1, 1))  # 12 steps of 0.5
    layer = viewer.layers["a masks"]
    _no_questions(monkeypatch)
    viewer.dims.set_point(0, 3.0)  # step 6: past the video's 6 steps, yet its frame 3 is shown
    assert ann.state.current_frame() == 3
    layer.paint((3, 20, 20), 1)
    assert ann.save_frame_asking()
    viewer.dims.set_point(0, 2.0)  # step 4, frame 2 shown
    layer.paint((2, 20, 20), 1)
    assert ann.save_frame_asking()
    assert video.provenance[:].tolist() == [0, 0, 1, 1, 0, 0]
    assert video.mask(2).any() and video.mask(4) is None
    ann.goto(5)  # the seed list and N jump to the frame as the layers show it
    assert ann.state.current_frame() == 5 and viewer.dims.point[0] == 5.0
    ann.clear_frame()
    assert video.provenance[:].tolist() == [0, 0, 1, 1, 0, 0]  # frame 5 held nothing: frame 2 is not cleared


def test_save_frame_and_correction_follow_a_translate_along_time(make_napari_viewer, qtbot, tmp_project, monkeypatch):
    frames, gt = tiny_clip(6)
    video = tmp_project.add_video_array("a", frames, split="train")
    prediction_set(video, "m", gt)
    viewer = make_napari_viewer()
    ann = _shown(viewer, qtbot, tmp_project)
    rv = dock(viewer, "Review")
    wait_loaded(qtbot, ann.state)
    _no_questions(monkeypatch)
    masks, predicted = viewer.layers["a masks"], viewer.layers["a predicted"]
    masks.translate = (2, 0, 0)
    predicted.translate = (1, 0, 0)
    viewer.dims.set_current_step(0, 4)  # the masks layer shows its frame 2, the predicted layer its frame 3
    masks.paint((2, 20, 20), 1)
    assert ann.save_frame()
    assert rv.save_correction()
    assert video.provenance[:].tolist() == [0, 0, 1, 4, 0, 0]
    viewer.dims.set_current_step(0, 1)  # before the masks layer's first frame
    with pytest.raises(ValueError, match="before the first frame of video 'a'"):
        ann.save_frame()
    rv.jump_to("a", 5)
    assert rv.state.current_frame(predicted) == 5 and viewer.dims.current_step[0] == 6


@pytest.fixture
def told(monkeypatch) -> list:
    """The info messages napari is given to show."""
    import napari.utils.notifications as notifications

    said: list = []
    monkeypatch.setattr(notifications, "show_info", said.append)
    return said


def _duplicate(viewer, qtbot, name):
    from napari.layers._layer_actions import _duplicate_layer

    viewer.layers.selection = {viewer.layers[name]}
    _duplicate_layer(viewer.layers)
    qtbot.wait(50)  # a layer dropped as shown twice would leave on the next turn of the event loop
    return viewer.layers[f"{name} copy"]


def test_a_copy_of_the_predicted_layer_is_the_users_and_its_paint_is_not_saved_as_the_original(
    make_napari_viewer, qtbot, tmp_project, monkeypatch, told
):
    frames, gt = tiny_clip(6)
    video = tmp_project.add_video_array("a", frames, split="train")
    prediction_set(video, "m", gt)
    viewer = make_napari_viewer()
    rv = _shown(viewer, qtbot, tmp_project, "Review")
    copy = _duplicate(viewer, qtbot, "a predicted")
    assert not any(k.startswith("dvos_") for k in copy.metadata)
    assert any(
        "'a predicted copy' is a copy of 'a predicted'" in m and "(Save correction saves that one)" in m for m in told
    )
    copy.brush_size = 10
    copy.paint((2, 55, 55), 1)
    viewer.dims.set_current_step(0, 2)
    assert rv.state.current_frame() == 2
    with pytest.raises(ValueError, match="painted in 'a predicted copy', a copy of 'a predicted'"):
        rv.save_correction()
    assert video.provenance[2] == 0  # the untouched prediction is not stored as the user's correction
    viewer.layers.remove(copy)
    assert rv.save_correction()  # without the copy, the prediction shown is accepted as it is
    assert video.provenance[2] == 4


def test_a_copy_of_the_masks_layer_stays_as_the_users_and_save_frame_refuses_its_paint(
    make_napari_viewer, qtbot, tmp_project, monkeypatch, told
):
    frames, gt = tiny_clip(6)
    video = tmp_project.add_video_array("a", frames, split="train")
    video.set_mask(1, gt[1], "pseudo")
    viewer = make_napari_viewer()
    ann = _shown(viewer, qtbot, tmp_project)
    masks = viewer.layers["a masks"]
    masks.paint((3, 20, 20), 1)  # unsaved paint in the masks layer stays its own
    copy = _duplicate(viewer, qtbot, "a masks")
    assert copy in viewer.layers and masks in viewer.layers
    assert not any(k.startswith("dvos_") for k in copy.metadata)
    assert any("'a masks copy' is a copy of 'a masks'" in m for m in told)
    assert ann.state.dirty == {"a": {3}}
    copy.paint((1, 50, 50), 1)
    assert ann.state.dirty == {"a": {3}}  # the copy's paint is the user's own layer's, not unsaved dvos paint
    viewer.dims.set_current_step(0, 1)
    with pytest.raises(ValueError, match="painted in 'a masks copy', a copy of 'a masks'"):
        ann.save_frame()  # it would accept the pseudo-label shown in 'a masks' as corrected
    assert video.provenance[1] == 2


def test_a_copy_of_the_video_layer_is_the_users_too(make_napari_viewer, qtbot, tmp_project, monkeypatch, told):
    """Duplicate Layer on the video's image layer raised (its lazy frames could not be copied); now the copy reads
    the same frames and is a layer of the user's, the video layer staying dvos's."""
    frames, _ = tiny_clip(6)
    tmp_project.add_video_array("a", frames, split="train")
    viewer = make_napari_viewer()
    _shown(viewer, qtbot, tmp_project)
    copy = _duplicate(viewer, qtbot, "a")
    assert "a" in viewer.layers and viewer.layers["a"].metadata.get("dvos_role") == "image"
    assert not any(k.startswith("dvos_") for k in copy.metadata)
    assert any("'a copy' is a copy of 'a'" in m for m in told)
    assert np.array_equal(np.asarray(copy.data[4]), frames[4])


def test_what_dvos_changes_in_a_copied_layer_refuses_no_save(make_napari_viewer, qtbot, tmp_project, monkeypatch):
    """The copy check compared the copy with its layer: what dvos itself put in the layer since (labels read again,
    another prediction set, the next video, a save) refused Save frame and Save correction, naming paint in the copy
    that nobody made. Only paint made in the copy counts now."""
    frames, gt = tiny_clip(6)
    a = tmp_project.add_video_array("a", frames, split="train")
    b = tmp_project.add_video_array("b", frames, split="train")
    prediction_set(a, "m1", np.zeros_like(gt))
    prediction_set(a, "m2", gt)
    viewer = make_napari_viewer()
    ann = _shown(viewer, qtbot, tmp_project)
    _no_questions(monkeypatch)
    masks = viewer.layers["a masks"]
    backup = _duplicate(viewer, qtbot, "a masks")  # untouched: a backup made before the work
    a.set_mask(2, gt[2], "pseudo")  # a pseudo-labelling run, read into the layer
    ann.state.check_store()
    wait_loaded(qtbot, ann.state)
    viewer.dims.set_current_step(0, 2)
    assert np.asarray(masks.data[2]).any()
    assert ann.save_frame() and a.provenance[2] == 4  # the pseudo-label accepted: 'corrected'
    masks.paint((3, 30, 30), 1)
    viewer.dims.set_current_step(0, 3)
    assert ann.save_frame() and a.provenance[3] == 1
    ann.save_frame()  # S again: nothing new, not refused
    viewer.layers.remove(backup)

    sketch = _duplicate(viewer, qtbot, "a masks")
    sketch.paint((4, 30, 30), 1)  # the user's own sketch on a's frame 4
    masks.paint((4, 10, 10), 1)  # then paint in the dvos layer there: the sketch is no longer what is unsaved
    viewer.dims.set_current_step(0, 4)
    assert ann.save_frame() and a.provenance[4] == 1
    ann.save_frame()  # and S again is not refused either
    b.set_mask(4, gt[4], "pseudo")
    sketch.paint((4, 50, 50), 1)
    ann.state.select_video("b")  # the masks layer now shows b: a's sketch refuses nothing there
    wait_loaded(qtbot, ann.state)
    viewer.dims.set_current_step(0, 4)
    assert ann.save_frame() and b.provenance[4] == 4

    ann.state.select_video("a")
    wait_loaded(qtbot, ann.state)
    rv = dock(viewer, "Review")
    rv.state.set_prediction_model("m1")
    wait_loaded(qtbot, rv.state)
    _duplicate(viewer, qtbot, "a predicted")  # m1's masks kept to compare
    rv.state.set_prediction_model("m2")
    wait_loaded(qtbot, rv.state)
    viewer.dims.set_current_step(0, 5)
    assert rv.save_correction() and a.provenance[5] == 4  # m2's mask accepted as it is


def _convert(viewer, qtbot, name, kind):
    from napari.layers import _layer_actions

    viewer.layers.selection = {viewer.layers[name]}
    getattr(_layer_actions, f"_convert_to_{kind}")(viewer.layers)
    qtbot.wait(50)


def test_a_layer_napari_converts_is_the_users_own(make_napari_viewer, qtbot, tmp_project, monkeypatch, told):
    """napari's Convert to Image / Labels (layer menu) gave the new layer the dvos layer's metadata and no parent:
    an Image made of the masks layer was taken for the masks layer (Save frame saved from it). Now a converted layer
    is the user's own, told as a Duplicate Layer copy is."""
    from napari.layers import Image, Labels

    from dvos_napari._layers import video_layer

    frames, gt = tiny_clip(6)
    a = tmp_project.add_video_array("a", frames, split="train")
    prediction_set(a, "m", gt)
    viewer = make_napari_viewer()
    ann = _shown(viewer, qtbot, tmp_project)
    _no_questions(monkeypatch)
    masks = viewer.layers["a masks"]
    masks.brush_size = 6
    masks.paint((2, 30, 30), 1)  # not saved
    _convert(viewer, qtbot, "a masks", "image")  # napari takes the masks layer out and puts an Image in its place
    image = next(x for x in viewer.layers if isinstance(x, Image) and x.name.startswith("a masks"))
    assert image.name == "a masks copy" and not any(k.startswith("dvos_") for k in image.metadata)
    assert video_layer(viewer, "a", "masks") is None
    assert any("'a masks copy' is a copy of 'a masks' and a layer of your own" in m for m in told)
    assert any("pick a in the Project step to show it again" in m for m in told)
    assert ann.save_frame_asking() is False  # the masks layer is shown again; nothing is saved from the Image
    assert isinstance(video_layer(viewer, "a", "masks"), Labels) and viewer.layers["a masks"] is not image
    assert a.labelled_frames().tolist() == []

    told.clear()
    _convert(viewer, qtbot, "a predicted", "image")
    assert not any(k.startswith("dvos_") for k in viewer.layers["a predicted copy"].metadata)
    assert any("'a predicted copy' is a copy of 'a predicted' and a layer of your own" in m for m in told)
    rv = dock(viewer, "Review")
    viewer.dims.set_current_step(0, 1)
    assert rv.save_correction() is False  # shown again, nothing saved from the Image
    assert "the predicted layer of a had been removed" in rv.fix_info.text()
    assert isinstance(video_layer(viewer, "a", "predicted"), Labels) and a.labelled_frames().tolist() == []


def test_the_probability_layer_converts_to_labels(make_napari_viewer, qtbot, tmp_project, monkeypatch, told):
    """Convert to Labels of the probability layer (lazy frames) failed inside napari: 'LazyFrames' object has no
    attribute 'astype'. It converts, into a layer of the user's own; frames too many to read at once are refused."""
    from napari.layers import Labels

    from dvos_napari import _lazy

    frames, gt = tiny_clip(6)
    a = tmp_project.add_video_array("a", frames, split="train")
    prediction_set(a, "m", gt)
    viewer = make_napari_viewer()
    _shown(viewer, qtbot, tmp_project)
    lazy = viewer.layers["a probability"].data
    assert np.array_equal(lazy.astype(np.int32), np.asarray(lazy).astype(np.int32))
    monkeypatch.setattr(_lazy, "MAX_READ_BYTES", _lazy.nbytes(lazy) // 2)
    with pytest.raises(_lazy.TooLargeRead, match="converting .* reads all its 6 frames at once"):
        lazy.astype(np.int32)
    monkeypatch.undo()
    _no_questions(monkeypatch)
    _convert(viewer, qtbot, "a probability", "labels")
    (copy,) = [x for x in viewer.layers if isinstance(x, Labels) and x.name.startswith("a probability")]
    assert copy.data.shape == gt.shape and np.array_equal(copy.data, np.asarray(lazy).astype(copy.data.dtype))
    assert not any(k.startswith("dvos_") for k in copy.metadata)  # the user's own layer
