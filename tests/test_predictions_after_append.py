"""Frames appended to a video after it was predicted: reads of its prediction set treat them as not predicted and
write nothing (every read grew the arrays, so a project opened read-only - ``dvos evaluate --no-save``,
``dvos export-masks``, ``dvos check`` - failed with "opened read-only", and a read in r+ mode changed the store);
only a write grows the arrays."""

import numpy as np

from dvos_core.store import Project


def _predicted_then_appended(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("bikes", np.zeros((4, 8, 8, 3), np.uint8), split="train")
    for t in range(4):
        v.set_mask(t, np.eye(8, dtype=np.uint8), "manual")
    v.predictions["img"].start({"kind": "image"}, "f1")
    v.predictions["img"].set_many(range(4), np.eye(8, dtype=np.float32)[None].repeat(4, 0))
    Project.open(p.path).video("bikes").append_frames(np.zeros((2, 8, 8, 3), np.uint8))
    return p.path


def _stored_rows(path) -> list[int]:
    v = Project.open(path, "r").video("bikes")
    return [v.group[f"predictions/img/{k}"].shape[0] for k in ("masks", "probability", "done")]


def test_reads_after_frames_were_appended_write_nothing(tmp_path):
    from dvos_core.evaluate import evaluate
    from dvos_core.io.masks import export_masks
    from dvos_core.store.check import check_project

    path = _predicted_then_appended(tmp_path)
    ro = Project.open(path, "r")
    s = ro.video("bikes").predictions["img"]
    assert s.frames().tolist() == [0, 1, 2, 3] and s.get(5) is None and s.get(1) is not None
    assert s.read("done", slice(0, 6)).tolist() == [1, 1, 1, 1, 0, 0] and s.read("masks", 5).sum() == 0
    masks, prob, done = s.arrays()
    assert done.shape == (6,) and np.asarray(done).tolist() == [1, 1, 1, 1, 0, 0]
    assert prob.shape == (6, 8, 8) and prob[5].sum() == 0 and prob[2:6].shape == (4, 8, 8) and masks[3].sum() == 8
    assert len(export_masks(ro, "bikes", tmp_path / "out", which="predictions", model="img")) == 4
    assert evaluate(ro, split="train", save=False, min_area=1).overall["n_frames"] == 4
    assert [f.kind for f in check_project(ro, models=False)] == ["unfinished"]  # 4 of 6 frames predicted
    evaluate(Project.open(path), split="train", save=False, min_area=1)  # r+: a read still writes nothing
    assert _stored_rows(path) == [4, 4, 4]


def test_a_write_grows_the_arrays(tmp_path):
    path = _predicted_then_appended(tmp_path)
    s = Project.open(path).video("bikes").predictions["img"]
    s.set(5, np.eye(8, dtype=np.float32))
    assert _stored_rows(path) == [6, 6, 6]
    s = Project.open(path, "r").video("bikes").predictions["img"]
    assert s.frames().tolist() == [0, 1, 2, 3, 5] and s.get(4) is None and s.get(5)[0].sum() == 8
