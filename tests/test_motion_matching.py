"""Synthesis motion matched to the footage: measured ranges -> SynthConfig, warnings when far apart, the pan-speed
range of the camera, rendered clips measured like footage, and `dvos synth --match-motion / --compare-motion`."""

import numpy as np
import pytest

pytest.importorskip("skimage")
from motion_clips import camera_clip, fast_pan, paint_heads, texture

from dvos_core.motion import check_config_motion, config_motion, match_motion, measure_clips
from dvos_core.motion.matching import pixel_scales
from dvos_core.motion.summary import measure_videos
from dvos_core.synth import SynthConfig, simulate_clip
from dvos_core.synth.motion import camera_path


@pytest.fixture(scope="module")
def fast_video():
    """24 frames filmed by a camera panning 15-25 px per frame over a field with heads."""
    world, wmask, _ = paint_heads(texture("gravel", dark=True), 300, seed=1)
    frames, masks, _ = camera_clip(world, fast_pan(23, seed=5), size=(128, 160), world_mask=wmask)
    return frames, masks


@pytest.fixture(scope="module")
def slow_video():
    world, _, _ = paint_heads(texture("astronaut"), 100, seed=2)
    frames, _, _ = camera_clip(world, [(1.2, 0.5, 0.0, 1.0)] * 15, size=(128, 160))
    return frames


def test_match_motion_sets_the_ranges_of_fast_footage(fast_video):
    frames, _ = fast_video
    base = SynthConfig(n_frames=24)
    mm = match_motion({"fast": frames}, base=base)
    measured = mm.measured["all"]
    assert 17 < measured["shift_px"]["median"] < 23 and measured["unreliable_share"] == 0
    o = mm.overrides
    assert o["camera_speed_min"] <= measured["pan_px"]["min"] <= measured["pan_px"]["max"] <= o["camera_speed"]
    assert set(o) <= {f.name for f in __import__("dataclasses").fields(SynthConfig)}
    assert mm.config == base.replace(**o) and mm.base is base
    # the matched config moves like the footage; the default config does not, and says so
    assert abs(mm.after["shift_px"]["median"] - measured["shift_px"]["median"]) < 0.25 * measured["shift_px"]["median"]
    assert mm.before["shift_px"]["median"] < 2
    assert any("px/frame" in w and "camera_speed 1.5" in w for w in mm.warnings)
    assert mm.warnings_after == []
    assert mm.rows[0]["far_before"] and not mm.rows[0]["far_after"]
    table = mm.table()
    assert "footage" in table and "shift per frame, median (px)" in table
    d = mm.to_dict()
    import json

    json.dumps(d)  # plain data for the Synthesize dock
    assert d["config"]["camera_speed"] == o["camera_speed"] and d["warnings"] == mm.warnings


def test_moving_background_clips_are_flagged(fast_video, tmp_project):
    frames, _ = fast_video
    tmp_project.add_video_array("plot", frames, split="train")
    still = tmp_project.create_background("still", 128, 160)
    still.append_frames([frames[0]] * 4)
    base = SynthConfig(n_frames=24)
    assert match_motion(tmp_project, ["plot"], base=base).warnings_after == []
    tmp_project.add_video_array("gt", frames[:3], split="test")
    assert list(match_motion(tmp_project, base=base).measured["videos"]) == ["plot"]  # test videos left out
    moving = tmp_project.create_background("moving", 128, 160)
    moving.append_frames(list(frames[:6]))  # a clip that carries the footage's own camera motion
    [w] = match_motion(tmp_project, ["plot"], base=base).warnings_after
    assert "background clips move" in w and "--motion none" in w


def test_videos_of_one_frame_say_so_and_how_to_go_on(slow_video):
    with pytest.raises(ValueError, match=r"no frame pairs .*\['one'\] hold one frame each.*--no-match-motion"):
        match_motion({"one": slow_video[:1]}, n_model_clips=2)


def test_slow_footage_agrees_with_the_defaults(slow_video):
    rep = check_config_motion({"slow": slow_video}, SynthConfig(n_frames=15))
    assert rep["warnings"] == [] and not any(r["far"] for r in rep["rows"])
    fast = check_config_motion({"slow": slow_video}, SynthConfig(n_frames=15, camera_speed_min=20, camera_speed=25))
    assert any("motion mismatch" in w for w in fast["warnings"])


def test_pan_speed_range_and_its_validation():
    cfg = SynthConfig(n_frames=5, camera_speed_min=10, camera_speed=12, camera_shake_px=0, camera_zoom=0)
    rng = np.random.default_rng(0)
    speeds = [np.hypot(*np.diff(camera_path(rng, cfg).centre, axis=0)[0]) for _ in range(200)]
    assert min(speeds) >= 10 and max(speeds) <= 12 and max(speeds) - min(speeds) > 1.5
    # without a minimum the pan is drawn per axis exactly as before (old seeds give the same clips)
    old = SynthConfig(n_frames=5, camera_shake_px=0, camera_zoom=0)
    v = np.diff(camera_path(np.random.default_rng(3), old).centre, axis=0)[0]
    assert np.allclose(v, np.random.default_rng(3).uniform(-1.5, 1.5, 2))
    with pytest.raises(ValueError, match="camera_speed_min must lie in"):
        SynthConfig(camera_speed_min=3, camera_speed=2)
    with pytest.raises(ValueError, match="camera_speed_min must lie in"):
        SynthConfig(camera_speed_min=-1)


def test_config_motion_follows_the_settings():
    slow = config_motion(SynthConfig(n_frames=30), n_clips=16)
    fast = config_motion(SynthConfig(n_frames=30, camera_speed_min=15, camera_speed=25, camera_shake_px=0), 16)
    assert slow["shift_px"]["p90"] < 3 and fast["pan_px"]["min"] >= 15 and fast["pan_px"]["max"] <= 25.5
    assert config_motion(SynthConfig(n_frames=30, sway_px=10), 8)["local_px"] > 2 * slow["local_px"]


def test_rendered_clips_move_as_configured():
    """What the renderer makes, measured like footage, moves at the configured speed."""
    from dvos_core.synth.toy import toy_objects

    rng = np.random.default_rng(0)
    heads, fakes = toy_objects(rng, 6, 4)
    background = np.repeat(texture("astronaut", 400)[None], 3, axis=0)
    cfg = SynthConfig(
        n_frames=8, height=128, width=128, n_heads=(4, 6), n_fakes=(2, 4), camera_speed_min=8, camera_speed=10
    )
    frames, _ = simulate_clip(heads, fakes, background, cfg, seed=1)
    stats = measure_clips([frames])
    assert 7 < stats["shift_px"]["median"] < 11.5 and stats["unreliable_share"] == 0
    with pytest.raises(ValueError, match="no clips"):
        measure_clips([])


def test_old_synthetic_set_without_the_new_field_resumes(tmp_path):
    from dvos_core.synth.generate import open_or_create_set
    from dvos_core.synth.toy import toy_project

    p = toy_project(tmp_path / "p.dvos", n_heads=2, n_fakes=0, bg_frames=2, bg_size=(80, 80))
    cfg = SynthConfig(n_frames=2, height=64, width=64)
    s = open_or_create_set(p, "old", 2, cfg, 0, "train")
    stored = dict(s.group.attrs["config"])
    del stored["camera_speed_min"]  # as written before the field existed
    s.group.attrs["config"] = stored
    assert open_or_create_set(p, "old", 2, cfg, 0, "train").name == "old"
    from dvos_core.store import StoreError

    with pytest.raises(StoreError, match="camera_speed"):
        open_or_create_set(p, "old", 2, cfg.replace(camera_speed=3.0), 0, "train")


def test_cli_match_and_compare_motion(fast_video, tmp_path, capsys):
    from dvos_core.cli import main
    from dvos_core.synth.toy import toy_project

    frames, _ = fast_video
    p = toy_project(tmp_path / "m.dvos", n_heads=4, n_fakes=2, bg_frames=3, bg_size=(140, 140))
    p.add_video_array("plot", frames, split="train")
    path = str(p.path)
    assert main(["synth", path, "--compare-motion", "plot", "--frames", "24"]) == 0
    said = capsys.readouterr()
    assert "far apart" in said.out and "warning: motion mismatch" in said.err  # the table on stdout, warnings on stderr
    cfg_file = tmp_path / "matched.yaml"
    assert main(["synth", path, "--match-motion", "plot", "--size", "128", "--write-config", str(cfg_file)]) == 0
    out = capsys.readouterr().out
    assert "plot: 23 frame pairs" in out and "rendered" in out and "matched settings: " in out
    matched = SynthConfig.from_yaml(cfg_file)
    assert matched.camera_speed > 10 and matched.camera_speed_min > 0 and matched.height == 128
    # the matched settings now agree with the footage
    assert main(["synth", path, "--compare-motion", "plot", "--config", str(cfg_file)]) == 0
    assert "matches the footage" in capsys.readouterr().out
    # making a set with settings far from the footage warns (and still makes it)
    args = ["synth", path, "--name", "s", "--clips", "1", "--frames", "2", "--size", "64", "--backend", "serial"]
    assert main(args) == 0
    assert "warning: motion mismatch" in capsys.readouterr().err
    assert main([*args[:3], "s2", *args[4:], "--no-motion-check"]) == 0
    assert "mismatch" not in capsys.readouterr().err
    # video files work without a project
    import tifffile

    tifffile.imwrite(tmp_path / "plot.tif", frames)
    assert main(["synth", "--match-motion", str(tmp_path / "plot.tif"), "--write-config", str(cfg_file)]) == 0
    assert main(["synth", path, "--match-motion", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert main(["synth", path, "--name", "none", "--clips", "0"]) == 2  # not "give --clips N": it was given
    assert "--clips must be at least 1, got 0" in capsys.readouterr().err


def test_local_motion_beyond_head_sway_keeps_the_configured_sway_and_says_why(slow_video):
    """A large occluder crossing the frame fast moves more than any head sways: without painted heads to measure,
    matching keeps the configured sway instead of reading the occluder as sway, and says what to do."""
    from dvos_core.motion.matching import FLOW_SWAY_MAX_PX, SWAY_CAP_PX, overrides_from_motion

    base = SynthConfig(n_frames=15)
    calm = match_motion({"calm": slow_video}, base=base)
    assert "sway_px" in calm.overrides and calm.config.sway_px <= FLOW_SWAY_MAX_PX
    assert not any("local motion" in w for w in calm.warnings_after)
    windy = slow_video.copy()
    leaf = texture("gravel", dark=True)[:48, :48]
    for t in range(len(windy)):
        x = (25 * t) % (windy.shape[2] - 48)
        windy[t, 40:88, x : x + 48] = leaf
    mm = match_motion({"windy": windy}, base=base)
    assert mm.measured["all"]["residual_px"]["p99"] > 5 * calm.measured["all"]["residual_px"]["p99"]
    assert "sway_px" not in mm.overrides and mm.config.sway_px == base.sway_px
    [w] = [w for w in mm.warnings_after if w.startswith("local motion:")]
    assert f"kept at {base.sway_px:g} px" in w and "paint the heads" in w and "set sway_px by hand" in w
    assert mm.table().endswith("kept as configured (see the warnings)")
    assert calm.table().splitlines()[-1].endswith("from the whole frame's local motion (no painted heads to follow)")
    # measured on painted heads instead, the sway wins over the flow
    heads = {"heads": 40, "pairs": 4, "p50": 0.5, "p90": 1.0}
    o = overrides_from_motion({**mm.measured["all"], "head_sway_px": heads}, base)
    assert 0 < o["sway_px"] < 0.5 * SWAY_CAP_PX


def _swaying(k: int, leaf: bool = False) -> np.ndarray:
    """12 frames of 128k x 160k px of a still camera over content swaying by a smooth field of 1.5k px; ``leaf``: a
    48k px square crossing the frame 25k px per frame (the same scene filmed at k times the resolution)."""
    import cv2

    h, w = 128 * k, 160 * k
    world = cv2.resize(texture("astronaut", 512)[:400], (w, h), interpolation=cv2.INTER_AREA)
    patch = cv2.resize(texture("gravel", dark=True)[:48, :48], (48 * k, 48 * k), interpolation=cv2.INTER_NEAREST)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for t in range(12):
        dx = 1.5 * k * np.sin(xs / (20 * k) + t * 0.9) * np.cos(ys / (15 * k))
        dy = 1.5 * k * np.cos(xs / (18 * k) - t * 0.7) * np.sin(ys / (22 * k))
        f = cv2.remap(world, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if leaf:
            x = (25 * k * t) % (w - 48 * k)
            f[40 * k : 88 * k, x : x + 48 * k] = patch
        out.append(f)
    return np.stack(out)


def test_sway_limits_scale_with_the_frame_size():
    """The same footage filmed 4x larger: its flow is 4x as many px, so the sway set from it is about 4x and the
    limits that decide it (tuned on frames of 128-160 px) grow alike - swaying footage still sets sway_px, footage
    with an occluder crossing still keeps the configured one. Up to 160 px the limits are the tuned 50 / 15 px."""
    from dvos_core.motion.matching import FLOW_SWAY_MAX_PX, SWAY_CAP_PX, overrides_from_motion, sway_limits

    assert sway_limits(None) == sway_limits(128) == sway_limits(160) == (SWAY_CAP_PX, FLOW_SWAY_MAX_PX)
    assert sway_limits(640) == (4 * SWAY_CAP_PX, 4 * FLOW_SWAY_MAX_PX)
    base = SynthConfig(n_frames=12)
    small, large = (match_motion({"v": _swaying(k)}, base=base, n_model_clips=4) for k in (1, 4))
    assert large.measured["all"]["frame_side_px"] == 640 and small.measured["all"]["frame_side_px"] == 160
    assert 3 < large.overrides["sway_px"] / small.overrides["sway_px"] < 5
    assert not any("local motion" in w for w in large.warnings_after)
    for k in (1, 4):
        windy = match_motion({"v": _swaying(k, leaf=True)}, base=base, n_model_clips=4)
        assert "sway_px" not in windy.overrides and windy.config.sway_px == base.sway_px
    # followed heads: the cap grows with the frame too (a 30 px median step is capped at 50 px on 160 px frames)
    heads = {"heads": 40, "pairs": 4, "p50": 30.0, "p90": 40.0}
    assert overrides_from_motion({**small.measured["all"], "head_sway_px": heads}, base)["sway_px"] == SWAY_CAP_PX
    assert overrides_from_motion({**large.measured["all"], "head_sway_px": heads}, base)["sway_px"] > SWAY_CAP_PX


def test_a_pan_faster_than_the_synthetic_frame_can_show_is_slowed_and_says_how_to_keep_it(fast_video):
    """Footage panning 15-25 px/frame matched for 16 px synthetic frames (as 1080p footage panning 600 px/frame for
    run-all's 512 px frames): the px speed cannot carry over, so the pan is slowed to half the frame per frame
    (consecutive frames still overlap by half) and matching names the measured and the used speed and the fix -
    not a ValueError that points back at --match-motion."""
    from dvos_core.motion.matching import fmt, matched_pan, pan_limit

    frames, _ = fast_video
    base = SynthConfig(n_frames=24, height=16, width=16)
    mm = match_motion({"fast": frames}, base=base, n_model_clips=4)
    assert mm.config.camera_speed == pan_limit(base) == 8
    assert 0 < mm.config.camera_speed_min < mm.config.camera_speed
    [w] = [w for w in mm.warnings_after if w.startswith("fast pan:")]
    assert f"up to {fmt(mm.measured['all']['pan_px']['max'])} px/frame" in w and "set to 8 px/frame" in w
    assert "dvos synth --size" in w and "synth_size:" in w and "clip height and width" in w
    assert not any("--match-motion" in x or "the footage moves" in x for x in mm.warnings_after)
    # large enough frames take the footage's own speed, without the warning
    roomy = match_motion({"fast": frames}, base=base.replace(height=64, width=64), n_model_clips=4)
    assert roomy.config.camera_speed == round(matched_pan(mm.measured["all"])[1], 2) > 8
    assert not any(x.startswith("fast pan:") for x in roomy.warnings_after)
    # set by hand beyond the frame, the error names fixes that work
    with pytest.raises(ValueError, match="camera_speed=20 px/frame") as e:
        base.replace(camera_speed=20.0)
    assert "dvos synth --size" in str(e.value) and "synth_size" in str(e.value)


def test_one_pan_speed_that_fits_is_kept_without_a_fast_pan_warning():
    """Footage of one pan speed gets a range 0.85-1.15 times it; when the speed itself fits the synthetic frame and
    only the added 15 % does not, the range is trimmed at the frame's limit and nothing is said (the warning claimed
    the footage panned faster than the frame shows, and that the heads moved slower than the footage's)."""
    from dvos_core.motion.matching import overrides_from_motion, pan_limit, pan_too_fast

    base = SynthConfig(height=672, width=672)
    one_speed = {"pan_px": {"min": 298.0, "median": 298.0, "max": 298.0}}
    assert pan_limit(base) == 336 and not pan_too_fast(one_speed, base)
    out = overrides_from_motion(one_speed, base)
    assert out["camera_speed"] == 336 and out["camera_speed_min"] == round(0.85 * 298, 2)
    faster = {"pan_px": {"min": 400.0, "median": 400.0, "max": 400.0}}
    assert pan_too_fast(faster, base)
    out = overrides_from_motion(faster, base)
    assert out["camera_speed"] == 336 and out["camera_speed_min"] == round(0.85 * 400 * 336 / (1.15 * 400), 2)


@pytest.mark.parametrize("kind", ["rotation", "zoom"])
def test_a_steady_turn_or_zoom_is_matched_at_its_own_strength(kind):
    """A camera turning 0.5 deg (or zooming 1 %) every frame: the matched clips turned 1.5x as much (rotation and
    zoom were matched on their RMS, the comparison shows the p90, and a swing's p90 is 1.5x its RMS)."""
    world, _, _ = paint_heads(texture("astronaut"), 100, seed=2)
    step = (0.0, 0.0, 0.5, 1.0) if kind == "rotation" else (0.0, 0.0, 0.0, 1.01)
    frames, _, _ = camera_clip(world, [step] * 15, size=(128, 160))
    mm = match_motion({"steady": frames}, base=SynthConfig(n_frames=24))
    row = {"rotation": "rotation per frame, p90", "zoom": "zoom per frame, p90"}[kind]
    r = next(r for r in mm.rows if r["quantity"] == row)
    assert r["measured"] > 0.3
    assert r["after"] == pytest.approx(r["measured"], rel=0.25), mm.table()


def test_unmeasurable_footage_is_not_said_to_match():
    """`dvos synth --compare-motion flat.mp4`: every footage cell '?', and "the synthesis motion matches the
    footage (39 frame pairs measured)"."""
    flat = np.full((12, 96, 128, 3), 128, np.uint8)
    with pytest.raises(ValueError, match="no camera motion could be measured .*nothing to compare"):
        check_config_motion({"flat": flat}, SynthConfig(n_frames=12))
    with pytest.raises(ValueError, match="no frame pairs .*compare the motion with videos of two frames"):
        check_config_motion({"one": flat[:1]}, SynthConfig(n_frames=12))


def test_matching_a_test_videos_motion_warns(slow_video, tmp_project):
    """Named on purpose, a test video set the synthesis motion (and its painted heads the sway) without a word,
    where extract-backgrounds --from-annotated refuses test videos and the default list leaves them out."""
    tmp_project.add_video_array("held", slow_video, split="test")
    with pytest.warns(UserWarning, match="held: test video.*no longer comes from footage the training never saw"):
        match_motion(tmp_project, ["held"], base=SynthConfig(n_frames=12))


def test_an_empty_list_of_videos_is_refused_not_read_as_every_video(slow_video, tmp_project):
    """match_motion(p, []) measured every video but the test ones, where evaluate and compare_models refuse an
    empty list (it is not "the whole split"): now refused alike, naming the option; None still means every video."""
    tmp_project.add_video_array("plot1", slow_video, split="train")
    with pytest.raises(ValueError, match=r"video_ids is an empty list.*--match-motion VIDEO.*pass None"):
        match_motion(tmp_project, [], base=SynthConfig(n_frames=12))
    with pytest.raises(ValueError, match=r"video_ids is an empty list.*--compare-motion VIDEO"):
        check_config_motion(tmp_project, SynthConfig(n_frames=12), [], head_sway=False)
    assert list(match_motion(tmp_project, None, base=SynthConfig(n_frames=12), max_pairs=4).measured["videos"]) == [
        "plot1"
    ]


def test_after_matching_a_speed_gap_does_not_advise_matching_again(fast_video, slow_video):
    """Footage of two speeds (one still, one fast): the gap left after matching told the user to run the
    --match-motion just run."""
    frames, _ = fast_video
    world, _, _ = paint_heads(texture("astronaut"), 100, seed=2)
    still, _, _ = camera_clip(world, [(0.0, 0.0, 0.0, 1.0)] * 30, size=(128, 160))
    mm = match_motion({"fast": frames, "still": still}, base=SynthConfig(n_frames=24))
    gap = [w for w in mm.warnings_after if "motion mismatch: the footage moves" in w]
    assert gap and "one range of pan speeds cannot follow" in gap[0] and "--match-motion" not in gap[0], gap


def test_videos_of_different_sizes_are_pooled_at_one_pixel_size(fast_video):
    """A 3x larger copy of the same pan was pooled in its own pixels: its 3x px speed set the clips' speed. Now
    each video's motion is scaled to the reference video's frame size (here the one with the most frame pairs)."""
    import cv2

    frames, _ = fast_video
    big = np.stack([cv2.resize(f, None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR) for f in frames[:16]])
    base = SynthConfig(n_frames=12)
    alone = match_motion({"small": frames}, base=base, residual=False)
    both = match_motion({"small": frames, "big": big}, base=base, residual=False)
    scale = both.measured["all"]["pixel_scale"]
    assert scale["video"] == "small" and scale["side"] == 160 and scale["rescaled"] == ["big"], scale
    assert scale["factors"]["big"] == pytest.approx(1 / 3)
    assert both.measured["videos"]["big"]["shift_px"]["median"] > 2.5 * alone.measured["all"]["shift_px"]["median"]
    for key in ("median", "p90"):
        assert both.measured["all"]["shift_px"][key] == pytest.approx(alone.measured["all"]["shift_px"][key], rel=0.1)
    assert both.config.camera_speed == pytest.approx(alone.config.camera_speed, rel=0.1)
    assert "big scaled to the 160 px frames of small" in both.table()
    assert "pixel_scale" not in alone.measured["all"] and "pixel size" not in alone.table()


def test_the_painted_video_sets_the_pixel_size(fast_video, tmp_project):
    """The heads are cut from the painted video, so its frame size is the one the others are scaled to, even when
    another video has more frame pairs."""
    import cv2

    frames, masks = fast_video
    big = np.stack([cv2.resize(f, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR) for f in frames[:12]])
    tmp_project.add_video_array("small", frames)
    v = tmp_project.add_video_array("big", big)
    v.set_mask(0, cv2.resize(masks[0].astype(np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST) > 0)
    motions = measure_videos(tmp_project, residual=False, max_pairs=4)
    tmp_project.video("small").set_mask(1, masks[1], "pseudo")  # model masks give no heads: not counted as painted
    tmp_project.video("small").set_mask(2, masks[2], "pseudo")
    scale = pixel_scales(tmp_project, None, motions)
    assert scale["video"] == "big" and scale["side"] == 320 and scale["factors"]["small"] == pytest.approx(2.0)
    # the heads in the bank were cut from "small": its size rules, even where only "big" is matched
    tmp_project.objects.add([(np.full((6, 4, 4), 255, np.uint8), {"kind": "head", "video": "small", "frame": 0})])
    scale = pixel_scales(tmp_project, ["big"], {"big": motions["big"]})
    assert scale["video"] == "small" and scale["side"] == 160 and scale["factors"]["big"] == pytest.approx(0.5)


def test_background_clips_too_small_to_render_name_match_motions_own_size_option(fast_video, tmp_project):
    """It said "use a smaller --size (preview(size=) from Python)": the caller called match_motion, not preview.
    It now names match_motion's base=SynthConfig(height=, width=), before the footage is measured."""
    frames, _ = fast_video
    tmp_project.add_video_array("plot", frames, split="train")
    tmp_project.create_background("small", 128, 160).append_frames([frames[0]] * 4)
    tmp_project.objects.add([(np.full((6, 4, 4), 255, np.uint8), {"kind": "head", "video": "plot", "frame": 0})])
    with pytest.raises(ValueError, match=r"at least 512x512 px") as e:
        match_motion(tmp_project, ["plot"], base=SynthConfig(n_frames=24), render_clips=1)
    assert "match_motion(base=SynthConfig(height=, width=))" in str(e.value) and "preview" not in str(e.value)


def test_matched_heads_step_as_much_as_the_footages_on_calm_and_on_swaying_footage(slow_video):
    """--match-motion set sway_px from the painted heads' median step but left drift_speed at its default 0.3
    px/frame, so on calm footage (heads stepping 0.03 px/frame) the matched heads stepped 0.24: 8x, and the table did
    not warn (a 0.5 px slack). Sway and drift are now scaled together so that a simulated head's median step (drift
    plus sway, as synthesis composes them) is the footage's, and the comparison warns about such a gap."""
    from dvos_core.motion.matching import compare_motion, overrides_from_motion

    base = SynthConfig(n_frames=15)
    measured = match_motion({"calm": slow_video}, base=base, n_model_clips=4).measured["all"]
    for p50 in (0.03, 0.4, 2.0):  # calm, a breeze, windy
        heads = {"heads": 40, "pairs": 4, "p50": p50, "p90": 2 * p50}
        o = overrides_from_motion({**measured, "head_sway_px": heads}, base)
        assert o["drift_speed"] / o["sway_px"] == pytest.approx(base.drift_speed / base.sway_px, rel=0.02)
        cfg = base.replace(**o)
        got = config_motion(cfg, 32)["head_sway_px"]["p50"]
        assert got == pytest.approx(p50, rel=0.15), (p50, o, got)
        m = {**measured, "head_sway_px": heads}
        assert not any("head sway" in w for w in compare_motion(m, config_motion(cfg, 32), cfg, "matched")[1])
    # the sway matched alone, at the default drift: the calm footage's heads 8x slower, and the table says so
    calm = {**measured, "head_sway_px": {"heads": 40, "pairs": 4, "p50": 0.03, "p90": 0.06}}
    old = base.replace(sway_px=overrides_from_motion(calm, base)["sway_px"])
    assert config_motion(old, 32)["head_sway_px"]["p50"] > 4 * 0.03
    [w] = [w for w in compare_motion(calm, config_motion(old, 32), old, "matched")[1] if "head sway" in w]
    assert "0.03 px in the footage" in w
    # a base without drift keeps none; a base without sway or drift gets sway alone
    o = overrides_from_motion(calm, base.replace(drift_speed=0.0))
    assert o["drift_speed"] == 0.0 and o["sway_px"] > 0
    o = overrides_from_motion(calm, base.replace(drift_speed=0.0, sway_px=0.0))
    assert o["drift_speed"] == 0.0 and o["sway_px"] > 0


def test_matched_heads_turn_tilt_and_bend_with_their_sway(slow_video):
    """--match-motion scaled the heads' sway and drift to the footage but left rotation_deg (6), scale_jitter and
    elastic_px at their defaults: on calm footage those moved the heads' edges 20x what the footage's heads moved.
    They now follow the sway's factor, at most twice the base's."""
    from dvos_core.motion.matching import WIND_GAIN_MAX, overrides_from_motion

    base = SynthConfig(n_frames=15)
    measured = match_motion({"calm": slow_video}, base=base, n_model_clips=4).measured["all"]
    for p50 in (0.03, 0.4, 20.0):
        heads = {"heads": 40, "pairs": 4, "p50": p50, "p90": 2 * p50}
        o = overrides_from_motion({**measured, "head_sway_px": heads}, base)
        gain = min(o["sway_px"] / base.sway_px, WIND_GAIN_MAX)
        assert o["rotation_deg"] == pytest.approx(base.rotation_deg * gain, rel=0.01, abs=1e-3)
        assert o["scale_jitter"] == pytest.approx(base.scale_jitter * gain, rel=0.01, abs=1e-4)
        assert o["elastic_px"] == pytest.approx(base.elastic_px * gain, rel=0.01, abs=1e-3)
        if p50 == 0.03:
            assert o["rotation_deg"] < 1 and o["elastic_px"] < 0.1  # calm: nearly rigid heads
        if p50 == 20.0:
            assert o["rotation_deg"] == pytest.approx(2 * base.rotation_deg)  # windy: capped
    kept = {**measured, "head_sway_px": None, "residual_px": None}  # nothing to match the heads on: kept
    assert "rotation_deg" not in overrides_from_motion(kept, base)
