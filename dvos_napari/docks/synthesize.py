"""Synthesize step: synthetic-video settings, a preview clip in its own viewer, and generation of the training set."""

from __future__ import annotations

from qtpy.QtWidgets import QFormLayout, QLineEdit, QPlainTextEdit, QSpinBox, QVBoxLayout

from dvos_napari._errors import plain_words
from dvos_napari._forms import ConfigForm, FieldView
from dvos_napari._names import AXIS_LABELS
from dvos_napari._widgets import DvosDock, button, section, wrapped_label

PREVIEW_IMAGE = "synthetic preview"
PREVIEW_MASKS = "synthetic preview masks"
GROUPS = ("Clip", "Heads and fakes", "Camera motion", "Head motion", "Appearance")
SYNTH_VIEWS = {
    # basic: always visible
    "n_frames": FieldView("clip length", "frames", minimum=1, maximum=100000),
    "height": FieldView("clip height", "px", minimum=16, maximum=8192, step=32),
    "width": FieldView("clip width", "px", minimum=16, maximum=8192, step=32),
    "n_heads": FieldView("heads per frame", "count", maximum=100000),
    "camera_speed": FieldView("camera speed", "px per frame", maximum=1000, step=0.5),
    "camera_speed_min": FieldView(
        "slowest camera speed",
        "px per frame",
        "Camera motion",
        maximum=1000,
        step=0.5,
        help="Slowest steady pan speed in px/frame; above 0, each clip's pan speed is drawn between this and 'camera "
        "speed', in a random direction, instead of per axis ('Match the motion of my videos' sets both)",
    ),
    # advanced
    "allow_upscale": FieldView(
        "upscale small backgrounds",
        group="Clip",
        help="A background clip smaller than the clip size is enlarged instead of stopping with an error (enlarging "
        "blurs the background relative to the heads)",
    ),
    "n_fakes": FieldView("fake heads per frame", "count", group="Heads and fakes", maximum=100000),
    "fake_on_top_prob": FieldView("fakes in front of heads", "share 0-1", "Heads and fakes", maximum=1, step=0.05),
    "placement_tries": FieldView("placement tries", "per object", "Heads and fakes", minimum=1, maximum=1000),
    # at most dvos_core.synth.config.MAX_OBJECT_SCALE (a larger factor only failed when the set was made)
    "object_scale": FieldView("object size factor", "x", "Heads and fakes", maximum=4, step=0.05),
    "min_visible_area": FieldView("smallest visible head", "px", "Heads and fakes", maximum=10**6),
    "border_heads": FieldView(
        "heads cut by the frame's edge",
        "",
        "Heads and fakes",
        choices=[
            ("auto", "left out while 10 whole heads remain"),
            ("skip", "always left out"),
            ("use", "pasted like the others"),
        ],
        help="heads painted up to the edge of their frame have a straight cut side, not their outline; pasted "
        "mid-frame they teach the model heads with straight sides (their fake heads follow them)",
    ),
    "camera_shake_px": FieldView("camera shake", "px", "Camera motion", maximum=1000, step=0.5),
    "camera_rotation_deg": FieldView("camera roll", "degrees", "Camera motion", maximum=180, step=0.5),
    "camera_zoom": FieldView("camera zoom", "share", "Camera motion", maximum=0.49, step=0.01),
    "camera_period": FieldView("camera wobble period", "frames", "Camera motion", minimum=2, maximum=100000, step=5),
    "sway_px": FieldView("head sway", "px", "Head motion", maximum=1000, step=0.5),
    "sway_period": FieldView("sway period", "frames", "Head motion", minimum=2, maximum=100000, step=5),
    "wind_coherence": FieldView("wind coherence", "share 0-1", "Head motion", maximum=1, step=0.05),
    "drift_speed": FieldView("head drift", "px per frame", "Head motion", maximum=1000, step=0.1),
    "rotation_deg": FieldView("head rotation", "degrees", "Head motion", maximum=180, step=1),
    "initial_rotation_deg": FieldView("orientation spread", "degrees", "Head motion", maximum=180, step=5),
    "scale_jitter": FieldView("size wobble", "share", "Head motion", maximum=0.49, step=0.01),
    "elastic_px": FieldView("elastic bending", "crop px", "Head motion", maximum=100, step=0.5),
    "elastic_wavelength": FieldView("bending wavelength", "crop px", "Head motion", minimum=0.5, maximum=10000),
    "head_brightness": FieldView("head brightness spread", "share", "Appearance", maximum=1, step=0.02),
    "head_colour": FieldView("head colour spread", "share", "Appearance", maximum=1, step=0.02),
    "fake_brightness": FieldView("fake brightness spread", "share", "Appearance", maximum=1, step=0.02),
    "fake_colour": FieldView("fake colour spread", "share", "Appearance", maximum=1, step=0.02),
    "edge_feather_px": FieldView("edge softness", "px", "Appearance", maximum=2.5, step=0.1),
}


def _spin(lo: int, hi: int, value: int, tip: str, step: int = 1) -> QSpinBox:
    w = QSpinBox()
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setValue(value)
    w.setToolTip(tip)
    return w


class SynthesizeDock(DvosDock):
    """Tune how synthetic clips look, preview one in its own viewer, then generate a synthetic training set."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.preview_viewer = None
        # what 'Match the motion of my videos' last filled in: (project path, the videos matched, the motion fields'
        # values); a set generated while the fields still hold exactly those records that it was matched to them
        self.motion_matched = None
        lay = QVBoxLayout(self.body)
        try:
            from dvos_core.synth import SynthConfig
        except ImportError as e:  # the synthetic engine is an optional part of an incomplete install
            lay.addWidget(wrapped_label(f"the synthesis part of dvos is not installed ({e}); synthesis is disabled"))
            self.form = None
            return
        self.form = ConfigForm(SynthConfig, SYNTH_VIEWS, groups=GROUPS)
        self.match_button = button(
            "Match the motion of my videos",
            lambda: self.guard(self.match_motion),
            "measure how the camera and the heads move in your videos (not the test videos) and set the motion "
            "settings to match",
        )
        self.density_button = button(
            "Match how crowded my painted frames are",
            lambda: self.guard(self.match_density),
            "measure how much of your painted frames the heads cover (not the test videos) and set the heads per "
            "frame (and fakes in proportion) so the synthetic clips cover as much",
        )
        self.motion_table = QPlainTextEdit()
        self.motion_table.setReadOnly(True)
        self.motion_table.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.motion_table.setMaximumHeight(150)
        self.motion_table.setToolTip("your footage's motion next to the settings' motion, before and after matching")
        self.motion_table.hide()

        pf = QFormLayout()
        pf.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.preview_frames = _spin(2, 500, 16, "frames of the preview clip (the generated clips have the clip length)")
        self.preview_size = _spin(32, 2048, 256, "width and height of the preview clip in pixels", step=32)
        self.seed = _spin(0, 2**31 - 1, 0, "random seed of the preview and the generated set")
        pf.addRow("preview length (frames)", self.preview_frames)
        pf.addRow("preview size (px)", self.preview_size)
        pf.addRow("random seed", self.seed)
        self.preview_button = button(
            "Preview clip", lambda: self.guard(self.preview), "render one short clip and show it in its own window"
        )

        gf = QFormLayout()
        gf.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.set_name = QLineEdit("synthetic")
        self.set_name.setToolTip("name of the synthetic set in the project (training uses all sets by default)")
        self.n_clips = _spin(1, 100000, 200, "how many clips to generate (200 is a good start on a CPU)")
        self.workers = _spin(1, 64, 1, "clips rendered at the same time, one per CPU core")
        gf.addRow("set name", self.set_name)
        gf.addRow("clips", self.n_clips)
        gf.addRow("worker processes", self.workers)
        self.generate_button = button(
            "Generate", lambda: self.guard(self.generate), "render the clips into the project (resumable)"
        )

        lay.addWidget(section("Settings (hover a name for what it does)"))
        lay.addWidget(self.form)
        lay.addWidget(self.density_button)
        lay.addWidget(self.match_button)
        lay.addWidget(self.motion_table)
        lay.addWidget(section("Preview"))
        lay.addLayout(pf)
        lay.addWidget(self.preview_button)
        lay.addWidget(section("Generate the training set"))
        lay.addLayout(gf)
        lay.addWidget(self.generate_button)
        lay.addStretch(1)
        lay.addWidget(self.job_bar)
        self._busy_widgets = [self.preview_button, self.generate_button, self.match_button, self.density_button]

    def config(self):
        if self.form is None:
            raise ImportError("dvos_core.synth is not installed")
        return self.form.value()  # its errors reach the user through guard's plain_words (dvos_napari._errors)

    def check_inputs(self, project) -> None:
        """Say in the panel's words what is missing before a job starts (the core names commands and docks of its
        own): extracted heads. The background clips (one as large as the clips to render) are checked by the job
        (:func:`dvos_napari._tasks.check_backgrounds`: it opens every clip, too slow for napari's main thread)."""
        if project.objects.count("head") == 0:
            raise ValueError(
                "the project has no extracted heads yet: click 'Extract heads' in the Extract step first (it cuts "
                "them out of the saved masks of your painted frames)"
            )

    def _fit(self, size: tuple[int, int] | None = None) -> dict:
        """What the job checks the background clips against: the (height, width) to render (``size``, the
        preview's; default the form's clip size) and the fields that set it; no size when 'upscale small
        backgrounds' is ticked."""
        values = self.form.values()
        if values.get("allow_upscale"):
            return {"fit": None}
        what = "'preview size'" if size else "'clip height' and 'clip width'"
        return {"fit": size or (values["height"], values["width"]), "what": what}

    def threads(self) -> int | None:
        from dvos_core.machine import default_threads

        return max(1, default_threads() // max(1, self.workers.value()))  # workers x threads <= cores

    def match_density(self):
        """Measure the painted frames' head cover in a child process and set the heads per frame from it."""
        self.check_inputs(self.state.require_project())
        return self._match(
            "match_density", "match density", "density matched to your painted frames", "warnings", "note"
        )

    def match_motion(self):
        """Measure the footage's motion in a child process and set the motion settings from it."""
        if not self.state.require_project().video_ids():  # said at once, not by a job that fails
            raise ValueError(
                "the project has no video to measure yet: add your field videos first ('Add a video' in the Project "
                "step), then match their motion"
            )
        return self._match(
            "match_motion", "match motion", "motion matched to your videos", "warnings_after", "still different"
        )

    def _match(self, task: str, label: str, done: str, notes: str, notes_title: str):
        """Run a matching task of ``dvos_napari._tasks`` in a child process; then set the settings it changed, show
        its table, and say what changed and the warnings under its ``notes`` key."""

        def show(result: dict) -> None:
            self.form.set_values(result["overrides"])
            if task == "match_motion":
                where = str(self.state.require_project().path)
                self.motion_matched = (where, list(result["measured"]["videos"]), self._motion_fields())
            self.motion_table.setPlainText(result["table"])
            self.motion_table.show()
            changed = ", ".join(self.form.labels.get(k, k) for k in result["overrides"]) or "nothing"
            left = [plain_words(self.form.in_labels(w)) for w in result.get(notes) or []]
            self.messages.info(f"{done}: changed {changed}" + (f"; {notes_title}: {'; '.join(left)}" if left else ""))

        return self.run(
            f"dvos_napari._tasks:{task}", self.state.require_project(), self.config(), label=label, on_result=show
        )

    def preview(self):
        project = self.state.require_project()
        config = self.config()
        size = self.preview_size.value()
        self.check_inputs(project)
        return self.run(
            "dvos_napari._tasks:synth_preview",
            project,
            **self._fit((size, size)),
            config=config,
            seed=self.seed.value(),
            n_frames=self.preview_frames.value(),
            size=self.preview_size.value(),
            label="synthetic preview",
            on_result=self._show_preview,
        )

    def generate(self):
        project = self.state.require_project()
        name = self.set_name.text().strip()
        if not name:
            raise ValueError("give the synthetic set a name")
        config = self.config()
        self.check_inputs(project)
        return self.run(
            "dvos_napari._tasks:generate_checked",
            project,
            name,
            self.n_clips.value(),
            **self._fit(),
            config=config,
            seed=self.seed.value(),
            workers=self.workers.value(),
            motion_matched_to=self.matched_to(project, config),
            label=f"generate {name}",
            cancel_keeps=f"the clips made so far are kept in the unfinished set {name!r}; Generate again with the "
            f"same settings resumes it",
            on_result=lambda _: self.state.notify_store_changed(),
        )

    def _motion_fields(self) -> dict:
        """The form's values of the settings that motion matching sets."""
        from dvos_core.motion.matching import MATCHED_FIELDS

        return {k: v for k, v in self.form.values().items() if k in MATCHED_FIELDS}

    def matched_to(self, project, config) -> list[str] | None:
        """What a set generated from ``config`` records as the videos its motion was matched to
        (``motion_matched_to``, read by `dvos run-all`): the videos 'Match the motion of my videos' measured while
        the motion fields hold exactly what it filled in, in this project; [] (not matched) while they hold the
        engine's defaults; else None, not known (values typed in may come from an earlier matching)."""
        from dvos_core.motion.matching import MATCHED_FIELDS
        from dvos_core.synth import SynthConfig

        if self.motion_matched is not None:
            where, videos, values = self.motion_matched
            if where == str(project.path) and values == self._motion_fields():
                return list(videos)
        default = SynthConfig()
        if all(getattr(config, k) == getattr(default, k) for k in MATCHED_FIELDS):
            return []
        return None

    # ---- the preview window ----------------------------------------------------------------------------------
    def _main_shown(self) -> bool:
        """Whether the napari window holding this step is on screen (a viewer made with show=False, for a script or a
        notebook, is not: the preview window follows it)."""
        window = self.window()
        return window is not self and window.isVisible()

    def _preview_window(self):
        """The preview's own viewer (made again if the user closed it), so the video in this one stays in view; shown
        only when the main window is."""
        import napari

        v, shown = self.preview_viewer, self._main_shown()
        try:
            alive = v is not None and (v.window._qt_window.isVisible() or not shown)
        except (AttributeError, RuntimeError):
            alive = False
        if not alive:
            v = self.preview_viewer = napari.Viewer(title="dvos: synthetic preview", show=shown)
        return v

    def _show_preview(self, result) -> None:
        frames, masks = result
        v = self._preview_window()
        for name in (PREVIEW_IMAGE, PREVIEW_MASKS):
            if name in v.layers:
                v.layers.remove(name)
        v.add_image(frames, name=PREVIEW_IMAGE, rgb=True)
        v.add_labels(masks.astype("uint8"), name=PREVIEW_MASKS, opacity=0.4)
        v.dims.axis_labels = AXIS_LABELS
        v.reset_view()
        self.messages.info(f"preview of {len(frames)} frames shown in the 'dvos: synthetic preview' window")

    def window_closed(self) -> None:
        """The main napari window closed: the preview window goes with it (it would outlive it, with nothing to
        make it again)."""
        self.close_preview()
        super().window_closed()

    def close_preview(self) -> None:
        if self.preview_viewer is not None:
            try:
                self.preview_viewer.close()
            except (AttributeError, RuntimeError):
                pass
            self.preview_viewer = None
