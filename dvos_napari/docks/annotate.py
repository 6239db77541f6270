"""Annotate step: pick seed frames, paint wheat heads on the masks layer, save them (provenance 'manual'); import
masks painted in another program (a folder of mask images, a multi-page TIFF or a COCO JSON file) and export the
saved ones.

Keys (in the viewer): N next seed frame, S save this frame, Shift-S save all painted frames. Painting itself uses
napari's Labels tools (P paint, E erase, F fill, [ ] brush size, Ctrl+Z undo).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dvos_napari import _mask_files as mf
from dvos_napari._layers import (
    check_frame,
    check_paint_not_in_copy,
    differs_from_label,
    is_replaced,
    require_shown_video,
    resolve_replaced,
    video_layer,
)
from dvos_napari._widgets import (
    Collapsible,
    DvosDock,
    WrapCheckBox,
    ask_choice,
    ask_yes_no,
    button,
    button_grid,
    button_row,
    compact_combo,
    on_enter,
    section,
    wrapped_label,
)
from dvos_napari._writer import save_painted

PROVENANCE_CHOICES = {  # what the "made by" box offers: text -> import_masks' provenance
    "as masks.csv lists, else a person": None,
    "a person (manual)": "manual",
    "a person's correction": "corrected",
    "pseudo-labels": "pseudo",
    "a model (predicted)": "predicted",
}
EXPORT_FORMATS = {"PNG files": "png", "TIFF files": "tif", "COCO JSON": "coco"}
_EMPTY_IS_TRUTH = "(An empty mask is ground truth: 'no heads here'.)"


def clear_question(video, t: int) -> str | None:
    """What clearing frame ``t`` of ``video`` removes from the project, as a question; None when no mask is saved
    there (only the layer's paint goes)."""
    from dvos_core.store.schema import NONE, PROVENANCE_NAMES

    code = int(video.provenance[t])
    if code == NONE:
        return None
    kind = PROVENANCE_NAMES.get(code, "saved")
    test_note = " It is ground truth of a test video: its scores change." if video.split == "test" else ""
    return (
        f"Frame {t} of {video.name} holds a saved {kind} mask. Clear frame removes it from the project, and there "
        f"is no undo.{test_note}\n\nClear it?"
    )


class AnnotateDock(DvosDock):
    """Seed-frame painting: the masks you save here are the ground truth everything else is learned from."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.video_label = wrapped_label("no video selected")
        self.n_seeds = QSpinBox()
        self.n_seeds.setRange(1, 200)
        self.n_seeds.setValue(5)
        self.n_seeds.setToolTip(
            "how many frames to paint: spread evenly over the video (5-10 is a good start; Enter: Suggest)"
        )
        on_enter(self.n_seeds, lambda: self.guard(self.suggest_seeds))
        seed_row = button_row(
            QLabel("seed frames:"),
            self.n_seeds,
            button("Suggest", lambda: self.guard(self.suggest_seeds), "spread this many frames evenly over the video"),
        )
        self.seed_list = QListWidget()
        self.seed_list.itemClicked.connect(lambda item: self.goto(int(item.data(256))))
        self.seed_list.itemActivated.connect(lambda item: self.goto(int(item.data(256))))  # Enter on the keyboard
        self.seed_list.setToolTip(
            "click a frame (or pick it with the arrow keys and press Enter) to jump to it; a tick means it already has "
            "a saved mask"
        )
        self.seed_list.setMinimumHeight(110)
        self.seeds: list[int] = []

        buttons = button_grid(
            button(
                "Paint heads",
                lambda: self.guard(self.start_painting),
                "select the masks layer in paint mode (label 1 = head); P paint, E erase, F fill, [ ] brush size",
            ),
            button("Next seed (N)", lambda: self.guard(self.next_seed), "jump to the next seed frame"),
            button(
                "Save frame (S)",
                lambda: self.guard(self.save_frame_asking),
                "save this frame's mask into the project (a frame with nothing painted: asks whether it has no heads)",
            ),
            button(
                "Save all painted (Shift-S)",
                lambda: self.guard(self.save_all_asking),
                "save every frame painted since the last save (frames whose every head was erased: asks first)",
            ),
            button(
                "Clear frame",
                lambda: self.guard(self._clear_dialog),
                "erase this frame's mask in the layer and in the project (asks first when a mask is saved there)",
            ),
        )
        self.info = wrapped_label("")
        files_row = self._mask_file_widgets()

        lay = QVBoxLayout(self.body)
        lay.addWidget(self.video_label)
        lay.addLayout(seed_row)
        lay.addWidget(self.seed_list, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.info)
        lay.addWidget(section("Mask files"))
        lay.addLayout(files_row)
        lay.addWidget(self.file_options)
        lay.addWidget(self.job_bar)
        self._show_job_bar(False)  # painting runs no job: the bar shows while masks are imported or exported
        self._busy_widgets = [self.import_button, self.export_button]
        self.bind_keys({"n": self.next_seed, "s": self.save_frame_asking, "Shift-S": self.save_all_asking})
        self.listen(self.state.video_changed, lambda *_: self._on_video())
        self.listen(self.state.store_changed, self._update_info)
        self.listen(self.state.dirty_changed, lambda *_: self._update_info())
        self._on_video()

    # ---- actions -----------------------------------------------------------------------------------------------
    def masks_layer(self):
        video = self.state.require_video()
        layer = video_layer(self.viewer, video.name, "masks")  # also when the user renamed it
        if layer is None:
            self.state.select_video(video.name)
            layer = video_layer(self.viewer, video.name, "masks")
        require_shown_video(layer, video)  # not paint on a video deleted since, into the one added under its id
        if self.state.loading:
            raise ValueError("the saved masks are still being read into the layer; try again in a moment")
        return video, layer

    def suggest_seeds(self, k: int | None = None) -> list[int]:
        video = self.state.require_video()
        from dvos_core.extract import sample_frames

        n = video.n_frames
        self.seeds = sample_frames(n, n=min(k or self.n_seeds.value(), n)).tolist()
        self._fill_list()
        return self.seeds

    def goto(self, t: int) -> None:
        self.state.show_frame(int(t))

    def next_seed(self) -> int:
        """Jump to the first seed frame after the current one (wrapping around)."""
        if not self.seeds:
            self.suggest_seeds()
        t = self.state.current_frame()
        later = [s for s in self.seeds if s > t]
        nxt = later[0] if later else self.seeds[0]
        self.goto(nxt)
        return nxt

    def start_painting(self) -> None:
        _, layer = self.masks_layer()
        self.viewer.layers.selection.active = layer
        layer.selected_label = 1
        layer.mode = "paint"

    def save_frame_asking(self) -> bool:
        """Save frame's button and key: :meth:`save_frame`, asking first whether a frame with nothing painted is a
        frame without heads, to be saved as such - when it has no stored mask, and when every head of its stored
        mask was erased (answered no, the stored mask stays and the frame stays unsaved)."""
        if self._shown_again():
            return False
        video, layer = self.masks_layer()
        t = check_frame(video, self.state.current_frame(layer))
        self._check_paint_not_in_copy(video, layer, t)
        code = int(video.provenance[t])
        if np.asarray(layer.data[t]).any() or (code and not np.asarray(video.mask(t)).any()):
            return self.save_frame(t)  # painted, or stored as a frame without heads already
        if code:
            if not self._ask_erased(video, [t]):
                return False  # the stored mask stays; the erased frame stays unsaved
            return self.save_frame(t)
        empty = ask_yes_no(
            self,
            "A frame without heads?",
            f"Nothing is painted on frame {t} of {video.name}. Save it as a frame without heads? {_EMPTY_IS_TRUTH}",
        )
        return self.save_frame(t, empty=empty)

    def _ask_erased(self, video, frames) -> bool:
        """Ask whether ``frames``, whose every head of a stored mask was erased, are frames without heads, to be
        saved as such (no: their stored masks stay)."""
        from dvos_core.store.schema import PROVENANCE_NAMES

        if len(frames) == 1:
            t = frames[0]
            kind = PROVENANCE_NAMES[int(video.provenance[t])]
            what = f"Every head of frame {t} of {video.name} was erased (its stored mask is {kind}). Save it"
        else:
            what = (
                f"Every head of frames {', '.join(map(str, frames))} of {video.name} was erased (each holds a stored "
                f"mask). Save them"
            )
        return ask_yes_no(
            self,
            "A frame without heads?" if len(frames) == 1 else "Frames without heads?",
            f"{what} as {'a frame' if len(frames) == 1 else 'frames'} without heads? {_EMPTY_IS_TRUTH} No keeps the "
            "stored mask" + ("" if len(frames) == 1 else "s") + " and leaves the erased paint unsaved.",
        )

    def save_frame(self, t: int | None = None, empty: bool = False) -> bool:
        """Save the masks layer's frame t (default: current) into the project when it differs from the stored mask,
        or when it shows a model's mask (pseudo-label, prediction) as it is: then it is accepted as 'corrected'. An
        empty frame with no stored mask is saved only with ``empty`` (a frame without heads); one as stored is
        nothing to save."""
        from dvos_core.store.schema import PREDICTED, PSEUDO

        if self._shown_again():
            return False
        video, layer = self.masks_layer()
        t = check_frame(video, self.state.current_frame(layer) if t is None else t)
        self._check_paint_not_in_copy(video, layer, t)
        accept = int(video.provenance[t]) in (PSEUDO, PREDICTED)
        bare = empty and not video.provenance[t] and not np.asarray(layer.data[t]).any()
        frames = [t] if accept or bare or differs_from_label(video, layer.data, t) else []
        saved, note = save_painted(self.state, video, layer.data, frames)
        self._after_save(video, saved, unchanged=[t] if not frames else (), note=note)
        return bool(saved)

    def _shown_again(self) -> bool:
        """Before a save: when the current video's masks layer was removed (the user deleted the layers), show it
        again and say that nothing is saved (any paint not saved went with the layer; the saved masks are read into
        the new one). True when it was."""
        from napari.utils.notifications import show_info

        video = self.state.require_video()
        if video_layer(self.viewer, video.name, "masks") is not None:
            return False
        self.state.select_video(video.name)
        text = (
            f"nothing saved: the masks layer of {video.name} had been removed, with any paint not saved in it; it is "
            f"shown again with the saved masks of {video.name}"
        )
        self.messages.info(text)
        show_info(f"dvos: {text}")
        return True

    def _check_paint_not_in_copy(self, video, layer, t: int) -> None:
        """Refuse Save frame on a frame not painted in the masks layer while a copy of the layer holds paint there."""
        if t not in self.state.dirty.get(video.name, ()):
            check_paint_not_in_copy(self.viewer, layer, t, video.name, "Save frame")

    def save_all_asking(self) -> list[int]:
        """Save all painted's button and key: :meth:`save_all`, asking first (once, naming them) whether the painted
        frames whose every head of a stored mask was erased are frames without heads, as Save frame asks."""
        return self.save_all(ask_erased=self._ask_erased)

    def save_all(self, ask_erased=None) -> list[int]:
        """Save every frame painted since the last save that differs from what the project holds (paint undone, or
        painted back to the stored mask, is nothing to save). When the layer's data was replaced from code
        (``layer.data = ...``), its every frame is compared with the project first and the non-empty ones that
        differ are saved too. ``ask_erased``: a function of (video, frames) asked before painted frames whose every
        head of a stored mask was erased are saved as frames without heads (False: their stored masks stay and they
        stay unsaved; the other frames are saved)."""
        if self._shown_again():
            return []
        video, layer = self.masks_layer()
        resolve_replaced(self.viewer, self.state, video.name)
        painted = sorted(self.state.dirty.get(video.name, set()))
        changed = [t for t in painted if differs_from_label(video, layer.data, t)]
        erased = [t for t in changed if not np.asarray(layer.data[t]).any()]  # (a stored mask with heads: it differs)
        kept = erased if erased and ask_erased is not None and not ask_erased(video, erased) else []
        changed = [t for t in changed if t not in kept]
        saved, note = save_painted(self.state, video, layer.data, changed)
        unchanged = [t for t in painted if t not in changed and t not in kept]
        self._after_save(video, saved, unchanged=unchanged, note=note)
        if kept:
            frames = f"frame{'s' if len(kept) > 1 else ''} {', '.join(map(str, kept))}"
            self.messages.info(
                f"{frames} of {video.name} not saved: you kept the stored mask{'s' if len(kept) > 1 else ''} "
                "(undo the erasing with Ctrl+Z, or save again and answer yes)"
            )
        return saved

    def _clear_dialog(self) -> None:
        """Clear frame's button: asks first when the project holds a mask for the frame (there is no undo)."""
        video, layer = self.masks_layer()
        t = check_frame(video, self.state.current_frame(layer))
        text = clear_question(video, t)
        if text is None or QMessageBox.question(self, "Clear a saved mask", text) == QMessageBox.StandardButton.Yes:
            self.clear_frame(t)

    def clear_frame(self, t: int | None = None) -> None:
        video, layer = self.masks_layer()
        t = check_frame(video, self.state.current_frame(layer) if t is None else t)
        layer.data[t] = 0
        layer.refresh()
        video.clear_mask(t)
        self.state.mark_saved(video.name, [t])
        self.state.notify_store_changed()

    # ---- mask files ------------------------------------------------------------------------------------------------
    def _mask_file_widgets(self) -> QHBoxLayout:
        """The Import masks... and Export masks... buttons (returned as a row) and the collapsed options section."""
        self.import_button = QPushButton("Import masks...")
        self.import_button.setToolTip(
            "load masks painted in another program into this video: a folder of mask images (one per frame, the "
            "frame number last in each name), a multi-page TIFF or a COCO JSON file (CVAT, Label Studio, Roboflow)"
        )
        menu = QMenu(self.import_button)
        for text, folder in (("Folder of mask images...", True), (mf.FILE_ITEM, False)):
            action = menu.addAction(text)
            action.triggered.connect(lambda *_, folder=folder: self.guard(self._import_dialog, folder=folder))
        self.import_button.setMenu(menu)
        self.import_button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.export_button = button(
            "Export masks...",
            lambda: self.guard(self._export_dialog),
            "write this video's saved masks into a folder, as 'export as' in Mask file options says (PNG files "
            "with a masks.csv, TIFF files, or one COCO JSON file for annotation programs)",
        )
        self.label_class = QLineEdit()
        self.label_class.setPlaceholderText("its only class")
        self.label_class.setToolTip(
            "the class (CVAT colour masks with a labelmap.txt) or category (COCO file) that is the wheat heads, when "
            "the file lists several; empty: its only one besides the background"
        )
        self.allow_labels = WrapCheckBox(mf.LABELS)
        self.allow_labels.setToolTip(
            "the masks are instance masks: one number or one colour per head on black (CVAT's SegmentationObject); "
            "every head is taken"
        )
        self.overwrite = WrapCheckBox(mf.OVERWRITE)
        self.overwrite.setToolTip(
            "replace masks saved in the project, even those painted or corrected by a person (otherwise such a "
            "frame keeps its mask where the imported one differs)"
        )
        self.empty_images = WrapCheckBox(mf.EMPTY)
        self.empty_images.setToolTip(
            "an empty mask file or TIFF page, or a COCO image with no annotation, becomes a saved mask without heads. "
            "Leave it off for masks of every frame (a labels layer saved whole, CVAT's export of a task): frames "
            "nobody painted are then left out, not saved as frames without heads"
        )
        self.first_number = QSpinBox()
        self.first_number.setRange(0, 10**6)
        self.first_number.setToolTip(
            "the number the first frame's mask carries in the file names: 0, or 1 for masks counted from 1 (frames "
            "that ffmpeg wrote as %06d.png)"
        )
        self.numbering = compact_combo(
            mf.NUMBERING_CHOICES.values(),
            "what the numbers in mask file names count: the project's frames (0 = the first stored frame, as Export "
            "masks... writes them) or the numbers of the frame files the video was added from; 'ask when unclear' "
            "stops with a question when they differ",
        )
        self.made_by = compact_combo(
            PROVENANCE_CHOICES,
            "who made the imported masks; by default what the masks.csv (or COCO file) that dvos exported lists for "
            "each, else a person",
        )
        self.export_format = compact_combo(
            EXPORT_FORMATS,
            "PNG files (0/255) with a masks.csv, TIFF files, or one COCO JSON file of polygons for annotation "
            "programs (CVAT, Label Studio)",
        )
        box = QWidget()
        form = QFormLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow(mf.CLASS, self.label_class)
        form.addRow(self.allow_labels)
        form.addRow(self.overwrite)
        form.addRow(self.empty_images)
        form.addRow(mf.FIRST, self.first_number)
        form.addRow(mf.NUMBERING, self.numbering)
        form.addRow(mf.MADE_BY, self.made_by)
        form.addRow("export as", self.export_format)
        self.file_options = Collapsible(mf.OPTIONS, box)
        return button_row(self.import_button, self.export_button)

    def import_options(self) -> dict:
        """The import_masks options the Mask file options section holds."""
        numbering = list(mf.NUMBERING_CHOICES)[self.numbering.currentIndex()]
        return {
            "label_class": self.label_class.text().strip() or None,
            "allow_labels": self.allow_labels.isChecked(),
            "overwrite": self.overwrite.isChecked(),
            "first_number": self.first_number.value(),
            "numbering": numbering,
            "provenance": PROVENANCE_CHOICES[self.made_by.currentText()],
            "empty_images": self.empty_images.isChecked(),
        }

    def import_masks(self, source, from_video: str | None = None):
        """Import the masks in ``source`` (a folder, a TIFF or a COCO JSON file) into the current video, in a child
        process (progress and Cancel in the step's bar); the masks layer shows what it wrote however it ends (a
        cancelled or failed import keeps the frames it wrote). Masks exported from another video are not imported:
        the step asks whether to import them anyway (``from_video``: that video's id, as --from-video). Returns the
        Job."""
        from pathlib import Path

        video = self.state.require_video()
        resolve_replaced(self.viewer, self.state, video.name)
        painted = sorted(self.state.dirty.get(video.name, ()))
        if painted:
            shown = ", ".join(map(str, painted[:8])) + (" ..." if len(painted) > 8 else "")
            raise ValueError(
                f"frames {shown} of {video.name} are painted but not saved: save them (Save all painted) or clear "
                f"them before importing masks, so that neither hides the other"
            )
        job = self.run(
            "dvos_napari._mask_files:import_mask_files",
            self.state.require_project(),
            video.name,
            str(source),
            label=f"import masks from {Path(source).name}",
            on_result=self._imported,
            from_video=from_video,
            **self.import_options(),
        )
        if job is not None:
            project = self.state.project
            job.finished.connect(lambda _status: self._import_ended(job, project, video.name, source))
        return job

    def _import_ended(self, job, project, video_id: str, source) -> None:
        """After an import that gave no result (cancelled, failed, ended): read the masks it wrote into the layer,
        so that painting such a frame and saving it does not replace the imported mask by a stale one. After one
        that found masks exported from another video: ask whether to import them anyway (once the job is over)."""
        if self.state.project is not project:  # another project
            return
        others = (job.result or {}).get("other_videos")
        if others:
            self._ask_from_video(source, video_id, others)
            return
        if job.result is not None:  # shown by _imported
            return
        if video_id == self.state.video_id:
            self.state.reread_stored_masks()
        self.state.notify_store_changed()

    def export_masks(self, out_dir, fmt: str | None = None):
        """Export the current video's saved masks into the folder ``out_dir`` (``fmt``: png, tif or coco; default
        the 'export as' box) in a child process. Returns the Job."""
        video = self.state.require_video()
        if not np.asarray(video.provenance[: video.n_frames]).any():
            raise ValueError(f"{video.name} has no saved mask to export yet: paint frames and save them first")
        fmt = fmt or EXPORT_FORMATS[self.export_format.currentText()]
        return self.run(
            "dvos_napari._mask_files:export_mask_files",
            self.state.require_project(),
            video.name,
            str(out_dir),
            fmt=fmt,
            label=f"export the masks of {video.name}",
            on_result=self._exported,
        )

    def _import_dialog(self, folder: bool) -> None:
        self.state.require_video()  # say so before the user looks for files
        if folder:
            path = QFileDialog.getExistingDirectory(self, "Import masks: a folder of mask images, one per frame")
        else:
            path, _ = QFileDialog.getOpenFileName(
                self,
                "Import masks: a multi-page TIFF or a COCO JSON file",
                "",
                "Mask files (*.json *.tif *.tiff);;COCO JSON (*.json);;TIFF stacks (*.tif *.tiff);;All files (*)",
            )
        if path:
            self.import_masks(path)

    def _export_dialog(self) -> None:
        video = self.state.require_video()
        path = QFileDialog.getExistingDirectory(self, f"Export the saved masks of {video.name} into a folder")
        if path:
            self.export_masks(path)

    def _ask_from_video(self, source, video_id: str, others: list[str]) -> None:
        """Masks in ``source`` were exported from the video(s) ``others``: import them (the masks of the one the user
        picks, when there are several) into ``video_id`` anyway (the same footage stored under another id), or say
        where they belong."""
        from pathlib import Path

        name, listed = Path(source).name, ", ".join(others)
        if video_id != self.state.video_id:  # the user went on to another video meanwhile
            self.messages.info(
                f"masks not imported: {name} holds the masks exported from video {listed}, not from {video_id}; "
                f"import them again into the video they belong to"
            )
            return
        if len(others) == 1:
            other = others[0]
            take = ask_yes_no(
                self,
                "Masks of another video",
                f"{name} holds the masks exported from video {other}, not from {video_id}. Import them anyway into "
                f"{video_id} (the same footage stored under another name)?",
            )
            chosen = other if take else None
        else:
            chosen = ask_choice(
                self,
                "Masks of other videos",
                f"{name} holds the masks exported from videos {listed}, none from {video_id}. Import the masks of "
                f"which of them into {video_id} (the same footage stored under another name)? Cancel imports none.",
                others,
            )
        if chosen is not None:
            self.guard(self.import_masks, source, from_video=chosen)
            return
        project = self.state.project
        known = [v for v in others if project is not None and v in project.video_ids()]
        into = (
            f"choose video {known[0] if len(known) == 1 else ' or '.join(known)} in the Project step and import "
            f"them there"
            if known
            else "import them into the video they belong to"
        )
        self.messages.info(f"masks not imported: {name} holds the masks exported from video {listed}; {into}")

    def _imported(self, result: dict) -> None:
        from napari.utils.notifications import show_info, show_warning

        if result.get("other_videos"):  # not imported: the step asks once the job is over
            self.messages.info(
                f"{result['video']}: these masks were exported from video {', '.join(result['other_videos'])}"
            )
            return
        vid, written = result["video"], result["written"]
        if vid == self.state.video_id:
            self.state.reread_stored_masks()  # the masks layer shows what was written (unsaved paint kept)
        self.state.notify_store_changed()
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(result["kinds"].items()))
        shown = ", ".join(map(str, written[:10])) + (" ..." if len(written) > 10 else "")
        text = (
            f"imported {len(written)} mask(s) into {vid} ({kinds}): frame(s) {shown}"
            if written
            else f"imported no masks into {vid}"
        )
        self._say(text, result["warnings"])
        show_info(text)
        for w in result["warnings"]:
            show_warning(f"dvos: {self._words(w)}")

    def _exported(self, result: dict) -> None:
        import os

        from napari.utils.notifications import show_info, show_warning

        paths = result["paths"]
        if len(paths) == 1 and paths[0].endswith(".json"):
            text = f"exported the masks of {result['frames']} frame(s) of {result['video']} to {paths[0]}"
        else:
            folder = os.path.dirname(paths[0]) if paths else "the folder"
            text = f"exported {len(paths)} mask(s) of {result['video']} to {folder} (listed in its masks.csv)"
        self._say(text, result["warnings"])
        show_info(text)
        for w in result["warnings"]:
            show_warning(f"dvos: {self._words(w)}")

    @staticmethod
    def _words(text: str) -> str:
        from dvos_napari._errors import plain_words

        return plain_words(text)

    def _say(self, text: str, warnings: list[str]) -> None:
        self.messages.info(" ".join([text + ("." if warnings else ""), *(f"Note: {self._words(w)}" for w in warnings)]))

    def _show_job_bar(self, on: bool) -> None:
        self.job_bar.bar.setVisible(on)
        self.job_bar.cancel_button.setVisible(on)

    def _set_busy(self, busy: bool) -> None:
        super()._set_busy(busy)
        self._show_job_bar(busy)

    # ---- display -----------------------------------------------------------------------------------------------
    def _after_save(self, video, saved: list[int], unchanged=(), note: str | None = None) -> None:
        """Forget the saved frames of ``video`` and the ``unchanged`` ones (as the project holds them) as unsaved
        paint; ``note``: what :func:`~dvos_napari._writer.save_painted` says (masks written under the paint, touching
        heads)."""
        from napari.utils.notifications import show_info, show_warning

        video_id = video.name
        if note:
            self.messages.info(note)
            show_warning(f"dvos: {note}")

        self.state.mark_saved(video_id, [*saved, *unchanged])
        if saved:
            show_info(
                f"saved mask{'s' if len(saved) > 1 else ''} of frame{'s' if len(saved) > 1 else ''} "
                f"{', '.join(map(str, saved))} of {video_id}"
            )
        elif unchanged:
            provenance = video.provenance
            bare = [t for t in unchanged if not provenance[t]]  # no mask stored, nothing painted
            if len(bare) == len(unchanged):
                why = " (no mask: nothing painted)"
            elif bare:
                why = f" (frame{'s' if len(bare) > 1 else ''} {', '.join(map(str, bare))}: no mask, nothing painted)"
            else:
                why = ""  # each shows the mask the project holds
            show_info(
                f"nothing to save: frame{'s' if len(unchanged) > 1 else ''} {', '.join(map(str, unchanged))} of "
                f"{video_id} {'are' if len(unchanged) > 1 else 'is'} as the project holds{why}"
            )
        self.state.notify_store_changed()

    def _on_video(self) -> None:
        self.seeds = []
        vid = self.state.video_id
        self.video_label.setText(f"video: {vid}" if vid else "no video selected (choose one in the Project step)")
        if vid and self.state.project is not None:
            self.guard(self.suggest_seeds)
        else:
            self.seed_list.clear()
        self._update_info()

    def _fill_list(self) -> None:
        self.seed_list.clear()
        try:
            prov = self.state.require_video().provenance
        except ValueError:
            return
        for t in self.seeds:
            if t >= len(prov):  # seeds suggested for the video shown before (a switch under way): not this one's
                continue
            done = prov[t] != 0
            item = QListWidgetItem(f"{'✓' if done else '  '} frame {t}")
            item.setData(256, t)
            self.seed_list.addItem(item)

    def unsaved(self) -> int:
        """Frames of the current video painted but not saved yet."""
        return len(self.state.dirty.get(self.state.video_id, ())) if self.state.video_id else 0

    def _update_info(self) -> None:
        try:
            video = self.state.require_video()
        except ValueError:
            self.info.setText("")
            return
        c = video.provenance_counts()
        replaced = is_replaced(self.viewer, video.name, "masks")
        self.info.setText(
            f"{c['manual']} manual, {c['corrected']} corrected masks saved; "
            f"{self.unsaved()} painted frame(s) not saved yet"
            + ("; masks replaced from code: Save all painted compares every frame" if replaced else "")
        )
        if self.seeds:
            self._fill_list()
