"""Train dock: one-click training in a child process, with epoch/batch progress, a live loss / validation-Dice
plot and a Stop button that really stops: the child stops after its current batch and exits, so its GPU memory is
returned to the system; a child still alive :attr:`TrainDock.stop_grace_s` seconds after Stop is killed."""

from __future__ import annotations

import dataclasses
import datetime as _dt

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from dvos_napari._widgets import DvosDock, PlotCanvas
from dvos_napari.docks.predict import model_checkpoints

PHASES = {
    "image": "image model on annotated frames",
    "synthetic": "video model on synthetic clips",
    "real": "video model on real labelled clips (manual, pseudo, corrected)",
}
NO_INIT = "(none)"


class TrainDock(DvosDock):
    """Start/Stop training; the plot shows the training loss per batch and the validation Dice per epoch."""

    stop_grace_s = 30.0  # seconds a stopped child may take to save and exit before it is killed

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        box = QGroupBox("Training run")
        f = QFormLayout(box)
        self.phase = QComboBox()
        for k, doc in PHASES.items():
            self.phase.addItem(k)
            self.phase.setItemData(self.phase.count() - 1, doc, 3)  # tooltip role
        self.preset = QComboBox()
        try:
            from dvos_core.model import list_presets

            self.preset.addItems(list(list_presets()))
        except ImportError:
            pass
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100000)
        self.epochs.setValue(20)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 1024)
        self.batch_size.setValue(8)
        self.size = QSpinBox()
        self.size.setRange(32, 4096)
        self.size.setSingleStep(32)
        self.size.setValue(256)
        self.size.setToolTip("training crop size in pixels (a multiple of 32)")
        self.lr = QLineEdit("1e-4")
        self.lr.setToolTip(
            "learning rate (AdamW, cosine decay to a tenth of it); the paper uses 1e-4, short runs on "
            "small data learn faster with 1e-3"
        )
        self.steps = QSpinBox()
        self.steps.setRange(0, 1000000)
        self.steps.setSpecialValueText("all data")
        self.steps.setToolTip("cap on the batches per epoch, for quick runs (all data: one pass over the training set)")
        self.init_from = QComboBox()
        self.init_from.setToolTip("start from the weights of an earlier model (e.g. image model -> video model)")
        self.name = QLineEdit()
        self.name.setPlaceholderText("automatic: <phase>-<date>-<time>")
        f.addRow("phase", self.phase)
        f.addRow("model size", self.preset)
        f.addRow("epochs", self.epochs)
        f.addRow("batch size", self.batch_size)
        f.addRow("crop size", self.size)
        f.addRow("learning rate", self.lr)
        f.addRow("steps per epoch", self.steps)
        f.addRow("start from", self.init_from)
        f.addRow("model name", self.name)

        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(lambda *_: self.guard(self.toggle))
        self.device_label = QLabel("")
        self.epoch_bar = QProgressBar()
        self.epoch_bar.setFormat("epoch %v / %m")
        self.batch_bar = QProgressBar()
        self.batch_bar.setFormat("batch %v / %m")
        self.status = QLabel("idle")
        self.status.setWordWrap(True)
        self.plot = PlotCanvas(height=2.6)
        self.ax_loss = self.plot.axes[0]
        self.ax_dice = self.ax_loss.twinx()
        self._reset_plot()

        lay = QVBoxLayout(self)
        lay.addWidget(box)
        row = QHBoxLayout()
        row.addWidget(self.start_button)
        lay.addLayout(row)
        lay.addWidget(self.device_label)
        lay.addWidget(self.epoch_bar)
        lay.addWidget(self.batch_bar)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.status)

        self.process = None
        self.poller = None
        self.model_name: str | None = None
        self.events: list[dict] = []
        self._losses: list[tuple[float, float]] = []
        self._dice: list[tuple[float, float]] = []
        self._steps_per_epoch = 1
        self._killed = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_stuck)
        self.state.project_changed.connect(lambda *_: self.refresh())
        self.state.store_changed.connect(self.refresh)
        self.refresh()

    # ---- state -----------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.poller is not None

    def refresh(self) -> None:
        current = self.init_from.currentText()
        self.init_from.clear()
        self.init_from.addItem(NO_INIT)
        if self.state.project is not None:
            self.init_from.addItems(list(model_checkpoints(self.state.project)))
        if current:
            self.init_from.setCurrentText(current)

    def config(self, **overrides):
        """A ``TrainConfig`` from the form; ``overrides`` set any other TrainConfig field (e.g. steps_per_epoch)."""
        from dvos_core.train.config import TrainConfig, cosine_floor

        init = self.init_from.currentText()
        try:
            lr = float(self.lr.text())
        except ValueError:
            raise ValueError(f"learning rate {self.lr.text()!r} is not a number; use e.g. 1e-4") from None
        values = {
            "lr": lr,
            "eta_min": cosine_floor(lr),
            "phase": self.phase.currentText(),
            "preset": self.preset.currentText() or None,
            "epochs": self.epochs.value(),
            "batch_size": self.batch_size.value(),
            "size": self.size.value(),
            "max_steps_per_epoch": self.steps.value() or None,
            "init_from": None if init in ("", NO_INIT) else init,
        }
        values.update(overrides)
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; TrainConfig has {sorted(known)}")
        values = {k: v for k, v in values.items() if k in known and v is not None}
        if values.get("init_from"):
            from dvos_core.infer import resolve_checkpoint_path

            values["init_from"] = str(resolve_checkpoint_path(self.state.project, values["init_from"]))
        return TrainConfig(**values)

    # ---- actions ---------------------------------------------------------------------------------------------
    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    def start(self, **overrides):
        """Start a training child process with the form's settings (plus ``overrides``)."""
        from napari.qt.threading import create_worker

        from dvos_core.train import TrainProcess
        from dvos_napari._workers import train_events

        if self.running:
            raise ValueError("a training run is already going; press Stop first")
        project = self.state.require_project()
        cfg = self.config(**overrides)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.model_name = self.name.text().strip() or f"{cfg.phase}-{stamp}"
        self.events, self._losses, self._dice = [], [], []
        self._killed = False
        self._reset_plot()
        self.epoch_bar.setRange(0, max(1, int(getattr(cfg, "epochs", 1))))
        self.epoch_bar.setValue(0)
        self.batch_bar.setRange(0, 0)
        self.status.setText(f"starting {self.model_name}...")
        self.process = TrainProcess(str(project.path), cfg, self.model_name)
        self.process.start()
        self.poller = create_worker(train_events, self.process, _start_thread=False)
        self.poller.yielded.connect(self._on_events)
        self.poller.finished.connect(self._on_finished)
        self.poller.start()
        self.start_button.setText("Stop")
        return self.process

    def stop(self) -> None:
        """Ask the child to stop after the current batch; the button returns to Start once it has exited."""
        if self.process is not None and self.running:
            self.process.stop()
            self.start_button.setText("Stopping...")
            self.start_button.setEnabled(False)
            self.status.setText("stopping after the current batch...")
            self._kill_timer.start(int(self.stop_grace_s * 1000))

    def _kill_stuck(self) -> None:
        """Stop was pressed but the child is still alive: end it (it keeps the weights of its last epoch)."""
        if self.process is not None and self.process.is_alive():
            self._killed = True
            self.process.kill()
            self.status.setText(f"the training process did not stop within {self.stop_grace_s:g} s and was ended")

    # ---- events (main thread) --------------------------------------------------------------------------------
    def _on_events(self, events: list) -> None:
        from napari.utils.notifications import show_error, show_info

        for e in events:
            self.events.append(e)
            kind = e.get("type")
            if kind == "start":
                self._steps_per_epoch = int(e.get("steps_per_epoch") or 1)
                self.epoch_bar.setRange(0, int(e.get("total_epochs") or self.epoch_bar.maximum()))
                self.batch_bar.setRange(0, self._steps_per_epoch)
                if e.get("device"):
                    self.device_label.setText(f"training on: {e['device']}")
            elif kind == "batch":  # epoch and step count from 1 (step = batches done in this epoch)
                epoch, step = int(e.get("epoch", 1)), int(e.get("step", 0))
                self.batch_bar.setValue(min(step, self.batch_bar.maximum()))
                self.epoch_bar.setValue(min(epoch - 1, self.epoch_bar.maximum()))
                if e.get("loss") is not None:
                    self._losses.append((epoch - 1 + step / self._steps_per_epoch, float(e["loss"])))
                    self.status.setText(
                        f"epoch {epoch}, batch {step}/{self._steps_per_epoch}: loss {float(e['loss']):.4f}"
                    )
            elif kind == "epoch":
                epoch = int(e.get("epoch", 1))
                self.epoch_bar.setValue(min(epoch, self.epoch_bar.maximum()))
                dice = e.get("val_dice")
                if dice is not None:
                    self._dice.append((epoch, float(dice)))
                self.status.setText(
                    f"epoch {epoch} done: training loss {float(e.get('train_loss') or 0):.4f}"
                    + (f", validation Dice {float(dice):.3f}" if dice is not None else "")
                    + (" (best so far, saved)" if e.get("best") else "")
                )
            elif kind == "done":
                self.status.setText(f"finished: model '{self.model_name}' saved ({e.get('best', '')})")
                show_info(f"training finished: model '{self.model_name}'")
            elif kind == "cancelled":
                self.status.setText(
                    f"stopped at epoch {e.get('epoch', '?')}: model '{self.model_name}' keeps its best "
                    f"weights; start again with the same name to resume"
                )
                show_info("training stopped")
            elif kind == "error" and self._killed:
                self.status.setText(
                    f"stopped: the training process did not stop within {self.stop_grace_s:g} s "
                    f"and was ended; model '{self.model_name}' keeps its last saved weights"
                )
                show_info("training stopped (process ended)")
            elif kind == "error":
                self.status.setText(f"error: {e.get('message')}")
                show_error(f"training failed: {e.get('message')}")
        self._draw()

    def _on_finished(self) -> None:
        self._kill_timer.stop()
        if self.process is not None:
            self.process.join(5)
        self.poller = None
        self.start_button.setText("Start training")
        self.start_button.setEnabled(True)
        self.state.notify_store_changed()

    # ---- plot ------------------------------------------------------------------------------------------------
    def _reset_plot(self) -> None:
        for ax in (self.ax_loss, self.ax_dice):
            ax.clear()
        self.ax_loss.set_xlabel("epoch")
        self.ax_loss.set_ylabel("training loss", color="tab:blue")
        self.ax_dice.set_ylabel("validation Dice", color="tab:orange")
        self.ax_dice.set_ylim(0, 1)
        self.ax_dice.yaxis.set_label_position("right")
        self.plot.draw()

    def _draw(self) -> None:
        self.ax_loss.clear()
        self.ax_loss.set_xlabel("epoch")
        self.ax_loss.set_ylabel("training loss", color="tab:blue")
        if self._losses:
            x, y = zip(*self._losses)
            self.ax_loss.plot(x, y, color="tab:blue", lw=1)
        self.ax_dice.clear()
        self.ax_dice.set_ylim(0, 1)
        self.ax_dice.set_ylabel("validation Dice", color="tab:orange")
        self.ax_dice.yaxis.set_label_position("right")
        if self._dice:
            x, y = zip(*self._dice)
            self.ax_dice.plot(x, y, "o-", color="tab:orange", lw=1.5)
        self.plot.draw()

    def closeEvent(self, event) -> None:
        if self.running and self.process is not None:
            self.process.stop()
        super().closeEvent(event)
