"""A writer killed mid-write leaves its holder record (.dvos-writer.json) behind; the record of a process that no
longer runs must not read as "still writing" (the napari panel would wait for it forever and never show the
project's changes)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from other_writer import OtherWriter

from dvos_core.store import Project
from dvos_core.store.lock import HOLDER_NAME, writer_lock


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid  # finished and reaped: no process has it (for the moment this test needs)


def _record(path, pid, host):
    with open(os.path.join(path, HOLDER_NAME), "w") as f:
        json.dump({"pid": pid, "host": host, "command": "dvos add-video", "since": "now"}, f)


def test_a_dead_writers_record_is_not_writing(tmp_path):
    p = Project.create(tmp_path / "field.dvos")
    lock = writer_lock(p.path)
    assert not lock.writing()  # no record
    _record(p.path, _dead_pid(), socket.gethostname())
    assert not lock.writing()  # killed on this machine
    with OtherWriter(p.path):
        assert lock.writing()  # a live process holding the lock
    _record(p.path, os.getpid(), socket.gethostname())
    assert not lock.writing()  # a live process (its PID reused since, say) whose lock is free
    _record(p.path, 1, "elsewhere")
    assert lock.writing()  # another machine's: cannot be checked, taken as writing


def test_the_panel_state_sees_writes_after_a_killed_writer(tmp_path):
    pytest.importorskip("napari")
    from napari.components import ViewerModel

    from dvos_napari._state import DvosState

    p = Project.create(tmp_path / "field.dvos")
    state = DvosState(ViewerModel())
    state.set_project(p)
    Project.open(p.path).add_video_array("plot", np.zeros((2, 16, 16, 3), np.uint8))
    with OtherWriter(p.path):
        os.utime(p.path, ns=(1, 1))  # the folder's mark moved
        assert not state.check_store()  # a live writer: wait until it finishes
    _record(p.path, _dead_pid(), socket.gethostname())
    assert state.check_store()  # its process is gone: the changes are shown
