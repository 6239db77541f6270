"""Pseudo-label and Predict dock: run a trained checkpoint on the current or all videos.

Predictions are stored apart from the label masks (never overwriting ground truth) and shown as ``<video>
predicted`` (Labels, editable: fix it and save the frame as 'corrected' in the Review dock) and ``<video>
probability`` (Image). Pseudo-labels are written into the label masks with provenance 'pseudo' and only fill frames
that have no human mask.
"""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
)

from dvos_napari._layers import refresh_masks, show_predictions
from dvos_napari._widgets import DvosDock, button

SCOPES = ("current video", "test videos", "all videos")
DEVICES = ("auto", "cpu", "cuda", "mps")
NO_IMAGE_MODEL = "(none)"


def model_checkpoints(project) -> dict:
    """{model name: path of its best.pt} for the project's trained models."""
    out = {}
    for name in project.model_names():
        ck = project.model_dir(name) / "best.pt"
        if ck.exists():
            out[name] = str(ck)
    return out


def predict_videos(
    project, video_ids, checkpoint, image_checkpoint=None, device="auto", batch_size=4, progress=None, cancel=None
) -> int:
    """Run ``dvos_core.infer.predict_video`` on each video in turn, with one progress range over all of them."""
    from dvos_core.infer import predict_video
    from dvos_core.progress import Steps

    total = 1000 * len(video_ids)
    n = 0
    for i, vid in enumerate(video_ids):
        sub = Steps(progress, start=1000 * i, span=1000, total=total, prefix=f"{vid}: ")
        n += predict_video(
            project,
            vid,
            checkpoint,
            image_checkpoint=image_checkpoint,
            device=device,
            batch_size=batch_size,
            progress=sub,
            cancel=cancel,
        )
    return n


class PredictDock(DvosDock):
    """Choose a checkpoint and a device, then pseudo-label training videos or predict any video."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        box = QGroupBox("Model")
        f = QFormLayout(box)
        self.checkpoint = QComboBox()
        self.checkpoint.setEditable(True)
        self.checkpoint.setToolTip("a model trained in this project, or the path of a .pt checkpoint")
        self.image_checkpoint = QComboBox()
        self.image_checkpoint.setToolTip("optional image (single-frame) model for the first frames of a video")
        ck_row = QHBoxLayout()
        ck_row.addWidget(self.checkpoint, 1)
        ck_row.addWidget(button("...", self._browse))
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device_label = QLabel("")
        self.device_label.setWordWrap(True)
        self.device.currentTextChanged.connect(lambda *_: self._update_device())
        self.scope = QComboBox()
        self.scope.addItems(SCOPES)
        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setValue(4)
        f.addRow("checkpoint", ck_row)
        f.addRow("image model", self.image_checkpoint)
        f.addRow("device", self.device)
        f.addRow("", self.device_label)
        f.addRow("run on", self.scope)
        f.addRow("batch size", self.batch)

        self.predict_button = button(
            "Predict",
            lambda: self.guard(self.predict),
            "segment the videos; results appear as '<video> predicted' layers",
        )
        pl = QGroupBox("Pseudo-label training videos (needs an image model)")
        g = QFormLayout(pl)
        self.passes = QSpinBox()
        self.passes.setRange(1, 16)
        self.passes.setValue(4)
        self.passes.setToolTip("flip passes averaged per frame (test-time augmentation)")
        self.quality = QDoubleSpinBox()
        self.quality.setRange(0.0, 1.0)
        self.quality.setSingleStep(0.05)
        self.quality.setSpecialValueText("keep all")
        self.quality.setToolTip("drop pseudo-labels whose agreement between passes is below this")
        self.drop_below = QCheckBox("clear masks below the minimum quality")
        self.drop_below.setToolTip(
            "unticked: low-quality frames keep their mask but are flagged, and training can "
            "skip them; ticked: their mask is removed"
        )
        g.addRow("passes", self.passes)
        g.addRow("min quality", self.quality)
        g.addRow(self.drop_below)
        self.pseudo_button = button("Pseudo-label", lambda: self.guard(self.pseudo_label))
        g.addRow(self.pseudo_button)

        lay = QVBoxLayout(self)
        lay.addWidget(box)
        lay.addWidget(self.predict_button)
        lay.addWidget(pl)
        lay.addStretch(1)
        lay.addWidget(self.job_bar)
        self._busy_widgets = [self.predict_button, self.pseudo_button]
        self.state.project_changed.connect(lambda *_: self.refresh())
        self.state.store_changed.connect(self.refresh)
        self.refresh()
        self._update_device()

    # ---- choices ---------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        current, current_img = self.checkpoint.currentText(), self.image_checkpoint.currentText()
        self.checkpoint.clear()
        self.image_checkpoint.clear()
        self.image_checkpoint.addItem(NO_IMAGE_MODEL)
        p = self.state.project
        if p is not None:
            names = list(model_checkpoints(p))
            self.checkpoint.addItems(names)
            self.image_checkpoint.addItems(names)
        if current:
            self.checkpoint.setCurrentText(current)
        if current_img:
            self.image_checkpoint.setCurrentText(current_img)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint", "", "PyTorch checkpoints (*.pt *.pth)")
        if path:
            self.checkpoint.setCurrentText(path)

    def _update_device(self) -> None:
        try:
            from dvos_core.model import describe_device, select_device

            self.device_label.setText(f"will run on: {describe_device(select_device(self.device.currentText()))}")
        except Exception as e:
            self.device_label.setText(f"unavailable: {e}")

    def checkpoint_path(self, combo=None) -> str:
        """The checkpoint file chosen in ``combo``: a model name of the project or a path (resolved by the core)."""
        from dvos_core.infer import resolve_checkpoint_path

        combo = combo or self.checkpoint
        text = combo.currentText().strip()
        if not text or text == NO_IMAGE_MODEL:
            raise ValueError("choose a checkpoint (train one in the Train dock first)")
        return str(resolve_checkpoint_path(self.state.require_project(), text))

    def video_ids(self, for_training: bool = False) -> list[str]:
        """Videos of the chosen scope; pseudo-labels (``for_training``) never go to test videos."""
        p = self.state.require_project()
        scope = self.scope.currentText()
        if scope == "current video":
            video = self.state.require_video()
            if for_training and video.split == "test":
                raise ValueError(
                    f"{video.name!r} is a test video: pseudo-labels would become its ground truth; "
                    f"pseudo-label training videos only"
                )
            return [video.name]
        if for_training and scope == "test videos":
            raise ValueError("pseudo-label training videos, not test videos (choose 'all videos')")
        ids = [
            v.name
            for v in p.videos("test" if scope == "test videos" else None)
            if not (for_training and v.split == "test")
        ]
        if not ids:
            raise ValueError(f"no {scope} in the project")
        return ids

    # ---- actions ---------------------------------------------------------------------------------------------
    def predict(self):
        ids = self.video_ids()
        img = self.image_checkpoint.currentText()
        image_ck = None if img in ("", NO_IMAGE_MODEL) else self.checkpoint_path(self.image_checkpoint)
        return self.run(
            predict_videos,
            self.state.require_project(),
            ids,
            self.checkpoint_path(),
            image_checkpoint=image_ck,
            device=self.device.currentText(),
            batch_size=self.batch.value(),
            label=f"predict {len(ids)} video(s)",
            on_result=self._predicted,
        )

    def pseudo_label(self):
        from dvos_core.infer import pseudo_label

        ids = self.video_ids(for_training=True)
        q = self.quality.value() or None
        return self.run(
            pseudo_label,
            self.state.require_project(),
            ids,
            self.checkpoint_path(),
            device=self.device.currentText(),
            n_passes=self.passes.value(),
            quality_threshold=q,
            drop_below=bool(q is not None and self.drop_below.isChecked()),
            label=f"pseudo-label {len(ids)} video(s)",
            on_result=self._pseudo_labelled,
        )

    def _predicted(self, n) -> None:
        from napari.utils.notifications import show_info

        show_info(f"predicted {n} frames")
        self._show_current(predictions=True)
        self.state.notify_store_changed()

    def _pseudo_labelled(self, table) -> None:
        from napari.utils.notifications import show_info

        written = int(table["written"].sum()) if table is not None and "written" in table else 0
        flagged = int(table["below_threshold"].sum()) if table is not None and "below_threshold" in table else 0
        show_info(
            f"pseudo-labelled {written} frames"
            + (f" ({flagged} below the minimum quality)" if flagged else "")
            + "; frames with human masks were left alone"
        )
        self._show_current(predictions=False)
        self.state.notify_store_changed()

    def _show_current(self, predictions: bool) -> None:
        p, vid = self.state.project, self.state.video_id
        if p is None:
            return
        if vid is None:
            ids = self.video_ids() if self.scope.currentText() != "current video" else []
            if ids:
                self.state.select_video(ids[0])
            return
        video = p.video(vid)
        if predictions:
            show_predictions(self.viewer, video)
        else:
            refresh_masks(self.viewer, video)
