"""Unusual but legitimate footage and masks: small TIFF stacks, scientific cameras, frame folders numbered from 1 or
saved twice, masks with transparency."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from dvos_core.io import import_masks, import_video, open_video
from dvos_core.io.masks import read_mask_file

HW = (40, 50)


def _blob(t: int = 0) -> np.ndarray:
    m = np.zeros(HW, np.uint8)
    m[5 : 12 + 3 * t, 8:20] = 255
    return m


def _folder(path, numbers, ext=".png"):
    path.mkdir()
    for k, n in enumerate(numbers):
        cv2.imwrite(str(path / f"{n:06d}{ext}"), np.full(HW + (3,), 40 * k + 20, np.uint8))
    return path


@pytest.mark.parametrize("n", [3, 4])
def test_a_small_tiff_stack_saved_by_tifffile_says_it_is_read_as_one_colour_frame(tmp_path, n):
    # tifffile.imwrite(path, frames) with 3 or 4 frames writes one planar colour page: read as one frame, say so
    frames = np.stack([np.full(HW, 10000 * (k + 1), np.uint16) for k in range(n)])
    tifffile.imwrite(tmp_path / "stack.tif", frames)
    with pytest.warns(UserWarning, match=rf"stack\.tif: holds one image of {n} planes.*photometric='minisblack'"):
        r = open_video(tmp_path / "stack.tif")
    with r:
        assert len(r) == 1
    tifffile.imwrite(tmp_path / "grey.tif", frames, photometric="minisblack")  # the fix the warning gives
    with open_video(tmp_path / "grey.tif") as r:
        assert len(r) == n


def test_14bit_camera_frames_warn_that_they_are_stored_dark(tmp_path):
    tifffile.imwrite(tmp_path / "cam14.tif", np.full((5,) + HW, 16000, np.uint16), photometric="minisblack")
    with (
        pytest.warns(UserWarning, match=r"cam14\.tif: 16-bit .*14-bit.*brightest pixels 62 of 255"),
        open_video(tmp_path / "cam14.tif") as r,
    ):
        assert r[0].max() == 62


def test_float_frames_outside_0_1_say_how_to_scale_them(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.full((5,) + HW, 4000.0, np.float32), photometric="minisblack")
    with pytest.raises(ValueError, match=r"f\.tif page 0: float image has values 4e\+03.*divide by their maximum"):
        open_video(tmp_path / "f.tif")


def test_a_frame_folder_holding_each_frame_as_png_and_jpg_is_refused(tmp_project, tmp_path):
    folder = _folder(tmp_path / "frames", range(3))
    for n in range(3):
        cv2.imwrite(str(folder / f"{n:06d}.jpg"), np.zeros(HW + (3,), np.uint8))
    with pytest.raises(ValueError, match=r"frames: 3 frame\(s\) are saved twice.*000000\.jpg and 000000\.png"):
        import_video(tmp_project, folder)
    assert tmp_project.video_ids() == []


def test_masks_named_like_frame_files_numbered_from_1_are_not_shifted_by_one(tmp_project, tmp_path):
    # ffmpeg -i in.mp4 %06d.png numbers frames from 1; masks painted elsewhere take the frames' names
    folder = _folder(tmp_path / "frames", range(1, 6))
    with pytest.warns(UserWarning, match=r"numbered 1\.\.5.*stored frame 0 is 000001\.png.*--numbering source"):
        video = import_video(tmp_project, folder, "plot")
    masks = tmp_path / "masks"
    masks.mkdir()
    for n in (1, 4):
        cv2.imwrite(str(masks / f"{n:06d}.png"), _blob(n))
    with pytest.raises(ValueError, match=r"000001\.png would go to stored frame 1.*to stored frame 0.*--numbering"):
        import_masks(tmp_project, "plot", masks)
    assert not video.provenance.any()  # nothing written while it is unclear
    assert import_masks(tmp_project, "plot", masks, numbering="source") == [0, 3]
    assert np.array_equal(video.mask(0), _blob(1) // 255) and np.array_equal(video.mask(3), _blob(4) // 255)
    # masks exported by dvos carry stored numbers and go back where they came from, without asking
    from dvos_core.io import export_masks

    export_masks(tmp_project, "plot", tmp_path / "out")
    assert import_masks(tmp_project, "plot", tmp_path / "out", overwrite=True) == [0, 3]
    # stored numbering, when asked for
    assert import_masks(tmp_project, "plot", masks, numbering="stored", overwrite=True) == [1, 4]


def test_masks_named_like_ffmpeg_frames_of_the_folder_are_not_taken_for_an_export(tmp_project, tmp_path):
    """ffmpeg -i plot.mp4 plot/plot_%06d.png names frames <video>_<number>, as export-masks names its masks: a mask
    painted on plot_000002.png went to stored frame 2 (read from plot_000003.png), unasked. Only a masks.csv of
    export-masks listing them says they carry stored numbers."""
    folder = tmp_path / "plot"
    folder.mkdir()
    for n in range(1, 6):
        cv2.imwrite(str(folder / f"plot_{n:06d}.png"), np.full(HW + (3,), 40 * n, np.uint8))
    with pytest.warns(UserWarning, match="numbered 1..5"):
        import_video(tmp_project, folder)
    masks = tmp_path / "masks"
    masks.mkdir()
    cv2.imwrite(str(masks / "plot_000002.png"), _blob())
    with pytest.raises(ValueError, match=r"plot_000002\.png would go to stored frame 2.*to stored frame 1"):
        import_masks(tmp_project, "plot", masks)
    assert import_masks(tmp_project, "plot", masks, numbering="source") == [1]


def test_a_folder_of_two_videos_exports_gives_each_video_its_own_masks(tmp_project, tmp_path):
    """export-masks of two videos into one folder (their masks.csv lists both): importing it into one of them took
    the other's masks too (as manual), or failed where their frame numbers met."""
    from dvos_core.io import export_masks

    frames = np.stack([np.full(HW + (3,), 30 * k, np.uint8) for k in range(4)])
    a, b = tmp_project.add_video_array("a", frames), tmp_project.add_video_array("b", frames)
    a.set_mask(0, _blob(0))
    a.set_mask(3, _blob(1))
    b.set_mask(1, _blob(2))
    b.set_mask(3, _blob(0))
    out = tmp_path / "out"
    export_masks(tmp_project, "a", out)
    export_masks(tmp_project, "b", out)
    tmp_project.add_video_array("c", frames)
    with pytest.raises(ValueError, match=r"lists the masks export-masks wrote for videos a, b, not for 'c'"):
        import_masks(tmp_project, "c", out)
    a.clear_masks()
    assert import_masks(tmp_project, "a", out) == [0, 3]
    assert np.array_equal(a.mask(3), _blob(1) // 255)


def test_masks_exported_from_another_video_are_refused_unless_from_video_names_it(tmp_project, tmp_path, capsys):
    """`dvos export-masks P 2 exp2` then `dvos import-masks P video exp2` wrote video 2's masks into 'video' with no
    warning (masks.csv lists video 2 on every row, the files are 2_0000NN.png), with the provenances 2's masks had.
    Now refused, naming the video they belong to and both ways on; --from-video 2 takes them on purpose."""
    from dvos_core.cli import main
    from dvos_core.io import export_masks

    frames = np.stack([np.full(HW + (3,), 30 * k, np.uint8) for k in range(4)])
    two, target = tmp_project.add_video_array("2", frames), tmp_project.add_video_array("video", frames)
    two.set_mask(1, _blob(0), "pseudo")
    two.set_mask(2, _blob(1))
    exp2 = tmp_path / "exp2"
    export_masks(tmp_project, "2", exp2)
    export_masks(tmp_project, "2", tmp_path / "coco", fmt="coco")
    with pytest.raises(
        ValueError,
        match=r"exp2: these masks were exported from video '2' \(masks.csv lists them\), not for video 'video'; "
        r"import them into '2' \(`dvos import-masks \S+ 2 /\S+exp2`\), or, .*--from-video 2 \(from_video='2'\)",
    ):
        import_masks(tmp_project, "video", exp2)
    with pytest.raises(ValueError, match=r"2_coco.json: these masks were exported from video '2' .*--from-video 2"):
        import_masks(tmp_project, "video", tmp_path / "coco" / "2_coco.json")
    (exp2 / "masks.csv").unlink()  # the names alone: <video>_<frame> after another video of the project
    with pytest.raises(ValueError, match=r"are named 2_<frame>, as export-masks names the masks of video '2'"):
        import_masks(tmp_project, "video", exp2)
    assert target.provenance_counts()["none"] == 4
    export_masks(tmp_project, "2", exp2)
    # into its own video an export goes back as it was; into another one when asked, with its provenances
    assert import_masks(tmp_project, "2", exp2) == [1, 2]
    assert main(["import-masks", str(tmp_project.path), "video", str(exp2), "--from-video", "2"]) == 0
    assert "video: wrote 2 masks (1 manual, 1 pseudo)" in capsys.readouterr().out
    assert np.array_equal(target.mask(2), _blob(1) // 255)
    with pytest.raises(ValueError, match=r"from_video='3' \(--from-video\) .* names only 2"):
        import_masks(tmp_project, "video", exp2, from_video="3")
    # several videos' exports in one folder: from_video picks one of them for a video the folder does not list
    a = tmp_project.add_video_array("a", frames)
    a.set_mask(3, _blob(2))
    export_masks(tmp_project, "a", exp2)
    other = tmp_project.add_video_array("other", frames)
    with pytest.raises(ValueError, match=r"videos 2, a, not for 'other'; .*--from-video ID"):
        import_masks(tmp_project, "other", exp2)
    assert import_masks(tmp_project, "other", exp2, from_video="a") == [3]
    assert np.array_equal(other.mask(3), _blob(2) // 255)
    assert import_masks(tmp_project, "a", exp2, overwrite=True) == [3]  # each video still takes its own


def test_a_frame_folder_with_a_numbering_gap_places_masks_by_file_number(tmp_project, tmp_path):
    folder = _folder(tmp_path / "frames", [0, 1, 2, 5, 6])  # frames 3 and 4 were never exported
    with pytest.warns(UserWarning, match=r"numbered 0\.\.6 with gaps"):
        video = import_video(tmp_project, folder, "plot")
    masks = tmp_path / "masks"
    masks.mkdir()
    cv2.imwrite(str(masks / "mask_000005.png"), _blob())
    with pytest.raises(ValueError, match=r"mask_000005\.png would go to frame 5, past the video's end"):
        import_masks(tmp_project, "plot", masks)
    assert import_masks(tmp_project, "plot", masks, numbering="source") == [3]
    cv2.imwrite(str(masks / "mask_000003.png"), _blob())  # no file has number 3
    with pytest.raises(ValueError, match=r"mask_000003\.png: no frame of video 'plot' was read from .* numbered 3"):
        import_masks(tmp_project, "plot", masks, numbering="source", overwrite=True)
    assert video.provenance_counts()["manual"] == 1


def test_source_numbering_follows_start_and_step_of_a_video_file(tmp_project, video_avi, tmp_path):
    video = import_video(tmp_project, video_avi, "plot", start=10, step=5)
    h, w = video.shape[1:3]
    cv2.imwrite(str(tmp_path / "plot_000015.png"), np.pad(np.full((4, 4), 255, np.uint8), ((0, h - 4), (0, w - 4))))
    with pytest.raises(ValueError, match=r"plot_000015\.png would go to frame 15, past.*stored frame 1.*--numbering"):
        import_masks(tmp_project, "plot", tmp_path / "plot_000015.png")
    assert import_masks(tmp_project, "plot", tmp_path / "plot_000015.png", numbering="source") == [1]
    # a number that is both a source frame and a stored frame: a mask named by source frame went in at the stored
    # frame of that number, unasked
    long = import_video(tmp_project, video_avi, "long", start=2, step=1)
    cv2.imwrite(str(tmp_path / "long_000005.png"), np.pad(np.full((4, 4), 255, np.uint8), ((0, h - 4), (0, w - 4))))
    with pytest.raises(ValueError, match=r"long_000005\.png would go to stored frame 5.*to stored frame 3"):
        import_masks(tmp_project, "long", tmp_path / "long_000005.png")
    assert not long.provenance.any()


def test_cli_import_masks_takes_numbering(tmp_project, tmp_path, capsys):
    from dvos_core.cli import main

    folder = _folder(tmp_path / "frames", range(1, 4))
    assert main(["add-video", str(tmp_project.path), str(folder), "--id", "plot"]) == 0
    assert "--numbering source" in capsys.readouterr().err
    masks = tmp_path / "masks"
    masks.mkdir()
    cv2.imwrite(str(masks / "000003.png"), _blob())
    assert main(["import-masks", str(tmp_project.path), "plot", str(masks)]) != 0
    assert "--numbering source" in capsys.readouterr().err
    assert main(["import-masks", str(tmp_project.path), "plot", str(masks), "--numbering", "source"]) == 0
    assert tmp_project.video("plot").provenance[2] > 0


def test_masks_with_transparency_are_read_as_painted(tmp_path):
    m = _blob()
    white_under_clear = np.dstack([np.full(HW, 255, np.uint8)] * 3 + [m])  # white paint, white under the clear part
    black_strokes = np.dstack([np.zeros(HW, np.uint8)] * 3 + [m])  # black strokes on a transparent layer
    Image.fromarray(white_under_clear, "RGBA").save(tmp_path / "a_000000.png")
    Image.fromarray(black_strokes, "RGBA").save(tmp_path / "b_000000.png")
    Image.fromarray(np.dstack([m, m]), "LA").save(tmp_path / "c_000000.png")  # grey + alpha
    Image.fromarray(np.dstack([m] * 3 + [np.full(HW, 255, np.uint8)]), "RGBA").save(tmp_path / "d_000000.png")
    for name in ("a", "b", "c", "d"):
        assert np.array_equal(read_mask_file(tmp_path / f"{name}_000000.png") > 0, m > 0), name


def test_an_imagej_colour_stack_t_c_h_w_is_read_as_colour_frames(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (4, 3) + HW, dtype=np.uint8)  # ImageJ keeps colour as a C axis before Y: TCYX
    tifffile.imwrite(tmp_path / "ij.tif", a, imagej=True, metadata={"axes": "TCYX"})
    with open_video(tmp_path / "ij.tif") as r:
        assert len(r) == 4 and (r.height, r.width) == HW
        assert all(np.array_equal(r[k], np.moveaxis(a[k], 0, -1)) for k in (3, 0, 2))


def test_jpeg_masks_in_a_reference_csv_are_not_grown_by_compression_noise(tmp_project, tmp_path):
    from dvos_core.io import import_reference_csv

    m = np.zeros(HW, np.uint8)
    cv2.ellipse(m, (25, 20), (12, 7), 30, 0, 360, 255, -1)
    cv2.imwrite(str(tmp_path / "f0.png"), np.full(HW + (3,), 90, np.uint8))
    cv2.imwrite(str(tmp_path / "m0.jpg"), m, [cv2.IMWRITE_JPEG_QUALITY, 90])
    (tmp_path / "ref.csv").write_text("VID,FID,Image,Mask,Label\nclip,0,f0.png,m0.jpg,1\n")
    with pytest.warns(UserWarning, match=r"ref\.csv: 1 mask\(s\) are JPEG files .*m0\.jpg.*binarised at 128"):
        (video,) = import_reference_csv(tmp_project, tmp_path / "ref.csv")
    assert abs(int(video.mask(0).sum()) - int((m > 0).sum())) <= 5  # > 0 would add ~25% of grey fringe


def test_a_wholly_transparent_mask_is_empty_unless_the_mask_is_in_its_grey_values(tmp_path):
    m = _blob()
    clear = np.zeros(HW, np.uint8)
    Image.fromarray(np.dstack([np.full(HW, 255, np.uint8)] * 3 + [clear]), "RGBA").save(tmp_path / "e_000000.png")
    Image.fromarray(np.dstack([m] * 3 + [clear]), "RGBA").save(tmp_path / "f_000000.png")  # alpha never filled in
    assert not read_mask_file(tmp_path / "e_000000.png").any()
    assert np.array_equal(read_mask_file(tmp_path / "f_000000.png") > 0, m > 0)


def test_a_dark_16bit_frame_with_a_few_hot_pixels_still_warns(tmp_path):
    frame = np.full((100, 120), 2000, np.uint16)
    frame[3, 4] = frame[10, 11] = 65535  # hot pixels of a scientific camera
    tifffile.imwrite(tmp_path / "hot.tif", np.stack([frame] * 5), photometric="minisblack")
    with pytest.warns(UserWarning, match=r"hot\.tif: 16-bit frames no brighter than 2000 of 65535 \(but for a few hot"):
        open_video(tmp_path / "hot.tif").close()


def test_dark_16bit_footage_behind_a_black_first_frame_still_warns(tmp_path):
    """Only the first frame was looked at: a lens-cap first frame hid 12-bit footage stored almost black. Plain
    12-bit footage is not said to have hot pixels (its maximum is just above its 99.9th percentile)."""
    g = np.random.default_rng(0).integers(0, 4096, (6, 40, 50)).astype(np.uint16)
    g[0] = 0
    tifffile.imwrite(tmp_path / "cap.tif", g, photometric="minisblack")
    with pytest.warns(UserWarning, match=r"cap\.tif: 16-bit frames no brighter than 40\d\d of 65535 \(10-"):
        open_video(tmp_path / "cap.tif").close()


def test_a_mask_stack_with_a_number_in_its_name_keeps_page_numbers(tmp_project, tmp_path):
    folder = _folder(tmp_path / "frames", range(1, 4))
    with pytest.warns(UserWarning, match="numbered 1..3"):
        video = import_video(tmp_project, folder, "plot")
    tifffile.imwrite(tmp_path / "masks_2023.tif", np.stack([_blob(t) for t in range(3)]), photometric="minisblack")
    assert import_masks(tmp_project, "plot", tmp_path / "masks_2023.tif") == [0, 1, 2]  # page k -> frame k
    assert np.array_equal(video.mask(2), _blob(2) // 255)


def _soft_disc(hw=HW, centre=(20, 25), radius=8.0) -> np.ndarray:
    """A disc painted by a soft brush: opacity 255 inside, fading to 0 over 3 px at its edge."""
    yy, xx = np.mgrid[: hw[0], : hw[1]]
    d = np.hypot(yy - centre[0], xx - centre[1])
    return (np.clip((radius + 1.5 - d) / 3.0, 0, 1) * 255).round().astype(np.uint8)


def test_soft_brush_strokes_count_where_they_are_half_opaque_or_more(tmp_path):
    """A soft brush's faint edge (alpha 1..127) counted as head: heads came out fatter than painted. White or black
    paint on a transparent layer now counts where it is at least half opaque, as the object bank reads alpha."""
    alpha = _soft_disc()
    half = alpha >= 128
    assert (alpha > 0).sum() > half.sum() + 20  # the faint edge is a real share of the stroke
    white = np.dstack([np.full(HW, 255, np.uint8)] * 3 + [alpha])
    black = np.dstack([np.zeros(HW, np.uint8)] * 3 + [alpha])
    for name, rgba in (("w_000000.png", white), ("b_000000.png", black)):
        Image.fromarray(rgba, "RGBA").save(tmp_path / name)
        assert np.array_equal(read_mask_file(tmp_path / name) > 0, half), name
    faint = np.dstack([np.zeros(HW, np.uint8)] * 3 + [(alpha * (100 / 255)).round().astype(np.uint8)])
    Image.fromarray(faint, "RGBA").save(tmp_path / "f_000000.png")  # a brush at 40% opacity: its core, not nothing
    assert np.array_equal(read_mask_file(tmp_path / "f_000000.png") > 0, 2 * faint[..., 3].astype(int) >= 100)
    assert (read_mask_file(tmp_path / "f_000000.png") > 0).sum() == pytest.approx(half.sum(), abs=30)


def test_a_grey_anti_aliased_mask_is_refused_with_the_threshold_to_use(tmp_path):
    """A mask with soft grey edges was refused with advice to pass --labels, which imports every faint edge pixel
    as a head; the error now says what the grey values are and to threshold them."""
    from dvos_core.store.arrays import as_uint8_mask

    soft = _soft_disc()
    with pytest.raises(
        ValueError, match=r"grey values between 0 and 255 at the edges .* threshold it first \(e\.g\. mask >= 128\)"
    ):
        as_uint8_mask(soft, HW, "m.png")
    labels = np.zeros(HW, np.uint8)  # an instance label map: one number per head, still pointed to --labels
    labels[2:6, 2:6], labels[10:14, 10:14], labels[20:24, 20:24] = 1, 2, 3
    with pytest.raises(ValueError, match=r"For an instance label map pass allow_labels=True"):
        as_uint8_mask(labels, HW, "l.png")


def test_small_heads_with_grey_edges_are_refused_as_such_also_with_labels(tmp_path):
    """Heads of 3x7 px once saved as JPEG: their grey edges are most of them, so the check for a white core missed
    them, and the advice was --labels - which stored twice the painted area. Touching pixels that mostly differ
    tell shaded edges from a label map (each head one flat number), with or without --labels."""
    import cv2

    from dvos_core.store.arrays import as_uint8_mask

    heads = np.zeros((120, 160), np.uint8)
    rng = np.random.default_rng(0)
    for _ in range(12):
        centre = (int(rng.integers(10, 150)), int(rng.integers(10, 110)))
        cv2.ellipse(heads, centre, (3, 7), int(rng.integers(0, 180)), 0, 360, 255, -1)
    jpeg = cv2.imdecode(cv2.imencode(".jpg", heads, [cv2.IMWRITE_JPEG_QUALITY, 75])[1], 0)
    for allow in (False, True):
        with pytest.raises(ValueError, match=r"grey values .*edges of its shapes.*mask >= 128"):
            as_uint8_mask(jpeg, (120, 160), "m.png", allow_labels=allow)
    from scipy import ndimage

    ids = ndimage.label(heads > 0)[0].astype(np.uint16)  # the same heads as a label map: read as one
    assert np.array_equal(as_uint8_mask(ids, (120, 160), "l.png", allow_labels=True), (heads > 0).astype(np.uint8))
    packed = np.kron(np.arange(1, 101, dtype=np.uint16).reshape(10, 10), np.ones((2, 2), np.uint16))
    assert as_uint8_mask(packed, (20, 20), "p.png", allow_labels=True).all()  # 2x2 heads edge to edge: a label map


def test_exporting_the_masks_of_a_video_without_any_is_an_error(tmp_project, tmp_path):
    """export-masks of a video with no mask wrote 0 files and an empty masks.csv, exit status 0."""
    from dvos_core.io import export_masks

    tmp_project.add_video_array("bare", np.zeros((3, *HW, 3), np.uint8))
    with pytest.raises(ValueError, match=r"video 'bare' has no masks to export.*--predictions"):
        export_masks(tmp_project, "bare", tmp_path / "out")
    assert not (tmp_path / "out" / "masks.csv").exists()
