"""A context model's two passes over part of a video, then over the rest, gave other masks than one run: the
first call refined its last frames without first-pass masks after them (and marked them done), and the second
call's first pass borrowed their refined masks. The last frames of a call now keep their first pass until the
frames after them have theirs (with a warning), and the next call refines them: both calls give one run's masks."""

import numpy as np
import pytest
import torch
from motion_clips import camera_clip, fast_pan, paint_heads, texture

from dvos_core.infer import predict_video
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path):
    world, _, _ = paint_heads(texture(size=512, dark=True), 40, seed=4)
    frames = camera_clip(world, fast_pan(9, seed=6, speed=(3, 8)), size=(96, 96))[0][:, :64, :64].copy()
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("a", frames)
    torch.manual_seed(0)  # reference path drawn at random: the reference masks change the answer
    net = build_model("tiny", "context", input_fusion=True).eval()
    for name, w in net.named_parameters():
        if name.startswith(("fusions.", "mask_prior", "ref_input")):
            torch.nn.init.normal_(w, std=0.2)
    return p, save_checkpoint(p.model_dir("ctx", create=True) / "best.pt", net, phase="video")


def test_two_passes_over_part_of_a_video_then_the_rest_give_one_runs_masks(project):
    p, ckpt = project
    opts = {"device": "cpu", "tile_size": 64, "overlap": 16, "scales": "own", "passes": 2, "threshold": 0.3}
    tau = build_model("tiny", "context").tau  # 4: frames 1-4 wait for the first pass of frames 5-8
    predict_video(p, "a", ckpt, name="whole", **opts)
    with pytest.warns(UserWarning, match=rf"a: frames {5 - tau}-4 keep their first-pass masks for now"):
        predict_video(p, "a", ckpt, name="split", frames=range(5), **opts)
    split = p.video("a").predictions["split"]
    assert split.arrays()[2][:].tolist() == [2] * (5 - tau) + [1] * tau + [0] * 5
    predict_video(p, "a", ckpt, name="split", frames=range(5, 10), **opts)
    whole = p.video("a").predictions["whole"]
    assert split.arrays()[2][:].tolist() == [2] * 10 == whole.arrays()[2][:].tolist()
    assert np.array_equal(split.arrays()[1][:], whole.arrays()[1][:])
    assert np.array_equal(split.arrays()[0][:], whole.arrays()[0][:])
