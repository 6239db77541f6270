"""The reader of dvos's output going away (`dvos train --json | head -1`) stopped the command and exited 0, so a
pipeline with `set -o pipefail` took the stopped run for done: a pipe closed while the command works exits 141
(128 + SIGPIPE) with a line on stderr; one closed once the work is done (`dvos info | head`) still exits 0."""

import os
import subprocess
import sys

import numpy as np

from dvos_core.cli import _common
from dvos_core.store import Project


class _Args:
    command, debug = "x", False


def test_a_pipe_closed_while_the_command_works_is_no_success(capsys):
    def works(args):
        raise BrokenPipeError  # a progress line written as the reader went away

    args = _Args()
    args.func = works
    assert _common.run_command(args) == 141  # (capsys's stdout has no file to point at os.devnull)
    assert "closed it before the command was done" in capsys.readouterr().err


def test_a_pipe_closed_after_the_work_is_done_is_success(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    for k in range(30):
        p.add_video_array(f"v{k}", np.zeros((1, 8, 8, 3), np.uint8))
    env = {**os.environ, "PYTHONUNBUFFERED": ""}
    env.pop("PYTHONUNBUFFERED")
    cmd = f"{sys.executable} -m dvos_core.cli info {p.path} | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}"
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip() == "0" and "Traceback" not in out.stderr, out.stderr
