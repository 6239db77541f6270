"""Project step: create/open a project store, add videos, list videos with split, tags and masks, pick the one to
work on, and check that every stored part of the project reads (``dvos check``)."""

from __future__ import annotations

import re
import weakref
from pathlib import Path

import numpy as np
from qtpy.QtCore import QItemSelection, QItemSelectionModel, Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
)

from dvos_core.shell import quote
from dvos_napari import _close_guard
from dvos_napari._close_guard import may_leave_project
from dvos_napari._errors import UserMessage, plain_words
from dvos_napari._layers import replaced_message
from dvos_napari._widgets import DvosDock, button, button_grid, compact_combo, section, wrapped_label
from dvos_napari._workers import alive

SPLITS = ("train", "val", "test", "unassigned")
SPLIT_HELP = (
    "train: painted and pseudo-labelled for training; val: checks training progress; test: held out to measure "
    "accuracy (never trained on, never pseudo-labelled); unassigned: e.g. bare-field footage for backgrounds"
)
PROVENANCE_COLUMNS = ("manual", "corrected", "pseudo", "predicted")
COLUMNS = ("video", "frames", "split", "masks", "tags")
WATCH_MS = 2000  # how often the Project step looks for writes by other programs
CHECK_HELP = (
    "read every stored frame, painted mask, prediction, background clip, synthetic clip, object and model once, and "
    "list what cannot be read (the file and the fix) or was left unfinished (how to finish it); only reads, nothing "
    "is changed (dvos check)"
)
CHECK_TITLE = "dvos: project check"
ID_ROLE = Qt.ItemDataRole.UserRole  # a row's video id (column 0)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # what a cell sorts by when its column's header is clicked
FILTER_HELP = (
    "show only the videos whose row holds every word typed here: part of a name, a split (train, val, test, "
    "unassigned) or a tag (site=Avignon); empty shows them all"
)


def natural_key(text: str) -> str:
    """``text`` as it sorts for a person: case ignored, numbers by value (plot2 before plot10)."""
    return re.sub(r"\d+", lambda m: m.group().zfill(20), str(text).casefold())


class VideoCell(QTableWidgetItem):
    """A cell of the video table that sorts by its ``SORT_ROLE`` value (numbers as numbers), else by its text."""

    def __lt__(self, other) -> bool:
        a, b = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if a is None or b is None or type(a) is not type(b):
            return super().__lt__(other)
        return a < b


class VideoTable(QTableWidget):
    """The Project step's video table: Enter (Return) shows the selected video, as a double-click does."""

    enter_pressed = Signal()

    def selectionCommand(self, index, event=None):
        """A row selected by the program (no click or key behind it) replaces the selection, whatever keys are
        held (Ctrl would add it to the selection, or take it out)."""
        if event is None:
            return QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        return super().selectionCommand(index, event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.selectionModel().hasSelection():
            event.accept()
            self.enter_pressed.emit()
            return
        super().keyPressEvent(event)


KEEPS_NOTHING = "nothing was added (a video goes into the project whole or not at all)"


def check_report(where: str, found) -> str:
    """The findings of :func:`~dvos_core.store.check.check_project` on the project at ``where``, in the panel's words
    (one paragraph each: what, where, and the fix)."""
    from dvos_core.store.check import tally

    head = f"{where}: {tally(found)}"
    parts = [f"{f.kind.upper()}: {f.where}\n{plain_words(f.message)}" for f in found]
    return "\n\n".join([head, *parts])


def add_layer_frames(project, video_id, frames, rgb, name, split, tags, progress=None, cancel=None):
    """Store the frames of an image layer (T,H,W,3 or T,H,W) as a new video (runs in a worker thread), one frame at a
    time: a lazy layer (a video opened with File > Open) is never read whole into memory."""
    if not hasattr(frames, "shape") or not hasattr(frames, "__getitem__"):
        frames = np.asarray(frames)
    shape = tuple(int(s) for s in frames.shape)
    grey = len(shape) == 3 and not rgb
    if not grey and (len(shape) != 4 or shape[-1] not in (3, 4)):
        raise ValueError(f"layer {name!r} has shape {shape}; a video is time x height x width x RGB")
    from dvos_core.io import to_rgb8
    from dvos_core.io.readers import warn_dim_16bit

    warn_dim_16bit(frames[0], lambda t: np.asarray(frames[t]), shape[0], f"layer {name!r}")

    def frame(t: int) -> np.ndarray:
        f = np.asarray(frames[t])
        if grey:
            f = np.repeat(f[..., None], 3, axis=-1)
        return (f if f.dtype == np.uint8 else to_rgb8(f, where=name))[..., :3]

    return project.add_video_frames(  # all or nothing: a failed or cancelled store leaves no part of a video
        video_id,
        (frame(t) for t in range(shape[0])),
        shape[0],
        shape[1:3],
        progress,
        cancel,
        source=f"napari layer {name}",
        split=split,
        tags=tags,
    )


def delete_question(project, video_id: str, unsaved: int = 0) -> str:
    """What deleting ``video_id`` loses, as the question to confirm it."""
    try:
        video = project.video(video_id)
        counts = {k: n for k, n in video.provenance_counts().items() if n and k != "none"}
        sets = video.predictions.models()
        held = f"its {video.n_frames} frames"
        held += ", masks (" + ", ".join(f"{n} {k}" for k, n in counts.items()) + ")" if counts else ""
        held += f", predictions of {', '.join(sets)}" if sets else ""
    except Exception:  # a damaged video can be deleted too
        held = "what is stored of it (its files cannot all be read)"
    made = project.derived_from(video_id)
    if made["heads"] or made["fakes"]:
        held += f", the {made['heads']} heads and {made['fakes']} fakes cut from it"
    if made["backgrounds"]:
        held += f", the {len(made['backgrounds'])} background clip(s) inpainted from it"
    lost = f" The {unsaved} painted frame(s) not saved yet are lost too." if unsaved else ""
    return (
        f"Delete video {video_id!r} from the project for good? {held[0].upper() + held[1:]} go with it; the file it "
        f"was imported from stays where it is. There is no undo.{lost}"
    )


class ProjectDock(DvosDock):
    """Open or create a project, add videos (files or an open image layer), pick the video to work on."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.path_label = wrapped_label("no project open")
        self.new_button = button("New...", self._new_dialog, "create an empty project folder (name it e.g. field.dvos)")
        self.open_button = button("Open...", self._open_dialog, "open an existing project folder (*.dvos)")
        self.check_button = button("Check project...", lambda: self.guard(self.check_project), CHECK_HELP)
        self.check_window: QDialog | None = None  # the findings of the last check, made when first needed
        self.check_text: QPlainTextEdit | None = None
        self.check_findings: list | None = None  # of the last check that finished

        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.split_combo = compact_combo(SPLITS, SPLIT_HELP)
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("e.g. site=Avignon stage=flowering")
        self.tags_edit.setToolTip("free key=value notes stored with the video, separated by spaces")
        self.height_edit = QSpinBox()
        self.height_edit.setRange(0, 8192)
        self.height_edit.setSingleStep(32)
        self.height_edit.setSpecialValueText("keep size")
        self.height_edit.setToolTip(
            "resize frames to this height and crop them square (e.g. 1024); 'keep size' stores them as they are"
        )
        form.addRow("split", self.split_combo)
        form.addRow("tags", self.tags_edit)
        form.addRow("resize to (px)", self.height_edit)
        self.add_file_button = button("From file...", self._add_file_dialog, "import a video file or multi-page TIFF")
        self.add_folder_button = button(
            "From folder...", self._add_folder_dialog, "import a folder of images (PNG/JPG/TIFF), one image per frame"
        )
        self.add_layer_button = button(
            "From selected layer",
            lambda: self.guard(self.add_layer),
            "store the selected image layer (time x height x width x RGB) as a video",
        )

        self.table = VideoTable(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # Set split: all at once
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setMinimumHeight(130)
        self.table.cellDoubleClicked.connect(lambda r, c: self.guard(self.select_video, self._row_id(r)))
        self.table.enter_pressed.connect(lambda: self.guard(self._show_selected))
        self.table.setToolTip(
            "double-click a video (or select it and press Enter) to show it; click a column's name to sort by it; "
            "the video shown is in bold"
        )
        header = self.table.horizontalHeader()
        header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)  # by name (plot2 before plot10) until clicked
        self.table.setSortingEnabled(True)
        self.table.model().layoutChanged.connect(self._scroll_to_selected)  # sorted: keep the selection in view
        self.reading_label = wrapped_label("")  # in place of the table while an opened project's videos are read
        self.reading_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.table_area = QStackedWidget()
        self.table_area.addWidget(self.table)
        self.table_area.addWidget(self.reading_label)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("filter: name, split or tag")
        self.filter_edit.setToolTip(FILTER_HELP)
        self.filter_edit.setClearButtonEnabled(True)
        for b in self.filter_edit.findChildren(QToolButton):  # the clear button
            b.setToolTip("clear the filter: list every video")
        self.filter_edit.textChanged.connect(lambda *_: self._apply_filter())
        self.shown_label = wrapped_label("")
        self._reading = None  # the project being opened (state.opening) while this step shows that it is read

        self.row_split = compact_combo(SPLITS, SPLIT_HELP)
        self.show_button = button("Show video", lambda: self.guard(self._show_selected), "show the selected video")
        self.split_button = button(
            "Set split",
            lambda: self.guard(self._apply_split),
            "give the selected videos this split (Ctrl- or Shift-click rows to select several)",
        )
        split_row = QHBoxLayout()
        split_row.addWidget(self.show_button)
        split_row.addWidget(self.row_split, 1)
        split_row.addWidget(self.split_button)
        self.delete_button = button(
            "Delete...",
            lambda: self.guard(self._delete_dialog),
            "delete the selected video from the project, with its masks and predictions (asks first; the file "
            "it was imported from stays)",
        )
        self.summary_label = wrapped_label("")

        lay = QVBoxLayout(self.body)
        lay.addWidget(self.path_label)
        lay.addLayout(button_grid(self.new_button, self.open_button))
        check_row = QHBoxLayout()
        check_row.addWidget(self.check_button)
        check_row.addStretch(1)
        lay.addLayout(check_row)
        lay.addWidget(section("Add a video"))
        lay.addLayout(form)
        lay.addLayout(button_grid(self.add_file_button, self.add_folder_button, self.add_layer_button))
        lay.addWidget(section("Videos"))
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.shown_label)
        lay.addLayout(filter_row)
        lay.addWidget(self.table_area, 1)
        lay.addLayout(split_row)
        delete_row = QHBoxLayout()
        delete_row.addStretch(1)
        delete_row.addWidget(self.delete_button)
        lay.addLayout(delete_row)
        lay.addWidget(self.summary_label)
        lay.addWidget(self.job_bar)
        self._busy_widgets = [self.add_file_button, self.add_folder_button, self.add_layer_button, self.check_button]
        # what acts on the open project: off while another project's videos are read (it replaces this one)
        self._open_project_widgets = [
            *self._busy_widgets,
            self.show_button,
            self.row_split,
            self.split_button,
            self.delete_button,
            self.filter_edit,
        ]

        self.listen(self.state.project_changed, lambda *_: self._project_changed())
        self.listen(self.state.opening_changed, self._opening_changed)
        self.listen(self.state.store_changed, self.refresh)
        self.listen(self.state.video_changed, lambda *_: self._highlight_current())
        self._gone_warned: str | None = None
        self.refresh()
        # another program (the dvos command line) may write the project while it is open here: look every few
        # seconds (a stat of the project folder) and refresh the steps once it has finished writing
        from qtpy.QtCore import QTimer

        self.watch_timer = QTimer(self)
        self.watch_timer.setInterval(WATCH_MS)
        self.watch_timer.timeout.connect(self.check_store)
        self.watch_timer.start()

    def on_closed(self) -> None:
        self.watch_timer.stop()  # a closed step looks no more (the one opened again looks)
        if self.state.opening is not None and self.state.opening.owner is self:
            self.state.cancel_opening()  # nobody would see the project it opens

    def window_closed(self) -> None:
        super().window_closed()  # first: this step stops listening, so the cancel below reaches none of its widgets
        self.state.cancel_opening()  # the window closed: nobody would see a project opened in it (even a dropped one)

    def on_reopened(self) -> None:
        self.watch_timer.start()

    def check_store(self) -> bool:
        """Refresh the steps when another program wrote the project (True when it did); warn once when it deleted
        the video shown here."""
        try:
            changed = self.state.check_store()
        except Exception:  # a vanished or unreadable folder: the next action reports it in words
            return False
        vid, p = self.state.video_id, self.state.project
        if changed and vid is not None and p is not None and self._gone_warned != vid:
            try:
                gone = vid not in p.video_ids()
            except Exception:
                gone = False
            from napari.utils.notifications import show_warning

            if gone:
                self._gone_warned = vid
                show_warning(
                    f"dvos: video {vid!r} was deleted from the project by another program; its layers stay open "
                    f"but nothing can be saved into it (save the masks layer as files to keep painted frames)"
                )
            elif self.state.shown_video_replaced():  # its layers hold unsaved work (else the new video is shown)
                self._gone_warned = vid
                show_warning(f"dvos: {replaced_message(p.video(vid))}")
        return changed

    # ---- actions (also called by tests and scripts) --------------------------------------------------------
    def create_project(self, path, overwrite: bool = False):
        return self.state.create_project(path, overwrite=overwrite)

    def open_project(self, path, wait: bool = True):
        """Open the project at ``path`` and return it. With ``wait=False`` (the Open... button) its videos are read
        in a worker thread first, the table saying so meanwhile, and the project is shown once they are read
        (:meth:`DvosState.open_project_later`): the window does not freeze on a project of many videos. Returns
        that Job then."""
        if wait:
            return self.state.open_project(path)
        agreed = _close_guard.unsaved_work(self.viewer, self.state)  # Open... asked about it before the dialog
        return self.state.open_project_later(path, agreed=agreed, owner=self).job

    def open_or_upgrade(self, path, ask=None, wait: bool = True):
        """Open the project at ``path`` (``wait``: see :meth:`open_project`); one written by an older dvos is first
        upgraded in place (``dvos migrate``) in a job of this step when ``ask(path, old_schema)`` (default: a
        question to the user) agrees, and opened when that finishes. Returns what :meth:`open_project` returns, the
        upgrade's Job, or None when the user said no."""
        from dvos_core.store import SCHEMA_VERSION, Project
        from dvos_core.store.project import migrate_project

        old = Project.outdated(path)
        if old is None:
            return self.open_project(path, wait=wait)
        if not (ask or self._ask_upgrade)(path, old):
            self.messages.info(
                f"{path} was not opened: it was made by an older dvos (store schema {old}, this dvos uses "
                f"{SCHEMA_VERSION}); open it again to upgrade it, or run `dvos migrate {quote(path)}` in a terminal"
            )
            return None
        job = self.run(migrate_project, str(path), label="upgrade the project", process=False)
        if job is not None:
            job.finished.connect(lambda status: status == "ok" and self.guard(self.open_project, path, wait=wait))
        return job

    def _ask_upgrade(self, path, old: int) -> bool:
        from dvos_core.store import SCHEMA_VERSION

        text = (
            f"{path} was made by an older dvos (store schema {old}); this dvos uses schema {SCHEMA_VERSION}.\n\n"
            "Upgrade it in place now? It takes a moment and keeps every frame, mask, model and prediction. An older "
            "dvos cannot open it afterwards: if another computer still uses one, back the folder up first."
        )
        answer = QMessageBox.question(self, "Upgrade the project", text)
        return answer == QMessageBox.StandardButton.Yes

    def add_video(self, path, video_id=None, split=None, tags=None):
        """Import a video file in a child process; shows it when done. Returns the Job."""
        from dvos_core.io import Preprocess

        project = self.state.require_project()
        h = self.height_edit.value()
        pre = Preprocess(height=h, crop=(h, h)) if h else None
        split = split or self.split_combo.currentText()
        tags = self._tags() if tags is None else tags
        return self.run(
            "dvos_core.io:import_video",
            project,
            str(path),
            video_id=video_id,
            preprocess=pre,
            split=split,
            tags=tags,
            label=f"import {Path(path).name}",
            on_result=self._imported,
            cancel_keeps=KEEPS_NOTHING,
        )

    def add_layer(self, layer=None, video_id=None, split=None):
        """Store an image layer (T,H,W,3 or T,H,W) as a new video, in a worker thread (its data lives in napari)."""
        from napari.layers import Image

        from dvos_core.store import safe_id

        project = self._require_project()
        layer = layer or self.viewer.layers.selection.active
        if not isinstance(layer, Image):
            images = [  # image layers not yet in the project (a project video's layer carries its video id)
                x.name for x in self.viewer.layers if isinstance(x, Image) and not (x.metadata or {}).get("dvos_video")
            ]
            what = f"the selected layer {layer.name!r} is not a video; " if layer is not None else ""
            if not images:
                raise ValueError(
                    f"{what}no video is open in napari to store: use From file... above, or open one first "
                    f"(File > Open, or the demo clip: File > Open Sample > dvos)"
                )
            raise ValueError(
                f"{what}click the image layer to store ({', '.join(repr(n) for n in images)}) in the layer list "
                f"first (a video: time x height x width x RGB), then click From selected layer again"
            )
        source = weakref.ref(layer)  # weakly: napari keeps a finished job's callbacks, which must not pin a video
        return self.run(
            add_layer_frames,
            project,
            video_id or safe_id(layer.name),
            layer.data,
            layer.rgb,
            layer.name,
            split or self.split_combo.currentText(),
            self._tags(),
            label=f"add layer {layer.name}",
            on_result=lambda video: self._imported(video, source=source()),
            process=False,
            cancel_keeps=KEEPS_NOTHING,
        )

    def check_project(self, models: bool = True):
        """Read the whole open project once in a child process (``check_project``, as ``dvos check``): progress and
        Cancel in the step's job bar; the findings are listed in a window when it ends. Returns the Job."""
        from dvos_core.store import Project

        where = str(self._require_project().path)
        readonly = Project.open(where, mode="r")  # the check only reads
        job = self.run(  # notify=False: _checked says how it ended (a cancelled check kept nothing: it only reads)
            "dvos_core.store.check:check_project", readonly, models=models, label="check project", notify=False
        )
        if job is not None:  # shown even when another project was opened meanwhile: the findings name their project
            job.finished.connect(lambda status, job=job: self._checked(where, status, job.result))
        return job

    def select_video(self, video_id: str) -> None:
        self.state.select_video(video_id)

    def set_split(self, video_id: str, split: str) -> None:
        self.state.require_project().set_split([video_id], split)  # (warns of objects cut from a new test video)
        self.state.notify_store_changed()

    def delete_video(self, video_id: str) -> None:
        """Delete a video from the project (``Project.delete``, as ``dvos delete P video ID --yes``): its layers
        leave the viewer first (they read the store), then the video with its masks and predictions goes."""
        from dvos_napari._layers import remove_video_layers

        project = self.state.require_project()
        if video_id not in project.video_ids():
            raise ValueError(f"no video {video_id!r} in the project")
        # the writer lock first: while another program writes the project, the delete is refused before the
        # layers (and their unsaved paint) go, not after
        with project.writing(operation=f"delete video {video_id}"):
            if self.state.viewer is not None:
                remove_video_layers(self.state.viewer, video_id)
            self.state.dirty.pop(video_id, None)
            if self.state.video_id == video_id:
                self.state.select_video(None, show=False)
            project.delete("video", video_id)
        self.state.notify_store_changed()

    # ---- dialogs -------------------------------------------------------------------------------------------
    def _new_dialog(self) -> None:
        if not may_leave_project(self, self.viewer, self.state, "Start a new project anyway"):
            return
        path, _ = QFileDialog.getSaveFileName(self, "New dvos project (a folder)", "field.dvos")
        if path:
            self.guard(self.create_project, path if path.endswith(".dvos") else path + ".dvos")

    def _open_dialog(self) -> None:
        if not may_leave_project(self, self.viewer, self.state, "Open another project anyway"):
            return
        path = QFileDialog.getExistingDirectory(self, "Open a dvos project folder")
        if path:
            self.guard(self.open_or_upgrade, path, wait=False)

    def _add_file_dialog(self) -> None:
        if self.guard(self._require_project) is None:  # say so before the user looks for a file, not after
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a video", "", "Videos (*.mp4 *.avi *.mov *.mkv *.m4v *.tif *.tiff);;All files (*)"
        )
        if path:
            self._add_chosen(path)

    def _add_folder_dialog(self) -> None:
        if self.guard(self._require_project) is None:
            return
        path = QFileDialog.getExistingDirectory(self, "Add a video: a folder of images, one per frame")
        if path:
            self._add_chosen(path)

    def _add_chosen(self, path) -> None:
        """Add the video at ``path``; when its name is already a video's id (cameras name their files alike in
        every plot folder), ask which id to store it under first."""
        video_id = self.guard(self._free_id, path)
        if video_id:
            self.guard(self.add_video, path, video_id=video_id)

    def _free_id(self, path) -> str | None:
        """The id a video at ``path`` is stored under: its name, or, when a video of that id is in the project, the
        one the user types (a free one suggested: the parent folder's name before it); None when cancelled."""
        from qtpy.QtWidgets import QInputDialog

        from dvos_core.io.import_video import source_name
        from dvos_core.store import safe_id
        from dvos_core.store.schema import check_id

        taken = set(self.state.require_project().video_ids())
        name = safe_id(source_name(path))
        if name not in taken:
            return name
        parent = Path(path).resolve().parent.name
        base = safe_id(f"{parent}_{name}") if parent else f"{name}_2"
        suggest, k = base, 2
        while suggest in taken:
            suggest, k = f"{base}_{k}", k + 1
        while True:
            text, ok = QInputDialog.getText(
                self,
                "Store under another id",
                f"A video {name!r} is already in the project. Store {Path(path).name} under the id:",
                text=suggest,
            )
            if not ok or not text.strip():
                return None
            try:
                chosen = check_id(text.strip(), "video id")
            except ValueError as e:
                QMessageBox.warning(self, "Not a video id", str(e))
                continue
            if chosen not in taken:
                return chosen
            QMessageBox.warning(self, "Id taken", f"a video {chosen!r} is already in the project; choose another id")

    # ---- helpers -------------------------------------------------------------------------------------------
    def _require_project(self):
        """The open project, or an error saying which button of this step makes one."""
        if self.state.project is None:
            raise ValueError(
                "no project is open yet: click New... above to create one (or Open... to continue one), then add "
                "your video"
            )
        return self.state.project

    def _tags(self) -> dict:
        out = {}
        for part in self.tags_edit.text().split():
            if "=" not in part:
                raise ValueError(f"tag {part!r} must look like key=value (e.g. site=Avignon)")
            k, v = part.split("=", 1)
            out[k] = v
        return out

    def _project_changed(self) -> None:
        self.forget_messages()  # also when this step is a dock of its own, outside the panel
        self.refresh()

    # ---- a project opened in the background (Open..., a dropped folder, the launcher) ---------------------------
    def _opening_changed(self, opening) -> None:
        """A project began to be opened (the table says that its videos are read), or ended (shown, kept out, or
        failed: say why)."""
        if not (alive(self) and alive(self.table_area)):  # (its window was closed)
            return
        if opening.outcome is None:
            self._show_reading(opening)
            return
        if opening.outcome == "failed" and opening.message is not None:
            text = f"could not open the project: {opening.message.text}"  # the notification said it too
            self.messages.error(UserMessage(text, opening.message.details))
        elif opening.outcome == "kept":
            self.messages.info(opening.message.text)
        if self._reading is not None:
            self.refresh()  # back to the project open now (or on to the next one being read)

    def _show_reading(self, opening) -> None:
        if opening is self._reading:
            return
        self._reading = opening
        opening.job.progressed.connect(lambda done, total, _m, o=opening: self._reading_progress(o, done, total))
        self.path_label.setText(f"opening {opening.path}: reading its {opening.n} video(s)...")
        self.reading_label.setText(f"reading {opening.n} video(s)...")
        self.table_area.setCurrentWidget(self.reading_label)
        self.shown_label.setText("")
        for w in self._open_project_widgets:
            w.setEnabled(False)

    def _end_reading(self) -> None:
        self._reading = None
        self.table_area.setCurrentWidget(self.table)
        for w in self._open_project_widgets:
            w.setEnabled(True)
        self._set_busy(self.job is not None and self.job.running)

    def _reading_progress(self, opening, done: int, total: int) -> None:
        if alive(self) and opening is self._reading:  # (a job reports on after its step was deleted)
            self.reading_label.setText(f"reading {total} video(s)... {done} read")

    def _set_busy(self, busy: bool) -> None:
        super()._set_busy(busy or self._reading is not None)

    def _checked(self, where: str, status: str, found) -> None:
        from napari.utils.notifications import show_info, show_warning

        if status == "cancelled":
            text = f"check project: cancelled before it read everything; {where} was not changed (a check only reads)"
            self.messages.info(text)
            show_info(f"dvos: {text}")
            return
        if status != "ok":
            return  # the job bar said what went wrong
        self.check_findings = list(found)
        if not found:
            text = f"check project: every stored part of {where} reads, and no step was left unfinished"
            self.messages.info(text)
            show_info(f"dvos: {text}")
            if self.check_window is not None:
                self.check_window.hide()  # an earlier list no longer holds
            return
        from dvos_core.store.check import tally

        text = (
            f"check project: {where}: {tally(found)}; each one with what to do "
            f"is listed in the window '{CHECK_TITLE}' (Check project... reads the project again)"
        )
        raw = "\n".join(f.line() for f in found)  # as `dvos check` prints them
        self.messages.error(UserMessage(text, raw))
        show_warning(f"dvos: {text}")
        self._show_check_window(check_report(where, found))

    def _show_check_window(self, report: str) -> None:
        """The findings in a window of their own (not modal: the project stays usable while they are fixed)."""
        if self.check_window is None:
            self.check_window = QDialog(self)
            self.check_window.setWindowTitle(CHECK_TITLE)
            self.check_window.setModal(False)
            self.check_text = QPlainTextEdit()
            self.check_text.setReadOnly(True)
            buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
            buttons.rejected.connect(self.check_window.hide)
            lay = QVBoxLayout(self.check_window)
            lay.addWidget(self.check_text)
            lay.addWidget(buttons)
            self.check_window.resize(640, 420)
        self.check_text.setPlainText(report)
        self.check_window.show()
        self.check_window.raise_()

    def _imported(self, video, source=None) -> None:
        """A video was stored: show it. The layer it was stored from (From selected layer), when it has the name the
        stored video's layer takes, leaves the viewer: the stored frames (resized, or in RGB) are shown in its place,
        rather than beside a copy of the same name."""
        from dvos_napari._names import image_name

        viewer = self.state.viewer
        if (
            source is not None
            and viewer is not None
            and any(x is source for x in viewer.layers)
            and source.name == image_name(video.name)
            and not (source.metadata or {}).get("dvos_role")
        ):
            viewer.layers.remove(source)
        self.state.notify_store_changed()
        self.state.select_video(video.name)

    def _row_id(self, row: int) -> str:
        item = self.table.item(row, 0)
        vid = item.data(ID_ROLE)
        return item.text() if vid is None else vid

    def _row_of(self, video_id) -> int | None:
        return next((r for r in range(self.table.rowCount()) if self._row_id(r) == video_id), None)

    def _selected_ids(self) -> list[str]:
        return [self._row_id(i.row()) for i in self.table.selectionModel().selectedRows()]

    def _selected_id(self, one: str = "") -> str:
        """The selected video (the row clicked last of several, or with ``one``, the action, an error saying to
        select one)."""
        ids = self._selected_ids()
        if not ids:
            raise ValueError("select a video in the table first")
        if one and len(ids) > 1:
            raise ValueError(f"{len(ids)} videos are selected: click just the one to {one}")
        current = self.table.currentRow()
        return self._row_id(current) if current >= 0 and self._row_id(current) in ids else ids[0]

    def _show_selected(self) -> None:
        self.select_video(self._selected_id())

    def _apply_split(self) -> None:
        ids = self._selected_ids()
        if not ids:
            raise ValueError("select a video in the table first")
        project, split = self.state.require_project(), self.row_split.currentText()
        try:  # one refused (say pseudo masks for a test video) leaves every selected one as it was
            project.set_split(ids, split)
        finally:
            self.state.notify_store_changed()

    def _delete_dialog(self) -> None:
        vid = self._selected_id(one="delete")
        text = delete_question(self.state.require_project(), vid, len(self.state.dirty.get(vid, ())))
        answer = QMessageBox.question(self, "Delete a video", text)
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_video(vid)

    def _highlight_current(self) -> None:
        """The video shown: in bold, and selected."""
        self._mark_current()
        r = self._row_of(self.state.video_id)
        if r is not None:
            self.table.selectRow(r)

    def _mark_current(self) -> None:
        """The video shown in bold (the others not)."""
        table = self.table
        table.setSortingEnabled(False)  # a changed cell would be sorted again on its own
        try:
            for r in range(table.rowCount()):
                bold = self._row_id(r) == self.state.video_id
                for c in range(table.columnCount()):
                    item = table.item(r, c)
                    if item is not None and item.font().bold() != bold:
                        font = item.font()
                        font.setBold(bold)
                        item.setFont(font)
        finally:
            table.setSortingEnabled(True)

    def _select_rows(self, rows: list[int]) -> None:
        model, chosen = self.table.model(), QItemSelection()
        for r in rows:
            chosen.select(model.index(r, 0), model.index(r, self.table.columnCount() - 1))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.table.selectionModel().select(chosen, flags)

    def _scroll_to_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.table.scrollTo(rows[0])

    def _apply_filter(self) -> None:
        """Hide the rows that do not hold every word of the filter box; say how many are shown."""
        words = self.filter_edit.text().casefold().split()
        table, shown = self.table, 0
        for r in range(table.rowCount()):
            text = " ".join(table.item(r, c).text() for c in range(table.columnCount())).casefold()
            hide = not all(w in text for w in words)
            table.setRowHidden(r, hide)
            shown += not hide
            if hide and table.item(r, 0).isSelected():  # a hidden video is not what Set split or Delete acts on
                table.selectionModel().select(
                    table.model().index(r, 0),
                    QItemSelectionModel.SelectionFlag.Deselect | QItemSelectionModel.SelectionFlag.Rows,
                )
        n = table.rowCount()
        self.shown_label.setText(f"{shown} of {n} shown" if words and n else "")

    def refresh(self) -> None:
        if self.state.opening is not None:  # another project is being opened: its table comes when it is read
            self._show_reading(self.state.opening)
            return
        if self._reading is not None:
            self._end_reading()
        p = self.state.project
        table = self.table
        keep = self._selected_ids()  # the same videos stay selected, and the table where it was scrolled
        current = self._row_id(table.currentRow()) if table.currentRow() >= 0 else None
        scrolled = table.verticalScrollBar().value()
        table.setSortingEnabled(False)  # rows are filled in place, then sorted once by the header's column
        try:
            table.setRowCount(0)
            if p is None:
                self.path_label.setText(
                    "no project open. Start here: New... creates a project folder (e.g. field.dvos) for your videos "
                    "and masks; Open... continues one (or drop a .dvos folder on napari)"
                )
                self.summary_label.setText("")
                self.shown_label.setText("")
                table.resizeColumnsToContents()  # the column names fit without a sideways scroll bar
                return
            s = self.state.summary()
            self.path_label.setText(f"project: {s['path']}")
            table.setRowCount(len(s["videos"]))
            for r, v in enumerate(s["videos"]):
                self._fill_row(r, v)
        finally:
            table.setSortingEnabled(True)
        table.resizeColumnsToContents()
        self.summary_label.setText(
            f"{s['objects']['head']} heads, {s['objects']['fake']} fakes extracted; {len(s['backgrounds'])} "
            f"background clips; synthetic sets: {', '.join(s['synthetic']) or 'none'}; "
            f"models: {', '.join(s['models']) or 'none'}"
        )
        self._apply_filter()
        self._mark_current()
        rows = [r for r in map(self._row_of, keep) if r is not None and not table.isRowHidden(r)]
        if rows:
            self._select_rows(rows)
            if (r := self._row_of(current)) in rows:  # the row clicked last: the one Show video shows
                table.selectionModel().setCurrentIndex(
                    table.model().index(r, 0), QItemSelectionModel.SelectionFlag.NoUpdate
                )
        else:
            r = self._row_of(self.state.video_id)
            if r is not None and not table.isRowHidden(r):
                table.selectRow(r)
        table.verticalScrollBar().setValue(scrolled)

    def _fill_row(self, r: int, v: dict) -> None:
        """Row ``r`` of the table: video ``v`` (a row of the project's summary)."""
        counts = v["provenance"]
        masks = ", ".join(f"{counts[k]} {k}" for k in PROVENANCE_COLUMNS if counts.get(k))
        masked = sum(n for n in counts.values() if isinstance(n, int))
        if not v["complete"]:  # the leftover of a killed import: no step uses it
            masks, masked = "interrupted import: add it again under this id, or Delete...", -1
        tags = " ".join(f"{k}={val}" for k, val in v["tags"].items())
        split = v["split"]
        cells = [
            (v["id"], natural_key(v["id"])),
            (v["frames"], int(v["frames"] or 0)),
            (split, SPLITS.index(split) if split in SPLITS else len(SPLITS)),
            (masks or "none", masked),
            (tags, natural_key(tags)),
        ]
        tip = v.get("unreadable") or (  # a damaged video: which file, and how to repair it
            f"{v['id']}: {v['size'][0]}x{v['size'][1]} px, {v['frames']} frames, source {v.get('source') or '?'}"
        )
        for c, (text, key) in enumerate(cells):
            item = VideoCell(str(text))
            item.setData(SORT_ROLE, key)
            item.setToolTip(tip)
            if c == 0:
                item.setData(ID_ROLE, v["id"])
            self.table.setItem(r, c, item)
