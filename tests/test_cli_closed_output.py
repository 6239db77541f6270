"""`dvos` run with its stdout or stderr closed (`dvos info P >&-`, `dvos demo 2>&-`, pythonw's None streams) or
stderr a pipe whose reader went away failed: a traceback-like error (AttributeError on None sys.stdout), an export
stopped by its own progress line with exit status 0 and no files, an error message printed into stdout. The
command's entry point now makes its streams safe: the work is done, printing never fails it."""

import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

from dvos_core.store import Project

DVOS = f"{shlex.quote(sys.executable)} -m dvos_core.cli"
# stdout block-buffered, as a user's is when sent to a pipe (the help text is then still in the buffer at exit)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("v", np.zeros((3, 16, 16, 3), np.uint8))
    mask = np.zeros((16, 16), np.uint8)
    mask[4:9, 4:9] = 1
    for t in range(3):
        v.set_mask(t, mask, "manual")
    return p


def _shell(line: str):
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120, env=ENV)


def _unread_pipe(args, which: str):
    """``dvos ARGS`` with ``which`` (stdout or stderr) a pipe whose reader has gone away, the other one captured."""
    r, w = os.pipe()
    os.close(r)
    other = "stderr" if which == "stdout" else "stdout"
    try:
        cmd = [sys.executable, "-m", "dvos_core.cli", *map(str, args)]
        return subprocess.run(cmd, **{which: w, other: subprocess.PIPE}, text=True, timeout=120, env=ENV)
    finally:
        os.close(w)


def test_closed_stdout_or_stderr_does_not_stop_the_command(project, tmp_path):
    p, out = shlex.quote(str(project.path)), tmp_path / "masks"
    done = _shell(f"{DVOS} info {p} >&-")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    done = _shell(f"{DVOS} export-masks {p} v {shlex.quote(str(out))} 2>&-")  # its progress line goes to stderr
    assert done.returncode == 0 and "wrote 3 masks" in done.stdout, done.stdout
    assert (out / "masks.csv").is_file() and len(list(out.glob("v_*.png"))) == 3
    done = _shell(f"{DVOS} info {shlex.quote(str(tmp_path / 'none.dvos'))} 2>&-")
    assert done.returncode == 2 and done.stdout == ""  # the error is not printed into the command's output


def test_a_reader_gone_from_stderr_does_not_stop_an_export(project, tmp_path):
    out = tmp_path / "masks"
    done = _unread_pipe(["export-masks", project.path, "v", out], "stderr")
    assert done.returncode == 0 and "wrote 3 masks" in done.stdout
    assert (out / "masks.csv").is_file() and len(list(out.glob("v_*.png"))) == 3


def test_a_reader_gone_from_stdout_exits_quietly(project):
    for args in (["info", project.path], ["--help"], ["info", "--help"], []):  # (no command: the help, exit 1)
        done = _unread_pipe(args, "stdout")
        assert done.returncode == (0 if args else 1) and done.stderr == "", (args, done.stderr)


def test_none_streams_as_under_pythonw(project, tmp_path):
    out = tmp_path / "masks"
    code = "import sys; sys.stdout = sys.stderr = None; from dvos_core.cli import entry; sys.exit(entry())"
    for args in (["info", project.path], ["export-masks", project.path, "v", out]):
        done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, timeout=120, env=ENV)
        assert done.returncode == 0, done
    assert (out / "masks.csv").is_file()
