"""Every way of opening a project reads its videos in a worker thread through one implementation
(``DvosState.open_project_later``): a ``.dvos`` folder dropped on napari, the launcher and the Project step's
Open.... A later open, New... or closing the window cancels a read under way, a read that ends late never shows its
project, unsaved paint is asked about before the project is replaced, and a failed read keeps the open project and
says why. A short job can leave napari's activity dock alone."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _project(path, ids=("a", "b", "c")):
    """A project of small videos ``ids`` (a painted frame each), its files dated back (settled)."""
    from napari_helpers import age_files

    from dvos_core.store import Project

    p = Project.create(path)
    for vid in ids:
        v = p.add_video_array(vid, np.zeros((6, 16, 16, 3), np.uint8), split="train")
        v.set_mask(0, np.ones((16, 16), np.uint8), "manual")
    age_files(p.path)
    return p


@pytest.fixture
def gate(monkeypatch):
    """Holds every background read of a project until ``gate.set()``; ``gate.readers``: the threads that read videos."""
    from napari_helpers import hold_project_reads

    return hold_project_reads(monkeypatch)


@pytest.fixture
def panel(make_napari_viewer):
    from napari_helpers import PANEL, dock

    return dock(make_napari_viewer(), PANEL)


def _drop(viewer, path) -> None:
    """A project folder dropped on napari (the dvos reader chosen)."""
    viewer.open(str(path), plugin="dvos-napari")


def _masks(viewer, path):
    """The masks layer the reader added for the project at ``path``."""
    return next(
        x
        for x in viewer.layers
        if x.metadata.get("dvos_role") == "masks" and x.metadata.get("dvos_project") == str(path)
    )


def test_a_dropped_project_is_read_in_a_worker_and_its_layers_wait_for_it(panel, qtbot, tmp_path, gate):
    state, page, viewer = panel.state, panel.step("Project"), panel.viewer
    season = _project(tmp_path / "season.dvos")
    _drop(viewer, season.path)
    masks = _masks(viewer, season.path)
    # napari goes on: the Project step says what is read; the dropped masks wait read-only (paint is not tracked yet)
    assert state.project is None and state.opening.path == str(season.path)
    assert page.table_area.currentWidget() is page.reading_label
    assert page.reading_label.text() == "reading 3 video(s)..."
    assert not masks.editable
    qtbot.wait(50)
    gate.set()
    qtbot.waitUntil(lambda: state.project is not None, timeout=10_000)
    assert str(state.project.path) == str(season.path) and state.video_id == "a" and state.opening is None
    assert gate.readers and not any(gate.readers)  # no video read on the main thread
    assert page.table_area.currentWidget() is page.table and page.table.rowCount() == 3
    assert masks.editable
    masks.paint((2, 8, 8), 1)  # its paint is tracked now: Save all painted frames and the close guard know it
    assert state.dirty == {"a": {2}}


def test_a_later_open_or_new_cancels_a_dropped_project_being_read(panel, qtbot, tmp_path, gate):
    state, page, viewer = panel.state, panel.step("Project"), panel.viewer
    dropped = _project(tmp_path / "dropped.dvos")
    other = _project(tmp_path / "other.dvos", ("x",))
    _drop(viewer, dropped.path)
    first = state.opening.job
    second = page.open_project(other.path, wait=False)  # Open... while the dropped folder is read
    assert page.reading_label.text() == "reading 1 video(s)..."
    # a project that will not open takes the layers the reader added for it away (left, no step would follow them)
    assert not any(x.metadata.get("dvos_project") == str(dropped.path) for x in viewer.layers)
    gate.set()
    qtbot.waitUntil(lambda: first.status is not None and second.status is not None, timeout=10_000)
    assert first.status == "cancelled" and second.status == "ok"
    assert str(state.project.path) == str(other.path) and state.video_id is None  # the dropped video is not "x"'s

    gate.clear()
    again = _project(tmp_path / "again.dvos")
    _drop(viewer, again.path)
    job = state.opening.job
    made = page.create_project(tmp_path / "new.dvos")  # New... while it is read
    gate.set()
    qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)
    qtbot.wait(100)
    assert job.status == "cancelled" and state.project is made and page.table.rowCount() == 0
    assert page.table_area.currentWidget() is page.table and page.add_file_button.isEnabled()


def test_a_read_that_ends_after_a_later_one_never_shows_its_project(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """The launcher's read ignores the cancel and ends after a folder dropped later was read and shown: the dropped
    project stays, with its video."""
    import dvos_napari._summary as summary
    from dvos_napari._state import get_state
    from dvos_napari.launch import show_project

    launched = _project(tmp_path / "launched.dvos")
    dropped = _project(tmp_path / "dropped.dvos", ("x", "y"))
    real = summary.read_summary
    gates = {str(launched.path): threading.Event(), str(dropped.path): threading.Event()}

    def held(project, progress=None, cancel=None):  # ignores cancel: finishes its read anyway
        gates[str(project.path)].wait(10)
        return real(project, progress=progress)

    monkeypatch.setattr(summary, "read_summary", held)
    viewer = make_napari_viewer()
    panel = show_project(viewer, launched.path, step="Review")
    state = get_state(viewer)
    late = state.opening.job
    _drop(viewer, dropped.path)
    gates[str(dropped.path)].set()
    qtbot.waitUntil(lambda: state.project is not None, timeout=10_000)
    gates[str(launched.path)].set()
    qtbot.waitUntil(lambda: late.status == "ok", timeout=10_000)
    qtbot.wait(100)
    assert str(state.project.path) == str(dropped.path) and state.video_id == "x"
    assert panel.current != "Review"  # the launcher's "then" ran for nothing: its project was not shown


def test_unsaved_paint_is_asked_about_before_a_dropped_project_replaces_the_open_one(
    panel, qtbot, tmp_path, monkeypatch
):
    from napari_helpers import wait_loaded
    from qtpy.QtWidgets import QMessageBox

    state, page, viewer = panel.state, panel.step("Project"), panel.viewer
    first = _project(tmp_path / "first.dvos")
    second = _project(tmp_path / "second.dvos", ("x",))
    page.open_project(first.path)
    page.select_video("b")
    wait_loaded(qtbot, state)
    viewer.layers["b masks"].paint((3, 8, 8), 1)
    asked, answers = [], [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]

    def question(parent, title, text, *args):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    _drop(viewer, second.path)
    qtbot.waitUntil(lambda: state.opening is None, timeout=10_000)
    assert len(asked) == 1 and "b: painted mask frame 3" in asked[0] and f"Open {second.path} anyway" in asked[0]
    # No: the open project stays, with its paint; the dropped layers are closed (left, their paint would be untracked)
    assert str(state.project.path) == str(first.path) and state.dirty == {"b": {3}}
    assert "was not opened (its layers were closed)" in page.status.text()
    assert not any(x.metadata.get("dvos_project") == str(second.path) for x in viewer.layers)
    _drop(viewer, second.path)  # dropped again, Yes: it opens
    qtbot.waitUntil(lambda: state.opening is None, timeout=10_000)
    assert len(asked) == 2 and str(state.project.path) == str(second.path) and state.video_id == "x"


@pytest.mark.parametrize("answer", ["open anyway", "keep my work"])
def test_the_open_project_opened_again_shows_no_paint_the_user_agreed_to_lose(
    panel, qtbot, tmp_path, monkeypatch, answer
):
    """Open... on the project already open, with paint not saved: "Open anyway" discards the paint, so the layers
    that showed it go (picking the video again reads its saved masks); they stayed, the paint shown as if
    annotated but no longer tracked (not saved by Save all, not asked about on close). "Keep my work" keeps it."""
    from napari_helpers import wait_loaded

    import dvos_napari._close_guard as guard

    state, page, viewer = panel.state, panel.step("Project"), panel.viewer
    first = _project(tmp_path / "first.dvos")
    page.open_project(first.path)
    page.select_video("b")
    wait_loaded(qtbot, state)
    viewer.layers["b masks"].paint((3, 8, 8), 1)
    assert state.dirty == {"b": {3}}
    monkeypatch.setattr(guard, "close_anyway", lambda parent, lines, doing: answer == "open anyway")
    opening = state.open_project_later(first.path)
    qtbot.waitUntil(lambda: opening.outcome is not None, timeout=10_000)
    if answer == "keep my work":
        assert opening.outcome == "kept" and state.dirty == {"b": {3}}
        assert viewer.layers["b masks"].data[3].any()
        return
    assert opening.outcome == "opened" and state.dirty == {}
    assert not any(x.metadata.get("dvos_video") == "b" for x in viewer.layers)
    page.select_video("b")
    wait_loaded(qtbot, state)
    masks = viewer.layers["b masks"]
    assert not masks.data[3].any() and masks.data[0].all()  # as saved: frame 0 painted and stored, 3 never saved
    assert guard.unsaved_work(viewer, state) == []


def test_a_failed_read_of_a_dropped_project_keeps_the_open_one_and_says_why(panel, qtbot, tmp_path, monkeypatch):
    import dvos_napari._summary as summary

    state, page, viewer = panel.state, panel.step("Project"), panel.viewer
    kept = _project(tmp_path / "kept.dvos", ("k",))
    broken = _project(tmp_path / "broken.dvos")
    page.open_project(kept.path)

    def fails(project, progress=None, cancel=None):
        raise OSError(f"cannot read {project.path}/videos")

    monkeypatch.setattr(summary, "read_summary", fails)
    openings = []
    state.opening_changed.connect(openings.append)  # (it may have failed before the drop returns)
    _drop(viewer, broken.path)
    job = openings[0].job
    qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)
    assert job.status == "error" and str(state.project.path) == str(kept.path) and state.opening is None
    assert "could not open the project" in page.status.text() and "cannot read" in page.status.text()
    assert page.table.rowCount() == 1 and page.table_area.currentWidget() is page.table
    assert not any(x.metadata.get("dvos_project") == str(broken.path) for x in viewer.layers)


@pytest.mark.parametrize("shown", [True, False])
def test_closing_the_window_cancels_a_dropped_project_being_read(make_napari_viewer, qtbot, tmp_path, gate, shown):
    """Shown: the window's close stops the steps' work; hidden (scripts, tests): napari removes the layers first, the
    dropped ones with them. Either way the read ends unseen (no step of a closed window is refreshed)."""
    from napari_helpers import PANEL, dock

    viewer = make_napari_viewer(show=shown)
    state = dock(viewer, PANEL).state
    if shown:
        qtbot.waitUntil(lambda: state.close_guard is not None)
    _drop(viewer, _project(tmp_path / "season.dvos").path)
    job = state.opening.job
    viewer.close()
    assert state.opening is None
    qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)
    assert job.status == "cancelled" and state.project is None


def test_removing_every_dropped_layer_before_its_project_opened_cancels_it(panel, qtbot, tmp_path, gate):
    state, viewer = panel.state, panel.viewer
    season = _project(tmp_path / "season.dvos")
    _drop(viewer, season.path)
    job = state.opening.job
    viewer.layers.remove(_masks(viewer, season.path))
    assert state.opening is not None  # its image layer is still there
    viewer.layers.clear()
    assert state.opening is None
    gate.set()
    qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)
    assert job.status == "cancelled" and state.project is None


def test_a_short_job_can_leave_the_activity_dock_alone(qtbot, monkeypatch):
    """``activity=False``: no bar in napari's activity dock (making one costs the main thread 0.03-0.3 s); its
    progress still reaches the ``progressed`` signal."""
    import napari.utils

    from dvos_napari._workers import Job

    made, real = [], napari.utils.progress

    def counting(*args, **kwargs):
        made.append(kwargs.get("desc"))
        return real(*args, **kwargs)

    monkeypatch.setattr(napari.utils, "progress", counting)

    def work(n, progress=None, cancel=None):
        for i in range(n):
            progress(i + 1, n, "step")
        return n * 10

    for activity, bars in ((False, 0), (True, 1)):
        made.clear()
        job = Job(work, 3, label="short", process=False, activity=activity)
        heard = []
        job.progressed.connect(lambda done, total, _m, heard=heard: heard.append((done, total)))
        job.start()
        qtbot.waitUntil(lambda job=job: job.status is not None, timeout=10_000)
        assert job.status == "ok" and job.result == 30
        assert heard and heard[-1] == (3, 3)
        assert len(made) >= bars and (bars or not made)


def test_open_of_a_project_still_read_since_it_was_dropped_tracks_its_dropped_layers(panel, qtbot, tmp_path, gate):
    """Open... on the folder whose drop is still being read: the dropped layers wait for the new read and are
    tracked once it opens (they came back editable but untracked: their paint was never saved nor asked about)."""
    state, page, viewer = panel.state, panel.step("Project"), panel.viewer
    season = _project(tmp_path / "season.dvos")
    _drop(viewer, season.path)
    masks = _masks(viewer, season.path)
    page.open_project(season.path, wait=False)
    gate.set()
    qtbot.waitUntil(lambda: state.project is not None and state.opening is None, timeout=10_000)
    assert masks.editable and state.video_id == masks.metadata["dvos_video"]
    masks.paint((2, 8, 8), 1)
    assert state.dirty.get(state.video_id)


def test_closing_the_dropped_layers_leaves_an_open_the_user_asked_for(panel, qtbot, tmp_path, gate):
    state, page, viewer = panel.state, panel.step("Project"), panel.viewer
    season = _project(tmp_path / "season.dvos")
    job = page.open_project(season.path, wait=False)
    _drop(viewer, season.path)  # its layers join the Open... under way
    viewer.layers.clear()
    gate.set()
    qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)
    qtbot.waitUntil(lambda: state.project is not None, timeout=10_000)
    assert str(state.project.path) == str(season.path)


def test_an_open_begun_while_the_user_is_asked_wins_over_the_one_asking(panel, qtbot, tmp_path, monkeypatch):
    """The unsaved-work question runs an event loop: an open begun meanwhile replaces the one asking, even when the
    answer is yes (the older project was shown, and the newer read lost with its layers)."""
    from napari_helpers import wait_loaded

    import dvos_napari._close_guard as guard

    state, page, viewer = panel.state, panel.step("Project"), panel.viewer
    first, second = _project(tmp_path / "first.dvos"), _project(tmp_path / "second.dvos", ("x",))
    third = _project(tmp_path / "third.dvos", ("y",))
    page.open_project(first.path)
    page.select_video("b")
    wait_loaded(qtbot, state)
    viewer.layers["b masks"].paint((3, 8, 8), 1)
    later = {}

    def asked(parent, lines, doing):
        later["opening"] = state.open_project_later(third.path, agreed=lines)
        return True

    monkeypatch.setattr(guard, "close_anyway", asked)
    asking = state.open_project_later(second.path)
    qtbot.waitUntil(lambda: asking.outcome is not None, timeout=10_000)
    qtbot.waitUntil(lambda: later["opening"].outcome is not None, timeout=10_000)
    assert asking.outcome == "cancelled" and later["opening"].outcome == "opened"
    assert str(state.project.path) == str(third.path) and state.opening is None


def test_a_dropped_project_kept_out_leaves_no_untracked_layer_of_it(panel, qtbot, tmp_path, monkeypatch):
    """Both projects hold a video "a": the user keeps the paint of the open one's. The dropped project's layers stayed
    (editable, untracked: their paint neither saved nor asked about), and once that project was opened for real its
    old masks layer was reused for "a", its stale paint shown as the project's masks."""
    from napari_helpers import wait_loaded

    import dvos_napari._close_guard as guard
    from dvos_napari._layers import is_tracked

    state, page, viewer = panel.state, panel.step("Project"), panel.viewer
    first, second = _project(tmp_path / "first.dvos", ("a",)), _project(tmp_path / "second.dvos", ("a", "z"))
    page.open_project(first.path)
    page.select_video("a")
    wait_loaded(qtbot, state)
    viewer.layers["a masks"].paint((2, 8, 8), 1)
    monkeypatch.setattr(guard, "close_anyway", lambda parent, lines, doing: False)  # No: keep my work
    _drop(viewer, second.path)
    qtbot.waitUntil(lambda: state.opening is None, timeout=10_000)
    assert str(state.project.path) == str(first.path) and state.dirty == {"a": {2}}
    assert [x.metadata["dvos_project"] for x in viewer.layers] == [str(first.path)] * 2
    assert guard.unsaved_work(viewer, state) == ["a: painted mask frame 2"]
    state.set_project(second)  # the user opens it later (agreeing to lose the paint): "a" shows its saved masks
    page.select_video("a")
    wait_loaded(qtbot, state)
    masks = _masks(viewer, second.path)
    assert is_tracked(masks, state) and not masks.data[2].any() and masks.data[0].all()
