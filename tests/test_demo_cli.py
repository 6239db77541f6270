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
