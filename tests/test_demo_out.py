"""`dvos demo --out DIR`: only an earlier demo project at DIR/demo.dvos is replaced (said so), never a user's own
project; a file or a folder in a project store is refused; `--napari` without a display says where the project is
instead of Qt aborting the program."""

import subprocess
import sys

import pytest

from dvos_core.cli import main
from dvos_core.demo.pipeline import build_demo_project, run_demo
from dvos_core.store import Project


def _demo(out, *extra) -> int:
    return main(["demo", "--project-only", "--out", str(out), *extra])


def test_a_users_own_project_at_out_is_never_replaced(tmp_path, capsys):
    """Before: Project.create(overwrite=True) wiped any project at OUT/demo.dvos."""
    mine = Project.create(tmp_path / "demo.dvos")
    mine.add_video_array("plot1", build_demo_project(tmp_path / "x.dvos", size=32).video("seed").read_frames())
    assert _demo(tmp_path) != 0
    err = capsys.readouterr().err
    assert f"{tmp_path / 'demo.dvos'}: holds something other than a demo project" in err and "--out DIR" in err
    assert Project.open(tmp_path / "demo.dvos").video_ids() == ["plot1"]
    with pytest.raises(ValueError, match="other than a demo project"):  # run_demo refuses before any work too
        run_demo(tmp_path, log=lambda s: pytest.fail("a stage began"))
    with pytest.raises(ValueError, match="other than a demo project"):
        build_demo_project(tmp_path / "demo.dvos", size=32)
    assert Project.open(tmp_path / "demo.dvos").video_ids() == ["plot1"]


def test_an_earlier_demo_project_is_replaced_and_said(tmp_path, capsys):
    from dvos_core.demo.pipeline import demo_project_path, is_demo_project

    assert _demo(tmp_path, "--quick") == 0
    assert "replaced" not in capsys.readouterr().out
    assert is_demo_project(tmp_path / "demo.dvos")
    assert _demo(tmp_path, "--quick") == 0
    assert "(the earlier demo project there replaced)" in capsys.readouterr().out
    # a video of the user's added to it: a project of theirs now, kept
    p = Project.open(tmp_path / "demo.dvos")
    p.add_video_array("plot1", p.video("seed").read_frames())
    assert not is_demo_project(p.path)
    with pytest.raises(ValueError, match="other than a demo project"):
        demo_project_path(tmp_path)


def test_out_a_file_or_inside_a_project_store_is_refused(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    assert _demo(afile) != 0
    assert f"{afile}: is a file" in capsys.readouterr().err and afile.read_text() == "mine"
    store = Project.create(tmp_path / "field.dvos").path
    for out in (store, store / "models"):
        assert _demo(out) != 0
        where = "is the" if out == store else "is inside the"
        assert f"{out}: {where} dvos project {store}" in capsys.readouterr().err
    assert not (store / "demo.dvos").exists() and not (store / "models" / "demo.dvos").exists()


@pytest.mark.parametrize("launcher", ["demo", "launch"])
def test_napari_without_a_display_says_where_the_project_is(tmp_path, monkeypatch, capsys, launcher):
    """Before: Qt aborted the launcher (exit 250) with its own messages."""
    pytest.importorskip("napari")
    monkeypatch.setattr(sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    project = tmp_path / "demo.dvos"
    if launcher == "demo":
        monkeypatch.setattr(subprocess, "call", lambda cmd: pytest.fail("the launcher ran"))
        assert _demo(tmp_path, "--napari") == 2
    else:
        from dvos_napari.launch import open_project_in_napari

        build_demo_project(project, size=32)
        with pytest.raises(SystemExit) as e:
            open_project_in_napari(project)
        assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    if launcher == "demo":  # said before the demo's work (minutes without --project-only), nothing built
        assert err.startswith("dvos: no display") and "without --napari" in err and "xvfb-run" in err
        assert not project.exists()
    else:
        assert err.startswith("dvos: no display") and f"the project is at {project}" in err
        assert f"napari {project} --plugin dvos-napari" in err and "xvfb-run" in err
    from dvos_core.cli.demo_cmd import missing_display

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # Qt needs no display then
    assert missing_display(project) is None
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert missing_display(project) is None


def test_a_demo_project_with_a_persons_work_is_kept_and_one_killed_while_built_is_replaced(tmp_path, capsys):
    """The demo replaced its project with the frames painted and corrected in it (the tutorial's hand-work), saying
    so only afterwards; and a demo killed while building its project left one it called "a project of your own"."""
    import numpy as np

    from dvos_core.demo.pipeline import demo_project_path

    assert _demo(tmp_path, "--quick") == 0
    p = Project.open(tmp_path / "demo.dvos")
    p.video("field_train").set_mask(3, np.ones(p.video("field_train").shape[1:3], np.uint8), "corrected")
    with pytest.raises(ValueError, match=r"frames a person painted or corrected \(field_train frames \[3\]\)"):
        demo_project_path(tmp_path)
    assert _demo(tmp_path, "--quick") != 0 and int(p.video("field_train").provenance[3]) == 4  # kept
    capsys.readouterr()

    half = tmp_path / "half"
    built = build_demo_project(half / "demo.dvos", size=32)
    Project.open(built.path).delete_video("field_test")  # as a kill after the first clips leaves it
    assert _demo(half, "--quick") == 0 and "(the earlier demo project there replaced)" in capsys.readouterr().out
