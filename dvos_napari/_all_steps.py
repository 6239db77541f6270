"""The Train step's "every step at once" box: `dvos run-all` (:func:`dvos_core.run_all.run_all`) in a child process,
with its own progress bar, Cancel, and the stage it is in."""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFormLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from dvos_napari._widgets import JobBar, compact_combo, wrapped_label
from dvos_napari._workers import Job

INPAINTED = "inpainted from the painted frames"
OWN_SET = "make the run's own"
NEW_MODEL = "nothing (a new model)"
LENGTHS = ("suited to this computer", "a quick look (minutes, rough)")
VIDEO_MODEL_CHOICES = {
    "context-aware (recommended)": ["context"],
    "the paper's DVOS": ["dvos"],
    "both (longer)": ["context", "dvos"],
}
EXPLAIN = (
    "Painted the heads of a few frames? dvos can do every remaining step in one go: cut the heads and fake heads, make "
    "background clips and synthetic clips like your footage, train the image model, pseudo-label your training "
    "videos, train both phases of the video model and predict your test videos (scored where their frames are "
    "painted). Settings suit this computer. Stopped, it continues where it was when started again."
)


class AllStepsBox(QWidget):
    """Run-all controls for a dock: ``state`` is the viewer's shared state, ``threads()`` the CPU threads to use.
    Signal ``busy(bool)`` while a run goes."""

    busy = Signal(bool)

    def __init__(self, state, threads, parent=None):
        super().__init__(parent)
        self.state, self.threads = state, threads
        self.video_model = compact_combo(list(VIDEO_MODEL_CHOICES), "which video model to train after the image model")
        self.length = compact_combo(
            LENGTHS,
            "how long to train: the settings suggested for this computer (the paper's model on a GPU, the demo's "
            "settings on a CPU), or a quick look with a tiny model (a few minutes on a CPU; its models are named "
            "quick_...)",
        )
        self.backgrounds = compact_combo(
            [INPAINTED],
            "where background clips come from when the project has none yet: a video of bare field (unassigned "
            "videos are listed), or the painted frames with their heads inpainted",
        )
        self.synthetic = compact_combo(
            [OWN_SET],
            "the synthetic clips to train on: new ones made for this run (at least as crowded as your painted frames, "
            "moving like your videos), or a set the project already holds (faster; make new ones after painting more "
            "frames)",
        )
        self.start_from = compact_combo(
            [NEW_MODEL],
            "what the image model starts from: a new model, or an image model of the project (e.g. last season's, "
            "copied in with `dvos import-weights OLD.dvos/models/image/best.pt --project THIS.dvos --name NAME`) "
            "fine-tuned on this project's frames; the video models start from the image model the run trains",
        )
        self.name = QLineEdit()
        self.name.setPlaceholderText("none: models image, context, ...")
        self.name.setToolTip("a prefix for everything this run makes, to keep an earlier run's models beside it")
        self.start_button = QPushButton("Run every step")
        self.start_button.setToolTip("run in the background; the button turns into Stop (finished stages are kept)")
        self.start_button.clicked.connect(lambda *_: self.toggle())
        self.job_bar = JobBar()
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("training", self.length)
        form.addRow("video model", self.video_model)
        form.addRow("backgrounds", self.backgrounds)
        form.addRow("synthetic clips", self.synthetic)
        form.addRow("image model from", self.start_from)
        form.addRow("run name", self.name)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 0, 0, 0)
        lay.addWidget(wrapped_label(EXPLAIN))
        lay.addLayout(form)
        lay.addWidget(self.start_button)
        lay.addWidget(self.job_bar)
        self.job: Job | None = None
        self.result = None
        self.log_lines: list[str] = []  # the run's log (stage lines with their times), shown as a tooltip
        self.refresh()

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def refresh(self) -> None:
        """List the project's unassigned videos as bare-field sources and its synthetic sets (choices kept)."""
        keep = self.backgrounds.currentText()
        self.backgrounds.clear()
        self.backgrounds.addItem(INPAINTED)
        project = self.state.project
        if project is not None:
            from dvos_core.store import StoreError

            try:  # the summary's rows, read again only for the videos that changed (a damaged one: "unreadable")
                splits = [(v["id"], v["split"]) for v in self.state.summary()["videos"]]
            except StoreError:
                splits = []
                for vid in project.video_ids():
                    try:
                        splits.append((vid, project.video(vid).attrs.get("split")))
                    except StoreError:  # a damaged video: the Project step says which file and how to repair it
                        continue
            for vid, split in splits:
                if split in ("unassigned", None):
                    self.backgrounds.addItem(vid)
        self.backgrounds.setCurrentIndex(max(0, self.backgrounds.findText(keep)))
        keep = self.synthetic.currentText()
        self.synthetic.clear()
        self.synthetic.addItem(OWN_SET)
        if project is not None:
            self.synthetic.addItems(project.synthetic_ids())
        self.synthetic.setCurrentIndex(max(0, self.synthetic.findText(keep)))
        keep = self.start_from.currentText()
        self.start_from.clear()
        self.start_from.addItem(NEW_MODEL)
        if project is not None:
            from dvos_napari._models import model_checkpoints

            # image models, newest first (a model of unknown kind too: the run names what it holds if not one)
            models = reversed(model_checkpoints(project).values())
            self.start_from.addItems([m.name for m in models if m.kind in ("frame", None)])
        self.start_from.setCurrentIndex(max(0, self.start_from.findText(keep)))

    def config(self, **overrides):
        """The :class:`RunAllConfig` of the box (``overrides``: any other of its fields, e.g. ``train``)."""
        from dvos_core.run_all import RunAllConfig

        bare = self.backgrounds.currentText()
        quick, name = self.length.currentIndex() == 1, self.name.text().strip()
        values = {
            **({"name": name} if name or not quick else {}),  # a quick look is named "quick" unless named
            "video_models": VIDEO_MODEL_CHOICES[self.video_model.currentText()],
            "bare_videos": [] if bare == INPAINTED else [bare],
            "synthetic_set": None if self.synthetic.currentText() == OWN_SET else self.synthetic.currentText(),
        }
        cfg = (RunAllConfig.quick if quick else RunAllConfig)(**{**values, **overrides})
        start = self.start_from.currentText()
        return cfg if start in ("", NEW_MODEL) else cfg.starting_from(start)  # as `dvos run-all --init-from NAME`

    def toggle(self) -> None:
        if self.running:
            self.job_bar.cancel()
        else:
            self.start()

    def start(self, **overrides) -> Job | None:
        """Start run-all on the open project (``overrides``: see :meth:`config`); returns its Job, or None after an
        error (said on the box's message line)."""
        from dvos_core.machine import default_threads
        from dvos_napari._errors import user_message

        try:
            project = self.state.require_project()
            cfg = self.config(**overrides)
            from dvos_core.run_all import check_project

            check_project(project, cfg)  # what to paint or split, said at once (the child says it again anyway)
        except Exception as e:
            self.job_bar.messages.error(user_message(e))
            return None
        self.result, self.log_lines = None, []
        job = Job(
            "dvos_core.run_all:run_all",
            str(project.path),
            cfg,
            label="run every step",
            events="log",
            on_event=self._on_log,
            on_result=self._on_result,
            threads=self.threads() or default_threads(),
            notify=False,
            owner=self,
        )
        self.job = job
        self.job_bar.attach(job)
        job.finished.connect(self._on_finished)
        self.start_button.setText("Stop")
        self.busy.emit(True)
        return job.start()

    def _on_log(self, line) -> None:
        self.log_lines.append(str(line).rstrip())
        self.job_bar.status.setToolTip("\n".join(self.log_lines[-40:]))

    def _on_result(self, result) -> None:
        self.result = result
        text = f"done: models {', '.join(result.checkpoints)}"
        if result.comparison is not None:
            table = result.comparison.set_index("model")
            scores = ", ".join(f"{m} {table.loc[m, 'dice']:.3f}" for m in result.checkpoints if m in table.index)
            text += f"; Dice on the test videos: {scores} (Review step: worst frames first)"
        elif result.predicted:
            text += f"; predicted {', '.join(result.predicted)}"
        if getattr(result, "heads", None):
            text += f"; different heads: {', '.join(f'{v} {n}' for v, n in result.heads.items())}"
        self.job_bar.messages.info(text)

    def _on_finished(self, status: str) -> None:
        self.start_button.setText("Run every step")
        self.busy.emit(False)
        self.state.notify_store_changed()
