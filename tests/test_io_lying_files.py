"""Files that lie about themselves get an error naming them, not wrong data, a hang or an unnamed library error:
a JPEG cut short (its missing rows were stored grey), a pipe or a device named like a video (FFmpeg waited for ever),
an image with more pixels than OpenCV decodes, a PNG "bomb" used as a mask; float label maps are read as labels."""

import os
import struct
import zlib

import cv2
import numpy as np
import pytest

from dvos_core.io import open_video
from dvos_core.io.masks import read_mask_file


def _png(path, width, height, bit_depth=8):
    """A grey PNG of ``width`` x ``height`` that is small on disk (rows of zeros compress to almost nothing)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (width * bit_depth + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row * 64) for _ in range(height // 64)) + packer.flush()
    head = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_a_jpeg_cut_short_is_named_not_stored_grey(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (64, 80, 3)).astype(np.uint8)
    for k in range(3):
        cv2.imwrite(str(tmp_path / f"f_{k}.jpg"), img)
    data = (tmp_path / "f_2.jpg").read_bytes()
    (tmp_path / "f_2.jpg").write_bytes(data[: len(data) // 3])  # an interrupted copy
    with open_video(tmp_path) as r:
        assert r[1].shape == (64, 80, 3)
        with pytest.raises(ValueError, match=r"f_2\.jpg: the JPEG file is cut short"):
            r[2]


def test_a_pipe_or_a_device_named_like_a_video_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "fifo.mp4")
    (tmp_path / "zero.mp4").symlink_to("/dev/zero")
    for name in ("fifo.mp4", "zero.mp4"):
        with pytest.raises(ValueError, match=rf"{name}: is not a regular file"):
            open_video(tmp_path / name)


def test_too_many_pixels_and_a_mask_bomb_are_named(tmp_path):
    (tmp_path / "frames").mkdir()
    _png(tmp_path / "frames" / "f_0.png", 40_000, 40_000, bit_depth=1)  # 1.6e9 pixels, past OpenCV's limit
    with pytest.raises(ValueError, match=r"f_0\.png: cannot decode this image"):
        open_video(tmp_path / "frames")
    _png(tmp_path / "m_000000.png", 14_000, 14_000, bit_depth=1)  # past Pillow's decompression-bomb limit
    with pytest.raises(ValueError, match=r"m_000000\.png: cannot decode this mask image"):
        read_mask_file(tmp_path / "m_000000.png")


def test_a_label_map_stored_as_floats_is_read_as_labels():
    """Whole-number labels in a float image (ImageJ, scikit-image): --labels said label maps hold whole numbers."""
    from dvos_core.store.arrays import as_uint8_mask

    a = np.zeros((20, 30))
    a[2:6, 2:6], a[10:14, 10:14] = 3.0, 7.0
    with pytest.raises(ValueError, match="For an instance label map pass allow_labels=True"):
        as_uint8_mask(a, a.shape, "m.tif")
    assert np.array_equal(as_uint8_mask(a, a.shape, "m.tif", allow_labels=True), (a > 0).astype(np.uint8))


def test_very_large_frames_are_written_few_at_a_time_and_too_large_ones_refused_first(
    tmp_project, tmp_path, monkeypatch
):
    """A 12000x12000 video took 16-24 frames in memory (batches of at least 8, and as many decoded ahead: 5 GB) and
    frames over 2 GiB failed at their first write with the codec's message, naming no file."""
    import importlib

    from dvos_core.io import import_video

    module = importlib.import_module("dvos_core.io.import_video")  # (the package's name is the function's)

    assert module.frames_per_batch(1080, 1920) == 8 and module.frames_per_batch(64, 64) == 64  # as before
    assert module.frames_per_batch(12000, 12000) == 1  # 432 MB a frame: one at a time
    w = cv2.VideoWriter(str(tmp_path / "v.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for _ in range(3):
        w.write(np.zeros((48, 64, 3), np.uint8))
    w.release()
    monkeypatch.setattr(module, "FRAME_MAX_BYTES", 48 * 64 * 3 - 1)  # as if its frames were over 2 GiB
    with pytest.raises(ValueError, match=r"v\.avi: its frames of 64x48 pixels are too large to store .* --height"):
        import_video(tmp_project, tmp_path / "v.avi")
    assert tmp_project.video_ids() == []
