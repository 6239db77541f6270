"""Backgrounds from annotated frames: heads inpainted away (no head colour or texture left), clips of the requested
length that follow the video's measured camera motion, a synthetic camera, or none; CLI and errors."""

import numpy as np
import pytest

pytest.importorskip("skimage")
from motion_clips import camera_clip, texture

from dvos_core.extract import backgrounds_from_annotated, inpaint_heads
from dvos_core.extract.inpaint import head_hole
from dvos_core.motion import estimate_global_motion

HEAD = np.array([235, 205, 40], np.float32)  # a colour the dark field never has


def _heads_world(world, n=300, seed=0):
    """Paint textured yellow ellipses ("heads", with stripes) on the world; returns (world, mask)."""
    import cv2

    rng = np.random.default_rng(seed)
    world, mask = world.copy(), np.zeros(world.shape[:2], np.uint8)
    for _ in range(n):
        x, y = (int(v) for v in rng.uniform(30, world.shape[0] - 30, 2))
        axes, ang = (int(rng.integers(6, 11)), int(rng.integers(3, 6))), float(rng.uniform(0, 180))
        cv2.ellipse(mask, (x, y), axes, ang, 0, 360, 1, -1)
    stripes = (np.indices(world.shape[:2]).sum(0) // 3 % 2)[..., None] * 30
    heads = np.clip(HEAD[None, None] - stripes, 0, 255).astype(np.uint8)
    world[mask > 0] = heads[mask > 0]
    return world, mask


@pytest.fixture(scope="module")
def field():
    """A dark textured field with striped yellow heads, filmed by a camera panning ~8 px per frame."""
    world, wmask = _heads_world(texture("gravel", dark=True))
    steps = [(8.0, -3.0, 0.3, 1.0)] * 11
    frames, masks, truth = camera_clip(world, steps, size=(128, 160), world_mask=wmask)
    return frames, masks, truth


def _detail(img):
    """Fine detail of an RGB image: grey minus its blur."""
    import cv2

    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), 2)


def _head_like(img):
    return np.linalg.norm(img.astype(np.float32) - HEAD, axis=-1) < 80


@pytest.mark.parametrize("method", ["texture", "telea", "ns"])
def test_inpainted_frame_holds_no_head_pixels(field, method):
    frames, masks, _ = field
    frame, mask = frames[0], masks[0]
    assert _head_like(frame)[mask > 0].mean() > 0.9  # the heads are there to begin with
    out, info = inpaint_heads(frame, mask, dilate_px=3, method=method)
    hole = head_hole(mask, 3)
    assert not _head_like(out).any()  # no pixel anywhere keeps the head colour
    assert np.array_equal(out[~hole], frame[~hole])  # the rest of the frame is untouched
    # the heads' stripes are gone: the fine detail where the heads were does not correlate with theirs
    a, b = _detail(frame)[mask > 0], _detail(out)[mask > 0]
    assert a.std() > 5 and abs(np.corrcoef(a, b)[0, 1]) < 0.2
    assert info["holes"] > 5 and (info["textured"] > 0) == (method == "texture")


def test_texture_fill_keeps_field_texture(field):
    frames, masks, _ = field
    hole = head_hole(masks[0], 3)
    textured = _detail(inpaint_heads(frames[0], masks[0], 3, "texture")[0])[hole].std()
    smooth = _detail(inpaint_heads(frames[0], masks[0], 3, "telea")[0])[hole].std()
    field_detail = _detail(frames[0])[~hole].std()
    assert textured > 1.5 * smooth  # a diffusion fill is smooth; the texture fill looks like field
    assert 0.6 * field_detail < textured < 1.5 * field_detail


def test_clips_follow_the_measured_camera(field, tmp_project):
    frames, masks, _ = field
    v = tmp_project.add_video_array("plot", frames, split="train")
    v.set_mask(2, masks[2], "manual")
    v.set_mask(9, masks[9], "manual")
    clips = backgrounds_from_annotated(tmp_project, clip_length=7, dilate_px=3)
    assert [c.name for c in clips] == ["plot_inp_000", "plot_inp_001"]
    for c, t in zip(clips, (2, 9)):
        a = c.attrs
        assert c.shape == (7, 128, 160, 3) and a["source"] == "plot" and a["frame"] == t
        assert a["origin"] == "inpainted" and a["motion"]["kind"] == "measured"
        clip = c.read_frames()
        assert not _head_like(clip).any()
        gm = estimate_global_motion(clip)
        assert np.allclose(gm.dx, 8.0, atol=0.5) and np.allclose(gm.dy, -3.0, atol=0.5)
        assert np.allclose(gm.rotation_deg, 0.3, atol=0.1)
    # the annotated frame is in its clip as it was, heads removed (frame 9 is view 4 of the clip of frames 5-11)
    for c, t, j in ((clips[0], 2, 0), (clips[1], 9, 4)):
        keep = ~head_hole(masks[t], 3)
        assert np.array_equal(c.read_frames()[j][keep], frames[t][keep])
    assert backgrounds_from_annotated(tmp_project, clip_length=7) == []  # done frames are skipped
    # a longer clip than the video repeats its measured motion
    longer = backgrounds_from_annotated(tmp_project, frames=[9], clip_length=16, replace=True)[0]
    assert len(longer) == 16
    assert np.allclose(estimate_global_motion(longer.read_frames()[8:]).dx, 8.0, atol=0.5)


def test_default_and_no_motion(field, tmp_project):
    frames, masks, _ = field
    v = tmp_project.add_video_array("still", frames[:1], split="train")
    v.set_mask(0, masks[0], "manual")
    [auto] = backgrounds_from_annotated(tmp_project, clip_length=6, camera={"camera_speed_min": 5, "camera_speed": 6})
    assert auto.attrs["motion"]["kind"] == "default"  # one frame: nothing to measure
    shift = estimate_global_motion(auto.read_frames()).shift_px
    assert np.all((shift > 3.5) & (shift < 8.5)), shift
    [static] = backgrounds_from_annotated(tmp_project, clip_length=3, motion="none", replace=True)
    f = static.read_frames()
    assert np.array_equal(f[0], f[2]) and not _head_like(f).any()
    with pytest.raises(ValueError, match="one frame"):
        backgrounds_from_annotated(tmp_project, clip_length=3, motion="measured", replace=True)
    assert tmp_project.background_ids() == [static.name]  # replace replaced the first clip; the failed one kept it


def test_the_first_report_comes_before_the_first_inpainting(field, tmp_project, monkeypatch):
    """On a 4K frame the inpainting takes ~10 s: the command was silent until it was done."""
    import dvos_core.extract.annotated_backgrounds as ab

    frames, masks, _ = field
    v = tmp_project.add_video_array("plot", frames[:2], split="train")
    v.set_mask(0, masks[0], "manual")
    seen, inpaint = [], ab.inpaint_heads
    monkeypatch.setattr(ab, "inpaint_heads", lambda *a, **k: seen.append("inpaint") or inpaint(*a, **k))
    backgrounds_from_annotated(tmp_project, clip_length=3, progress=lambda d, t, m: seen.append((d, t, m)))
    assert seen[0] == (0, 4, "plot[0]: inpainting the heads") and seen[1] == "inpaint"


def test_errors_and_cancel(field, tmp_project):
    from dvos_core.progress import Cancelled, CancelToken

    frames, masks, _ = field
    with pytest.raises(ValueError, match="no annotated frames"):
        backgrounds_from_annotated(tmp_project)
    t = tmp_project.add_video_array("gt", frames[:3], split="test")
    t.set_mask(0, masks[0], "manual")
    with pytest.raises(ValueError, match="test video"):
        backgrounds_from_annotated(tmp_project, ["gt"])
    v = tmp_project.add_video_array("plot", frames[:4], split="train")
    with pytest.raises(ValueError, match="frame 1 has no mask"):
        backgrounds_from_annotated(tmp_project, ["plot"], frames=[1])
    v.set_mask(1, masks[1], "manual")
    with pytest.raises(ValueError, match="motion must be"):
        backgrounds_from_annotated(tmp_project, ["plot"], motion="fast")
    token = CancelToken()

    def progress(done, total, msg):
        if "frames" in msg:
            token.cancel()

    with pytest.raises(Cancelled):
        backgrounds_from_annotated(tmp_project, ["plot"], clip_length=20, progress=progress, cancel=token)
    assert tmp_project.background_ids() == []  # the unfinished clip is gone


def test_cli_from_annotated(field, tmp_project, capsys):
    from dvos_core.cli import main

    frames, masks, _ = field
    v = tmp_project.add_video_array("plot", frames[:5], split="train")
    v.set_mask(1, masks[1], "manual")
    args = ["extract-backgrounds", str(tmp_project.path), "--from-annotated", "--clip-length", "4", "--dilate", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 background clip" in out and "plot_inp_000" in out and "measured" in out
    assert tmp_project.background("plot_inp_000").shape == (4, 128, 160, 3)
    assert main(["extract-backgrounds", str(tmp_project.path)]) == 2
    assert "give SOURCE" in capsys.readouterr().err
    assert main(["extract-backgrounds", str(tmp_project.path), "x.mp4", "--from-annotated"]) == 2


def test_at_most_n_clips_spread_over_the_annotated_frames(field, tmp_project, capsys):
    from dvos_core.cli import main

    frames, masks, _ = field
    v = tmp_project.add_video_array("plot", frames[:9], split="train")
    for t in (0, 2, 4, 6, 8):
        v.set_mask(t, masks[t], "manual")
    clips = backgrounds_from_annotated(tmp_project, clip_length=2, n_clips=3, motion="none")
    assert [c.attrs["frame"] for c in clips] == [0, 4, 8]  # spread evenly, not the first three
    args = ["extract-backgrounds", str(tmp_project.path), "--from-annotated", "--clip-length", "2", "--clips", "1"]
    assert main([*args, "--motion", "none"]) == 0 and "1 background clip" in capsys.readouterr().out
    assert sorted(int(tmp_project.background(b).attrs["frame"]) for b in tmp_project.background_ids()) == [0, 2, 4, 8]
    with pytest.raises(ValueError, match="--clips must be >= 1"):
        backgrounds_from_annotated(tmp_project, n_clips=0)


def test_a_frame_left_with_little_field_is_warned_about(tmp_project):
    """A frame whose grown heads cover 99.9 % of it gave a clip filled from about 14 field pixels, unsaid (only a
    frame covered whole was skipped)."""
    frames = np.random.default_rng(0).integers(0, 255, (2, 40, 40, 3), dtype=np.uint8)
    v = tmp_project.add_video_array("dense", frames)
    m = np.ones((40, 40), np.uint8)
    m[:2, :4] = 0  # 8 px of field
    v.set_mask(0, m, "manual")
    with pytest.warns(UserWarning, match=r"leave only 0\.5 % of the frame as field"):
        clips = backgrounds_from_annotated(tmp_project, clip_length=2, motion="none", dilate_px=0)
    assert len(clips) == 1


def test_heads_filled_counts_heads_not_the_holes_they_merge_into(tmp_project, capsys):
    """Seven heads, three pairs of them 4 px apart: grown by 6 px the pairs merge into one hole each (4 holes). The
    CLI said '4 heads filled'; it counts the heads painted."""
    from dvos_core.cli import main

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 120, (64, 128, 3), dtype=np.uint8)
    mask = np.zeros((64, 128), np.uint8)
    for x in (4, 34, 64):  # three pairs, 4 px apart
        mask[10:16, x : x + 6] = 1
        mask[10:16, x + 10 : x + 16] = 1
    mask[44:50, 100:106] = 1  # one alone
    _, info = inpaint_heads(frame, mask, dilate_px=6)
    assert (info["heads"], info["holes"]) == (7, 4)
    v = tmp_project.add_video_array("plot", frame[None], split="train")
    v.set_mask(0, mask, "manual")
    args = ["extract-backgrounds", str(tmp_project.path), "--from-annotated", "--clip-length", "2", "--motion", "none"]
    assert main(args) == 0
    assert "plot frame 0, 7 heads filled" in capsys.readouterr().out


def test_measured_motion_of_a_one_frame_video_names_the_cli_option(tmp_project, capsys):
    """The CLI's refusal named motion='default', the Python spelling; it names --motion default (and the Python one)."""
    from dvos_core.cli import main

    v = tmp_project.add_video_array("still", np.zeros((1, 32, 48, 3), np.uint8), split="train")
    mask = np.zeros((32, 48), np.uint8)
    mask[10:16, 10:16] = 1
    v.set_mask(0, mask, "manual")
    args = ["extract-backgrounds", str(tmp_project.path), "--from-annotated", "--clip-length", "2"]
    assert main([*args, "--motion", "measured"]) == 2
    err = capsys.readouterr().err
    assert "one frame" in err and "--motion default" in err and "motion='default'" in err
    assert tmp_project.background_ids() == []


def test_threads_set_the_opencv_threads_as_for_the_other_extractions(field, tmp_project, monkeypatch, capsys):
    """backgrounds_from_annotated had no threads= (extract_backgrounds and extract_heads have), and `dvos
    extract-backgrounds --from-annotated --threads N` let it run with the machine's default."""
    import cv2

    import dvos_core.extract.annotated_backgrounds as ab
    from dvos_core.cli import main

    frames, masks, _ = field
    v = tmp_project.add_video_array("plot", frames[:3], split="train")
    for t in (0, 2):
        v.set_mask(t, masks[t], "manual")
    seen, fill = [], ab.inpaint_heads

    def inpaint(*a, **kw):
        seen.append(cv2.getNumThreads())
        return fill(*a, **kw)

    monkeypatch.setattr(ab, "inpaint_heads", inpaint)
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        backgrounds_from_annotated(tmp_project, frames=[0], clip_length=2, motion="none", threads=1)
        assert seen == [1] and cv2.getNumThreads() == 3
        args = ["extract-backgrounds", str(tmp_project.path), "--from-annotated", "--clip-length", "2"]
        assert main([*args, "--motion", "none", "--threads", "2"]) == 0
        assert seen == [1, 2], capsys.readouterr()
    finally:
        cv2.setNumThreads(before)
