"""The Compute section the Train and Predict steps share: device, the 'will run on' line and CPU threads, collapsed
under a header that says where the job will run."""

from __future__ import annotations

from qtpy.QtWidgets import QFormLayout, QSpinBox, QWidget

from dvos_napari import _machine
from dvos_napari._widgets import Collapsible, compact_combo, wrapped_label


class ComputeRows:
    """``widget`` (a collapsed section) holds the device combo, its 'will run on' line, the CPU-thread box and, with
    ``precision``, a number-format combo and the scales combo (prediction); the line and the header follow the
    choice and the machine probe (:mod:`dvos_napari._machine`)."""

    def __init__(self, precision: bool = False):
        from dvos_core.machine import default_threads
        from dvos_core.prediction_options import AUTO_MAX_ZOOM, PRECISIONS, SCALES  # no torch: the dock opens fast

        self.device = compact_combo(
            _machine.DEVICES, "where the model runs: auto picks the GPU if this computer has one, else the CPU"
        )
        self.device_label = wrapped_label("")
        self.threads = QSpinBox()
        self.threads.setRange(1, 256)
        self.threads.setValue(default_threads())
        self.threads.setToolTip("CPU threads the job may use (the default leaves one core free for the viewer)")
        body = QWidget()
        form = QFormLayout(body)
        form.setContentsMargins(8, 0, 0, 0)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("device", self.device)
        form.addRow(self.device_label)
        form.addRow("CPU threads", self.threads)
        self.precision = self.scales = None
        if precision:
            self.precision = compact_combo(
                PRECISIONS,
                "number format. auto: bf16 on a GPU that has it, fp32 elsewhere; bf16: also on a CPU with native "
                "bfloat16 (AVX512-BF16 or AMX), faster there, probabilities within a few hundredths of fp32 "
                "(refused on a CPU without it); fp32: always float32",
            )
            form.addRow("precision", self.precision)
            self.scales = compact_combo(
                SCALES,
                "the scales each frame is segmented at. own: its own resolution; trained: shrunk to the scale the "
                "model was trained at (training size / validation crop, e.g. 128 of 512 px): much faster on large "
                "frames, coarser edges; both: the two averaged; auto: both where the trained scale is at most "
                f"{AUTO_MAX_ZOOM} of the frame's own (large frames), else own",
            )
            form.addRow("scales", self.scales)
        self.widget = Collapsible("Compute", body)
        self.device.currentTextChanged.connect(lambda *_: self.update())
        self.threads.valueChanged.connect(lambda *_: self.update())
        self.update()
        _machine.when_known(lambda info: self.update(), owner=self.widget)

    def device_kind(self) -> str:
        """ "cpu", "cuda" or "mps": the device the choice runs on ("auto" until the machine probe has answered)."""
        info = _machine.known()
        choice = self.device.currentText()
        return (info["device"] if info and choice == "auto" else choice).split(":")[0]

    def update(self) -> None:
        ok, text = _machine.device_line(self.device.currentText(), _machine.known())
        self.device_label.setText(text)
        self.device_label.setStyleSheet("" if ok else "font-weight: bold")
        n = self.threads.value()
        choice = self.device.currentText()
        kind = self.device_kind()
        where = {"cpu": "CPU", "cuda": "GPU", "mps": "Apple GPU"}.get(kind, kind) if ok else f"{choice} unavailable"
        self.widget.title = f"Compute: {where}, {n} thread{'s' if n > 1 else ''}"
        self.widget.set_expanded(self.widget.expanded or not ok)  # an unusable choice is shown, not hidden
