"""The disk-backed mask buffers of long videos (dvos_napari._layers._empty_buffer): their space is reserved up front,
so a temporary folder that fills up gives a clear error (or an in-memory buffer) instead of a bus error (SIGBUS)
that kills napari with the unsaved paint, and no temporary file is left behind."""

from __future__ import annotations

import errno
import os
import tempfile
import warnings

import numpy as np
import pytest

SHAPE = (6, 32, 48)
NBYTES = int(np.prod(SHAPE))


@pytest.fixture
def tmpdir_(tmp_path, monkeypatch):
    """A fresh temporary folder (TMPDIR) and mask buffers above 1000 bytes on disk."""
    from dvos_napari import _layers

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setattr(_layers, "MEMMAP_BYTES", 1000)
    return folder


def _no_room(monkeypatch, err=errno.ENOSPC):
    def fallocate(fd, offset, length):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "posix_fallocate", fallocate)


def test_a_disk_buffer_has_its_space_reserved_and_leaves_no_file(tmpdir_):
    from dvos_napari._layers import _empty_buffer

    buf = _empty_buffer(SHAPE)
    assert isinstance(buf, np.memmap) and buf.shape == SHAPE and not buf.any()
    if hasattr(os, "posix_fallocate"):  # the blocks are the file system's now: no write into the map can fail
        assert os.fstat(buf._dvos_tmpfile.fileno()).st_blocks * 512 >= NBYTES
    if os.name == "posix":  # unnamed: a napari killed meanwhile leaves nothing in the folder
        assert os.listdir(tmpdir_) == []
    buf[:] = 1
    assert int(buf.sum()) == NBYTES


def test_a_full_temporary_folder_is_a_clear_error_and_leaves_nothing(tmpdir_, monkeypatch):
    from dvos_napari import _layers

    _no_room(monkeypatch)
    monkeypatch.setattr(_layers, "_available_memory", lambda: 0)
    with pytest.raises(_layers.NoRoomForMasksError) as e:
        _layers._empty_buffer(SHAPE)
    text = str(e.value)
    assert str(tmpdir_) in text and "TMPDIR" in text and f"{NBYTES / 1e6:.1f} MB" in text
    assert "Free some space there" in text
    assert os.listdir(tmpdir_) == []


def test_no_room_on_disk_holds_the_masks_in_memory_when_they_fit(tmpdir_, monkeypatch):
    from dvos_napari import _layers

    _no_room(monkeypatch)
    monkeypatch.setattr(_layers, "_available_memory", lambda: 100 * NBYTES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        buf = _layers._empty_buffer(SHAPE)
    assert not isinstance(buf, np.memmap) and buf.shape == SHAPE and not buf.any()
    assert any(str(tmpdir_) in str(w.message) and "in memory" in str(w.message) for w in caught)
    assert os.listdir(tmpdir_) == []


@pytest.mark.parametrize("err", [errno.EOPNOTSUPP, errno.EINVAL])
def test_a_file_system_that_cannot_reserve_is_judged_by_its_free_space(tmpdir_, monkeypatch, err):
    import shutil
    from collections import namedtuple

    from dvos_napari import _layers

    _no_room(monkeypatch, err)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 0, 10**12))
    buf = _layers._empty_buffer(SHAPE)  # room: a sparse file
    assert isinstance(buf, np.memmap) and buf.shape == SHAPE
    buf[-1] = 1
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12, NBYTES // 2))
    monkeypatch.setattr(_layers, "_available_memory", lambda: 0)
    with pytest.raises(_layers.NoRoomForMasksError, match="TMPDIR"):
        _layers._empty_buffer(SHAPE)
    del buf
    assert os.listdir(tmpdir_) == []


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_no_room_for_a_videos_masks_is_a_notification_and_changes_no_layer(
    make_napari_viewer, qtbot, tmp_path, tmpdir_, monkeypatch
):
    import napari.utils.notifications as notifications
    from napari_helpers import dock, prediction_set, wait_loaded

    from dvos_core.store import Project
    from dvos_napari import _layers

    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("a", np.zeros((6, 32, 48, 3), np.uint8), split="train")
    b = p.add_video_array("b", np.zeros((6, 32, 48, 3), np.uint8), split="train")
    mask = np.zeros((32, 48), np.uint8)
    mask[2:9, 3:20] = 1
    b.set_mask(1, mask, "manual")
    prediction_set(b, "m1", np.zeros((6, 32, 48), np.uint8))
    viewer = make_napari_viewer()
    proj = dock(viewer, "Project")
    proj.state.open_project(p.path)
    proj.state.select_video("a")
    wait_loaded(qtbot, proj.state)
    viewer.layers["a masks"].data[2, 1:5, 1:5] = 1  # unsaved paint of a
    proj.state.mark_dirty("a", [2])
    monkeypatch.setattr(_layers, "_available_memory", lambda: 0)
    errors = []
    monkeypatch.setattr(notifications, "show_error", lambda text: errors.append(text))

    calls = []

    def fallocate(fd, offset, length):  # the n-th reservation (and any after it) finds the folder full
        calls.append(length)
        if len(calls) >= full_from:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", fallocate)
    full_from = 1  # no room even for b's masks: nothing changes, the step and a notification say why
    before = [(layer.name, dict(layer.metadata)) for layer in viewer.layers]
    assert proj.guard(proj.select_video, "b") is None
    assert "TMPDIR" in proj.messages.text() and str(tmpdir_) in proj.messages.text()
    assert errors and "TMPDIR" in errors[-1]
    assert [(layer.name, dict(layer.metadata)) for layer in viewer.layers] == before
    assert proj.state.video_id == "a" and int(viewer.layers["a masks"].data[2].sum()) == 16
    assert proj.state.dirty == {"a": {2}}

    calls.clear()
    errors.clear()
    full_from = 2  # room for b's masks, not for its predicted masks: b is shown with its masks, and told so
    proj.guard(proj.select_video, "b")
    wait_loaded(qtbot, proj.state)
    assert proj.state.video_id == "b"
    np.testing.assert_array_equal(viewer.layers["b masks"].data[1], mask)
    assert "b predicted" not in viewer.layers
    assert any("predicted masks of b" in e and "TMPDIR" in e for e in errors)
    assert int(viewer.layers["a masks"].data[2].sum()) == 16  # a's unsaved paint is still there
