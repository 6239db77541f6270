"""Temporal smoothing: a frame's misses are voted down by its motion-aligned neighbours; stored predictions are
smoothed into a new set (the source untouched), resumed, and redone when the source changes."""

import warnings

import cv2
import numpy as np
import pytest
from motion_clips import camera_clip, fast_pan, paint_heads, texture

from dvos_core.cli import main as dvos
from dvos_core.evaluate.metrics import frame_scores
from dvos_core.infer import smooth_array, smooth_predictions
from dvos_core.store import Project


@pytest.fixture(scope="module")
def clip():
    world, wmask, _ = paint_heads(texture(size=512, dark=True), 60, seed=1)
    frames, masks, _ = camera_clip(world, fast_pan(7, seed=2), size=(96, 96), world_mask=wmask)
    return frames, masks


def noisy(masks, seed=0):
    """Probabilities like a frame-by-frame model's: each frame loses a different third of its heads."""
    import scipy.ndimage as ndi

    rng = np.random.default_rng(seed)
    out = masks.astype(np.float32)
    for t, m in enumerate(masks):
        labels, n = ndi.label(m)
        lost = np.flatnonzero(rng.random(n) < 0.35) + 1
        out[t][np.isin(labels, lost)] = 0.1
    return out


def dice(p, gt):
    return np.mean([frame_scores(a >= 0.5, b)["dice"] for a, b in zip(p, gt)])


def test_aligned_neighbours_restore_what_single_frames_missed(clip):
    frames, masks = clip
    probs = noisy(masks)
    smooth = smooth_array(probs, frames, before=2, after=2)
    assert dice(smooth, masks) > dice(probs, masks) + 0.1  # a head lost in one frame is seen in the others
    causal = smooth_array(probs, frames, before=4)
    assert np.array_equal(causal[0], probs[0])  # nothing before the first frame
    assert dice(causal[3:], masks[3:]) > dice(probs[3:], masks[3:]) + 0.03
    camera_only = smooth_array(probs, frames, before=4, follow_sway=False)
    assert dice(camera_only[3:], masks[3:]) > dice(probs[3:], masks[3:]) + 0.05
    unaligned = np.stack([probs[max(0, t - 2) : t + 3].mean(0) for t in range(len(probs))])  # ignoring the camera
    assert dice(smooth, masks) > dice(unaligned, masks) + 0.2  # at 15-25 px per frame alignment is what counts
    with pytest.raises(ValueError, match="not both 0"):
        smooth_array(probs, frames, before=0, after=0)
    with pytest.raises(ValueError, match="do not match"):
        smooth_array(probs[:3], frames)


def swaying_clip():
    """Heads that move 6 px against the field from one frame to the next (wind), filmed by a panning camera."""
    from dvos_core.motion.transforms import similarity_matrix, to3x3

    world = texture(size=512, dark=True)
    rng = np.random.default_rng(5)
    centres = rng.uniform(60, 450, (70, 2))
    cam = np.array([[1.0, 0, -200], [0, 1.0, -200], [0, 0, 1]])
    frames, masks = [], []
    for t in range(8):
        w, m = world.copy(), np.zeros(world.shape[:2], np.uint8)
        for i, (x, y) in enumerate(centres):
            dx = 6 * (1 if (t + i) % 2 else -1)  # each head sways its own way
            cv2.circle(w, (int(x + dx), int(y)), 8, (230, 200, 60), -1)
            cv2.circle(m, (int(x + dx), int(y)), 8, 1, -1)
        if t:
            cam = to3x3(similarity_matrix(4.0, 3.0, 0.0, 1.0, (47.5, 47.5))) @ cam
        frames.append(cv2.warpAffine(w, cam[:2], (96, 96), flags=cv2.INTER_LINEAR))
        masks.append(cv2.warpAffine(m, cam[:2], (96, 96), flags=cv2.INTER_NEAREST))
    return np.stack(frames), np.stack(masks)


def test_heads_swaying_on_their_own_are_followed_not_blurred():
    frames, masks = swaying_clip()
    probs = masks.astype(np.float32) * 0.9  # a model that is right on every frame
    camera_only = smooth_array(probs, frames, before=4, follow_sway=False)
    followed = smooth_array(probs, frames, before=4)
    raw = dice(probs[2:], masks[2:])
    assert dice(camera_only[2:], masks[2:]) < raw - 0.1  # aligning the field alone smears the swaying heads
    assert dice(followed[2:], masks[2:]) > dice(camera_only[2:], masks[2:]) + 0.06
    assert dice(followed[2:], masks[2:]) > raw - 0.1


def test_following_the_sway_on_a_fast_pan_does_not_drag_masks_to_the_empty_border():
    # heads that move only with the camera, 15-25 px a frame: the neighbours' aligned views have wide empty borders
    world, wmask, _ = paint_heads(texture(size=1024, dark=True), 300, seed=2)
    frames, masks, _ = camera_clip(world, fast_pan(7, seed=2), size=(128, 128), world_mask=wmask)
    probs = masks.astype(np.float32) * 0.9
    camera_only = dice(smooth_array(probs, frames, before=4, follow_sway=False), masks)
    assert dice(smooth_array(probs, frames, before=4), masks) > camera_only - 0.002  # before the fill: -0.008


def test_stored_predictions_are_smoothed_into_their_own_set_and_resumed(clip, tmp_path):
    frames, masks = clip
    p = Project.create(tmp_path / "s.dvos")
    video = p.add_video_array("clip", frames, split="test")
    with pytest.raises(ValueError, match="no predictions of 'image'.*dvos predict"):
        smooth_predictions(p, "clip", "image")
    probs = noisy(masks)
    video.predictions["image"].start({"kind": "frame", "threshold": 0.5}, "ck1")
    video.predictions["image"].set_many(range(len(probs)), probs)
    source = video.predictions["image"].arrays()[1][:].copy()
    assert smooth_predictions(p, "clip", "image", before=2, after=2) == len(frames)
    out = video.predictions["image_smoothed"]
    assert out.attrs["source"] == "image" and out.attrs["kind"] == "smoothed"
    assert np.array_equal(video.predictions["image"].arrays()[1][:], source)  # the source is kept as it was
    expected = smooth_array(source.astype(np.float32), frames, before=2, after=2)
    assert np.abs(out.arrays()[1][:].astype(np.float32) - expected).max() < 2e-3  # float16 storage
    assert np.array_equal(out.masks(range(len(frames))), (expected >= 0.5).astype(np.uint8))
    assert smooth_predictions(p, "clip", "image", before=2, after=2) == 0  # resumed: nothing left
    assert smooth_predictions(p, "clip", "image", before=1, after=1) == len(frames)  # another window: redone
    video.predictions["image"].start({"kind": "frame", "threshold": 0.5}, "ck1")  # the source predicted again
    video.predictions["image"].set_many([0], probs[:1])  # (a resumed run changes the set once it writes a frame)
    assert smooth_predictions(p, "clip", "image", before=1, after=1) == len(frames)
    with pytest.raises(ValueError, match="another name"):
        smooth_predictions(p, "clip", "image", name="image")
    # another model's set, or a set smoothed from another source, is never replaced
    video.predictions["other"].start({"kind": "frame", "threshold": 0.5, "checkpoint": "other.pt"}, "ck2")
    video.predictions["other"].set_many(range(len(probs)), probs[::-1].copy())
    kept = video.predictions["other"].arrays()[1][:].copy()
    with pytest.raises(ValueError, match="already has the prediction set 'other' \\(predicted by other.pt\\)"):
        smooth_predictions(p, "clip", "image", name="other")
    with pytest.raises(ValueError, match="'image_smoothed' \\(smoothed from 'image'"):
        smooth_predictions(p, "clip", "other", name="image_smoothed")
    assert np.array_equal(video.predictions["other"].arrays()[1][:], kept)
    assert video.predictions["image_smoothed"].attrs["source"] == "image"


def test_cli_smooths_every_video_that_has_the_predictions(clip, tmp_path, capsys):
    frames, masks = clip
    p = Project.create(tmp_path / "c.dvos")
    for vid in ("a", "b"):
        v = p.add_video_array(vid, frames, split="test")
    v.predictions["image"].start({"kind": "frame"}, None)  # only video b was predicted
    v.predictions["image"].set_many(range(len(frames)), noisy(masks))
    assert dvos(["smooth", str(p.path), "image", "--before", "2", "--name", "steady", "--camera-only"]) == 0
    assert "smoothed 8 frames in 1 video(s) into 'steady'" in capsys.readouterr().out
    assert p.video("b").predictions["steady"].frames().tolist() == list(range(8))
    assert "steady" not in p.video("a").predictions.models()
    assert p.video("b").predictions["steady"].attrs["follow_sway"] is False
    assert p.video("b").predictions["steady"].attrs["only_outliers"] is False
    assert dvos(["smooth", str(p.path), "image", "--only-outliers"]) == 0
    assert p.video("b").predictions["image_smoothed"].attrs["only_outliers"] is True
    assert dvos(["smooth", str(p.path), "none"]) != 0


def test_frames_too_small_for_optical_flow_are_smoothed_by_the_camera_alone():
    """OpenCV's DIS flow crashes the whole process on frames 8-15 px high: such frames are not followed along the
    sway (run in a child process, so a crash fails this test instead of the test run)."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from dvos_core.infer import smooth_array\n"
        "rng = np.random.default_rng(0)\n"
        "frames = rng.integers(0, 255, (5, 8, 64, 3), dtype=np.uint8)\n"
        "p = rng.random((5, 8, 64), dtype=np.float32)\n"
        "out = smooth_array(p, frames)\n"
        "assert out.shape == p.shape and np.isfinite(out).all()\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stderr[-2000:])


def test_a_two_pass_set_lends_only_its_finished_frames(clip, tmp_path):
    """A frame a two-pass set's second pass did not reach holds the first pass's map: it was smoothed into its
    neighbours as if it were the set's. Its neighbours now come out as with that frame not predicted at all."""
    frames, masks = clip
    probs = noisy(masks)
    smoothed = []
    for case, frame2_pass in (("first_pass_only", 1), ("not_predicted", 0)):
        p = Project.create(tmp_path / f"{case}.dvos")
        video = p.add_video_array("clip", frames, split="test")
        preds = video.predictions["ctx"]
        preds.start({"kind": "context", "threshold": 0.5, "passes": 2}, "ck")
        for t in range(len(probs)):
            if t != 2:
                preds.set(t, probs[t], done_value=2)
        if frame2_pass:
            preds.set(2, np.full(probs.shape[1:], 0.95, np.float32), done_value=frame2_pass)
        smooth_predictions(p, "clip", "ctx", before=1, after=1)
        out = video.predictions["ctx_smoothed"]
        assert 2 not in out.frames().tolist()
        smoothed.append(out.arrays()[1][[1, 3]].astype(np.float32))
    np.testing.assert_array_equal(smoothed[0], smoothed[1])


def test_evaluating_a_smoothed_set_whose_source_was_predicted_again_warns(tmp_path):
    """A model predicted again after its set was smoothed: evaluate scored the old predictions smoothed beside the
    new ones without a word (the table suggested smoothing gained 0.7 Dice)."""
    from dvos_core.evaluate import compare_models

    frames, masks = swaying_clip()
    p = Project.create(tmp_path / "s.dvos")
    video = p.add_video_array("clip", frames, split="test")
    for t in range(len(masks)):
        video.set_mask(t, masks[t], "manual")
    video.predictions["image"].start({"kind": "frame", "threshold": 0.5}, "ck1")
    video.predictions["image"].set_many(range(len(masks)), noisy(masks))
    smooth_predictions(p, "clip", "image")
    assert video.predictions["image_smoothed"].stale_source() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say yet
        compare_models(p, ["image", "image_smoothed"], save=False)
    video.predictions["image"].start({"kind": "frame", "threshold": 0.5}, "ck2")  # predicted again, by another model
    video.predictions["image"].set_many(range(len(masks)), np.zeros_like(noisy(masks)))
    assert "'image' was predicted again" in video.predictions["image_smoothed"].stale_source()
    with pytest.warns(UserWarning, match=r"smoothed predictions 'image_smoothed' in clip no longer match.*dvos smooth"):
        compare_models(p, ["image", "image_smoothed"], save=False)
    smooth_predictions(p, "clip", "image")  # smoothed again: in step
    assert video.predictions["image_smoothed"].stale_source() is None
    video.predictions.delete("image")
    assert "deleted" in video.predictions["image_smoothed"].stale_source()


def test_smoothing_says_when_it_makes_a_set_again_and_when_its_source_is_a_retrained_models(tmp_path):
    """Another mode replaced the smoothed set without a word; a retrained model's old predictions were smoothed
    without the warning evaluate gives for them."""
    from dvos_core.infer import predict_video
    from dvos_core.model import build_model, save_checkpoint

    frames, _ = swaying_clip()
    p = Project.create(tmp_path / "s.dvos")
    p.add_video_array("clip", frames)
    ckpt = save_checkpoint(p.model_dir("image", create=True) / "best.pt", build_model("tiny", "frame"))
    predict_video(p, "clip", ckpt, device="cpu")
    smooth_predictions(p, "clip", "image")
    with pytest.warns(
        UserWarning,
        match=r"the \d+ smoothed frames of 'image_smoothed' are made again \(other "
        r"settings: only_outliers False -> True\)",
    ):
        smooth_predictions(p, "clip", "image", only_outliers=True)
    save_checkpoint(ckpt, build_model("tiny", "frame"))  # trained again under the same name, not predicted again
    with pytest.warns(
        UserWarning,
        match=r"predictions of 'image' in clip were made by an earlier version of .*best.pt.*"
        r"predict again \(`dvos predict .*s.dvos image --videos clip .*`\) first",
    ):
        smooth_predictions(p, "clip", "image", only_outliers=True)
