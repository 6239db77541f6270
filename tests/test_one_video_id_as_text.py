"""One video id given as text (``extract_heads(p, "seed")``) is that video: a str is a sequence of letters, and the
Python functions looked for videos 's', 'e', ... ("no video 's'"); pseudo_label alone took it."""

import numpy as np
import pytest

from dvos_core.store import Project


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    rng = np.random.default_rng(0)
    m = np.zeros((48, 48), np.uint8)
    m[10:20, 10:20] = m[30:40, 28:40] = 1
    for vid, split in (("seed", "train"), ("field_test", "test")):
        v = p.add_video_array(vid, rng.integers(60, 200, (4, 48, 48, 3), dtype=np.uint8), split=split)
        for t in range(4):
            v.set_mask(t, m, "manual")
        v.predictions["img"].start({"kind": "test"}, None)
        v.predictions["img"].set_many(range(4), np.repeat(m[None].astype(np.float32), 4, 0))
    return p


def test_each_python_door_takes_one_id_as_text(project):
    from dvos_core.evaluate import evaluate
    from dvos_core.evaluate.compare import compare_models
    from dvos_core.extract import extract_heads
    from dvos_core.motion.summary import resolve_sources

    assert extract_heads(project, "seed", min_area=5).attrs["heads"] == 8  # 2 heads x 4 frames of "seed" only
    assert evaluate(project, "field_test", model="img").videos["video"].tolist() == ["field_test"]
    assert compare_models(project, ["img"], video_ids="field_test").info["videos"] == ["field_test"]
    assert [name for name, _ in resolve_sources(project, "seed")] == ["seed"]
    assert project.predicted_by("img", "seed") == ["seed"]
    from dvos_core.data.clips import ClipIndex

    assert ClipIndex.from_project(project, tau=2, phase="real", video_ids="seed").summary()["videos"] == ["seed"]
    project.set_split("seed", "val")
    assert project.video("seed").split == "val"
    assert project.delete_predictions("img", "seed") == ["seed"] and project.predicted_by("img") == ["field_test"]
