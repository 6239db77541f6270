"""Small tests that catch plausible bugs in reading and converting footage and masks (pixel conversion, resizing,
file numbering, COCO and CSV layouts) that the other io tests let through."""

import numpy as np
import pytest

from dvos_core.io import Preprocess
from dvos_core.io.convert import to_rgb8
from dvos_core.io.preprocess import MAX_RESIZED_SIDE


def test_uint16_frames_are_scaled_with_rounding_not_truncated():
    # v * 255 / 65535 rounded: 255 -> 0.99 -> 1, 65280 -> 254.0 -> 254 (the high byte alone gives 0 and 255)
    a = np.array([[0, 255, 385, 386, 32896, 65280, 65535]], np.uint16)
    out = to_rgb8(a)
    assert out.shape == (1, 7, 3)
    assert out[0, :, 0].tolist() == [0, 1, 1, 2, 128, 254, 255]


def test_shrinking_on_import_averages_the_pixels_it_merges():
    # a 4x shrink of columns 0, 0, 0, 200 (repeated): area averaging gives 50; bilinear would sample two of the
    # zeros only (the docstring: shrinking uses area interpolation)
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[:, 3::4] = 200
    out = Preprocess(height=2).apply(frame)
    assert out.shape == (2, 2, 3)
    assert np.abs(out.astype(int) - 50).max() <= 1


def test_a_resize_that_makes_frames_too_wide_is_refused():
    # height 10 -> 2000 keeps the aspect: 10 x 100 frames become 2000 x 20000, over the limit on the width alone
    assert 2000 < MAX_RESIZED_SIDE < 20000
    with pytest.raises(ValueError, match="px a side"):
        Preprocess(height=2000).resized_size(10, 100)
    assert Preprocess(height=2000).resized_size(10, 10) == (2000, 2000)


def test_bool_frames_are_black_and_white():
    out = to_rgb8(np.array([[True, False]]))
    assert out.dtype == np.uint8 and out[0, :, 1].tolist() == [255, 0]


def test_iter_range_steps_through_a_folder(tmp_path):
    import cv2

    from dvos_core.io.readers import open_video

    for k in range(7):
        cv2.imwrite(str(tmp_path / f"f_{k:03d}.png"), np.full((4, 5, 3), 10 * k, np.uint8))
    with open_video(tmp_path) as r:
        assert [int(f[0, 0, 0]) for f in r.iter_range(1, 7, 2)] == [10, 30, 50]
        assert [int(f[0, 0, 0]) for f in r.iter_range(0, 100, 3)] == [0, 30, 60]  # stop clipped to the length
        assert int(r[-1][0, 0, 0]) == 60 and r.read_range(2, 4).shape == (2, 4, 5, 3)


def test_an_empty_frame_range_is_refused():
    from dvos_core.io.import_video import frame_indices

    assert list(frame_indices(10, 5, 6)) == [5]
    assert list(frame_indices(10, 8, 100, 1)) == [8, 9]
    for start, stop in ((5, 5), (5, 4), (10, 12)):
        with pytest.raises(ValueError, match="selects no frames"):
            frame_indices(10, start, stop)
    with pytest.raises(ValueError, match=r"start \(--start\) must be 0 or more.*got -3"):  # said "selects no frames"
        frame_indices(10, -3)


def test_a_video_added_as_dot_is_named_after_its_folder(tmp_path, monkeypatch):
    """`cd frames_folder; dvos add-video ../P.dvos .` named the video 'video' (the name of '.' is empty)."""
    from dvos_core.io.import_video import source_name

    (tmp_path / "plot7").mkdir()
    monkeypatch.chdir(tmp_path / "plot7")
    assert source_name(".") == "plot7" and source_name(tmp_path / "plot7") == "plot7"


def test_an_implausible_frame_rate_in_a_header_is_not_recorded(tmp_path):
    import cv2

    from dvos_core.io.readers import open_video

    for fps, want in ((25, 25.0), (5000, None)):  # 5000 fps: a broken header, not a camera's rate
        path = tmp_path / f"v{fps}.mp4"
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (16, 16))
        for k in range(3):
            w.write(np.full((16, 16, 3), 60 * k, np.uint8))
        w.release()
        with open_video(path) as r:
            assert r.fps == (pytest.approx(want) if want else None) and len(r) == 3


def test_file_numbers_with_a_step_map_to_stored_frames(tmp_project, tmp_path):
    import cv2

    from dvos_core.io import import_video
    from dvos_core.io.masks import source_numbers

    folder = tmp_path / "frames"
    folder.mkdir()
    for k in (1, 3, 5, 7, 8):  # every other file, then one step of 1
        cv2.imwrite(str(folder / f"img_{k:04d}.png"), np.full((4, 6, 3), k, np.uint8))
    with pytest.warns(UserWarning):
        v = import_video(tmp_project, folder, "v")
    assert source_numbers(v) == {1: 0, 3: 1, 5: 2, 7: 3, 8: 4}


def test_regular_file_numbers_are_one_run_without_gaps(tmp_project, tmp_path):
    import cv2

    from dvos_core.io import import_video

    folder = tmp_path / "odd"
    folder.mkdir()
    for k in (1, 3, 5, 7, 9):
        cv2.imwrite(str(folder / f"img_{k:04d}.png"), np.full((4, 6, 3), k, np.uint8))
    with pytest.warns(UserWarning, match=r"numbered 1\.\.9, but") as seen:
        v = import_video(tmp_project, folder, "odd")
    assert not any("gaps" in str(w.message) for w in seen)
    assert [list(r) for r in v.attrs["source_file_numbers"]] == [[0, 1, 5, 2]]  # [frame, file number, count, step]


def test_frames_imported_with_start_and_step_know_their_source_numbers(tmp_project, tmp_path):
    import tifffile

    from dvos_core.io import import_video
    from dvos_core.io.masks import source_numbers

    stack = np.stack([np.full((4, 6), 20 * k, np.uint8) for k in range(10)])
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    v = import_video(tmp_project, tmp_path / "stack.tif", "v", start=2, step=3)
    assert [int(v.frame(t)[0, 0, 0]) for t in range(len(v))] == [40, 100, 160]  # source frames 2, 5, 8
    assert source_numbers(v) == {2: 0, 5: 1, 8: 2}


def test_faint_paint_under_half_the_strongest_opacity_is_background():
    from dvos_core.io.masks import gray_mask

    rgba = np.zeros((1, 4, 4), np.uint8)  # white paint everywhere, its opacity varying
    rgba[0, :, :3] = 255
    rgba[0, :, 3] = [255, 128, 127, 0]  # full, just half, just under half, none
    assert gray_mask(rgba, "m").tolist() == [[255, 255, 0, 0]]


def test_the_counted_from_one_note_needs_masks_ending_at_the_frame_count():
    from dvos_core.io.masks import _from_one_note

    items = lambda ns: [(t, None, f"mask_{t}") for t in ns]  # noqa: E731
    assert "--first-number 1" in _from_one_note(items([1, 2, 5]), 5)
    assert _from_one_note(items([1, 2, 7]), 5) == ""  # past the end anyway: not a count from 1
    assert _from_one_note(items([0, 5]), 5) == ""


def test_coco_head_annotations_hold_a_coco_bbox_and_give_back_the_pixels():
    from dvos_core.io.coco import fill_polygons, head_annotations

    m = np.zeros((10, 12), np.uint8)
    m[4:6, 5:8] = 1  # rows 4-5, columns 5-7
    (ann,) = head_annotations(m)
    assert ann["bbox"] == [5, 4, 3, 2] and ann["area"] == 6 and ann["iscrowd"] == 0  # [x, y, width, height]
    assert np.array_equal(fill_polygons(ann["segmentation"], 10, 12), m)


def test_coco_images_must_have_the_frames_height_and_width_not_just_their_area(tmp_path):
    import json

    from dvos_core.io.coco import read_coco

    doc = {
        "images": [{"id": 1, "file_name": "f.png", "width": 4, "height": 6}],  # 4 wide, 6 high
        "annotations": [],
        "categories": [{"id": 1, "name": "head"}],
    }
    (tmp_path / "a.json").write_text(json.dumps(doc))
    heads = read_coco(tmp_path / "a.json")
    heads.check_size(6, 4, "v")  # frames 6 high, 4 wide: fine
    with pytest.raises(ValueError, match="4x6 pixels"):
        heads.check_size(4, 6, "v")  # frames 4 high, 6 wide: the same area, turned


def test_rle_runs_go_down_the_columns_as_coco_has_them():
    from dvos_core.io.coco import decode_rle, encode_rle, rle_counts

    m = np.zeros((2, 3), np.uint8)
    m[0, 1] = 1  # column by column: 0 0 | 1 0 | 0 0 -> runs 2 zeros, 1 one, 3 zeros
    rle = encode_rle(m)
    assert rle == {"size": [2, 3], "counts": "213"}
    assert rle_counts("213") == [2, 1, 3]
    assert np.array_equal(decode_rle([2, 1, 3], 2, 3), m)
    ring = np.ones((5, 7), np.uint8)
    ring[2, 2:5] = 0  # a head with a hole: written as RLE
    assert np.array_equal(decode_rle(encode_rle(ring)["counts"], 5, 7), ring)


def test_the_overlay_text_sits_on_a_darkened_band():
    from dvos_core.io.overlay_video import draw_overlay

    frame = np.full((100, 200, 3), 250, np.uint8)
    out = draw_overlay(frame, None, "t 1")
    assert out[0, 0].tolist() == [100, 100, 100]  # 250 * 0.4 in the band's corner (no text there)
    assert out[-1, -1].tolist() == [250, 250, 250]  # the rest of the frame untouched


def test_a_batch_size_below_one_is_refused_by_predict_and_pseudo_label(tmp_path):
    """`dvos predict --batch-size 0` (or -5) ran as 1 on a CPU without a word."""
    from stub_models import BrightIsHead

    from dvos_core.infer import predict_video, pseudo_label
    from dvos_core.store import Project

    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", np.zeros((2, 16, 16, 3), np.uint8))
    for bad in (0, -5, 2.0):
        with pytest.raises(ValueError, match=r"--batch-size \(batch_size=\) must be a whole number >= 1"):
            predict_video(p, "v", (BrightIsHead(), {}), batch_size=bad)
        with pytest.raises(ValueError, match=r"--batch-size \(batch_size=\) must be a whole number >= 1"):
            pseudo_label(p, "v", (BrightIsHead(), {}), batch_size=bad)
    assert p.video("v").predictions.models() == []
