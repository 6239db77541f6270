"""``video.predictions`` behaves as a container of model names."""

import numpy as np

from dvos_core.store import Project


def test_predictions_iterate_contain_and_count_model_names(tmp_path):
    v = Project.create(tmp_path / "p.dvos").add_video_array("a", np.zeros((2, 8, 8, 3), np.uint8))
    assert list(v.predictions) == [] and len(v.predictions) == 0 and "img" not in v.predictions
    for m in ("img", "ctx"):
        v.predictions[m].start({"kind": "test"}, None)
        v.predictions[m].set(0, np.zeros((8, 8), np.float32))
    assert sorted(v.predictions) == ["ctx", "img"] and len(v.predictions) == 2
    assert "img" in v.predictions and "other" not in v.predictions


def test_a_two_pass_set_stopped_in_its_second_pass_counts_only_finished_frames(tmp_path):
    """Frames of a two-pass set that only the first pass reached hold the first pass's masks: they were read,
    evaluated and compared as predicted (``dvos check`` alone called the set unfinished)."""
    import pytest

    from dvos_core.evaluate.compare import compare_models
    from dvos_core.store.project import _video_summary

    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("a", np.zeros((5, 8, 8, 3), np.uint8), split="test")
    for t in range(5):
        v.set_mask(t, np.eye(8, dtype=np.uint8), "manual")
    preds = v.predictions["ctx"]
    preds.start({"kind": "context", "passes": 2}, "fp")
    for t, done in enumerate((2, 2, 1, 1)):  # frame 4 not reached
        preds.set(t, np.eye(8, dtype=np.float32), done_value=done)
    assert preds.passes == 2 and preds.frames().tolist() == [0, 1]
    assert preds.get(1) is not None and preds.get(2) is None
    with pytest.raises(ValueError, match="frames 2, 3"):
        preds.masks([1, 2, 3])
    assert _video_summary(v)["predictions_unfinished"]["ctx"]["done"] == 2
    assert compare_models(p, ["ctx"]).info["partial"]
    one = v.predictions["img"]  # a one-pass set: every frame the pass reached is predicted
    one.start({"kind": "frame"}, "fp1")
    one.set(3, np.eye(8, dtype=np.float32))
    assert one.passes == 1 and one.frames().tolist() == [3]


def test_a_set_stopped_before_its_first_frame_is_not_the_latest(tmp_path):
    """A prediction run cancelled before its first frame left an empty set that became "the latest": evaluate
    without a model said the video had no predictions, and export of the predictions wrote 0 files."""
    from dvos_core.evaluate import evaluate
    from dvos_core.io.masks import export_masks

    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("a", np.zeros((3, 8, 8, 3), np.uint8), split="val")
    for t in range(3):
        v.set_mask(t, np.eye(8, dtype=np.uint8), "manual")
    v.predictions["img"].start({"kind": "image"}, "f1")
    v.predictions["img"].set_many(range(3), np.eye(8, dtype=np.float32)[None].repeat(3, 0))
    v.predictions["new"].start({"kind": "image"}, "f2")  # stopped before its first frame
    assert v.predictions.newest().model == "new" and v.predictions.latest().model == "img"
    rep = evaluate(p, split="val", name="r", min_area=1)
    assert rep.overall["prediction_sets"] == {"a": "img"}
    assert len(export_masks(p, "a", tmp_path / "out", which="predictions")) == 3
    v.predictions.delete("img")
    assert v.predictions.latest().model == "new"  # none holds a frame: the newest


def test_a_frame_of_a_misspelt_set_is_an_error_not_a_frame_not_predicted(tmp_path):
    """``video.predictions["imgg"].get(t)`` was None - "not predicted" - and ``.frames()`` empty for a set that does
    not exist, and a correction saved ``corrected_from="imgg"`` recorded no source in silence; the most recent set's
    ``get`` and ``frames`` on a video without predictions stay None and empty."""
    import pytest

    from dvos_core.store import NotInStoreError

    v = Project.create(tmp_path / "p.dvos").add_video_array("a", np.zeros((3, 8, 8, 3), np.uint8))
    assert v.predictions.get(0) is None and v.predictions.frames().tolist() == []
    v.predictions["img"].start({"kind": "test"}, None)
    v.predictions["img"].set(0, np.ones((8, 8), np.float32))
    assert v.predictions["img"].get(1) is None and v.predictions["img"].get(0)[0].all()
    assert v.predictions.get(0)[0].all() and v.predictions.get(2) is None
    assert v.predictions.frames().tolist() == [0] and v.predictions["img"].frames().tolist() == [0]
    for read in (lambda s: s.get(0), lambda s: s.frames()):
        with pytest.raises(NotInStoreError, match=r"no predictions of 'imgg'; it has predictions of \['img'\]"):
            read(v.predictions["imgg"])
    before = v.provenance.copy()
    with pytest.raises(NotInStoreError, match=r"no predictions of 'imgg'"):  # a correction's source: not recorded
        v.set_mask(1, np.ones((8, 8), np.uint8), "corrected", corrected_from="imgg")
    assert np.array_equal(v.provenance, before) and v.correction_sources == {}
