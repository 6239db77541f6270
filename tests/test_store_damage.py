"""A damaged project store (deleted, edited or replaced files, as disks, sync tools and people leave them) gives a
``DamagedStoreError`` naming the file and the fix, never a raw Zarr/json error and never a silent wrong answer
(zeros for a deleted chunk, fewer frames, frames of another size)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dvos_core.store import DamagedStoreError, Project, StoreError

HW = (16, 16)


def _frames(n, seed=0):
    return np.random.default_rng(seed).integers(1, 255, (n, *HW, 3), dtype=np.uint8)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    for name, seed in (("v", 0), ("other", 1)):
        v = p.add_video_array(name, _frames(5, seed))
        v.set_mask(1, np.zeros(HW, np.uint8))  # an empty painted mask: a chunk of zeros, still a file
        v.set_mask(2, np.eye(16, dtype=np.uint8))
    s = p.video("v").predictions["m"]
    s.start({"kind": "image"}, "f")
    s.set_many(range(5), np.full((5, *HW), 0.8, np.float32))
    return p


def _edit(path, fn):
    meta = json.loads(path.read_text())
    fn(meta)
    path.write_text(json.dumps(meta))


def _msg(e):
    msg = str(e.value)
    assert isinstance(e.value, StoreError) and "\n" not in msg
    return msg


def test_a_deleted_frame_chunk_is_named_not_read_as_a_black_frame(project):
    chunk = project.path / "videos/v/frames/c/3/0/0/0"
    chunk.unlink()
    v = project.video("v")
    with pytest.raises(DamagedStoreError) as e:
        v.read_frames()
    assert f"{chunk} is missing" in _msg(e) and "frame 3" in _msg(e)
    with pytest.raises(DamagedStoreError):
        v.frame(3)
    assert v.frame(2).any()  # the other frames still read
    assert project.video("other").read_frames().shape == (5, *HW, 3)


def test_a_deleted_mask_chunk_is_named_not_read_as_an_empty_mask(project):
    v = project.video("v")
    assert v.mask(1) is not None and not v.mask(1).any()  # an empty painted mask has its file
    chunk = project.path / "videos/v/masks/c/2/0/0"
    chunk.unlink()
    with pytest.raises(DamagedStoreError, match="the mask of frame 2 cannot be read") as e:
        v.mask(2)
    assert f"{chunk} is missing" in _msg(e)
    with pytest.raises(DamagedStoreError):
        v.read_masks()
    assert v.read_masks(0, 2).shape == (2, *HW)  # frames without the missing chunk still read


def test_a_deleted_provenance_chunk_is_named_not_read_as_no_masks(project):
    (project.path / "videos/v/provenance/c/0").unlink()
    with pytest.raises(DamagedStoreError, match="provenance/c/0 is missing"):
        project.video("v").provenance_counts()
    s = project.summary()  # dvos info still lists the video, with the message
    assert [r["split"] for r in s["videos"] if r["id"] == "v"] == ["unreadable"]
    assert any("provenance/c/0 is missing" in m for m in s["unreadable"])


def test_a_video_without_masks_has_its_provenance_file(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("bare", _frames(3))
    (p.path / "videos/bare/provenance/c/0").unlink()
    with pytest.raises(DamagedStoreError, match="missing"):
        _ = p.video("bare").provenance


def test_a_deleted_quality_chunk_is_named_not_read_as_scores_unknown(project):
    """Pseudo-labels scored 0.05 with their quality chunk deleted read as NaN (unknown), which the trainer's
    ``pseudo_quality_min`` keeps: the file is named instead, by reads, `dvos check` and training's filter."""
    from dvos_core.data.clips import split_samples
    from dvos_core.store.check import check_project

    v = project.video("v")
    for t in (3, 4):
        v.set_mask(t, np.eye(16, dtype=np.uint8), "pseudo", quality=0.05)
    chunk = project.path / "videos/v/quality/c/0"
    chunk.unlink()
    with pytest.raises(DamagedStoreError, match="the quality score of frames 0-4 cannot be read") as e:
        _ = project.video("v").quality
    assert f"{chunk} is missing" in _msg(e)
    assert f"dvos pseudo-label {project.path} MODEL --videos v --overwrite" in _msg(e)
    found = check_project(Project.open(project.path, mode="r"), models=False)
    assert [(f.kind, f.where) for f in found] == [("damaged", "video v, quality scores")]
    assert str(chunk) in found[0].message
    with pytest.raises(DamagedStoreError, match="quality/c/0 is missing"):
        split_samples(project, 0, 1, "image", synthetic_sets=[], pseudo_quality_min=0.5, val_fraction=0)
    assert np.isnan(project.video("other").quality).all()  # the other video's scores still read


def test_a_score_is_not_written_into_a_deleted_quality_chunk(project):
    """One score written into a deleted quality chunk made the file again with every other frame's score unknown:
    the damage no longer read as damage, and the lost low scores passed the trainer's filter. The write is refused
    (nothing written, the mask neither); relabelling with overwrite makes the chunk again and scores every label."""
    v = project.video("v")
    for t in (3, 4):
        v.set_mask(t, np.eye(16, dtype=np.uint8), "pseudo", quality=0.05)
    chunk = project.path / "videos/v/quality/c/0"
    chunk.unlink()
    with pytest.raises(DamagedStoreError, match="quality/c/0 is missing"):
        v.set_quality(3, 0.9)
    with pytest.raises(DamagedStoreError, match="quality/c/0 is missing"):
        v.set_mask(0, np.ones(HW, np.uint8), "pseudo", quality=0.9)
    assert not chunk.exists() and v.mask(0) is None
    assert v.reset_missing_quality() == [(0, 4)] and chunk.exists()
    assert np.isnan(v.quality).all() and v.reset_missing_quality() == []
    v.set_quality(3, 0.9)
    assert v.quality[3] == pytest.approx(0.9)


def test_a_mask_is_not_cleared_into_a_deleted_provenance_chunk(project):
    """Clearing one frame's mask wrote a new provenance chunk of zeros: every other frame's mask of that chunk read
    as no mask from then on, and the damage was gone from sight."""
    chunk = project.path / "videos/v/provenance/c/0"
    chunk.unlink()
    v = project.video("v")
    with pytest.raises(DamagedStoreError, match="provenance/c/0 is missing"):
        v.clear_mask(2)
    assert not chunk.exists()


def test_a_video_never_scored_has_its_quality_file(tmp_path):
    """Every committed frame's quality row is written (NaN, unknown), like its provenance row: a missing quality
    chunk is damage even in a video nothing was pseudo-labelled in (a score written later goes into that file)."""
    from dvos_core.store.arrays import EVERY_ROW

    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("bare", _frames(3))
    assert v.group["quality"].attrs.get(EVERY_ROW) is True
    assert np.isnan(v.quality).all() and v.quality.shape == (3,)
    (p.path / "videos/bare/quality/c/0").unlink()
    with pytest.raises(DamagedStoreError, match="quality/c/0 is missing"):
        _ = p.video("bare").quality


def test_a_quality_array_of_an_earlier_dvos_reads_a_missing_chunk_as_unknown(project):
    """A video made before every quality row was written (its quality array not marked ``dvos_every_row_written``)
    has no quality chunk where nothing was scored: that still reads as unknown, and `dvos check` finds nothing."""
    from dvos_core.store.arrays import EVERY_ROW
    from dvos_core.store.check import check_project

    meta = project.path / "videos/v/quality/zarr.json"
    _edit(meta, lambda m: m["attributes"].pop(EVERY_ROW))
    (project.path / "videos/v/quality/c/0").unlink()
    v = Project.open(project.path).video("v")
    assert np.isnan(v.quality).all() and v.quality.shape == (5,)
    assert check_project(Project.open(project.path, mode="r"), models=False) == []
    v.set_mask(4, np.eye(16, dtype=np.uint8), "pseudo", quality=0.25)  # and it is still written as before
    assert v.quality[4] == 0.25 and np.isnan(v.quality[:4]).all()


def test_deleted_prediction_chunks_are_named(project):
    s = project.video("v").predictions["m"]
    (project.path / "videos/v/predictions/m/masks/c/3/0/0").unlink()
    with pytest.raises(DamagedStoreError, match="predicted mask by 'm' of frame 3 .* is missing"):
        s.masks(s.frames())
    with pytest.raises(DamagedStoreError):
        s.read("masks", 3)
    (project.path / "videos/v/predictions/m/done/c/0").unlink()
    with pytest.raises(DamagedStoreError, match="prediction flag by 'm'.*done/c/0 is missing") as e:
        s.frames()
    assert f"dvos delete {project.path} predictions m --videos v --yes" in _msg(e)  # predicting reads the flags
    project.delete_predictions("m", ["v"])
    assert project.video("v").predictions.models() == []


def test_a_damaged_mask_is_replaced_by_writing_that_mask_again(project):
    chunk = project.path / "videos/v/masks/c/2/0/0"
    chunk.write_bytes(b"\0" * 12)
    v = project.video("v")
    with pytest.raises(DamagedStoreError, match="dvos import-masks .* --overwrite") as e:
        v.mask(2)
    assert str(chunk) in _msg(e)
    assert v.set_mask(2, np.eye(16, dtype=np.uint8), overwrite=True)
    assert (v.mask(2) == np.eye(16)).all()


def test_a_missing_array_metadata_file_is_named(project):
    (project.path / "videos/v/masks/zarr.json").unlink()
    with pytest.raises(DamagedStoreError, match=r"masks/zarr.json: the metadata file of the 'masks' array .* missing"):
        project.video("v").mask(2)
    (project.path / "videos/v/provenance/zarr.json").unlink()
    s = project.summary()
    assert any("provenance/zarr.json" in m for m in s["unreadable"])


@pytest.mark.parametrize(
    "key, change, says",
    [
        ("frames", lambda m: m.update(shape=[3, *m["shape"][1:]]), "holds only 3 rows"),
        ("frames", lambda m: m.update(shape=[m["shape"][0], 8, 8, 3]), r"\(8, 8, 3\) per frame"),
        ("masks", lambda m: m.update(data_type="uint16"), "recorded as uint16"),
        ("provenance", lambda m: m.update(shape=[2]), "holds only 2 rows"),
    ],
)
def test_an_edited_array_shape_or_dtype_is_named_not_read_wrongly(project, key, change, says):
    meta = project.path / "videos/v" / key / "zarr.json"
    _edit(meta, change)
    v = project.video("v")
    with pytest.raises(DamagedStoreError, match=says) as e:
        v.read_frames() if key == "frames" else v.mask(2) if key == "masks" else v.provenance
    assert str(meta) in _msg(e)


@pytest.mark.parametrize("value", [None, "5", -1])
def test_a_missing_or_invalid_frame_count_is_named_not_read_as_zero_frames(project, value):
    def change(m):
        if value is None:
            m["attributes"].pop("committed_frames")
        else:
            m["attributes"]["committed_frames"] = value

    _edit(project.path / "videos/v/zarr.json", change)
    with pytest.raises(DamagedStoreError, match=r"no valid frame count .*frames array holds 5"):
        len(project.video("v"))
    assert any("committed_frames" in m for m in project.summary()["unreadable"])


def test_tags_that_are_not_a_dict_are_named_and_info_still_works(project):
    _edit(project.path / "videos/v/zarr.json", lambda m: m["attributes"].update(tags=["a"]))
    with pytest.raises(DamagedStoreError, match="tags of video 'v'"):
        _ = project.video("v").tags
    assert len(project.summary()["videos"]) == 2


def test_a_video_whose_own_metadata_file_is_gone_is_listed_and_named(project):
    (project.path / "videos/v/zarr.json").unlink()
    assert "v" in project.video_ids()
    with pytest.raises(DamagedStoreError, match=r"videos/v/zarr.json: the metadata file of video 'v' is missing"):
        project.video("v")
    assert any("videos/v/zarr.json" in m for m in project.summary()["unreadable"])
    project.delete("video", "v")  # the fix the message names works
    assert project.video_ids() == ["other"]


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_damaged_top_level_group_file_is_named_and_info_lists_it(project, damage):
    meta = project.path / "videos/zarr.json"
    meta.unlink() if damage == "delete" else meta.write_text(meta.read_text()[:20])
    with pytest.raises(DamagedStoreError, match=r"videos/zarr.json"):
        project.video_ids()
    s = project.summary()
    assert s["videos"] == [] and any("videos/zarr.json" in m for m in s["unreadable"])
    meta.write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))  # the fix it names
    assert project.video_ids() == ["other", "v"]


def test_damaged_prediction_set_metadata_is_named_and_can_be_deleted(project):
    meta = project.path / "videos/v/predictions/m/zarr.json"
    meta.write_text(meta.read_text()[:30])
    v = project.video("v")
    with pytest.raises(DamagedStoreError, match="predictions/m/zarr.json: unreadable metadata"):
        v.predictions["m"].frames()
    assert v.predictions.models() == [] and "predictions/m/zarr.json" in v.predictions.damaged()["m"]
    assert any("predictions/m/zarr.json" in m for m in project.summary()["unreadable"])
    assert project.delete_predictions("m") == ["v"]  # the fix it names
    assert project.video("v").predictions.models() == []


def test_damaged_prediction_array_metadata_is_named(project):
    meta = project.path / "videos/v/predictions/m/masks/zarr.json"
    meta.write_text(meta.read_text()[:30])
    with pytest.raises(DamagedStoreError, match="dvos delete .* predictions m --videos v --yes"):
        project.video("v").predictions["m"].frames()


def _bank(project):
    project.objects.add([(np.full((4, 4, 4), 200, np.uint8), {"kind": "head", "video": "v", "frame": 2})] * 3)
    return project.objects


@pytest.mark.parametrize("how", ["clear", "rebuild"])
def test_a_bank_with_a_damaged_chunk_is_refilled_by_the_repairs_named(project, how):
    """`dvos check` names a damaged chunk of the object bank with the fix "empty the bank (objects.clear()) and cut
    the objects again", and `extract-objects --replace` replaces the bank: both failed on the damaged chunk
    (the next write started inside it, so Zarr read it to write around), leaving an empty bank or none."""
    from dvos_core.store.check import check_project

    bank = _bank(project)
    for name in ("pixels", "records"):
        (project.path / f"objects/{name}/c/0").write_bytes(b"\0" * 40)
    with pytest.raises(DamagedStoreError):
        bank.load()
    crop = np.arange(64, dtype=np.uint8).reshape(4, 4, 4)
    new = [(crop, {"kind": "head", "video": "v", "frame": 1})] * 2
    if how == "clear":
        bank.clear()
        bank.add(new)
    else:
        with bank.rebuild() as fresh:
            fresh.append(new)
            fresh.commit()
    bank = project.objects
    assert [r["frame"] for _, r in bank.load()] == [1, 1] and all((c == crop).all() for c, _ in bank.load())
    assert not check_project(project)


def test_damaged_object_table_is_named(project):
    _bank(project)
    chunk = project.path / "objects/records/c/0"
    chunk.write_bytes(b"\0" * 40)
    with pytest.raises(DamagedStoreError, match="records/c/0 damaged"):
        project.objects.table()
    chunk.unlink()
    with pytest.raises(DamagedStoreError, match="records/c/0 missing"):
        project.objects.table()


def test_a_damaged_object_index_falls_back_to_the_table(project):
    bank = _bank(project)
    want = bank.get(1)
    (project.path / "objects/index/c/0/0").unlink()  # read as fill values, the index found no object 1
    bank = project.objects
    assert (bank.get(1) == want).all()
    assert bank.frames_with("head") == {("v", 2)}


def test_an_object_bank_without_n_bytes_is_not_overwritten(project):
    bank = _bank(project)
    crop = bank.get(0).copy()
    _edit(project.path / "objects/zarr.json", lambda m: m["attributes"].pop("n_bytes"))
    with pytest.raises(DamagedStoreError, match="n_bytes"):
        project.objects.add([(np.zeros((4, 4, 4), np.uint8), {"kind": "fake"})])
    _edit(project.path / "objects/zarr.json", lambda m: m["attributes"].update(n_bytes=3 * 64))
    assert (project.objects.get(0) == crop).all()  # the pixels were never written over


def test_damaged_synthetic_clips_are_named(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    s = p.create_synthetic("s", 2, 3, *HW)
    for i in range(2):
        s.write_clip(i, _frames(3, i), np.zeros((3, *HW), np.uint8))  # empty masks: files all the same
    (p.path / "synthetic/s/masks/c/1/2/0/0").unlink()
    with pytest.raises(DamagedStoreError, match=r"masks of clip 1 cannot be read: .*masks/c/1/2/0/0 missing"):
        p.synthetic("s").read_clip(1)
    assert p.synthetic("s").read_clip(0)[0].shape == (3, *HW, 3)
    _edit(p.path / "synthetic/s/zarr.json", lambda m: m["attributes"].pop("n_clips"))
    assert any("n_clips" in m for m in p.summary()["unreadable"])


def test_dvos_info_names_the_damaged_top_level_file(project):
    (project.path / "objects/zarr.json").write_text("{")
    r = subprocess.run(
        [sys.executable, "-m", "dvos_core.cli", "info", str(project.path)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert f"unreadable: {project.path}/objects/zarr.json" in r.stdout
    assert "Traceback" not in r.stderr


def test_a_project_without_its_root_metadata_file_is_named_as_damaged(project):
    (project.path / "zarr.json").unlink()
    with pytest.raises(DamagedStoreError, match=r"zarr.json is missing .* Restore that file from a backup"):
        Project.open(project.path, mode="r")


def test_a_synthetic_clip_number_must_be_a_whole_number_of_the_set(tmp_path):
    """``read_clip(True)`` read clip 1, ``read_clip(-1)`` the last clip and ``write_clip(-1, ...)`` overwrote it,
    ``read_clip(2)`` of a 2-clip set and a float failed inside Zarr: each is refused by name, nothing written."""
    p = Project.create(tmp_path / "p.dvos")
    s = p.create_synthetic("s", 2, 3, *HW)
    for i in range(2):
        s.write_clip(i, _frames(3, i), np.zeros((3, *HW), np.uint8))
    for bad in (True, 1.0, "1"):
        with pytest.raises(TypeError, match=r"clip index must be a whole number"):
            s.read_clip(bad)
    for bad in (-1, 2):
        with pytest.raises(IndexError, match=rf"synthetic set 's' has clips 0-1; there is no clip {bad}"):
            s.read_clip(bad)
    with pytest.raises(IndexError, match="there is no clip -1"):
        s.write_clip(-1, _frames(3, 7), np.ones((3, *HW), np.uint8))
    assert (s.read_clip(np.int64(1))[0] == _frames(3, 1)).all() and not s.read_clip(1)[1].any()
