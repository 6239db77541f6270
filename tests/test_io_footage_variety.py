"""Field footage as phones and action cameras record it: variable frame rate, rotation metadata, EXIF-rotated photos,
mixed photo sizes, files OpenCV cannot open.

No ffmpeg is needed: videos are written with ``cv2.VideoWriter`` (mp4v) and their MP4 boxes edited in place to
give them what phones write (per-frame durations in ``stts``, a rotation matrix in ``tkhd``); photos are written
with Pillow, EXIF orientation tag included.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from conftest import BLOCK, coded_frame, decode_frame_code, write_video
from PIL import Image, ImageOps

from dvos_core.io import CV2VideoReader, import_video, open_video
from dvos_core.io.masks import read_mask_file
from dvos_core.io.readers import read_image


# ---- MP4 box editing (OpenCV writes ftyp, mdat, then moov: moov can grow without moving the frame data) ------------
def _box_chain(d: bytes, names: list[str]) -> list[int]:
    """Offsets of the nested boxes ``names`` (e.g. moov/trak/tkhd), outermost first."""
    chain, start, end = [], 0, len(d)
    for name in names:
        i = start
        while i < end:
            size, typ = struct.unpack(">I4s", d[i : i + 8])
            if typ.decode("latin1") == name:
                break
            i += size
        else:
            raise AssertionError(f"no {name} box")
        chain.append(i)
        start, end = i + 8, i + size
    return chain


def make_vfr(path, durations: dict[int, float]) -> None:
    """Rewrite the sample durations (``stts``) of an OpenCV mp4 so that frame k lasts ``durations.get(k, 1)`` frame
    times: what a phone writes when it drops frames in dim light or records a burst. The total stays the same when
    the durations add up to the frame count."""
    d = bytearray(path.read_bytes())
    chain = _box_chain(d, ["moov", "trak", "mdia", "minf", "stbl", "stts"])
    stts = chain[-1]
    size, count, n, delta = struct.unpack(">I8xIII", d[stts : stts + 24])
    assert count == 1 and _box_chain(d, ["mdat"])[0] < chain[0]
    runs: list[list[int]] = []
    for k in range(n):
        dk = int(round(delta * durations.get(k, 1)))
        if runs and runs[-1][1] == dk:
            runs[-1][0] += 1
        else:
            runs.append([1, dk])
    body = struct.pack(">I", len(runs)) + b"".join(struct.pack(">II", c, x) for c, x in runs)
    new = struct.pack(">I4s", 12 + len(body), b"stts") + d[stts + 8 : stts + 12] + body
    for i in chain[:-1]:
        struct.pack_into(">I", d, i, struct.unpack(">I", d[i : i + 4])[0] + len(new) - size)
    d[stts : stts + size] = new
    path.write_bytes(bytes(d))


def set_rotation(path, quarter_turns_ccw: int) -> None:
    """Give an OpenCV mp4 the display matrix a phone writes for a portrait video stored landscape (as
    ``ffmpeg -display_rotation 90`` does for 1, -90 for 3)."""
    d = bytearray(path.read_bytes())
    tkhd = _box_chain(d, ["moov", "trak", "tkhd"])[-1]
    assert d[tkhd + 8] == 0  # version 0: the matrix follows 36 bytes of times, ids and volume
    one, w = 65536, 1 << 30
    matrix = {1: (0, -one, 0, one, 0, 0, 0, 0, w), 3: (0, one, 0, -one, 0, 0, 0, 0, w)}[quarter_turns_ccw]
    struct.pack_into(">9i", d, tkhd + 8 + 4 + 20 + 8 + 8, *matrix)
    path.write_bytes(bytes(d))


# ---- variable frame rate -------------------------------------------------------------------------------------------
# frames 17-19 last two frame times (frames dropped), frames 30-35 half a frame time (a burst): the same total
# duration, and the first frames regularly spaced, so seeking verifies on them and goes wrong further on
VFR_DURATIONS = {17: 2, 18: 2, 19: 2, **dict.fromkeys(range(30, 36), 0.5)}


def write_vfr(path, durations: dict[int, float], n: int = 40):
    """An mp4 of ``n`` coded frames at 30 fps, then given the frame ``durations`` (see :func:`make_vfr`)."""
    hw = (48, 160)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (hw[1], hw[0]))
    for k in range(n):
        f = coded_frame(k, hw)
        f[BLOCK:] = (k * 37) % 256  # a flat grey that jumps every frame: keyframes all along, as in a shaky field shot
        w.write(f[..., ::-1])
    w.release()
    make_vfr(path, durations)
    return path


@pytest.fixture
def vfr_mp4(tmp_path):
    return write_vfr(tmp_path / "phone vfr.mp4", VFR_DURATIONS)


def test_vfr_video_random_access_returns_the_right_frames(vfr_mp4):
    """Seeking in a variable-frame-rate video landed on a neighbouring frame (FFmpeg seeks by time) while the
    reader believed it exact: frames 35-39 came back as 34-36."""
    with open_video(vfr_mp4) as r:
        assert len(r) == 40 and [decode_frame_code(f) for f in r] == list(range(40))
    with open_video(vfr_mp4) as r:
        r.probe_frames, r.forward_window = 16, 2  # verify on the regular first frames; every backward step seeks
        order = [*range(39, -1, -1), 3, 39, 21, 7, 30, 36, 18]
        got = [decode_frame_code(r[k]) for k in order]
        assert got == order
        assert r.seek_verified is True  # exact and still seeking, not decoding from the start


def test_vfr_video_irregular_from_the_start_still_seeks(tmp_path):
    """A burst of frames from the start, then slower ones: seeking by frame number failed the check on the first
    frames, so every backward jump decoded the video from its start (minutes per jump in a long phone video). It
    now seeks by frame time."""
    path = write_vfr(tmp_path / "dim light.MOV", {**dict.fromkeys(range(20), 0.5), **dict.fromkeys(range(20, 30), 2)})
    with open_video(path) as r:
        r.probe_frames, r.forward_window = 16, 2
        order = [*range(39, -1, -3), 5, 33, 12, 2]
        assert [decode_frame_code(r[k]) for k in order] == order
        assert r.seek_verified is True


def test_vfr_import_with_start_stores_the_asked_frames(tmp_project, vfr_mp4, monkeypatch):
    """``dvos add-video --start`` far into a VFR phone video stored the frames next to the asked ones."""
    monkeypatch.setattr(CV2VideoReader, "probe_frames", 16)
    monkeypatch.setattr(CV2VideoReader, "forward_window", 2)
    v = import_video(tmp_project, vfr_mp4, video_id="vfr", start=37)
    assert [decode_frame_code(f) for f in v.read_frames()] == [37, 38, 39]
    assert v.attrs["source_frames"] == {"start": 37, "stop": 40, "step": 1}


@pytest.mark.parametrize("turns", [1, 3])
def test_rotated_phone_video_comes_out_upright(tmp_path, turns):
    """A portrait phone video stored landscape with a rotation matrix: frames come out turned as players show them
    (OpenCV applies the matrix), size included, also when reached by seeking."""
    path = write_video(tmp_path / "portrait.MP4", 30)
    with open_video(path) as r:
        plain = r.read_range()
    set_rotation(path, turns)
    with open_video(path) as r:
        assert (r.height, r.width) == plain.shape[2:0:-1]
        assert r[0].shape == (r.height, r.width, 3)
        r.probe_frames, r.forward_window = 8, 2
        for k in (29, 3, 17, 0):
            assert np.array_equal(r[k], np.rot90(plain[k], turns))


# ---- phone photos: EXIF orientation, mixed sizes, formats dvos does not read ---------------------------------------
def _photo(path, a: np.ndarray, orientation: int, **save) -> None:
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, exif=exif, **save)


@pytest.mark.parametrize("suffix", ["jpg", "JPEG"])
def test_read_image_applies_exif_orientation(tmp_path, suffix):
    """Images were read with their pixels as stored: a portrait phone photo (landscape pixels + EXIF orientation 6)
    came in sideways, while photo viewers and annotation tools show it upright."""
    a = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for o in range(1, 9):
        path = tmp_path / f"o{o}.{suffix}"
        _photo(path, a, o, quality=100)
        upright = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        got = read_image(path)
        assert got.shape == upright.shape, o
        assert np.abs(got.astype(int) - upright).max() <= 2, o


def test_orientation_follows_the_content_not_the_extension(tmp_project, tmp_path):
    """Whether an image is a JPEG (whose EXIF orientation is applied) was told by its extension: a JPEG photo saved
    as .png came in sideways beside the same photo as .jpg (the folder was refused for its size), and a PNG saved as
    .jpg was refused as a JPEG cut short. Its first bytes decide now, for frames and mask files alike."""
    a = np.zeros((60, 90, 3), np.uint8)
    a[:30, :45] = (250, 20, 20)  # red in the stored top-left corner: top-right once turned 90 degrees clockwise
    upright = np.rot90(a, -1)
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "IMG_0.jpg", a, 6, format="JPEG", quality=100, subsampling=0)
    _photo(folder / "IMG_1.png", a, 6, format="JPEG", quality=100, subsampling=0)  # a JPEG named .png
    Image.fromarray(np.ascontiguousarray(upright)).save(folder / "IMG_2.jpg", format="PNG")  # a PNG named .jpg
    for f in sorted(folder.iterdir()):
        assert np.abs(read_image(f).astype(int) - upright).max() <= 8, f.name
    frames = import_video(tmp_project, folder).read_frames()
    assert frames.shape == (3, 90, 60, 3)
    assert np.abs(frames.astype(int) - upright).max() <= 8
    m = np.zeros((60, 90), np.uint8)
    m[:30, :45] = 255
    _photo(tmp_path / "mask.png", m, 6, format="JPEG", quality=100, subsampling=0)  # a JPEG mask file named .png
    assert np.array_equal(read_mask_file(tmp_path / "mask.png") > 127, np.rot90(m, -1) > 127)


def test_phone_photo_folder_imports_upright(tmp_project, tmp_path):
    folder = tmp_path / "plot 7 photos"
    folder.mkdir()
    for i in range(3):
        a = np.full((60, 90, 3), 40 * i, np.uint8)
        a[:15, :20] = (255, 0, 0)  # red in the stored top-left corner: top-right once turned 90 degrees clockwise
        _photo(folder / f"IMG_{i:04d}.JPG", a, 6, quality=95)
    v = import_video(tmp_project, folder)
    frames = v.read_frames()
    assert frames.shape == (3, 90, 60, 3)
    assert (frames[:, :15, -10:, 0] > 200).all() and (frames[:, :15, -10:, 1] < 60).all()


def test_jpeg_masks_turn_upright_with_their_photos(tmp_project, tmp_path):
    """A reference CSV's JPEG mask files kept their stored pixels while their JPEG frames were turned upright by
    the same EXIF tag: a mask of another shape was refused, a square one imported turned against its frame."""
    import pandas as pd

    from dvos_core.io import import_reference_csv

    a, m = np.full((40, 40, 3), 30, np.uint8), np.zeros((40, 40), np.uint8)
    a[:10, :12] = 250  # bright in the stored top-left corner, the head painted there
    m[:10, :12] = 255
    rows = []
    for i in range(2):
        _photo(tmp_path / f"IMG_{i}.jpg", a, 6, quality=100)
        _photo(tmp_path / f"IMG_{i}_mask.jpg", m, 6, quality=100)
        rows.append({"VID": "a", "FID": i, "Image": f"IMG_{i}.jpg", "Mask": f"IMG_{i}_mask.jpg", "Label": 1})
    pd.DataFrame(rows).to_csv(tmp_path / "data.csv", index=False)
    with pytest.warns(UserWarning, match="JPEG"):
        import_reference_csv(tmp_project, tmp_path / "data.csv")
    v = tmp_project.video("a")
    bright = v.read_frames()[0, ..., 0] > 128
    head = v.mask(0).astype(bool)
    assert bright[:12, -10:].all() and (head == bright).mean() > 0.98


def test_photo_folder_names_every_wrong_size_before_importing(tmp_path):
    """One landscape shot among portrait ones (same pixels stored, another EXIF orientation) and one of another
    size: named all at once when the folder is opened, not one by one partway through the import."""
    folder = tmp_path / "photos"
    folder.mkdir()
    a = np.zeros((60, 90, 3), np.uint8)
    for i in range(4):
        _photo(folder / f"IMG_{i}.jpg", a, 6 if i != 2 else 1)
    _photo(folder / "IMG_9.jpg", np.zeros((50, 70, 3), np.uint8), 6)
    with pytest.raises(ValueError) as e:
        open_video(folder)
    msg = str(e.value)
    assert "IMG_2.jpg (60, 90), IMG_9.jpg (70, 50) (2 images) differ in size" in msg
    assert "IMG_1.jpg" not in msg and "move such images out of the folder" in msg


def test_folder_of_heic_photos_says_to_convert(tmp_path):
    folder = tmp_path / "iphone"
    folder.mkdir()
    (folder / "IMG_0001.HEIC").write_bytes(b"\0" * 16)
    with pytest.raises(ValueError, match=r"holds \.HEIC files.*convert them to JPEG or PNG"):
        open_video(folder)


# ---- files OpenCV cannot open --------------------------------------------------------------------------------------
def test_unopenable_video_error_gives_the_reencode_command(tmp_path):
    bad = tmp_path / "GX010042 cut.MP4"
    bad.write_bytes(b"\0\0\0\x18ftypmp42" + b"garbage" * 50)
    with pytest.raises(ValueError) as e:
        open_video(bad)
    msg = str(e.value)
    assert str(bad) in msg and "cut off by a flat battery" in msg
    assert f'ffmpeg -i "{bad}"' in msg and f'"{tmp_path / "GX010042 cut_h264.mp4"}"' in msg
    empty = tmp_path / "empty.mov"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.mov: the file is empty \(0 bytes\)"):
        open_video(empty)
