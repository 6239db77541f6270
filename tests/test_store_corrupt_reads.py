"""Damaged store files are named: a chunk that cannot be decoded and a corrupt ``zarr.json`` of a video, background
clip or synthetic set give a ``DamagedStoreError`` (one line) naming the file and the fix, and the project's other
videos stay usable."""

import numpy as np
import pytest

from dvos_core.store import DamagedStoreError, Project, StoreError

HW = (16, 16)


def _frames(n, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, *HW, 3), dtype=np.uint8)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    for name, seed in (("good", 0), ("other", 1)):
        v = p.add_video_array(name, _frames(5, seed))
        for t in range(5):
            v.set_mask(t, np.eye(16, dtype=np.uint8))
    v.predictions["m"].start({"kind": "image"}, "f")
    v.predictions["m"].set_many(range(5), np.full((5, *HW), 0.8, np.float32))
    return p


def _truncate(path, n=10):
    data = path.read_bytes()
    assert len(data) > n
    path.write_bytes(data[:n])


def _one_line(e):
    msg = str(e.value)
    assert isinstance(e.value, StoreError) and "\n" not in msg
    return msg


def test_a_damaged_frame_chunk_names_the_frame_and_the_file(project):
    chunk = project.path / "videos" / "good" / "frames" / "c" / "3" / "0" / "0" / "0"
    _truncate(chunk)
    good = project.video("good")
    for call in (lambda: good.read_frames(), lambda: good.read_frames(2, 5), lambda: good.frame(3)):
        with pytest.raises(DamagedStoreError) as e:
            call()
        msg = _one_line(e)
        assert f"{project.path}: video 'good': the image of frame 3 cannot be read" in msg
        assert f"the file {chunk} is damaged" in msg
        assert "Restore that file from a backup" in msg and f"dvos delete {project.path} video good --yes" in msg
    assert good.read_frames(0, 3).shape == (3, *HW, 3) and good.frame(4).shape == (*HW, 3)  # the rest reads
    assert project.video("other").read_frames().shape == (5, *HW, 3)


def test_damaged_mask_provenance_and_prediction_chunks_are_named(project):
    vdir = project.path / "videos" / "other"
    _truncate(vdir / "masks" / "c" / "1" / "0" / "0")
    other = project.video("other")
    with pytest.raises(DamagedStoreError, match=r"the mask of frame 1 cannot be read.*masks/c/1/0/0 is damaged"):
        other.read_masks()
    with pytest.raises(DamagedStoreError, match=r"the mask of frame 1 cannot be read"):
        other.mask(1)
    assert other.mask(0) is not None
    _truncate(vdir / "predictions" / "m" / "probability" / "c" / "2" / "0" / "0")
    with pytest.raises(DamagedStoreError) as e:
        other.predictions["m"].get(2)
    msg = _one_line(e)
    assert "the predicted probability by 'm' of frame 2 cannot be read" in msg
    assert f"dvos predict {project.path} m --videos other --no-resume" in msg
    _truncate(vdir / "provenance" / "c" / "0")
    with pytest.raises(DamagedStoreError, match=r"mask provenance of frames 0-4 cannot be read.*provenance/c/0 is"):
        other.provenance_counts()


def test_the_command_line_prints_one_line_naming_the_file(project, tmp_path, capsys):
    from dvos_core.cli import main

    chunk = project.path / "videos" / "good" / "frames" / "c" / "3" / "0" / "0" / "0"
    _truncate(chunk)
    assert main(["count-heads", str(project.path), "good"]) == 2
    err = capsys.readouterr().err
    assert str(chunk) in err and "unexpected error type" not in err and "Traceback" not in err


def test_a_corrupt_video_metadata_file_is_named_and_the_other_videos_still_work(project, capsys):
    from dvos_core.cli import main

    meta = project.path / "videos" / "good" / "zarr.json"
    meta.write_text('{"broken')
    p = Project.open(project.path)
    assert p.video_ids() == ["good", "other"]
    with pytest.raises(DamagedStoreError) as e:
        p.video("good")
    msg = _one_line(e)
    assert msg.startswith(f"{meta}: unreadable metadata of video 'good'")
    assert "restore the file from a backup" in msg and f"dvos delete {p.path} video good --yes" in msg
    assert p.video("other").read_frames().shape == (5, *HW, 3)
    s = p.summary()
    rows = {v["id"]: v for v in s["videos"]}
    assert rows["other"]["frames"] == 5 and rows["good"]["split"] == "unreadable"
    assert rows["good"]["unreadable"] == msg and s["unreadable"] == [msg]
    assert main(["info", str(p.path)]) == 0
    assert f"unreadable: {msg}" in capsys.readouterr().out  # dvos info names the file and the fix
    assert main(["count-heads", str(p.path), "other"]) == 0
    capsys.readouterr()
    clip = p.path.parent / "new.tif"  # adding another video still works beside the damaged one
    import tifffile

    tifffile.imwrite(clip, _frames(3))
    assert main(["add-video", str(p.path), str(clip)]) == 0 and p.video("new").n_frames == 3
    assert main(["add-video", str(p.path), str(clip), "--id", "good"]) == 2  # that id: the damage is named
    assert "unreadable metadata of video 'good'" in capsys.readouterr().err
    # creating a video under that id names the file too; deleting it, then adding it again, works
    with pytest.raises(DamagedStoreError, match="unreadable metadata of video 'good'"):
        p.add_video_array("good", _frames(2))
    p.delete_video("good")
    assert p.add_video_array("good", _frames(2)).n_frames == 2


def test_a_corrupt_array_background_or_synthetic_metadata_file_is_named(project):
    meta = project.path / "videos" / "good" / "masks" / "zarr.json"
    meta.write_text("{")
    with pytest.raises(DamagedStoreError, match=r"masks/zarr.json: unreadable metadata of the 'masks' array"):
        project.video("good").read_masks()
    bg = project.create_background("bg", *HW)
    bg.append_frames(iter(_frames(2)))
    project.create_synthetic("syn", 1, 2, *HW)
    (project.path / "backgrounds" / "bg" / "zarr.json").write_text('{"broken')
    (project.path / "synthetic" / "syn" / "zarr.json").write_text("[")
    p = Project.open(project.path)
    with pytest.raises(DamagedStoreError, match="unreadable metadata of background clip 'bg'"):
        p.background("bg")
    with pytest.raises(DamagedStoreError, match="unreadable metadata of synthetic set 'syn'"):
        p.synthetic("syn")
    s = p.summary()
    assert len(s["unreadable"]) == 2 and s["synthetic"]["syn"]["unreadable"] and s["backgrounds"] == {}
    assert [v["id"] for v in s["videos"]] == ["good", "other"]
