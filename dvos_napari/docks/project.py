"""Project dock: create/open a project store, add videos, list videos with split, tags and mask provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from dvos_napari._widgets import DvosDock, button

SPLITS = ("train", "val", "test", "unassigned")
PROVENANCE_COLUMNS = ("manual", "corrected", "pseudo", "predicted")
COLUMNS = ("video", "frames", "split", "masks", "tags")


class ProjectDock(DvosDock):
    """Open or create a project, add videos (files or an open image layer), pick the video to work on."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.path_label = QLabel("no project open")
        self.path_label.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(button("New...", self._new_dialog, "create an empty project folder (name it e.g. field.dvos)"))
        row.addWidget(button("Open...", self._open_dialog, "open an existing project folder"))

        add_box = QGroupBox("Add a video")
        form = QFormLayout(add_box)
        self.split_combo = QComboBox()
        self.split_combo.addItems(SPLITS)
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("e.g. site=Avignon stage=flowering")
        self.height_edit = QLineEdit()
        self.height_edit.setPlaceholderText("keep size (or e.g. 1024 to resize + square crop)")
        form.addRow("split", self.split_combo)
        form.addRow("tags", self.tags_edit)
        form.addRow("resize height", self.height_edit)
        add_row = QHBoxLayout()
        self.add_file_button = button("From file...", self._add_file_dialog, "import a video file or multi-page TIFF")
        self.add_folder_button = button(
            "From folder...", self._add_folder_dialog, "import a folder of images (PNG/JPG/TIFF), one image per frame"
        )
        self.add_layer_button = button(
            "From selected layer",
            lambda: self.guard(self.add_layer),
            "store the selected (T,H,W,3) image layer as a video",
        )
        add_row.addWidget(self.add_file_button)
        add_row.addWidget(self.add_folder_button)
        add_row.addWidget(self.add_layer_button)
        form.addRow(add_row)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellDoubleClicked.connect(lambda r, c: self.guard(self.select_video, self._row_id(r)))
        self.table.setToolTip("double-click a video to show it")

        split_row = QHBoxLayout()
        self.row_split = QComboBox()
        self.row_split.addItems(SPLITS)
        split_row.addWidget(button("Show video", lambda: self.guard(self._show_selected)))
        split_row.addWidget(QLabel("set split:"))
        split_row.addWidget(self.row_split)
        split_row.addWidget(button("Apply", lambda: self.guard(self._apply_split)))
        self.summary_label = QLabel("")
        self.summary_label.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.addWidget(self.path_label)
        lay.addLayout(row)
        lay.addWidget(add_box)
        lay.addWidget(self.table, 1)
        lay.addLayout(split_row)
        lay.addWidget(self.summary_label)
        lay.addWidget(self.job_bar)
        self._busy_widgets = [self.add_file_button, self.add_folder_button, self.add_layer_button]

        self.state.project_changed.connect(lambda *_: self.refresh())
        self.state.store_changed.connect(self.refresh)
        self.state.video_changed.connect(lambda *_: self._highlight_current())
        self.refresh()

    # ---- actions (also called by tests and scripts) --------------------------------------------------------
    def create_project(self, path, overwrite: bool = False):
        return self.state.create_project(path, overwrite=overwrite)

    def open_project(self, path):
        return self.state.open_project(path)

    def add_video(self, path, video_id=None, split=None, tags=None):
        """Import a video file in the background; shows it when done. Returns the Job."""
        from dvos_core.io import Preprocess, import_video

        project = self.state.require_project()
        h = self.height_edit.text().strip()
        pre = Preprocess(height=int(h), crop=(int(h), int(h))) if h else None
        split = split or self.split_combo.currentText()
        tags = self._tags() if tags is None else tags
        return self.run(
            import_video,
            project,
            str(path),
            video_id=video_id,
            preprocess=pre,
            split=split,
            tags=tags,
            label=f"import {Path(path).name}",
            on_result=self._imported,
        )

    def add_layer(self, layer=None, video_id=None, split=None):
        """Store an image layer (T,H,W,3 or T,H,W) as a new video, in the background."""
        project = self.state.require_project()
        layer = layer or self.viewer.layers.selection.active
        from napari.layers import Image

        if not isinstance(layer, Image):
            raise ValueError("select an image layer (a video: time x height x width x RGB) first")
        from dvos_core.store import safe_id

        vid = video_id or safe_id(layer.name)
        split = split or self.split_combo.currentText()
        tags = self._tags()
        data = layer.data

        def add(progress=None, cancel=None):
            frames = np.asarray(data)
            if frames.ndim == 3 and not layer.rgb:
                frames = np.repeat(frames[..., None], 3, axis=-1)
            if frames.ndim != 4 or frames.shape[-1] not in (3, 4):
                raise ValueError(f"layer {layer.name!r} has shape {frames.shape}; expected a video (T,H,W,3)")
            if frames.dtype != np.uint8:
                from dvos_core.io import to_rgb8

                frames = np.stack([to_rgb8(f, where=layer.name) for f in frames])
            video = project.create_video(
                vid, frames.shape[1], frames.shape[2], source=f"napari layer {layer.name}", split=split, tags=tags
            )
            video.append_frames((f[..., :3] for f in frames), n_total=len(frames), progress=progress, cancel=cancel)
            return video

        return self.run(add, label=f"add layer {layer.name}", on_result=self._imported)

    def select_video(self, video_id: str) -> None:
        self.state.select_video(video_id)

    def set_split(self, video_id: str, split: str) -> None:
        self.state.require_project().video(video_id).set_split(split)
        self.refresh()

    # ---- dialogs -------------------------------------------------------------------------------------------
    def _new_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New dvos project (a folder)", "field.dvos")
        if path:
            self.guard(self.create_project, path if path.endswith(".dvos") else path + ".dvos")

    def _open_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a dvos project folder")
        if path:
            self.guard(self.open_project, path)

    def _add_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a video", "", "Videos (*.mp4 *.avi *.mov *.mkv *.m4v *.tif *.tiff);;All files (*)"
        )
        if path:
            self.guard(self.add_video, path)

    def _add_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a video: a folder of images, one per frame")
        if path:
            self.guard(self.add_video, path)

    # ---- helpers -------------------------------------------------------------------------------------------
    def _tags(self) -> dict:
        out = {}
        for part in self.tags_edit.text().split():
            if "=" not in part:
                raise ValueError(f"tag {part!r} must look like key=value")
            k, v = part.split("=", 1)
            out[k] = v
        return out

    def _imported(self, video) -> None:
        self.state.notify_store_changed()
        self.state.select_video(video.name)

    def _row_id(self, row: int) -> str:
        return self.table.item(row, 0).text()

    def _selected_id(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            raise ValueError("select a video in the table first")
        return self._row_id(rows[0].row())

    def _show_selected(self) -> None:
        self.select_video(self._selected_id())

    def _apply_split(self) -> None:
        self.set_split(self._selected_id(), self.row_split.currentText())

    def _highlight_current(self) -> None:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == self.state.video_id:
                self.table.selectRow(r)

    def refresh(self) -> None:
        p = self.state.project
        self.table.setRowCount(0)
        if p is None:
            self.path_label.setText("no project open: New... or Open... (or drop a .dvos folder on napari)")
            self.summary_label.setText("")
            return
        s = p.summary()
        self.path_label.setText(f"project: {s['path']}")
        self.table.setRowCount(len(s["videos"]))
        for r, v in enumerate(s["videos"]):
            masks = ", ".join(f"{v['provenance'][k]} {k}" for k in PROVENANCE_COLUMNS if v["provenance"].get(k))
            vals = [
                v["id"],
                v["frames"],
                v["split"],
                masks or "none",
                " ".join(f"{k}={val}" for k, val in v["tags"].items()),
            ]
            for c, val in enumerate(vals):
                item = QTableWidgetItem(str(val))
                item.setToolTip(
                    f"{v['id']}: {v['size'][0]}x{v['size'][1]} px, {v['frames']} frames, "
                    f"source {v.get('source') or '?'}"
                )
                self.table.setItem(r, c, item)
        self.summary_label.setText(
            f"{s['objects']['head']} heads, {s['objects']['fake']} fakes extracted; {len(s['backgrounds'])} "
            f"background clips; synthetic sets: {', '.join(s['synthetic']) or 'none'}; "
            f"models: {', '.join(s['models']) or 'none'}"
        )
        self._highlight_current()
