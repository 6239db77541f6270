"""The Project step on a project of many videos: Open reads the videos in a worker thread (the window never freezes;
a later Open, New... or closing the step during the read leaves no stale project), and the video table sorts by
any column (numbers as numbers), keeps the selected and the shown video through a sort and a refresh, filters, and
shows the selected video on Enter."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

pytest.importorskip("napari")
from napari_helpers import age_files as _age

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _project(path, videos: dict):
    """A project at ``path`` with ``videos``: {id: (frames, split, painted frames, tags)}, settled."""
    from dvos_core.store import Project

    p = Project.create(path)
    for vid, (n, split, painted, tags) in videos.items():
        v = p.add_video_array(vid, np.zeros((n, 16, 16, 3), np.uint8), split=split, tags=tags)
        for t in range(painted):
            v.set_mask(t, np.ones((16, 16), np.uint8), "manual")
    _age(p.path)
    return p


SEASON = {  # names, frame and mask counts whose text order is not their order
    "plot2": (12, "train", 2, {"site": "a"}),
    "plot10": (30, "val", 11, {"site": "b"}),
    "plot1": (100, "test", 0, {"site": "b"}),
}


@pytest.fixture
def gate(monkeypatch):
    """Holds every background read of a project until ``gate.set()``; ``gate.readers``: the threads that read videos."""
    from napari_helpers import hold_project_reads

    return hold_project_reads(monkeypatch)


def _open_with_dialog(page, monkeypatch, path) -> None:
    """Open... as the user does it (the folder picked in the dialog)."""
    from qtpy.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(path)))
    page._open_dialog()


def _ids(page) -> list[str]:
    return [page._row_id(r) for r in range(page.table.rowCount())]


def _shown_ids(page) -> list[str]:
    return [page._row_id(r) for r in range(page.table.rowCount()) if not page.table.isRowHidden(r)]


def _bold(page) -> list[str]:
    return [page._row_id(r) for r in range(page.table.rowCount()) if page.table.item(r, 0).font().bold()]


def _click_header(qtbot, page, column: int) -> None:
    from qtpy.QtCore import QPoint, Qt

    header = page.table.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))


@pytest.fixture
def page(make_napari_viewer):
    from napari_helpers import dock

    return dock(make_napari_viewer(), "Project")


def test_open_reads_the_videos_in_a_worker_and_shows_the_project_when_read(page, qtbot, tmp_path, gate, monkeypatch):
    season = _project(tmp_path / "season.dvos", SEASON)
    _open_with_dialog(page, monkeypatch, season.path)
    # the window goes on: the table says what is being read, no project is shown before it is read
    assert page.table_area.currentWidget() is page.reading_label
    assert page.reading_label.text() == "reading 3 video(s)..."
    assert page.state.project is None and not page.add_file_button.isEnabled()
    qtbot.wait(50)  # the Qt event loop runs meanwhile
    gate.set()
    qtbot.waitUntil(lambda: page.state.project is not None, timeout=10_000)
    assert str(page.state.project.path) == str(season.path)
    assert page.table_area.currentWidget() is page.table and page.add_file_button.isEnabled()
    assert _ids(page) == ["plot1", "plot2", "plot10"]
    assert gate.readers and not any(gate.readers)  # every video was read in the worker, none on the main thread


def test_a_second_open_during_the_read_shows_only_the_second_project(page, qtbot, tmp_path, gate, monkeypatch):
    first = _project(tmp_path / "first.dvos", SEASON)
    second = _project(tmp_path / "second.dvos", {"other": (4, "train", 1, {})})
    job1 = page.open_project(first.path, wait=False)
    job2 = page.open_project(second.path, wait=False)
    assert page.reading_label.text() == "reading 1 video(s)..."
    gate.set()
    qtbot.waitUntil(lambda: job1.status is not None and job2.status is not None, timeout=10_000)
    assert job1.status == "cancelled" and job2.status == "ok"
    assert str(page.state.project.path) == str(second.path) and _ids(page) == ["other"]
    assert page.table_area.currentWidget() is page.table


def test_a_read_finished_after_a_later_open_is_not_shown(page, qtbot, tmp_path, monkeypatch):
    """The first Open's read ends after the second Open's (a cancel comes too late): the first is not shown."""
    import dvos_napari._summary as summary

    first = _project(tmp_path / "first.dvos", SEASON)
    second = _project(tmp_path / "second.dvos", {"other": (4, "train", 1, {})})
    real, gates = summary.read_summary, {}

    def held(project, progress=None, cancel=None):  # ignores cancel: finishes its read anyway
        gates[str(project.path)].wait(10)
        return real(project, progress=progress)

    gates = {str(first.path): threading.Event(), str(second.path): threading.Event()}
    monkeypatch.setattr(summary, "read_summary", held)
    job1 = page.open_project(first.path, wait=False)
    job2 = page.open_project(second.path, wait=False)
    gates[str(second.path)].set()
    qtbot.waitUntil(lambda: job2.status == "ok", timeout=10_000)
    gates[str(first.path)].set()
    qtbot.waitUntil(lambda: job1.status == "ok", timeout=10_000)
    assert str(page.state.project.path) == str(second.path) and _ids(page) == ["other"]


def test_new_project_or_closing_the_step_during_the_read_leaves_no_stale_project(
    make_napari_viewer, qtbot, tmp_path, gate
):
    season = _project(tmp_path / "season.dvos", SEASON)
    viewer = make_napari_viewer()
    widget, page = viewer.window.add_plugin_dock_widget("dvos-napari", "Project")
    job = page.open_project(season.path, wait=False)
    made = page.create_project(tmp_path / "new.dvos")  # New... while the season is read
    gate.set()
    qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)
    qtbot.wait(100)
    assert page.state.project is made and _ids(page) == [] and page.table_area.currentWidget() is page.table

    gate.clear()
    job = page.open_project(season.path, wait=False)
    viewer.window.remove_dock_widget(widget)  # the step closed during the read
    gate.set()
    qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)
    qtbot.wait(100)
    assert job.status == "cancelled" and page.state.project is made


def test_a_failed_read_keeps_the_open_project_and_says_why(page, qtbot, tmp_path, monkeypatch):
    import dvos_napari._summary as summary

    kept = _project(tmp_path / "kept.dvos", {"kept": (2, "train", 0, {})})
    broken = _project(tmp_path / "broken.dvos", SEASON)
    page.open_project(kept.path)

    def fails(project, progress=None, cancel=None):
        raise OSError(f"cannot read {project.path}/videos")

    monkeypatch.setattr(summary, "read_summary", fails)
    job = page.open_project(broken.path, wait=False)
    qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)
    assert job.status == "error" and str(page.state.project.path) == str(kept.path)
    assert _ids(page) == ["kept"] and page.table_area.currentWidget() is page.table
    assert "cannot read" in page.status.text() and page.add_file_button.isEnabled()


def test_columns_sort_by_value_and_the_selection_and_shown_video_stay_on_their_videos(page, qtbot, tmp_path):
    from napari_helpers import wait_loaded

    page.open_project(_project(tmp_path / "season.dvos", SEASON).path)
    assert _ids(page) == ["plot1", "plot2", "plot10"]  # names by their numbers
    page.select_video("plot2")
    wait_loaded(qtbot, page.state)
    page.table.selectRow(_ids(page).index("plot10"))  # the user selects another video than the one shown
    _click_header(qtbot, page, 1)  # frames: 12 < 30 < 100 (as text "100" < "12" < "30")
    assert _ids(page) == ["plot2", "plot10", "plot1"]
    assert page._selected_id() == "plot10" and _bold(page) == ["plot2"]
    _click_header(qtbot, page, 1)  # again: the other way
    assert _ids(page) == ["plot1", "plot10", "plot2"]
    _click_header(qtbot, page, 3)  # masks: 0 < 2 < 11 painted frames ("11 manual" < "2 manual" < "none" as text)
    assert _ids(page) == ["plot1", "plot2", "plot10"] and page.table.item(0, 3).text() == "none"
    _click_header(qtbot, page, 2)  # splits in their order: train, val, test
    assert _ids(page) == ["plot2", "plot10", "plot1"]
    assert page._selected_id() == "plot10" and _bold(page) == ["plot2"]

    page.state.notify_store_changed()  # a refresh (a mask saved, another program's write) keeps all of it
    assert _ids(page) == ["plot2", "plot10", "plot1"]
    assert page._selected_id() == "plot10" and _bold(page) == ["plot2"]
    row = _ids(page).index("plot1")
    page.table.cellDoubleClicked.emit(row, 0)  # the row's video, wherever the sort put it
    wait_loaded(qtbot, page.state)
    assert page.state.video_id == "plot1" and _bold(page) == ["plot1"] and page._selected_id() == "plot1"


def test_a_refresh_keeps_the_table_scrolled_where_it_was(make_napari_viewer, qtbot, tmp_path):
    from napari_helpers import dock

    page = dock(make_napari_viewer(show=True), "Project")
    many = {f"plot{i}": (2, "train", 0, {}) for i in range(40)}
    page.open_project(_project(tmp_path / "many.dvos", many).path)
    page.table.setFixedHeight(150)
    bar = page.table.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 10, timeout=5_000)
    page.table.selectRow(0)  # selected, then scrolled away from
    bar.setValue(bar.maximum() // 2)
    where = bar.value()
    page.state.notify_store_changed()
    qtbot.wait(50)
    assert bar.value() == where and page._selected_id() == "plot0"


def test_filter_and_enter(page, qtbot, tmp_path):
    from napari_helpers import wait_loaded
    from qtpy.QtCore import Qt

    page.open_project(_project(tmp_path / "season.dvos", SEASON).path)
    page.filter_edit.setText("site=b")
    assert _shown_ids(page) == ["plot1", "plot10"] and page.shown_label.text() == "2 of 3 shown"
    page.filter_edit.setText("VAL site=b")  # every word, any column, any case
    assert _shown_ids(page) == ["plot10"]
    page.state.notify_store_changed()  # kept through a refresh
    assert _shown_ids(page) == ["plot10"]
    page.table.selectRow(_ids(page).index("plot10"))
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Return)  # Enter shows the selected video
    wait_loaded(qtbot, page.state)
    assert page.state.video_id == "plot10"
    page.filter_edit.setText("plot2")  # the selected video hidden: nothing to act on
    with pytest.raises(ValueError, match="select a video"):
        page._selected_id()
    page.filter_edit.clear()
    assert _shown_ids(page) == ["plot1", "plot2", "plot10"] and page.shown_label.text() == ""


def test_set_split_of_several_selected_videos_at_once(page, qtbot, tmp_path, monkeypatch):
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QMessageBox

    season = _project(tmp_path / "season.dvos", SEASON)
    page.open_project(season.path)
    page.table.show()

    def click(vid, modifier=Qt.KeyboardModifier.NoModifier):
        rect = page.table.visualItemRect(page.table.item(_ids(page).index(vid), 0))
        qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())

    click("plot1")
    click("plot10", Qt.KeyboardModifier.ControlModifier)
    assert sorted(page._selected_ids()) == ["plot1", "plot10"]
    page.row_split.setCurrentText("unassigned")
    page._apply_split()
    splits = {v: season.video(v).split for v in SEASON}
    assert splits == {"plot2": "train", "plot10": "unassigned", "plot1": "unassigned"}
    assert sorted(page._selected_ids()) == ["plot1", "plot10"]  # still both after the refresh
    assert [page.table.item(r, 2).text() for r in range(3)] == ["unassigned", "train", "unassigned"]
    monkeypatch.setattr(QMessageBox, "question", lambda *a: pytest.fail("asked to delete two videos"))
    with pytest.raises(ValueError, match="2 videos are selected: click just the one to delete"):
        page._delete_dialog()
    assert page._selected_id() == "plot10"  # Show video: the row clicked last
    control = Qt.KeyboardModifier.ControlModifier
    qtbot.keyPress(page.table, Qt.Key.Key_Control, control)  # held down while the program selects a row
    page.table.selectRow(_ids(page).index("plot2"))
    assert page._selected_ids() == ["plot2"]  # chosen, not added (nor taken out when it was selected)
    page.table.selectRow(_ids(page).index("plot2"))
    assert page._selected_ids() == ["plot2"]
    qtbot.keyRelease(page.table, Qt.Key.Key_Control)


def test_paint_made_while_another_project_is_read_is_asked_about_before_it_goes(
    page, qtbot, tmp_path, gate, monkeypatch
):
    from napari_helpers import wait_loaded
    from qtpy.QtWidgets import QMessageBox

    first = _project(tmp_path / "first.dvos", SEASON)
    second = _project(tmp_path / "second.dvos", {"other": (4, "train", 1, {})})
    page.open_project(first.path)
    page.select_video("plot2")
    wait_loaded(qtbot, page.state)
    asked, answers = [], [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]

    def question(parent, title, text, *args):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    for t, said in ((5, "plot2: painted mask frame 5"), (6, "plot2: painted mask frames 5, 6")):
        job = page.open_project(second.path, wait=False)
        page.viewer.layers["plot2 masks"].paint((t, 8, 8), 1)  # painted while the other project is read
        gate.set()
        qtbot.waitUntil(lambda job=job: job.status is not None, timeout=10_000)
        gate.clear()
        assert said in asked[-1] and f"Open {second.path} anyway" in asked[-1]
        if t == 5:  # answered No: the first project stays, with its paint
            assert str(page.state.project.path) == str(first.path) and page.state.dirty["plot2"] == {5}
            assert "was not opened" in page.status.text() and _ids(page) == ["plot1", "plot2", "plot10"]
    assert str(page.state.project.path) == str(second.path) and len(asked) == 2  # Yes: it opened
    page.open_project(first.path, wait=False)  # nothing painted meanwhile: nothing asked
    gate.set()
    qtbot.waitUntil(lambda: str(page.state.project.path) == str(first.path), timeout=10_000)
    assert len(asked) == 2


def test_set_split_of_several_videos_changes_none_when_one_is_refused(page, tmp_path):
    """Making plot2 and plot10 (pseudo masks) test videos: plot10 is refused, and plot2, set first, stays as it was
    instead of becoming a test video on its own while the table still showed the old splits."""
    season = _project(tmp_path / "season.dvos", SEASON)
    season.video("plot10").set_mask(20, np.ones((16, 16), np.uint8), "pseudo")
    _age(season.path)
    page.open_project(season.path)
    page.table.clearSelection()
    for vid in ("plot2", "plot10"):
        page.table.selectionModel().select(
            page.table.model().index(_ids(page).index(vid), 0),
            page.table.selectionModel().SelectionFlag.Select | page.table.selectionModel().SelectionFlag.Rows,
        )
    assert sorted(page._selected_ids()) == ["plot10", "plot2"]
    page.row_split.setCurrentText("test")
    with pytest.raises(Exception, match="cannot make 'plot10' a test video"):
        page._apply_split()
    assert {v: season.video(v).split for v in ("plot2", "plot10")} == {"plot2": "train", "plot10": "val"}
