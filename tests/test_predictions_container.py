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
