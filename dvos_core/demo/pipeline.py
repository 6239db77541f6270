"""`dvos demo`: the whole loop on the embedded sample clips, on CPU with small presets.

extract heads/fakes/backgrounds -> synthesize -> train the image model -> pseudo-label -> train DVOS on synthetic
clips -> fine-tune DVOS on pseudo-labelled real clips -> predict the held-out test clip -> evaluate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from dvos_core.progress import CancelToken, ProgressFn, Steps, check, report


@dataclass
class DemoConfig:
    """Sizes and budgets of the demo; ``quick()`` is the shortened version used by CI."""

    size: int = 160            # frame size of the sample clips
    train_size: int = 128      # training crop size (multiple of 32)
    preset: str = "small"
    synth_clips: int = 48
    synth_frames: int = 12
    image_epochs: int = 4
    synth_epochs: int = 3
    real_epochs: int = 5
    steps_per_epoch: int = 30
    batch_size: int = 8
    lr: float = 2e-3           # higher than the paper's 1e-4: the demo trains small models for a few hundred steps
    seed: int = 0
    device: str = "auto"
    workers: int = 2

    @classmethod
    def quick(cls) -> "DemoConfig":
        return cls(preset="tiny", synth_clips=16, synth_frames=8, image_epochs=3, synth_epochs=2, real_epochs=2,
                   steps_per_epoch=25, batch_size=4, workers=1)


@dataclass
class DemoResult:
    project: Path
    videos: object  # pandas DataFrame: per-video Dice/IoU
    overall: dict
    baselines: dict
    timings: dict = field(default_factory=dict)


def build_demo_project(path, size: int = 160, seed: int = 7, overwrite: bool = True):
    """Create a project holding the sample clips: seed frames with 3 painted masks, a bare-field video, an
    unlabelled training video and a test video with ground-truth masks."""
    from dvos_core.store import Project

    clips = _demo_clips(size, seed)
    p = Project.create(path, overwrite=overwrite)
    f, m = clips["seed"]
    v = p.add_video_array("seed", f, split="train", source="dvos demo (procedural)", fps=10.0,
                          tags={"growth_stage": "flowering", "camera": "handheld"})
    for t in (0, 2, 4):
        v.set_mask(t, m[t], "manual")
    p.add_video_array("bare_field", clips["bare_field"][0], split="unassigned", source="dvos demo", fps=10.0)
    p.add_video_array("field_train", clips["field_train"][0], split="train", source="dvos demo", fps=10.0)
    f, m = clips["field_test"]
    v = p.add_video_array("field_test", f, split="test", source="dvos demo", fps=10.0)
    for t in range(len(f)):
        v.set_mask(t, m[t], "manual")
    return p


def _demo_clips(size, seed):
    from dvos_core.demo.field import demo_videos

    return demo_videos(size=size, seed=seed)


def run_demo(out_dir, config: Optional[DemoConfig] = None, progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None, log: Callable[[str], None] = print) -> DemoResult:
    """Run the whole loop into ``out_dir/demo.dvos`` and return the per-video scores of the test clip."""
    from dvos_core.evaluate import dice as dice_fn
    from dvos_core.evaluate import evaluate
    from dvos_core.extract import extract_backgrounds, extract_heads
    from dvos_core.infer import predict_video, pseudo_label
    from dvos_core.synth import SynthConfig, generate
    from dvos_core.train import TrainConfig, train

    cfg = config or DemoConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict = {}
    n_steps = 9
    step = [0]

    def stage(name):
        check(cancel)
        step[0] += 1
        report(progress, step[0] - 1, n_steps, name)
        log(f"[{step[0]}/{n_steps}] {name}")
        return Steps(progress, step[0] - 1, 1, n_steps, prefix=f"{name}: ")

    t0 = time.perf_counter()

    def lap(key):
        nonlocal t0
        timings[key] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()

    stage("build the sample project")
    project = build_demo_project(out / "demo.dvos", size=cfg.size)
    lap("build")

    sub = stage("extract heads, fake heads and bare-field background clips")
    heads = extract_heads(project, video_ids=["seed"], fakes_per_head=4, seed=cfg.seed, progress=sub, cancel=cancel)
    extract_backgrounds(project, "bare_field", clip_length=min(24, project.video("bare_field").n_frames),
                        cancel=cancel)
    log(f"      {int((heads['kind'] == 'head').sum())} heads, {int((heads['kind'] == 'fake').sum())} fakes")
    lap("extract")

    sub = stage("generate synthetic training clips")
    scfg = SynthConfig(n_frames=cfg.synth_frames, height=cfg.size, width=cfg.size)
    scfg = _demo_density(scfg)
    generate(project, "synthetic", cfg.synth_clips, config=scfg, seed=cfg.seed, workers=cfg.workers,
             progress=sub, cancel=cancel)
    lap("synthesize")

    common = dict(preset=cfg.preset, batch_size=cfg.batch_size, size=cfg.train_size, seed=cfg.seed, lr=cfg.lr,
                  eta_min=cfg.lr / 10,
                  device=cfg.device, max_steps_per_epoch=cfg.steps_per_epoch)

    sub = stage("train the image model (frame by frame)")
    image_ckpt = train(project, TrainConfig(phase="image", epochs=cfg.image_epochs, **common), "image",
                       progress=sub, cancel=cancel)
    lap("train_image")

    sub = stage("pseudo-label the unlabelled field video with the image model")
    pseudo_label(project, ["field_train"], image_ckpt, device=cfg.device, n_passes=2, progress=sub, cancel=cancel)
    lap("pseudo_label")

    sub = stage("train DVOS on synthetic clips (phase 1)")
    synth_ckpt = train(project, TrainConfig(phase="synthetic", epochs=cfg.synth_epochs, init_from=str(image_ckpt),
                                            **common), "dvos_synthetic", progress=sub, cancel=cancel)
    lap("train_synthetic")

    sub = stage("fine-tune DVOS on pseudo-labelled real clips (phase 2)")
    real_ckpt = train(project, TrainConfig(phase="real", epochs=cfg.real_epochs, init_from=str(synth_ckpt),
                                           **common), "dvos", progress=sub, cancel=cancel)
    lap("train_real")

    sub = stage("predict the held-out test video")
    predict_video(project, "field_test", real_ckpt, image_checkpoint=image_ckpt, device=cfg.device,
                  progress=sub, cancel=cancel)
    lap("predict")

    sub = stage("evaluate on the test split")
    rep = evaluate(project, split="test", name="demo", progress=sub, cancel=cancel)
    lap("evaluate")
    report(progress, n_steps, n_steps, "done")

    v = project.video("field_test")
    gt = v.read_masks()
    baselines = {"all_background": float(np.mean([dice_fn(np.zeros_like(g), g) for g in gt])),
                 "all_foreground": float(np.mean([dice_fn(np.ones_like(g), g) for g in gt]))}
    return DemoResult(project=project.path, videos=rep.videos, overall=rep.overall, baselines=baselines,
                      timings=timings)


def _demo_density(scfg):
    """Scale head counts to the demo's small frames (the defaults assume field-size frames)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(scfg)}
    changes = {}
    if "n_heads" in names:
        changes["n_heads"] = (15, 35)
    if "n_fakes" in names:
        changes["n_fakes"] = (5, 20)
    return dataclasses.replace(scfg, **changes)
