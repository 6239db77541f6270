"""Small tests that catch plausible bugs in the extraction of heads, fakes and backgrounds (shape and colour
statistics, crop boxes, fake placement, clip starts, inpainting) that the other extract tests let through."""

import numpy as np
import pytest

from dvos_core.extract.components import colour_stats, frame_objects, shape_stats
from dvos_core.extract.fakes import make_fake_heads


def test_shape_stats_of_a_rectangle_are_those_of_the_solid_rectangle():
    # a 2 x 8 block of pixels: a solid 2 x 8 rectangle has axis variances 2^2/12 and 8^2/12 -> aspect 4,
    # eccentricity sqrt(1 - 1/16); the pixel-size term (1/12) is what makes the pixel count come close to that
    obj = np.zeros((6, 12), bool)
    obj[2:4, 2:10] = True
    s = shape_stats(obj)
    assert s["aspect"] == pytest.approx(4.0, rel=0.02)
    assert s["eccentricity"] == pytest.approx(np.sqrt(1 - 1 / 16), rel=0.01)
    # the same block standing up: the same numbers (aspect is major / minor, never below 1)
    s_t = shape_stats(obj.T)
    assert s_t["aspect"] == pytest.approx(s["aspect"]) and s_t["eccentricity"] == pytest.approx(s["eccentricity"])


def test_shape_stats_of_a_square_are_round():
    obj = np.zeros((9, 9), bool)
    obj[2:7, 2:7] = True
    s = shape_stats(obj)
    assert s["aspect"] == pytest.approx(1.0) and s["eccentricity"] == pytest.approx(0.0, abs=1e-6)


def test_colour_stats_brightness_spread_is_over_pixels_not_channels():
    # two pixels, one black and one white: per-pixel brightness 0 and 255 -> std 127.5; channel means 127.5 each
    frame = np.zeros((1, 2, 3), np.uint8)
    frame[0, 1] = 255
    frame[0, 0, 2] = 30  # a little blue in the black pixel: mean_b differs from mean_r
    s = colour_stats(frame, np.ones((1, 2), bool))
    assert s["mean_r"] == pytest.approx(127.5) and s["mean_g"] == pytest.approx(127.5)
    assert s["mean_b"] == pytest.approx((30 + 255) / 2)
    assert s["std_brightness"] == pytest.approx((255 - 10) / 2)  # brightness 10 and 255


def test_frame_objects_keep_heads_of_exactly_min_and_max_area():
    # "smaller than min_area (or larger than max_area) pixels are dropped": 4-px and 9-px heads with min 4 / max 9
    lab = np.zeros((20, 20), np.int32)
    lab[2:4, 2:4] = 1  # 4 px
    lab[10:13, 10:13] = 2  # 9 px
    lab[16, 1:4] = 3  # 3 px: too small
    lab[5:9, 14:18] = 4  # 16 px: too large
    frame = np.zeros((20, 20, 3), np.uint8)
    objs, small, large = frame_objects(frame, lab, min_area=4, max_area=9, margin=1)
    assert sorted(rec["area"] for _, rec in objs) == [4, 9]
    assert (small, large) == (1, 1)


def test_frame_objects_records_place_each_head_in_its_frame():
    # a 2-row x 5-column head touching the right edge of a 10 x 30 frame, a 3 x 1 head in the middle of it
    lab = np.zeros((10, 30), np.int32)
    lab[4:6, 25:30] = 1
    lab[3:6, 10] = 2
    frame = np.random.default_rng(0).integers(0, 256, (10, 30, 3), dtype=np.uint8)
    objs, _, _ = frame_objects(frame, lab, min_area=1, margin=1, halo_px=2)
    (rgba1, r1), (rgba2, r2) = objs
    assert (r1["bbox_y"], r1["bbox_x"], r1["bbox_h"], r1["bbox_w"]) == (4, 25, 2, 5)
    assert (r2["bbox_y"], r2["bbox_x"], r2["bbox_h"], r2["bbox_w"]) == (3, 10, 3, 1)
    assert r1["touches_border"] and not r2["touches_border"]
    # the crop grows by the halo (2 px > margin 1) and is clipped to the frame: rows 2..8, columns 23..30
    assert (r1["y"], r1["x"]) == (2, 23) and rgba1.shape[:2] == (6, 7)
    assert (r2["y"], r2["x"]) == (1, 8) and rgba2.shape[:2] == (7, 5)
    for rgba, r in ((rgba1, r1), (rgba2, r2)):
        inside = rgba[..., 3] == 255
        crop = frame[r["y"] : r["y"] + rgba.shape[0], r["x"] : r["x"] + rgba.shape[1]]
        assert np.array_equal(rgba[inside, :3], crop[inside]) and inside.sum() == r["area"]
        ring = (rgba[..., 3] > 0) & ~inside
        assert ring.any() and np.array_equal(rgba[ring, :3], crop[ring])  # the halo is the frame's own pixels


def test_fakes_of_a_silhouette_as_tall_as_the_frame_lie_on_row_zero():
    # every row offset 0 .. H - h is a place for a fake: here only 0, which must be drawable (not an empty range)
    frame = np.random.default_rng(1).integers(0, 256, (10, 40, 3), dtype=np.uint8)
    sil = np.ones((10, 3), bool)
    fakes, failed = make_fake_heads(frame, np.zeros((10, 40), bool), sil, 5, np.random.default_rng(0))
    assert failed == 0 and len(fakes) == 5
    assert all(rec["y"] == 0 and 0 <= rec["x"] <= 37 for _, rec in fakes)
    xs = {rec["x"] for _, rec in fakes}
    assert len(xs) > 1  # drawn, not fixed
    # a silhouette wider than the frame is tall (but not than it is wide) fits too
    fakes, failed = make_fake_heads(
        frame[:5], np.zeros((5, 40), bool), np.ones((2, 12), bool), 3, np.random.default_rng(0)
    )
    assert failed == 0 and len(fakes) == 3


def test_fakes_never_cover_a_head_that_lies_inside_their_box():
    # 4 x 4 frame, heads at (0, 0) and (3, 3), a 2 x 2 silhouette: the box at (2, 2) holds the head (3, 3) while the
    # corner before it, (0..1, 0..1), holds the other one - a box count that leaves out a corner term sees none
    frame = np.random.default_rng(2).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    heads = np.zeros((4, 4), bool)
    heads[0, 0] = heads[3, 3] = True
    sil = np.ones((2, 2), bool)
    fakes, _ = make_fake_heads(frame, heads, sil, 60, np.random.default_rng(0), max_overlap=0.1, max_tries=50)
    assert fakes
    for _, rec in fakes:
        y, x = rec["y"], rec["x"]
        assert not heads[y : y + 2, x : x + 2].any(), (y, x)
        assert rec["overlap"] == 0.0


def test_skipped_frames_count_only_the_frames_asked_for(tmp_project):
    from dvos_core.extract import extract_heads

    frames = np.random.default_rng(0).integers(0, 256, (3, 30, 30, 3), dtype=np.uint8)
    v = tmp_project.add_video_array("v", frames)
    for t in range(3):
        m = np.zeros((30, 30), np.uint8)
        m[5:15, 5:15] = 1  # 100 px (min_area 50)
        v.set_mask(t, m, "manual")
    assert extract_heads(tmp_project, frames=[0], fakes_per_head=0).attrs["skipped_frames"] == 0
    again = extract_heads(tmp_project, frames=[1], fakes_per_head=0)  # frame 0 is in the bank, but not asked for
    assert again.attrs["skipped_frames"] == 0 and again.attrs["frames"] == 1
    rest = extract_heads(tmp_project, fakes_per_head=0)  # all three asked for: 0 and 1 done, 2 cut
    assert rest.attrs["skipped_frames"] == 2 and rest.attrs["frames"] == 1


def test_sample_frames_can_take_every_frame():
    from dvos_core.extract import sample_frames

    assert sample_frames(5, n=5).tolist() == [0, 1, 2, 3, 4]
    assert sample_frames(5, n=5, seed=3).tolist() == [0, 1, 2, 3, 4]
    assert sample_frames(9, n=3).tolist() == [0, 4, 8]  # first and last included, evenly spread
    with pytest.raises(ValueError):
        sample_frames(5, n=6)


def test_clip_starts_take_a_video_exactly_one_clip_long():
    from dvos_core.extract.backgrounds import clip_starts

    assert clip_starts(10, 10) == [0]
    assert clip_starts(25, 10, stride=5) == [0, 5, 10, 15]
    assert clip_starts(25, 10) == [0, 10]  # back to back by default
    assert clip_starts(25, 10, n_clips=1, start=3) == [3]
    with pytest.raises(ValueError, match="fewer than one clip"):
        clip_starts(9, 10)


def test_a_rerun_cuts_again_when_the_clip_length_or_the_source_file_changed(tmp_project, tmp_path):
    import tifffile

    from dvos_core.extract import extract_backgrounds

    path = tmp_path / "field.tif"
    tifffile.imwrite(path, np.stack([np.full((8, 8, 3), k, np.uint8) for k in range(12)]))
    first = extract_backgrounds(tmp_project, str(path), clip_length=4, n_clips=1)
    assert len(first) == 1 and first.kept == []
    same = extract_backgrounds(tmp_project, str(path), clip_length=4, n_clips=1)
    assert len(same) == 0 and same.kept == [first[0].name]  # the same cut: kept, not cut again
    longer = extract_backgrounds(tmp_project, str(path), clip_length=6, n_clips=1)
    assert len(longer) == 1 and longer.kept == []  # another clip length: a new clip
    tifffile.imwrite(path, np.stack([np.full((8, 8, 3), 100 + k, np.uint8) for k in range(20)]))  # another file
    other = extract_backgrounds(tmp_project, str(path), clip_length=4, n_clips=1)
    assert len(other) == 1 and other.kept == []
    assert int(other[0].frame(0)[0, 0, 0]) == 100


def test_head_hole_grows_by_a_disc_of_the_dilation_radius():
    from dvos_core.extract.inpaint import head_hole

    m = np.zeros((21, 21), np.uint8)
    m[10, 10] = 1
    hole = head_hole(m, 3)
    row, col = hole[10], hole[:, 10]
    assert row[7:14].all() and not row[6] and not row[14]  # 3 px either side, not 4
    assert col[7:14].all() and not col[6] and not col[14]
    assert not hole[13, 13]  # a disc, not a square
    assert np.array_equal(head_hole(m, 0), m > 0)


def test_the_ns_inpainting_is_not_the_telea_one():
    from dvos_core.extract.inpaint import inpaint_heads

    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(120, 40, (40, 40, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[15:25, 12:28] = 1
    ns, _ = inpaint_heads(frame, mask, dilate_px=2, method="ns")
    telea, info = inpaint_heads(frame, mask, dilate_px=2, method="telea")
    assert info["holes"] == 1
    hole = np.zeros((40, 40), bool)
    hole[13:27, 10:30] = True
    assert np.array_equal(ns[~hole], frame[~hole]) and np.array_equal(telea[~hole], frame[~hole])
    assert not np.array_equal(ns, telea)


def test_the_measured_path_chains_each_frame_pair_in_order(monkeypatch):
    from types import SimpleNamespace

    import dvos_core.motion.global_motion as gm
    from dvos_core.extract.annotated_backgrounds import measured_path

    # pair k moves frame k onto frame k + 1 by k + 1 px to the right: frame 0 -> 1 -> 2 -> 3 is 1, 3, 6 px
    pairs = [np.array([[1.0, 0, k + 1], [0, 1.0, 0]]) for k in range(3)]
    monkeypatch.setattr(
        gm, "estimate_global_motion", lambda frames, masks, cancel=None: SimpleNamespace(matrices=pairs)
    )

    class Video:  # four frames; motion is "measured" by the stand-in above
        name, shape = "v", (4, 8, 8, 3)

        def __len__(self):
            return 4

        def frame_run(self, a, b):
            return None

        def mask(self, t):
            return None

    video = Video()
    forward = measured_path(video, 0, 4)
    assert forward[:, 0, 2].tolist() == [0, 1, 3, 6]
    backward = measured_path(video, 3, 4)
    assert backward[:, 0, 2].tolist() == [-6, -5, -3, 0]
    assert np.allclose(forward[:, :, :2], np.eye(2)) and np.allclose(backward[:, 1, 2], 0)


def test_the_synthetic_camera_starts_on_the_centre_of_a_wide_still():
    from dvos_core.extract.annotated_backgrounds import synthetic_path

    path = synthetic_path(20, 40, 3, seed=0)  # 20 high, 40 wide: the still's centre is (x, y) = (19.5, 9.5)
    assert path.shape == (3, 2, 3)
    np.testing.assert_allclose(path[0] @ [19.5, 9.5, 1.0], [19.5, 9.5], atol=1e-6)
