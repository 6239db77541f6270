"""The Compute rows the Train and Predict steps share: device, the 'will run on' line and CPU threads."""

from __future__ import annotations

from qtpy.QtWidgets import QFormLayout, QSpinBox

from dvos_napari import _machine
from dvos_napari._widgets import compact_combo, wrapped_label


class ComputeRows:
    """Adds the device combo, its 'will run on' line and the CPU-thread box to ``form``; the line follows the choice
    and the machine probe (:mod:`dvos_napari._machine`)."""

    def __init__(self, form: QFormLayout):
        from dvos_core.machine import default_threads

        self.device = compact_combo(
            _machine.DEVICES, "where the model runs: auto picks the GPU if this computer has one, else the CPU"
        )
        self.device_label = wrapped_label("")
        self.threads = QSpinBox()
        self.threads.setRange(1, 256)
        self.threads.setValue(default_threads())
        self.threads.setToolTip(
            "CPU threads the job may use; the default leaves one core free so the viewer stays smooth"
        )
        form.addRow("device", self.device)
        form.addRow(self.device_label)
        form.addRow("CPU threads", self.threads)
        self.device.currentTextChanged.connect(lambda *_: self.update())
        self.update()
        _machine.when_known(lambda info: self.update())

    def update(self) -> None:
        ok, text = _machine.device_line(self.device.currentText(), _machine.known())
        self.device_label.setText(text)
        self.device_label.setStyleSheet("" if ok else "font-weight: bold")
