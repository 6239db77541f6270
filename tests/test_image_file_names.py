"""File names that are not UTF-8 text (copied from an older Windows computer or a camera card) and full disks:
OpenCV crashed the process on such a name and wrote empty images to a full disk without a word."""

import os
import shutil

import cv2
import numpy as np
import pytest

from dvos_core.io import import_video
from dvos_core.io.image_files import decode_image, opencv_name, write_image
from dvos_core.io.masks import export_masks
from dvos_core.store.schema import StoreError

LATIN1 = os.fsdecode(b"vid\xe9o")  # 'vidéo' in Latin-1: not UTF-8, held by Python as a surrogate escape


def test_a_video_whose_name_is_not_utf8_is_refused_with_the_fix(tmp_project, video_avi, tmp_path):
    odd = tmp_path / f"{LATIN1}.avi"
    shutil.copy(video_avi, odd)
    with pytest.raises(ValueError, match=r"vid\\xe9o\.avi: the name holds bytes that are not UTF-8 text.*rename"):
        import_video(tmp_project, odd, "plot")
    assert tmp_project.video_ids() == []
    with pytest.raises(ValueError, match="not UTF-8 text"):
        opencv_name(tmp_path / LATIN1 / "out.mp4")  # an output video in such a folder too


def test_images_of_any_name_are_read_and_written(tmp_project, tmp_path):
    folder = tmp_path / LATIN1
    folder.mkdir()
    frames = np.random.default_rng(0).integers(0, 255, (3, 16, 20, 3), np.uint8)
    for t, f in enumerate(frames):
        write_image(folder / f"{LATIN1}_{t}.png", f[..., ::-1], "writing a test frame")
    assert np.array_equal(decode_image(folder / f"{LATIN1}_1.png", cv2.IMREAD_COLOR)[..., ::-1], frames[1])
    video = import_video(tmp_project, folder, "plot")  # a folder of frames
    assert np.array_equal(video.read_frames(), frames)
    mask = np.zeros((16, 20), np.uint8)
    mask[2:8, 3:9] = 1
    video.set_mask(1, mask, "manual")
    written = export_masks(tmp_project, "plot", tmp_path / LATIN1 / "masks")
    assert [p.name for p in written] == ["plot_000001.png"]
    assert np.array_equal(decode_image(written[0], cv2.IMREAD_GRAYSCALE) > 0, mask > 0)


def test_an_image_written_to_a_full_disk_fails_by_name_and_leaves_nothing(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    full = tmp_path / "mask.png"
    full.symlink_to("/dev/full")  # every write there fails with ENOSPC, as on a full disk
    with pytest.raises(StoreError, match=r"mask\.png: exporting a mask failed: .*disk is full"):
        write_image(full, np.zeros((8, 8), np.uint8), "exporting a mask")
    assert full.is_symlink() and os.path.exists("/dev/full")  # a link or a device is never removed


def test_the_list_of_exported_masks_leaves_no_temporary_file_on_a_full_disk(tmp_path):
    from dvos_core.io.masks import _write_listing

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    (tmp_path / "masks.csv").write_text("earlier list\n")
    (tmp_path / "masks.csv.tmp").symlink_to("/dev/full")  # its write fails as on a full disk
    with pytest.raises(StoreError, match=r"masks\.csv: writing the list of exported masks failed: .*disk is full"):
        _write_listing(tmp_path / "masks.csv", [["v", "1", "v_000001.png"]])
    assert (tmp_path / "masks.csv").read_text() == "earlier list\n"
    assert not (tmp_path / "masks.csv.tmp").is_symlink()  # the link is removed, /dev/full untouched
    assert os.path.exists("/dev/full")


def test_a_checkpoint_saved_to_a_full_disk_fails_by_name_and_keeps_the_earlier_one(tmp_path):
    """torch's own writer failed with '[enforce fail at inline_container.cc] unexpected pos', naming no file."""
    from dvos_core.model import build_model, read_checkpoint, save_checkpoint

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    best = tmp_path / "best.pt"
    save_checkpoint(best, build_model("tiny", "frame"), epoch=1)
    (tmp_path / f".best.pt.{os.getpid()}.tmp").symlink_to("/dev/full")  # the next save's staging file: disk full
    with pytest.raises(StoreError, match=r"best\.pt: saving the checkpoint failed: .*disk is full.*kept as it was"):
        save_checkpoint(best, build_model("tiny", "frame"), epoch=2)
    assert read_checkpoint(best)["info"]["epoch"] == 1
    assert not (tmp_path / f".best.pt.{os.getpid()}.tmp").is_symlink() and os.path.exists("/dev/full")


def test_an_image_that_cannot_be_opened_for_writing_is_left_as_it_was(tmp_path, monkeypatch):
    """A write-protected file of an earlier export was deleted by the clean-up of the failed write."""
    import dvos_core.io.image_files as image_files

    old = tmp_path / "v_000002.png"
    old.write_bytes(b"earlier export")

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(old))

    monkeypatch.setattr(image_files, "open", refuse, raising=False)
    with pytest.raises(StoreError, match=r"v_000002\.png: exporting a mask failed"):
        write_image(old, np.zeros((8, 8), np.uint8), "exporting a mask")
    assert old.read_bytes() == b"earlier export"


def test_an_empty_image_file_is_named_as_undecodable(tmp_path):
    (tmp_path / "f.png").write_bytes(b"")
    assert decode_image(tmp_path / "f.png", cv2.IMREAD_COLOR) is None
    from dvos_core.io.readers import read_image

    with pytest.raises(ValueError, match=r"f\.png: the file is empty \(0 bytes"):
        read_image(tmp_path / "f.png")


def test_python_in_an_ascii_locale_opens_utf8_names_and_writes_them_as_they_are(tmp_path, video_avi):
    """Python in the C locale holds every UTF-8 letter of a name as an escaped byte: `dvos add-video` refused
    `vidéo.avi` as 'not UTF-8 text' (it is), and messages showed `\\udcc3\\udca9` for 'é'."""
    import subprocess
    import sys

    shutil.copy(video_avi, tmp_path / "vidéo.avi")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    env.pop("PYTHONIOENCODING", None)

    def dvos(*args):
        return subprocess.run(
            [sys.executable, "-m", "dvos_core.cli", *args], cwd=tmp_path, env=env, capture_output=True
        )

    assert dvos("new", "été.dvos").returncode == 0
    added = dvos("add-video", "été.dvos", "vidéo.avi")
    assert added.returncode == 0, added.stderr.decode("utf-8", "replace")
    assert b"added vid_o:" in added.stdout
    missing = dvos("info", "été².dvos")
    assert missing.returncode == 2
    assert "/été².dvos: no dvos project here".encode() in missing.stderr  # the name as its bytes
