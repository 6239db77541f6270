"""Store behaviour: safe commits survive a hard kill, schema checks, protected human masks, validation, read-only."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dvos_core.store import Project, SchemaVersionError, StoreError


def _frames(n, value_from=0, hw=(8, 10)):
    return np.stack([np.full(hw + (3,), value_from + k, np.uint8) for k in range(n)])


KILL_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    from zarr.core.attributes import Attributes
    from dvos_core.store import Project

    set_item = Attributes.__setitem__

    def dying_set_item(self, k, v):  # dies (like kill -9) right before committing frame 4
        if k == "committed_frames" and v > 2:
            os._exit(9)
        set_item(self, k, v)

    Attributes.__setitem__ = dying_set_item
    v = Project.open(sys.argv[1]).video("v")
    v.append_frames([np.full((8, 10, 3), 100 + k, np.uint8) for k in range(6)], batch=2)
""")


def test_kill_between_write_and_commit_leaves_tail_ignored_then_overwritten(tmp_path):
    p = Project.create(tmp_path / "k.dvos")
    p.create_video("v", 8, 10)
    r = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(p.path)], capture_output=True, text=True)
    assert r.returncode == 9, r.stderr
    v = Project.open(p.path).video("v")
    assert len(v) == 2  # only the committed batch counts
    assert v.frames.shape[0] >= 4  # the uncommitted batch is physically on disk ...
    assert v.frames[3][0, 0, 0] == 103
    assert v.read_frames().shape[0] == 2  # ... but readers ignore it
    with pytest.raises(IndexError):
        v.frame(3)
    assert (v.provenance == 0).all()
    v.append_frames(_frames(3, 200))  # the next append overwrites the tail
    assert len(v) == 5
    assert [int(f[0, 0, 0]) for f in v.read_frames()] == [100, 101, 200, 201, 202]


def test_uncommitted_mask_is_not_a_mask(tmp_project):
    v = tmp_project.add_video_array("v", _frames(3))
    v.group["masks"][1] = np.ones((8, 10), np.uint8)  # data written, provenance (the commit) not
    assert v.mask(1) is None and v.labelled_frames().size == 0
    assert v.set_mask(1, np.zeros((8, 10), np.uint8), "pseudo")
    assert v.mask(1).sum() == 0


def test_uncommitted_objects_are_ignored(tmp_project):
    bank = tmp_project.objects
    rgba = np.full((3, 4, 4), 7, np.uint8)
    bank.add([(rgba, {"kind": "head"})])
    pix = bank.group["pixels"]
    pix.resize((pix.shape[0] + 100,))
    pix[48:148] = 99  # pixels of an object whose table row was never written
    assert len(bank) == 1 and np.array_equal(bank.get(0), rgba)
    bank.add([(np.full((2, 2, 4), 5, np.uint8), {"kind": "fake", "source": 0})])
    assert np.array_equal(bank.get(1), np.full((2, 2, 4), 5, np.uint8))


def test_schema_version_mismatch(tmp_path):
    p = Project.create(tmp_path / "s.dvos")
    meta = p.path / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["schema_version"] = 99
    meta.write_text(json.dumps(doc))
    with pytest.raises(SchemaVersionError, match="s.dvos.*schema 99"):
        Project.open(p.path)


def test_human_masks_protected(tmp_project):
    v = tmp_project.add_video_array("v", _frames(4))
    human = np.zeros((8, 10), np.uint8)
    human[2:4, 2:6] = 1
    assert v.set_mask(0, human, "manual") and v.set_mask(1, human, "corrected")
    for prov in ("pseudo", "predicted", "synthetic"):
        assert not v.set_mask(0, np.ones((8, 10)), prov)
        assert not v.set_mask(1, np.ones((8, 10)), prov)
    assert np.array_equal(v.mask(0), human) and v.provenance.tolist()[:2] == [1, 4]
    v.predictions.set(0, np.ones((8, 10), np.float32))  # predictions live beside the labels
    assert np.array_equal(v.mask(0), human) and v.predictions.get(0)[0].all()
    assert v.set_mask(0, np.ones((8, 10)), "corrected")  # a person may replace a person's mask
    assert v.set_mask(1, np.zeros((8, 10)), "pseudo", overwrite=True)


def test_test_video_ground_truth_is_not_replaced_by_a_correction(tmp_project):
    v = tmp_project.add_video_array("held_out", _frames(3), split="test")
    truth = np.zeros((8, 10), np.uint8)
    truth[1:5, 2:7] = 1
    assert v.set_mask(0, truth, "manual")
    with pytest.raises(StoreError, match="held_out frame 0.*ground truth"):
        v.set_mask(0, np.ones((8, 10)), "corrected", overwrite=True)
    assert np.array_equal(v.mask(0), truth) and v.provenance.tolist() == [1, 0, 0]
    for prov in ("corrected", "pseudo", "predicted"):  # a test video takes manual ground truth only
        with pytest.raises(StoreError, match=f"held_out frame 1.*test video.*manual masks only.*'{prov}'"):
            v.set_mask(1, truth, prov)
    assert v.provenance.tolist() == [1, 0, 0]
    v.set_split("train")
    assert v.set_mask(0, np.ones((8, 10)), "corrected")  # on a training video the person's edit wins


def test_wrong_shapes_and_dtypes(tmp_project):
    v = tmp_project.add_video_array("v", _frames(2))
    with pytest.raises(ValueError, match="uint8 RGB.*to_rgb8"):
        v.append_frames([np.zeros((8, 10, 3), np.float32)])
    with pytest.raises(ValueError, match="differs from the sequence"):
        v.append_frames([np.zeros((9, 10, 3), np.uint8)])
    with pytest.raises(ValueError, match="shape \\(8, 9\\)"):
        v.set_mask(0, np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match="values"):
        v.set_mask(0, np.full((8, 10), 3, np.uint8))
    with pytest.raises(ValueError, match="RGBA"):
        tmp_project.objects.add([(np.zeros((3, 3, 3), np.uint8), {"kind": "head"})])
    with pytest.raises(ValueError, match="non-empty"):
        tmp_project.add_video_array("w", np.zeros((0, 8, 10, 3), np.uint8))
    assert len(v) == 2 and tmp_project.video_ids() == ["v"]


def test_read_only_open(tmp_path):
    p = Project.create(tmp_path / "r.dvos")
    p.add_video_array("v", _frames(2))
    ro = Project.open(p.path, mode="r")
    v = ro.video("v")
    assert np.array_equal(v.read_frames(), _frames(2))
    with pytest.raises(ValueError, match="read-only"):
        v.set_mask(0, np.ones((8, 10), np.uint8))
    with pytest.raises(ValueError, match="read-only"):
        ro.create_video("w", 8, 10)
    again = Project.open(p.path)
    assert again.video_ids() == ["v"] and again.video("v").mask(0) is None


def test_open_refuses_other_zarr_stores_and_damaged_metadata(tmp_path):
    import zarr

    from dvos_core.store import StoreError

    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(StoreError, match="plain.zarr.*not a dvos project"):
        Project.open(tmp_path / "plain.zarr")
    p = Project.create(tmp_path / "d.dvos")
    meta = p.path / "zarr.json"
    meta.write_text(meta.read_text()[:20])  # e.g. a disk that filled up mid-write
    with pytest.raises(StoreError, match="d.dvos.*zarr.json.*unreadable"):
        Project.open(p.path)
    with pytest.raises(StoreError, match="unreadable.*refusing to delete it: choose another path"):
        Project.create(p.path)  # and it is not silently replaced (nor overwrite=True suggested, which is refused)
