"""Mask import/export round trips, provenance protection, the reference CSV layout both ways."""

import numpy as np
import pandas as pd
import pytest

from dvos_core.io import export_masks, export_reference_csv, import_masks, import_reference_csv


def _blob_masks(n, hw=(24, 32)):
    rng = np.random.default_rng(3)
    return (rng.random((n,) + hw) > 0.7).astype(np.uint8)


@pytest.fixture
def video(tmp_project):
    rng = np.random.default_rng(0)
    return tmp_project.add_video_array("plot1", rng.integers(0, 256, (12, 24, 32, 3), dtype=np.uint8))


@pytest.mark.parametrize("fmt", ["png", "tif"])
def test_masks_round_trip(tmp_project, video, tmp_path, fmt):
    masks = _blob_masks(12)
    for t in (2, 3, 7):
        video.set_mask(t, masks[t], "manual")
    video.set_mask(8, masks[8], "pseudo")
    paths = export_masks(tmp_project, "plot1", tmp_path / "out", fmt=fmt)
    assert [p.name for p in paths] == [f"plot1_{t:06d}.{fmt}" for t in (2, 3, 7, 8)]
    listing = pd.read_csv(tmp_path / "out" / "masks.csv")
    assert listing["provenance"].tolist() == ["manual", "manual", "manual", "pseudo"]
    other = tmp_project.add_video_array("copy", video.read_frames())
    # the same footage under another id takes them when told whose they are
    assert import_masks(tmp_project, "copy", tmp_path / "out", from_video="plot1") == [2, 3, 7, 8]
    for t in range(12):
        if t in (2, 3, 7, 8):
            assert np.array_equal(other.mask(t), masks[t])
        else:
            assert other.mask(t) is None


def test_multipage_tiff_masks_with_frames(tmp_project, video, tmp_path):
    import tifffile

    masks = _blob_masks(3) * 255
    tifffile.imwrite(tmp_path / "m.tif", masks, photometric="minisblack")
    assert import_masks(tmp_project, "plot1", tmp_path / "m.tif", frames=[4, 9, 10]) == [4, 9, 10]
    assert np.array_equal(video.mask(9), masks[1] // 255)


def test_human_masks_protected_from_model_masks(tmp_project, video, tmp_path):
    import cv2

    human = _blob_masks(1)[0]
    video.set_mask(5, human, "manual")
    cv2.imwrite(str(tmp_path / "p_000005.png"), np.ones((24, 32), np.uint8) * 255)
    cv2.imwrite(str(tmp_path / "p_000006.png"), np.ones((24, 32), np.uint8) * 255)
    with pytest.warns(UserWarning, match=r"plot1: 1 frame\(s\) kept the masks they had \(frames 5\).*--overwrite"):
        assert import_masks(tmp_project, "plot1", tmp_path, provenance="pseudo") == [6]
    assert np.array_equal(video.mask(5), human)
    assert import_masks(tmp_project, "plot1", tmp_path, provenance="pseudo", overwrite=True) == [5, 6]
    assert video.mask(5).all()


def test_export_predictions(tmp_project, video, tmp_path):
    p = np.zeros((24, 32), np.float32)
    p[3:9, 4:10] = 0.9
    video.predictions.set(4, p)
    paths = export_masks(tmp_project, "plot1", tmp_path / "pred", which="predictions")
    assert [x.name for x in paths] == ["plot1_000004.png"]
    assert import_masks(tmp_project, "plot1", tmp_path / "pred") == [4]
    assert video.mask(4).sum() == 36


def test_export_a_chosen_models_predictions_with_head_counts(tmp_project, video, tmp_path, capsys):
    from dvos_core.cli import main

    two = np.zeros((24, 32), np.float32)
    two[2:8, 2:8] = two[12:20, 20:28] = 0.9  # two heads of 36 and 64 pixels
    one = np.zeros((24, 32), np.float32)
    one[2:8, 2:8] = 0.9
    one[20, 30] = 0.9  # a speck, below the smallest head counted
    for model, p in (("image", two), ("context", one)):
        video.predictions[model].start({"kind": "test"}, None)
        video.predictions[model].set(3, p)
    export_masks(tmp_project, "plot1", tmp_path / "img", which="predictions", model="image")
    listing = pd.read_csv(tmp_path / "img" / "masks.csv")
    assert listing[["frame", "model", "heads", "head_pixels"]].values.tolist() == [[3, "image", 2, 100]]
    export_masks(tmp_project, "plot1", tmp_path / "latest", which="predictions")  # default: the most recent set
    listing = pd.read_csv(tmp_path / "latest" / "masks.csv")
    assert listing[["model", "heads", "head_pixels"]].values.tolist() == [["context", 1, 37]]
    with pytest.raises(ValueError, match=r"no predictions by 'dvos' \(its predictions: \['image', 'context'\]\)"):
        export_masks(tmp_project, "plot1", tmp_path / "x", which="predictions", model="dvos")
    assert main(["export-masks", str(tmp_project.path), "plot1", str(tmp_path / "y"), "--model", "image"]) == 2
    assert "add --predictions" in capsys.readouterr().err


def test_exports_refuse_a_video_without_predictions_and_the_project_folder(tmp_project, video, tmp_path):
    """A video never predicted is an error, not an empty export; nothing is written into the project folder."""
    with pytest.raises(ValueError, match="'plot1' has no predictions yet; predict it first"):
        export_masks(tmp_project, "plot1", tmp_path / "none", which="predictions")
    assert not (tmp_path / "none").exists()
    video.set_mask(2, _blob_masks(1)[0], "manual")
    listing = sorted(p.relative_to(tmp_project.path) for p in tmp_project.path.rglob("*"))
    with pytest.raises(ValueError, match="lies inside the project folder"):
        export_masks(tmp_project, "plot1", tmp_project.path / "videos")
    with pytest.raises(ValueError, match="lies inside the project folder"):
        export_reference_csv(tmp_project, tmp_project.path / "csv")
    assert sorted(p.relative_to(tmp_project.path) for p in tmp_project.path.rglob("*")) == listing
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        export_masks(tmp_project, "plot1", tmp_path / "a_file")
    with pytest.raises(ValueError, match="min_area must be at least 1"):
        export_masks(tmp_project, "plot1", tmp_path / "m", min_area=-5)


def test_reference_csv_round_trip(tmp_project, video, tmp_path):
    masks = _blob_masks(12)
    for t in list(range(7)) + [9, 10]:  # run 0..6 -> one 5-frame clip (5,6 left over); run 9..10 too short
        video.set_mask(t, masks[t], "manual")
    with pytest.warns(UserWarning, match="4 masked frame"):
        csv = export_reference_csv(tmp_project, tmp_path / "ref", clip_length=5)
    df = pd.read_csv(csv)
    assert list(df.columns) == ["VID", "FID", "Image", "Mask", "Label"]
    assert df["FID"].tolist() == list(range(5)) and df["VID"].nunique() == 1
    assert df["Label"].tolist() == [0, 0, 0, 0, 1]
    assert df["Mask"].notna().all()
    target = type(tmp_project).create(tmp_path / "b.dvos")
    (v2,) = import_reference_csv(target, csv)
    assert v2.name == "plot1-000000" and len(v2) == 5
    assert np.array_equal(v2.read_frames(), video.read_frames(0, 5))  # PNG: lossless
    assert all(np.array_equal(v2.mask(t), masks[t]) for t in range(5))
    assert v2.provenance_counts()["manual"] == 5


def test_reference_csv_whole_runs_and_missing_file(tmp_project, video, tmp_path):
    for t in (3, 4, 5):
        video.set_mask(t, _blob_masks(1)[0], "corrected")
    csv = export_reference_csv(tmp_project, tmp_path / "ref", clip_length=None)
    df = pd.read_csv(csv)
    assert df["Label"].tolist() == [1, 1, 1]
    (tmp_path / "ref" / df["Image"][1]).unlink()
    target = type(tmp_project).create(tmp_path / "c.dvos")
    with pytest.raises(FileNotFoundError, match="row 3.*plot1_000004.png"):
        import_reference_csv(target, csv)
    assert target.video_ids() == []


def test_reference_csv_missing_columns(tmp_project, tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="x.csv.*missing column"):
        import_reference_csv(tmp_project, p)


def test_mask_tiff_written_page_by_page(tmp_project, video, tmp_path):
    import tifffile

    masks = _blob_masks(4)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as w:  # one tifffile series per page
        for m in masks:
            w.write(m * 255)
    assert import_masks(tmp_project, "plot1", tmp_path / "pages.tif") == [0, 1, 2, 3]
    assert all(np.array_equal(video.mask(t), masks[t]) for t in range(4))


def test_masks_csv_lists_every_video_exported_into_a_folder(tmp_project, video, tmp_path):
    """Two videos exported one after the other into one folder: masks.csv lists both (it used to list the last);
    exporting a video again replaces its own rows only, and a list from before the video column is read."""
    masks = _blob_masks(12)
    video.set_mask(2, masks[2], "manual")
    other = tmp_project.add_video_array("plot2", video.read_frames())
    other.set_mask(5, masks[5], "manual")
    other.set_mask(6, masks[6], "pseudo")
    out = tmp_path / "out"
    export_masks(tmp_project, "plot1", out)
    export_masks(tmp_project, "plot2", out)
    listing = pd.read_csv(out / "masks.csv")
    assert list(listing.columns[:3]) == ["video", "frame", "file"]
    assert list(zip(listing["video"], listing["frame"])) == [("plot1", 2), ("plot2", 5), ("plot2", 6)]
    other.clear_masks(["pseudo"])
    with pytest.warns(UserWarning, match="plot2_000006.png"):
        export_masks(tmp_project, "plot2", out)
    listing = pd.read_csv(out / "masks.csv")
    assert list(zip(listing["video"], listing["frame"])) == [("plot1", 2), ("plot2", 5)]
    # a list written before the video column: other videos' rows kept, the video read from the file name
    (out / "masks.csv").write_text(
        "frame,file,provenance,model,heads,head_pixels\n2,plot1_000002.png,manual,,3,40\n9,gone_000009.png,manual,,1,5\n"
    )
    (out / "plot2_000006.png").unlink()
    export_masks(tmp_project, "plot2", out)
    listing = pd.read_csv(out / "masks.csv")
    assert list(zip(listing["video"], listing["frame"])) == [("plot1", 2), ("plot2", 5)]
    assert listing["head_pixels"].iloc[0] == 40  # the old row as it was (gone_000009.png has no file: dropped)


def test_foreign_masks_csv_is_refused_before_writing(tmp_project, video, tmp_path):
    video.set_mask(2, _blob_masks(3)[2], "manual")
    out = tmp_path / "out"
    out.mkdir()
    (out / "masks.csv").write_text("id,area\n1,2\n")
    with pytest.raises(ValueError, match=r"masks.csv: this file is not a list of masks exported by dvos"):
        export_masks(tmp_project, "plot1", out)
    assert (out / "masks.csv").read_text() == "id,area\n1,2\n"
    assert not list(out.glob("*.png"))


def test_reference_csv_leaves_test_videos_out_unless_named(tmp_project, video, tmp_path):
    """The training CSV held the test videos' ground truth, without a word."""
    masks = _blob_masks(3)
    exam = tmp_project.add_video_array("exam", video.read_frames(0, 3), split="test")
    for t in range(3):
        video.set_mask(t, masks[t], "manual")
        exam.set_mask(t, masks[t], "manual")
    with pytest.warns(UserWarning, match=r"left out the test video\(s\) \['exam'\]"):
        csv = export_reference_csv(tmp_project, tmp_path / "ref", clip_length=3)
    assert pd.read_csv(csv)["VID"].unique().tolist() == ["plot1-000000"]
    csv = export_reference_csv(tmp_project, tmp_path / "all", clip_length=3, video_ids=["plot1", "exam"])
    assert sorted(pd.read_csv(csv)["VID"].unique()) == ["exam-000000", "plot1-000000"]


def test_a_mask_named_with_a_negative_frame_number_is_refused(tmp_project, video, tmp_path):
    """`m_-3.png` went into frame 3 without a word ('frame-3.png', a dash before the number, stays frame 3)."""
    import cv2

    folder = tmp_path / "neg"
    folder.mkdir()
    mask = _blob_masks(1)[0] * np.uint8(255)
    cv2.imwrite(str(folder / "m_-3.png"), mask)
    with pytest.raises(ValueError, match=r"m_-3\.png: its frame number is negative \(-3\)"):
        import_masks(tmp_project, "plot1", folder)
    assert video.mask(3) is None
    (folder / "m_-3.png").rename(folder / "frame-3.png")
    assert import_masks(tmp_project, "plot1", folder) == [3]


def test_masks_csv_names_each_stored_frames_source_frame(tmp_project, tmp_path):
    """masks.csv counted stored frames only: a video added with --start/--step gave no way back to the footage's
    frames. Its source_frame column does; a list written before the column keeps its rows (empty there)."""
    import cv2

    from dvos_core.io import import_video

    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(12):
        cv2.imwrite(str(folder / f"f_{k}.png"), np.full((24, 32, 3), 10 * k, np.uint8))
    video = import_video(tmp_project, folder, "plot1", start=2, step=3)  # source frames 2, 5, 8, 11
    m = np.zeros((24, 32), np.uint8)
    m[4:10, 4:10] = m[14:20, 20:28] = 1
    m[0, 31] = 1  # a one-pixel part: in head_pixels, not in heads
    video.set_mask(2, m, "manual")
    out = tmp_path / "out"
    out.mkdir()
    (out / "masks.csv").write_text(  # a list of before the source_frame column, of another video
        "video,frame,file,provenance,model,heads,head_pixels\nplot0,1,plot0_000001.png,manual,,1,9\n"
    )
    cv2.imwrite(str(out / "plot0_000001.png"), np.zeros((24, 32), np.uint8))
    export_masks(tmp_project, "plot1", out, min_area=16)
    listing = pd.read_csv(out / "masks.csv")
    row = listing[listing["video"] == "plot1"].iloc[0]
    assert (row["frame"], row["source_frame"], row["heads"], row["head_pixels"]) == (2, 8, 2, 36 + 48 + 1)
    assert listing[listing["video"] == "plot0"]["source_frame"].isna().all()


def test_export_csv_refuses_a_dataset_csv_it_did_not_write(tmp_project, video, tmp_path):
    """A user's own dataset.csv was replaced without a word; an earlier export of dvos is still replaced."""
    for t in range(3):
        video.set_mask(t, _blob_masks(1)[0], "manual")
    mine = tmp_path / "mydata" / "dataset.csv"
    mine.parent.mkdir()
    mine.write_text("VID,FID,Image,Mask,Label\nfield7,0,frames/field7/0.png,masks/field7/0.png,1\n")
    with pytest.raises(ValueError, match=r"dataset\.csv: this file is not a CSV exported by dvos .*move it away"):
        export_reference_csv(tmp_project, tmp_path / "mydata", clip_length=3)
    assert mine.read_text().startswith("VID,FID,Image,Mask,Label\nfield7,") and not (mine.parent / "frames").exists()
    for absolute in (False, True, False):  # an earlier export, relative or absolute paths: replaced
        csv = export_reference_csv(tmp_project, tmp_path / "ours", clip_length=1, absolute_paths=absolute)
        assert len(pd.read_csv(csv)) == 3
    video.set_mask(3, _blob_masks(1)[0], "manual")
    assert len(pd.read_csv(export_reference_csv(tmp_project, tmp_path / "ours", clip_length=2))) == 4


def test_export_csv_with_nothing_to_export_is_an_error(tmp_project, video, tmp_path):
    """No run long enough for a clip wrote a header-only CSV, and exit 0."""
    with pytest.raises(ValueError, match=r"nothing to export .*\['plot1'\] have no masks"):
        export_reference_csv(tmp_project, tmp_path / "a")
    for t in (2, 3, 6):
        video.set_mask(t, _blob_masks(1)[0], "manual")
    with pytest.raises(ValueError, match=r"no video of \['plot1'\] has 5 consecutive masked frames \(the longest run"):
        export_reference_csv(tmp_project, tmp_path / "a", clip_length=5)
    assert not (tmp_path / "a").exists()
    video.set_split("test")
    with pytest.warns(UserWarning, match="left out the test video"), pytest.raises(ValueError, match="no videos to"):
        export_reference_csv(tmp_project, tmp_path / "a", clip_length=1)
    assert not (tmp_path / "a").exists()


def test_export_csv_clip_length_error_names_the_option(tmp_project, tmp_path, capsys):
    from dvos_core.cli import main

    assert main(["export-csv", str(tmp_project.path), str(tmp_path / "b"), "--clip-length", "-1"]) == 2
    assert "--clip-length (clip_length=) must be >= 1" in capsys.readouterr().err


def _png_frames(folder, n, hw=(24, 32)):
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i}.png"), np.full(hw + (3,), 20 * i, np.uint8))


@pytest.mark.parametrize(
    "rows, error",
    [
        ("A,0,f/0.png\nA,1,f/1.png\n,2,f/2.png\nA,3,f/3.png\n", r"d\.csv: row 4 has no VID"),
        ("B,0,f/0.png\nB,1,f/1.png\nB,1,f/2.png\n", r"d\.csv: VID 'B' lists FID 1 more than once \(rows 3, 4\)"),
        (
            "C,f9,f/0.png\nC,f10,f/1.png\nC,11,f/2.png\n",
            r"d\.csv: FID\(s\) 'f9' \(row 2\), 'f10' \(row 3\) are not whole",
        ),
        ("", r"d\.csv: lists no frames \(it has only its header row\); nothing to import"),
    ],
)
def test_reference_csv_refuses_malformed_rows_before_writing(tmp_project, tmp_path, rows, error):
    """A row without a VID was dropped, a repeated FID kept both frames, FIDs f9, f10, f11 were sorted as text."""
    _png_frames(tmp_path / "f", 4)
    (tmp_path / "d.csv").write_text("VID,FID,Image\n" + rows)
    with pytest.raises(ValueError, match=error):
        import_reference_csv(tmp_project, tmp_path / "d.csv")
    assert tmp_project.video_ids() == []


def test_reference_csv_fids_written_as_text_are_numbers(tmp_project, tmp_path):
    """FIDs 9, 10, 11 quoted or padded are ordered as numbers; VID 007 keeps its zeros; a gap is warned about."""
    _png_frames(tmp_path / "f", 4)
    (tmp_path / "d.csv").write_text('VID,FID,Image\n007,"10",f/1.png\n007, 9 ,f/0.png\n007,11.0,f/2.png\n')
    (video,) = import_reference_csv(tmp_project, tmp_path / "d.csv")
    assert video.name == "007" and (video.read_frames()[:, 0, 0, 0] // 20).tolist() == [0, 1, 2]
    (tmp_path / "e.csv").write_text("VID,FID,Image\nE,0,f/0.png\nE,5,f/1.png\n")
    with pytest.warns(UserWarning, match=r"e\.csv: the FIDs of VID\(s\) E skip numbers"):
        import_reference_csv(tmp_project, tmp_path / "e.csv")


def test_reference_csv_refuses_a_0_1_mask_saved_as_jpeg(tmp_project, tmp_path):
    """A 0/1 mask saved as JPEG was binarised at 128 into an EMPTY manual mask: ground truth saying 'no heads'."""
    import cv2

    _png_frames(tmp_path / "f", 2)
    m = np.zeros((24, 32), np.uint8)
    m[5:15, 5:20] = 1  # as (mask > 0).astype(np.uint8) gives
    cv2.imwrite(str(tmp_path / "m0.jpg"), m)
    cv2.imwrite(str(tmp_path / "m1.jpg"), m * 255)
    (tmp_path / "a.csv").write_text("VID,FID,Image,Mask,Label\nA,0,f/0.png,m0.jpg,1\n")
    with pytest.raises(ValueError, match=r"m0\.jpg: this JPEG mask's values .*only [12],.*save the masks as PNG"):
        import_reference_csv(tmp_project, tmp_path / "a.csv")
    assert tmp_project.video_ids() == []
    # the 0/1 mask after a 0/255 one (checked as it is imported): the video made before it is deleted again
    (tmp_path / "b.csv").write_text("VID,FID,Image,Mask,Label\nA,0,f/0.png,m1.jpg,1\nB,1,f/1.png,m0.jpg,1\n")
    with pytest.raises(ValueError, match=r"m0\.jpg: this JPEG mask's values go up to only [12]"):
        import_reference_csv(tmp_project, tmp_path / "b.csv")
    assert tmp_project.video_ids() == []
    (tmp_path / "c.csv").write_text("VID,FID,Image,Mask,Label\nA,0,f/0.png,m1.jpg,1\n")
    with pytest.warns(UserWarning, match="binarised at 128"):  # a 0/255 JPEG: as before
        (video,) = import_reference_csv(tmp_project, tmp_path / "c.csv")
    assert abs(int(video.mask(0).sum()) - 150) <= 5


@pytest.mark.parametrize("fmt", ["png", "coco"])
def test_export_keeps_every_readable_mask_of_a_damaged_video(tmp_project, video, tmp_path, fmt):
    """A damaged mask chunk made export-masks stop at that frame, so the masks after it could not be saved before
    the video was repaired (its fix: delete the video and add it again)."""
    masks = _blob_masks(12)
    for t in (2, 5, 9):
        video.set_mask(t, masks[t], "manual")
    (tmp_project.path / "videos/plot1/masks/c/5/0/0").write_bytes(b"\0" * 7)
    with pytest.warns(
        UserWarning, match=r"plot1: the masks of 1 frame\(s\) could not be read .*\(frames 5\).*masks/c/5"
    ):
        written = export_masks(tmp_project, "plot1", tmp_path / "out", fmt=fmt)
    assert list(written.skipped) == [5] and "masks/c/5/0/0 is damaged" in written.skipped[5]
    other = tmp_project.add_video_array("copy", video.read_frames())
    source = written[0] if fmt == "coco" else tmp_path / "out"
    assert import_masks(tmp_project, "copy", source, from_video="plot1") == [2, 9]
    assert all(np.array_equal(other.mask(t), masks[t]) for t in (2, 9))


@pytest.mark.parametrize("damage", ["chunk", "zarr.json"])
def test_export_masks_exits_non_zero_when_a_mask_could_not_be_read(tmp_project, video, tmp_path, capsys, damage):
    """export-masks said "wrote 11 masks" (or "wrote 0 masks") and exited 0 when masks could not be read: a script
    took the export for whole. It still writes every readable mask, then says how many were skipped and exits 1."""
    from dvos_core.cli import main

    for t in (2, 5, 9):
        video.set_mask(t, _blob_masks(12)[t], "manual")
    if damage == "chunk":
        (tmp_project.path / "videos/plot1/masks/c/5/0/0").write_bytes(b"\0" * 7)
    else:
        (tmp_project.path / "videos/plot1/masks/zarr.json").unlink()
    assert main(["export-masks", str(tmp_project.path), "plot1", str(tmp_path / "out")]) == 1
    out = capsys.readouterr()
    said = out.out
    assert "warning: plot1: the masks of" in out.err  # the frames, the first file and its fix
    n, skipped = (2, 1) if damage == "chunk" else (0, 3)
    assert (
        f"plot1: wrote {n} masks to {tmp_path / 'out'}; skipped {skipped} frame(s) whose masks could not be read"
        in said
    )
    assert len(list((tmp_path / "out").glob("plot1_*.png"))) == n


@pytest.mark.parametrize("fmt", ["png", "coco"])
def test_an_exported_prediction_edited_and_imported_records_the_set_it_corrects(tmp_project, video, tmp_path, fmt):
    """A prediction exported, fixed in another program and imported came back 'corrected' without its source set
    (masks.csv names it, with the mask's digest): evaluation did not know its model was scored on its own
    correction, as it does for one saved in napari. Named only while the set still holds the exported mask."""
    from PIL import Image

    p = np.zeros((24, 32), np.float32)
    p[3:9, 4:10] = 0.9
    video.predictions["img"].start({"kind": "test"}, None)
    for t in (4, 5, 6):
        video.predictions["img"].set(t, p)
    out = tmp_path / "pred"
    export_masks(tmp_project, "plot1", out, which="predictions", model="img", fmt=fmt)
    if fmt == "png":
        for t in (4, 5):
            f = out / f"plot1_{t:06d}.png"
            a = np.array(Image.open(f))
            a[3:5, 4:10] = 0  # a person trims the head
            Image.fromarray(a).save(f)
        source = out
    else:
        import json

        source = next(out.glob("*.json"))
        doc = json.loads(source.read_text())
        kept = {img["id"] for img in doc["images"] if img["file_name"].endswith(("_000004.png", "_000005.png"))}
        for ann in doc["annotations"]:
            if ann["image_id"] in kept:  # the head made smaller: a box of 2 rows fewer
                ann["segmentation"] = [[4, 5, 10, 5, 10, 9, 4, 9]]
                ann["bbox"], ann["area"] = [4, 5, 6, 4], 24
        source.write_text(json.dumps(doc))
    video.predictions["img"].set(5, np.roll(p, 2, axis=0))  # predicted again since the export: another mask
    assert sorted(import_masks(tmp_project, "plot1", source)) == [4, 5, 6]
    assert [int(c) for c in video.provenance[4:7]] == [4, 4, 3]  # corrected, corrected, predicted
    assert tmp_project.video("plot1").correction_sources == {4: {"set": "img", "checkpoint": None}}
