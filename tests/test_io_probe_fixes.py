"""Footage and masks in and out: hidden files, folder TIFFs, one-page TIFF masks, frame rates, CSV leftovers."""

import warnings

import cv2
import numpy as np
import pytest
import tifffile

from dvos_core.io import import_masks, import_reference_csv, import_video, open_video

HW = (24, 32)


def _blob(hw=HW):
    m = np.zeros(hw, np.uint8)
    m[3:10, 4:12] = 255
    return m


def test_hidden_files_in_a_frame_folder_are_skipped(tmp_project, tmp_path):
    # macOS leaves '._name' resource forks (with the image's suffix) beside files copied to a USB drive
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(3):
        cv2.imwrite(str(folder / f"f{k}.png"), np.full(HW, 40 * k + 10, np.uint8))
    (folder / "._f0.png").write_bytes(b"\x00\x05\x16\x07 appledouble")
    (folder / ".DS_Store").write_bytes(b"junk")
    video = import_video(tmp_project, folder)
    assert len(video) == 3
    assert [int(video.frame(t)[0, 0, 0]) for t in range(3)] == [10, 50, 90]


def test_hidden_files_in_a_mask_folder_are_skipped(tmp_project, tmp_path):
    tmp_project.add_video_array("plot1", np.zeros((4,) + HW + (3,), np.uint8))
    folder = tmp_path / "masks"
    folder.mkdir()
    cv2.imwrite(str(folder / "plot1_000002.png"), _blob())
    (folder / "._plot1_000002.png").write_bytes(b"\x00\x05\x16\x07 appledouble")
    assert import_masks(tmp_project, "plot1", folder) == [2]


def test_natural_sort_ties_are_in_name_order():
    from dvos_core.io.readers import natural_key

    names = ["f01.png", "f1.png", "f2.png", "f10.png"]
    for order in (names, names[::-1]):
        assert sorted(order, key=natural_key) == ["f01.png", "f1.png", "f2.png", "f10.png"]


def test_a_folder_of_planar_rgb_tiffs_is_read_like_the_same_tiff_file(tmp_path):
    folder = tmp_path / "planar"
    folder.mkdir()
    rng = np.random.default_rng(0)
    planes = rng.integers(0, 256, (2, 3) + HW, np.uint8)
    for k in range(2):
        tifffile.imwrite(folder / f"f{k}.tif", planes[k], photometric="rgb", planarconfig="separate")
    with open_video(folder) as r:
        assert len(r) == 2
        for k in range(2):
            assert np.array_equal(r[k], np.moveaxis(planes[k], 0, -1))


def test_a_multipage_tiff_inside_a_frame_folder_names_the_fix(tmp_path):
    folder = tmp_path / "stack_folder"
    folder.mkdir()
    tifffile.imwrite(folder / "stack.tif", np.zeros((5,) + HW, np.uint8), photometric="minisblack")
    with pytest.raises(ValueError, match=r"stack\.tif: this TIFF holds 5 frames.*dvos add-video PROJECT FILE"):
        open_video(folder)


def test_12_bit_data_in_a_16_bit_tiff_warns_that_it_comes_out_dark(tmp_path):
    p = tmp_path / "cam12.tif"
    tifffile.imwrite(p, np.random.default_rng(0).integers(0, 4096, (3,) + HW, np.uint16), photometric="minisblack")
    with pytest.warns(UserWarning, match=r"cam12\.tif: 16-bit frames .* almost black"):
        open_video(p).close()
    full = tmp_path / "cam16.tif"
    tifffile.imwrite(full, np.full((3,) + HW, 60000, np.uint16), photometric="minisblack")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_video(full).close()


def test_a_one_page_tiff_mask_goes_to_the_frame_in_its_name(tmp_project, tmp_path):
    # export-masks --format tif writes one <video>_<frame>.tif per frame; one of them must go back to its frame
    video = tmp_project.add_video_array("plot1", np.zeros((10,) + HW + (3,), np.uint8))
    tifffile.imwrite(tmp_path / "plot1_000007.tif", _blob())
    assert import_masks(tmp_project, "plot1", tmp_path / "plot1_000007.tif") == [7]
    assert video.mask(0) is None and video.mask(7).any()
    tifffile.imwrite(tmp_path / "nameless.tif", _blob())  # no number in the name: page 0 -> frame 0
    assert import_masks(tmp_project, "plot1", tmp_path / "nameless.tif") == [0]


def test_a_grey_tiff_mask_saved_in_colour_reads_as_in_a_folder(tmp_project, tmp_path):
    video = tmp_project.add_video_array("plot1", np.zeros((3,) + HW + (3,), np.uint8))
    tifffile.imwrite(tmp_path / "m.tif", np.dstack([_blob()] * 3))
    assert import_masks(tmp_project, "plot1", tmp_path / "m.tif", frames=[1]) == [1]
    assert np.array_equal(video.mask(1), _blob() // 255)


def test_three_masks_saved_as_one_rgb_tiff_are_refused_not_read_as_one(tmp_project, tmp_path):
    tmp_project.add_video_array("plot1", np.zeros((5,) + HW + (3,), np.uint8))
    # what tifffile.imwrite(path, stack_of_3) writes (as of 2026): one planar RGB page
    tifffile.imwrite(tmp_path / "three.tif", np.stack([_blob()] * 3), photometric="rgb", planarconfig="separate")
    with pytest.raises(ValueError, match=r"three\.tif: holds one image of 3 colour planes.*minisblack"):
        import_masks(tmp_project, "plot1", tmp_path / "three.tif")
    assert not tmp_project.video("plot1").provenance.any()


def test_masks_past_the_end_of_a_stepped_import_explain_the_numbering(tmp_project, video_avi, tmp_path):
    import_video(tmp_project, video_avi, "plot", start=10, step=5)  # 6 frames: source 10, 15, ..., 35
    cv2.imwrite(str(tmp_path / "plot_000015.png"), np.zeros((48, 64), np.uint8))
    with pytest.raises(ValueError, match=r"which frames.*--start 10 --step 5.*frame 15, past the video's end"):
        import_masks(tmp_project, "plot", tmp_path / "plot_000015.png")


@pytest.mark.parametrize("fps", [1e9, 0.001])
def test_a_frame_rate_the_video_writers_refuse_is_refused_on_import(tmp_project, video_avi, fps):
    with pytest.raises(ValueError, match="fps must be between 0.01 and 1000 frames per second"):
        import_video(tmp_project, video_avi, "plot", fps=fps)
    assert tmp_project.video_ids() == []


def test_cli_add_video_names_the_delete_command_for_an_existing_id(tmp_project, video_avi, capsys):
    from dvos_core.cli import main

    assert main(["add-video", str(tmp_project.path), str(video_avi), "--id", "plot"]) == 0
    capsys.readouterr()
    assert main(["add-video", str(tmp_project.path), str(video_avi), "--id", "plot"]) != 0
    err = capsys.readouterr().err
    assert f"dvos delete {tmp_project.path} video plot --yes" in err
    assert "used twice" not in err


def test_import_csv_replaces_the_leftover_of_a_killed_import(tmp_project, tmp_path):
    rng = np.random.default_rng(1)
    for k in range(3):
        cv2.imwrite(str(tmp_path / f"f{k}.png"), rng.integers(0, 256, HW + (3,), np.uint8))
    cv2.imwrite(str(tmp_path / "m0.png"), _blob())
    (tmp_path / "d.csv").write_text(
        "VID,FID,Image,Mask,Label\nclip,0,f0.png,m0.png,0\nclip,1,f1.png,,0\nclip,2,f2.png,,1\n"
    )
    tmp_project.create_video("clip", *HW, import_complete=False)  # what a killed import leaves
    (video,) = import_reference_csv(tmp_project, tmp_path / "d.csv")
    assert video.import_complete and len(video) == 3 and video.mask(0).any()
    before = video.read_frames()
    with pytest.warns(UserWarning, match=r"made from this CSV before are kept, not imported again \(clip\)"):
        (again,) = import_reference_csv(tmp_project, tmp_path / "d.csv")  # a finished video is never replaced
    assert np.array_equal(again.read_frames(), before) and again.attrs["created"] == video.attrs["created"]
    (tmp_path / "e.csv").write_text((tmp_path / "d.csv").read_text())  # another CSV with the same VID: refused
    with pytest.raises(ValueError, match=r"\['clip'\] already exist"):
        import_reference_csv(tmp_project, tmp_path / "e.csv")


def test_export_into_a_folder_of_an_earlier_export_names_the_files_it_did_not_write(tmp_project, tmp_path):
    from dvos_core.io import export_masks

    video = tmp_project.add_video_array("plot1", np.zeros((4,) + HW + (3,), np.uint8))
    for t in (1, 2):
        video.set_mask(t, _blob() // 255, "manual")
    export_masks(tmp_project, "plot1", tmp_path / "out")
    video.clear_masks(["manual"])
    video.set_mask(2, _blob() // 255, "manual")
    with pytest.warns(UserWarning, match=r"1 mask file\(s\) of 'plot1' from an earlier export .*plot1_000001\.png"):
        export_masks(tmp_project, "plot1", tmp_path / "out")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export_masks(tmp_project, "plot1", tmp_path / "fresh")


def test_jpeg_masks_are_refused_saying_why(tmp_project, tmp_path):
    tmp_project.add_video_array("plot1", np.zeros((4,) + HW + (3,), np.uint8))
    folder = tmp_path / "masks"
    folder.mkdir()
    cv2.imwrite(str(folder / "plot1_000001.jpg"), _blob())
    with pytest.raises(ValueError, match=r"1 JPEG file\(s\) \(plot1_000001\.jpg, \.\.\.\) .*lossy"):
        import_masks(tmp_project, "plot1", folder)
    with pytest.raises(ValueError, match=r"plot1_000001\.jpg: JPEG masks are not read: .*PNG or TIFF"):
        import_masks(tmp_project, "plot1", folder / "plot1_000001.jpg")
    assert not tmp_project.video("plot1").provenance.any()


def test_a_tag_without_a_key_is_refused(tmp_project, video_avi, capsys):
    from dvos_core.cli import main

    with pytest.raises(SystemExit):
        main(["add-video", str(tmp_project.path), str(video_avi), "--tag", "=Arina"])
    assert "has no key" in capsys.readouterr().err
    assert tmp_project.video_ids() == []
