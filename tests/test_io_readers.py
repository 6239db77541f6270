"""Readers: frame exactness (random access == sequential decode), TIFF / folder readers, pixel conversion."""

import warnings

import cv2
import numpy as np
import pytest
from conftest import coded_frame, decode_frame_code, write_video

from dvos_core.io import Preprocess, open_video, read_image, to_rgb8


@pytest.mark.parametrize("fixture", ["video_mp4", "video_avi"])
def test_random_access_matches_sequential_decode(fixture, request, sequential_frames):
    path = request.getfixturevalue(fixture)
    truth = sequential_frames(path)
    with open_video(path) as r:
        assert len(r) == len(truth) and (r.height, r.width) == truth[0].shape[:2]
        assert r.fps == pytest.approx(10.0)
        order = np.random.default_rng(1).permutation(len(r))[:30].tolist() + [len(r) - 1, 0, 5, 4, len(r) - 2]
        for k in order:
            f = r[k]
            assert f.dtype == np.uint8 and f.shape == truth[k].shape
            assert np.array_equal(f, truth[k]), f"frame {k} differs from the sequential decode"
            assert decode_frame_code(f) == k
        assert r.seek_verified is True
        assert np.array_equal(r[-1], truth[-1])
        with pytest.raises(IndexError, match="out of range"):
            r[len(r)]


def test_iteration_and_read_range_are_exact(video_mp4, sequential_frames):
    truth = sequential_frames(video_mp4)
    with open_video(video_mp4) as r:
        codes = [decode_frame_code(f) for f in r]
        block = r.read_range(50, 58)
    assert codes == list(range(len(truth)))
    assert block.shape == (8,) + truth[0].shape
    assert all(np.array_equal(block[i], truth[50 + i]) for i in range(8))


def test_never_seek_mode_is_exact_backwards(video_mp4, sequential_frames):
    truth = sequential_frames(video_mp4)
    with open_video(video_mp4, seek="never") as r:
        for k in (100, 3, 90, 89, 119):
            assert np.array_equal(r[k], truth[k])
        assert r.seek_verified is False


def test_real_video_random_access(real_video, sequential_frames):
    truth = sequential_frames(real_video)
    with open_video(real_video) as r:
        assert len(r) == len(truth) > 0
        for k in [len(r) - 1, 7, 100 % len(r), 0, len(r) // 2, 3]:
            assert np.array_equal(r[k], truth[k]), f"{real_video} frame {k}"


def test_multipage_tiff_is_lazy_and_converted(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    stack = np.stack([coded_frame(k)[..., 0].astype(np.uint16) * 257 for k in range(6)])  # 16-bit grayscale
    p = tmp_path / "stack.tif"
    tifffile.imwrite(p, stack)
    with open_video(p) as r:
        assert len(r) == 6 and (r.height, r.width) == stack.shape[1:]
        f = r[4]
        assert f.dtype == np.uint8 and f.shape == stack.shape[1:] + (3,)
        assert np.array_equal(f[..., 0], coded_frame(4)[..., 0]) and np.array_equal(f[..., 0], f[..., 2])


def test_tiff_rgb_stack(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    stack = np.stack([coded_frame(k) for k in range(4)])
    p = tmp_path / "rgb.tiff"
    tifffile.imwrite(p, stack, photometric="rgb")
    with open_video(p) as r:
        assert len(r) == 4
        assert all(np.array_equal(r[k], stack[k]) for k in (3, 0, 2))


def test_folder_sorted_naturally_and_rgba_dropped(tmp_path):
    import cv2

    for k in (0, 1, 2, 10, 11):
        rgba = np.dstack([coded_frame(k), np.full(coded_frame(k).shape[:2], 200, np.uint8)])
        cv2.imwrite(str(tmp_path / f"f{k}.png"), rgba[..., [2, 1, 0, 3]])
    (tmp_path / "notes.txt").write_text("not an image")
    with open_video(tmp_path) as r:
        assert [decode_frame_code(f) for f in r] == [0, 1, 2, 10, 11]
        assert np.array_equal(r[3], coded_frame(10))  # PNG is lossless: exact pixels, alpha dropped


def test_to_rgb8_conversions():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(to_rgb8(g)[..., 2], g)
    assert to_rgb8(np.full((2, 2), 65535, np.uint16)).max() == 255
    assert to_rgb8(np.full((2, 2), 257, np.uint16)).max() == 1
    assert to_rgb8(np.full((2, 2, 3), 0.5, np.float32))[0, 0, 0] == 128
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 1] = 7
    assert to_rgb8(rgba).shape == (2, 2, 3) and to_rgb8(rgba)[0, 0, 1] == 7
    with pytest.raises(ValueError, match="cam.png.*\\[0, 1\\]"):
        to_rgb8(np.full((2, 2, 3), 2.0), "cam.png")
    with pytest.raises(ValueError, match="shape"):
        to_rgb8(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError, match="0..255"):
        to_rgb8(np.full((2, 2), 300, np.int32))


def test_preprocess_paper_and_custom():
    pre = Preprocess.paper()
    assert pre.output_size(1080, 1920) == (1024, 1024)
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[:, 960:] = 255  # right half white: the centre crop must show both halves equally
    out = pre.apply(frame)
    assert out.shape == (1024, 1024, 3)
    assert abs(int(out[..., 0].mean()) - 127) <= 2
    assert Preprocess.from_dict(pre.to_dict()) == pre
    assert Preprocess().apply(frame) is not None and Preprocess().output_size(5, 7) == (5, 7)
    assert Preprocess(height=48).output_size(96, 160) == (48, 80)
    with pytest.raises(ValueError, match="cannot centre-crop 1024x1024"):
        pre.output_size(1080, 800)  # portrait: narrower than the crop after resizing
    # a resize to an absurd height is refused up front (it failed allocating 30 GB in OpenCV mid-import)
    with pytest.raises(ValueError, match=r"makes them 100000x177778, more than 16384 px a side"):
        Preprocess(height=100000).output_size(1080, 1920)
    assert Preprocess(height=4320).output_size(1080, 1920) == (4320, 7680)


def test_short_video_and_single_frame(tmp_path, sequential_frames):
    p = write_video(tmp_path / "one.avi", 1, "MJPG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_video(p) as r:
            assert len(r) == 1 and decode_frame_code(r[0]) == 0


def test_tiff_written_page_by_page_gives_every_page(tmp_path):
    import tifffile

    p = tmp_path / "pages.tif"
    with tifffile.TiffWriter(p) as w:  # one tifffile series per page: every page is still a frame
        for k in range(5):
            w.write(coded_frame(k)[..., 1])
    with open_video(p) as r:
        assert len(r) == 5
        assert [int(r[k][0, 0, 0]) for k in range(5)] == [int(coded_frame(k)[0, 0, 1]) for k in range(5)]


def test_grayscale_and_16bit_png_folders(tmp_path):
    import cv2

    gray, deep = tmp_path / "gray", tmp_path / "deep"
    gray.mkdir(), deep.mkdir()
    for k in range(3):
        cv2.imwrite(str(gray / f"g{k}.png"), np.full((6, 9), 10 * k, np.uint8))
        cv2.imwrite(str(deep / f"d{k}.png"), np.full((6, 9, 3), 20000 * k, np.uint16))
    with open_video(gray) as r:
        assert r[2].shape == (6, 9, 3) and (r[2] == 20).all()
    with open_video(deep) as r:
        assert r[2].dtype == np.uint8 and (r[2] == round(40000 * 255 / 65535)).all()


def test_relative_names_with_a_colon_open_and_write(tmp_path, monkeypatch):
    """A timestamp file name (``2023-06-14T10:30:00.mp4``) given relative was read by FFmpeg as a protocol
    (``2023-06-14T10:``) and refused as corrupt; previews written under such a name failed the same way."""
    from dvos_core.synth.preview import save_preview

    write_video(tmp_path / "2023-06-14T10:30:00.avi", 3, "MJPG")
    monkeypatch.chdir(tmp_path)
    with open_video("2023-06-14T10:30:00.avi") as r:
        assert len(r) == 3 and [decode_frame_code(r[k]) for k in range(3)] == [0, 1, 2]
    frames = np.full((4, 32, 32, 3), 90, np.uint8)
    assert save_preview("preview:1.mp4", frames, np.zeros((4, 32, 32), np.uint8))  # FFmpeg's writer (the .avi's
    with open_video("preview:1.mp4") as r:  # is OpenCV's own, which took the name as it was)
        assert len(r) == 4


def test_a_link_to_a_missing_frame_is_named(tmp_path):
    """A dangling link among a folder's frames was left out without a word (a frame gone from the video)."""
    import cv2

    src, links = tmp_path / "src", tmp_path / "links"
    src.mkdir()
    links.mkdir()
    for k in range(3):
        cv2.imwrite(str(src / f"f_{k}.png"), np.full((8, 8, 3), 40 * k, np.uint8))
        (links / f"f_{k}.png").symlink_to(src / f"f_{k}.png")
    with open_video(links) as r:
        assert len(r) == 3
    (src / "f_2.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"f_2\.png: is a link to .*missing"):
        open_video(links)


@pytest.mark.parametrize("n", [3, 4])
def test_imagej_stack_of_3_or_4_grey_frames_is_frames(tmp_path, n):
    """``tifffile.imwrite(path, frames, imagej=True)`` saves 3 or 4 grey frames on a channel axis (CYX, mode
    grayscale): they were read as one colour frame (the 4th dropped as alpha) without a word. An ImageJ colour
    image (mode composite) of the same shape stays one colour frame."""
    import tifffile

    frames = np.stack([np.full((20, 30), 10 + 60 * k, np.uint8) for k in range(n)])
    tifffile.imwrite(tmp_path / "grey.tif", frames, imagej=True)
    with open_video(tmp_path / "grey.tif") as r:
        assert len(r) == n and all(np.all(r[k] == 10 + 60 * k) for k in range(n))
    tifffile.imwrite(tmp_path / "colour.tif", frames[:3], imagej=True, metadata={"mode": "composite"})
    with open_video(tmp_path / "colour.tif") as r:
        assert len(r) == 1 and r[0][0, 0].tolist() == [10, 70, 130]


def test_a_folder_of_frame_folders_names_them(tmp_path):
    """A plot's folder holding one folder of frames per video was "a folder with no images", nothing more."""
    import cv2

    for name in ("plot2", "plot10"):
        (tmp_path / "field" / name).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "field" / name / "f_0.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"field: folder has no images .*subfolders plot2, plot10 hold images: each"):
        open_video(tmp_path / "field")


def test_lzw_tiffs_as_opencv_and_gimp_write_them_are_read(tmp_path):
    """LZW is OpenCV's and GIMP's default .tif compression; tifffile needs imagecodecs for it (a dependency), and
    without it a stack, a mask file and a frame folder were refused as 'truncated or damaged'."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (40, 50, 3), np.uint8) for _ in range(3)]
    path = tmp_path / "lzw.tif"
    assert cv2.imwritemulti(str(path), [f[..., ::-1] for f in frames])  # BGR on disk order for OpenCV
    import tifffile

    assert tifffile.TiffFile(str(path)).pages[0].compression == 5  # LZW, as written
    with open_video(path) as reader:
        assert len(reader) == 3
        for k in range(3):
            np.testing.assert_array_equal(reader[k], frames[k])
    np.testing.assert_array_equal(read_image(_single(tmp_path, frames[0])), frames[0])


def _single(folder, frame):
    path = folder / "one.tif"
    assert cv2.imwrite(str(path), frame[..., ::-1])
    return path


def test_a_codec_tifffile_lacks_is_named_with_the_package_to_install(tmp_path, monkeypatch):
    """Without imagecodecs tifffile says "<COMPRESSION.LZW: 5> requires the 'imagecodecs' package": the message
    names the package to install, not a damaged file."""
    import tifffile

    path = tmp_path / "s.tif"
    tifffile.imwrite(path, np.zeros((2, 8, 8), np.uint8))

    def lacks(self, *a, **k):
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", lacks)
    with pytest.raises(ValueError, match=r"s\.tif page 0: .*pip install imagecodecs"), open_video(path) as reader:
        reader[0]
