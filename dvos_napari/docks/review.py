"""Review step: per-video Dice table and per-frame Dice plot of the stored predictions, worst frames first (click to
jump there, ready to paint), and 'Save correction': the edited predicted mask of the current frame is stored as a
'corrected' label, which the trainer reads the next time it builds its training set."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from dvos_napari._layers import find_layer, refresh_masks, show_predictions, time_axis
from dvos_napari._names import predicted_name
from dvos_napari._plots import PlotCanvas
from dvos_napari._widgets import DvosDock, button, compact_combo, section, wrapped_label
from dvos_napari._writer import save_frames

SCOPES = ("test", "val", "train", "current video")


def _table(columns, min_rows: int = 4) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    t.verticalHeader().setVisible(False)
    t.setMinimumHeight(t.horizontalHeader().sizeHint().height() + min_rows * 24 + 6)
    return t


class ReviewDock(DvosDock):
    """Evaluate stored predictions, find the worst frames, fix them and save the fixes as training labels."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        top = QHBoxLayout()
        self.scope = compact_combo(SCOPES, "which videos to score: a split, or the current video")
        self.evaluate_button = button(
            "Evaluate", lambda: self.guard(self.evaluate), "score the stored predictions against the ground-truth masks"
        )
        top.addWidget(QLabel("videos:"))
        top.addWidget(self.scope, 1)
        top.addWidget(self.evaluate_button)
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
        worst_row.addWidget(wrapped_label("worst frames (click one to fix it):"), 1)
        worst_row.addWidget(self.n_worst)
        self.worst_table = _table(("video", "frame", "Dice"), min_rows=4)
        self.worst_table.cellClicked.connect(lambda r, c: self.guard(self._jump_row, r))
        self.save_button = button(
            "Save correction",
            lambda: self.guard(self.save_correction),
            "store the edited predicted mask of this frame as a 'corrected' label",
        )
        self.fix_info = wrapped_label("")

        lay = QVBoxLayout(self.body)
        lay.addLayout(top)
        lay.addWidget(self.overall)
        lay.addWidget(self.videos_table)
        lay.addWidget(section("Dice per frame"))
        lay.addWidget(self.plot, 1)
        lay.addLayout(worst_row)
        lay.addWidget(self.worst_table)
        lay.addWidget(self.save_button)
        lay.addWidget(self.fix_info)
        lay.addWidget(self.job_bar)
        self._busy_widgets = [self.evaluate_button]
        self.report = None
        self._empty_plot()

    # ---- actions ---------------------------------------------------------------------------------------------
    def evaluate(self):
        project = self.state.require_project()
        scope = self.scope.currentText()
        ids = [self.state.require_video().name] if scope == "current video" else None
        return self.run(
            "dvos_core.evaluate:evaluate",
            project,
            video_ids=ids,
            split=scope if ids is None else "test",
            label="evaluate",
            on_result=self._show_report,
        )

    def jump_to(self, video_id: str, frame: int) -> None:
        """Show ``video_id`` (with its predictions) at ``frame``, its predicted masks selected in paint mode."""
        if self.state.video_id != video_id or find_layer(self.viewer, predicted_name(video_id)) is None:
            self.state.select_video(video_id)
        self.viewer.dims.set_current_step(time_axis(self.viewer), int(frame))
        layer = find_layer(self.viewer, predicted_name(video_id))
        if layer is not None and self.state.require_project().video(video_id).split == "test":
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
            self.fix_info.setText(
                f"{video_id} frame {frame}: paint (P) or erase (E) the predicted mask, then press Save correction"
            )

    def save_correction(self, frame: int | None = None) -> bool:
        """Save the current frame of ``<video> predicted`` as a 'corrected' mask of the video."""
        from napari.utils.notifications import show_info

        video = self.state.require_video()
        video.check_label_write("corrected", "saving a correction")  # test videos take manual ground truth only
        layer = find_layer(self.viewer, predicted_name(video.name))
        if layer is None:
            if not show_predictions(self.viewer, video, self.state):
                raise ValueError(f"video {video.name!r} has no predictions to correct; run Predict first")
            layer = find_layer(self.viewer, predicted_name(video.name))
        if self.state.loading:
            raise ValueError("the predictions are still being read into the layer; try again in a moment")
        t = self.state.current_frame() if frame is None else int(frame)
        saved = save_frames(video, layer.data, [t], edited_prediction=True)
        if saved:
            refresh_masks(self.viewer, video, self.state, saved)
            self.fix_info.setText(
                f"frame {t} of {video.name} saved as 'corrected'; the next training run on your labelled videos uses it"
            )
            show_info(f"saved corrected mask of {video.name} frame {t}")
            self.state.notify_store_changed()
        return bool(saved)

    # ---- display ---------------------------------------------------------------------------------------------
    def _show_report(self, report) -> None:
        self.report = report
        o = report.overall
        self.overall.setText(
            f"all {o['n_videos']} videos, {o['n_frames']} frames (frame-weighted): "
            f"Dice {o['dice']:.3f}, IoU {o['iou']:.3f}"
        )
        v = report.videos
        self.videos_table.setRowCount(len(v))
        for r, row in enumerate(v.itertuples()):
            vals = (row.video, row.n_frames, f"{row.dice:.3f}", f"{row.iou:.3f}", f"{row.mean_count_error:.2f}")
            for c, val in enumerate(vals):
                self.videos_table.setItem(r, c, QTableWidgetItem(str(val)))
        self._plot_frames(None)
        self._fill_worst()
        self.state.notify_store_changed()

    def _fill_worst(self) -> None:
        if self.report is None:
            return
        w = self.report.worst(self.n_worst.value())
        self.worst_table.setRowCount(len(w))
        for r, row in enumerate(w.itertuples()):
            for c, val in enumerate((row.video, int(row.frame), f"{row.dice:.3f}")):
                self.worst_table.setItem(r, c, QTableWidgetItem(str(val)))

    def _jump_row(self, row: int) -> None:
        self.jump_to(self.worst_table.item(row, 0).text(), int(self.worst_table.item(row, 1).text()))

    def _empty_plot(self) -> None:
        ax = self.plot.axes[0]
        ax.clear()
        self.plot.style(ax)
        ax.set_xlabel("frame")
        ax.set_ylabel("Dice")
        ax.set_ylim(0, 1.02)
        self.plot.draw()

    def _plot_frames(self, highlight) -> None:
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
        self.plot.draw()
