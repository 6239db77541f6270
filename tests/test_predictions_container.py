"""``video.predictions`` behaves as a container of model names, and a stored mask is its stored probability
thresholded (probabilities are kept as float16)."""

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


def test_the_stored_mask_agrees_with_the_stored_probability(tmp_path):
    v = Project.create(tmp_path / "p.dvos").add_video_array("a", np.zeros((1, 4, 4, 3), np.uint8))
    p = np.full((4, 4), 0.49995, np.float32)  # below 0.5 in float32, 0.5 once stored as float16
    v.predictions["img"].start({"kind": "test"}, None)
    v.predictions["img"].set(0, p)
    mask, prob = v.predictions["img"].get(0)
    np.testing.assert_array_equal(mask, (prob >= 0.5).astype(np.uint8))
