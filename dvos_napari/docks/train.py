"""Train step: training in a child process with epoch/batch progress, a live loss / validation-Dice plot and a Stop
that acts within the current step (the child checks it at every layer of the forward and backward pass, saves
``last.pt`` and exits, returning its memory); a child still alive :attr:`TrainDock.stop_grace_s` seconds after Stop
is ended. The settings start from what suits this computer (a GPU: the paper's; a CPU: the demo's)."""

from __future__ import annotations

import datetime as _dt

from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import QFormLayout, QLineEdit, QProgressBar, QPushButton, QVBoxLayout

from dvos_core.progress import TimeLeft, time_left_words
from dvos_napari import _machine
from dvos_napari._compute import ComputeRows
from dvos_napari._forms import ConfigForm, FieldView
from dvos_napari._models import model_checkpoints, note_models, stopped_early
from dvos_napari._plots import PlotCanvas
from dvos_napari._widgets import Collapsible, DvosDock, WrapCheckBox, compact_combo, wrapped_label

PHASE_TEXT = {
    "image": "image model",
    "synthetic": "video, synthetic clips",
    "real": "video, your videos",
}
NO_INIT = "(none)"
NO_RECIPE = "(choose)"
GROUPS = ("Schedule", "Video model", "Data", "Loss weights", "Speed")
DRAW_INTERVAL_MS = 700  # the plot redraws at most this often (drawing costs the viewer a few tens of ms)


VIDEO_MODEL_TEXT = {
    "dvos": "DVOS (the paper's)",
    "context": "context-aware",
}


def _phase_choices():
    from dvos_core.train.config import PHASES

    return [(p, PHASE_TEXT.get(p, p)) for p in PHASES]


def _video_model_choices():
    from dvos_core.train import config

    return [(m, VIDEO_MODEL_TEXT.get(m, m)) for m in getattr(config, "VIDEO_MODELS", ("dvos",))]


SELECT_BY_TEXT = {
    "auto": "automatic (best validation; the last epoch when fine-tuning with no painted validation frame)",
    "val": "best validation Dice",
    "last": "last epoch",
}
ANCHOR_VIEW_TEXT = {
    "query": "the frame alone (clean frames)",
    "clean": "the frame before degradation (every sample)",
}


PRECISION_TEXT = {
    "auto": "auto: bf16 on a GPU that has it",
    "fp32": "fp32 everywhere",
    "bf16": "bf16, also on a CPU with native bfloat16",
}


def _precision_choices():
    from dvos_core.prediction_options import PRECISIONS

    return [(v, PRECISION_TEXT.get(v, v)) for v in PRECISIONS]


def _select_by_choices():
    from dvos_core.train.config import SELECT_BY

    return [(v, SELECT_BY_TEXT.get(v, v)) for v in SELECT_BY]


def _anchor_view_choices():
    from dvos_core.train.config import ANCHOR_VIEWS

    return [(v, ANCHOR_VIEW_TEXT.get(v, v)) for v in ANCHOR_VIEWS]


TRAIN_VIEWS = {
    # basic: always visible
    "phase": FieldView(
        "what to train",
        choices=_phase_choices,
        help="Image: the image model, frame by frame | synthetic: the video model's first phase, on synthetic clips | "
        "real: its second phase, on your videos (painted, corrected and pseudo-labelled frames)",
    ),
    "preset": FieldView(
        "model size",
        help="How big a model to train: paper (the paper's sizes, for a GPU: its video model has 92.7M weights) | "
        "small (about 40x fewer, for a CPU) | tiny (for tests); a model trained from another ('start from') keeps "
        "that model's size",
    ),
    "epochs": FieldView("epochs", "passes", minimum=1, maximum=100000),
    "batch_size": FieldView("clips per step", "clips", minimum=1, maximum=1024),
    "size": FieldView(
        "crop size",
        "px",
        minimum=32,
        maximum=4096,
        step=32,
        none_text="the model's own",
        help="Training size in pixels (a multiple of 32 up to 2048; 'the model's own': that of the model size, or of "
        "the model it starts from, 384 for paper); crops of 256-768 px are resized to it",
    ),
    "video_model": FieldView(
        "video model",
        choices=_video_model_choices,
        help="The video model of the synthetic and real phases: DVOS (the paper's: it sees the earlier frames, never "
        "the frame itself) | context-aware (the frame plus its aligned earlier frames and their masks; it starts as "
        "the image model)",
    ),
    "lr": FieldView("learning rate", minimum=1e-8, maximum=1.0),
    "max_steps_per_epoch": FieldView(
        "steps per epoch",
        "steps",
        minimum=1,
        maximum=10**7,
        none_text="all data",
        help="At most this many training steps per epoch ('all data': every clip of the epoch, no cap)",
    ),
    # advanced
    "weight_decay": FieldView("weight decay", group="Schedule", maximum=1.0),
    "eta_min": FieldView("final learning rate", group="Schedule", maximum=1.0),
    "samples_per_epoch": FieldView("clips per epoch", "clips", "Schedule", minimum=1, none_text="all samples"),
    "grad_clip": FieldView("gradient clipping", "norm", "Schedule", 0.1, 1000, step=0.1, none_text="off"),
    "seed": FieldView("random seed", group="Schedule", maximum=2**31 - 1),
    "tau": FieldView("reference frames", "frames", "Video model", minimum=1, maximum=64),
    "delta": FieldView("frame gap", "frames", "Video model", minimum=1, maximum=1000),
    "anchor_weight": FieldView("anchor to the query (context model)", group="Video model", maximum=1000),
    "anchor_view": FieldView("anchor held to", group="Video model", choices=_anchor_view_choices),
    "frame_anchor_weight": FieldView(
        "clean-view anchor (image model, degraded inputs)",
        group="Loss weights",
        maximum=1000,
        help="Image model trained on degraded frames (a recipe that degrades them): its mask on a degraded frame is "
        "held to its mask on the same frame undegraded, with this weight (like the context model's anchor held to "
        "the frame before degradation; one more pass of the model per step; 0 = off)",
    ),
    "image_lr_scale": FieldView(
        "rate of the image model's parts",
        "share of the learning rate",
        "Video model",
        minimum=0.05,
        maximum=1.0,
        step=0.05,
        none_text="automatic (context 0.3, dvos 1)",
        help="Video models: the learning rate of the parts taken over from the image model, as a share of the "
        "learning rate (and of the final learning rate); their new parts train at the full rate (1 = one rate; "
        "automatic: 0.3 for the context model, 1 for DVOS, as in the paper)",
    ),
    "val_fraction": FieldView("validation share", "share 0-1", "Data", maximum=0.95, step=0.05),
    "select_by": FieldView("best.pt is", group="Data", choices=_select_by_choices),
    "real_share": FieldView(
        "share of real frames", "beside synthetic clips", "Data", 0.05, 0.95, step=0.05, none_text="by weight"
    ),
    "pseudo_quality_min": FieldView(
        "minimum pseudo-label quality", "0-1", "Data", maximum=1.0, step=0.05, none_text="keep all"
    ),
    "num_workers": FieldView(
        "data loader processes",
        group="Data",
        maximum=64,
        none_text="automatic",
        help="Processes that prepare the training clips beside the training ('automatic': none on a CPU, where they "
        "would take cores from the training itself; on a GPU up to 4, one core kept per training process)",
    ),
    "mask_weight": FieldView("mask loss", group="Loss weights", maximum=1000),
    "frame_weight": FieldView("frame reconstruction loss", group="Loss weights", maximum=1000),
    "bce_weight": FieldView("cross-entropy (in mask loss)", group="Loss weights", maximum=1000),
    "dice_weight": FieldView("soft Dice (in mask loss)", group="Loss weights", maximum=1000),
    "mse_weight": FieldView("squared error (in frame loss)", group="Loss weights", maximum=1000),
    "ssim_weight": FieldView("1 - SSIM (in frame loss)", group="Loss weights", maximum=1000),
    "amp": FieldView(
        "bf16 on the GPU",
        group="Speed",
        help="Compute in bf16 where the number format gives it (automatic: CUDA GPUs that have it; bf16: also a CPU "
        "with native bfloat16): faster, less memory; unticked: float32 everywhere, whatever the number format says",
    ),
    "precision": FieldView("number format (with bf16 on)", group="Speed", choices=_precision_choices),
    "compile": FieldView(
        "compile the model (GPU)",
        group="Speed",
        help="Compile the model before training (CUDA GPUs only): a slower start, then faster steps",
    ),
    "device": FieldView(hidden=True),  # the Compute rows
    "init_from": FieldView(hidden=True),  # 'start from'
}


def _in_project(root, recorded) -> bool:
    """Whether a run's record ``recorded`` of its starting checkpoint names a model of the project at ``root``: the
    ``models/NAME/FILE`` config.yaml writes for one, or a path inside the project (recorded before that); a model of
    the same name in another project (``.../season1/field.dvos/models/image/best.pt``) is not."""
    from pathlib import Path

    p = Path(str(recorded))
    if not p.is_absolute():
        return p.parts[:1] == ("models",)
    try:
        p.resolve().relative_to(Path(root).resolve() / "models")
    except (OSError, ValueError):
        return False
    return True


def _recipes() -> list[str]:
    from dvos_core.train import config

    return list(config.list_recipes()) if hasattr(config, "list_recipes") else []


EPOCH_FORMAT = "epoch %v / %m"


class TrainDock(DvosDock):
    """Start/Stop training; the plot shows the training loss per batch and the validation Dice per epoch."""

    stop_grace_s = 30.0  # seconds a stopped child may take to save and exit before it is ended

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        from dvos_core.machine import suggested_settings
        from dvos_core.train.config import TrainConfig, cosine_floor

        self._cosine_floor = cosine_floor
        info = _machine.known() or _machine.fallback_info()
        settings, why = suggested_settings(info, TrainConfig.phase)  # for the phase the form starts on
        self._info, self._suggested = info, settings
        self.form = ConfigForm(TrainConfig, TRAIN_VIEWS, defaults=settings | {"eta_min": cosine_floor(settings["lr"])})
        self.form.widgets["lr"].valueChanged.connect(self._lr_changed)
        self.machine_label = wrapped_label(f"settings suggested for this computer: {why}")
        self.form.widgets["phase"].currentIndexChanged.connect(lambda *_: self._phase_changed())

        extra = QFormLayout()
        extra.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.init_from = compact_combo(tooltip="start from an earlier model's weights (image model -> video model)")
        self.name = QLineEdit()
        self.name.setPlaceholderText("automatic: <what>-<date>-<time>")
        self.name.setToolTip("the model's name in the project; start again with the same name to resume a stopped run")
        extra.addRow("start from", self.init_from)
        extra.addRow("model name", self.name)
        self.recipe = compact_combo(tooltip="fill the form with a shipped recipe's settings for the chosen phase")
        self.recipe.addItem(NO_RECIPE)
        self.recipe.addItems(_recipes())
        self.recipe.textActivated.connect(lambda text: self.guard(self.load_recipe, text))
        if self.recipe.count() > 1:
            extra.addRow("load a recipe", self.recipe)
        self.ref_pixels = WrapCheckBox("read earlier frames' pixels too")
        self.ref_pixels.setToolTip(
            "for gusty footage - context model started from an image model: the model also reads the pixels of the "
            "aligned earlier frames, beside the frame itself, from its first layer on. Helps frames hit by a gust, "
            "noise or flicker between good neighbours; costs footage whose heads sway a lot on their own. A model "
            "continued from a context checkpoint keeps what it was trained with: leave this as that phase had it."
        )
        extra.addRow("", self.ref_pixels)
        for key in ("phase", "video_model"):
            self.form.widgets[key].currentIndexChanged.connect(lambda *_: self._video_options())
        self._video_options()
        self.compute = ComputeRows()
        self.device, self.device_label, self.threads_box = (
            self.compute.device,
            self.compute.device_label,
            self.compute.threads,
        )

        self.start_button = QPushButton("Start training")
        self.start_button.setToolTip("train in the background; the button turns into Stop")
        self.start_button.clicked.connect(lambda *_: self.guard(self.toggle))
        self.epoch_bar = QProgressBar()
        self.epoch_bar.setFormat(EPOCH_FORMAT)
        self._time_left = TimeLeft()
        self.batch_bar = QProgressBar()
        self.batch_bar.setFormat("step %v / %m")
        self.plot = PlotCanvas(napari_viewer, min_height=220)
        self.plot.redraw = self._draw  # lines and axis labels in the colours of a new theme
        self.ax_loss = self.plot.axes[0]
        self.ax_dice = self.ax_loss.twinx()
        self.job_bar.bar.hide()
        self.job_bar.cancel_button.hide()
        self.job_bar.show_progress_text = False

        from dvos_napari._all_steps import AllStepsBox

        self.all_steps = AllStepsBox(self.state, self.threads)
        self.all_steps.busy.connect(lambda on: self.start_button.setDisabled(on))
        self.all_steps.busy.connect(lambda on: on and self._watch_ancestors())
        self.all_steps_section = Collapsible("Every step at once (run-all)", self.all_steps)

        lay = QVBoxLayout(self.body)
        lay.addWidget(self.machine_label)
        lay.addWidget(self.all_steps_section)
        lay.addWidget(self.form)
        lay.addLayout(extra)
        lay.addWidget(self.compute.widget)
        lay.addWidget(self.start_button)
        lay.addWidget(self.epoch_bar)
        lay.addWidget(self.batch_bar)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.job_bar)

        self.process = None  # the running Job (a child process)
        self._watched: list = []  # the widgets around this step whose removal from the window stops its jobs
        self.model_name: str | None = None
        self.events: list = []
        self._losses: list[tuple[float, float]] = []
        self._dice: list[tuple[float, float]] = []
        self._steps_per_epoch = 1
        self._killed = False
        self._final = ""
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_stuck)
        self._draw_timer = QTimer(self)
        self._draw_timer.setSingleShot(True)
        self._draw_timer.timeout.connect(self._draw)
        self._handlers = self._event_handlers()
        self._busy_widgets = [self.form, self.ref_pixels]
        self._draw()
        self.listen(self.state.project_changed, lambda *_: self.refresh())
        self.listen(self.state.store_changed, self.refresh)
        self._phase_chosen = False  # the user picked what to train (or where to start from): never changed for them
        self.form.widgets["phase"].activated.connect(lambda *_: setattr(self, "_phase_chosen", True))
        self.init_from.activated.connect(lambda *_: setattr(self, "_phase_chosen", True))
        # a stopped run's name the step wrote into 'model name' (so that Start resumes it), and what that run trains
        self._filled_name: tuple[str, tuple] | None = None
        # (project path, checkpoint path) of a stopped run that started from a checkpoint outside the project: listed
        # under 'start from' as its path, so that Start resumes that run
        self._init_path: tuple[str, str] | None = None
        for key in ("phase", "video_model", "preset"):
            self.form.widgets[key].activated.connect(lambda *_: self._other_model_chosen())
        self.init_from.activated.connect(lambda *_: self._other_model_chosen())
        self.ref_pixels.clicked.connect(lambda *_: self._other_model_chosen())
        self.listen(self.state.project_changed, lambda *_: self.next_phase())
        self.refresh()
        self.next_phase()
        _machine.when_known(self._machine_known, owner=self)

    def next_phase(self) -> str | None:
        """Set the form to what this project trains next, unless the user chose already: the image model first,
        then the video model's synthetic phase from the newest image model, then its real phase from the newest
        synthetic-phase model. Returns the phase set (None: left as it was)."""
        project = self.state.project
        if self._phase_chosen or project is None or self.running:
            return None
        models = list(model_checkpoints(project).values())  # newest last
        stopped = {e.name for e in models if e.phase and stopped_early(project.model_dir(e.name))}
        if stopped and not self.name.text().strip():  # a run stopped part-way (napari closed, say): offer to resume it
            return self._resume_form(next(e for e in reversed(models) if e.name in stopped))
        # the newest of each phase (an imported image model, without config.yaml, stands for the image phase)
        by_phase = {e.trained_as: e for e in models if e.trained_as and e.name not in stopped}
        if "image" not in by_phase:
            phase, start = "image", None
        elif "synthetic" not in by_phase:
            phase, start = "synthetic", by_phase["image"]
        else:
            phase, start = "real", by_phase["synthetic"]
        if self._init_path is not None:  # a stopped run's starting checkpoint, resumed or given up: listed no more
            self._init_path = None
            self.refresh()
        values = {"phase": phase}
        if start is not None and start.video_model and phase == "real":
            values["video_model"] = start.video_model  # the second phase continues the first phase's model
        self.form.set_values(values)
        self.init_from.setCurrentText(start.name if start is not None else NO_INIT)
        return phase

    def _resume_form(self, run) -> str:
        """Fill the form with the settings stopped run ``run`` (a ModelEntry) began with and its name, so Start
        resumes it (a run started again with other settings is refused). Returns its phase."""
        from dvos_core.store.fsops import own_model_file
        from dvos_core.train.config import TrainConfig
        from dvos_napari._models import _config, epochs_done

        project = self.state.project
        folder = project.model_dir(run.name)
        saved = _config(folder)
        values = {k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__ and k != "device"}
        init = values.pop("init_from", None)
        if values.get("eta_min") is None:  # left unset (automatic): the form's 'final learning rate' follows lr
            values["eta_min"] = self._cosine_floor(values.get("lr", self.form.values()["lr"]))
        self.form.set_values(values)
        own = own_model_file(project.path, init) if init and _in_project(project.path, init) else None
        self._init_path = (str(project.path), str(init)) if init and own is None else None
        self.refresh()  # a checkpoint outside the project is listed under 'start from' as its path
        self.init_from.setCurrentText(own.parent.name if own is not None else (str(init) if init else NO_INIT))
        self.ref_pixels.setChecked(bool((saved.get("model") or {}).get("input_fusion")))
        self.name.setText(run.name)
        self._filled_name = (run.name, self._model_choice())
        self.messages.info(
            f"'{run.name}' stopped after epoch {epochs_done(folder)} of {saved.get('epochs')}: the form holds its "
            f"settings, and Start training resumes it (give another model name to train a new one instead)"
        )
        return run.phase

    def _model_choice(self) -> tuple:
        """What the form trains: the phase, the video model, the model size, 'start from' and the earlier frames'
        pixels (a stopped run resumes only with the same)."""
        values = self.form.values()
        return (
            values.get("phase"),
            values.get("video_model"),
            values.get("preset"),
            self.init_from.currentText(),
            self.ref_pixels.isChecked() and self._context_phase(),
        )

    def _other_model_chosen(self) -> None:
        """The user chose another model to train than the stopped run whose name the step wrote into 'model name':
        that run cannot resume with it (Start would be refused), so the name is automatic again and Start trains a
        new model. The name is left alone when the user typed it, or when the choice is the run's own again."""
        if self._filled_name is None:
            return
        name, choice = self._filled_name
        if self.name.text().strip() != name:
            self._filled_name = None  # the user changed the name: theirs
            return
        if self._model_choice() == choice:
            return
        self._filled_name = None
        self.name.clear()
        self.messages.info(
            f"'model name' is automatic again: these settings train a new model (the stopped '{name}' resumes with "
            f"its own settings and name)"
        )

    # ---- settings --------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def threads(self) -> int | None:
        return self.threads_box.value()

    def _lr_changed(self, lr: float) -> None:
        self.form.set_values({"eta_min": self._cosine_floor(lr)})  # the schedule ends at a tenth of it

    def _machine_known(self, info: dict) -> None:
        """Switch to the settings that suit this computer, unless the user changed the form already."""
        from dvos_core.machine import suggested_settings
        from dvos_core.train.config import TrainConfig

        self._info = info
        follows = self._follows_suggestion()
        self.form.defaults.update(suggested_settings(info, TrainConfig.phase)[0])  # the defaults' phase
        self._suggest(follows)

    def _follows_suggestion(self) -> bool:
        """Whether the form still holds every value suggested last (the user changed none of them)."""
        values = self.form.values()
        return all(values.get(k) == v for k, v in self._suggested.items())

    def _suggest(self, apply: bool) -> None:
        """The suggestion for this computer and the chosen phase; written into the form when ``apply``."""
        from dvos_core.machine import suggested_settings

        settings, why = suggested_settings(self._info, self.form.values().get("phase", "image"))
        if apply and settings != self._suggested:
            self.form.set_values(settings)
        self._suggested = settings
        self.machine_label.setText(f"settings suggested for this computer: {why}")

    def _phase_changed(self) -> None:
        """A video phase on a CPU gets smaller batches, unless the user changed the suggested values."""
        self._suggest(self._follows_suggestion())

    def _context_phase(self) -> bool:
        values = self.form.values()
        return values.get("phase") != "image" and values.get("video_model") == "context"

    def _video_options(self) -> None:
        """The context model's options apply to its phases only."""
        self.ref_pixels.setEnabled(self._context_phase())

    def _set_busy(self, busy: bool) -> None:
        super()._set_busy(busy)
        self.all_steps.start_button.setDisabled(busy)  # one writer at a time: training or every step
        if not busy:
            self._video_options()

    def refresh(self) -> None:
        self.all_steps.refresh()
        current = self.init_from.currentText()
        self.init_from.clear()
        self.init_from.addItem(NO_INIT)
        if self.state.project is not None:
            models = model_checkpoints(self.state.project)
            self.init_from.addItems(list(reversed(models)))
            note_models(self.init_from, models)  # each model's settings on hover
            held = self._init_path
            if held is not None and held[0] == str(self.state.project.path):
                self.init_from.addItem(held[1], held[1])  # its data: the path, given to the run as it is
        if current:
            self.init_from.setCurrentText(current)

    def config(self, **overrides):
        """A ``TrainConfig`` from the form; ``overrides`` set any other TrainConfig field (e.g. preset='tiny')."""
        init = self.init_from.currentText()
        values = {"device": self.device.currentText()}
        if self.init_from.currentData():  # a stopped run's starting checkpoint outside the project: its path
            values["init_from"] = self.init_from.currentData()
        elif init not in ("", NO_INIT):
            from dvos_core.infer import resolve_checkpoint_path

            project = self.state.require_project()
            if not (project.model_dir(init) / "best.pt").is_file():  # deleted meanwhile (from a terminal, say)
                self.refresh()
                raise ValueError(
                    f"the model '{init}' is no longer in the project (it was deleted): choose another model under "
                    f"'start from', or '{NO_INIT}' to train from scratch"
                )
            values["init_from"] = str(resolve_checkpoint_path(project, init))
        if self.ref_pixels.isChecked() and self._context_phase():
            values["model"] = {**self.form.extra.get("model", {}), "input_fusion": True}
        values.update(overrides)
        return self.form.value(**values)

    def load_recipe(self, name: str) -> None:
        """Fill the form with recipe ``name``'s settings for the chosen phase (`dvos train --recipe NAME`)."""
        from dvos_core.train.config import TrainConfig

        if name in ("", NO_RECIPE):
            return
        cfg = TrainConfig.from_recipe(name, self.form.values()["phase"])
        values = cfg.to_dict()
        values.pop("device", None)
        self.form.set_values(values)
        self.messages.info(f"recipe '{name}' loaded for this phase (also its augmentation settings)")
        self.recipe.setCurrentIndex(0)

    # ---- actions ---------------------------------------------------------------------------------------------
    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    def start(self, **overrides):
        """Start a training child process with the form's settings (plus ``overrides``); returns its Job."""
        if self.running:
            raise ValueError("a training run is already going; press Stop first")
        project = self.state.require_project()
        # nothing to train on is said by the child (reading every video's samples here would stall napari), before it
        # makes the model's folder
        cfg = self.config(**overrides)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.model_name = self.name.text().strip() or f"{cfg.phase}-{stamp}"
        self._run_choice = self._model_choice()  # what this run trains ('start from' stays open while it runs)
        self._run_project = project  # where the model goes, whichever project is open when it stops
        self.events, self._losses, self._dice = [], [], []
        self._killed, self._final = False, ""
        job = self.run(
            "dvos_core.train.subprocess:run_training",
            str(project.path),
            cfg.to_dict(),
            self.model_name,
            True,
            events="on_event",
            on_event=self._on_event,
            notify=False,
            label=f"train {self.model_name}",
        )
        if job is None:
            return None
        self.epoch_bar.setRange(0, max(1, int(cfg.epochs)))  # (a run that could not start leaves the bars as they were)
        self.epoch_bar.setValue(0)
        self.batch_bar.setRange(0, 0)
        self.process = job
        job.finished.connect(self._on_finished)
        self._watch_ancestors()
        self.messages.info(f"starting {self.model_name}...")
        self.start_button.setText("Stop")
        self._draw()
        return job

    def stop(self) -> None:
        """Ask the child to stop now (within the current step); the button returns to Start once it has exited."""
        if self.process is not None and self.running:
            self.process.cancel()
            self.start_button.setText("Stopping...")
            self.start_button.setEnabled(False)
            self.messages.info("stopping: saving the model's state...")
            self._kill_timer.start(int(self.stop_grace_s * 1000))

    def _kill_stuck(self) -> None:
        """Stop was pressed but the child is still alive: end it (it keeps the weights saved before)."""
        if self.process is not None and self.process.is_alive():
            self._killed = True
            self.process.kill()

    # ---- events (main thread): one handler per event type -----------------------------------------------------
    def _event_handlers(self) -> dict:
        from dvos_core.train.events import EventType

        return {
            EventType.START: self._on_start,
            EventType.BATCH: self._on_batch,
            EventType.EPOCH: self._on_epoch,
            EventType.DONE: self._on_done,
            EventType.CANCELLED: self._on_cancelled,
            EventType.ERROR: self._on_error,
        }

    def _on_event(self, event) -> None:
        self.events.append(event)
        self._handlers[event.type](event)
        if not self._draw_timer.isActive():
            self._draw_timer.start(DRAW_INTERVAL_MS)

    def _on_start(self, e) -> None:
        self._steps_per_epoch = max(1, int(e.steps_per_epoch))
        self._time_left = TimeLeft()  # the epoch bar says how long the run still needs, once it can tell
        self.epoch_bar.setFormat(EPOCH_FORMAT)
        self.epoch_bar.setRange(0, int(e.total_epochs))
        self.epoch_bar.setValue(e.start_epoch - 1)
        self.batch_bar.setRange(0, self._steps_per_epoch)
        self.device_label.setText(f"training on: {e.device}")
        matched = e.matched_degraded_queries
        self.messages.info(
            f"training {self.model_name}: {e.train_samples} training / {e.val_samples} validation samples, "
            f"{e.params:,} parameters"
            + ("" if matched is None else f"; {matched:.2f} of the training frames degraded (matched to your videos)")
        )

    def _on_batch(self, e) -> None:  # epoch and step count from 1 (step = batches done in this epoch)
        self.batch_bar.setValue(min(e.step, self.batch_bar.maximum()))
        self.epoch_bar.setValue(min(e.epoch - 1, self.epoch_bar.maximum()))
        total = self.epoch_bar.maximum() * self._steps_per_epoch  # steps of the whole run (validation counts as time)
        left = self._time_left.update((e.epoch - 1) * self._steps_per_epoch + e.step, total)
        self.epoch_bar.setFormat(EPOCH_FORMAT + (f" - {time_left_words(left)}" if left is not None else ""))
        self._losses.append((e.epoch - 1 + e.step / self._steps_per_epoch, float(e.loss)))
        self.messages.info(f"epoch {e.epoch}, step {e.step}/{self._steps_per_epoch}: loss {e.loss:.4f}")

    def _on_epoch(self, e) -> None:
        self.epoch_bar.setValue(min(e.epoch, self.epoch_bar.maximum()))
        if e.val_dice is not None:
            self._dice.append((e.epoch, float(e.val_dice)))
        self.messages.info(
            f"epoch {e.epoch} done: training loss {e.train_loss:.4f}"
            + (f", validation Dice {e.val_dice:.3f}" if e.val_dice is not None else "")
            + (" (best so far, saved)" if e.best else "")
        )

    def _on_done(self, e) -> None:
        from napari.utils.notifications import show_info

        from dvos_napari._errors import plain_words

        # the core's last word, when it has one: why nothing was trained, or which predictions are now out of date
        note = plain_words(e.note) if e.note else ""
        run, now = getattr(self, "_run_project", None), self.state.project
        where = (
            f" in {run.path} (open it again to use it)"
            if run is not None and (now is None or str(now.path) != str(run.path))
            else "; use it in the Predict step"
        )
        self._final = f"finished: model '{self.model_name}'" + (f": {note}" if note else f" saved{where}")
        show_info(f"training finished: model '{self.model_name}'")

    def _on_cancelled(self, e) -> None:
        from napari.utils.notifications import show_info

        kept = self._kept_text()
        self._final = f"stopped at epoch {e.epoch}, step {e.step}: {kept}; {self._resume_text()}"
        show_info("training stopped")

    def _resume_text(self) -> str:
        """How to resume the stopped run; an automatic name is written into 'model name', so Start resumes it (an
        empty name would start a new model under a new automatic name)."""
        if not self.model_name:
            return "start again with the same name to resume"
        if not self.name.text().strip():
            self.name.setText(self.model_name)
            self._filled_name = (self.model_name, getattr(self, "_run_choice", None) or self._model_choice())
        run, now = getattr(self, "_run_project", None), self.state.project
        first = (
            "" if run is None or (now is not None and str(now.path) == str(run.path)) else f"open {run.path} again, "
        )
        if self.name.text().strip() == self.model_name:
            return f"'model name' holds '{self.model_name}': {first}press Start training to resume it"
        return f"{first}start again with the model name '{self.model_name}' to resume"

    def _on_error(self, e) -> None:
        self._final = f"error: {e.message}"

    def _kept_text(self) -> str:
        p = getattr(self, "_run_project", None) or self.state.project
        if p is not None and self.model_name and (p.model_dir(self.model_name) / "best.pt").exists():
            elsewhere = self.state.project is None or str(self.state.project.path) != str(p.path)
            return f"model '{self.model_name}' keeps its best weights so far" + (f" (in {p.path})" if elsewhere else "")
        return "no epoch finished yet, so there is no model to use"

    def _on_finished(self, status: str) -> None:
        from napari.utils.notifications import show_info

        self._kill_timer.stop()
        self.epoch_bar.setFormat(EPOCH_FORMAT)
        if status == "killed" and self._killed:
            self._final = (
                f"stopped: the training process did not stop within {self.stop_grace_s:g} s and was ended; "
                f"{self._kept_text()}; {self._resume_text()}"
            )
            show_info("training stopped (process ended)")
        if self.batch_bar.maximum() == 0:  # still busy (no step reported: it failed or had nothing to do)
            self.batch_bar.setRange(0, 1)
            self.batch_bar.setValue(0)
        if self._final and status != "error":
            self.messages.info(self._final)
        self.start_button.setText("Start training")
        self.start_button.setEnabled(True)
        self._draw()
        self.state.notify_store_changed()

    # ---- plot ------------------------------------------------------------------------------------------------
    def _draw(self) -> None:
        loss_c, dice_c = self.plot.series(0), self.plot.series(1)
        self.ax_loss.clear()
        self.ax_dice.clear()
        for ax in (self.ax_loss, self.ax_dice):
            self.plot.style(ax)
        self.ax_dice.grid(False)
        self.ax_loss.set_xlabel("epoch")
        self.ax_loss.set_ylabel("training loss", color=loss_c)
        self.ax_dice.set_ylabel("validation Dice", color=dice_c)
        self.ax_dice.set_ylim(0, 1)
        self.ax_dice.yaxis.set_label_position("right")
        if self._losses:
            x, y = zip(*self._losses)
            self.ax_loss.plot(x, y, color=loss_c, lw=1)
        if self._dice:
            x, y = zip(*self._dice)
            self.ax_dice.plot(x, y, "o-", color=dice_c, lw=1.5)
        self.plot.draw()

    def closeEvent(self, event) -> None:
        self._stop_all()
        super().closeEvent(event)

    def _stop_all(self, why: str = "") -> None:
        """Stop training (the run keeps its last.pt and resumes under its name) and run-all (finished stages kept)."""
        from napari.utils.notifications import show_info

        stopped = []
        if self.running:
            self.stop()
            stopped.append(f"training '{self.model_name}' (start it again under that name to resume)")
        if self.all_steps.running:
            self.all_steps.job_bar.cancel()
            stopped.append("'Run every step' (its finished stages are kept)")
        if stopped and why:
            show_info(f"{why}: stopped {' and '.join(stopped)}")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._watch_ancestors()

    def _watch_ancestors(self) -> None:
        """Watch the widgets around this step (a panel holding it): napari closes a dock by taking its widget out of
        the window."""
        w = self.parentWidget()
        while w is not None and not w.isWindow():
            if w not in self._watched:
                self._watched.append(w)
                w.installEventFilter(self)
            w = w.parentWidget()

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.ParentChange and obj.parent() is None:
            self._dock_closed()
        return super().eventFilter(obj, event)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self._dock_closed()
        return super().event(event)

    def stop_job_on_close(self) -> None:
        """Training and run-all are stopped by :meth:`_dock_closed` (with its own words)."""

    def window_closed(self) -> None:
        """The napari window was closed: stop training and run-all (the run resumes under its name). The step's
        kill timer goes with the window: the children are waited for (and ended after :attr:`stop_grace_s`)
        outside Qt."""
        self._stop_all("the napari window was closed")
        for job in (self.process, self.all_steps.job):
            if job is not None:
                job.end_unwatched(self.stop_grace_s)
        super().window_closed()

    def _dock_closed(self) -> None:
        """The dock (or the panel) holding this step was closed: a job left running could be neither seen nor
        stopped, and a second one started from a new dock would write the project beside it - stop them."""
        if getattr(self, "_watched", None) is not None:  # not while the step is being built
            self._stop_all("the Train step was closed")
