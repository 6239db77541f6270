"""A copy of a project taken while a command writes it (``cp -r`` during ``dvos predict --replace``) must not pass
an earlier model's masks off as the new run's, and ``dvos info``/``dvos check`` say when a project holds the writer
record of a process that no longer writes it."""

import shutil

import numpy as np

from dvos_core.store import Project
from dvos_core.store.check import check_project


def _set(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("bikes", np.zeros((3, 8, 8, 3), np.uint8), split="train")
    v.predictions["img"].start({"kind": "image"}, "old")
    v.predictions["img"].set_many(range(3), np.ones((3, 8, 8), np.float32))  # the old model: every pixel a head
    return p, v


def test_a_set_started_over_keeps_no_chunk_of_the_earlier_model(tmp_path):
    p, v = _set(tmp_path)
    s = v.predictions["img"]
    s.start({"kind": "image"}, "new")  # --replace: another checkpoint
    folder = p.path / "videos" / "bikes" / "predictions" / "img"
    assert [f.name for f in (folder / "masks").iterdir()] == ["zarr.json"]
    assert [f.name for f in (folder / "probability").iterdir()] == ["zarr.json"]
    s.set(0, np.zeros((8, 8), np.float32))
    copy = tmp_path / "copy.dvos"
    shutil.copytree(p.path, copy)  # cp -r copies masks/ and probability/ first ...
    s.set_many([1, 2], np.zeros((2, 8, 8), np.float32))
    shutil.rmtree(copy / "videos/bikes/predictions/img/done")
    shutil.copytree(folder / "done", copy / "videos/bikes/predictions/img/done")  # ... and done/ last
    found = check_project(Project.open(copy, "r"), models=False)
    damaged = [f for f in found if f.kind == "damaged"]
    assert damaged and all("missing" in f.message for f in damaged), found  # not the old model's masks, unsaid
    assert any("frames 1-2" in f.message or "frames 1, 2" in f.message for f in damaged), damaged
    assert s.frames().tolist() == [0, 1, 2] and s.masks([0, 1, 2]).sum() == 0  # the original reads whole


def test_info_and_check_name_the_record_of_a_writer_that_no_longer_writes(tmp_path, capsys):
    import json
    import socket
    import subprocess
    import sys

    from other_writer import OtherWriter

    from dvos_core.cli import main
    from dvos_core.store.lock import HOLDER_NAME

    p, _ = _set(tmp_path)
    assert p.summary()["stale_writer"] is None and check_project(p, models=False) == []
    with OtherWriter(p.path):  # a live writer: being written, not a leftover
        assert p.summary()["stale_writer"] is None and p.summary()["writer"]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = {"pid": gone.pid, "host": socket.gethostname(), "command": "dvos predict p.dvos img --replace"}
    (p.path / HOLDER_NAME).write_text(json.dumps({**record, "since": "10:00"}))
    copy = tmp_path / "copy.dvos"
    shutil.copytree(p.path, copy)
    for where in (p.path, copy):  # killed mid-write, or copied while it wrote
        assert Project.open(where, "r").summary()["stale_writer"]["command"] == record["command"]
        (found,) = check_project(Project.open(where, "r"), models=False)
        assert found.kind == "unfinished" and found.where == "writer record"
        assert f"{where / HOLDER_NAME} says `dvos predict p.dvos img --replace`" in found.message
        assert "copy the original again while no dvos command writes it" in found.message
        assert "run that command again" in found.message
    assert main(["info", str(copy)]) == 0
    assert "warning: " + str(copy / HOLDER_NAME) in capsys.readouterr().out
    Project.open(copy).video("bikes").set_split("val")  # a write replaces the record, and removes it as it ends
    assert not (copy / HOLDER_NAME).exists() and Project.open(copy, "r").summary()["stale_writer"] is None
