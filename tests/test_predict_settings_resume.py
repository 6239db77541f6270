"""A prediction set resumed with another tiling or number format mixed two runs' masks under the later run's
settings (and a finished set only had its settings rewritten): such a run now starts the set over, saying why, and a
context model's set records the overlap its tiles used."""

import warnings

import numpy as np
import pytest
import torch

from dvos_core.infer import predict_video
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (4, 80, 80, 3), np.uint8))
    torch.manual_seed(0)
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"), phase="image")
    return p


def test_another_tile_size_starts_the_set_over(project):
    ckpt = project.model_dir("img") / "best.pt"
    assert predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=16, frames=[0, 1]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same settings resume the set without a word
        assert predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=16) == 2
    said = r"the 4 frames .*with other settings: tile_size 64 -> 96, overlap 16 -> 32\) are replaced"
    with pytest.warns(UserWarning, match=said):
        assert predict_video(project, "v", ckpt, device="cpu", tile_size=96, overlap=32, replace=True) == 4
    attrs = project.video("v").predictions["img"].attrs
    assert (attrs["tile_size"], attrs["overlap"]) == (96, 32)


def test_a_replaced_set_names_a_new_threshold_and_a_model_trained_again(project):
    """Only the threshold changed: the warning said "an earlier version of ... or with other settings"; a model
    trained again at another size: it named the tiling only."""
    ckpt = project.model_dir("img") / "best.pt"
    predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=16)
    with pytest.warns(UserWarning, match=r"with other settings: threshold 0.5 -> 0.3\) are replaced"):
        predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=16, threshold=0.3, replace=True)
    torch.manual_seed(5)
    save_checkpoint(ckpt, build_model("tiny", "frame"), phase="image")  # trained again under the same name
    with pytest.warns(UserWarning, match=r"made by an earlier version of .*best.pt \(trained again since\)\)"):
        predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=16, threshold=0.3, replace=True)
    with pytest.warns(UserWarning, match=r"tile_size 64 -> 96.*; and the checkpoint file has changed since"):
        torch.manual_seed(6)
        save_checkpoint(ckpt, build_model("tiny", "frame"), phase="image")
        predict_video(project, "v", ckpt, device="cpu", tile_size=96, overlap=16, threshold=0.3, replace=True)


def test_a_set_keyed_before_the_tiling_was_resumes_with_the_same_settings(project):
    ckpt = project.model_dir("img") / "best.pt"
    predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=16, frames=[0, 1])
    preds = project.video("v").predictions["img"]
    old = preds.attrs["fingerprint"].split("/tile_size=")[0]  # as an older dvos recorded it
    sub = preds.video.group[preds._path]
    sub.attrs.put({**preds.attrs, "fingerprint": old})
    assert predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=16) == 2  # resumed: 2 left
    assert predict_video(project, "v", ckpt, device="cpu", tile_size=96, overlap=16, replace=True) == 4  # over


def test_a_context_set_records_the_overlap_its_tiles_used(project):
    torch.manual_seed(1)
    ckpt = project.model_dir("ctx", create=True) / "best.pt"
    save_checkpoint(ckpt, build_model("tiny", "context", tau=2), phase="synthetic")
    predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=32, frames=[0])
    assert project.video("v").predictions["ctx"].attrs["overlap"] == 16  # a quarter of the tile at most


@pytest.mark.parametrize("only_outliers", [True, False])
def test_smoothing_keeps_the_mask_of_a_frame_it_leaves_as_it_was(tmp_path, only_outliers):
    """A probability just under the threshold is stored as float16 0.5: smoothing a still video thresholded it
    again and every pixel of the frames it kept became head."""
    from dvos_core.infer.smooth import smooth_predictions

    p = Project.create(tmp_path / "s.dvos")
    frame = np.random.default_rng(0).integers(0, 255, (1, 96, 96, 3), np.uint8)
    v = p.add_video_array("v", np.repeat(frame, 4, 0))  # a still video: nothing to smooth
    v.predictions["m"].start({"kind": "frame", "threshold": 0.5}, None)
    v.predictions["m"].set_many(range(4), np.full((4, 96, 96), 0.4999, np.float32), 0.5)
    assert v.predictions["m"].masks(range(4)).sum() == 0
    smooth_predictions(p, "v", "m", only_outliers=only_outliers)
    assert p.video("v").predictions["m_smoothed"].masks(range(4)).sum() == 0


def test_the_command_that_finishes_a_stopped_set_repeats_its_tiling_and_number_format(project, capsys):
    """It said '(it resumes)' but, without --tile-size/--overlap, the command predicted at the default tiling and
    started the set over."""
    import shlex

    from dvos_core.cli import main as dvos
    from dvos_core.store.notes import unfinished_note
    from dvos_core.store.project import _prediction_sets

    ckpt = project.model_dir("img") / "best.pt"
    predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=16, frames=[0, 1])
    note = unfinished_note(project.path, "v", "img", _prediction_sets(project.video("v"), ["img"])[0]["img"])
    command = note.split("finish it with `")[1].split("`")[0]
    assert "--tile-size 64 --overlap 16 --precision fp32" in command
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # resumed: nothing replaced
        assert dvos([*shlex.split(command)[1:], "--device", "cpu"]) == 0
    assert "predicted 2 frames" in capsys.readouterr().out


def test_a_set_recorded_before_its_precision_was_resumes(project):
    ckpt = project.model_dir("img") / "best.pt"
    predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=16, frames=[0, 1])
    preds = project.video("v").predictions["img"]
    attrs = dict(preds.attrs)
    attrs["fingerprint"] = attrs["fingerprint"].split("/tile_size=")[0]  # as dvos recorded it before 2026-12-06
    del attrs["precision"]  # and before 2026-12-03
    preds.video.group[preds._path].attrs.put(attrs)
    assert predict_video(project, "v", ckpt, device="cpu", tile_size=64, overlap=16) == 2  # resumed
