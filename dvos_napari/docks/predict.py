"""Predict step: first pseudo-label the training videos with the image model, then predict videos with a trained
video model.

Pseudo-labels are written into the label masks with provenance 'pseudo' and only fill frames that have no human
mask. Predictions are stored apart from the label masks (never overwriting ground truth), one prediction set per
model (named after the model unless another name is given), and shown as ``<video> predicted`` (Labels, editable: fix
it and save the frame as 'corrected' in the Review step) and ``<video> probability`` (Image). A context model offers
its number of passes (1: causal only; 2: a second pass with references on both sides). "Smooth over time" then
averages each frame's prediction with its earlier frames', aligned by the camera motion and the local sway, into
``<set>_smoothed`` (the unsmoothed set is kept; Review compares them). Last, export the predicted masks with each
frame's head count (and, ticked, an overlay video of each), and count the different heads of the current video,
followed from frame to frame (shown as the Tracks layer ``<video> head tracks``).
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
)

from dvos_napari._compute import ComputeRows
from dvos_napari._layers import (
    refresh_masks,
    show_predictions,
    shown_model,
    shown_set,
    unsaved_corrections,
    video_layer_of,
)
from dvos_napari._models import checkpoint_kind, model_checkpoints, note_models
from dvos_napari._widgets import DvosDock, WrapCheckBox, ask_yes_no, button, compact_combo, section, wrapped_label

PSEUDO_SCOPES = ("all training videos", "current video")
SCOPES = ("current video", "test videos", "all videos")
NO_IMAGE_MODEL = "(none)"


class PredictDock(DvosDock):
    """Pseudo-label training videos with an image model, then predict any video with a video model."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.compute = ComputeRows(precision=True)
        self.device, self.device_label, self.threads_box = (
            self.compute.device,
            self.compute.device_label,
            self.compute.threads,
        )

        pf = QFormLayout()
        pf.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.image_model = compact_combo(
            tooltip="the model that labels: an image (single-frame) model trained in the Train step, or a context "
            "model's first (synthetic) phase, to relabel the training videos for its second phase"
        )
        self.pseudo_scope = compact_combo(
            PSEUDO_SCOPES, "training videos: every video that is not a test video; test videos never get pseudo-labels"
        )
        self.passes = QSpinBox()
        self.passes.setRange(1, 16)
        self.passes.setValue(4)
        self.passes.setToolTip(
            "an image model's flipped copies of each frame averaged (more passes: steadier labels, slower); a context "
            "model labels in one pass"
        )
        self.quality = QDoubleSpinBox()
        self.quality.setRange(0.0, 1.0)
        self.quality.setSingleStep(0.05)
        self.quality.setSpecialValueText("keep all")
        self.quality.setToolTip("flag pseudo-labels whose agreement between passes is below this (0-1)")
        self.drop_below = WrapCheckBox("clear masks below the minimum quality")
        self.drop_below.setToolTip(
            "unticked: low-quality frames keep their mask but are flagged, and training can skip them; "
            "ticked: their mask is removed"
        )
        self.relabel = WrapCheckBox("relabel frames that already have a pseudo-label")
        self.relabel.setToolTip(
            "replace earlier pseudo-labels (painted and corrected frames are never replaced); tick it to relabel "
            "with a context model what the image model labelled"
        )
        self.blend_with = compact_combo(
            tooltip="optional image model whose probabilities are averaged with the labelling model's (one vote "
            "each), e.g. a context model's first phase blended with the image model it started from"
        )
        pf.addRow("labelling model", self.image_model)
        pf.addRow("blend with", self.blend_with)
        pf.addRow("run on", self.pseudo_scope)
        pf.addRow("passes", self.passes)
        pf.addRow("minimum quality", self.quality)
        pf.addRow(self.drop_below)
        pf.addRow(self.relabel)
        self.pseudo_button = button(
            "Pseudo-label",
            lambda: self.guard(self.pseudo_label),
            "label every unpainted frame of the training videos with the labelling model",
        )

        f = QFormLayout()
        f.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.checkpoint = compact_combo(tooltip="a model trained in this project, or the path of a .pt checkpoint")
        self.checkpoint.setEditable(True)
        ck_row = QHBoxLayout()
        ck_row.addWidget(self.checkpoint, 1)
        ck_row.addWidget(button("...", self._browse, "choose a checkpoint file"))
        self.image_checkpoint = compact_combo(
            tooltip="optional image model for the first frames of a video (before the video model has references)"
        )
        self.scope = compact_combo(SCOPES, "which videos to predict")
        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setValue(4)
        self.batch.setToolTip(
            "frames predicted together: a GPU gains from more (on a CPU, frames of 128x128 px and up go one at a "
            "time whatever this is); lower it if memory runs out"
        )
        self.context_passes = QSpinBox()
        self.context_passes.setRange(1, 2)
        self.context_passes.setValue(1)
        self.context_passes.setToolTip(
            "context model only. 1: one causal pass, each frame from itself and its earlier frames; 2: a second "
            "pass predicts every frame again with references on both sides (earlier and later frames and their "
            "first-pass masks): steadier, about twice the time"
        )
        from dvos_core.prediction_options import REFERENCE_MASKS  # no torch: the dock opens fast

        self.reference_masks = compact_combo(
            REFERENCE_MASKS,
            "context model only: the mask a predicted frame lends the frames after it. chained: its prediction made "
            "with its own references (carries a head through an occlusion); independent: its prediction of that "
            "frame alone, so a mistake is not carried forward (about a quarter more time)",
        )
        self.set_name = QLineEdit()
        self.set_name.setPlaceholderText("the model's name")
        self.set_name.setToolTip(
            "name the predictions are stored under (a video keeps one prediction set per name, side by side; the "
            "Review step compares them and picks which one to correct). Empty: the model's name. Predicting again "
            "under a name with another checkpoint replaces that set"
        )
        f.addRow("model", ck_row)
        f.addRow("image model for first frames", self.image_checkpoint)
        f.addRow("passes (context model)", self.context_passes)
        f.addRow("reference masks (context model)", self.reference_masks)
        self.smooth = QSpinBox()
        self.smooth.setRange(0, 8)
        self.smooth.setValue(0)
        self.smooth.setSpecialValueText("off")
        self.smooth.setSuffix(" earlier frames")
        self.smooth.setToolTip(
            "after predicting, average each frame's probability with those of this many earlier frames, aligned by "
            "the camera motion and then along each head's own sway, and store it as '<set>_smoothed' beside the "
            "unsmoothed set (shown, and compared in Review): steadier masks; helped where heads sway little, cost a "
            "little where they sway a lot - compare both sets in Review on a test video first (4 is a good start)"
        )
        f.addRow("save predictions as", self.set_name)
        self.smooth_outliers = WrapCheckBox("only frames worse than their neighbours")
        self.smooth_outliers.setToolTip(
            "smooth only the frames that agree with their aligned neighbours much less than the neighbours agree "
            "with each other (a gust, a cloud, a gain jump between good frames), as far as they do, and keep the "
            "others as they are: most of what smoothing gains on such frames without its cost where heads sway"
        )
        self.smooth_outliers.setEnabled(False)
        self.smooth.valueChanged.connect(lambda v: self.smooth_outliers.setEnabled(v > 0))
        f.addRow("smooth over time", self.smooth)
        f.addRow(self.smooth_outliers)
        f.addRow("run on", self.scope)
        f.addRow("batch size (frames)", self.batch)
        self.predict_form = f
        self.checkpoint.currentTextChanged.connect(lambda *_: self._update_kind())
        self.predict_button = button(
            "Predict", lambda: self.guard(self.predict), "segment the videos; results appear as '<video> predicted'"
        )

        lay = QVBoxLayout(self.body)
        lay.addWidget(self.compute.widget)
        lay.addWidget(section("1. Pseudo-label the training videos (image model)"))
        lay.addLayout(pf)
        lay.addWidget(self.pseudo_button)
        lay.addWidget(section("2. Predict videos"))
        lay.addLayout(f)
        self.scale_note = wrapped_label("")  # large frames on a CPU: the trained scale is much faster
        self.scale_note.setVisible(False)
        lay.addWidget(self.scale_note)
        lay.addWidget(self.predict_button)
        lay.addWidget(section("3. Export masks, count heads"))
        self.export_button = button(
            "Export...",
            lambda: self.guard(self._export_dialog),
            "write the predicted masks of the videos chosen under 'run on' (the prediction set reviewed, else each "
            "video's most recent) as images into a folder, one subfolder per video, each with a masks.csv listing the "
            "heads of every frame",
        )
        self.export_video = WrapCheckBox("with an overlay video of each (mp4)")
        self.export_video.setToolTip(
            "also write <video>_overlay.mp4 into each video's subfolder: the video with the outlines of its predicted "
            "heads and each frame's head count, for sharing outside napari (dvos export-video)"
        )
        lay.addWidget(self.export_video)
        lay.addWidget(self.export_button)
        self.count_button = button(
            "Count heads in the current video",
            lambda: self.guard(self.count_heads),
            "follow the heads of the current video from frame to frame (the prediction set reviewed, else the most "
            "recent; the stored masks when it has none) and count the different ones; their tracks are shown as a "
            "layer (dvos count-heads)",
        )
        lay.addWidget(self.count_button)
        lay.addStretch(1)
        lay.addWidget(self.job_bar)
        self._busy_widgets = [self.predict_button, self.pseudo_button, self.export_button, self.count_button]
        self._models: dict = {}
        self.listen(self.state.project_changed, lambda *_: self.refresh())
        self.listen(self.state.store_changed, self.refresh)
        self.listen(self.state.video_changed, lambda *_: self._update_scale_note())
        self.scope.currentTextChanged.connect(lambda *_: self._update_scale_note())
        self.compute.scales.currentTextChanged.connect(lambda *_: self._update_scale_note())
        self.compute.device.currentTextChanged.connect(lambda *_: self._update_scale_note())
        self.refresh()

    # ---- choices ---------------------------------------------------------------------------------------------
    def threads(self) -> int | None:
        return self.threads_box.value()

    def refresh(self) -> None:
        keep = {c: c.currentText() for c in (self.checkpoint, self.image_checkpoint, self.image_model, self.blend_with)}
        for c in keep:
            c.clear()
        self.image_checkpoint.addItem(NO_IMAGE_MODEL)
        self.blend_with.addItem(NO_IMAGE_MODEL)
        p = self.state.project
        self._models = {}
        fresh: list = []  # models that appeared since the last look at this project: the newest is chosen
        if p is not None:
            models = self._models = model_checkpoints(p)
            from dvos_core.store.lock import training_holder

            # a model still training (its first epoch wrote best.pt) is not new yet: chosen when its training ends
            done = {n for n, m in models.items() if training_holder(Path(m.checkpoint).parent) is None}
            seen = getattr(self, "_seen_models", None)
            if seen is not None and seen[0] == str(p.path):
                fresh = [n for n in models if n in done and n not in seen[1]]
            self._seen_models = (str(p.path), done)
            image = [n for n, m in models.items() if m.is_image_model]
            video = [n for n, m in models.items() if not m.is_image_model]
            self.checkpoint.addItems(list(reversed(video)) + list(reversed(image)))
            self.image_checkpoint.addItems(list(reversed(image)))
            self.blend_with.addItems(list(reversed(image)))
            context = [n for n in video if models[n].kind == "context"]  # can relabel for their second phase
            self.image_model.addItems(list(reversed(image)) + list(reversed(context)))
            for c in (self.checkpoint, self.image_checkpoint, self.blend_with, self.image_model):
                note_models(c, models)  # each model's kind, preset, tau, size, epoch and Dice on hover
        for c, text in keep.items():
            # the model to predict with and the labelling model move to a model just trained (listed newest first);
            # the optional ones (blend, the paper model's image model) stay as the user chose
            newest = [c.itemText(i) for i in range(c.count()) if c.itemText(i) in fresh]
            if newest and c in (self.checkpoint, self.image_model):
                c.setCurrentText(newest[0])
            elif text:
                c.setCurrentText(text)
        self._update_kind()
        self._update_scale_note()

    def _update_scale_note(self) -> None:
        """Shown when the videos under 'run on' have large frames and the job would run on a CPU at their scale."""
        from dvos_core.prediction_options import scale_hint

        try:
            shapes = [self.state.project.video(v).shape[1:3] for v in self.video_ids(self.scope.currentText())]
        except ValueError:  # no project, video or videos of the scope yet (video_ids says so): nothing to say
            shapes = []
        hint = scale_hint(shapes, self.compute.device_kind(), self.compute.scales.currentText(), "scales: trained")
        self.scale_note.setText(f"{hint} (Compute section)" if hint else "")
        self.scale_note.setVisible(bool(hint))

    def model_kind(self) -> str | None:
        """Kind (frame, dvos, context) of the chosen model, from its config.yaml or its checkpoint's header; None when
        unknown."""
        text = self.checkpoint.currentText().strip()
        if not text:
            return None
        if text in self._models:
            return self._models[text].kind
        return checkpoint_kind(text)

    def _update_kind(self) -> None:
        """The passes and reference-mask rows are shown for a context model only."""
        for row in (self.context_passes, self.reference_masks):
            self.predict_form.setRowVisible(row, self.model_kind() == "context")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint", "", "PyTorch checkpoints (*.pt *.pth)")
        if path:
            self.checkpoint.setCurrentText(path)

    def checkpoint_path(self, combo=None, what: str = "model") -> str:
        """The checkpoint file chosen in ``combo``: a model name of the project or a path (resolved by the core)."""
        from dvos_core.infer.engine import resolve_checkpoint_path

        combo = self.checkpoint if combo is None else combo
        text = combo.currentText().strip()
        if not text or text == NO_IMAGE_MODEL:
            raise ValueError(f"choose the {what} first (train one in the Train step)")
        return str(resolve_checkpoint_path(self.state.require_project(), text))

    def video_ids(self, scope: str) -> list[str]:
        """Videos of a scope: the current video, the test videos, the training videos (not test) or all videos."""
        p = self.state.require_project()
        if scope == "current video":
            return [self.state.require_video().name]
        if scope == "test videos":
            ids = [v.name for v in p.videos("test")]
        elif scope == "all training videos":
            ids = [v.name for v in p.videos() if v.split != "test"]
        else:
            ids = p.video_ids()
        if not ids:
            what = {"all training videos": "training videos", "all videos": "videos"}.get(scope, scope)
            raise ValueError(f"the project has no {what}; add videos or set their split in the Project step")
        return ids

    # ---- actions ---------------------------------------------------------------------------------------------
    def prediction_set_name(self, checkpoint: str) -> str:
        """The name the predictions are stored under: the name field, else the model's name."""
        from dvos_core.infer import prediction_name
        from dvos_core.store.schema import check_id

        text = self.set_name.text().strip()
        return prediction_name(checkpoint, check_id(text, "prediction set name") if text else None)

    def predict(self):
        ids = self.video_ids(self.scope.currentText())
        img = self.image_checkpoint.currentText()
        image_ck = None if img in ("", NO_IMAGE_MODEL) else self.checkpoint_path(self.image_checkpoint, "image model")
        checkpoint = self.checkpoint_path()
        name = self.prediction_set_name(checkpoint)
        context = self.model_kind() == "context"
        passes = self.context_passes.value() if context else None
        reference_masks = self.reference_masks.currentText() if context else None
        before = self.smooth.value()
        args = (self.state.require_project(), ids, checkpoint)
        kwargs = {
            "image_checkpoint": image_ck,
            "device": self.device.currentText(),
            "batch_size": self.batch.value(),
            "name": name,
            "passes": passes,
            "reference_masks": reference_masks,
            "precision": self.compute.precision.currentText(),
            "scales": self.compute.scales.currentText(),
            "smooth_before": before,
            "smooth_only_outliers": self.smooth_outliers.isChecked(),
        }
        return self._start_predict(args, kwargs, name)

    def _start_predict(self, args: tuple, kwargs: dict, name: str, replace: bool = False):
        """Predict (in a child process) with the arguments ``predict`` read from the panel; without ``replace``, a
        set that predicting would replace is asked about first (:meth:`_predict_result`)."""
        from dvos_core.infer.smooth import smoothed_name

        before = kwargs["smooth_before"]
        shown = smoothed_name(name) if before else name
        return self.run(
            "dvos_napari._tasks:predict_videos",
            *args,
            replace=replace,
            **kwargs,
            label=f"predict {len(args[1])} video(s) as {name}" + (", then smooth them" if before else ""),
            cancel_keeps="the frames predicted (and smoothed) so far are kept as an unfinished set; Predict again "
            "with the same model and settings resumes it",
            on_result=lambda r: self._predict_result(r, shown, args, kwargs, name),
        )

    def _predict_result(self, result, shown: str, args: tuple, kwargs: dict, name: str) -> None:
        """The frames predicted are shown; a set the run would replace (nothing was predicted) is asked about: Yes
        predicts again, replacing it; No keeps it."""
        if not isinstance(result, dict):
            return self._predicted(result, shown)
        if "smoothed" in result:
            return self._predicted(result["predicted"], shown, smoothed=(name, result["smoothed"]))
        found = result["replace"]
        if self._ask_replace(found, name):  # started once this job has finished (it is still running here)
            QTimer.singleShot(0, lambda: self.guard(self._start_predict, args, kwargs, name, replace=True))
            return None
        text = (
            f"nothing predicted: the prediction set {name!r} of {', '.join(found)} is kept as it was; to keep it and "
            f"predict with these settings too, type another name under 'save predictions as'"
        )
        self.messages.info(text)
        return None

    def _ask_replace(self, found: dict, name: str) -> bool:
        """Whether to replace the prediction set ``name`` of the videos ``found`` (frames made by another checkpoint
        or with other settings, see ``dvos_core.infer.replaced_sets``): Yes replaces, No (the default) keeps it."""
        made = "; ".join(f"{v}: {f['frames']} frames made by {f['made_by']}" for v, f in found.items())
        kept = {v: unsaved_corrections(self.viewer, v) for v in found if shown_model(self.viewer, v) == name}
        kept = "; ".join(f"{v} frames {', '.join(map(str, f))}" for v, f in kept.items() if f)
        return ask_yes_no(
            self,
            "Replace the predictions?",
            f"The prediction set {name!r} already holds predictions made by another model or with other settings "
            f"({made}). Replace them with this run's? (No keeps them: type another name under 'save predictions "
            f"as' to keep both.)"
            + (
                f"\n\nYou corrected {name!r} without saving ({kept}): those frames keep your corrections of the old "
                f"masks (save them in Review with Save correction); the others show the new predictions."
                if kept
                else ""
            ),
        )

    def pseudo_label(self):
        self.state.require_project()  # no project is the first thing to fix (before "choose the labelling model")
        checkpoint = self.checkpoint_path(self.image_model, "labelling model")
        blend = [] if self.blend_with.currentText() in ("", NO_IMAGE_MODEL) else [self.checkpoint_path(self.blend_with)]
        ids = self.video_ids(self.pseudo_scope.currentText())
        q = self.quality.value() or None
        return self.run(
            "dvos_core.infer:pseudo_label",
            self.state.require_project(),
            ids,
            checkpoint,
            device=self.device.currentText(),
            n_passes=self.passes.value(),
            quality_threshold=q,
            drop_below=bool(q is not None and self.drop_below.isChecked()),
            overwrite=self.relabel.isChecked(),
            blend_with=blend,
            precision=self.compute.precision.currentText(),
            scales=self.compute.scales.currentText(),
            label=f"pseudo-label {len(ids)} video(s)",
            cancel_keeps="the frames labelled so far are kept; Pseudo-label again with the same model resumes",
            on_result=self._pseudo_labelled,
        )

    def export(self, out_dir):
        """Export the predictions of the videos under 'run on' into ``out_dir`` (in a child process)."""
        ids = self.video_ids(self.scope.currentText())
        model = self.state.prediction_model
        return self.run(
            "dvos_napari._tasks:export_predictions",
            self.state.require_project(),
            ids,
            str(out_dir),
            model=model,
            overlay_video=self.export_video.isChecked(),
            label=f"export {model or 'the most recent'} predictions of {len(ids)} video(s)",
            cancel_keeps="the videos exported whole before the cancel are kept; nothing of the one under way was "
            "written (each video's masks are exported whole or not at all)",
            on_result=lambda r: self._exported(r, out_dir, model),
        )

    def count_heads(self):
        """Count the different heads of the current video (in a child process); show their tracks as a layer."""
        vid = self.state.require_video().name
        model = self.state.prediction_model
        return self.run(
            "dvos_napari._tasks:count_heads",
            self.state.require_project(),
            vid,
            model=model,
            label=f"count the heads of {vid}",
            cancel_keeps="nothing was written",
            on_result=lambda r: self._counted(r, vid),
        )

    def _counted(self, result: dict, vid: str) -> None:
        from dvos_core.evaluate.head_tracks import describe_count
        from dvos_napari._names import layer_metadata, tracks_name

        s, tracks = result["summary"], result["tracks"]
        for old in [x for x in self.viewer.layers if video_layer_of(x, vid, "tracks")]:  # dvos's own, not a user's
            self.viewer.layers.remove(old)
        layer = None
        if len(tracks) and vid == self.state.video_id:  # not over another video chosen meanwhile
            md = layer_metadata(self.state.require_project().path, vid, "tracks")
            layer = self.viewer.add_tracks(
                tracks, name=tracks_name(vid), metadata=md, tail_length=10, blending="translucent"
            )
        shown = f"; their tracks are the layer '{layer.name}'" if layer is not None else ""
        self.messages.info(f"{vid}: {describe_count(s)}{shown}")

    def _export_dialog(self) -> None:
        self.video_ids(self.scope.currentText())  # no project or no such video: say so before asking for a folder
        path = QFileDialog.getExistingDirectory(self, "Export the predicted masks into a folder")
        if path:
            self.export(path)

    def _exported(self, result: dict, out_dir, model) -> None:
        written, skipped = result["written"], result["skipped"]
        text = f"exported {sum(written.values())} masks of {len(written)} video(s) to {out_dir}"
        text += " (each video's masks.csv lists the heads of every frame)" if written else ""
        if result.get("videos"):
            text += f"; {len(result['videos'])} overlay video(s) beside them"
        if skipped:
            text += f"; no {model or 'stored'} predictions of {', '.join(skipped)} (predict them first)"
        self.messages.info(text)

    def _predicted(self, n, name: str, smoothed: tuple | None = None) -> None:
        """Say what was predicted (``smoothed``: the source set and the frames smoothed into ``name``) and show it."""
        from napari.utils.notifications import show_info

        done = f"predicted {n} frames"
        if smoothed is not None:
            source, m = smoothed
            done = (
                f"{done} and smoothed {m}"
                if n
                else f"the frames of {source!r} were predicted already (kept); smoothed {m} frames"
            )
        show_info(f"{done} ({name})")
        self.messages.info(
            f"{done}; the prediction set {name!r} is shown as '<video> predicted' "
            f"(fix them in Review, which can also compare them with other models)"
        )
        vid = self.state.video_id
        before = shown_set(self.viewer, vid) if vid else None
        if not self.state.set_prediction_model(name):  # show (and review) what was just predicted: read once
            self._show_current(predictions=True)
        kept = unsaved_corrections(self.viewer, vid) if vid else []
        if kept and shown_model(self.viewer, vid) != name:  # the layer keeps them: say why it shows another model
            self.messages.info(
                f"predicted {n} frames as {name!r}; '{vid} predicted' still shows {shown_model(self.viewer, vid)!r} "
                f"with your unsaved corrections of frames {kept}: save them in Review (Save correction), then "
                f"{name!r} is shown"
            )
        elif kept and before is not None and before != shown_set(self.viewer, vid):  # the set replaced under them
            self.messages.info(
                f"predicted {n} frames as {name!r}; '{vid} predicted' shows them but on frames {kept}, which keep "
                f"your unsaved corrections of the earlier masks: save them in Review (Save correction) or undo them "
                f"(Ctrl+Z)"
            )
        self.state.notify_store_changed()

    def _pseudo_labelled(self, table) -> None:
        from napari.utils.notifications import show_info

        text = pseudo_label_summary(table)
        show_info(text)
        self.messages.info(text)
        self._show_current(predictions=False)
        self.state.notify_store_changed()

    def _show_current(self, predictions: bool) -> None:
        p, vid = self.state.project, self.state.video_id
        if p is None:
            return
        if vid is None:
            ids = p.video_ids()
            if ids:
                self.state.select_video(ids[0])
            return
        video = p.video(vid)
        if predictions:
            show_predictions(self.viewer, video, self.state)
        else:
            refresh_masks(self.viewer, video, self.state)


def pseudo_label_summary(table) -> str:
    """What a pseudo-labelling run did, from its per-frame table: frames labelled, those below the minimum quality,
    those that kept their pseudo-label (the relabel box unticked) and those with human masks left alone."""

    def count(column, value=None) -> int:
        if table is None or column not in table:
            return 0
        return int((table[column] == value).sum() if value is not None else table[column].sum())

    written, flagged = count("written"), count("below_threshold")
    kept, protected = count("status", "kept"), count("status", "protected")
    return (
        f"pseudo-labelled {written} frames"
        + (f" ({flagged} below the minimum quality)" if flagged else "")
        + (f"; {kept} kept the pseudo-label they had (tick 'relabel frames...' to label them again)" if kept else "")
        + (f"; {protected} with human masks left alone" if protected else "")
    )
