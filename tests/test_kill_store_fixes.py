"""Store fixes found by killing writers mid-write: a video delete that leaves its objects behind, an interrupted
prediction set that looks finished, a `dvos new --overwrite` that leaves no project, training reading deleted or
corrupt chunks as black frames / empty masks, and 16-bit binary masks."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dvos_core.data import ClipDataset, ClipIndex
from dvos_core.data.toy import make_toy_project
from dvos_core.store import Project
from dvos_core.store.arrays import as_uint8_mask
from dvos_core.store.schema import DamagedStoreError, StoreError

torch.set_num_threads(1)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def dvos(*args):
    return subprocess.run(
        [sys.executable, "-m", "dvos_core.cli", *map(str, args)], env=ENV, capture_output=True, text=True
    )


def _project_with_objects(tmp_path) -> Project:
    """Two videos, objects cut from each (records written straight into the bank: no extraction run)."""
    p = Project.create(tmp_path / "p.dvos")
    rng = np.random.default_rng(0)
    for vid in ("v1", "v2"):
        p.add_video_array(vid, rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8))
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[1:5, 1:5] = 200
    items = [(rgba, {"kind": k, "video": v, "frame": 0}) for v in ("v1", "v2") for k in ("head", "fake", "fake")]
    p.objects.add(items)
    return p


# ---- 1. deleting a video: objects first, then the folder; leftovers of a killed delete removed by a rerun ------------
def test_delete_video_error_after_the_bank_commit_changes_nothing(tmp_path, monkeypatch):
    """The objects are dropped before the folder moves; an error moving the folder restores the bank's commit."""
    p = _project_with_objects(tmp_path)
    order = []
    real_rename = os.rename

    def rename(a, b):
        order.append(("rename", Path(a).name, int((Project.open(p.path, "r").objects.table().video == "v2").sum())))
        raise PermissionError(13, "Permission denied", str(a))

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(StoreError, match="Nothing was deleted"):
        p.delete("video", "v2")
    monkeypatch.setattr(os, "rename", real_rename)
    assert order == [("rename", "v2", 0)]  # the objects were gone when the folder was moved
    q = Project.open(p.path, "r")
    assert q.video_ids() == ["v1", "v2"] and (q.objects.table().video == "v2").sum() == 3  # all put back
    assert q.objects.count("fake") == 4


def test_rerun_of_a_delete_removes_the_objects_of_a_video_already_gone(tmp_path):
    """A delete killed after the video's folder went (in a dvos before this fix): the objects stayed for good, `dvos
    info` did not say so and running the delete again said 'no video'."""
    p = _project_with_objects(tmp_path)
    shutil.move(str(p.path / "videos" / "v2"), str(tmp_path / "gone"))
    info = dvos("info", p.path)
    assert info.returncode == 0 and f"dvos delete {p.path} video v2 --yes" in info.stdout, info.stdout
    assert Project.open(p.path, "r").orphaned_objects() == {"v2": {"head": 1, "fake": 2}}
    dry = dvos("delete", p.path, "video", "v2")
    assert dry.returncode == 1 and "1 heads and 2 fakes" in dry.stdout, dry.stdout
    r = dvos("delete", p.path, "video", "v2", "--yes")
    assert r.returncode == 0 and "what was left of video 'v2'" in r.stdout, r.stderr
    q = Project.open(p.path, "r")
    assert (q.objects.table().video == "v2").sum() == 0 and q.objects.count("head") == 1
    assert q.orphaned_objects() == {} and "v2" not in dvos("info", p.path).stdout.split("objects:")[1]
    assert dvos("delete", p.path, "video", "v2", "--yes").returncode != 0  # nothing left: 'no video v2'


# ---- 2. an interrupted prediction set is shown as such, with the command that finishes it ---------------------------
def test_info_shows_an_unfinished_prediction_set_and_how_to_finish_it(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("v", np.zeros((8, 32, 32, 3), np.uint8))
    full, part = v.predictions["full"], v.predictions["part"]
    for s in (full, part):
        s.start({"checkpoint": str(p.path / "models" / "image" / "best.pt"), "passes": 1}, "f")
    full.set_many(range(8), np.zeros((8, 32, 32)))
    part.set_many(range(3), np.zeros((3, 32, 32)))  # a run killed after 3 frames
    row = p.summary()["videos"][0]
    assert list(row["predictions_unfinished"]) == ["part"]
    unfinished = row["predictions_unfinished"]["part"]
    assert {k: unfinished[k] for k in ("done", "frames", "checkpoint")} == {
        "done": 3,
        "frames": 8,
        "checkpoint": part.attrs["checkpoint"],
    }
    out = dvos("info", p.path).stdout
    assert "part: only 3/8 frames predicted (unfinished" in out and "full:" not in out, out
    assert f"`dvos predict {p.path} image --videos v --name part`" in out, out


def test_the_command_that_finishes_a_set_repeats_the_settings_it_was_made_with(tmp_path):
    """Without them the command predicted the set again with other settings (its finished frames replaced): the
    paper's model's image model, a threshold, two passes and independent reference masks are all part of a set."""
    from dvos_core.store.notes import unfinished_note

    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("v", np.zeros((8, 32, 32, 3), np.uint8))
    models = p.path / "models"
    made = {
        "ctx": {"checkpoint": str(models / "ctx" / "best.pt"), "passes": 2, "reference_masks": "independent"},
        "paper": {"checkpoint": str(models / "dvos" / "best.pt"), "image_checkpoint": str(models / "img" / "best.pt")},
        "plain": {"checkpoint": str(models / "plain" / "best.pt"), "threshold": 0.4, "reference_masks": "chained"},
        "zoomed": {"checkpoint": str(models / "plain" / "best.pt"), "scales": "own", "zooms": [1.0, 0.4]},
    }
    for name, info in made.items():
        v.predictions[name].start({"passes": 1, "threshold": 0.5, **info}, "f")
        v.predictions[name].set_many(range(2), np.zeros((2, 32, 32)), done_value=info.get("passes", 1))
    row = p.summary()["videos"][0]["predictions_unfinished"]
    notes = {name: unfinished_note(p.path, "v", name, row[name]) for name in made}
    assert notes["ctx"].endswith(
        f"`dvos predict {p.path} ctx --videos v --passes 2 --reference-masks independent` (it resumes)"
    )
    assert f"`dvos predict {p.path} dvos --videos v --name paper --image-model img`" in notes["paper"]
    assert f"`dvos predict {p.path} plain --videos v --threshold 0.4`" in notes["plain"]
    assert f"`dvos predict {p.path} plain --videos v --name zoomed --scales own`" in notes["zoomed"]


# ---- 3. `dvos new --overwrite` killed between its two renames ------------------------------------------------------
def _killed_overwrite(tmp_path) -> tuple[Path, Path, Path]:
    """The folders a `dvos new P --overwrite` killed between its renames leaves: no P, the old project hidden."""
    path = tmp_path / "p.dvos"
    p = Project.create(path)
    p.add_video_array("v", np.zeros((2, 32, 32, 3), np.uint8))
    old = tmp_path / ".p.dvos.replaced-0123456789ab"
    os.rename(path, old)
    build = tmp_path / ".p.dvos.creating-0123456789ab"
    Project.create(build)
    return path, old, build


def test_interrupted_overwrite_names_the_hidden_old_project_and_the_mv(tmp_path):
    path, old, build = _killed_overwrite(tmp_path)
    with pytest.raises(StoreError) as e:
        Project.open(path)
    msg = str(e.value)
    assert f"mv {old} {path}" in msg and str(build) in msg
    with pytest.raises(StoreError, match="not created"):  # the only copy of the project is never deleted unasked
        Project.create(path)
    assert old.is_dir()
    os.rename(old, path)  # the fix the message names
    assert Project.open(path).video_ids() == ["v"]
    assert str(build) in dvos("info", path).stdout  # the leftover build is named beside a project


def test_create_with_overwrite_after_an_interrupted_one_sweeps_the_leftovers(tmp_path):
    path, old, build = _killed_overwrite(tmp_path)
    Project.create(path, overwrite=True)
    assert not old.exists() and not build.exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["p.dvos"]
    assert Project.open(path).video_ids() == []


# ---- 4. training reads name a deleted or damaged chunk -------------------------------------------------------------
@pytest.fixture
def toy(tmp_path):
    return make_toy_project(tmp_path / "toy.dvos", n_clips=2, n_frames=6, size=64, n_videos=1, video_frames=10)


def _chunk(arr, *coords) -> Path:
    key = arr.metadata.encode_chunk_key(tuple(coords) + (0,) * (arr.ndim - len(coords)))
    return Path(str(arr.store.root)) / arr.path / key


def _first_item(project, phase):
    split = "val" if phase == "real" and project.video("video0").split == "val" else "train"
    index = ClipIndex.from_project(project, 2, 1, phase, split=split, val_fraction=0.0)
    ds = ClipDataset(project.path, index, 32, train=False)
    return ds, index.samples[-1]


@pytest.mark.parametrize("phase", ["real", "synthetic"])
def test_training_names_a_deleted_frame_chunk_instead_of_reading_black(toy, phase):
    ds, s = _first_item(toy, phase)
    src = toy.video(s.source) if s.kind == "video" else toy.synthetic(s.source)
    arr = src.group["frames"]
    f = _chunk(arr, s.t) if s.kind == "video" else _chunk(arr, s.clip, s.t)
    f.unlink()
    with pytest.raises(DamagedStoreError) as e:
        ds.read_clip(s)
    assert str(f) in str(e.value) and "missing" in str(e.value)


@pytest.mark.parametrize("phase", ["real", "synthetic"])
def test_training_names_a_deleted_mask_chunk_instead_of_an_empty_mask(toy, phase):
    ds, s = _first_item(toy, phase)
    src = toy.video(s.source) if s.kind == "video" else toy.synthetic(s.source)
    arr = src.group["masks"]
    f = _chunk(arr, s.t) if s.kind == "video" else _chunk(arr, s.clip, s.t)
    f.unlink()
    with pytest.raises(DamagedStoreError, match="missing") as e:
        ds.query_has_foreground(s)
    assert str(f) in str(e.value)
    with pytest.raises(DamagedStoreError):
        ds.read_clip(s)


def test_training_names_a_corrupt_chunk_instead_of_a_blosc_error(toy):
    ds, s = _first_item(toy, "synthetic")
    arr = toy.synthetic(s.source).group["frames"]
    f = _chunk(arr, s.clip, s.t)
    f.write_bytes(b"\x02\x01garbage" * 8)
    with pytest.raises(DamagedStoreError) as e:
        ds.read_clip(s)
    assert str(f) in str(e.value) and "damaged" in str(e.value) and f"clip {s.clip}" in str(e.value)
    assert f"dvos delete {toy.path} synthetic {s.source} --yes" in str(e.value)


# ---- 5. 16-bit binary masks --------------------------------------------------------------------------------------
def test_a_16_bit_binary_mask_is_accepted():
    m = np.zeros((4, 5), np.uint16)
    m[1:3, 2:4] = 65535
    out = as_uint8_mask(m, (4, 5))
    assert out.dtype == np.uint8 and out.sum() == 4 and out[1, 2] == 1
    with pytest.raises(ValueError, match="allow_labels"):
        as_uint8_mask(np.array([[0, 3], [65535, 0]], np.uint16), (2, 2))


def test_the_finishing_command_names_the_model_however_its_path_was_recorded(tmp_path, monkeypatch):
    """A checkpoint is recorded as typed: relative to the folder the command ran in, or (in a copy of the project)
    the original's. The command that finishes the set names this project's model either way, and keeps a path
    that is another project's model of the same name (other bytes)."""
    import shutil

    from dvos_core.store.notes import unfinished_note

    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", np.zeros((8, 32, 32, 3), np.uint8))
    (p.model_dir("image", create=True) / "best.pt").write_bytes(b"weights")
    shutil.copytree(p.path, tmp_path / "copy.dvos")
    other = Project.create(tmp_path / "other.dvos")
    (other.model_dir("image", create=True) / "best.pt").write_bytes(b"other weights")
    copy = Project.open(tmp_path / "copy.dvos")
    monkeypatch.chdir(tmp_path / "other.dvos")  # run from elsewhere: the relative paths are not found from here
    cases = {
        "p.dvos/models/image/best.pt": (p, "image"),  # typed relative, not found from here
        str(p.path / "models" / "image" / "best.pt"): (copy, "image"),  # the original's, same bytes
        str(other.path / "models" / "image" / "best.pt"): (copy, str(other.path / "models" / "image" / "best.pt")),
    }
    for recorded, (project, expected) in cases.items():
        note = unfinished_note(project.path, "v", "image", {"done": 2, "frames": 8, "checkpoint": recorded})
        assert f"`dvos predict {project.path} {expected} --videos v" in note, (recorded, note)
