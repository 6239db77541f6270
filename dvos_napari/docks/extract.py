"""Extract dock: cut painted heads (and fake heads) out of the annotated frames; cut bare-field background clips."""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout

from dvos_napari._widgets import DvosDock, Gallery, button

GALLERY_MAX = 60


class ExtractDock(DvosDock):
    """Builds the object bank that the synthetic-video generator pastes onto background clips."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        heads = QGroupBox("Heads and fake heads (from saved masks)")
        f = QFormLayout(heads)
        self.min_area = QSpinBox()
        self.min_area.setRange(1, 100000)
        self.min_area.setValue(50)
        self.min_area.setToolTip("ignore painted blobs smaller than this many pixels")
        self.fakes = QSpinBox()
        self.fakes.setRange(0, 100)
        self.fakes.setValue(10)
        self.fakes.setToolTip("fake heads (leaf/soil patches of head shape) cut per real head")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.replace = QCheckBox("replace previously extracted objects")
        self.replace.setChecked(True)
        self.all_videos = QCheckBox("all training videos (else the current one; never test videos)")
        self.all_videos.setChecked(True)
        f.addRow("min head area (px)", self.min_area)
        f.addRow("fakes per head", self.fakes)
        f.addRow("random seed", self.seed)
        f.addRow(self.replace)
        f.addRow(self.all_videos)
        self.heads_button = button("Extract heads", lambda: self.guard(self.extract_heads))
        f.addRow(self.heads_button)

        bg = QGroupBox("Background clips (from a video without heads)")
        g = QFormLayout(bg)
        self.bg_source = QComboBox()
        self.clip_length = QSpinBox()
        self.clip_length.setRange(2, 10000)
        self.clip_length.setValue(60)
        self.n_clips = QSpinBox()
        self.n_clips.setRange(0, 10000)
        self.n_clips.setSpecialValueText("as many as fit")
        g.addRow("bare-field video", self.bg_source)
        g.addRow("clip length (frames)", self.clip_length)
        g.addRow("clips", self.n_clips)
        self.bg_button = button("Extract backgrounds", lambda: self.guard(self.extract_backgrounds))
        g.addRow(self.bg_button)

        self.gallery = Gallery()
        self.gallery_kind = QComboBox()
        self.gallery_kind.addItems(["head", "fake"])
        self.gallery_kind.currentTextChanged.connect(lambda *_: self.refresh_gallery())
        self.counts = QLabel("")
        top = QHBoxLayout()
        top.addWidget(QLabel("show:"))
        top.addWidget(self.gallery_kind)
        top.addWidget(self.counts, 1)

        lay = QVBoxLayout(self)
        lay.addWidget(heads)
        lay.addWidget(bg)
        lay.addLayout(top)
        lay.addWidget(self.gallery, 1)
        lay.addWidget(self.job_bar)
        self._busy_widgets = [self.heads_button, self.bg_button]
        self.state.project_changed.connect(lambda *_: self.refresh())
        self.state.store_changed.connect(self.refresh)
        self.refresh()

    # ---- actions ---------------------------------------------------------------------------------------------
    def extract_heads(self):
        from dvos_core.extract import extract_heads

        project = self.state.require_project()
        if self.all_videos.isChecked():
            ids = [v.name for v in project.videos() if v.split != "test" and len(v.labelled_frames())]
            if not ids:
                raise ValueError("no training video has saved masks yet: paint and save seed frames first")
        else:
            ids = [self.state.require_video().name]  # the core refuses test videos
        return self.run(
            extract_heads,
            project,
            video_ids=ids,
            min_area=self.min_area.value(),
            fakes_per_head=self.fakes.value(),
            seed=self.seed.value(),
            replace=self.replace.isChecked(),
            label="extract heads",
            on_result=self._extracted,
        )

    def extract_backgrounds(self):
        from dvos_core.extract import extract_backgrounds

        project = self.state.require_project()
        source = self.bg_source.currentText()
        if not source:
            raise ValueError("add a video of bare field (no heads) to the project first")
        return self.run(
            extract_backgrounds,
            project,
            source,
            clip_length=self.clip_length.value(),
            n_clips=self.n_clips.value() or None,
            label="extract backgrounds",
            on_result=lambda _: self.state.notify_store_changed(),
        )

    def _extracted(self, table) -> None:
        from napari.utils.notifications import show_info

        n = len(table) if table is not None else 0
        show_info(f"extracted {n} objects")
        self.state.notify_store_changed()

    # ---- display ---------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        p = self.state.project
        current = self.bg_source.currentText()
        self.bg_source.clear()
        if p is None:
            self.counts.setText("no project open")
            self.gallery.set_items([])
            return
        self.bg_source.addItems(p.video_ids())
        if current:
            self.bg_source.setCurrentText(current)
        self.refresh_gallery()

    def refresh_gallery(self) -> None:
        p = self.state.project
        if p is None:
            return
        ob = p.objects
        kind = self.gallery_kind.currentText() or "head"
        items = ob.load(kind)[:GALLERY_MAX]
        self.gallery.set_items(
            [rgba for rgba, _ in items],
            [f"#{r['id']} {r.get('video', '')} frame {r.get('frame', '')} area {r.get('area', '')}" for _, r in items],
        )
        self.counts.setText(
            f"{ob.count('head')} heads, {ob.count('fake')} fakes, "
            f"{len(p.background_ids())} background clips"
            + (f" (showing {GALLERY_MAX})" if ob.count(kind) > GALLERY_MAX else "")
        )
