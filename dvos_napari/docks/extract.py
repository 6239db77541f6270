"""Extract step: cut painted heads (and fake heads) out of the annotated frames; make background clips, cut from a
bare-field video or, without one, made from the annotated frames with their painted heads inpainted and filmed by a
moving camera (:func:`dvos_core.extract.backgrounds_from_annotated`)."""

from __future__ import annotations

from qtpy.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from dvos_core.object_format import HALO_PX
from dvos_napari._widgets import (
    Collapsible,
    DvosDock,
    Gallery,
    WrapCheckBox,
    button,
    compact_combo,
    section,
    wrapped_label,
)
from dvos_napari._workers import alive

GALLERY_MAX = 60
DEFAULTS = {
    "min_area": 50,
    "fakes": 10,
    "halo": HALO_PX,
    "seed": 0,
    "replace": False,  # as the command line's --replace: new and repainted frames are cut without it
    "all_videos": True,
    "clip_length": 60,
    "clips": 0,
    "bg_mode": 0,
    "motion": "auto",
    "dilate": 6,
    "bg_replace": False,
}
BG_MODES = ("a bare-field video", "annotated frames (inpaint the heads)")
MOTIONS = {  # the core's motion choices, as the step shows them
    "auto": "auto",
    "measured": "the video's own",
    "default": "a synthetic camera",
    "none": "none (a still)",
}


def _spin(lo: int, hi: int, value: int, tip: str, special: str = "") -> QSpinBox:
    w = QSpinBox()
    w.setRange(lo, hi)
    w.setValue(value)
    w.setToolTip(tip)
    if special:
        w.setSpecialValueText(special)
    return w


class ExtractDock(DvosDock):
    """Builds the object bank that the synthetic-video generator pastes onto background clips."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        f = QFormLayout()
        f.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.min_area = _spin(1, 100000, DEFAULTS["min_area"], "ignore painted blobs smaller than this (pixels)")
        self.fakes = _spin(
            0, 100, DEFAULTS["fakes"], "fake heads (leaf/soil patches of head shape) cut per real head (0 = none)"
        )
        self.all_videos = WrapCheckBox("from all training videos")
        self.all_videos.setToolTip("ticked: every non-test video with saved masks; else only the current video")
        self.all_videos.setChecked(DEFAULTS["all_videos"])
        f.addRow("smallest head (px)", self.min_area)
        f.addRow("fake heads per head", self.fakes)
        f.addRow(self.all_videos)
        adv = QWidget()
        af = QFormLayout(adv)
        self.halo = _spin(
            0,
            50,
            DEFAULTS["halo"],
            "pixels of each head's surroundings cut with it: synthesis pastes them with the head (its real edge: "
            "blur, glow, shadow, awns) but never labels them (0 = the head alone)",
        )
        self.seed = _spin(0, 2**31 - 1, DEFAULTS["seed"], "random seed of the fake-head placement ")
        self.replace = WrapCheckBox("replace objects extracted before")
        self.replace.setToolTip(
            "unticked: frames not cut yet and frames repainted since are cut, the rest kept; ticked: every painted "
            "frame of the videos extracted (all training videos, or only the current one) is cut again, also "
            "unchanged ones (say, after changing the settings), and their old objects are deleted once it is done; "
            "the other videos' objects are kept"
        )
        self.replace.setChecked(DEFAULTS["replace"])
        af.addRow("edge kept around heads (px)", self.halo)
        af.addRow("random seed", self.seed)
        af.addRow(self.replace)
        af.addRow(button("Reset to defaults", self.reset, "put every setting of this step back to its default"))
        self.advanced = Collapsible("Advanced settings", adv)
        self.heads_button = button(
            "Extract heads", lambda: self.guard(self.extract_heads), "cut every painted head and its fakes"
        )

        g = QFormLayout()
        g.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.bg_mode = compact_combo(
            BG_MODES,
            "where the background clips come from: a video of bare field (no heads), or - without one - the "
            "annotated frames of the training videos, their painted heads filled in with the surrounding field",
        )
        self.bg_source = compact_combo(tooltip="a video of bare field (no heads), e.g. filmed before heading")
        self.clip_length = _spin(2, 10000, DEFAULTS["clip_length"], "frames per background clip (match clip length)")
        self.n_clips = _spin(0, 10000, DEFAULTS["clips"], "how many clips to cut", "as many as fit")
        self.motion = compact_combo(
            tooltip="camera motion of the clips made from an annotated (still) frame: the video's own motion around "
            "that frame (measured with the heads ignored), a synthetic camera (the Synthesize step's camera "
            "defaults), or none; 'auto' measures it when the video has more than one frame"
        )
        for key, text in MOTIONS.items():
            self.motion.addItem(text, key)
        self.dilate = _spin(
            0,
            256,  # dvos_core.extract.annotated_backgrounds.MAX_DILATE, as --dilate (not imported: a second to load)
            DEFAULTS["dilate"],
            "grow each painted head by this many pixels before filling it (covers the fuzzy edges a brush misses)",
        )
        g.addRow(QLabel("make the clips from:"))
        g.addRow(self.bg_mode)
        g.addRow("bare-field video", self.bg_source)
        g.addRow("clip length (frames)", self.clip_length)
        g.addRow("clips", self.n_clips)
        g.addRow("camera motion", self.motion)
        g.addRow("grow heads by (px)", self.dilate)
        self.bg_replace = WrapCheckBox("make the clips of frames done before again")
        self.bg_replace.setToolTip(
            "ticked: annotated frames that already gave a clip get a new one with these settings, and their old "
            "clips are deleted once the new ones are made (a failed or cancelled run keeps them); else those frames "
            "are skipped"
        )
        self.bg_replace.setChecked(DEFAULTS["bg_replace"])
        g.addRow(self.bg_replace)
        self.bg_form = g
        self.bg_mode.currentIndexChanged.connect(lambda *_: self._update_bg_mode())
        self.bg_button = button(
            "Extract backgrounds", lambda: self.guard(self.extract_backgrounds), "make the background clips"
        )

        self.gallery = Gallery()
        self.gallery_loading = False
        self.gallery_kind = compact_combo(["head", "fake"], "which objects to show")
        self.gallery_kind.currentTextChanged.connect(lambda *_: self.refresh_gallery())
        self.counts = wrapped_label("")
        top = QHBoxLayout()
        top.addWidget(QLabel("show:"))
        top.addWidget(self.gallery_kind)

        lay = QVBoxLayout(self.body)
        lay.addWidget(section("Heads and fake heads (from saved masks)"))
        lay.addLayout(f)
        lay.addWidget(self.advanced)
        lay.addWidget(self.heads_button)
        lay.addWidget(section("Background clips (field without heads)"))
        lay.addLayout(g)
        lay.addWidget(self.bg_button)
        lay.addWidget(section("Object bank"))
        lay.addLayout(top)
        lay.addWidget(self.counts)
        lay.addWidget(self.gallery, 1)
        lay.addWidget(self.job_bar)
        self._busy_widgets = [self.heads_button, self.bg_button]
        self._update_bg_mode()
        self.listen(self.state.project_changed, lambda *_: self.refresh())
        self.listen(self.state.store_changed, self.refresh)
        self.refresh()

    @property
    def from_annotated(self) -> bool:
        return self.bg_mode.currentIndex() == 1

    def _update_bg_mode(self) -> None:
        """Show the rows of the chosen background source only."""
        annotated = self.from_annotated
        self.bg_form.setRowVisible(self.bg_source, not annotated)
        self.bg_form.setRowVisible(self.motion, annotated)
        self.bg_form.setRowVisible(self.dilate, annotated)
        self.bg_form.setRowVisible(self.bg_replace, annotated)
        self.n_clips.setSpecialValueText("one per frame" if annotated else "as many as fit")
        self.n_clips.setToolTip(
            "at most this many clips, one per annotated frame, from frames spread over the training videos "
            "(the lowest value: one clip for every annotated frame)"
            if annotated
            else "how many clips to cut"
        )

    def reset(self) -> None:
        self.min_area.setValue(DEFAULTS["min_area"])
        self.fakes.setValue(DEFAULTS["fakes"])
        self.halo.setValue(DEFAULTS["halo"])
        self.seed.setValue(DEFAULTS["seed"])
        self.replace.setChecked(DEFAULTS["replace"])
        self.all_videos.setChecked(DEFAULTS["all_videos"])
        self.clip_length.setValue(DEFAULTS["clip_length"])
        self.n_clips.setValue(DEFAULTS["clips"])
        self.bg_mode.setCurrentIndex(DEFAULTS["bg_mode"])
        self.motion.setCurrentIndex(self.motion.findData(DEFAULTS["motion"]))
        self.dilate.setValue(DEFAULTS["dilate"])
        self.bg_replace.setChecked(DEFAULTS["bg_replace"])

    # ---- actions ---------------------------------------------------------------------------------------------
    def extract_heads(self):
        project = self.state.require_project()
        # None: every video but the test ones; the job says when none has painted or corrected frames
        ids = None if self.all_videos.isChecked() else [self.state.require_video().name]  # the core refuses test videos
        return self.run(
            "dvos_napari._tasks:extract_painted_heads",
            project,
            video_ids=ids,
            min_area=self.min_area.value(),
            fakes_per_head=self.fakes.value(),
            halo_px=self.halo.value(),
            seed=self.seed.value(),
            replace=self.replace.isChecked(),
            label="extract heads",
            cancel_keeps="the heads and fakes of the frames done are kept; Extract heads again skips those frames",
            on_result=self._extracted,
        )

    def extract_backgrounds(self):
        project = self.state.require_project()
        if self.from_annotated:
            replace = self.bg_replace.isChecked()  # what the job does, whatever the box says when it ends
            return self.run(
                "dvos_core.extract:backgrounds_from_annotated",
                project,
                clip_length=self.clip_length.value(),
                n_clips=self.n_clips.value() or None,
                motion=self.motion.currentData(),
                dilate_px=self.dilate.value(),
                replace=replace,
                label="backgrounds from annotated frames",
                on_result=lambda clips: self._inpainted(clips, replace),
            )
        source = self.bg_source.currentText()
        if not source:
            raise ValueError("add a video of bare field (no heads) to the project first (Project step)")
        if source not in project.video_ids():  # deleted meanwhile (from a terminal, say): the list shows it no more
            self.refresh()
            raise ValueError(
                f"the video '{source}' is no longer in the project (it was deleted): choose another bare-field video, "
                f"or add it again ('Add a video' in the Project step)"
            )
        return self.run(  # the job counts the clips the video gave before (it reads every clip)
            "dvos_napari._tasks:extract_backgrounds_counted",
            project,
            source,
            clip_length=self.clip_length.value(),
            n_clips=self.n_clips.value() or None,
            label="extract backgrounds",
            cancel_keeps="the clips cut whole before the cancel are kept (none when it stopped in the first); "
            "Extract backgrounds again cuts the rest",
            on_result=lambda clips: self._cut(clips, source),
        )

    def _cut(self, clips, source: str) -> None:
        """Say how many clips were cut; which clips cut before with the same settings were kept instead of cut
        again; and when the video had given clips with other settings (its frames are then twice in the bank: the
        synthetic clips show that field more often)."""
        from napari.utils.notifications import show_info

        n, kept = len(clips or []), list(getattr(clips, "kept", None) or [])
        text = f"cut {n} background clip(s) from '{source}'" if n or not kept else f"no new clips from '{source}'"
        if kept:
            text += (
                f"; {len(kept)} clip(s) cut before with these settings were kept, not cut again (to cut them anew, "
                f"delete them first in the Project step)"
            )
        other = int(getattr(clips, "before", 0) or 0) - len(kept)
        if n and other > 0:
            text += (
                f"; it had given {other} clip(s) with other settings before, so its frames are in the bank more "
                f"than once (the synthetic clips will show them more often)"
            )
        show_info(text)
        self.messages.info(text)
        self.state.notify_store_changed()

    def _inpainted(self, clips, replace: bool) -> None:
        """Say what backgrounds from annotated frames did: the clips made (and which of them were made again for
        frames repainted since, their old clips deleted), and the old clips deleted without a new one (of frames
        cleared since, or repainted to leave no field): a run may do only that."""
        from napari.utils.notifications import show_info

        dropped = [str(b) for b in getattr(clips, "dropped", None) or []]  # (an empty list of clips may carry them)
        remade = dict(getattr(clips, "remade", None) or {})
        clips = list(clips or [])
        gone = (
            f"deleted {len(dropped)} old clip(s) of frames cleared or repainted since they were made "
            f"({', '.join(dropped[:6])}{' ...' if len(dropped) > 6 else ''})"
        )
        if clips:
            text = (
                f"made {len(clips)} background clip(s) from annotated frames, their heads inpainted: "
                + ", ".join(f"{c.attrs['source']} frame {c.attrs['frame']}" for c in clips[:6])
                + (" ..." if len(clips) > 6 else "")
            )
            again = [c for c in clips if c.name in remade]  # named by frame: a new clip may take an old one's id
            if again:
                text += f"; {len(again)} of them made again for frames repainted since (their old clips deleted): " + (
                    ", ".join(f"{c.attrs['source']} frame {c.attrs['frame']} (now {c.name})" for c in again[:6])
                    + (" ..." if len(again) > 6 else "")
                )
            if dropped:
                text += f"; {gone}"
        elif dropped:
            text = f"no new clips; {gone}"
        elif replace:
            text = "no clips made: no annotated frame could be used (see the warnings)"
        else:
            text = (
                "no new clips: every annotated frame already has one (paint more frames for more clips, or tick "
                "'make the clips of frames done before again' to make them again with these settings)"
            )
        show_info(text)
        self.messages.info(text)
        self.state.notify_store_changed()

    def _extracted(self, table) -> None:
        """Say what Extract heads cut: the objects, the frames repainted since they were cut (cut again from their
        new masks), the frames cut before and unchanged (skipped), and those of them cut before dvos recorded the
        mask they were cut from (a repaint of them cannot be seen: 'replace' cuts them from their masks now)."""
        from napari.utils.notifications import show_info

        from dvos_core.extract.heads import withdrawn_note

        n = len(table) if table is not None else 0
        counts = dict(getattr(table, "attrs", None) or {})
        skipped = int(counts.get("skipped_frames") or 0)
        recut = int(counts.get("recut_frames") or 0)
        old = int(counts.get("unfingerprinted_frames") or 0)
        replace = f"tick '{self.replace.text()}' (Advanced settings)"
        unchanged = "" if old else " and not repainted since"
        if n == 0 and skipped and not recut and not counts.get("withdrawn"):
            text = f"no new objects: the {skipped} painted frame(s) were extracted before{unchanged}"
            if not old:
                text += f"; {replace} to cut them again"
        else:
            text = f"extracted {n} objects"
            if "heads" in counts:
                text += f" ({counts['heads']} heads, {counts['fakes']} fakes) from {counts.get('frames', 0)} frame(s)"
            small = int(counts.get("too_small") or 0)
            if small:
                text += f"; {small} painted blob(s) smaller than 'smallest head (px)' were left out"
            if recut:
                text += f"; {recut} frame(s) repainted since they were extracted were cut again from their new masks"
            if counts.get("withdrawn"):
                text += f"; {withdrawn_note(counts['withdrawn'])}"
            if skipped:
                text += f"; {skipped} frame(s) extracted before{unchanged} were skipped"
        if old:
            text += (
                f"; {old} of the frames skipped were extracted before dvos recorded the masks they were cut from, so "
                f"a repaint of them is not seen: {replace} to cut them from their masks as painted now"
            )
        show_info(text)
        self.messages.info(text)
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
        """Show the first objects of the chosen kind (read from the store in a worker thread)."""
        from napari.qt.threading import create_worker

        p = self.state.project
        if p is None:
            return
        kind = self.gallery_kind.currentText() or "head"
        self._gallery_request = request = (str(p.path), kind, getattr(self, "_gallery_request", (0, 0, 0))[2] + 1)
        self.gallery_loading = True
        worker = create_worker(_first_objects, p, kind, GALLERY_MAX, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda out: self._show_gallery(request, out))
        worker.errored.connect(lambda e: self._show_gallery(request, ([], 0, 0, 0, 0), e))
        self._gallery_worker = worker
        worker.start()

    def _show_gallery(self, request, out, error=None) -> None:
        if not alive(self) or request != self._gallery_request:
            return  # closed meanwhile, or a newer refresh is on its way
        items, heads, fakes, n_kind, clips = out
        self.gallery.set_items(
            [rgba for rgba, _ in items],
            [f"#{r['id']} {r.get('video', '')} frame {r.get('frame', '')} area {r.get('area', '')}" for _, r in items],
        )
        self.counts.setText(
            f"{heads} heads, {fakes} fakes, {clips} background clips"
            + (f" (showing {GALLERY_MAX})" if n_kind > GALLERY_MAX else "")
        )
        if error is not None:
            self.state.report_error("could not read the object bank", error)
        self.gallery_loading = False


def _first_objects(project, kind: str, n: int):
    """(first n (rgba, record) pairs of ``kind``, heads, fakes, count of ``kind``, background clips) of a project (read
    in a worker thread: listing the finished clips opens every one of them)."""
    bank = project.objects
    return (
        bank.load(kind, limit=n),
        bank.count("head"),
        bank.count("fake"),
        bank.count(kind),
        len(project.background_ids()),
    )
