"""Synthesize dock: synthetic-video parameters, a live preview clip, and generation of the training set."""

from __future__ import annotations

import dataclasses

from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dvos_napari._layers import find_layer
from dvos_napari._widgets import DvosDock, button

PREVIEW_IMAGE = "synthetic preview"
PREVIEW_MASKS = "synthetic preview masks"


def _spin(value, is_int: bool):
    w = QSpinBox() if is_int else QDoubleSpinBox()
    if is_int:
        w.setRange(0, 10**6)
    else:
        w.setDecimals(3)
        w.setRange(0.0, 1e5)
        w.setSingleStep(0.1 if abs(value) < 10 else 1.0)
    w.setValue(value)
    return w


class ConfigForm(QWidget):
    """A form for any dataclass of int/float/bool fields and (low, high) ranges; ``value()`` rebuilds it."""

    def __init__(self, config, parent=None):
        super().__init__(parent)
        self._cls = type(config)
        self._getters = {}
        form = QFormLayout(self)
        for f in dataclasses.fields(config):
            v = getattr(config, f.name)
            doc = f.metadata.get("doc", "")
            if isinstance(v, bool):
                w = QCheckBox()
                w.setChecked(v)
                self._getters[f.name] = w.isChecked
            elif isinstance(v, (int, float)):
                w = _spin(v, isinstance(v, int))
                self._getters[f.name] = w.value
            elif isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
                is_int = all(isinstance(x, int) for x in v)
                lo, hi = _spin(v[0], is_int), _spin(v[1], is_int)
                w = QWidget()
                row = QHBoxLayout(w)
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(lo)
                row.addWidget(QLabel("to"))
                row.addWidget(hi)
                self._getters[f.name] = lambda a=lo, b=hi: (a.value(), b.value())
            else:
                continue  # other types keep their defaults
            w.setToolTip(doc)
            label = QLabel(f.name.replace("_", " "))
            label.setToolTip(doc)
            form.addRow(label, w)

    def value(self):
        """A new config from the form (raises ValueError with the config's own message when invalid)."""
        return self._cls(**{name: get() for name, get in self._getters.items()})


class SynthesizeDock(DvosDock):
    """Tune how synthetic clips look, preview one, then generate a synthetic training set."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        try:
            from dvos_core.synth import SynthConfig
        except ImportError as e:  # the synthetic engine is an optional part of an incomplete install
            lay = QVBoxLayout(self)
            lay.addWidget(QLabel(f"dvos_core.synth is not available ({e}); synthesis is disabled"))
            self.form = None
            return
        self.form = ConfigForm(SynthConfig())
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)

        prev = QGroupBox("Preview")
        pf = QFormLayout(prev)
        self.preview_frames = QSpinBox()
        self.preview_frames.setRange(2, 500)
        self.preview_frames.setValue(16)
        self.preview_size = QSpinBox()
        self.preview_size.setRange(32, 2048)
        self.preview_size.setSingleStep(32)
        self.preview_size.setValue(256)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        pf.addRow("frames", self.preview_frames)
        pf.addRow("size (px)", self.preview_size)
        pf.addRow("random seed", self.seed)
        self.preview_button = button("Preview clip", lambda: self.guard(self.preview))
        pf.addRow(self.preview_button)

        gen = QGroupBox("Generate the training set")
        gf = QFormLayout(gen)
        self.set_name = QLineEdit("synthetic")
        self.n_clips = QSpinBox()
        self.n_clips.setRange(1, 100000)
        self.n_clips.setValue(200)
        self.workers = QSpinBox()
        self.workers.setRange(1, 64)
        gf.addRow("set name", self.set_name)
        gf.addRow("clips", self.n_clips)
        gf.addRow("worker processes", self.workers)
        self.generate_button = button("Generate", lambda: self.guard(self.generate))
        gf.addRow(self.generate_button)

        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Parameters (hover for what each one does):"))
        lay.addWidget(scroll, 1)
        lay.addWidget(prev)
        lay.addWidget(gen)
        lay.addWidget(self.job_bar)
        self._busy_widgets = [self.preview_button, self.generate_button]

    def config(self):
        if self.form is None:
            raise ImportError("dvos_core.synth is not installed")
        return self.form.value()

    def preview(self):
        from dvos_core.synth import preview

        project = self.state.require_project()
        return self.run(
            preview,
            project,
            config=self.config(),
            seed=self.seed.value(),
            n_frames=self.preview_frames.value(),
            size=self.preview_size.value(),
            label="synthetic preview",
            on_result=self._show_preview,
        )

    def generate(self):
        from dvos_core.synth import generate

        project = self.state.require_project()
        name = self.set_name.text().strip()
        if not name:
            raise ValueError("give the synthetic set a name")
        return self.run(
            generate,
            project,
            name,
            self.n_clips.value(),
            config=self.config(),
            seed=self.seed.value(),
            workers=self.workers.value(),
            label=f"generate {name}",
            on_result=lambda _: self.state.notify_store_changed(),
        )

    def _show_preview(self, result) -> None:
        frames, masks = result
        img = find_layer(self.viewer, PREVIEW_IMAGE)
        if img is None:
            self.viewer.add_image(frames, name=PREVIEW_IMAGE, rgb=True)
            self.viewer.reset_view()
        else:
            img.data = frames
        lab = find_layer(self.viewer, PREVIEW_MASKS)
        if lab is None:
            self.viewer.add_labels(masks.astype("uint8"), name=PREVIEW_MASKS, opacity=0.4)
        else:
            lab.data = masks.astype("uint8")
