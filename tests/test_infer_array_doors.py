"""What the in-memory doors of inference take, as a user driving dvos from Python meets them: ``load_model``'s own
(model, info, device) was refused with "too many values to unpack"."""

import numpy as np
import pytest
import torch
from motion_clips import camera_clip, fast_pan, paint_heads, texture

from dvos_core.infer import load_model, predict_array, predict_video
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
