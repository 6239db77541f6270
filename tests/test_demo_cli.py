"""`dvos demo --napari` hands the built project to the plugin's launcher, run as its own program."""

import importlib.util
import subprocess
import sys

from dvos_core.cli import main


def test_demo_napari_runs_the_launcher_on_the_project(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    rc = main(["demo", "--project-only", "--napari", "--out", str(tmp_path)])
    project = tmp_path / "demo.dvos"
    assert (project / "zarr.json").exists()
    if importlib.util.find_spec("napari") is None:
        assert rc == 2 and calls == []
        assert "napari is not installed" in capsys.readouterr().err
    else:
        assert rc == 0
        assert calls == [[sys.executable, "-m", "dvos_napari.launch", str(project)]]


def test_the_demo_flushes_its_stage_lines_by_default():
    """Piped into a file (``dvos demo > log``), each stage line must arrive when its stage starts, not in
    kilobyte clumps after it: the default log is run-all's flushing print."""
    import inspect

    from dvos_core.demo.pipeline import run_demo
    from dvos_core.run_all import print_flushed

    assert inspect.signature(run_demo).parameters["log"].default is print_flushed
