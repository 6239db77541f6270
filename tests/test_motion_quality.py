"""Motion-compensated pseudo-label quality and temporal instability under a fast camera (15-25 px per frame)."""

import numpy as np
import pytest
import torch

pytest.importorskip("skimage")
from motion_clips import camera_clip, fast_pan, paint_heads, texture
from stub_models import BrightIsHead

from dvos_core.infer import pseudo_label
from dvos_core.infer.quality import camera_motion, flicker, mask_flicker, quality_score
from dvos_core.motion import estimate_global_motion, instability_per_pair, temporal_instability
from dvos_core.store import Project

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def fast_clip():
    """10 frames of 128x160 px, 40 bright heads on a dark real texture, camera panning 15-25 px per frame."""
    world, wmask, _ = paint_heads(texture("gravel", dark=True), 400, radius=(6, 10), seed=2)
    frames, masks, truth = camera_clip(world, fast_pan(9, seed=4), size=(128, 160), world_mask=wmask)
    return frames, masks, truth


class StuckMask(torch.nn.Module):
    """Stand-in for a wrong model: the same blobs in every frame, whatever the camera does."""

    kind, tau = "frame", 0

    def __init__(self, mask):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))
        self.mask = torch.as_tensor(mask, dtype=torch.float32)

    def forward(self, x):
        logits = 40 * (self.mask - 0.5)[None, None].expand(x.shape[0], 1, -1, -1)
        return {"mask": logits + 0 * self.p + 0 * x[:, :1], "frame": x}


def test_flicker_aligned_by_the_camera_motion(fast_clip):
    frames, masks, truth = fast_clip
    assert masks.mean() > 0.05
    m = camera_motion(frames[3], frames[4], masks[3], masks[4])
    assert m is not None and np.allclose(m, truth[3], atol=0.3)
    assert mask_flicker(masks[4], masks[3], m) < 0.1  # the true masks agree once aligned
    assert mask_flicker(masks[4], masks[3]) > 0.6  # ... and not before: heads moved by more than their size
    assert flicker(masks[4], masks[3], masks[5], m, None) == pytest.approx(
        (mask_flicker(masks[4], masks[3], m) + mask_flicker(masks[4], masks[5])) / 2
    )
    flat = np.full((48, 64, 3), 40, np.uint8)
    assert camera_motion(flat, flat) is None  # nothing to measure on: the flicker stays unaligned


def test_correct_label_keeps_high_quality_under_fast_motion(fast_clip, tmp_path):
    frames, masks, _ = fast_clip
    p = Project.create(tmp_path / "fast.dvos")
    v = p.add_video_array("pan", frames)
    df = pseudo_label(p, "pan", (BrightIsHead(), {}), device="cpu", n_passes=1, batch_size=4)
    written = np.stack([p.video("pan").mask(t) for t in range(len(frames))])
    dice = [2 * (w & m).sum() / (w.sum() + m.sum()) for w, m in zip(written, masks)]
    assert min(dice) > 0.9  # the labels are right (up to the edge pixels the camera blends)
    assert (df["quality"] > 0.8).all(), df["quality"].round(3).tolist()
    assert np.allclose(v.quality, df["quality"])
    # what the unaligned flicker made of the same labels
    old = [
        quality_score(0.0, flicker(written[t], written[t - 1] if t else None, written[t + 1] if t < 9 else None))
        for t in range(10)
    ]
    assert max(old) < 0.5, old


def test_wrong_label_still_scores_low(fast_clip, tmp_path):
    frames, masks, _ = fast_clip
    p = Project.create(tmp_path / "wrong.dvos")
    p.add_video_array("pan", frames)
    df = pseudo_label(p, "pan", (StuckMask(masks[0]), {}), device="cpu", n_passes=1, batch_size=4)
    assert (df["quality"] < 0.5).all(), df["quality"].round(3).tolist()


def test_instability_of_true_and_shuffled_masks(fast_clip):
    frames, masks, truth = fast_clip
    gm = estimate_global_motion(frames)
    steady = temporal_instability(masks, matrices=gm)
    assert steady < 0.1
    assert temporal_instability(masks, frames) == pytest.approx(steady)
    assert temporal_instability(masks, matrices=truth) < 0.1
    shuffled = masks[np.random.default_rng(0).permutation(len(masks))]
    assert temporal_instability(shuffled, matrices=gm) > 0.6
    unaligned = temporal_instability(masks, matrices=np.tile(np.eye(2, 3), (len(masks) - 1, 1, 1)))
    assert unaligned > 0.6  # without the camera motion the true masks look unstable
    per = instability_per_pair(masks, matrices=gm)
    assert per.shape == (len(masks) - 1,) and np.isclose(per.mean(), steady)
    assert np.isnan(temporal_instability(masks[:1], matrices=np.zeros((0, 2, 3))))
    empty = np.zeros((3, 16, 16), np.uint8)
    assert temporal_instability(empty, matrices=np.tile(np.eye(2, 3), (2, 1, 1))) == 0.0
    with pytest.raises(ValueError, match="needs the frames"):
        temporal_instability(masks)
    with pytest.raises(ValueError, match="pair matrices"):
        temporal_instability(masks, matrices=truth[:3])
