"""The reader of dvos's output going away (`dvos train --json | head -1`) stopped the command and exited 0, so a
pipeline with `set -o pipefail` took the stopped run for done: a pipe closed at a line written while the command
works (run-all's stage lines, train's events: ``print_working``) exits 141 (128 + SIGPIPE) with a line on stderr;
one closed at its result, once the work is done (`dvos info | head`, add-video's summary), still exits 0."""

import os
import subprocess
import sys

import numpy as np
import pytest

from dvos_core.cli import _common
from dvos_core.store import Project


class _Args:
    command, debug = "x", False


def test_a_pipe_closed_while_the_command_works_is_no_success(capsys, monkeypatch):
    from dvos_core.progress import OutputClosed, print_working
    from dvos_core.run_all import print_flushed

    def closed(*a, **k):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("builtins.print", closed)
    with pytest.raises(OutputClosed):  # an event line of `dvos train --json` written as the reader went away
        print_working('{"type": "start"}')
    with pytest.raises(OutputClosed):
        print_flushed("[3/8] train the image model")  # run-all's (and the demo's) stage lines
    monkeypatch.undo()

    def works(args):
        raise OutputClosed(32, "Broken pipe")

    args = _Args()
    args.func = works
    assert _common.run_command(args) == 141
    assert "closed it before the command was done" in capsys.readouterr().err


def test_a_pipe_closed_at_the_commands_last_line_is_success(capsys):
    def result(args):
        raise BrokenPipeError  # the summary printed when the work is done ("added c: 5 frames")

    args = _Args()
    args.func = result
    assert _common.run_command(args) == 0 and capsys.readouterr().err == ""


def test_a_pipe_closed_after_the_work_is_done_is_success(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    for k in range(30):
        p.add_video_array(f"v{k}", np.zeros((1, 8, 8, 3), np.uint8))
    env = {**os.environ, "PYTHONUNBUFFERED": ""}
    env.pop("PYTHONUNBUFFERED")
    cmd = f"{sys.executable} -m dvos_core.cli info {p.path} | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}"
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip() == "0" and "Traceback" not in out.stderr, out.stderr
