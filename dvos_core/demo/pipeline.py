"""`dvos demo`: the whole loop on the embedded sample clips, on CPU with small presets.

extract heads/fakes/backgrounds -> synthesize -> train the image model -> pseudo-label -> train the video model(s)
on synthetic clips -> fine-tune on pseudo-labelled real clips -> predict the held-out test clip with every model ->
evaluate and compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dvos_core.progress import CancelToken, ProgressFn
from dvos_core.run_all import RELABEL, print_flushed
from dvos_core.run_all import VIDEO_MODELS as VIDEO_MODEL_NAMES
from dvos_core.shell import user_path
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
        """The synthesis parameters of the demo's synthetic set, before ``match_density`` raises its heads (what its
        run-all stages start from)."""
        return self.run_all_config().synth_config(self.size)

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

    def run_all_config(self):
        """The `dvos run-all` settings of the demo's stages (the training settings come from :meth:`train_config`)."""
        from dvos_core.run_all import RunAllConfig

        return RunAllConfig(
            video_models=list(self.video_models),
            bare_videos=["bare_field"],
            background_clip_length=self.background_clip_length,
            fakes_per_head=self.fakes_per_head,
            synth_clips=self.synth_clips,
            synth_frames=self.synth_frames,
            synth_size=self.size,
            synth_heads=tuple(self.synth_heads),
            synth_fakes=tuple(self.synth_fakes),
            match_density=self.match_density,
            match_motion=False,  # the sample clips keep the engine's default motion
            pseudo_passes=self.pseudo_passes,
            relabel=self.relabel,
            report="demo",
            seed=self.seed,
            device=self.device,
            workers=self.workers,
        )


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


DEMO_VIDEOS = ("seed", "bare_field", "field_train", "field_test")  # what a demo project holds, all of source
DEMO_SOURCE = "dvos demo"  # "dvos demo..." (and nothing else: a video added to it makes it a project of the user's)


OTHER = "something other than a demo project (a project of your own, or another folder or file)"
DEMO_PAINTED = {"seed": (0, 2, 4)}  # the frames the demo paints itself (and every frame of field_test: its truth)


def not_replaceable(path) -> str | None:
    """Why the demo must not replace the dvos project at ``path`` (None: it may): a project whose videos are not
    the demo's sample clips alone (a user's own project), or a demo project holding a person's work - a frame painted
    or corrected beyond the demo's own painted frames (the tutorial's hand-work). A demo project killed while it was
    being built (some of its clips) may be replaced."""
    from dvos_core.store import Project
    from dvos_core.store.schema import CORRECTED, MANUAL

    try:
        videos = Project.open(path).videos(include_incomplete=True)
    except (OSError, ValueError, TypeError):
        return OTHER
    if any(v.name not in DEMO_VIDEOS or not str(v.attrs.get("source") or "").startswith(DEMO_SOURCE) for v in videos):
        return OTHER
    work = []
    for v in videos:
        if v.name == "field_test" or not v.complete:
            continue
        codes = np.asarray(v.provenance)
        own = set(DEMO_PAINTED.get(v.name, ()))
        mine = [int(t) for t in np.flatnonzero((codes == CORRECTED) | (codes == MANUAL)) if int(t) not in own]
        if mine:
            work.append(f"{v.name} frames {mine[:8]}{' ...' if len(mine) > 8 else ''}")
    if work:
        return f"a demo project with frames a person painted or corrected ({'; '.join(work)})"
    return None


def is_demo_project(path) -> bool:
    """Whether the dvos project at ``path`` is one the demo built and may replace (:func:`not_replaceable`)."""
    return not_replaceable(path) is None


def demo_project_path(out_dir) -> tuple[Path, bool]:
    """Where the demo builds its project: ``out_dir/demo.dvos``, and whether that replaces an earlier demo project.
    Refused (ValueError, before anything is written): ``out_dir`` a file, or a folder in a dvos project (the demo
    would write a project into a project's store), and a ``demo.dvos`` there that is not a demo project (a user's
    own project, or any other folder or file: never replaced)."""
    from dvos_core.store.fsops import group_attrs
    from dvos_core.store.schema import STORE_FORMAT

    out = user_path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: is a file; give the demo a folder to build its project in (`dvos demo --out DIR`)")
    here = out.resolve()
    store = next((p for p in (here, *here.parents) if group_attrs(p).get("format") == STORE_FORMAT), None)
    if store is not None:
        raise ValueError(
            f"{out}: is {'' if store == here else 'inside '}the dvos project {store}, where no other project belongs; "
            f"give the demo a folder outside any project (`dvos demo --out DIR`)"
        )
    path = out / "demo.dvos"
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return path, False
    why = not_replaceable(path)
    if why is not None:
        raise ValueError(
            f"{path}: holds {why}, which the demo never replaces; give it another folder (`dvos demo --out DIR`), or "
            f"move {path} away"
        )
    return path, True


def build_demo_project(path, size: int = 160, seed: int = 7, overwrite: bool = True, clips: dict | None = None):
    """Create a project holding the sample clips: seed frames with 3 painted masks (split val), a bare-field video,
    an unlabelled training video and a test video with ground-truth masks. ``clips``: ``demo_videos(size, seed)``.
    ``overwrite`` replaces an earlier demo project at ``path``, never another project (ValueError)."""
    from dvos_core.demo.field import demo_videos
    from dvos_core.store import Project

    path = user_path(path)
    why = not_replaceable(path) if overwrite and path.exists() and (not path.is_dir() or any(path.iterdir())) else None
    if why is not None:
        raise ValueError(f"{path}: holds {why}, which the demo never replaces; build it elsewhere, or move {path} away")
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
    log: Callable[[str], None] = print_flushed,
    threads: int | None = None,
) -> DemoResult:
    """Run the whole loop into ``out_dir/demo.dvos`` and return the scores of the held-out test clip: the first video
    model's per-video table and every model's row of the comparison (see :class:`DemoResult`). The stages after
    building the sample project are `dvos run-all`'s (:func:`dvos_core.run_all.run_stages`) with the demo's settings.

    ``threads``: CPU threads of every step (see :mod:`dvos_core.threads`; synthesis workers get that many each).
    """
    from dvos_core.demo.field import demo_videos
    from dvos_core.run_all import Stages, run_stages, stage_count

    cfg = config or DemoConfig()
    path, replacing = demo_project_path(out_dir)  # refused before anything is written
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = cfg.run_all_config()
    run = Stages(1 + stage_count(settings), progress, cancel, log, threads)
    run.stage("build the sample project")
    if replacing:
        run.log(f"      the earlier demo project {path} is replaced")
    clips = demo_videos(size=cfg.size)
    project = build_demo_project(path, size=cfg.size, clips=clips)
    run.lap("build")
    done = run_stages(
        project,
        settings,
        run,
        train_configs=lambda phase, init_from, kind: cfg.train_config(phase, init_from=init_from, video_model=kind),
    )
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
    return DemoResult(
        project=project.path,
        videos=done.report.videos,
        overall=done.report.overall,
        baselines=baselines,
        references=references,
        comparison=done.comparison,
        model=settings.video_models[0] if settings.video_models else "image",
        timings=done.timings,
    )


def _mean_dice(pred, gt) -> float:
    """Mean per-frame Dice (the metric of the evaluation report) of two (T,H,W) binary mask stacks."""
    from dvos_core.evaluate import dice

    return float(np.mean([dice(p, g) for p, g in zip(pred, gt)]))
