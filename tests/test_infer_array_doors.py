"""What the in-memory doors of inference take and return, as a user driving dvos from Python meets them:
``predict_array(targets=[5, 2])`` returned the rows sorted (and ``[2, 2]`` one row) while out[i] reads as
targets[i]; ``load_model``'s own (model, info, device) was refused with "too many values to unpack";
``smooth_array`` took a 0/255 probability image (every pixel came back 17-239, all head at 0.5) and float frames
(a raw OpenCV error); and ``predict_array`` ran passes=3, batch_size=0 and threads=1.5 where predict_video refuses
them."""

import numpy as np
import pytest
import torch
from motion_clips import camera_clip, fast_pan, paint_heads, texture

from dvos_core.infer import load_model, predict_array, predict_video, smooth_array
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)
OPTS = {"device": "cpu", "threads": 1, "tile_size": 64, "overlap": 16, "scales": "own"}


@pytest.fixture(scope="module")
def frames():
    world, _, _ = paint_heads(texture(size=512, dark=True), 40, seed=4)
    return camera_clip(world, fast_pan(4, seed=5, speed=(3, 8)), size=(96, 96))[0][:, :64, :64].copy()


def _checkpoint(path, kind: str):
    torch.manual_seed(0)
    net = build_model("tiny", kind, **({"input_fusion": True} if kind == "context" else {})).eval()
    if kind == "context":  # a reference path drawn at random: the references change the answer
        for name, p in net.named_parameters():
            if name.startswith(("fusions.", "mask_prior", "ref_input")):
                torch.nn.init.normal_(p, std=0.2)
    return save_checkpoint(path, net, phase="video" if kind == "context" else "image")


@pytest.mark.parametrize("kind", ["frame", "context"])
def test_predict_array_returns_a_row_per_target_in_the_order_asked(tmp_path, frames, kind):
    ckpt = _checkpoint(tmp_path / "best.pt", kind)
    full = predict_array(ckpt, frames, **OPTS)
    assert full.shape == (5, 64, 64)
    asked = [3, 0, 4, 1, 2, 0]  # every frame (a context model's references are the frames before it), out of order
    got = predict_array(ckpt, frames, targets=asked, **OPTS)
    assert got.shape == (6, 64, 64)
    np.testing.assert_allclose(got, full[asked], atol=1e-5)
    assert not np.allclose(got[0], got[1], atol=1e-3)  # the rows differ: their order is checked
    twice = predict_array(ckpt, frames, targets=[2, 2], **OPTS)
    assert twice.shape == (2, 64, 64) and np.array_equal(twice[0], twice[1])
    if kind == "frame":  # a frame model's frames stand alone: a few, out of order
        np.testing.assert_allclose(predict_array(ckpt, frames, targets=[4, 1], **OPTS), full[[4, 1]], atol=1e-5)


def test_a_frame_number_must_be_a_whole_number(tmp_path, frames):
    """targets=[True] predicted frame 1 and [2.7] frame 2, unsaid; the store refuses both as frame numbers."""
    ckpt = _checkpoint(tmp_path / "best.pt", "frame")
    for bad in ([True], [2.7], [np.True_]):
        with pytest.raises(TypeError, match="frame index must be a whole number"):
            predict_array(ckpt, frames, targets=bad, **OPTS)
    assert predict_array(ckpt, frames, targets=[np.int64(2)], **OPTS).shape == (1, 64, 64)


def test_what_load_model_returns_is_a_model_prediction_takes(tmp_path, frames):
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", frames[:2])
    ckpt = _checkpoint(tmp_path / "best.pt", "frame")
    loaded = load_model(ckpt, device="cpu")
    assert len(loaded) == 3
    assert predict_video(p, "v", loaded, **OPTS) == 2
    np.testing.assert_allclose(predict_array(loaded, frames[:2], **OPTS), predict_array(ckpt, frames[:2], **OPTS))
    with pytest.raises(TypeError, match=r"must be \(model, info\) or what load_model returns.*tuple of 3"):
        predict_array((*loaded[:2], 5), frames[:2], **OPTS)


def test_smooth_array_refuses_a_0_255_probability_image_and_float_frames(frames):
    probs = np.zeros(frames.shape[:3], np.float32)
    probs[:, 20:30, 20:40] = 1.0
    with pytest.raises(ValueError, match=r"probabilities hold values from 0 to 255.*divide by 255"):
        smooth_array((probs * 255).astype(np.uint8), frames, before=2)
    with pytest.raises(ValueError, match=r"probabilities hold NaN"):
        smooth_array(np.full(frames.shape[:3], np.nan, np.float32), frames, before=2)
    with pytest.raises(ValueError, match=r"frames must be \(T, H, W, 3\) uint8 RGB.*float32.*\* 255"):
        smooth_array(probs, frames.astype(np.float32) / 255, before=2)
    with pytest.raises(ValueError, match=r"frames must be \(T, H, W, 3\) uint8 RGB.*uint16"):
        smooth_array(probs, frames.astype(np.uint16), before=2)
    out = smooth_array(probs, frames, before=2)  # 0/1 numbers are probabilities
    assert out.shape == probs.shape and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"passes": 3}, "passes must be 1 or 2, got 3"),
        ({"passes": 0}, "passes must be 1 or 2, got 0"),
        ({"passes": -1}, "passes must be 1 or 2, got -1"),
        ({"reference_masks": "both"}, "reference_masks must be one of"),
        ({"batch_size": 0}, r"batch_size=\) must be a whole number >= 1, got 0"),
        ({"batch_size": -1}, r"batch_size=\) must be a whole number >= 1, got -1"),
        ({"threads": 1.5}, "threads must be a whole number of threads >= 1, got 1.5"),
        ({"threads": "2"}, "threads must be a whole number of threads >= 1, got '2'"),
    ],
)
def test_predict_array_refuses_what_predict_video_refuses(tmp_path, frames, bad, message):
    ckpt = _checkpoint(tmp_path / "best.pt", "context")
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", frames[:2])
    for predict in (lambda **o: predict_array(ckpt, frames[:2], **o), lambda **o: predict_video(p, "v", ckpt, **o)):
        with pytest.raises(ValueError, match=message):
            predict(**{**OPTS, **bad})
    assert p.video("v").predictions.models() == []
