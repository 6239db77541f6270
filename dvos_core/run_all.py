"""`dvos run-all`: the whole method on a project's own videos, from painted frames to scored predictions.

cut heads and fake heads from the painted frames, make background clips (from bare-field videos, else inpainted
from the painted frames) -> synthetic clips at least as crowded as the painted frames and moving like the footage ->
the image model -> pseudo-labels of the training videos -> both phases of each video model -> predictions of the test
videos (and any others asked for) -> a comparison table where test videos hold painted ground truth.

Every stage keeps what an earlier run of the same name finished (heads of frames already cut, background clips,
a synthetic set, finished or stopped training runs, pseudo-labels, predictions made by the same checkpoint), so
running it again after a stop continues where it was. `dvos demo` runs the same stages on its sample project.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dvos_core.prediction_options import check_scales, scale_hint
from dvos_core.progress import CancelToken, ProgressFn, Steps, check, report
from dvos_core.shell import quote
from dvos_core.threads import runs_with_threads

VIDEO_MODELS = {"dvos": "the paper's DVOS model", "context": "the context-aware video model"}
RELABEL = ("off", "first_phase", "blend")
PHASES = ("image", "synthetic", "real")
# synthetic clips per set and frames per clip where the config leaves them open: a CPU gets the demo's budget
CPU_SYNTH, GPU_SYNTH = (48, 12), (200, 24)
MAX_SYNTH_SIDE = 512  # synthetic frames are at most this side (and never larger than the background clips)
_OPEN = {"synth_clips", "synth_frames", "synth_size", "background_clip_length"}  # None: a default


@dataclass
class RunAllConfig:
    """What `dvos run-all` makes and how long it trains; every field has a default that suits the machine."""

    name: str = ""  # prefix of everything the run makes ("v2" -> v2_image, v2_synthetic, v2_context, ...)
    video_models: list = field(default_factory=lambda: ["context"])  # "context" and/or "dvos" (the paper's)
    bare_videos: list = field(default_factory=list)  # videos of bare field for background clips (else inpainted)
    background_clip_length: int | None = None  # frames per background clip (default: the synthetic clips')
    fakes_per_head: int = 4
    synth_clips: int | None = None  # None: 48 on a CPU, 200 on a GPU
    synth_frames: int | None = None  # None: 12 on a CPU, 24 on a GPU
    synth_size: int | None = None  # side of the synthetic frames (None: the background clips', at most 512)
    synth_heads: tuple = (8, 30)  # heads per synthetic frame before match_density raises them (never lowers)
    synth_fakes: tuple = (3, 12)
    synthetic_set: str | None = None  # train on this existing synthetic set instead of making the run's own
    match_density: bool = True  # at least as crowded as the painted frames (dvos synth --match-density)
    match_motion: bool = True  # camera and sway measured on the training videos (dvos synth --match-motion)
    pseudo_passes: int = 2
    scales: str = "auto"  # the scales pseudo-labelling and prediction segment each frame at (dvos predict --scales)
    relabel: str = "off"  # before a context model's second phase: off | first_phase | blend (see DemoConfig)
    train: dict = field(default_factory=dict)  # TrainConfig values for every phase (over the machine's defaults)
    image: dict = field(default_factory=dict)  # ... for one phase only (image: {init_from: CKPT}, --init-from: the
    # image model starts from that image model, e.g. last season's; the video phases start from the run's own)
    synthetic: dict = field(default_factory=dict)
    real: dict = field(default_factory=dict)
    predict: list = field(default_factory=list)  # videos to predict besides the test videos
    report: str = "run-all"  # evaluation report (v2_run-all under --name v2; "...-comparison": the side-by-side table)
    seed: int = 0
    device: str = "auto"
    workers: int = 1  # synthesis processes

    def __post_init__(self):
        from dvos_core.config_io import coerce_fields

        if self.relabel is False:  # YAML reads an unquoted `relabel: off` as false
            self.relabel = "off"
        coerce_fields(self)
        # values no stage could use: refused now, not after an hour of training (as the later stage would)
        for key, low in (
            ("synth_clips", 1),
            ("synth_frames", 1),
            ("synth_size", 16),
            ("background_clip_length", 1),
            ("fakes_per_head", 0),
            ("pseudo_passes", 1),
            ("workers", 1),
        ):
            value = getattr(self, key)
            if value is not None and value < low:
                option = {"synth_clips": " (--clips)", "synth_frames": " (--frames)"}.get(key, "")
                open_ = " (or leave it out, null in a file: suited to the machine)" if key in _OPEN else ""
                raise ValueError(f"RunAllConfig.{key}{option} must be at least {low}{open_}, got {value}")
        for key in ("synth_heads", "synth_fakes"):
            low, high = getattr(self, key)
            if not 0 <= low <= high:
                raise ValueError(f"RunAllConfig.{key} must be [low, high] with 0 <= low <= high, got {[low, high]}")
        self.video_models = list(self.video_models)
        bad = [m for m in self.video_models if m not in VIDEO_MODELS]
        if bad:
            raise ValueError(f"RunAllConfig.video_models: unknown {bad}; choose from {list(VIDEO_MODELS)}")
        check_scales(self.scales)
        if self.relabel not in RELABEL:
            raise ValueError(f"RunAllConfig.relabel: unknown {self.relabel!r}; choose from {list(RELABEL)}")
        if self.name and not self.name.replace("-", "_").isidentifier():
            raise ValueError(f"RunAllConfig.name: {self.name!r} must be letters, digits, '_' or '-'")
        self._check_train_sections()

    def _check_train_sections(self) -> None:
        """Refuse TrainConfig values of the ``train`` / ``image`` / ``synthetic`` / ``real`` sections that run-all sets
        itself (each phase's ``phase``, the video model, where a video phase starts from): taken silently, they were
        overwritten, and the model trained was not the one asked for."""
        for section in ("train", *PHASES):
            values = getattr(self, section)
            if not isinstance(values, dict):
                raise ValueError(f"RunAllConfig.{section} must be a mapping of training settings, got {values!r}")
            key = f"RunAllConfig.{section}"
            if "phase" in values and values["phase"] != section:
                raise ValueError(
                    f"{key}.phase ({values['phase']!r}): run-all sets each phase itself - it trains image, synthetic "
                    f"and real in turn, each with the settings of its own section (image:, synthetic:, real:; "
                    f"train: for all three); leave phase out"
                )
            if "video_model" in values and [values["video_model"]] != self.video_models:
                raise ValueError(
                    f"{key}.video_model ({values['video_model']!r}): the video models run-all trains are set by "
                    f"video_models (--video-model), now {self.video_models}; set it there and leave video_model out "
                    f"of {section}:"
                )
            if values.get("init_from") is not None and section != "image":
                why = (
                    "it would start every phase from it"
                    if section == "train"
                    else "run-all starts the synthetic phase from the image model it has just trained, and the real "
                    "phase from its synthetic phase's model"
                )
                phase = "synthetic" if section == "train" else section
                raise ValueError(
                    f"{key}.init_from ({values['init_from']!r}): {why}; to start from another model, give it for the "
                    f"image phase (image: {{init_from: CKPT}}, or --init-from CKPT: an image model, e.g. last "
                    f"season's), or train that phase yourself: `dvos train PROJECT --phase {phase} --init-from CKPT`"
                )

    def starting_from(self, checkpoint) -> RunAllConfig:
        """These settings with the image model starting from ``checkpoint`` (an image model: a file, or a model name
        of the project; None: from scratch), as `dvos run-all --init-from` and the Train step's run-all box set it."""
        from dataclasses import replace

        image = {k: v for k, v in self.image.items() if k != "init_from"}
        if checkpoint is not None:
            image["init_from"] = str(checkpoint)
        return replace(self, image=image)

    @classmethod
    def quick(cls, **changes) -> RunAllConfig:
        """A quick look (a few minutes on a CPU, rough masks): `dvos demo --quick`'s budget, under the name "quick"
        so that a full run later does not find its short training runs finished."""
        quick = {
            "name": "quick",
            "synth_clips": 16,
            "synth_frames": 8,
            "train": {"preset": "tiny", "epochs": 2, "max_steps_per_epoch": 25, "batch_size": 4},
            "image": {"epochs": 3},
        }
        return cls(**{**quick, **changes})

    def synth_config(self, side: int, n_frames: int | None = None):
        """The synthesis parameters the run starts from, before density and motion matching: frames of ``side`` px,
        ``n_frames`` per clip (default ``synth_frames``)."""
        from dvos_core.synth import SynthConfig

        return SynthConfig(
            n_frames=n_frames or self.synth_frames,
            height=side,
            width=side,
            n_heads=tuple(self.synth_heads),
            n_fakes=tuple(self.synth_fakes),
        )

    def model_name(self, what: str) -> str:
        """The stored name of ``what`` ("image", "context", "context_synthetic", "synthetic", ...) in this run."""
        return f"{self.name}_{what}" if self.name else what

    def report_name(self) -> str:
        """The name of the run's evaluation report: ``report`` under the run's name ("v2_run-all"), so that a run
        under another name keeps the earlier run's report ("<report_name>-comparison": the side-by-side table)."""
        return self.model_name(self.report)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunAllConfig:
        from dvos_core.config_io import dataclass_from_dict

        return dataclass_from_dict(cls, d, "run-all settings", "`dvos run-all --print-config` lists them")

    @classmethod
    def from_yaml(cls, path) -> RunAllConfig:
        from dvos_core.config_io import load_config

        return load_config(cls, path, "run-all settings", "write one with `dvos run-all --print-config`")

    def to_yaml(self, path=None) -> str:
        """The settings as YAML (written to ``path`` if given)."""
        import yaml

        text = yaml.safe_dump(
            {k: list(v) if isinstance(v, tuple) else v for k, v in self.to_dict().items()}, sort_keys=False
        )
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


@dataclass
class RunAllResult:
    project: Path
    checkpoints: dict  # model name -> best checkpoint of its last phase ("image", "context", ...)
    predicted: list  # the videos predicted
    report: object = None  # EvaluationReport of the first video model on the test videos (None without them)
    comparison: object = None  # pandas DataFrame: every model and baseline side by side (None without test videos)
    timings: dict = field(default_factory=dict)
    heads: dict = field(default_factory=dict)  # video -> different heads in the main model's predictions (count-heads)
    heads_model: str = ""  # whose predictions ``heads`` counts


class Stages:
    """Numbered stages with progress, cancel, a log line each (with the time since the start, so a run cut short
    still shows where its time went) and their wall times."""

    def __init__(self, n: int, progress, cancel, log, threads: int | None = None):
        self.n, self.i, self.progress, self.cancel, self.log = n, 0, progress, cancel, log
        self.timings: dict = {}
        self.threads = threads  # CPU threads of the steps that take them
        self.t0 = self.start = time.perf_counter()
        self.notes: set = set()  # notes logged once per run (see note_once)
        self.trained: dict = {}  # the run's models already trained, kept as they are: name -> epochs (_check_models)

    UNITS = 1000  # progress units per stage: a bar moves within a stage, not once per stage

    def stage(self, name: str) -> Steps:
        """Start the next stage: its log line, and the progress callback of its work (a share of the run's bar; its
        messages say which stage they are from, ``[4/8] name: ...``)."""
        check(self.cancel)
        self.i += 1
        u, where = self.UNITS, f"[{self.i}/{self.n}] {name}"
        report(self.progress, (self.i - 1) * u, self.n * u, where)
        self.log(f"{where}  ({time.perf_counter() - self.start:.0f} s in)")
        return Steps(self.progress, (self.i - 1) * u, u, self.n * u, prefix=f"{where}: ")

    def lap(self, key: str) -> None:
        self.timings[key] = round(time.perf_counter() - self.t0, 2)
        self.t0 = time.perf_counter()

    def note_once(self, text: str | None) -> None:
        """Log ``text`` (indented under its stage) unless this run logged it before; None logs nothing."""
        if text and text not in self.notes:
            self.notes.add(text)
            self.log(f"      {text}")

    def done(self) -> None:
        report(self.progress, self.n * self.UNITS, self.n * self.UNITS, "done")


def print_flushed(text: str) -> None:
    """``print`` and flush (:func:`dvos_core.progress.print_working`): stdout sent to a file is block-buffered, so
    with ``> run.log 2>&1`` the stage lines came in clumps of kilobytes, long after the progress lines (stderr) of
    their stages."""
    from dvos_core.progress import print_working

    print_working(text)


def stage_count(config: RunAllConfig) -> int:
    """Stages of a run: extract, synthesize, image model, pseudo-labels, two per video model, predict, evaluate."""
    return 6 + 2 * len(config.video_models)


@runs_with_threads()
def run_all(
    project,
    config: RunAllConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    log: Callable[[str], None] | None = None,
    threads: int | None = None,
    train_configs: Callable | None = None,
) -> RunAllResult:
    """Run every stage of the method on ``project`` (a Project or its path); see the module docstring.

    ``train_configs(phase, init_from, video_model)``: the TrainConfig of a phase (default: the machine's suggested
    settings, see :func:`dvos_core.machine.suggested_settings`, updated by ``config.train`` and the phase's dict).
    ``threads``: CPU threads of every step (see :mod:`dvos_core.threads`). ``log``: where the stage lines go
    (default :func:`print_flushed`). Raises ValueError naming what to paint, split or name before anything is
    written when the project cannot run.
    """
    from dvos_core.store import Project

    cfg = config or RunAllConfig()
    project = project if isinstance(project, Project) else Project.open(project)
    run = Stages(stage_count(cfg), progress, cancel, log or print_flushed, threads)
    return run_stages(project, cfg, run, train_configs)


def run_stages(project, cfg: RunAllConfig, run: Stages, train_configs: Callable | None = None) -> RunAllResult:
    """The stages of :func:`run_all` on an open project, counted by ``run`` (which may hold earlier stages)."""
    from dvos_core.model.device import select_device

    select_device(cfg.device)  # an unknown or absent device is named before any step runs
    plan = check_project(project, cfg)
    start = plan["start"]
    configs = train_configs or machine_train_configs(cfg)
    for phase in PHASES:  # a bad training setting stops the run now, not after an hour of work
        for kind in cfg.video_models if phase != "image" else ["context"]:
            try:
                configs(phase, start if phase == "image" else None, kind).validate()
            except ValueError as e:
                raise ValueError(f"run-all settings, {phase} phase: {e}") from None
    kept = run.trained = _check_models(project, cfg, configs, start)
    _extract(project, cfg, run, plan)
    set_name = _synthesize(project, cfg, run, plan)
    sub = run.stage("train the image model (frame by frame)")
    image = _train(
        project,
        configs("image", start, "context"),
        cfg.model_name("image"),
        set_name,
        sub,
        run,
        _phase_videos(project, plan, "image"),
    )
    run.lap("train_image")
    sub = run.stage("pseudo-label the training videos with the image model")
    run.note_once(_scale_note(project, cfg, plan["train"]))  # said before the first stage that segments frames
    trained = [cfg.model_name(k) for k in cfg.video_models]  # the models that train on the labels
    _pseudo_label(project, cfg, run, plan["train"], image, sub, trained if kept.keys() >= set(trained) else [])
    run.lap("pseudo_label")
    checkpoints = {cfg.model_name("image"): image}
    for kind in cfg.video_models:
        checkpoints[cfg.model_name(kind)] = _video_model(
            project, cfg, run, kind, image, set_name, plan, configs, cfg.model_name(kind) in kept
        )
    return _predict_and_compare(project, cfg, run, checkpoints, plan)


def check_project(project, cfg: RunAllConfig) -> dict:
    """What the run works from, checked before anything is written: {"painted": videos with painted frames (not
    test), "train": training videos (pseudo-labels, second phase), "test": test videos, "predict": videos to
    predict, "start": the checkpoint the image model starts from (:func:`starting_checkpoint`), or None}. Raises
    ValueError saying what to do when a part is missing."""
    from dvos_core.store import CORRECTED, MANUAL

    ids = project.video_ids()
    missing = [v for v in [*cfg.bare_videos, *cfg.predict] if v not in ids]
    if missing:
        raise ValueError(
            f"{project.path}: no video {missing} in the project (its videos: {ids}); name videos by their id, and add "
            f"a file first: `dvos add-video {quote(project.path)} FILE --split unassigned`"
        )
    split = {v: project.video(v).attrs.get("split") for v in ids}
    painted = [v for v in ids if split[v] != "test" and len(project.video(v).labelled_frames((MANUAL, CORRECTED)))]
    if not painted:
        in_test = [v for v in ids if split[v] == "test" and len(project.video(v).labelled_frames((MANUAL, CORRECTED)))]
        where = (
            f" (the painted frames of {', '.join(in_test)} only score the models: a test video never trains)"
            if in_test
            else ""
        )
        raise ValueError(
            f"{project.path}: no painted frames outside the test videos{where}; paint the heads of a few frames of a "
            f"training video (napari's Annotate step) or load masks with `dvos import-masks`, then run again"
        )
    train = [v for v in ids if split[v] == "train" and v not in cfg.bare_videos]
    if not train:
        raise ValueError(
            f"{project.path}: no video in the train split (the image model labels them for the second phase); "
            f"set one with `dvos split {quote(project.path)} train VIDEO` (its painted frames count too)"
        )
    if cfg.synthetic_set and cfg.synthetic_set not in project.synthetic_ids():
        raise ValueError(
            f"{project.path}: no synthetic set {cfg.synthetic_set!r} (its sets: {project.synthetic_ids()}); leave "
            f"it out to make the run's own"
        )
    _check_own_set(project, cfg)
    test = [v for v in ids if split[v] == "test"]
    predict = [*test, *(v for v in cfg.predict if v not in test)]
    start = starting_checkpoint(project, cfg)
    return {"painted": painted, "train": train, "test": test, "predict": predict, "start": start}


def starting_checkpoint(project, cfg: RunAllConfig) -> Path | None:
    """The checkpoint the run's image model starts from (``image: {init_from}``, ``--init-from``), checked as `dvos
    train --init-from` checks it, before anything is written: a file, ``models/NAME/FILE`` of the project or a model
    name of it (its best.pt), holding an image model that is not the one this run trains. None: from scratch."""
    from dvos_core.infer.engine import resolve_checkpoint_path
    from dvos_core.model.checkpoint import read_checkpoint
    from dvos_core.train.loop import init_checkpoint_path

    spec = cfg.image.get("init_from")
    if spec is None:
        return None
    where = "RunAllConfig.image.init_from (--init-from)"
    try:  # read as `dvos train --init-from` reads it (models/NAME/FILE of the project, a model name, a file)
        path = resolve_checkpoint_path(project, init_checkpoint_path(project, str(spec)))
        kind = read_checkpoint(path, "--init-from (RunAllConfig.image.init_from)").get("kind")
    except (OSError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
    if kind != "frame":
        raise ValueError(
            f"{where}: {path} holds a {kind!r} video model; the run's image model starts from an image model (one "
            f"trained in the image phase, e.g. last season's models/image/best.pt); its video models then start "
            f"from the image model it trains"
        )
    own = project.model_dir(cfg.model_name("image")) / "best.pt"
    if own.is_file() and own.resolve() == Path(path).resolve():
        raise ValueError(
            f"{where}: {path} is the image model this run trains ({cfg.model_name('image')!r}), which it cannot "
            f"start from; give the run a name (--name) so that it trains a model of its own, or copy the model under "
            f"another name first (`dvos import-weights {quote(path)} --project {quote(project.path)} --name NAME`)"
        )
    return Path(path)


def _check_own_set(project, cfg: RunAllConfig) -> None:
    """Refuse, before anything is written, a run that would make its own synthetic set under the name of a set it
    cannot continue: one of that name ("synthetic" for an unnamed run, also the Synthesize step's default name)
    with another number of clips, or an unfinished one with another seed. The run would cut heads and backgrounds
    first and fail there."""
    name = cfg.model_name("synthetic")
    if cfg.synthetic_set or name not in project.synthetic_ids():
        return
    sset = project.synthetic(name)
    n_clips, done = _synth_shape(cfg)[0], len(sset.done())
    if sset.n_clips == n_clips and (done == n_clips or sset.attrs.get("seed") == cfg.seed):
        differ = _set_differences(project, cfg, sset)
        if not differ:
            return  # complete (kept) or a stopped run's own set (continued)
        state = "complete" if done == n_clips else f"{done} of {n_clips} clips made"
        raise ValueError(
            f"{project.path}: synthetic set {name!r} ({state}) was made with other settings than this run's "
            f"({'; '.join(differ)}), and a run keeps the set of its name as it is (and the models trained on it), "
            f"so these settings would have no effect: give the run a new name (--name NAME) to make a set and models "
            f"with them, or run with the set's settings"
        )
    raise ValueError(
        f"{project.path}: holds a synthetic set {name!r} ({done} of {sset.n_clips} clips; made by `dvos synth`, or "
        f"by a run with other settings) that this run cannot continue (it makes {n_clips} clips under that name): "
        f"train on it (--synthetic-set {name}), or give the run a name (--name) so that it makes a set of its own"
    )


def _motion_matched(sset) -> bool | None:
    """Whether synthetic set ``sset`` was made with its motion matched to footage: its record of the videos it was
    matched to (``motion_matched_to``; [] for a set made without matching); for a set made before that record
    existed, guessed from its config, whose motion settings run-all leaves at the engine's defaults otherwise
    (None: a config that cannot be read)."""
    from dvos_core.motion.matching import MATCHED_FIELDS
    from dvos_core.synth import SynthConfig

    recorded = sset.attrs.get("motion_matched_to")
    if isinstance(recorded, list):
        return bool(recorded)
    try:
        made = SynthConfig.from_dict(sset.attrs.get("config") or {})
    except (TypeError, ValueError):
        return None
    default = SynthConfig()
    return any(getattr(made, k) != getattr(default, k) for k in MATCHED_FIELDS)


def _set_differences(project, cfg: RunAllConfig, sset) -> list[str]:
    """What this run's settings would make differently from the run's own synthetic set ``sset`` (made by an
    earlier run of the name), each with the option that gives the set's: frames per clip, frame size, matched
    motion, bare-field videos whose clips it was not made from."""
    made = sset.attrs.get("config") or {}
    out = []
    n_frames = _synth_shape(cfg)[1]
    if sset.n_frames != n_frames:
        out.append(f"{sset.n_frames} frames per clip, now {n_frames} (--frames {sset.n_frames} as then)")
    size = (made.get("height"), made.get("width"))
    if cfg.synth_size is not None and size != (cfg.synth_size, cfg.synth_size):
        out.append(f"{size[0]}x{size[1]} px frames, now {cfg.synth_size} px (synth_size: {size[0]} as then)")
    matched = _motion_matched(sset)
    if matched is not None and matched != cfg.match_motion:
        out.append(
            "its motion was matched to the training videos, now not (leave out --no-match-motion)"
            if matched
            else "it moves as the synthesis engine's default, now matched to the training videos (--no-match-motion)"
        )
    used = set((sset.attrs.get("inputs") or {}).get("backgrounds") or ())
    held = set(project.background_ids())
    for video in cfg.bare_videos:
        if not any(project.background(b).attrs.get("source") == video for b in used & held):
            out.append(f"it has no background clip of the bare-field video {video} (leave out --bare-video {video})")
    return out


def machine_train_configs(cfg: RunAllConfig) -> Callable:
    """``(phase, init_from, video_model) -> TrainConfig`` from the machine's suggested settings and ``cfg``
    (``init_from`` None: the phase section's own, which only the image phase may have)."""
    from dvos_core.machine import machine_info, suggested_settings
    from dvos_core.train.config import TrainConfig, cosine_floor

    info = machine_info()

    def make(phase: str, init_from, video_model: str):
        values = {**suggested_settings(info, phase)[0], "seed": cfg.seed, "device": cfg.device}
        values.update(cfg.train)
        values.update(getattr(cfg, phase))
        values.setdefault("eta_min", cosine_floor(values["lr"]))
        values.update(phase=phase, video_model=video_model)  # (a section's own: refused by RunAllConfig)
        if init_from is not None:  # where run-all starts the phase (else the image section's init_from, if any)
            values["init_from"] = str(init_from)
        return TrainConfig.from_dict(values)

    return make


def _gpu(cfg: RunAllConfig) -> bool:
    from dvos_core.model import select_device

    return select_device(cfg.device).type in ("cuda", "mps")


def _extract(project, cfg: RunAllConfig, run: Stages, plan: dict) -> None:
    """Heads and fake heads of the painted frames not cut yet; background clips: those of the bare-field videos
    named, else the project's bare-field clips, else clips inpainted from the painted frames (those without one)."""
    from dvos_core.extract import extract_backgrounds, extract_heads
    from dvos_core.extract.annotated_backgrounds import backgrounds_from_annotated

    sub = run.stage("extract heads, fake heads and background clips")
    heads = extract_heads(
        project,
        video_ids=plan["painted"],
        fakes_per_head=cfg.fakes_per_head,
        seed=cfg.seed,
        progress=sub,
        cancel=run.cancel,
    )
    bank = project.objects
    recut = heads.attrs.get("recut_frames", 0)
    run.log(
        f"      {heads.attrs.get('heads', 0)} heads and {heads.attrs.get('fakes', 0)} fakes cut now"
        + (
            f" (from {heads.attrs.get('frames', 0)} frame(s), {recut} of them repainted since they were cut before: "
            f"cut again from their new masks)"
            if recut
            else ""
        )
        + f"; the project holds {bank.count('head')} heads, {bank.count('fake')} fakes"
    )
    clip_length = cfg.background_clip_length or _synth_shape(cfg)[1]
    held = project.background_ids()
    inpainted = [b for b in held if "inpaint" in project.background(b).attrs]
    if cfg.bare_videos:  # cut (the clips a run cut before are kept, not cut again)
        cut = [extract_backgrounds(project, v, clip_length=clip_length, cancel=run.cancel) for v in cfg.bare_videos]
        new, kept = sum(len(c) for c in cut), sum(len(c.kept) for c in cut)
        also = len(project.background_ids()) - new - kept
        draw = f"; the synthetic clips draw from these and the project's {also} other clips" if also else ""
        if _set_kept(project, cfg):  # made before: it keeps the clips it was made from
            draw = f"; the synthetic set {_set_name(cfg)!r} is kept as it was made"
        run.log(f"      {new} background clips cut from {', '.join(cfg.bare_videos)} now, {kept} cut before{draw}")
    elif held and len(inpainted) < len(held):  # bare-field clips the project holds (extract-backgrounds, --bare-video)
        run.log(f"      background clips: the project's {len(held)} kept")
    else:  # inpainted from the painted frames: those painted since the clips were made get theirs too
        # still clips when the synthetic camera is matched to the footage (else camera motion would count twice)
        motion = "none" if cfg.match_motion else "auto"
        made = backgrounds_from_annotated(
            project,
            plan["painted"],
            clip_length=clip_length,
            motion=motion,
            seed=cfg.seed,
            cancel=run.cancel,
            field_fix=functools.partial(_thin_field_fix, project, motion, clip_length),
        )
        run.log(
            f"      {len(made)} background clips inpainted from the painted frames"
            + (f" now, {len(held)} made before" if held else "")
            + " (no bare-field video named)"
        )
    run.lap("extract")


def _thin_field_fix(project, motion: str, clip_length: int, frames: list, dilate_px: int) -> str:
    """The fix for painted ``frames`` ((video, frame) pairs) whose heads, grown by ``dilate_px``, leave little or no
    field to inpaint a background clip from, in run-all's words: run-all has no --dilate, nor --frames of painted
    frames (its --frames is frames per synthetic clip), so the command that makes their clips as run-all makes them
    (``motion``, ``clip_length``) with the heads grown less, or bare-field footage instead."""
    by_video: dict = {}
    for vid, t in frames:
        by_video.setdefault(vid, []).append(str(t))
    commands = " and ".join(
        f"`dvos extract-backgrounds {quote(project.path)} --from-annotated --videos {quote(vid)} --frames "
        f"{' '.join(ts)} --dilate {dilate_px // 2} --motion {motion} --clip-length {clip_length} --replace`"
        for vid, ts in by_video.items()
    )
    clips = "its clip" if len(frames) == 1 else "their clips"
    return (
        f"to make {clips} with the heads grown less, run {commands}, then run-all under a new --name; or name a "
        f"video of bare field to cut the clips from (--bare-video VIDEO)"
    )


def _synth_shape(cfg: RunAllConfig) -> tuple[int, int]:
    clips, frames = GPU_SYNTH if (cfg.synth_clips is None or cfg.synth_frames is None) and _gpu(cfg) else CPU_SYNTH
    return (cfg.synth_clips or clips, cfg.synth_frames or frames)


def _log_lines(run: Stages, text: str) -> None:
    """A table (several lines) in the log, each line indented under its stage."""
    for line in str(text).splitlines():
        run.log(f"      {line}")


def _set_kept(project, cfg: RunAllConfig) -> bool:
    """Whether the run trains on a synthetic set made before (one it was given, or its own set, complete)."""
    name = _set_name(cfg)
    if cfg.synthetic_set or name not in project.synthetic_ids():
        return bool(cfg.synthetic_set)
    sset = project.synthetic(name)
    return len(sset.done()) >= sset.n_clips


def _set_name(cfg: RunAllConfig) -> str:
    """The synthetic set the run trains on: the one it was given, else its own."""
    return cfg.synthetic_set or cfg.model_name("synthetic")


def _synthesize(project, cfg: RunAllConfig, run: Stages, plan: dict) -> str:
    """The run's synthetic set (resumed when a stopped run made part of it); returns its name."""
    from dvos_core.synth import SynthConfig, generate

    sub = run.stage("generate synthetic training clips")
    if cfg.synthetic_set:
        n = len(project.synthetic(cfg.synthetic_set).done())
        run.log(f"      the project's synthetic set {cfg.synthetic_set!r} (as asked): {n} clips")
        run.lap("synthesize")
        return cfg.synthetic_set
    name = cfg.model_name("synthetic")
    n_clips, n_frames = _synth_shape(cfg)
    if name in project.synthetic_ids():  # resume with the settings it was started with (measured once)
        sset = project.synthetic(name)
        done = len(sset.done())
        if done == n_clips and sset.n_clips == n_clips:
            # finished: kept as it is (its settings are this run's: _check_own_set), without what was cut since
            run.log(f"      synthetic set {name!r} is complete: its {done} clips kept")
            run.note_once(_objects_since(project, sset, name))
            run.lap("synthesize")
            return name
        synth = SynthConfig.from_dict(sset.attrs.get("config"))
        matched_to = None  # the set keeps its own record
        run.log(f"      synthetic set {name!r} exists: continued with its own settings")
    else:
        side = cfg.synth_size or min(
            [MAX_SYNTH_SIDE] + [min(project.background(b).shape[1:3]) for b in project.background_ids()]
        )
        synth = cfg.synth_config(side, n_frames)
        share = Steps(sub, 0, 300, 1000)
        if cfg.match_density:
            from dvos_core.synth.density import match_density

            dense = match_density(project, plan["painted"], synth, seed=cfg.seed, progress=share, cancel=run.cancel)
            _log_lines(run, dense.table())
            synth = dense.config
        matched_to = []  # recorded in the set: whether (and to which videos) its motion was matched
        if cfg.match_motion:
            from dvos_core.motion import match_motion

            moved = match_motion(project, plan["train"], synth, cancel=run.cancel)
            _log_lines(run, moved.table())
            for w in moved.warnings_after:  # what matching could not fix
                run.log(f"      note: {w}")
            synth = moved.config
            matched_to = list(moved.measured["videos"])
        sub = Steps(sub, 300, 700, 1000)
    generate(
        project,
        name,
        n_clips,
        config=synth,
        seed=cfg.seed,
        workers=cfg.workers,
        progress=sub,
        cancel=run.cancel,
        threads=run.threads,
        motion_matched_to=matched_to,
    )
    run.lap("synthesize")
    return name


def _objects_since(project, sset, name: str) -> str | None:
    """The note for a kept synthetic set ``sset`` made from fewer heads, or from fewer videos' heads, than the
    project holds now (frames painted since): neither the set nor the models trained on it include them."""
    from dvos_core.synth.bank import head_videos

    made = sset.attrs.get("inputs") or {}
    if "heads" not in made:
        return None
    more = project.objects.count("head") - int(made["heads"])
    videos = [v for v in head_videos(project) if "head_videos" in made and v not in made["head_videos"]]
    if more <= 0 and not videos:
        return None
    what = f"{more} head(s) cut since it was made" if more > 0 else "heads cut since it was made"
    what += f" (of {', '.join(videos)})" if videos else " (frames painted since)"
    return (
        f"note: the kept set {name!r}, and the models this run keeps, do not include the {what}; give the run a new "
        f"name (--name NAME) to make a set and models that do"
    )


def _pseudo_label(project, cfg: RunAllConfig, run: Stages, videos: list, image, progress, trained=()) -> None:
    """Label the training videos with this run's image model: frames it labelled before (a stopped run with the
    same passes and scales) are kept, labels another model made (an earlier run) are replaced; painted and corrected
    frames are never touched. A video without pseudo-labels is labelled without replacing (there is nothing to
    replace), so a stop leaves a labelling the next run finishes; a stopped relabelling is finished from the frame it
    had reached (recorded as it goes: the frames after it hold the older labels, which the store does not tell from
    its own) when it was made as this run labels, else done again whole.

    ``trained``: the run's video models, when every one is already trained and kept (nothing of this run trains on
    the labels): the videos whose labelling finished keep their labels as they are, whichever model made them (a
    rerun neither spends the time nor swaps one run's labels for another's); the others are labelled as above."""
    from dvos_core.infer import pseudo_label
    from dvos_core.model.checkpoint import file_fingerprint
    from dvos_core.store.fsops import same_checkpoint
    from dvos_core.store.project import stopped_relabelling

    records = {v: project.video(v).attrs.get("pseudo_label") or {} for v in videos}
    unlabelled = {v for v in videos if not project.video(v).provenance_counts().get("pseudo")}
    if trained:
        done = [v for v in videos if v not in unlabelled and records[v].get("complete") is not False]
        if done:
            kept = f"so the pseudo-labels of {', '.join(done)} are kept as they are"
            run.log(f"      pseudo-labelling skipped: {_already_trained(trained)}, {kept}")
        videos = [v for v in videos if v not in done]
        if not videos:
            report(progress, 1, 1, "pseudo-labels kept")
            return
    ours = [image] + [project.model_dir(cfg.model_name(f"{k}_synthetic")) / "best.pt" for k in VIDEO_MODELS]

    def by_ours(record, as_now: bool) -> bool:  # by one of this run's checkpoints (``as_now``: as the file is now)
        made, sha = record.get("checkpoint"), record.get("checkpoint_sha256")
        return any(
            same_checkpoint(made, c, record.get("checkpoint_in_project"))  # another project's file: never ours
            and (not as_now or sha is None or not Path(c).is_file() or file_fingerprint(c) == sha)
            for c in ours
        )

    @functools.cache
    def image_info() -> dict | None:  # read once, when a stopped labelling asks
        return _header_info(image)

    def as_run(v) -> bool:  # a finished labelling, or a stopped one made as this run labels (its frames match)
        record = records[v]
        if record.get("complete") is not False:
            return True
        return _labelled_as(record, cfg, image_info(), project.video(v).shape[1:3])

    keep = [v for v in videos if by_ours(records[v], as_now=True) and not stopped_relabelling(records[v])]
    keep = [v for v in keep if as_run(v)]
    redo = [v for v in videos if v not in keep]
    fresh = [v for v in redo if v in unlabelled and not stopped_relabelling(records[v])]  # nothing to replace
    stopped = [v for v in redo if records[v].get("complete") is False and by_ours(records[v], as_now=True)]
    older = [v for v in redo if v not in stopped and by_ours(records[v], as_now=False)]
    other = [v for v in redo if records[v].get("checkpoint") and v not in older and v not in stopped]
    for which, replaced in (("another model", other), ("an earlier version of this run's model", older)):
        replaced = [v for v in replaced if v not in unlabelled]
        if replaced:
            run.log(f"      the labels {which} made of {', '.join(replaced)}: replaced (painted frames kept)")
    resumed = [v for v in keep if records[v].get("complete") is False]
    if resumed:
        run.log(
            f"      the labelling of {', '.join(resumed)} by this run's model stopped part-way: it is finished (the "
            f"frames it labelled are kept)"
        )
    reached = {v: records[v].get("relabelled_through") for v in stopped}
    finished = [v for v in stopped if isinstance(reached[v], int) and reached[v] > 0 and as_run(v)]
    if finished:  # a relabelling of every frame made as this run labels: finished where it stopped
        where = ", ".join(f"{v} from frame {reached[v]}" for v in finished)
        run.log(
            f"      the relabelling of {where} by this run's model stopped part-way: it is finished (the frames it "
            f"relabelled are kept)"
        )
    stopped = [v for v in stopped if v not in finished]
    if stopped:  # a relabelling, or a labelling with other passes or scales: every frame labelled anew
        run.log(
            f"      the labelling of {', '.join(stopped)} by this run's model stopped part-way (replacing older "
            f"labels, or with other passes or scales): every frame is labelled again (painted frames kept)"
        )
    for i, (group, overwrite) in enumerate(((keep + fresh, False), ([v for v in redo if v not in fresh], True))):
        if group:
            pseudo_label(
                project,
                group,
                image,
                device=cfg.device,
                n_passes=cfg.pseudo_passes,
                overwrite=overwrite,
                scales=cfg.scales,
                progress=Steps(progress, i, 1, 2),
                cancel=run.cancel,
            )


def _already_trained(models) -> str:
    """Why a rerun labels nothing for ``models``: "model 'context' is already trained" (or "models ... are")."""
    several = len(models) > 1
    return f"model{'s' if several else ''} {', '.join(map(repr, models))} {'are' if several else 'is'} already trained"


def _header_info(checkpoint) -> dict | None:
    """The ``info`` of the model in ``checkpoint`` as a prediction reads it (its saved info, with the model's input
    size), from the file's header alone (no weight read); None when it is no dvos checkpoint."""
    from dvos_core.checkpoint_header import read_checkpoint_header

    payload = read_checkpoint_header(checkpoint)
    if payload is None:
        return None
    return {"input_size": (payload.get("config") or {}).get("input_size"), **(payload.get("info") or {})}


def _labelled_as(record: dict, cfg: RunAllConfig, info: dict | None, shape) -> bool:
    """Whether a video's ``pseudo_label`` record is of a labelling made as run-all labels it now (with the image
    model whose ``info`` is given - None: unreadable, so no -, its passes and scales, no blending, threshold or
    dropping), the frames it wrote matching those a new run writes."""
    from dvos_core.infer.scales import Scales

    if info is None:
        return False
    made = {k: record.get(k) for k in ("n_passes", "zooms", "blend_with", "quality_threshold", "drop_below")}
    zooms = [float(z) for z in Scales.from_info(info, cfg.scales).zooms(*shape)]
    return made == {
        "n_passes": cfg.pseudo_passes,
        "zooms": zooms,
        "blend_with": [],
        "quality_threshold": None,
        "drop_below": False,
    }


def _train(project, config, name: str, set_name: str | None, progress, run: Stages, videos=()):
    """One training run on the run's own synthetic set (``set_name``; None: no synthetic clips). An earlier run of
    the same name is continued (or kept when finished); one with other settings is refused in run-all's terms.
    ``videos``: the project's videos the phase trains on now (a kept model that never saw some of them says so)."""
    from dvos_core.train import ResumeRefused, train

    config = _on_set(config, set_name)

    def on_event(event) -> None:  # what the trainer's words mean for run-all (whose models keep their --name)
        from dvos_core.train.events import DoneEvent, StartEvent

        if isinstance(event, StartEvent) and event.resumed:  # a stopped run's last.pt: said, not silently taken
            step = f", after step {event.start_step}" if event.start_step else ""
            run.log(f"      resuming {name!r} from epoch {event.start_epoch} of {event.total_epochs}{step}")
        if not isinstance(event, DoneEvent):
            return
        if event.kept:
            new = (
                f"; {event.new_labels} frame(s) were painted or corrected since it trained, which it has not learnt "
                f"from"
                if event.new_labels > 0
                else ""
            )
            unseen = _unseen_videos(event.best, videos)
            if unseen:
                new += (
                    f"; it never saw {', '.join(unseen)} (no frame there was one it learns from when it trained: "
                    f"painted, corrected or added since)"
                )
            epochs = run.trained.get(name)
            has = f" ({epochs} epoch{'s' if epochs != 1 else ''})" if epochs else ""
            # a plain status; where it did not learn from what was added since, how to train a chain that does
            advice = "; choose another --name to train a new chain that learns from them" if new else ""
            run.log(f"      model {name!r} is already trained{has}; kept{new}{advice}")
        elif event.note:
            run.log(f"      note: {event.note}")

    try:
        return train(project, config, name, progress=progress, cancel=run.cancel, on_event=on_event)
    except ResumeRefused as e:
        raise _refused(e) from None


def _phase_videos(project, plan: dict, phase: str) -> list:
    """The project's videos a phase trains or validates on now: the train and val videos with painted frames (the
    image phase), and the training videos besides (the real phase, on their pseudo-labels)."""
    painted = [v for v in plan["painted"] if project.video(v).attrs.get("split") in ("train", "val")]
    return painted if phase == "image" else [*plan["train"], *(v for v in painted if v not in plan["train"])]


def _unseen_videos(best, videos) -> list:
    """Those of ``videos`` that the model whose best checkpoint is ``best`` never trained nor validated on (its
    recorded data summary, read from the checkpoint's header: no weight is loaded); none when it records none."""
    from dvos_core.checkpoint_header import checkpoint_data_videos

    seen = checkpoint_data_videos(best, ("train", "val")) if videos else None
    return [] if seen is None else [v for v in videos if v not in seen]


def _refused(e) -> ValueError:
    """A training refusal in run-all's terms: its advice names `dvos train`'s --no-resume, which run-all lacks."""
    return ValueError(f"{e.reason}; choose another --name to start afresh (run-all keeps the runs of its name)")


def _on_set(config, set_name: str | None):
    """A phase's training settings on the run's synthetic set (the real phase trains on real clips only)."""
    return config if config.phase == "real" else config.replace(synthetic_sets=[set_name])


def _check_models(project, cfg: RunAllConfig, configs: Callable, start) -> dict:
    """Refuse, before anything is written, a run whose models are held under its names by runs it cannot continue
    (other settings, no training state, an unreadable last.pt): it would otherwise cut heads and make synthetic
    clips first and stop at that model's training. So is a run that would train a model further (more epochs), or
    again (it was deleted), that later models of the run were trained from as it was: run-all does not train those
    again, and refuses to keep them once the model they started from changed. Returns the run's models that are
    already trained (at least the epochs asked), which training keeps as they are: {name: the epochs it has}."""
    from dvos_core.train.loop import ResumeRefused, last_run, resume_refusal

    set_name = _set_name(cfg)
    image = project.model_dir(cfg.model_name("image")) / "best.pt"
    runs = [(cfg.model_name("image"), configs("image", start, "context"), [])]  # (name, config, trained from it)
    for kind in cfg.video_models:
        first, second = cfg.model_name(f"{kind}_synthetic"), cfg.model_name(kind)
        runs[0][2].extend((first, second))
        runs.append((first, configs("synthetic", image, kind), [second]))
        runs.append((second, configs("real", project.model_dir(first) / "best.pt", kind), []))
    payloads = {}  # each model's training run (None: none yet, to be trained), read once for both checks
    for name, config, _ in runs:
        folder = project.model_dir(name)
        try:
            payloads[name] = last_run(folder / "best.pt", folder / "last.pt")
        except ResumeRefused as e:
            raise _refused(e) from None
        refused = resume_refusal(project, _on_set(config, set_name), name, payloads[name])
        if refused is not None:
            raise _refused(refused)
    kept = {}
    for name, config, later in runs:  # then the chain: a model to be trained (again, further) under later ones
        payload = payloads[name]
        trained_from = [n for n in later if payloads[n] is not None]
        done = None if payload is None else int(payload["info"]["train_state"]["epoch"])
        if done is not None and done >= config.epochs:
            kept[name] = done
        were = "was" if len(trained_from) == 1 else "were"
        if trained_from and done is not None and config.epochs > done:
            raise ValueError(
                f"model {name!r} has {done} epoch(s) and --epochs {config.epochs} would train it further, but "
                f"{', '.join(trained_from)} {were} trained from it as it is, and run-all does not train them again: "
                f"choose another --name to run the whole chain with more epochs"
            )
        if trained_from and done is None:  # deleted: trained afresh by this run
            import shlex

            deletes = "; ".join(f"`dvos delete {shlex.quote(str(project.path))} model {n} --yes`" for n in trained_from)
            raise ValueError(
                f"model {name!r} is missing (deleted?), so this run would train it again, but "
                f"{', '.join(trained_from)} {were} trained from the model it was and would no longer match it (run-all "
                f"would refuse them only after training it): delete them too to train the chain again ({deletes}), "
                f"or choose another --name for a new chain"
            )
    return kept


def _video_model(
    project, cfg: RunAllConfig, run: Stages, kind: str, image_ckpt, set_name: str, plan, configs, kept: bool = False
):
    """Both phases of one video model, from the image model; returns the best checkpoint of the second phase.
    ``kept``: the second phase is already trained (and kept), so nothing relabels the training videos for it."""
    what = VIDEO_MODELS[kind]
    first = cfg.model_name(f"{kind}_synthetic")
    sub = run.stage(f"train {what} on synthetic clips (phase 1)")
    p1 = _train(project, configs("synthetic", image_ckpt, kind), first, set_name, sub, run)
    run.lap(f"train_{kind}_synthetic")
    sub = run.stage(f"fine-tune {what} on pseudo-labelled real clips (phase 2)")
    relabel = cfg.relabel != "off" and kind == "context"
    if relabel and kept:
        run.log(f"      relabelling ({cfg.relabel}) skipped: {_already_trained([cfg.model_name(kind)])}")
    elif relabel:
        from dvos_core.infer import pseudo_label

        share = Steps(sub, 0, 100, 1000)  # a tenth of the stage, then the training
        blend = [image_ckpt] if cfg.relabel == "blend" else []
        pseudo_label(
            project,
            plan["train"],
            p1,
            device=cfg.device,
            n_passes=cfg.pseudo_passes,
            overwrite=True,
            blend_with=blend,
            scales=cfg.scales,
            progress=share,
            cancel=run.cancel,
        )
        run.lap(f"relabel_{kind}")
        sub = Steps(sub, 100, 900, 1000)
    videos = _phase_videos(project, plan, "real")
    p2 = _train(project, configs("real", p1, kind), cfg.model_name(kind), None, sub, run, videos)
    run.lap(f"train_{kind}_real")
    return p2


def _scale_note(project, cfg: RunAllConfig, videos) -> str | None:
    """The note for ``videos`` whose frames a CPU segments slowly at their own scale (see
    :func:`~dvos_core.prediction_options.scale_hint`), or None."""
    shapes = [project.video(v).shape[1:3] for v in videos]
    return scale_hint(shapes, "gpu" if _gpu(cfg) else "cpu", cfg.scales, "`--scales trained` (scales: trained)")


def _predict_and_compare(project, cfg: RunAllConfig, run: Stages, checkpoints: dict, plan: dict) -> RunAllResult:
    from dvos_core.evaluate import compare_models, evaluate, track_heads
    from dvos_core.infer import predict_video, sharing_models

    sub = run.stage("predict the test videos with every model")
    image = checkpoints[cfg.model_name("image")]
    jobs = [(v, m) for v in plan["test"] for m in checkpoints]
    main = cfg.model_name(cfg.video_models[0]) if cfg.video_models else cfg.model_name("image")
    jobs += [(v, main) for v in plan["predict"] if v not in plan["test"]]
    run.note_once(_scale_note(project, cfg, [v for v, _ in jobs]))
    with sharing_models():  # each model loaded once for all its videos
        for k, (video, name) in enumerate(jobs):
            predict_video(
                project,
                video,
                checkpoints[name],
                image_checkpoint=image if name == cfg.model_name("dvos") else None,
                device=cfg.device,
                scales=cfg.scales,
                progress=Steps(sub, k, 1, len(jobs)),
                cancel=run.cancel,
                replace=True,  # the run's models, trained again or with other settings: their sets are made again
            )
    run.lap("predict")
    sub = run.stage("evaluate on the test videos")
    rep = comparison = None
    scored = [v for v in plan["test"] if project.video(v).provenance_counts()["manual"]]
    if scored:
        half = Steps(sub, 0, 1, 2)  # the first half of the stage; counting the heads the second
        rep = evaluate(project, video_ids=scored, name=cfg.report_name(), model=main, progress=half, cancel=run.cancel)
        comparison = compare_models(
            project, list(checkpoints), video_ids=scored, name=f"{cfg.report_name()}-comparison", cancel=run.cancel
        ).table
    else:
        run.log(
            f"      no test video with painted masks: nothing to score (`dvos split {quote(project.path)} test VIDEO`)"
        )
    predicted = sorted({v for v, _ in jobs})
    # the number an agronomist wants from each predicted video: its different heads, each counted once (with
    # progress frame by frame: a long 1080p video takes a while)
    heads, n = {}, len(predicted)
    for k, v in enumerate(predicted):  # the second half of the stage, after the scores
        count = Steps(sub, n + k, 1, 2 * n, prefix=f"{v}: counting different heads, ")
        heads[v] = track_heads(project, v, which="predictions", model=main, progress=count, cancel=run.cancel).n_heads
    run.lap("evaluate")
    run.done()
    return RunAllResult(project.path, checkpoints, predicted, rep, comparison, dict(run.timings), heads, main)
