"""A project folder that moves around: read-only copies, file systems without file locks, older and newer schemas."""

import errno
import json

import numpy as np
import pytest
import zarr
from old_stores import as_older_schema

from dvos_core.cli import main
from dvos_core.store import Project
from dvos_core.store.schema import StoreError


def _fake_lock(code):
    """A ``filelock.FileLock`` whose acquire fails as the OS does on a read-only disk, a locked-down folder..."""

    class FailingLock:
        def __init__(self, path, **kwargs):
            self.is_locked = False

        def acquire(self, timeout=None):
            raise OSError(code, "simulated")

        def release(self):
            pass

    return FailingLock


def _listing(path):
    """Every file and folder of the project but the (empty) lock file the lock library may create."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.name != ".dvos-writer.lock")


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP])
def test_no_file_locks_is_named_not_called_a_read_only_folder(tmp_path, monkeypatch, code):
    """NFS without its lock service: flock fails with ENOLCK. The folder is writable: saying it is not (and to
    open it read-only) sent users looking at permissions."""
    import fcntl

    p = Project.create(tmp_path / "share.dvos")
    before = _listing(p.path)
    real = fcntl.flock

    def flock(fd, op):
        if op & fcntl.LOCK_UN:
            return real(fd, op)
        raise OSError(code, "simulated")

    monkeypatch.setattr(fcntl, "flock", flock)
    with pytest.raises(StoreError) as e:
        p.add_video_array("v", np.zeros((2, 8, 8, 3), np.uint8))
    msg = str(e.value)
    assert str(p.path) in msg and "does not support file locks" in msg and "local disk" in msg
    assert "not writable" not in msg and "read-only" not in msg
    assert e.value.errno == code and _listing(p.path) == before  # nothing written


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.EROFS, "read-only file system"), (errno.EACCES, "no permission"), (errno.EPERM, "no permission")],
)
def test_read_only_project_says_reading_works_and_how_to_change_it(tmp_path, monkeypatch, capsys, code, words):
    """A write to a project on a read-only disk (or without permission): the message names the project and the fix
    (work on a writable copy), not an option that does not exist ("open it read-only"); nothing is written."""
    import filelock

    p = Project.create(tmp_path / "ro.dvos")
    v = p.add_video_array("v", np.zeros((2, 8, 8, 3), np.uint8), split="test")
    v.set_mask(0, np.ones((8, 8), np.uint8), "manual")
    v.predictions.set(0, np.ones((8, 8), np.float32))
    before = _listing(p.path)
    monkeypatch.setattr(filelock, "FileLock", _fake_lock(code))
    from dvos_core.store import lock

    monkeypatch.setattr(lock, "_LOCKS", {})
    assert main(["evaluate", str(p.path), "--name", "r", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert str(p.path) in err and words in err and "copy" in err and "Nothing was written" in err
    assert "open it read-only" not in err
    assert "dvos evaluate --no-save" in err  # which scores it: named (it listed only info, export-masks, napari)
    assert _listing(p.path) == before
    assert main(["info", str(p.path)]) == 0  # reading never takes the lock
    assert main(["evaluate", str(p.path), "--no-save", "--no-plots"]) == 0
    assert _listing(p.path) == before


def _schema_2_store(path):
    """A project in the schema 2 layout: one prediction set per video (pred_masks, pred_probability, pred_done) and
    the checkpoint that made it in the video's ``prediction`` attr."""
    p = Project.create(path)
    p.add_video_array("clip", np.zeros((3, 8, 8, 3), np.uint8), split="test")
    g = zarr.open_group(str(path / "videos" / "clip"), mode="r+")
    masks = np.zeros((3, 8, 8), np.uint8)
    masks[:, 2:5, 2:5] = 1
    for key, arr in (("pred_probability", masks.astype(np.float16)), ("pred_masks", masks)):
        g.create_array(key, shape=arr.shape, dtype=arr.dtype)[:] = arr
    g.create_array("pred_done", shape=(3,), dtype="uint8")[:] = 1
    g.attrs["prediction"] = {"checkpoint": "/elsewhere/old.dvos/models/ctx/best.pt", "kind": "context"}
    as_older_schema(path, 2)
    return masks


def test_migrate_2_to_3_killed_after_the_move_keeps_the_sets_settings(tmp_path, monkeypatch):
    """A migration killed after the arrays were moved but before the set's settings were written: the rerun
    skipped the video (nothing left to move), leaving a set that does not say which checkpoint made it."""
    from pathlib import Path

    path = tmp_path / "old.dvos"
    masks = _schema_2_store(path)
    real = Path.rename

    class Killed(BaseException):
        pass

    def rename(self, target):
        out = real(self, target)
        if self.name == "pred_done":
            raise Killed
        return out

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(Killed):
        Project.migrate(path)
    monkeypatch.setattr(Path, "rename", real)
    assert json.loads((path / "zarr.json").read_text())["attributes"]["schema_version"] == 2
    assert Project.migrate(path) == [2, 3, 4]
    preds = Project.open(path).video("clip").predictions
    assert preds.models() == ["ctx"]
    attrs = preds["ctx"].attrs
    assert attrs["kind"] == "context" and attrs["checkpoint"].endswith("models/ctx/best.pt")
    assert np.array_equal(preds["ctx"].masks(range(3)), masks)
    assert Project.migrate(path) == []  # idempotent


def test_migrate_repairs_a_set_moved_without_its_settings(tmp_path):
    """A store left by a dvos that wrote the set's settings after moving its arrays and was killed in between:
    everything is moved and ``schema_version`` still says 2. Migrating again gives the set its settings."""
    path = tmp_path / "left.dvos"
    _schema_2_store(path)
    g = zarr.open_group(str(path / "videos" / "clip"), mode="r+")
    g.require_group("predictions").require_group("ctx")
    folder = path / "videos" / "clip"
    for old, new in (("pred_masks", "masks"), ("pred_probability", "probability"), ("pred_done", "done")):
        (folder / old).rename(folder / "predictions" / "ctx" / new)
    assert Project.migrate(path) == [2, 3, 4]
    attrs = Project.open(path).video("clip").predictions["ctx"].attrs
    assert attrs["kind"] == "context" and attrs["migrated_from_schema"] == 2


def test_evaluate_on_a_project_it_cannot_write_fails_before_scoring(tmp_path, monkeypatch):
    """`dvos evaluate` (and a comparison) writes its report at the end: where the project cannot be written it used
    to score every frame first (minutes on a big project) and then fail; it fails before the first frame now."""
    import filelock

    from dvos_core.evaluate import compare_models, evaluate
    from dvos_core.evaluate import summary as summary_module
    from dvos_core.store import StoreError, lock

    p = Project.create(tmp_path / "ro.dvos")
    v = p.add_video_array("v", np.zeros((2, 8, 8, 3), np.uint8), split="test")
    v.set_mask(0, np.ones((8, 8), np.uint8), "manual")
    v.predictions.set(0, np.ones((8, 8), np.float32))
    scored = []
    real = summary_module.frame_scores
    monkeypatch.setattr(summary_module, "frame_scores", lambda *a, **k: scored.append(1) or real(*a, **k))
    monkeypatch.setattr(filelock, "FileLock", _fake_lock(errno.EROFS))
    monkeypatch.setattr(lock, "_LOCKS", {})
    with pytest.raises(StoreError, match="read-only file system"):
        evaluate(p, split="test", plots=False)
    assert scored == []
    with pytest.raises(StoreError, match="read-only file system"):
        compare_models(p, split="test")
    assert len(evaluate(p, split="test", save=False).frames) == 1  # scoring alone needs no lock
