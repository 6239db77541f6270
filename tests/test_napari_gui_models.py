"""The GUI doors of several models per video (run with xvfb-run): Review compares prediction sets with the baselines
and picks the one shown, corrected and evaluated; Predict offers a context model's passes, the prediction-set name
and smoothing over time; Extract makes background clips from annotated frames (heads inpainted)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from napari_helpers import dock, prediction_set, tiny_clip, wait_job, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture
def two_models(tmp_project):
    """A test video with ground truth and a training video, both predicted by 'bad' (every other frame's masks
    shifted) and then 'good' (the true masks): 'good' is the most recent set."""
    frames, gt = tiny_clip(8, seed=9)
    bad = gt.copy()
    bad[::2] = np.roll(gt[::2], 9, axis=2)
    for vid, split in (("plot", "test"), ("field", "train")):
        v = tmp_project.add_video_array(vid, frames, split=split)
        if split == "test":
            for t in range(len(gt)):
                v.set_mask(t, gt[t], "manual")
        prediction_set(v, "bad", bad)
        prediction_set(v, "good", gt)
    return tmp_project, gt, bad


def test_review_compares_models_and_picks_the_one_shown_corrected_and_evaluated(make_napari_viewer, qtbot, two_models):
    from dvos_napari.docks.review import MOST_RECENT

    project, gt, bad = two_models
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    state = rv.state
    state.set_project(project)
    assert [rv.model.itemText(i) for i in range(rv.model.count())] == [MOST_RECENT, "bad", "good"]
    state.select_video("field")
    wait_loaded(qtbot, state)
    layer = viewer.layers["field predicted"]
    assert layer.metadata["dvos_model"] == "good"  # nothing chosen: the most recent set
    np.testing.assert_array_equal(layer.data, gt)

    # compare both models on the test videos: one row per model, then the two baselines
    rv.set_ticked(["bad", "good"])
    wait_job(qtbot, rv.compare())
    table = rv.comparison.table
    rows = [rv.compare_table.item(r, 0).text() for r in range(rv.compare_table.rowCount())]
    assert rows == ["bad", "good", "prev. true mask", "all foreground"]
    assert list(table.model) == ["bad", "good", "previous_true_mask", "all_foreground"]
    dice = dict(zip(table.model, table.dice))
    assert dice["good"] > dice["bad"] and dice["good"] > dice["all_foreground"]
    assert (
        rv.compare_table.item(1, 1).text() == f"{dice['good']:.3f}"
        and "8 frames" in rv.compare_table.item(1, 0).toolTip()
    )
    assert "baseline" in rv.compare_table.item(2, 0).toolTip()
    assert "best Dice: good" in rv.compare_info.text() and (rv.comparison.path / "comparison.csv").exists()

    # clicking a model row chooses it: the predicted layer now shows its masks
    rv.compare_table.cellClicked.emit(0, 0)
    wait_loaded(qtbot, state)
    assert state.prediction_model == "bad" and rv.model.currentText() == "bad"
    layer = viewer.layers["field predicted"]
    assert layer.metadata["dvos_model"] == "bad"
    np.testing.assert_array_equal(layer.data, bad)
    rv.compare_table.cellClicked.emit(2, 0)  # a baseline is not a model to review
    assert state.prediction_model == "bad"

    # evaluate scores the chosen model (the same Dice as its comparison row), not the most recent one
    wait_job(qtbot, rv.evaluate())
    assert rv.report.overall["dice"] == pytest.approx(dice["bad"]) and "bad" in rv.overall.text()

    # a correction saves the chosen model's mask as edited
    rv.jump_to("field", 2)
    wait_loaded(qtbot, state)
    assert "predicted by bad" in rv.fix_info.text()
    fixed = gt[2].astype(np.uint8)
    viewer.layers["field predicted"].data[2] = fixed
    assert rv.save_correction()
    np.testing.assert_array_equal(project.video("field").mask(2), fixed)
    assert project.video("field").provenance_counts()["corrected"] == 1
    assert project.video("field").correction_sources == {2: {"set": "bad", "checkpoint": None}}  # which set it fixed

    # a model that did not predict the current video: its layers go, so no other model's masks get corrected
    prediction_set(project.video("plot"), "only_plot", gt)
    state.notify_store_changed()
    rv.model.setCurrentText("only_plot")
    assert "field predicted" not in viewer.layers and "field probability" not in viewer.layers
    with pytest.raises(ValueError, match="'field' has no predictions of 'only_plot'"):
        rv.save_correction()
    rv.model.setCurrentText(MOST_RECENT)
    wait_loaded(qtbot, state)
    assert state.prediction_model is None and viewer.layers["field predicted"].metadata["dvos_model"] == "good"


def _tiny_model(project, name, kind, config, **info):
    import torch

    from dvos_core.model import build_model, save_checkpoint
    from dvos_core.train.config import TrainConfig

    torch.manual_seed(0)
    d = project.model_dir(name, create=True)
    save_checkpoint(d / "best.pt", build_model("tiny", kind), **info)
    TrainConfig(**config).to_yaml(d / "config.yaml")


def test_predict_offers_passes_for_a_context_model_and_names_theprediction_set(make_napari_viewer, qtbot, tmp_project):
    frames, _ = tiny_clip(6)
    video = tmp_project.add_video_array("v", frames, split="train")
    _tiny_model(tmp_project, "img", "frame", {"phase": "image"})
    # trained at 32 px: the 64 px frames are at twice the trained scale
    _tiny_model(tmp_project, "ctx", "context", {"phase": "real", "video_model": "context"}, input_size=32)
    viewer = make_napari_viewer()
    pr = dock(viewer, "Predict")
    pr.state.set_project(tmp_project)
    pr.state.select_video("v")
    pr.device.setCurrentText("cpu")
    form = pr.predict_form
    pr.checkpoint.setCurrentText("img")
    assert not form.isRowVisible(pr.context_passes)  # passes mean nothing to an image model
    assert not form.isRowVisible(pr.reference_masks)
    pr.checkpoint.setCurrentText(str(tmp_project.model_dir("ctx") / "best.pt"))  # a path: its config.yaml says
    assert form.isRowVisible(pr.context_passes) and pr.context_passes.value() == 1
    assert "both sides" in pr.context_passes.toolTip()
    assert form.isRowVisible(pr.reference_masks) and pr.reference_masks.currentText() == "chained"

    pr.checkpoint.setCurrentText("ctx")
    pr.context_passes.setValue(1)
    pr.set_name.setText("ctx_causal")
    wait_job(qtbot, pr.predict())
    causal = video.predictions["ctx_causal"]
    assert causal.attrs["passes"] == 1 and causal.arrays()[2][:].tolist() == [1] * 6  # pass 1 finished each frame
    assert pr.state.prediction_model == "ctx_causal"  # what was just predicted is shown
    wait_loaded(qtbot, pr.state)
    assert viewer.layers["v predicted"].metadata["dvos_model"] == "ctx_causal"

    assert causal.attrs["reference_masks"] == "chained"
    assert pr.compute.precision.currentText() == "auto" and causal.attrs["precision"] == "fp32"  # fp32 on a CPU
    assert [pr.compute.precision.itemText(i) for i in range(pr.compute.precision.count())] == ["auto", "fp32", "bf16"]
    assert pr.compute.scales.currentText() == "auto" and causal.attrs["zooms"] == [1.0, 0.5]  # auto: both here

    pr.compute.scales.setCurrentText("trained")
    pr.context_passes.setValue(2)
    pr.reference_masks.setCurrentText("independent")
    pr.set_name.clear()  # default: the model's name
    wait_job(qtbot, pr.predict())
    assert video.predictions.models() == ["ctx_causal", "ctx"]
    assert video.predictions["ctx"].attrs["passes"] == 2 and video.predictions["ctx"].arrays()[2][:].max() == 2
    assert video.predictions["ctx"].attrs["reference_masks"] == "independent"
    assert video.predictions["ctx"].attrs["zooms"] == [0.5]

    pr.checkpoint.setCurrentText("img")
    pr.smooth.setValue(3)  # then smoothed over time into its own set, which is shown
    wait_job(qtbot, pr.predict())
    smoothed = video.predictions["img_smoothed"]
    assert (
        smoothed.attrs["source"] == "img"
        and smoothed.attrs["before"] == 3
        and smoothed.frames().tolist() == list(range(6))
    )
    assert "img" in video.predictions.models() and pr.state.prediction_model == "img_smoothed"
    assert "predicted 6 frames and smoothed 6" in pr.messages.text(), pr.messages.text()
    assert smoothed.attrs["only_outliers"] is False and not pr.smooth_outliers.isChecked()
    pr.smooth_outliers.setChecked(True)  # only the frames worse than their neighbours
    wait_job(qtbot, pr.predict())
    assert video.predictions["img_smoothed"].attrs["only_outliers"] is True
    # 'img' was predicted already: it said "predicted 0 frames (img_smoothed)" of a set smoothed whole
    assert "the frames of 'img' were predicted already (kept); smoothed 6 frames" in pr.messages.text()
    pr.smooth.setValue(0)
    assert not pr.smooth_outliers.isEnabled()

    pr.set_name.setText("no/slashes")
    assert pr.guard(pr.predict) is None and "invalid prediction set name" in pr.messages.text()


def test_extract_makes_backgrounds_from_annotated_frames(make_napari_viewer, qtbot, tmp_project):
    frames, gt = tiny_clip(10)
    v = tmp_project.add_video_array("plot", frames, split="train")
    for t in (2, 5, 8):
        v.set_mask(t, gt[t], "manual")
    viewer = make_napari_viewer()
    ext = dock(viewer, "Extract")
    ext.state.set_project(tmp_project)
    form = ext.bg_form
    assert form.isRowVisible(ext.bg_source) and not form.isRowVisible(ext.motion)
    ext.bg_mode.setCurrentIndex(1)  # annotated frames (inpaint the painted heads)
    assert not form.isRowVisible(ext.bg_source) and form.isRowVisible(ext.motion) and form.isRowVisible(ext.dilate)
    from dvos_core.extract.annotated_backgrounds import MAX_DILATE
    from dvos_core.synth.config import MAX_OBJECT_SCALE
    from dvos_napari.docks.synthesize import SYNTH_VIEWS

    assert ext.dilate.maximum() == MAX_DILATE  # as --dilate (it stopped at 100)
    assert SYNTH_VIEWS["object_scale"].maximum == MAX_OBJECT_SCALE  # 100 was offered, more than 4 then refused
    assert ext.n_clips.specialValueText() == "one per frame"
    ext.clip_length.setValue(4)
    ext.n_clips.setValue(2)
    wait_job(qtbot, ext.extract_backgrounds())
    clips = [tmp_project.background(b) for b in tmp_project.background_ids()]
    assert sorted(c.attrs["frame"] for c in clips) == [2, 8]  # two clips, spread over the painted frames
    for c in clips:
        assert c.attrs["origin"] == "inpainted" and c.attrs["motion"]["kind"] == "measured" and len(c) == 4
    still = clips[0].read_frames()[0]
    heads = gt[clips[0].attrs["frame"]] > 0
    assert np.abs(still[heads].astype(int) - frames[clips[0].attrs["frame"]][heads]).mean() > 5  # heads filled in
    assert "made 2 background clip(s)" in ext.messages.text()

    ext.n_clips.setValue(0)  # one per annotated frame: only frame 5 is left
    ext.motion.setCurrentIndex(ext.motion.findData("none"))
    wait_job(qtbot, ext.extract_backgrounds())
    assert len(tmp_project.background_ids()) == 3 and "plot frame 5" in ext.messages.text()
    wait_job(qtbot, ext.extract_backgrounds())
    assert len(tmp_project.background_ids()) == 3 and "no new clips" in ext.messages.text()


def test_extract_says_which_clips_of_cleared_or_repainted_frames_it_deleted(make_napari_viewer, qtbot, tmp_project):
    """A run of backgrounds from annotated frames that only deleted the clips of frames cleared since said "no new
    clips: every annotated frame already has one"; it now says what it deleted, and names the clips made again."""
    frames, gt = tiny_clip(8)
    v = tmp_project.add_video_array("plot", frames, split="train")
    for t in (2, 5):
        v.set_mask(t, gt[t], "manual")
    viewer = make_napari_viewer()
    ext = dock(viewer, "Extract")
    ext.state.set_project(tmp_project)
    ext.bg_mode.setCurrentIndex(1)  # annotated frames (inpaint the painted heads)
    ext.clip_length.setValue(3)
    ext.motion.setCurrentIndex(ext.motion.findData("none"))
    wait_job(qtbot, ext.extract_backgrounds())
    old = {tmp_project.background(b).attrs["frame"]: b for b in tmp_project.background_ids()}
    assert sorted(old) == [2, 5]
    v.clear_mask(5)
    v.set_mask(2, np.roll(gt[2], 7, axis=1), "manual", overwrite=True)  # repainted
    ext.messages.clear()
    wait_job(qtbot, ext.extract_backgrounds())
    said = ext.messages.text()
    assert "made 1 background clip(s)" in said and "1 of them made again for frames repainted since" in said
    assert f"plot frame 2 (now {tmp_project.background_ids()[0]})" in said
    assert f"deleted 1 old clip(s) of frames cleared or repainted since they were made ({old[5]})" in said
    v.clear_mask(2)
    ext.messages.clear()
    wait_job(qtbot, ext.extract_backgrounds())
    said = ext.messages.text()
    assert "no new clips; deleted 1 old clip(s) of frames cleared or repainted" in said
    assert "every annotated frame already has one" not in said and not tmp_project.background_ids()


def test_predict_step_exports_the_reviewed_models_masks_with_head_counts(
    make_napari_viewer, qtbot, two_models, tmp_path
):
    """Export (Predict step): the prediction set under review, for the videos under 'run on', one folder per video
    with masks.csv counting the heads of every frame; a video without that set is said to be skipped."""
    import cv2
    import pandas as pd

    from dvos_core.evaluate.metrics import count_objects

    project, gt, bad = two_models
    project.add_video_array("unpredicted", tiny_clip(4, seed=2)[0], split="train")
    viewer = make_napari_viewer()
    pr = dock(viewer, "Predict")
    pr.state.set_project(project)
    pr.state.set_prediction_model("bad")
    pr.scope.setCurrentText("all videos")
    assert wait_job(qtbot, pr.export(tmp_path / "out")) == "ok"
    listing = pd.read_csv(tmp_path / "out" / "plot" / "masks.csv")
    assert listing["model"].unique().tolist() == ["bad"] and len(listing) == len(gt)
    assert listing["heads"].tolist() == [count_objects(m, min_area=16) for m in bad]
    assert (tmp_path / "out" / "field" / "masks.csv").exists() and not (tmp_path / "out" / "unpredicted").exists()
    text = pr.messages.text()
    assert f"exported {2 * len(gt)} masks of 2 video(s)" in text and "no bad predictions of unpredicted" in text
    pr.export_video.setChecked(True)  # and an overlay video of each, for sharing
    assert wait_job(qtbot, pr.export(tmp_path / "with_video")) == "ok"
    cap = cv2.VideoCapture(str(tmp_path / "with_video" / "plot" / "plot_overlay.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(gt)
    assert (tmp_path / "with_video" / "field" / "field_overlay.mp4").exists()
    assert "2 overlay video(s) beside them" in pr.messages.text()


def test_predict_notes_the_trained_scale_for_large_frames_on_a_cpu(make_napari_viewer, tmp_project):
    tmp_project.add_video_array("small", np.zeros((2, 64, 64, 3), np.uint8), split="test")
    tmp_project.add_video_array("big", np.zeros((2, 1000, 1100, 3), np.uint8), split="train")
    viewer = make_napari_viewer()
    pr = dock(viewer, "Predict")
    pr.state.set_project(tmp_project)
    pr.compute.device.setCurrentText("cpu")
    pr.scope.setCurrentText("test videos")
    assert pr.scale_note.isHidden()  # 64 px frames: nothing to say
    pr.scope.setCurrentText("all videos")
    assert not pr.scale_note.isHidden() and "1100x1000" in pr.scale_note.text()
    assert "scales: trained" in pr.scale_note.text()
    pr.compute.scales.setCurrentText("trained")  # already the fast way
    assert pr.scale_note.isHidden()


def test_predict_step_counts_the_heads_of_the_current_video_and_shows_their_tracks(
    make_napari_viewer, qtbot, two_models
):
    """Count heads (Predict step): the reviewed prediction set's heads followed over the current video, the same
    count as dvos_core's, shown as a Tracks layer that belongs to that video; another video replaces it."""
    from dvos_core.evaluate.head_tracks import track_heads

    project, gt, _ = two_models
    viewer = make_napari_viewer()
    pr = dock(viewer, "Predict")
    pr.state.set_project(project)
    pr.state.select_video("plot")
    wait_loaded(qtbot, pr.state)
    pr.state.set_prediction_model("bad")
    assert wait_job(qtbot, pr.count_heads()) == "ok"
    want = track_heads(project, "plot", which="predictions", model="bad")
    layer = viewer.layers["plot head tracks"]
    assert layer.metadata["dvos_video"] == "plot" and len(np.unique(layer.data[:, 0])) == want.n_heads > 0
    np.testing.assert_allclose(layer.data, want.napari_tracks())
    assert f"plot: {want.n_heads} different heads in {len(gt)} frames (predictions of 'bad'" in pr.messages.text()
    pr.state.select_video("field")
    wait_loaded(qtbot, pr.state)
    assert "plot head tracks" not in viewer.layers  # another video's layers give way
    pr._counted({"summary": want.summary() | {"masks": "x"}, "tracks": want.napari_tracks()}, "plot")  # a late result
    assert "plot head tracks" not in viewer.layers and "their tracks" not in pr.messages.text().splitlines()[-1]
