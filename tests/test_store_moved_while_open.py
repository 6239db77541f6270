"""A project moved or deleted while a handle has it open, and a writer record whose PID now belongs to another
process: found by a tester running two things on one project at once."""

import json
import os
import socket

import numpy as np
import pytest

from dvos_core.store import NotInStoreError, Project, arrays
from dvos_core.store.lock import HOLDER_NAME, writer_lock


def test_a_project_moved_while_open_is_said_to_be_gone_and_no_folder_is_made_again(tmp_path):
    """Writes said the video "was deleted", reads called the project damaged ("write {...} into zarr.json"), and the
    writer lock made the old folder again, holding only its lock file."""
    p = Project.create(tmp_path / "a.dvos")
    for name in ("v1", "v2"):
        p.add_video_array(name, np.zeros((3, 8, 8, 3), np.uint8))
    p = Project.open(tmp_path / "a.dvos")
    v = p.video("v1")
    frames = v.group["frames"]  # as the trainer holds it: its check of the chunk files said "delete the video"
    os.rename(tmp_path / "a.dvos", tmp_path / "b.dvos")
    gone = r"a\.dvos: the project is no longer there \(moved, renamed or deleted while this was running\)"
    check = lambda: arrays.require_chunks(frames, [0, 1], "v1", "frames", "restore or delete the video")  # noqa: E731
    for call in (lambda: v.set_mask(1, np.ones((8, 8), np.uint8)), lambda: p.video("v2"), p.summary, check):
        with pytest.raises(NotInStoreError, match=gone):
            call()
    assert not (tmp_path / "a.dvos").exists()
    assert Project.open(tmp_path / "b.dvos").video("v1").provenance.tolist() == [0, 0, 0]


def test_a_writer_record_of_a_reused_pid_whose_lock_is_free_is_not_writing(tmp_path):
    """A killed writer's record stays until the next write; once its PID belonged to another live process the
    project read as "being written now" (napari stopped picking up changes)."""
    p = Project.create(tmp_path / "a.dvos")
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": "dvos predict", "since": "x"}
    (p.path / HOLDER_NAME).write_text(json.dumps(record))
    assert not writer_lock(p.path).writing()
    with writer_lock(p.path).hold(operation="test"):  # held by this process: writing
        assert writer_lock(p.path).writing()
