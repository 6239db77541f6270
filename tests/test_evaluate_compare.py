"""Predictions per model side by side: resume only the same checkpoint's, compare models with baselines and
temporal instability, and stores of schema 2 migrate their single prediction set."""

import numpy as np
import pytest
import torch
import zarr
from motion_clips import camera_clip, fast_pan, paint_heads, texture
from old_stores import as_older_schema

from dvos_core.cli import main as dvos
from dvos_core.evaluate import compare_models
from dvos_core.infer import predict_video
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


@pytest.fixture()
def project(tmp_path):
    world, wmask, _ = paint_heads(texture(size=512, dark=True), 60, seed=1)
    frames, masks, _ = camera_clip(world, fast_pan(7, seed=2), size=(96, 96), world_mask=wmask)
    p = Project.create(tmp_path / "c.dvos")
    v = p.add_video_array("clip", frames, split="test")
    for t, m in enumerate(masks):
        v.set_mask(t, m, "manual")
    return p, masks


def checkpoint(p, name, kind, seed):
    torch.manual_seed(seed)
    return save_checkpoint(p.model_dir(name, create=True) / "best.pt", build_model("tiny", kind))


def test_each_model_keeps_its_own_predictions_and_resumes_only_its_own_checkpoint(project):
    p, _ = project
    a, b = checkpoint(p, "image", "frame", 0), checkpoint(p, "ctx", "context", 1)
    video = p.video("clip")
    assert predict_video(p, "clip", a, device="cpu") == 8
    first = video.predictions["image"].arrays()[1][:].copy()
    assert predict_video(p, "clip", b, device="cpu") == 8  # another model: its own set, all frames
    assert predict_video(p, "clip", b, device="cpu") == 0  # the same checkpoint: resumed, nothing left
    assert video.predictions.models() == ["image", "ctx"]
    assert np.array_equal(video.predictions["image"].arrays()[1][:], first)  # untouched
    assert video.predictions["ctx"].attrs["kind"] == "context" and video.predictions["ctx"].attrs["fingerprint"]
    checkpoint(p, "ctx", "context", 2)  # retrained under the same name: a new file
    assert predict_video(p, "clip", b, device="cpu", replace=True) == 8  # predicted again, not resumed
    assert predict_video(p, "clip", b, device="cpu", frames=[0, 1], name="ctx_again") == 2
    assert video.predictions["ctx_again"].frames().tolist() == [0, 1]


def test_compare_models_scores_models_and_baselines_with_instability(project, capsys):
    p, masks = project
    video = p.video("clip")
    video.predictions["perfect"].start({"kind": "test"}, None)
    video.predictions["perfect"].set_many(range(8), masks.astype(np.float32))
    shuffled = masks[np.random.default_rng(0).permutation(8)].astype(np.float32)
    video.predictions["shuffled"].start({"kind": "test"}, None)
    video.predictions["shuffled"].set_many(range(8), shuffled)
    cmp = compare_models(p, ["perfect", "shuffled"], split="test", name="cmp")
    t = cmp.table.set_index("model")
    assert list(t.index) == ["perfect", "shuffled", "previous_true_mask", "all_foreground"]
    assert t.loc["perfect", "dice"] > 0.999 and t.loc["perfect", "n_frames"] == 8
    assert t.loc["previous_true_mask", "n_frames"] == 7 and t.loc["previous_true_mask", "dice"] < 0.6  # fast pan
    assert t.loc["all_foreground", "boundary_f"] == 0
    floor = cmp.info["ground_truth_instability"]
    assert t.loc["perfect", "instability"] == pytest.approx(floor) and floor < 0.2
    assert t.loc["shuffled", "instability"] > 0.5 and t.loc["shuffled", "dice"] < t.loc["perfect", "dice"]
    assert cmp.best() == "perfect" and (cmp.path / "comparison.csv").exists()
    import json

    saved = json.loads((cmp.path / "comparison.json").read_text())["table"]  # (to 10 digits: pandas' default)
    assert [r["dice"] for r in saved] == pytest.approx(list(cmp.table["dice"]), rel=1e-14, abs=1e-14)
    assert dvos(["evaluate", str(p.path), "--models", "perfect", "shuffled", "--name", "cli"]) == 0
    out = capsys.readouterr().out
    assert "previous_true_mask" in out and "unsteady" in out
    with pytest.raises(ValueError, match="no predictions of"):
        compare_models(p, ["nope"], split="test", save=False)
    # no ground truth to score against: an error naming the fix, not a report of NaN
    reports = sorted(x.name for x in (p.path / "reports").iterdir())
    with pytest.raises(ValueError, match=r"'clip' has no ground-truth masks with provenance \['predicted'\].*--gt"):
        compare_models(p, ["perfect", "shuffled"], split="test", gt_provenances=("predicted",), name="empty")
    assert sorted(x.name for x in (p.path / "reports").iterdir()) == reports


def test_schema_2_predictions_move_to_a_named_set(project):
    from dvos_core.store.schema import SchemaVersionError

    p, masks = project
    path = p.path
    g = zarr.open_group(str(path / "videos" / "clip"), mode="r+")
    for key, arr in (("pred_probability", masks.astype(np.float16)), ("pred_masks", masks), ("pred_done", None)):
        a = g.create_array(
            key,
            shape=(8, *masks.shape[1:]) if arr is not None else (8,),
            dtype=(arr.dtype if arr is not None else "uint8"),
        )
        a[:] = arr if arr is not None else np.ones(8, np.uint8)
    g.attrs["prediction"] = {"checkpoint": str(path / "models" / "dvos" / "best.pt"), "kind": "dvos"}
    as_older_schema(path, 2)
    with pytest.raises(SchemaVersionError, match="dvos migrate"):
        Project.open(path)
    assert Project.migrate(path) == [2, 3, 4]
    video = Project.open(path).video("clip")
    assert video.predictions.models() == ["dvos"]
    assert np.array_equal(video.predictions["dvos"].masks(range(8)), masks)
    assert video.predictions["dvos"].attrs["kind"] == "dvos" and not (path / "videos" / "clip" / "pred_done").exists()


def test_compare_models_runs_with_the_requested_threads(project, monkeypatch):
    """`dvos evaluate --models ... --threads N` and DVOS_THREADS were ignored: the comparison ran with the threads
    OpenCV had."""
    import cv2

    import dvos_core.evaluate.compare as compare
    import dvos_core.threads as threads_mod

    monkeypatch.setattr(threads_mod, "available_cores", lambda: 4)  # the default (4) is neither number asked for
    p, masks = project
    for name in ("a", "b"):
        p.video("clip").predictions[name].start({"kind": "test"}, None)
        p.video("clip").predictions[name].set_many(range(8), masks.astype(np.float32))
    seen, real = [], compare._pair_motion
    monkeypatch.setattr(compare, "_pair_motion", lambda *a: seen.append(cv2.getNumThreads()) or real(*a))
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        assert dvos(["evaluate", str(p.path), "--models", "a", "b", "--no-save", "--threads", "1"]) == 0
        monkeypatch.setenv("DVOS_THREADS", "2")
        compare_models(p, ["a", "b"], save=False)
        assert seen == [1, 2] and cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)


def test_sparse_ground_truth_says_why_unsteady_has_no_value(project, capsys):
    """With no two consecutive painted frames the `unsteady` column was all nan, with no word why and no floor line
    (the user guide says the floor is given below the table)."""
    p, masks = project
    video = p.video("clip")
    for t in range(1, 8, 2):  # frames 0, 2, 4, 6 keep their masks: no two neighbours
        video.clear_mask(t)
    video.predictions["perfect"].start({"kind": "test"}, None)
    video.predictions["perfect"].set_many(range(8), masks.astype(np.float32))
    video.predictions["other"].start({"kind": "test"}, None)
    video.predictions["other"].set_many(range(8), masks.astype(np.float32))
    cmp = compare_models(p, ["perfect", "other"], split="test")
    assert cmp.info["ground_truth_instability"] is None and cmp.table["instability"].isna().all()
    last = cmp.format_table().splitlines()[-1]
    assert "unsteady is not measured: no two consecutive frames scored have ground truth" in last, last
    assert "the floor" not in last
    cmp.info["ground_truth_instability"] = 0.25  # with neighbours: the floor, as before
    assert "the ground truth's own instability is 0.250: the floor" in cmp.format_table().splitlines()[-1]


def test_a_comparison_says_that_worst_and_no_plots_are_for_one_models_report(project, capsys):
    """`dvos evaluate --worst 3` compared the models (several predicted the videos) and dropped --worst silently."""
    p, masks = project
    video = p.video("clip")
    for name in ("a", "b"):
        video.predictions[name].start({"kind": "test"}, None)
        video.predictions[name].set_many(range(8), masks.astype(np.float32))
    assert dvos(["evaluate", str(p.path), "--worst", "3", "--no-save"]) == 0
    err = capsys.readouterr().err
    assert "--worst apply to one model's report" in err and "--model NAME" in err
    assert dvos(["evaluate", str(p.path), "--no-save"]) == 0  # nothing asked: no note
    assert "apply to one model's report" not in capsys.readouterr().err
    assert dvos(["evaluate", str(p.path), "--model", "a", "--worst", "2", "--name", "one"]) == 0  # one model: used
    assert len(list((p.path / "reports" / "one" / "worst").glob("*.png"))) == 2


def test_the_comparison_table_keeps_a_long_model_name_apart_from_its_numbers():
    """A model name over 22 characters ran into the frames column ('context_synthetic_2026120812')."""
    import pandas as pd

    from dvos_core.evaluate.compare import ModelComparison

    table = pd.DataFrame(
        [["context_synthetic_20261208-0130", 12, 0.91, 0.85, 0.9, 0.05, 0.2], ["img", 123456789, 1, 1, 1, 0, 0.1]],
        columns=["model", "n_frames", "dice", "iou", "boundary_f", "count_error", "instability"],
    )
    lines = ModelComparison(table, pd.DataFrame(), {"ground_truth_instability": 0.1}).format_table().splitlines()
    assert lines[0].split() == ["model", "frames", "Dice", "IoU", "BF", "count", "unsteady"]
    assert lines[1].split() == ["context_synthetic_20261208-0130", "12", "0.910", "0.850", "0.900", "0.050", "0.200"]
    assert lines[2].split()[:2] == ["img", "123456789"] and len({len(x) for x in lines[:3]}) == 1
