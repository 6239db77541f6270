"""``predict_array`` had no threshold: a context model's reference masks were cut at 0.5 there, while
``predict_video(threshold=0.2)`` cut them at 0.2, so the two gave other probabilities for the same frames although
the docstring promises the same scheduling. It takes ``threshold`` now, checked as predict_video's."""

import numpy as np
import pytest
import torch
from motion_clips import camera_clip, fast_pan, paint_heads, texture

from dvos_core.infer import predict_array, predict_video
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


def _context_checkpoint(path):
    """A tiny context model whose reference path is drawn at random, so the reference masks change its answer."""
    torch.manual_seed(0)
    net = build_model("tiny", "context", input_fusion=True).eval()
    for name, p in net.named_parameters():
        if name.startswith(("fusions.", "mask_prior", "ref_input")):
            torch.nn.init.normal_(p, std=0.2)
    return save_checkpoint(path, net, phase="video")


@pytest.mark.parametrize("passes", [1, 2])
def test_predict_array_cuts_reference_masks_at_the_threshold_as_predict_video(tmp_path, passes):
    world, _, _ = paint_heads(texture(size=512, dark=True), 40, seed=4)
    frames = camera_clip(world, fast_pan(5, seed=5, speed=(3, 8)), size=(96, 96))[0][:, :64, :64].copy()
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("a", frames)
    ckpt = _context_checkpoint(p.model_dir("ctx", create=True) / "best.pt")
    opts = {"device": "cpu", "tile_size": 64, "overlap": 16, "scales": "own", "passes": passes}
    predict_video(p, "a", ckpt, threshold=0.2, **opts)
    stored = p.video("a").predictions["ctx"].arrays()[1][:].astype(np.float32)
    at_02 = predict_array(ckpt, frames, threshold=0.2, **opts)
    assert np.abs(at_02 - stored).max() <= 1e-3  # the same maps, within float16 storage
    at_05 = predict_array(ckpt, frames, **opts)  # the default threshold (0.5) gives others: the threshold is used
    assert np.abs(at_05 - stored).max() > 1e-2
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\), got 1.5"):
        predict_array(ckpt, frames, threshold=1.5, **opts)
