"""All-or-nothing creation under a full disk (simulated, and a real small tmpfs where mounting is allowed) and under
kill -9: errors name the file and the step, the store is left exactly as before (or with a leftover that is
recognised and replaced), and nothing half-made looks finished."""

import errno
import os
import shutil
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest
from conftest import store_digest

from dvos_core.store import Project, StoreError, StoreWriteError


def _frames(n, hw=(16, 20)):
    rng = np.random.default_rng(n)
    return rng.integers(0, 255, (n, *hw, 3), dtype=np.uint8)


@pytest.fixture
def disk_budget(monkeypatch):
    """set(n, delay=0): every store write after n more bytes fails with ENOSPC, as a full disk does (None: no
    limit); writes that fit take ``delay`` seconds (slow disk: they are still running when another one fails)."""
    import threading
    import time

    import zarr.storage._local as local

    real_put = local._put
    state = {"left": None, "delay": 0.0}
    mutex = threading.Lock()  # zarr writes chunks from several threads

    def put(path, value, exclusive=False):
        size = len(value.as_buffer_like())
        with mutex:
            fits = state["left"] is None or size <= state["left"]
            if state["left"] is not None and fits:
                state["left"] -= size
        if not fits:
            raise OSError(errno.ENOSPC, "No space left on device")
        time.sleep(state["delay"])
        return real_put(path, value, exclusive=exclusive)

    monkeypatch.setattr(local, "_put", put)
    return lambda n, delay=0.0: state.update(left=n, delay=delay)


@pytest.mark.parametrize("budget", [0, 1500, 6000])
def test_import_on_a_full_disk_names_file_and_step_and_changes_nothing(tmp_project, disk_budget, video_avi, budget):
    from dvos_core.io import import_video

    tmp_project.add_video_array("keep", _frames(2))
    before = store_digest(tmp_project.path)
    disk_budget(budget)
    with pytest.raises(
        StoreWriteError,
        match=r"test.dvos/videos/field_plot: (creating video|writing frames).* failed: "
        r"the disk is full.*Free some disk space",
    ) as e:
        import_video(tmp_project, video_avi)
    assert e.value.errno == errno.ENOSPC and isinstance(e.value, OSError)
    disk_budget(None)
    assert store_digest(tmp_project.path) == before  # byte for byte, no leftover
    assert tmp_project.video_ids() == ["keep"] and tmp_project.summary()["videos"][0]["frames"] == 2
    assert len(import_video(tmp_project, video_avi)) == 40  # and the same import works once there is room


@pytest.mark.parametrize(
    "what, run",
    [
        ("video", lambda p: p.add_video_array("new", _frames(6))),
        ("background", lambda p: p.create_background("bg", 16, 20)),
        ("synthetic", lambda p: p.create_synthetic("set", 4, 3, 16, 20, config={})),
        ("objects", lambda p: p.objects.add([(np.full((5, 5, 4), 7, np.uint8), {"kind": "head"})] * 3)),
        ("mask", lambda p: p.video("keep").set_mask(1, np.ones((16, 20), np.uint8))),
        ("split", lambda p: p.video("keep").set_split("val")),
    ],
)
def test_every_store_write_on_a_full_disk_leaves_the_store_unchanged(tmp_project, disk_budget, what, run):
    tmp_project.add_video_array("keep", _frames(2))
    before = store_digest(tmp_project.path)
    disk_budget(0)
    with pytest.raises(StoreWriteError, match="test.dvos/.* failed: the disk is full"):
        run(tmp_project)
    disk_budget(None)
    assert store_digest(tmp_project.path) == before, what
    again = Project.open(tmp_project.path)
    assert again.video_ids() == ["keep"] and again.synthetic_ids() == [] and again.background_ids() == []
    assert len(again.objects) == 0 and again.video("keep").mask(1) is None


def test_writes_still_running_when_one_fails_land_before_the_clean_up(tmp_project, disk_budget):
    """Zarr writes a batch's chunks concurrently: when one hits the full disk the others are still running. The
    clean-up must wait for them, or they recreate the deleted video's folders and chunks afterwards."""
    import time

    before = store_digest(tmp_project.path)
    frames = np.random.default_rng(0).integers(0, 255, (8, 64, 64, 3), dtype=np.uint8)  # one 8-frame batch
    disk_budget(40_000, delay=0.3)  # a few chunks fit (slowly), the rest fail at once
    with pytest.raises(StoreWriteError, match="videos/v: writing frames 0-7 failed: the disk is full"):
        tmp_project.add_video_array("v", frames)
    time.sleep(0.6)  # give any straggler time to land
    disk_budget(None)
    assert store_digest(tmp_project.path) == before


def test_new_project_on_a_full_disk_leaves_nothing(tmp_path, disk_budget):
    disk_budget(0)
    with pytest.raises(StoreWriteError, match="new.dvos: creating the project failed: the disk is full"):
        Project.create(tmp_path / "new.dvos")
    assert list(tmp_path.iterdir()) == []


def test_a_synthetic_clip_on_a_full_disk_says_to_run_it_again_once(tmp_project, disk_budget):
    s = tmp_project.create_synthetic("set", 2, 3, 16, 20, config={})
    disk_budget(0)
    with pytest.raises(StoreWriteError) as e:
        s.write_clip(0, _frames(3), np.zeros((3, 16, 20), np.uint8))
    text = str(e.value)
    assert text.endswith("Clips already done are kept; run it again to resume. Free some disk space first.")
    assert text.count("run it again") == 1


def _mount_tmpfs(path, size="3m") -> bool:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


def test_real_full_tmpfs(tmp_path, video_avi):
    """A real full disk: a 3 MB tmpfs filled by an import that does not fit (skipped where mounting is not allowed)."""
    from dvos_core.io import import_video

    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt):
        pytest.skip("mounting a tmpfs is not allowed here")
    try:
        p = Project.create(mnt / "full.dvos")
        import_video(p, video_avi, video_id="fits")
        before = store_digest(p.path)
        big = np.random.default_rng(0).integers(0, 255, (12, 256, 256, 3), dtype=np.uint8)  # incompressible
        with pytest.raises(StoreWriteError, match="full.dvos/videos/big: .*failed: the disk is full"):
            p.add_video_array("big", big)
        assert store_digest(p.path) == before
        assert Project.open(p.path).summary()["videos"][0]["id"] == "fits"
        p.add_video_array("small", big[:1, :32, :32])  # the space was given back
        assert Project.open(p.path).video_ids() == ["fits", "small"]
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


# ---- kill -9 in the middle of a creation -----------------------------------------------------------------------------
DIE_IN_ARRAY = textwrap.dedent("""
    import os, sys
    import numpy as np
    from dvos_core.store import Project, arrays

    real = arrays.create

    def dying(group, name, *a, **k):  # dies (like kill -9) when the named array is about to be created
        if name == sys.argv[2]:
            os._exit(9)
        return real(group, name, *a, **k)

    arrays.create = dying
    p = Project.open(sys.argv[1])
    exec(sys.argv[3])
""")


def _die(project, array, code):
    r = subprocess.run([sys.executable, "-c", DIE_IN_ARRAY, str(project.path), array, code], capture_output=True)
    assert r.returncode == 9, r.stderr.decode()


def test_video_killed_while_created_is_a_marked_leftover_that_is_replaced(tmp_project, video_avi, capsys):
    from dvos_core.cli import main
    from dvos_core.io import import_video

    _die(tmp_project, "provenance", "p.add_video_array('plot', np.zeros((3, 8, 8, 3), np.uint8))")
    v = tmp_project.video("plot")
    assert not v.import_complete  # the half-made group does not look finished
    assert tmp_project.videos() == [] and len(tmp_project.videos(include_incomplete=True)) == 1
    assert main(["info", str(tmp_project.path)]) == 0
    assert "interrupted import" in capsys.readouterr().out
    assert len(import_video(tmp_project, video_avi, video_id="plot")) == 40  # replaced, no "already in"
    assert tmp_project.video("plot").import_complete


def test_synthetic_set_killed_while_created_can_be_deleted_or_made_again(tmp_project, capsys):
    from dvos_core.cli import main

    _die(tmp_project, "done", "p.create_synthetic('set', 2, 3, 16, 16, config={'a': 1})")
    s = tmp_project.synthetic("set")
    assert s.half_created and s.done().size == 0  # readers (training) see no clip, and do not fail
    assert main(["info", str(tmp_project.path)]) == 0
    assert "interrupted while being created" in capsys.readouterr().out
    again = tmp_project.create_synthetic("set", 2, 3, 16, 16, config={"a": 1})
    assert not again.half_created and len(again.done()) == 0
    _die(tmp_project, "masks", "p.create_synthetic('other', 2, 3, 16, 16)")
    assert main(["delete", str(tmp_project.path), "synthetic", "other", "--yes"]) == 0
    assert tmp_project.synthetic_ids() == ["set"]


def test_old_style_half_created_group_is_not_complete(tmp_project, capsys):
    """A group without attributes, as the store before this fix left it when killed in Video.create."""
    import zarr

    zarr.open_group(str(tmp_project.path / "videos"), mode="r+").create_group("ghost")
    v = tmp_project.video("ghost")
    assert not v.import_complete
    from dvos_core.cli import main

    assert main(["info", str(tmp_project.path)]) == 0  # no "error: height"
    tmp_project.add_video_array("ghost", _frames(2))
    assert tmp_project.video("ghost").import_complete and len(tmp_project.video("ghost")) == 2


def test_failed_training_leaves_no_model(tmp_project, capsys):
    from dvos_core.cli import main
    from dvos_core.train import TrainConfig, train

    with pytest.raises(ValueError, match="no training samples"):  # fails after creating models/bad: removed again
        train(tmp_project, TrainConfig(phase="image", preset="tiny", size=64, device="cpu"), "bad")
    assert not (tmp_project.path / "models" / "bad").exists() and tmp_project.model_names() == []
    (tmp_project.path / "models" / "bad").mkdir()  # an empty folder (left by an older dvos) is no model either
    assert main(["info", str(tmp_project.path)]) == 0 and "models: none" in capsys.readouterr().out
    (tmp_project.path / "models" / "bad" / "last.pt").write_bytes(b"x")  # a committed checkpoint makes a model
    assert tmp_project.model_names() == ["bad"]
    assert main(["delete", str(tmp_project.path), "model", "bad", "--yes"]) == 0
    assert not (tmp_project.path / "models" / "bad").exists()


def test_overwrite_replaces_only_dvos_projects(tmp_path):
    import zarr

    other = tmp_path / "other.zarr"
    zarr.open_group(str(other), mode="w").attrs["format"] = "someone else's"
    (other / "data.txt").write_text("precious")
    with pytest.raises(StoreError, match="not a dvos project.*refusing to delete it"):
        Project.create(other, overwrite=True)
    assert (other / "data.txt").read_text() == "precious"
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "zarr.json").write_text("{}")
    with pytest.raises(StoreError, match="refusing to delete it"):
        Project.create(folder, overwrite=True)
    assert (folder / "zarr.json").exists()
    p = Project.create(tmp_path / "mine.dvos")
    p.add_video_array("v", _frames(1))
    q = Project.create(p.path, overwrite=True)
    assert q.video_ids() == [] and sorted(x.name for x in tmp_path.iterdir()) == ["mine.dvos", "other.zarr", "photos"]


def test_delete_is_all_or_nothing_and_leftovers_are_swept(tmp_project):
    tmp_project.add_video_array("v", _frames(2))
    trash = tmp_project.path / ".trash" / f"videos-{uuid.uuid4().hex}"  # as a delete killed half-way leaves it
    shutil.copytree(tmp_project.path / "videos" / "v", trash)
    tmp_project.delete("video", "v")
    assert tmp_project.video_ids() == [] and not (tmp_project.path / ".trash").exists()
    with pytest.raises(KeyError, match="no video 'v'"):
        tmp_project.delete("video", "v")


KILL_MID_CLIP = textwrap.dedent("""
    import os, sys
    from zarr.core.attributes import Attributes
    from dvos_core.store import Project
    from dvos_core.extract import extract_backgrounds

    set_item = Attributes.__setitem__

    def dying(self, k, v):  # killed (like kill -9) when the first clip has 8 of its 12 frames
        if k == "committed_frames" and v >= 8:
            set_item(self, k, v)
            os._exit(9)
        set_item(self, k, v)

    Attributes.__setitem__ = dying
    extract_backgrounds(Project.open(sys.argv[1]), "field", clip_length=12)
""")


def test_background_clip_killed_midway_is_not_used_and_is_replaced(tmp_project, capsys):
    from dvos_core.cli import main
    from dvos_core.extract import extract_backgrounds

    tmp_project.add_video_array("field", _frames(24, (32, 32)))
    r = subprocess.run([sys.executable, "-c", KILL_MID_CLIP, str(tmp_project.path)], capture_output=True, text=True)
    assert r.returncode == 9, r.stderr
    leftover = tmp_project.background_ids(include_incomplete=True)
    assert leftover == ["field_bg_000"] and len(tmp_project.background(leftover[0])) == 8
    assert tmp_project.background_ids() == []  # synthesis never sees the short clip
    assert main(["info", str(tmp_project.path)]) == 0
    assert "interrupted background clips (not used): field_bg_000" in capsys.readouterr().out
    clips = extract_backgrounds(tmp_project, "field", clip_length=12)
    assert [c.name for c in clips] == ["field_bg_000", "field_bg_001"] and all(len(c) == 12 for c in clips)
    assert tmp_project.background_ids() == tmp_project.background_ids(include_incomplete=True)
