"""`dvos demo`: the whole loop on the embedded sample clips, on CPU with small presets.

extract heads/fakes/backgrounds -> synthesize -> train the image model -> pseudo-label -> train the video model(s)
on synthetic clips -> fine-tune on pseudo-labelled real clips -> predict the held-out test clip with every model ->
evaluate and compare.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dvos_core.progress import CancelToken, ProgressFn, Steps, check, report
from dvos_core.threads import runs_with_threads


@dataclass
class DemoConfig:
    """Sizes and budgets of the demo; ``quick()`` is the shortened version used by CI."""

    size: int = 160  # frame size of the sample clips
    train_size: int = 128  # training crop size (multiple of 32)
    preset: str = "small"
    fakes_per_head: int = 4
    background_clip_length: int = 24
    synth_clips: int = 48
    synth_frames: int = 12
    synth_heads: tuple = (15, 35)  # heads per synthetic frame: fewer than the engine's default for field-size frames
    synth_fakes: tuple = (5, 20)
    match_density: bool = True  # raise synth_heads (and fakes) where the painted frames are more crowded
    image_epochs: int = 4
    synth_epochs: int = 3
    real_epochs: int = 5
    steps_per_epoch: int = 30
    batch_size: int = 8  # image model
    # video models' phases: a video sample carries tau + 1 frames, so 4 of them hold more pixels than 8 single frames
    # (on the demo this halved the context model's synthetic phase at the same Dice: 0.946 vs 0.945, 2026-12-01)
    video_batch_size: int = 4
    lr: float = 2e-3  # higher than the paper's 1e-4: the demo trains small models for a few hundred steps
    pseudo_passes: int = 2
    seed: int = 0
    device: str = "auto"
    workers: int = 2
    # video models to train and compare: "context" (dvos's context-aware model), "dvos" (the paper's)
    video_models: list = field(default_factory=lambda: ["context"])
    # before the context model's second phase, relabel the field video: "off" (the image model's labels stay),
    # "first_phase" (with its first phase: dvos pseudo-label --overwrite with that checkpoint) or "blend" (the mean
    # of the first phase's and the image model's probabilities: --blend-with); models trained after it read them too
    relabel: str = "off"
    # data-loader worker processes of every training phase: None = automatic (none on a CPU, up to 4 on a GPU)
    num_workers: int | None = None

    def __post_init__(self):
        from dvos_core.config_io import coerce_fields

        if isinstance(self.relabel, bool):  # the switch it was before
            self.relabel = "first_phase" if self.relabel else "off"
        coerce_fields(self)  # types and finite numbers (dvos_core.config_io)
        if self.relabel not in RELABEL:
            raise ValueError(f"DemoConfig.relabel: unknown {self.relabel!r}; choose from {list(RELABEL)}")
        self.video_models = list(self.video_models)
        bad = [m for m in self.video_models if m not in VIDEO_MODEL_NAMES]
        if bad:
            raise ValueError(f"DemoConfig.video_models: unknown {bad}; choose from {list(VIDEO_MODEL_NAMES)}")
        for phase in ("image", "synthetic", "real"):  # the training settings it passes on fail now, not at stage 4
            try:
                self.train_config(phase)
            except ValueError as e:
                raise ValueError(f"DemoConfig: {e}") from None

    @classmethod
    def quick(cls) -> DemoConfig:
        return cls(
            preset="tiny",
            synth_clips=16,
            synth_frames=8,
            image_epochs=3,
            synth_epochs=2,
            real_epochs=2,
            steps_per_epoch=25,
            batch_size=4,
            workers=1,
        )

    def synth_config(self):
        """The synthesis parameters of the demo's synthetic set, before ``match_density`` raises its heads."""
        from dvos_core.synth import SynthConfig

        return SynthConfig(
            n_frames=self.synth_frames,
            height=self.size,
            width=self.size,
            n_heads=tuple(self.synth_heads),
            n_fakes=tuple(self.synth_fakes),
        )

    def train_config(self, phase: str = "image", epochs: int | None = None, init_from=None, video_model="context"):
        """The training settings of one demo phase (the other phases differ only in phase, epochs and init_from)."""
        from dvos_core.train.config import TrainConfig, cosine_floor

        if epochs is None:
            epochs = {"image": self.image_epochs, "synthetic": self.synth_epochs, "real": self.real_epochs}[phase]
        return TrainConfig(
            phase=phase,
            video_model=video_model,
            epochs=epochs,
            init_from=None if init_from is None else str(init_from),
            preset=self.preset,
            batch_size=self.batch_size if phase == "image" else self.video_batch_size,
            size=self.train_size,
            seed=self.seed,
            lr=self.lr,
            eta_min=cosine_floor(self.lr),
            device=self.device,
            max_steps_per_epoch=self.steps_per_epoch,
            num_workers=self.num_workers,
        )

    def write_configs(self, out_dir) -> tuple:
        """Write ``synth.yaml`` and ``train.yaml`` (for `dvos synth/train --config`) into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        synth, train = out / "synth.yaml", out / "train.yaml"
        self.synth_config().to_yaml(synth)
        self.train_config().to_yaml(train, comments=True)
        return synth, train


@dataclass
class DemoResult:
    project: Path
    videos: object  # pandas DataFrame: per-video Dice/IoU
    overall: dict
    baselines: dict  # Dice of an all-background and an all-foreground prediction of the test clip
    references: dict  # Dice of the image model alone on the test clip and of the pseudo-labels of field_train
    comparison: object = None  # pandas DataFrame: every model and baseline side by side (compare_models)
    model: str = "context"  # the video model whose per-video table is ``videos`` / ``overall``
    timings: dict = field(default_factory=dict)


def build_demo_project(path, size: int = 160, seed: int = 7, overwrite: bool = True, clips: dict | None = None):
    """Create a project holding the sample clips: seed frames with 3 painted masks (split val), a bare-field video,
    an unlabelled training video and a test video with ground-truth masks. ``clips``: ``demo_videos(size, seed)``."""
    from dvos_core.demo.field import demo_videos
    from dvos_core.store import Project

    clips = clips if clips is not None else demo_videos(size=size, seed=seed)
    p = Project.create(path, overwrite=overwrite)
    f, m = clips["seed"]
    # the painted frames validate the image and real phases (else the trainer holds out a random whole video)
    v = p.add_video_array(
        "seed",
        f,
        split="val",
        source="dvos demo (procedural)",
        fps=10.0,
        tags={"growth_stage": "flowering", "camera": "handheld"},
    )
    for t in (0, 2, 4):
        v.set_mask(t, m[t], "manual")
    p.add_video_array("bare_field", clips["bare_field"][0], split="unassigned", source="dvos demo", fps=10.0)
    p.add_video_array("field_train", clips["field_train"][0], split="train", source="dvos demo", fps=10.0)
    f, m = clips["field_test"]
    v = p.add_video_array("field_test", f, split="test", source="dvos demo", fps=10.0)
    for t in range(len(f)):
        v.set_mask(t, m[t], "manual")
    return p


@runs_with_threads()
def run_demo(
    out_dir,
    config: DemoConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    log: Callable[[str], None] = print,
    threads: int | None = None,
) -> DemoResult:
    """Run the whole loop into ``out_dir/demo.dvos`` and return the scores of the held-out test clip: the first video
    model's per-video table and every model's row of the comparison (see :class:`DemoResult`).

    ``threads``: CPU threads of every step (see :mod:`dvos_core.threads`; synthesis workers get that many each).
    """
    from dvos_core.demo.field import demo_videos

    cfg = config or DemoConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = _Stages(7 + 2 * len(cfg.video_models), progress, cancel, log)  # + predict, evaluate
    run.threads = threads
    run.stage("build the sample project")
    clips = demo_videos(size=cfg.size)
    project = build_demo_project(out / "demo.dvos", size=cfg.size, clips=clips)
    run.lap("build")
    _prepare_data(project, cfg, run)
    image_ckpt = _train_image_and_pseudo_label(project, cfg, run)
    checkpoints = {"image": image_ckpt}
    for kind in cfg.video_models:
        checkpoints[kind] = _train_video_model(project, cfg, run, kind, image_ckpt)
    return _predict_and_compare(project, cfg, run, checkpoints, clips, out)


class _Stages:
    """Numbered stages with progress, cancel, a log line each (with the time since the start, so a run cut short
    still shows where its time went) and their wall times."""

    def __init__(self, n: int, progress, cancel, log):
        self.n, self.i, self.progress, self.cancel, self.log = n, 0, progress, cancel, log
        self.timings: dict = {}
        self.t0 = self.start = time.perf_counter()

    def stage(self, name: str) -> Steps:
        check(self.cancel)
        self.i += 1
        report(self.progress, self.i - 1, self.n, name)
        self.log(f"[{self.i}/{self.n}] {name}  ({time.perf_counter() - self.start:.0f} s in)")
        return Steps(self.progress, self.i - 1, 1, self.n, prefix=f"{name}: ")

    def lap(self, key: str) -> None:
        self.timings[key] = round(time.perf_counter() - self.t0, 2)
        self.t0 = time.perf_counter()


def _prepare_data(project, cfg: DemoConfig, run: _Stages) -> None:
    """Heads, fake heads and background clips from the painted frames and the bare-field clip; synthetic clips."""
    from dvos_core.extract import extract_backgrounds, extract_heads
    from dvos_core.synth import generate

    sub = run.stage("extract heads, fake heads and bare-field background clips")
    heads = extract_heads(
        project, video_ids=["seed"], fakes_per_head=cfg.fakes_per_head, seed=cfg.seed, progress=sub, cancel=run.cancel
    )
    extract_backgrounds(project, "bare_field", clip_length=cfg.background_clip_length, cancel=run.cancel)
    run.log(f"      {int((heads['kind'] == 'head').sum())} heads, {int((heads['kind'] == 'fake').sum())} fakes")
    run.lap("extract")
    sub = run.stage("generate synthetic training clips")
    synth = cfg.synth_config()
    if cfg.match_density:
        from dvos_core.synth.density import match_density

        dense = match_density(project, ["seed"], synth, seed=cfg.seed, progress=sub, cancel=run.cancel)
        run.log(f"      {dense.table()}")
        synth = dense.config
    generate(
        project,
        "synthetic",
        cfg.synth_clips,
        config=synth,
        seed=cfg.seed,
        workers=cfg.workers,
        progress=sub,
        cancel=run.cancel,
        threads=run.threads,
    )
    run.lap("synthesize")


def _train_image_and_pseudo_label(project, cfg: DemoConfig, run: _Stages):
    from dvos_core.infer import pseudo_label
    from dvos_core.train import train

    sub = run.stage("train the image model (frame by frame)")
    ckpt = train(project, cfg.train_config("image"), "image", progress=sub, cancel=run.cancel)
    run.lap("train_image")
    sub = run.stage("pseudo-label the unlabelled field video with the image model")
    pseudo_label(
        project, ["field_train"], ckpt, device=cfg.device, n_passes=cfg.pseudo_passes, progress=sub, cancel=run.cancel
    )
    run.lap("pseudo_label")
    return ckpt


RELABEL = ("off", "first_phase", "blend")
VIDEO_MODEL_NAMES = {"dvos": "the paper's DVOS model", "context": "the context-aware video model"}


def _train_video_model(project, cfg: DemoConfig, run: _Stages, kind: str, image_ckpt):
    """Both phases of one video model, from the image model; returns the best checkpoint of the real phase."""
    from dvos_core.train import train

    what = VIDEO_MODEL_NAMES[kind]
    sub = run.stage(f"train {what} on synthetic clips (phase 1)")
    p1 = train(
        project,
        cfg.train_config("synthetic", init_from=image_ckpt, video_model=kind),
        f"{kind}_synthetic",
        progress=sub,
        cancel=run.cancel,
    )
    run.lap(f"train_{kind}_synthetic")
    sub = run.stage(f"fine-tune {what} on pseudo-labelled real clips (phase 2)")
    if cfg.relabel != "off" and kind == "context":
        from dvos_core.infer import pseudo_label

        share = Steps(sub, 0, 100, 1000)  # a tenth of the stage, then the training
        blend = [image_ckpt] if cfg.relabel == "blend" else []
        pseudo_label(
            project,
            ["field_train"],
            p1,
            device=cfg.device,
            n_passes=cfg.pseudo_passes,
            overwrite=True,
            blend_with=blend,
            progress=share,
            cancel=run.cancel,
        )
        run.lap(f"relabel_{kind}")
        sub = Steps(sub, 100, 900, 1000)
    p2 = train(project, cfg.train_config("real", init_from=p1, video_model=kind), kind, progress=sub, cancel=run.cancel)
    run.lap(f"train_{kind}_real")
    return p2


def _predict_and_compare(project, cfg: DemoConfig, run: _Stages, checkpoints: dict, clips: dict, out: Path):
    from dvos_core.evaluate import compare_models, evaluate
    from dvos_core.infer import predict_video

    sub = run.stage("predict the held-out test video with every model")
    image = checkpoints["image"]
    for k, (name, ckpt) in enumerate(checkpoints.items()):
        predict_video(
            project,
            "field_test",
            ckpt,
            image_checkpoint=image if name == "dvos" else None,
            device=cfg.device,
            progress=Steps(sub, k, 1, len(checkpoints)),
            cancel=run.cancel,
        )
    run.lap("predict")
    sub = run.stage("evaluate on the test split")
    main = cfg.video_models[0] if cfg.video_models else "image"
    rep = evaluate(project, split="test", name="demo", model=main, progress=sub, cancel=run.cancel)
    comparison = compare_models(project, list(checkpoints), split="test", name="demo-comparison", cancel=run.cancel)
    gt = project.video("field_test").read_masks()  # the ground truth the evaluation used
    baselines = {
        "all_background": _mean_dice(np.zeros_like(gt), gt),
        "all_foreground": _mean_dice(np.ones_like(gt), gt),
    }
    image_only = project.video("field_test").predictions["image"].masks(range(len(gt)))
    references = {
        "image_model_test": _mean_dice(image_only, gt),
        "pseudo_labels_field_train": _mean_dice(project.video("field_train").read_masks(), clips["field_train"][1]),
    }
    run.lap("evaluate")
    report(run.progress, run.n, run.n, "done")
    return DemoResult(
        project=project.path,
        videos=rep.videos,
        overall=rep.overall,
        baselines=baselines,
        references=references,
        comparison=comparison.table,
        model=main,
        timings=run.timings,
    )


def _mean_dice(pred, gt) -> float:
    """Mean per-frame Dice (the metric of the evaluation report) of two (T,H,W) binary mask stacks."""
    from dvos_core.evaluate import dice

    return float(np.mean([dice(p, g) for p, g in zip(pred, gt)]))
