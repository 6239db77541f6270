"""`dvos demo --napari` hands the built project to the plugin's launcher, run as its own program."""

import importlib.util
import subprocess
import sys

import pytest

from dvos_core.cli import main


def test_demo_napari_runs_the_launcher_on_the_project(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    monkeypatch.setenv("DISPLAY", ":99")  # a display to open on (without one: tests/test_demo_out.py)
    rc = main(["demo", "--project-only", "--napari", "--out", str(tmp_path)])
    project = tmp_path / "demo.dvos"
    assert (project / "zarr.json").exists()
    if importlib.util.find_spec("napari") is None:
        assert rc == 2 and calls == []
        assert "napari is not installed" in capsys.readouterr().err
    else:
        assert rc == 0
        assert calls == [[sys.executable, "-m", "dvos_napari.launch", str(project)]]


def test_a_missing_napari_is_said_before_the_demo_runs(tmp_path, monkeypatch, capsys):
    """``dvos demo --napari`` without napari ran the whole demo (minutes) before saying napari is missing."""
    import dvos_core.demo.pipeline as pipeline

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "napari" else real(name, *a))
    monkeypatch.setattr(pipeline, "run_demo", lambda *a, **k: pytest.fail("the demo ran"))
    monkeypatch.setattr(pipeline, "build_demo_project", lambda *a, **k: pytest.fail("the project was built"))
    for extra in ([], ["--project-only"]):
        assert main(["demo", "--quick", "--napari", "--out", str(tmp_path), *extra]) == 2
        err = capsys.readouterr().err
        assert "napari is not installed" in err and "then run the same `dvos demo --napari` command again" in err, err
    assert not (tmp_path / "demo.dvos").exists()


def test_napari_without_a_qt_binding_is_said_before_the_demo_runs(tmp_path, monkeypatch, capsys):
    """napari installed without its [pyqt6] extra: the demo ran for minutes, then napari's launcher failed with a
    traceback (an ImportError of Qt)."""
    import dvos_core.demo.pipeline as pipeline
    from dvos_core.cli._common import QT_BINDINGS
    from dvos_napari.launch import missing_gui

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in QT_BINDINGS else real(name, *a))
    monkeypatch.setattr(pipeline, "run_demo", lambda *a, **k: pytest.fail("the demo ran"))
    assert main(["demo", "--quick", "--napari", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "a Qt binding (PyQt6, PySide6, PyQt5, PySide2) is not installed" in err and "[napari]" in err, err
    assert "a Qt binding" in missing_gui()  # the launcher says the same


def test_the_demo_flushes_its_stage_lines_by_default():
    """Piped into a file (``dvos demo > log``), each stage line must arrive when its stage starts, not in
    kilobyte clumps after it: the default log is run-all's flushing print."""
    import inspect

    from dvos_core.demo.pipeline import run_demo
    from dvos_core.run_all import print_flushed

    assert inspect.signature(run_demo).parameters["log"].default is print_flushed


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_device_is_refused_before_the_sample_project_is_built(tmp_path, monkeypatch, capsys):
    import dvos_core.demo.pipeline as pipeline

    monkeypatch.setattr(pipeline, "run_demo", lambda *a, **k: pytest.fail("the demo ran"))
    monkeypatch.setattr(pipeline, "build_demo_project", lambda *a, **k: pytest.fail("the project was built"))
    for extra in ([], ["--project-only"]):
        assert main(["demo", "--quick", "--device", "cuda", "--out", str(tmp_path), *extra]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "demo.dvos").exists()
