"""Review step: which model's predictions to review (the prediction set shown as ``<video> predicted``, corrected and
evaluated), per-video Dice table and per-frame Dice plot of its predictions, worst frames first (click to jump there,
ready to paint), and 'Save correction': the edited predicted mask of the current frame is stored as a 'corrected'
label, which the trainer reads the next time it builds its training set. 'Compare models' scores several prediction
sets side by side (Dice, IoU, boundary F, count error, temporal instability) with the previous-true-mask and
all-foreground baselines (:func:`dvos_core.evaluate.compare_models`)."""

from __future__ import annotations

from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QFont
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from dvos_core.store.schema import CORRECTED, MANUAL
from dvos_napari._layers import (
    check_frame,
    check_paint_not_in_copy,
    differs_from_label,
    mark_corrections_saved,
    prediction_set,
    refresh_masks,
    require_shown_video,
    set_key,
    show_predictions,
    shown_model,
    shown_set,
    unsaved_corrections,
    unsaved_paint,
    video_layer,
)
from dvos_napari._plots import PlotCanvas
from dvos_napari._widgets import DvosDock, ask_yes_no, button, button_row, compact_combo, section, wrapped_label
from dvos_napari._writer import save_frames, touching_note

SCOPES = ("test", "val", "train", "current video")
MOST_RECENT = "(most recent)"
COMPARE_COLUMNS = (  # (header, tooltip); the number of frames scored is in each model cell's tooltip
    ("model", "model (prediction set) or baseline; click a model to review and correct its masks"),
    ("Dice", "Dice of the predicted masks, frame-weighted over the videos (higher is better)"),
    ("IoU", "intersection over union, frame-weighted (higher is better)"),
    ("BF", "boundary F score: how well the head outlines match, within 2 px (higher is better)"),
    ("count", "relative error of the head count per frame (lower is better)"),
    (
        "unsteady",
        "temporal instability: 1 - IoU of consecutive predictions after aligning them by the camera "
        "motion (lower is steadier)",
    ),
)
BASELINE_TIPS = {
    "previous_true_mask": "the previous frame's true mask used as the prediction",
    "all_foreground": "every pixel predicted as head",
}
BASELINE_TEXT = {
    "previous_true_mask": "prev. true mask",
    "all_foreground": "all foreground",
}


def _table(columns, min_rows: int = 4) -> QTableWidget:
    """A table whose columns are as wide as their contents (the last one fills the rest): a name stays readable in a
    narrow panel, which scrolls the table sideways instead."""
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    t.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    t.verticalHeader().setVisible(False)
    t.setMinimumHeight(t.horizontalHeader().sizeHint().height() + min_rows * 24 + 6)
    return t


class ReviewDock(DvosDock):
    """Evaluate stored predictions, find the worst frames, fix them and save the fixes as training labels."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.scope = compact_combo(SCOPES, "which videos to score: a split, or the current video")
        top = button_row(QLabel("videos:"), self.scope)
        self.model = compact_combo(
            (MOST_RECENT,),
            "whose predictions to review: they are shown as '<video> predicted', corrected and evaluated "
            "(most recent: each video's latest prediction set)",
        )
        self.model.currentTextChanged.connect(self._model_chosen)
        self.evaluate_button = button(
            "Evaluate",
            lambda: self.guard(self.evaluate),
            "score the chosen model's predictions against the ground truth",
        )
        model_row = button_row(QLabel("model:"), self.model, self.evaluate_button)
        self.overall = wrapped_label("no evaluation yet: predict the test videos (Predict step), then press Evaluate")
        self.videos_table = _table(("video", "frames", "Dice", "IoU", "count err."), min_rows=3)
        header = self.videos_table.horizontalHeader()
        for c in range(1, 5):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.videos_table.horizontalHeaderItem(4).setToolTip("mean error of the head count per frame")
        self.videos_table.cellClicked.connect(lambda r, c: self._plot_frames(self.videos_table.item(r, 0).text()))
        self.videos_table.setToolTip("click a video to highlight it in the plot")
        self.plot = PlotCanvas(napari_viewer, min_height=200)
        self.n_worst = QSpinBox()
        self.n_worst.setRange(1, 1000)
        self.n_worst.setValue(20)
        self.n_worst.setToolTip("how many of the worst frames to list")
        self.n_worst.valueChanged.connect(lambda *_: self._fill_worst())
        worst_row = QHBoxLayout()
        worst_row.addWidget(wrapped_label("worst frames (click one to fix it; W: the next, Shift-W: back):"), 1)
        worst_row.addWidget(self.n_worst)
        self.worst_table = _table(("video", "frame", "Dice"), min_rows=4)
        self.worst_table.cellClicked.connect(lambda r, c: self.guard(self._jump_row, r))
        self.save_button = button(
            "Save correction (C)",
            lambda: self.guard(self.save_correction_asking),
            "store the edited predicted mask of this frame as a 'corrected' label",
        )
        self.fix_info = wrapped_label("")
        self._corrected_here: set[tuple[str, int]] = set()  # (video, frame) corrections Save correction wrote here

        self.compare_list = QListWidget()
        self.compare_list.setToolTip("tick the models (prediction sets) to compare; none ticked: all of them")
        self.compare_button = button(
            "Compare models",
            lambda: self.guard(self.compare),
            "score the ticked models on the chosen videos side by side, with two baselines",
        )
        self.delete_button = button(
            "Delete ticked predictions...",
            lambda: self.guard(self.delete_predictions),
            "delete the ticked models' predictions from every video to free disk space (asks first; the models, "
            "their reports and the corrections saved from them stay)",
        )
        self.compare_table = _table([c for c, _ in COMPARE_COLUMNS], min_rows=4)
        header = self.compare_table.horizontalHeader()
        for c, (_, tip) in enumerate(COMPARE_COLUMNS):
            self.compare_table.horizontalHeaderItem(c).setToolTip(tip)
            if c:
                header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.compare_table.setWordWrap(True)
        self.compare_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.compare_table.setToolTip("click a model to review and correct its masks")
        self.compare_table.cellClicked.connect(lambda r, c: self.guard(self._pick_compared, r))
        self.compare_info = wrapped_label("tick models and press Compare models (all when none is ticked)")
        self.comparison = None

        lay = QVBoxLayout(self.body)
        lay.addLayout(top)
        lay.addLayout(model_row)
        lay.addWidget(self.overall)
        lay.addWidget(self.videos_table)
        lay.addWidget(section("Dice per frame"))
        lay.addWidget(self.plot, 1)
        lay.addLayout(worst_row)
        lay.addWidget(self.worst_table)
        lay.addWidget(self.save_button)
        lay.addWidget(self.fix_info)
        lay.addWidget(section("Compare models"))
        lay.addWidget(self.compare_list)
        lay.addLayout(button_row(self.compare_button, self.delete_button))
        lay.addWidget(self.compare_table)
        lay.addWidget(self.compare_info)
        lay.addWidget(self.job_bar)
        self._busy_widgets = [self.evaluate_button, self.compare_button, self.delete_button]
        self.bind_keys({"w": self.next_worst, "Shift-W": lambda: self.next_worst(-1), "c": self.save_correction_asking})
        self.report = None
        self._report_model = None  # the model (None: each video's most recent) whose report is shown
        self._refreshing = False
        self._highlight = None  # the video whose curve is highlighted
        self.plot.redraw = lambda: self._plot_frames(self._highlight) if self.report is not None else self._empty_plot()
        self._empty_plot()
        self.listen(self.state.project_changed, lambda *_: self._project_changed())
        self.listen(self.state.store_changed, self.refresh_models)
        self.listen(self.state.model_changed, lambda *_: self._model_changed())
        self.refresh_models()
        self.overall.setText(self.no_report_text())

    # ---- models ----------------------------------------------------------------------------------------------
    def project_models(self) -> list[str]:
        """Names of the prediction sets of the project's videos (each video's oldest first, in video order)."""
        p = self.state.project
        out: list[str] = []
        try:  # the summary's rows: read again only for the videos whose files changed
            rows = [] if p is None else self.state.summary()["videos"]
        except Exception:  # read each video below, skipping those that cannot be read
            rows = None
        if rows is not None:
            for row in rows:
                out += [m for m in row.get("predicted_by", ()) if m not in out]
            return out
        for vid in [] if p is None else p.video_ids():
            try:
                names = p.video(vid).predictions.models()
            except (KeyError, ValueError, OSError):
                continue
            out += [m for m in names if m not in out]
        return out

    def _project_changed(self) -> None:
        """Another project: its models listed, and the score line says what it holds (no report of the project
        before is shown, nor its frame's fixing line)."""
        self.comparison = None
        self.compare_info.setText("")
        self.fix_info.setText("")
        self._corrected_here.clear()  # (video, frame) of the project before: not this one's corrections
        self.compare_table.setRowCount(0)  # the other project's scores
        self._forget_report()
        self.refresh_models()
        self.overall.setText(self.no_report_text())

    def _forget_report(self) -> None:
        """Clear the report shown: its score line's numbers, videos table, plot and worst frames (W has none)."""
        self.report = self._report_model = None
        for table in (self.videos_table, self.worst_table):
            table.setRowCount(0)
        if getattr(self, "_plotted", False):  # (an empty plot is not drawn again: a redraw held the window ~50 ms)
            self._empty_plot()

    def _model_changed(self) -> None:
        """Another model chosen: listed, and the report of the model before is no longer shown (its worst frames
        are not the chosen model's; W would jump to them while the layer shows the chosen model's masks)."""
        self.refresh_models()
        if self.report is not None and self._report_model != self.state.prediction_model:
            before = self._report_model or "the most recent models"
            self._forget_report()
            self.overall.setText(
                f"{self.state.prediction_model or 'the most recent model of each video'} chosen: press Evaluate to "
                f"score its predictions (the scores shown were of {before})"
            )

    def no_report_text(self) -> str:
        """The score line before an evaluation is shown here: the project's saved reports counted."""
        project = self.state.project
        saved = project.report_names() if project is not None else []
        if saved:
            return (
                f"{len(saved)} evaluation(s) saved in the project (reports/: {', '.join(saved[-3:])}"
                f"{', ...' if len(saved) > 3 else ''}); press Evaluate to score the chosen model's predictions here"
            )
        return "no evaluation yet: predict the test videos (Predict step), then press Evaluate"

    def refresh_models(self) -> None:
        """List the project's prediction sets in the model box and the compare list (keeping what was chosen)."""
        models = self.project_models()
        chosen = self.state.prediction_model
        ticked = {self.compare_list.item(i).text() for i in range(self.compare_list.count())}
        ticked = {t for t in ticked if self._ticked(t)}
        self._refreshing = True
        try:
            self.model.clear()
            self.model.addItems([MOST_RECENT, *models])
            if chosen and chosen not in models:
                self.model.addItem(chosen)  # chosen before its predictions exist (or on another project's videos)
            self.model.setCurrentText(chosen or MOST_RECENT)
            self.compare_list.clear()
            for m in models:
                item = QListWidgetItem(m)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if m in ticked else Qt.CheckState.Unchecked)
                self.compare_list.addItem(item)
            row = self.compare_list.sizeHintForRow(0) if models else 20
            self.compare_list.setFixedHeight(max(2, min(5, len(models))) * row + 6)
        finally:
            self._refreshing = False

    def _ticked(self, name: str) -> bool:
        items = self.compare_list.findItems(name, Qt.MatchFlag.MatchExactly)
        return bool(items) and items[0].checkState() == Qt.CheckState.Checked

    def ticked_models(self) -> list[str]:
        return [
            self.compare_list.item(i).text()
            for i in range(self.compare_list.count())
            if self.compare_list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_ticked(self, names) -> None:
        """Tick exactly ``names`` in the compare list."""
        names = set(names)
        for i in range(self.compare_list.count()):
            item = self.compare_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names else Qt.CheckState.Unchecked)

    def choose_model(self, name: str | None) -> None:
        """Review ``name``'s predictions (None: each video's most recent): shown, corrected and evaluated."""
        self.state.set_prediction_model(name)

    def _model_chosen(self, text: str) -> None:
        if self._refreshing or not text:
            return
        name = None if text == MOST_RECENT else text
        if name != self.state.prediction_model and not self._discard_corrections_for(name):
            self._refreshing = True  # keep the model whose masks hold the unsaved corrections
            try:
                self.model.setCurrentText(self.state.prediction_model or MOST_RECENT)
            finally:
                self._refreshing = False
            return
        self.guard(self.choose_model, name)

    def pending_corrections(self, name: str | None) -> dict[str, tuple[str | None, list[int]]]:
        """{video: (model shown, frames)} of the open predicted layers whose unsaved corrections showing model
        ``name`` (None: the most recent) would replace."""
        p, out = self.state.project, {}
        for vid in [] if p is None else p.video_ids():
            frames = unsaved_corrections(self.viewer, vid)
            if not frames:
                continue
            shown = shown_model(self.viewer, vid)
            try:
                target = prediction_set(p.video(vid), name).model
            except (KeyError, ValueError, OSError):
                target = None
            if target != shown:
                out[vid] = (shown, frames)
        return out

    def _discard_corrections_for(self, name: str | None) -> bool:
        """Ask before showing model ``name`` throws away unsaved corrections; True to go on (they are discarded)."""
        pending = self.pending_corrections(name)
        if not pending:
            return True
        listed = "; ".join(
            f"{vid} frame{'s' if len(f) > 1 else ''} {', '.join(map(str, f))} (masks of {shown})"
            for vid, (shown, f) in pending.items()
        )
        answer = QMessageBox.question(
            self,
            "Unsaved corrections",
            f"Corrections not saved yet: {listed}. Showing {name or 'the most recent model'} replaces them.\n\n"
            f"Discard them? (No: keep them; go to the frame and press Save correction first.)",
        )
        if answer != QMessageBox.StandardButton.Yes:
            self.fix_info.setText(f"kept the unsaved corrections of {listed}; press Save correction on each frame")
            return False
        for vid in pending:
            mark_corrections_saved(self.viewer, vid)
        return True

    # ---- actions ---------------------------------------------------------------------------------------------
    def evaluate(self):
        project = self.state.require_project()
        scope = self.scope.currentText()
        ids = [self.state.require_video().name] if scope == "current video" else None
        model = self.state.prediction_model
        from dvos_core.evaluate.summary import _video_ids

        _video_ids(project, ids, scope if ids is None else "test")  # no such videos: said now, not by a failed job
        job = self.run(
            "dvos_napari._tasks:evaluate_shown",
            project,
            video_ids=ids,
            split=scope if ids is None else "test",
            model=model,
            label=f"evaluate {model}" if model else "evaluate",
            cancel_keeps="no report was saved (a report is saved whole when the evaluation ends)",
            on_result=lambda report: self._show_report(report, model),
        )
        self.state.writes_reports(job)  # its write of a report reads no mask nor prediction again
        return job

    def compare(self):
        """Score the ticked models (all when none is ticked) on the chosen videos, in a child process."""
        project = self.state.require_project()
        models = self.ticked_models() or self.project_models()
        if not models:
            raise ValueError("no video of the project has predictions yet: predict videos first (Predict step)")
        scope = self.scope.currentText()
        ids = [self.state.require_video().name] if scope == "current video" else None
        job = self.run(
            "dvos_napari._tasks:compare_shown",
            project,
            models,
            video_ids=ids,
            split=scope if ids is None else "test",
            label=f"compare {len(models)} model(s)",
            cancel_keeps="no comparison was saved (it is saved whole when it ends)",
            on_result=self._show_comparison,
        )
        self.state.writes_reports(job)
        return job

    def delete_predictions(self, models=None, ask: bool = True):
        """Delete the predictions of ``models`` (default: the ticked ones) from every video, in a worker thread, after
        asking (``Project.delete_predictions``, as ``dvos delete PROJECT predictions MODEL --yes``). Their layers
        leave the viewer first (they read the store); unsaved corrections of them must be saved or discarded first."""
        project = self.state.require_project()
        models = list(models if models is not None else self.ticked_models())
        if not models:
            raise ValueError("tick the models whose predictions to delete in the list above")
        videos = {m: project.predicted_by(m) for m in models}
        unknown = [m for m, vids in videos.items() if not vids]
        if unknown:
            raise ValueError(f"no video has predictions of {', '.join(unknown)}")
        held = [
            v
            for v in project.video_ids()
            if unsaved_corrections(self.viewer, v) and shown_model(self.viewer, v) in models
        ]
        if held:
            raise ValueError(
                f"unsaved corrections of these predictions in {', '.join(held)}: save them (Save correction) or "
                f"discard them first"
            )
        if ask:
            lines = [
                f"{m}: {len(v)} video(s) ({', '.join(v[:4])}{' ...' if len(v) > 4 else ''})" for m, v in videos.items()
            ]
            if not ask_yes_no(
                self,
                "Delete predictions",
                "Delete these predictions for good?\n  " + "\n  ".join(lines) + "\n\nThe models, their reports and "
                "the corrections saved from them stay; predict again to get the masks back.",
            ):
                return None
        for layer in [ly for ly in self.viewer.layers if (ly.metadata or {}).get("dvos_model") in models]:
            self.viewer.layers.remove(layer)
            # removed here, not by the user: Save correction does not say that the user removed it
            self.state.predicted_removed.discard((layer.metadata or {}).get("dvos_video"))
        return self.run(
            _delete_prediction_sets,
            project,
            models,
            label=f"delete the predictions of {', '.join(models)}",
            on_result=self._deleted,
            process=False,
        )

    def _deleted(self, gone: dict) -> None:
        if self.state.prediction_model in gone:
            self.state.set_prediction_model(None)
        self.compare_info.setText(
            "deleted the predictions of " + "; ".join(f"{m} ({len(v)} video(s))" for m, v in gone.items())
        )
        self.state.notify_store_changed()

    def jump_to(self, video_id: str, frame: int) -> None:
        """Show ``video_id`` (with its predictions) at ``frame``, its predicted masks selected in paint mode."""
        if self.state.video_id != video_id or video_layer(self.viewer, video_id, "predicted") is None:
            self.state.select_video(video_id)
        layer = video_layer(self.viewer, video_id, "predicted")
        self.state.show_frame(int(frame), layer)  # None: the frame as the video's other layers show it
        if layer is None:
            model = self.state.prediction_model or "any model"
            self.fix_info.setText(f"{video_id} has no predictions of {model}; predict it first (Predict step)")
        elif self.state.require_project().video(video_id).split == "test":
            self.viewer.layers.selection.active = layer
            self.fix_info.setText(
                f"{video_id} frame {frame}: a test video - its masks are the ground truth it is scored against, so "
                f"predictions are not corrected here (fix the masks layer only if the ground truth is wrong); "
                f"correct predictions of train/val videos to add training data"
            )
        elif layer is not None:
            self.viewer.layers.selection.active = layer
            layer.selected_label = 1
            self.state.after_loading(lambda: setattr(layer, "mode", "paint"))  # a read-only layer cannot paint
            corrected = int(self.state.require_project().video(video_id).provenance[int(frame)]) == CORRECTED
            self.fix_info.setText(
                f"{video_id} frame {frame}: paint (P) or erase (E) the masks predicted by "
                f"{shown_model(self.viewer, video_id)}, then press Save correction"
                + ("; this frame already holds a correction (the masks layer shows it)" if corrected else "")
            )

    def save_correction_asking(self) -> bool:
        """Save correction's button and key: as :meth:`save_correction`, asking first (once every refusal is past)
        when the frame holds a mask a person painted, which it would replace."""
        return self.save_correction(replace_painted=self._ask_replace_painted, ask_empty=self._ask_empty)

    def _ask_empty(self, video, t: int) -> bool:
        """Whether to save the model's empty mask of frame t, unpainted, as a frame without heads (as the Annotate
        step asks before it stores an empty mask: an empty mask is ground truth, 'no heads here')."""
        if not ask_yes_no(
            self,
            "A frame without heads?",
            f"The model found no heads on frame {t} of {video.name}, and nothing is painted there. Save it as a frame "
            f"without heads? (An empty mask is ground truth: 'no heads here'.)",
        ):
            self.fix_info.setText(f"frame {t} of {video.name} not saved: paint its heads, then Save correction")
            return False
        return True

    def _ask_replace_painted(self, video, t: int) -> bool:
        painted = int(video.provenance[t]) == MANUAL
        kind = "painted mask" if painted else "earlier correction"
        held = "a mask painted by a person (its ground truth)" if painted else "your earlier correction"
        if not ask_yes_no(
            self,
            f"Replace the {kind}",
            f"Frame {t} of {video.name} holds {held}. Replace it with the predicted mask as shown here?\n\n(No: keep "
            f"the {kind}; to change it, edit it in the Annotate step.)",
        ):
            self.fix_info.setText(f"kept the {kind} of frame {t} of {video.name}; nothing saved")
            return False
        return True

    def _held_by_a_person(self, video, t: int, layer) -> str:
        """What a person's mask of frame t that Save correction would replace is ('' for none): a painted mask, or a
        correction saved before (not by this panel's Save correction of that frame) that the layer's frame does not
        show - the layer shows the model's masks, so pressing C there would put the model's mask back over it."""
        held = int(video.provenance[t])
        if held == MANUAL:
            return "a mask painted by a person (its ground truth)"
        if (
            held == CORRECTED
            and (video.name, t) not in self._corrected_here
            and differs_from_label(video, layer.data, t)
        ):
            return "a correction saved before, which the predicted layer does not show (it shows the model's mask)"
        return ""

    def save_correction(self, frame: int | None = None, replace_painted=False, ask_empty=None) -> bool:
        """Save the current frame of ``<video> predicted`` as a 'corrected' mask of the video. A frame holding a
        mask a person painted ('manual') is refused unless ``replace_painted`` (True, or a function of (video,
        frame) asked once the save is otherwise allowed: False keeps the painted mask, and nothing is saved).
        ``ask_empty``: a function of (video, frame) asked before an unpainted frame the model left empty is saved as
        a frame without heads (False: nothing is saved)."""
        from napari.utils.notifications import show_info, show_warning

        video = self.state.require_video()
        video.check_label_write("corrected", "saving a correction")  # test videos take manual ground truth only
        layer = video_layer(self.viewer, video.name, "predicted")
        if layer is None:
            removed = video.name in self.state.predicted_removed  # deleted by the user (not: never shown)
            if not show_predictions(self.viewer, video, self.state):
                model = self.state.prediction_model
                raise ValueError(
                    f"video {video.name!r} has no predictions"
                    + (f" of {model!r} to correct; choose another model here, or" if model else " to correct;")
                    + " run Predict first"
                )
            layer = video_layer(self.viewer, video.name, "predicted")
            if removed:  # its corrections not saved went with it: the model's unedited mask is no correction
                self.state.predicted_removed.discard(video.name)
                text = (
                    f"nothing saved: the predicted layer of {video.name} had been removed, with any correction not "
                    f"saved in it; it is shown again with the masks predicted by {shown_model(self.viewer, video.name)}"
                )
                self.fix_info.setText(text)
                show_info(f"dvos: {text}")
                return False
        require_shown_video(layer, video)  # not a fix of a video deleted since, into the one added under its id
        if self.state.loading:
            raise ValueError("the predictions are still being read into the layer; try again in a moment")
        t = check_frame(video, self.state.current_frame(layer) if frame is None else frame)
        if unsaved_paint(self.viewer, self.state, video, [t]):  # the correction would be shown over it: paint lost
            raise ValueError(
                f"frame {t} of {video.name} holds paint in the '{video.name} masks' layer that is not saved yet, "
                f"which Save correction would replace: save it with Save frame (S) in the Annotate step, or undo it "
                f"there, then Save correction again"
            )
        shown, chosen_set = shown_model(self.viewer, video.name), prediction_set(video, self.state.prediction_model)
        chosen, stale = chosen_set.model, shown_set(self.viewer, video.name) != set_key(chosen_set)
        # another model predicted meanwhile, or the set shown was predicted again under its name: never save a mask
        # of the wrong model or an old one, unless this frame holds the user's own correction of the masks shown
        # (what they saw and fixed; the layer kept them for this)
        if stale and t not in unsaved_corrections(self.viewer, video.name):
            show_predictions(self.viewer, video, self.state)
            pending = unsaved_corrections(self.viewer, video.name)
            if shown == chosen:
                raise ValueError(
                    f"the predicted layer of {video.name} showed the earlier masks of {chosen!r}, which was predicted "
                    f"again since; the frames you did not paint are read again from the new set: look at frame {t} "
                    f"once they are in, and press Save correction again"
                )
            raise ValueError(
                f"the predicted layer of {video.name} shows the masks of {shown!r}, not of the chosen model {chosen!r}"
                + (
                    f", because it holds your unsaved corrections of frames {pending}: save those first (Save "
                    f"correction on each), then {chosen!r} is shown"
                    if pending
                    else f"; it now shows {chosen!r}: paint your fix again and save"
                )
            )
        painted = t in unsaved_corrections(self.viewer, video.name)
        if not painted:
            check_paint_not_in_copy(self.viewer, layer, t, video.name, "Save correction")
        chosen = prediction_set(video, shown)
        predicted_frames = {int(f) for f in chosen.frames()} if chosen.exists() else set()
        if not painted and t not in predicted_frames:  # an empty layer frame is no prediction to accept
            raise ValueError(
                f"frame {t} of {video.name} was not predicted by {shown!r} (it holds {len(predicted_frames)} of "
                f"{video.n_frames} frames, e.g. after a cancelled run) and nothing was painted there: predict the "
                f"video again (Predict step), or paint the frame's heads first"
            )
        if not painted and ask_empty is not None and not layer.data[t].any() and not ask_empty(video, t):
            return False
        held = self._held_by_a_person(video, t, layer)
        if held:
            if not callable(replace_painted) and not replace_painted:
                raise ValueError(
                    f"frame {t} of {video.name} holds {held}: Save correction would replace it with the predicted "
                    f"mask shown; edit that mask in the Annotate step instead, or confirm the replacement (the button "
                    f"and the C key ask)"
                )
            if callable(replace_painted) and not replace_painted(video, t):
                return False
        saved = save_frames(video, layer.data, [t], edited_prediction=True, model=shown)
        if saved:
            self._corrected_here.update((video.name, int(f)) for f in saved)
            mark_corrections_saved(self.viewer, video.name, saved)
            kept = refresh_masks(self.viewer, video, self.state, saved)
            self.fix_info.setText(
                f"frame {t} of {video.name} ({shown}'s prediction, fixed) saved as 'corrected'; "
                + (
                    "the next training run checks itself on it (a val video: its frames validate, they are not "
                    "trained on; make the video a train video in the Project step to train on them)"
                    if video.split == "val"
                    else "the next training run on your labelled videos trains on it"
                )
                + (
                    f" (the masks layer keeps your unsaved paint of frame {t}: Save frame in the Annotate step would "
                    f"replace the correction with it)"
                    if kept
                    else ""
                )
            )
            show_info(f"saved corrected mask of {video.name} frame {t}")
            touching = touching_note(video.name, layer.data, saved)
            if touching:
                self.fix_info.setText(f"{self.fix_info.text()}. {touching}")
                show_warning(f"dvos: {touching}")
            if stale and not unsaved_corrections(self.viewer, video.name):
                show_predictions(self.viewer, video, self.state)  # all saved: now show the chosen model's masks
                self.fix_info.setText(f"{self.fix_info.text()}; the predicted layer now shows {chosen}'s masks")
            self.state.notify_store_changed()
        return bool(saved)

    # ---- display ---------------------------------------------------------------------------------------------
    def _show_report(self, report, model: str | None) -> None:
        """Show ``report``, the evaluation of ``model``'s predictions (None: each video's most recent); one of a
        model no longer chosen (another was chosen while it ran) is not shown, as choosing a model clears it."""
        if model != self.state.prediction_model:
            self.overall.setText(
                f"the evaluation of {model or 'the most recent models'} ended after "
                f"{self.state.prediction_model or 'the most recent model of each video'} was chosen: press Evaluate "
                f"to score the chosen model's predictions"
            )
            self.state.notify_store_changed(reports_only=True)  # (its report was saved in the project)
            return
        self.report, self._report_model = report, model
        o = report.overall
        self.overall.setText(
            f"{model or 'the most recent model of each video'}: all {o['n_videos']} videos, {o['n_frames']} frames "
            f"(frame-weighted): Dice {o['dice']:.3f}, IoU {o['iou']:.3f}"
        )
        v = report.videos
        self.videos_table.setRowCount(len(v))
        for r, row in enumerate(v.itertuples()):
            vals = (row.video, row.n_frames, f"{row.dice:.3f}", f"{row.iou:.3f}", f"{row.mean_count_error:.2f}")
            for c, val in enumerate(vals):
                self.videos_table.setItem(r, c, QTableWidgetItem(str(val)))
        self._plot_frames(None)
        self._fill_worst()
        self.state.notify_store_changed(reports_only=True)  # a report written: no mask nor prediction read again

    def _show_comparison(self, comparison) -> None:
        self.comparison = comparison
        table = comparison.table
        self.compare_table.setRowCount(len(table))
        italic = QFont()
        italic.setItalic(True)
        for r, row in enumerate(table.itertuples()):
            baseline = row.model in BASELINE_TEXT
            vals = (
                BASELINE_TEXT.get(row.model, row.model),
                *(_num(getattr(row, k), 3) for k in ("dice", "iou", "boundary_f", "count_error", "instability")),
            )
            tip = (
                f"{'baseline (a model should beat it): ' if baseline else ''}{BASELINE_TIPS.get(row.model, row.model)}"
                f"; scored on {row.n_frames} frames"
            )
            for c, val in enumerate(vals):
                item = QTableWidgetItem(str(val))
                item.setData(Qt.ItemDataRole.UserRole, row.model)
                item.setToolTip(tip)
                if baseline:
                    item.setFont(italic)
                self.compare_table.setItem(r, c, item)
        QTimer.singleShot(0, self.compare_table.resizeRowsToContents)  # once the columns have their widths
        best = comparison.best()
        self.compare_info.setText(
            f"best Dice: {best}; {comparison.instability_note()}"
            + (f"; saved in {comparison.path}" if comparison.path else "")
            + "; click a model to review and correct its masks"
        )
        self.state.notify_store_changed(reports_only=True)

    def _pick_compared(self, row: int) -> None:
        name = self.compare_table.item(row, 0).data(Qt.ItemDataRole.UserRole)
        if name not in BASELINE_TEXT:
            self.model.setCurrentText(name)

    def _fill_worst(self) -> None:
        if self.report is None:
            return
        w = self.report.worst(self.n_worst.value())
        self.worst_table.setRowCount(len(w))
        for r, row in enumerate(w.itertuples()):
            for c, val in enumerate((row.video, int(row.frame), f"{row.dice:.3f}")):
                self.worst_table.setItem(r, c, QTableWidgetItem(str(val)))

    def next_worst(self, step: int = 1) -> int:
        """Go to the next (``step`` 1) or previous (-1) of the worst frames listed, from the one chosen last (the
        first when none is); its row is selected and its predicted mask is ready to paint. Returns the row."""
        n = self.worst_table.rowCount()
        if n == 0:
            raise ValueError("no worst frames listed yet: predict the test videos, then press Evaluate")
        row = self.worst_table.currentRow()
        row = 0 if row < 0 else min(n - 1, max(0, row + step))
        self.worst_table.setCurrentCell(row, 0)
        self._jump_row(row)
        return row

    def _jump_row(self, row: int) -> None:
        self.jump_to(self.worst_table.item(row, 0).text(), int(self.worst_table.item(row, 1).text()))

    def _empty_plot(self) -> None:
        self._plotted = False  # (set by _plot_frames once it has drawn a report's curves)
        ax = self.plot.axes[0]
        ax.clear()
        self.plot.style(ax)
        ax.set_xlabel("frame")
        ax.set_ylabel("Dice")
        ax.set_ylim(0, 1.02)
        self.plot.draw()

    def _plot_frames(self, highlight) -> None:
        self._highlight = highlight  # drawn again in a new theme's colours (the plot's redraw)
        if self.report is None:
            return
        self._empty_plot()
        ax = self.plot.axes[0]
        for i, (vid, g) in enumerate(self.report.frames.groupby("video", sort=False)):
            g = g.sort_values("frame")
            ax.plot(
                g["frame"],
                g["dice"],
                "o-" if vid == highlight else "-",
                color=self.plot.series(i),
                ms=3,
                lw=2 if vid == highlight else 1.2,
                alpha=1.0 if highlight in (None, vid) else 0.35,
                label=str(vid),
            )
        if self.report.frames["video"].nunique() <= 6:
            legend = ax.legend(fontsize=8, loc="lower left", facecolor=self.plot.colors["background"])
            for text in legend.get_texts():
                text.set_color(self.plot.colors["text"])
        self._plotted = True
        self.plot.draw()


def _num(value, digits: int) -> str:
    """A score as text; NaN (nothing to score) as a dash."""
    return "-" if value != value else f"{value:.{digits}f}"


def _delete_prediction_sets(project, models, progress=None, cancel=None) -> dict:
    """{model: videos its predictions were deleted from} (a worker thread: deleting many chunk files takes time)."""
    from dvos_core.progress import check, report

    gone = {}
    for i, m in enumerate(models):
        check(cancel)
        gone[m] = project.delete_predictions(m)
        report(progress, i + 1, len(models), f"deleted the predictions of {m}")
    return gone
