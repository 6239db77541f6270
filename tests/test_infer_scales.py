"""The scales a model segments a frame at: the rule, the averaging, and what prediction records and redoes."""

import numpy as np
import pytest
import torch

from dvos_core.cli import main
from dvos_core.infer import predict_array, predict_video
from dvos_core.infer.scales import Scales, enlarge, shrink
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)
# trained at 32 px from validation crops of 64 px: a 96 x 128 frame is at twice the trained scale
TRAINED = {"input_size": 32, "train_config": {"size": 32, "augment": {"eval_crop": 64}}}


def test_the_rule_follows_the_training_size_and_validation_crop():
    s = Scales.from_info({"train_config": {"size": 128, "augment": {}}})  # the default crop: 512 px
    assert s.zooms(1080, 1920) == (1.0, 0.25)  # far apart: both, own first
    assert s.zooms(160, 160) == (1.0,)  # 0.8: close enough, the frame's own
    assert s.zooms(96, 96) == (1.0,)  # smaller than the training size: never enlarged
    assert Scales("both", 128).zooms(160, 160) == (1.0, 0.8)
    assert Scales("trained", 128).zooms(1080, 1920) == (0.25,)
    assert Scales("own", 128).zooms(1080, 1920) == (1.0,)
    assert Scales.from_info(TRAINED).zooms(96, 128) == (1.0, 0.5)
    assert Scales.from_info({"input_size": 256}).zooms(1024, 1024) == (1.0, 0.5)  # imported weights: the paper's
    assert Scales.from_info({}).zooms(1080, 1920) == (1.0,)  # unknown training size: own
    with pytest.raises(ValueError, match="scales must be one of"):
        Scales("half", 128)


def test_shrink_and_enlarge_keep_the_leading_axes():
    frames = np.random.default_rng(0).integers(0, 255, (2, 3, 96, 128, 3), np.uint8)
    assert shrink(frames, 0.5).shape == (2, 3, 48, 64, 3)
    assert shrink(frames[:, :0], 0.5).shape == (2, 0, 48, 64, 3)  # no references
    assert shrink(np.zeros((4, 2, 96, 128), np.float32), 0.25, frames=False).shape == (4, 2, 24, 32)
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (48, 1))
    big = enlarge(ramp[None], 96, 128)
    assert big.shape == (1, 96, 128) and abs(float(big.mean()) - float(ramp.mean())) < 1e-3


@pytest.mark.parametrize("kind", ["frame", "context"])
def test_both_scales_average_the_own_and_the_trained_one(kind):
    torch.manual_seed(0)
    model = build_model("tiny", kind).eval()
    frames = np.random.default_rng(1).integers(0, 255, (3, 96, 128, 3), np.uint8)
    # the context model's ablation (references = the query, no masks) makes each frame independent of the others
    opts = {"device": "cpu", "references": "query"} if kind == "context" else {"device": "cpu"}
    run = {sc: predict_array((model, TRAINED), frames, scales=sc, **opts) for sc in ("own", "trained", "both")}
    assert all(p.shape == (3, 96, 128) for p in run.values())
    np.testing.assert_allclose(run["both"], (run["own"] + run["trained"]) / 2, atol=1e-5)
    assert np.abs(run["own"] - run["trained"]).max() > 1e-3  # the two scales do differ
    small = predict_array((model, TRAINED), shrink(frames, 0.5), scales="own", **opts)
    np.testing.assert_allclose(run["trained"], enlarge(small, 96, 128), atol=1e-5)  # = the shrunk frames, enlarged
    np.testing.assert_allclose(predict_array((model, TRAINED), frames, **opts), run["both"], atol=1e-6)  # auto


def test_prediction_records_its_scales_and_predicts_again_at_others(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", np.random.default_rng(2).integers(0, 255, (4, 96, 128, 3), np.uint8))
    ckpt = save_checkpoint(p.model_dir("ctx", create=True) / "best.pt", build_model("tiny", "context"), **TRAINED)
    assert predict_video(p, "v", ckpt, device="cpu", scales="own") == 4
    preds = p.video("v").predictions["ctx"]
    assert preds.attrs["zooms"] == [1.0]
    own = preds.arrays()[1][:].astype(np.float32)
    assert predict_video(p, "v", ckpt, device="cpu", replace=True) == 4  # auto: both scales here: every frame again
    assert preds.attrs["zooms"] == [1.0, 0.5]
    assert np.abs(preds.arrays()[1][:].astype(np.float32) - own).max() > 1e-3
    assert predict_video(p, "v", ckpt, device="cpu", scales="both") == 0  # the same scales: resumed, nothing to do
    path = str(p.path)
    assert main(["predict", path, "ctx", "--device", "cpu", "--scales", "trained", "--name", "fast"]) == 0
    assert Project.open(path).video("v").predictions["fast"].attrs["zooms"] == [0.5]
    with pytest.raises(SystemExit) as e:  # argparse names the choices
        main(["predict", path, "ctx", "--scales", "half"])
    assert e.value.code == 2


def test_a_cpu_predicting_large_frames_is_told_of_the_trained_scale():
    from dvos_core.prediction_options import scale_hint

    hint = scale_hint([(480, 640), (1080, 1920)], "cpu", "auto", "--scales trained")
    assert "1920x1080" in hint and "; --scales trained segments them" in hint
    assert scale_hint([(1080, 1920)], "cpu", "trained", "") is None  # already the fast way
    assert scale_hint([(1080, 1920)], "cuda", "auto", "") is None  # a GPU is fast enough
    assert scale_hint([(480, 640)], "cpu", "own", "") is None  # small frames
    assert "1280x720" in scale_hint([(720, 1280)], "cpu", "auto", "")  # 720p: about 7 s a frame at its own scale


def test_the_device_line_counts_the_threads_the_command_asked_for():
    from dvos_core.cli.infer_cmds import _device_line

    assert _device_line("cpu", threads=1) == "CPU (1 thread)"
