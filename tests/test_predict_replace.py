"""Predicting again into a prediction set made by another checkpoint or with other settings replaced its frames at
once (a warning, no question): the core now refuses unless told ``replace=True``, `dvos predict` unless given
--replace (before any video is predicted), and the Predict step asks first (tests/test_napari_predict_replace.py).
A set with the same settings still resumes."""

import warnings

import numpy as np
import pytest
import torch

from dvos_core.cli import main as dvos
from dvos_core.infer import PredictionSetReplaced, predict_video, replaced_sets
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    rng = np.random.default_rng(0)
    for vid in ("a", "b"):
        p.add_video_array(vid, rng.integers(0, 255, (4, 64, 64, 3), np.uint8))
    torch.manual_seed(0)
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"), phase="image")
    return p


def _held(project, vid="a"):
    preds = project.video(vid).predictions["img"]
    return dict(preds.attrs), preds.arrays()[1][:].copy(), preds.arrays()[2][:].copy()


def test_a_set_with_other_settings_is_kept_unless_replace_is_passed(project):
    ckpt = project.model_dir("img") / "best.pt"
    assert predict_video(project, "a", ckpt, device="cpu", tile_size=64, overlap=16) == 4
    attrs, prob, done = _held(project)
    with pytest.raises(PredictionSetReplaced) as refused:
        predict_video(project, "a", ckpt, device="cpu", tile_size=64, overlap=16, threshold=0.3)
    text = str(refused.value)
    assert text.startswith("a: prediction set 'img' holds 4 predicted frames made by ")
    assert "with other settings: threshold 0.5 -> 0.3" in text and "pass --replace (replace=True)" in text
    assert "another name (--name)" in text and "nothing was written" in text
    after = _held(project)  # untouched: its record, probabilities and done flags
    assert after[0] == attrs and np.array_equal(after[1], prob) and np.array_equal(after[2], done)
    with pytest.warns(UserWarning, match=r"the 4 frames of prediction set 'img' .* are replaced by this run's"):
        assert predict_video(project, "a", ckpt, device="cpu", tile_size=64, overlap=16, threshold=0.3, replace=True)
    assert project.video("a").predictions["img"].attrs["threshold"] == 0.3


def test_a_model_trained_again_is_kept_unless_replace_is_passed_and_the_same_settings_resume(project):
    ckpt = project.model_dir("img") / "best.pt"
    assert predict_video(project, "a", ckpt, device="cpu", frames=[0, 1]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unfinished set, the same settings: resumed, without a word
        assert predict_video(project, "a", ckpt, device="cpu") == 2
    torch.manual_seed(5)
    save_checkpoint(ckpt, build_model("tiny", "frame"), phase="image")  # trained again under the same name
    with pytest.raises(
        PredictionSetReplaced, match=r"made by an earlier version of .*best\.pt \(trained again since\)"
    ):
        predict_video(project, "a", ckpt, device="cpu", frames=[3])
    assert project.video("a").predictions["img"].frames().tolist() == [0, 1, 2, 3]


def test_replaced_sets_names_every_video_it_would_replace_and_writes_nothing(project):
    ckpt = project.model_dir("img") / "best.pt"
    assert replaced_sets(project, ["a", "b"], ckpt, device="cpu") == {}  # no set yet
    predict_video(project, "a", ckpt, device="cpu", frames=[0])
    assert replaced_sets(project, ["a", "b"], ckpt, device="cpu") == {}  # resumed
    attrs = _held(project)[0]
    found = replaced_sets(project, ["a", "b"], ckpt, device="cpu", threshold=0.4)
    assert list(found) == ["a"] and found["a"].frames == 1 and "threshold 0.5 -> 0.4" in found["a"].made_by
    assert _held(project)[0] == attrs and not project.video("b").predictions["img"].exists()


def test_the_command_refuses_before_any_video_is_predicted_and_replaces_with_replace(project, capsys):
    ckpt = project.model_dir("img") / "best.pt"
    predict_video(project, "b", ckpt, device="cpu")
    attrs = _held(project, "b")[0]
    command = ["predict", str(project.path), "img", "--videos", "a", "b", "--device", "cpu", "--threshold", "0.3"]
    assert dvos(command) == 2
    err = capsys.readouterr().err
    assert "b: prediction set 'img' holds 4 predicted frames made by " in err and "pass --replace" in err
    assert not project.video("a").predictions["img"].exists()  # 'a' came first: not predicted either
    assert _held(project, "b")[0] == attrs
    assert dvos([*command, "--replace"]) == 0
    assert "predicted 8 frames in 2 video(s)" in capsys.readouterr().out
    assert project.video("b").predictions["img"].attrs["threshold"] == 0.3
    assert dvos(command) == 0  # the same settings again: resumed, nothing to predict
    assert "predicted 0 frames" in capsys.readouterr().out


def test_the_command_loads_the_model_once_for_the_check_and_every_video(project, monkeypatch):
    import dvos_core.infer.predict as predict

    loads = []
    real = predict.load_model
    monkeypatch.setattr(predict, "load_model", lambda *a, **k: loads.append(a[0]) or real(*a, **k))
    ckpt = project.model_dir("img") / "best.pt"
    predict_video(project, "b", ckpt, device="cpu")
    assert len(loads) == 1
    command = ["predict", str(project.path), "img", "--videos", "a", "b", "--device", "cpu", "--threshold", "0.3"]
    assert dvos([*command, "--replace"]) == 0
    assert len(loads) == 2  # one load made both videos' sets
    assert dvos(command) == 0  # the check that a set holds other frames (none now) and the resume: one load
    assert len(loads) == 3
    predict_video(project, "a", ckpt, device="cpu", threshold=0.3)  # outside the block: loaded again
    assert len(loads) == 4


def test_models_in_memory_are_never_shared_by_the_block(monkeypatch):
    """Keyed by id(), a (model, info) pair was shared inside sharing_models(): a pair freed after its call handed its
    id to the next pair, whose model then got the first model's predictor (its frames predicted by the first model).
    A model in memory is prepared for each call; checkpoint files are still loaded once."""
    import dvos_core.infer.predict as predict

    loads = []

    def load(ck, *a):  # keeps the model, not the pair (as a Predictor does)
        loads.append(ck)
        return (ck[0] if isinstance(ck, tuple) else ck), None

    monkeypatch.setattr(predict, "_load_predictors", load)
    with predict.sharing_models():
        pair = (object(), {"kind": "frame"})
        for _ in range(3):  # the same pair (a model trained further in place between calls): prepared each time
            predict._predictors(pair, None, "cpu", None, 64)
        predict._predictors("/x/best.pt", None, "cpu", None, 64)
        predict._predictors("/x/best.pt", None, "cpu", None, 64)
    assert len(loads) == 4 and loads[-1] == "/x/best.pt"


def test_the_check_waits_for_another_writer_or_names_it(project, capsys):
    """`dvos predict --wait` without --replace refused at once while another process predicted the set, reading its
    half-written frames as a finished set to replace; without --wait the refusal said "pass --replace", not that
    another process is writing. The check now runs under the writer lock."""
    import time

    from other_writer import OtherWriter

    predict_video(project, "a", project.model_dir("img") / "best.pt", device="cpu", threshold=0.3)
    with OtherWriter(project.path, hold_s=3) as writer:
        command = ["predict", str(project.path), "img", "--videos", "a", "--device", "cpu"]
        assert dvos(command) == 2
        err = capsys.readouterr().err
        assert f"process {writer.pid}" in err and "pass --replace" not in err, err
        start = time.monotonic()
        assert dvos([*command, "--wait"]) == 2  # waited for it to end, then found the set made with other settings
        assert time.monotonic() - start > 1.0 and "pass --replace" in capsys.readouterr().err
