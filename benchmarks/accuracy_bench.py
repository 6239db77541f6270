"""Accuracy of the image model, the paper's DVOS and the context-aware video model on real annotated footage.

    bash tests/fetch_testdata.sh                      # the annotated images (once)
    python benchmarks/accuracy_bench.py --out bench_accuracy.json          # every set (CPU: about an hour)
    python benchmarks/accuracy_bench.py --sets nuclei-fast-degraded --quick
    python benchmarks/accuracy_bench.py --sets nuclei-slow-occluded --quick   # heavy occlusion (not run by default)
    python benchmarks/accuracy_bench.py --device cuda --steps-scale 4        # on a GPU, 4x the training

Each set (see accuracy_data.py) is a training video with 2 painted frames and a held-out test video with every frame
annotated; dvos runs its loop on it: heads extracted from the painted frames, backgrounds inpainted from them,
synthesis matched to the training video's measured motion, the image model, pseudo-labels, then from the image
model (the same extra steps for each):
* ``image``: the image model alone;
* ``image_ft``: the image model fine-tuned on the synthetic then the pseudo-labelled clips, with the same degraded
  inputs as the context model (the control: extra training without time);
* ``image_ft_anchor``: the same control with the context model's clean-view anchor (``frame_anchor_weight``: its
  mask on a degraded frame held to its mask on the frame undegraded), how the context model's query path trains;
* ``dvos``: the paper's model (tau earlier frames; first frames by the image model);
* ``context``: the context-aware model (frame t plus its aligned earlier frames and their predicted masks);
* ``context_2pass``: the same model with its optional second pass (references on both sides);
* ``context_independent``: the same model lending each predicted frame's mask from that frame alone to the next
  frames (``reference_masks="independent"``) instead of its full prediction;
* ``context_query_only``: the same context model with every reference replaced by a copy of frame t (the
  ablation: what it scores without time);
* ``context_no_lookup``, ``context_no_prior``, ``context_no_pixels``: the same model with one part of its reference
  path switched off (``ContextNet.switch_off``): its fusion blocks' corrections of frame t's features, the
  references' masks added before its heads, or the references' pixels added to its stem - which part the
  references' help comes through;
* ``image_ft_smoothed``, ``context_smoothed``: those models' probabilities smoothed over time (each frame averaged
  with its 4 earlier frames, aligned by the camera motion: ``dvos smooth``'s default);
* ``image_ft_outliers``, ``context_outliers``: the same, but only the frames worse than their neighbours are moved
  towards the average, as far as they are (``dvos smooth --only-outliers``);
* ``context_synthetic``, ``image_ft_synthetic``: those models as their first (synthetic) phase left them;
* ``context_relabelled``, ``image_ft_relabelled``: their second phases trained on the training video relabelled by
  the context model's first phase instead of the image model; ``context_blended``: the same with the labels the
  mean of the first phase's and the image model's probabilities (``dvos pseudo-label --blend-with``);
* ``context@NAME`` (``--variant NAME='{"anchor_weight": 2}'``, repeatable): a context model trained like ``context``
  from the same image model, seed and steps, with those training settings changed (merged into the TrainConfig of
  both phases): a setting measured side by side with the default in one run.
Baselines: the previous frame's true mask and an all-foreground mask. On degraded sets, the headroom any video model
could draw from undoing the degradation: ``image_ft_undegraded`` (the fine-tuned image model on the same test frames
before they were degraded) and ``degradation_ceiling`` (the same, with every pixel behind a leaf set to the truth).
Where one frame is not enough: each model also segments a copy of the test video in which one frame in three is
hit hard (a 17 px motion streak, exposure 0.45 and strong noise at once; ``accuracy_data.hard_hits``), and
``hit_dice`` is its Dice on those frames - a video model that uses its neighbours should beat its query-only
ablation there (``--table`` prints these beside the main table).
``--reuse`` re-scores the models kept in ``--workdir`` by an earlier run (same settings and seed) without training;
a ``--variant`` it does not hold is trained from its image model (a variant kept under the same name is reused).
``--seed`` changes the footage (camera path, degradations) as well as the training; ``--table`` of runs with
several seeds adds each model's mean and spread across them and its paired difference from ``image_ft``.
Per model: frame-weighted Dice, IoU, boundary F
(2 px), relative count error and temporal instability (1 - IoU of consecutive predictions aligned by the frames'
camera motion; the ground truth's own value is reported as its floor). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine
from accuracy_data import HARD_STREAK_PX, THIRD_SETS, hard_hits, load_scenes, load_zurich, make_set, seen_before

from dvos_core.object_format import HALO_PX  # no imports: cheap

SETS = [f"{s}-{v}-{d}" for s in ("nuclei", "conifer") for v in ("slow", "fast") for d in ("clean", "degraded")]
# where one frame is not enough: degraded plus leaves that hide the same objects for several frames (not in the
# default run; name them with --sets)
OCCLUDED_SETS = [f"{s}-{v}-occluded" for s in ("nuclei", "conifer") for v in ("slow", "fast")]
ALL_SETS = SETS + OCCLUDED_SETS + THIRD_SETS  # a set's place here seeds its footage (new sets go last)
MODELS = (
    "image",
    "image_ft",
    "image_ft_anchor",
    "dvos",
    "context",
    "context_2pass",
    "context_independent",
    "context_query_only",
    "context_no_lookup",
    "context_no_prior",
    "context_no_pixels",
    "context_synthetic",
    "image_ft_synthetic",
    "context_relabelled",
    "image_ft_relabelled",
    "context_blended",
)
# the models as their first (synthetic) phase left them: where the second phase helps or hurts
FIRST_PHASE = ("context_synthetic", "image_ft_synthetic")
# second phases trained on the training video relabelled by the context model's first phase (a copy of the video,
# RELABELLED_VIDEO, so the other models keep the image model's pseudo-labels): column -> its first phase
RELABELLED = {
    "context_relabelled": "context_synthetic",
    "image_ft_relabelled": "image_ft_synthetic",
    "context_blended": "context_synthetic",
}
RELABELLED_VIDEO = "train_relabelled"
# ... or by that first phase blended with the image model (their mean probability): another copy of the video
BLENDED_VIDEO = "train_blended"
LABELS_OF = {
    "context_relabelled": RELABELLED_VIDEO,
    "image_ft_relabelled": RELABELLED_VIDEO,
    "context_blended": BLENDED_VIDEO,
}
# made from those models' predictions when they run: name -> (source model, smooth_array options)
SMOOTHED = {
    "image_ft_smoothed": ("image_ft", {}),
    "context_smoothed": ("context", {}),
    "image_ft_outliers": ("image_ft", {"only_outliers": True}),
    "context_outliers": ("context", {"only_outliers": True}),
}


@dataclass
class Settings:
    size: int = 128  # frame side (px); the training size
    upscale: int = 1  # the footage enlarged this many times (frames of size x upscale px; training stays at size)
    n_train: int = 24  # frames of the training video
    n_test: int = 24  # frames of the test video
    seed_frames: tuple = (0, 12)  # painted frames of the training video
    preset: str = "tiny"
    synth_clips: int = 32
    synth_frames: int = 12
    fakes_per_head: int = 3
    batch_size: int = 8
    lr: float = 2e-3
    image_steps: int = 150
    synthetic_steps: int = 80  # per video model, and for the image-model control
    real_steps: int = 40
    seed: int = 0
    threads: int = 1
    device: str = "cpu"  # where models train and predict (cpu, cuda, auto)
    precision: str = "auto"  # number format of prediction (auto, fp32, bf16; see dvos_core.prediction_options)
    train_precision: str = "auto"  # number format of training (TrainConfig.precision)
    # share of degraded inputs: the context model's queries and the control's frames; "match": each set's share
    # matched to its training video as dvos's trainer matches it (dvos_core.data.degradation_match), for both
    degrade_p: float | str = 0.7
    halo_px: int = HALO_PX  # ring of each head's surroundings cut with it (dvos's default; 0 = the heads alone)
    # camera path of the background clips inpainted from the painted frames: "auto" (the training video's own, as
    # before 2026-12-05) or "none" (still: the matched synthetic camera alone moves them, as `dvos run-all` does)
    bg_motion: str = "auto"
    match_density: bool = True  # heads per synthetic frame raised to the painted frames' cover (else 8-30)
    loader_workers: int | None = None  # training data-loader processes (None: dvos's automatic choice)
    variants: tuple = ()  # (name, training settings) pairs: extra context models, ``context@name``

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            n_train=16,
            n_test=16,
            seed_frames=(0, 8),
            synth_clips=12,
            synth_frames=8,
            image_steps=40,
            synthetic_steps=20,
            real_steps=10,
        )


def _train(project, name, phase, s: Settings, steps, **kw):
    from dvos_core.train import TrainConfig, train
    from dvos_core.train.config import cosine_floor

    epochs = 2
    cfg = TrainConfig(
        phase=phase,
        preset=s.preset,
        epochs=epochs,
        batch_size=s.batch_size,
        size=s.size,
        lr=s.lr,
        eta_min=cosine_floor(s.lr),
        seed=s.seed,
        device=s.device,
        precision=s.train_precision,
        num_workers=s.loader_workers,
        max_steps_per_epoch=max(1, steps // epochs),
        samples_per_epoch=steps // epochs * s.batch_size,
        **kw,
    )
    return train(project, cfg, name)


def merged(base: dict, extra: dict) -> dict:
    """``base`` updated by ``extra``, nested mappings merged key by key (training settings of a variant)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def is_variant(model: str) -> bool:
    """Whether a column is a context model trained with other settings (``context@NAME``, from ``--variant``)."""
    return "@" in model


def store_name(model: str) -> str:
    """The model folder of a column: ``context@NAME`` is kept as ``variant_NAME`` (model names take no '@')."""
    return f"variant_{model.split('@', 1)[1]}" if is_variant(model) else model


def context_settings(s, extra: dict | None = None) -> dict:
    """Training settings of a context model: the benchmark's share of degraded queries, merged with a variant's."""
    return merged({"augment": {"context": {"degrade_query_p": s.degrade_p}}}, extra or {})


def parse_variant(text: str) -> tuple:
    """``NAME={json}`` -> (NAME, settings); a clear error for anything else."""
    name, sep, settings = text.partition("=")
    try:
        value = json.loads(settings) if sep else None
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"--variant {text!r}: the settings are not JSON ({e})") from None
    if not name.isidentifier() or not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--variant {text!r}: expected NAME='{{\"setting\": value, ...}}'")
    return name, value


def build_project(path, data, s: Settings):
    """A project with the training video (painted seed frames) and the test video (every frame annotated)."""
    from dvos_core.store import Project

    p = Project.create(path, overwrite=True)
    frames, masks = data["train"]
    v = p.add_video_array("train", frames, split="train", source="accuracy bench")
    for t in s.seed_frames:
        v.set_mask(t, masks[t], "manual")
    frames, masks = data["test"]
    v = p.add_video_array("test", frames, split="test", source="accuracy bench")
    for t in range(len(frames)):
        v.set_mask(t, masks[t], "manual")
    return p


def run_loop(project, s: Settings, log, models=MODELS) -> dict:
    """dvos's loop on one set; returns the checkpoints of the image model, the control (``image_ft``) and the video
    models that ``models`` needs."""
    from dvos_core.extract import extract_heads
    from dvos_core.extract.annotated_backgrounds import backgrounds_from_annotated
    from dvos_core.infer import pseudo_label
    from dvos_core.motion import match_motion
    from dvos_core.synth import SynthConfig, generate

    extract_heads(project, video_ids=["train"], fakes_per_head=s.fakes_per_head, seed=s.seed, halo_px=s.halo_px)
    backgrounds_from_annotated(project, ["train"], clip_length=s.synth_frames, motion=s.bg_motion, seed=s.seed)
    side = s.size * s.upscale
    base = SynthConfig(n_frames=s.synth_frames, height=side, width=side, n_heads=(8, 30), n_fakes=(3, 12))
    if s.match_density:  # as crowded as the painted frames
        from dvos_core.synth.density import match_density

        dense = match_density(project, ["train"], base, seed=s.seed)
        log(dense.table())
        base = dense.config
    matched = match_motion(project, ["train"], base)  # synthesis motion from the training video's measured motion
    log(matched.table())
    config = matched.config
    generate(project, "synth", s.synth_clips, config=config, seed=s.seed, workers=1, backend="serial")
    ck = {"image": _train(project, "image", "image", s, s.image_steps)}
    pseudo_label(project, ["train"], ck["image"], device=s.device, n_passes=2)
    video = [(k, k, {}) for k in ("dvos", "context") if any(m == k or m.startswith(f"{k}_") for m in models)]
    video += [(f"context@{name}", "context", extra) for name, extra in s.variants]
    for name, kind, extra in video:
        ck[name] = train_video_model(project, s, ck["image"], name, kind, extra)
        ck[f"{store_name(name)}_synthetic"] = str(project.model_dir(f"{store_name(name)}_synthetic") / "best.pt")
    degrade = control_augment(s)
    controls = {"image_ft": {}}
    if "image_ft_anchor" in models:  # the control with the context model's clean-view anchor
        from dvos_core.train.config import ANCHOR_WEIGHT

        controls["image_ft_anchor"] = {"frame_anchor_weight": ANCHOR_WEIGHT}
    for name, extra in controls.items():
        p1 = _train(
            project,
            f"{name}_synthetic",
            "image",
            s,
            s.synthetic_steps,
            init_from=str(ck["image"]),
            video_ids=[],
            augment=degrade,
            **extra,
        )
        ck[f"{name}_synthetic"] = str(p1)
        ck[name] = second_phase(project, s, name, "frame", p1, "train", extra)
    return ck


def control_augment(s: Settings) -> dict:
    """The control's augmentation: the same share of degraded inputs as the context model's queries."""
    return {"degrade_p": s.degrade_p}


def second_phase(project, s: Settings, name: str, kind: str, first_ck, video_id: str, extra: dict | None = None):
    """The second (real) phase of column ``name`` from its first-phase checkpoint ``first_ck``, trained on the
    labels of video ``video_id``: a video model of ``kind`` (dvos, context; its settings with ``extra`` merged) or,
    with ``kind="frame"``, the control (the image model on degraded frames, ``extra`` added to its settings)."""
    common = {"init_from": str(first_ck), "video_ids": [video_id]}
    if kind == "frame":
        augment = control_augment(s)
        return _train(
            project, name, "image", s, s.real_steps, synthetic_sets=[], augment=augment, **common, **(extra or {})
        )
    kw = context_settings(s, extra)
    return _train(project, store_name(name), "real", s, s.real_steps, video_model=kind, **common, **kw)


def train_video_model(project, s: Settings, image_ck, name: str, kind: str, extra: dict) -> str:
    """The two phases of one video model (column ``name``, model kind ``kind``, ``extra`` training settings) from
    the image model ``image_ck``; returns its checkpoint."""
    kw = context_settings(s, extra)
    first = f"{store_name(name)}_synthetic"
    p1 = _train(project, first, "synthetic", s, s.synthetic_steps, video_model=kind, init_from=str(image_ck), **kw)
    return second_phase(project, s, name, kind, p1, "train", extra)


def add_relabelled(path: Path, ck: dict, s: Settings, models, log, trained: list | None = None) -> dict:
    """``ck`` plus the ``RELABELLED`` columns ``models`` asks for: the training video copied (``LABELS_OF``) with
    its painted frames, pseudo-labelled by the context model's first phase (``dvos pseudo-label`` with that
    checkpoint; for ``BLENDED_VIDEO`` blended with the image model), then each column's second phase trained on it
    from its own first phase (same steps and settings as the column it shadows). What the project already holds is
    reused; trained columns go to ``trained``."""
    from dvos_core.infer import pseudo_label
    from dvos_core.store import Project

    wanted = [m for m in RELABELLED if m in models]
    if not wanted:
        return ck
    project, out = Project.open(path), dict(ck)
    teacher = project.model_dir("context_synthetic") / "best.pt"  # the context model's first phase
    for video_id in dict.fromkeys(LABELS_OF[m] for m in wanted):
        if video_id in project.video_ids():
            continue
        src = project.video("train")
        v = project.add_video_array(video_id, src.read_frames(0, src.n_frames), split="train")
        for t in s.seed_frames:
            v.set_mask(t, src.mask(t), "manual")
        blend = [str(project.model_dir("image") / "best.pt")] if video_id == BLENDED_VIDEO else []
        log(f"{path.name}: relabelling the training video with {teacher.parent.name}" + (" + image" if blend else ""))
        pseudo_label(project, [video_id], str(teacher), device=s.device, overwrite=True, blend_with=blend, n_passes=2)
    for m in wanted:
        kept = project.model_dir(m) / "best.pt"
        if not kept.exists():
            first = project.model_dir(RELABELLED[m]) / "best.pt"
            kind = "context" if m.startswith("context") else "frame"
            kept = second_phase(project, s, m, kind, first, LABELS_OF[m])
            if trained is not None:
                trained.append(m)
        out[m] = str(kept)
    return out


def label_dice(path: Path, train_gt: np.ndarray) -> dict:
    """Mean Dice of the training video's pseudo-labels against its ground truth: the image model's, and where
    ``add_relabelled`` made them the context model's first phase's and the blend of the two (``blend``)."""
    from dvos_core.evaluate.metrics import frame_scores
    from dvos_core.store import Project
    from dvos_core.store.schema import PSEUDO

    project, out = Project.open(path), {}
    for name, vid in (("image", "train"), ("context_synthetic", RELABELLED_VIDEO), ("blend", BLENDED_VIDEO)):
        if vid in project.video_ids():
            v = project.video(vid)
            frames = np.flatnonzero(v.provenance == PSEUDO)
            out[name] = round(float(np.mean([frame_scores(v.mask(t) > 0, train_gt[t] > 0)["dice"] for t in frames])), 4)
    return out


def add_variants(path: Path, ck: dict, s: Settings, log, trained: list | None = None) -> dict:
    """``ck`` plus the variants of ``s``: those an earlier run kept in the set's project as they are, the others
    trained now from its image model (so a variant can be added to an earlier run without training the rest); the
    columns trained now are appended to ``trained`` when given."""
    from dvos_core.store import Project

    project = Project.open(path)
    out = dict(ck)
    for name, extra in s.variants:
        column = f"context@{name}"
        kept = project.model_dir(store_name(column)) / "best.pt"
        if not kept.exists():
            log(f"{path.name}: training {column} from the kept image model")
            image = project.model_dir("image") / "best.pt"
            kept = train_video_model(project, s, image, column, "context", extra)
            if trained is not None:
                trained.append(column)
        out[column] = str(kept)
    return out


def predict_all(ck: dict, frames: np.ndarray, models, device: str = "cpu", precision: str = "auto") -> dict:
    """Probabilities of the test video for each model (in memory)."""
    from functools import partial

    from dvos_core.infer import predict_array

    predict_array = partial(predict_array, precision=precision)
    from dvos_core.model import load_checkpoint

    out = {}
    for name in models:
        if name == "dvos":
            out[name] = predict_array(ck["dvos"], frames, image_model=ck["image"], device=device)
        elif is_variant(name):
            out[name] = predict_array(ck[name], frames, device=device)
        elif name == "context_2pass":  # the optional second pass, references on both sides
            out[name] = predict_array(ck["context"], frames, device=device, passes=2)
        elif name == "context_independent":  # each predicted frame lends the mask it got from that frame alone
            out[name] = predict_array(ck["context"], frames, device=device, reference_masks="independent")
        elif name == "context_query_only":  # the same passes, every reference a copy of frame t
            out[name] = predict_array(ck["context"], frames, device=device, references="query")
        elif name in ("context_no_lookup", "context_no_prior", "context_no_pixels"):  # one part of the path left out
            model, info = load_checkpoint(ck["context"])
            model.switch_off(name.removeprefix("context_no_"))
            out[name] = predict_array((model, info), frames, device=device)
        else:
            out[name] = predict_array(ck[name], frames, device=device)
    return out


def model_probs(ck: dict, frames: np.ndarray, models, s: Settings) -> dict:
    """``predict_all`` plus the smoothed columns (``SMOOTHED``) of the models that ran."""
    from dvos_core.infer import smooth_array

    probs = predict_all(ck, frames, models, s.device, s.precision)
    for smoothed, (source, options) in SMOOTHED.items():
        if source in probs:
            probs[smoothed] = smooth_array(probs[source], frames, **options)
    return probs


def hit_dice(masks_pred: np.ndarray, gt: np.ndarray, hit: np.ndarray) -> float:
    """Mean Dice over the frames ``hit`` marks (the hard-hit frames of ``hard_hits``)."""
    from dvos_core.evaluate.metrics import frame_scores

    return round(float(np.mean([frame_scores(masks_pred[t], gt[t])["dice"] for t in np.flatnonzero(hit)])), 4)


def scores(masks_pred: np.ndarray, gt: np.ndarray, frames: np.ndarray) -> dict:
    """Frame-weighted Dice / IoU / boundary F, relative count error and temporal instability of one video."""
    from dvos_core.evaluate.metrics import frame_scores
    from dvos_core.motion import temporal_instability

    rows = [frame_scores(p, g) for p, g in zip(masks_pred, gt)]
    mean = lambda k: float(np.mean([r[k] for r in rows]))  # noqa: E731
    counts = np.array([[r["count_pred"], r["count_gt"]] for r in rows], np.float64)
    return {
        "dice": round(mean("dice"), 4),
        "iou": round(mean("iou"), 4),
        "boundary_f": round(mean("boundary_f"), 4),
        "count_error": round(float(np.mean(np.abs(counts[:, 0] - counts[:, 1]) / np.maximum(counts[:, 1], 1))), 4),
        "instability": round(float(temporal_instability(masks_pred.astype(np.uint8), frames)), 4),
    }


def behind_leaves(masks_pred: np.ndarray, gt: np.ndarray, cover: np.ndarray) -> dict:
    """What a model makes of the pixels leaves hide (cover > 0.5): the share of hidden object pixels it finds
    (``hidden_recall``) and of hidden background it calls object (``hidden_false_positive``) - what only other
    frames can tell it."""
    hidden, obj, pred = cover > 0.5, gt > 0, masks_pred > 0
    share = lambda sel: round(float((pred & sel).sum() / max(1, sel.sum())), 4)  # noqa: E731
    return {"hidden_recall": share(hidden & obj), "hidden_false_positive": share(hidden & ~obj)}


def degradation_ceiling(undegraded_masks: np.ndarray, gt: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Masks predicted on undegraded frames with every pixel behind an occluder (cover > 0.5) set to the truth:
    what a video model could reach by undoing the degradation perfectly, and no more."""
    return np.where(cover > 0.5, gt, undegraded_masks).astype(gt.dtype)


def stored_checkpoints(path: Path, frames: np.ndarray, models) -> dict | None:
    """The checkpoints an earlier run kept in the set's project, if it holds every one ``models`` needs and the same
    test video; else None."""
    from dvos_core.store import Project

    need = {"context" if m.startswith("context") and not is_variant(m) and m not in FIRST_PHASE else m for m in models}
    need |= {"image"} if "dvos" in need else set()
    if not path.exists():
        return None
    project = Project.open(path)
    ck = {m: project.model_dir(store_name(m)) / "best.pt" for m in need}
    if not all(c.exists() for c in ck.values()) or "test" not in project.video_ids():
        return None
    video = project.video("test")
    if video.n_frames != len(frames) or not np.array_equal(video.read_frames(0, video.n_frames), frames):
        return None
    return {m: str(c) for m, c in ck.items()}


def propagation_ceiling(masks: np.ndarray, gt: np.ndarray, frames: np.ndarray, window: int = 8) -> np.ndarray:
    """An oracle of what choosing masks over time can give: for each frame, whichever of the model's masks of that
    frame and of the ``window`` frames before it, aligned onto it by the camera motion (the frame's own mask where
    the aligned one does not reach), has the best Dice against the truth. A model that only carries its own earlier
    masks forward, however cleverly it picks them, cannot beat this; to do better it must read the pixels."""
    from dvos_core.evaluate.metrics import frame_scores
    from dvos_core.motion import valid_region, warp_to
    from dvos_core.motion.align import SequenceAligner

    shape, out, aligner = frames.shape[1:3], masks.copy(), SequenceAligner()
    for t in range(len(frames)):
        earlier = list(range(max(0, t - window), t))
        best = frame_scores(masks[t], gt[t])["dice"]
        if not earlier:
            continue
        for k, mat in zip(earlier, aligner.align([*(frames[k] for k in earlier), frames[t]], times=[*earlier, t])):
            inside = valid_region(mat, shape, shape) > 0
            moved = np.where(inside, warp_to(masks[k].astype(np.uint8), mat, shape), masks[t])
            d = frame_scores(moved, gt[t])["dice"]
            if d > best:
                best, out[t] = d, moved
        aligner.forget(set(range(t - window + 1, t + 1)))  # the pairs the next frame reuses
    return out


def matched_share(s: Settings, train_frames, log) -> Settings:
    """``s`` with ``degrade_p="match"`` replaced by the share dvos's trainer would match to ``train_frames``."""
    if s.degrade_p != "match":
        return s
    from dvos_core.data.degradation_match import matched_query_share, measure_degradation

    measured = measure_degradation([train_frames])
    share = matched_query_share(measured)
    log(f"degraded inputs matched to the training video: {share} ({measured.to_dict()})")
    return replace(s, degrade_p=share)


def run_set(name: str, scenes: dict, s: Settings, out_dir: Path, models, log, reuse: bool = False) -> dict:
    scene, speed, condition = name.split("-")
    data = make_set(
        scenes[scene],
        speed,
        condition,
        s.n_train,
        s.n_test,
        s.size,
        seed=s.seed + ALL_SETS.index(name),
        upscale=s.upscale,
    )
    s = matched_share(s, data["train"][0], log)
    t0 = time.perf_counter()
    frames, gt = data["test"]
    path = out_dir / f"{name}.dvos"
    own = [m for m in models if not is_variant(m) and m not in RELABELLED]
    ck = stored_checkpoints(path, frames, own) if reuse else None
    trained_s = None
    if ck is not None and s.variants:  # an earlier run's models: only the variants it lacks are trained
        trained: list = []
        ck = add_variants(path, ck, s, log, trained)
        if trained:  # the time of training them (none when every variant was kept)
            trained_s = round(time.perf_counter() - t0, 1)
            t0 = time.perf_counter()
    if ck is None:
        if reuse:
            log(f"{name}: no complete earlier run in {out_dir}, training")
        ck = run_loop(build_project(path, data, s), s, log, models)
        trained_s = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
    relabelled: list = []
    ck = add_relabelled(path, ck, s, models, log, relabelled)
    if relabelled:  # counted with the rest of the training
        trained_s = round((trained_s or 0.0) + time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
    probs = model_probs(ck, frames, models, s)
    table = {m: scores(p >= 0.5, gt, frames) for m, p in probs.items()}
    stressed, hit = hard_hits(frames, seed=s.seed + ALL_SETS.index(name), streak_px=HARD_STREAK_PX * s.upscale)
    for m, p in model_probs(ck, stressed, models, s).items():
        table[m]["hit_dice"] = hit_dice(p >= 0.5, gt, hit)
    if "test_undegraded" in data:
        for m, p in probs.items():
            table[m].update(behind_leaves(p >= 0.5, gt, data["test_undegraded"][1]))
    prev = np.concatenate([gt[:1], gt[:-1]])
    table["previous_true_mask"] = scores(prev, gt, frames)
    table["all_foreground"] = scores(np.ones_like(gt), gt, frames)
    if "image_ft" in probs:
        table["propagation_ceiling"] = scores(propagation_ceiling(probs["image_ft"] >= 0.5, gt, frames), gt, frames)
    if "image_ft" in ck and "test_undegraded" in data:
        from dvos_core.infer import predict_array

        undegraded, cover = data["test_undegraded"]
        clean = predict_array(ck["image_ft"], undegraded, device=s.device, precision=s.precision) >= 0.5
        table["image_ft_undegraded"] = scores(clean, gt, frames)
        table["degradation_ceiling"] = scores(degradation_ceiling(clean, gt, cover), gt, frames)
    table["ground_truth"] = {"instability": scores(gt, gt, frames)["instability"]}
    from dvos_core.motion import estimate_global_motion, summarise

    motion = summarise(estimate_global_motion(data["test"][0], residual=False))
    occlusion = {}
    if "test_undegraded" in data:  # how much the leaves hide, and how much of it frames before had shown
        cover = data["test_undegraded"][1]
        occlusion = {
            "test_hidden_share": round(float(((gt > 0) & (cover > 0.5)).sum() / max(1, (gt > 0).sum())), 4),
            "test_hidden_seen_within": {
                k: round(seen_before(gt, cover, data["test_camera"], k), 4) for k in (1, 2, 4, 8) if k < len(gt)
            },
        }
    return {
        "set": name,
        "seed": s.seed,
        "degrade_p": s.degrade_p,
        "scores": table,
        "pseudo_label_dice": label_dice(path, data["train"][1]),
        "test_motion_px_per_frame": motion["shift_px"],
        **occlusion,
        "seconds": round(time.perf_counter() - t0, 1),  # scoring
        **({"seconds_training_run": trained_s} if trained_s is not None else {}),
    }


def _share_or_match(text: str):
    if text == "match":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a share 0..1 or 'match', got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a share 0..1 or 'match', got {text!r}")
    return value


def main(argv=None) -> int:
    from dvos_core.prediction_options import PRECISIONS  # no torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", nargs="*", default=SETS, choices=ALL_SETS)
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    ap.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        default=[],
        metavar="NAME=JSON",
        help="also train a context model with these training settings changed, reported as context@NAME "
        """(e.g. aw2='{"anchor_weight": 2}'; repeatable)""",
    )
    ap.add_argument("--quick", action="store_true", help="shorter videos and training (a smoke run)")
    ap.add_argument(
        "--upscale",
        type=int,
        default=1,
        help="film each set at K times the resolution (frames of 128K px, the same view, degraded at that size; "
        "models still train at 128 px): what code that shrinks large frames (motion estimation) does (default 1)",
    )
    ap.add_argument("--preset", help="model size preset (default tiny)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="where models train and predict: cpu (default), cuda, auto")
    ap.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="number format of prediction (training: --train-precision); bf16 needs native bfloat16",
    )
    ap.add_argument(
        "--train-precision",
        choices=PRECISIONS,
        default="auto",
        help="number format of training (dvos train --precision); bf16 needs native bfloat16",
    )
    ap.add_argument(
        "--degrade-p",
        type=_share_or_match,
        default=0.7,
        help="share of degraded training inputs, the context model's queries and the control's frames (default "
        "0.7), or 'match': each set's share matched to its training video as dvos's trainer does by default",
    )
    ap.add_argument(
        "--halo-px",
        type=int,
        default=HALO_PX,
        help=f"pixels of each head's surroundings cut with it (default {HALO_PX}; 0 = the heads alone, as before)",
    )
    ap.add_argument(
        "--bg-motion",
        choices=("auto", "none"),
        default="auto",
        help="camera path of the background clips inpainted from the painted frames: 'auto' (the training video's "
        "own, default) or 'none' (still; the synthetic camera, matched to the footage, alone moves them)",
    )
    ap.add_argument(
        "--no-match-density",
        action="store_true",
        help="always paste 8-30 heads per synthetic frame, as before 2026-12-05 (default: raised where the painted "
        "frames are more crowded, as dvos synth --match-density does)",
    )
    ap.add_argument(
        "--loader-workers",
        type=int,
        default=None,
        help="training data-loader processes (default: automatic, none on a CPU, up to 4 on a GPU)",
    )
    ap.add_argument(
        "--steps-scale",
        type=float,
        default=1.0,
        help="multiply every model's training steps (e.g. 5 on a GPU: more training than a CPU allows)",
    )
    ap.add_argument("--testdata", default=os.environ.get("DVOS_TESTDATA", ".cache/testdata"))
    ap.add_argument("--workdir", default="bench_accuracy", help="where the set projects are kept")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--reuse", action="store_true", help="re-score the models an earlier run kept in --workdir")
    ap.add_argument("--table", nargs="+", metavar="JSON", help="print the Markdown table of earlier JSON and exit")
    args = ap.parse_args(argv)
    if args.table:
        results = []
        for f in args.table:
            doc = json.loads(Path(f).read_text())
            seed = doc.get("settings", {}).get("seed", 0)
            results += [{"seed": seed, **r} for r in doc["sets"]]
        print(markdown_table(results))
        if len({r["seed"] for r in results}) > 1:
            print("\n" + seeds_table(results))
        if any("hit_dice" in sc for r in results for sc in r["scores"].values()):
            print("\n" + hit_table(results))
        if any("degradation_ceiling" in r["scores"] for r in results):
            print("\n" + target_table(results))
        return 0
    import torch

    torch.set_num_threads(args.threads)
    s = Settings.quick() if args.quick else Settings()
    s = replace(
        s,
        seed=args.seed,
        threads=args.threads,
        preset=args.preset or s.preset,
        device=args.device,
        precision=args.precision,
        train_precision=args.train_precision,
        loader_workers=args.loader_workers,
        degrade_p=args.degrade_p,
        halo_px=args.halo_px,
        upscale=args.upscale,
        bg_motion=args.bg_motion,
        match_density=not args.no_match_density,
        variants=tuple(args.variant),
    )
    if args.upscale < 1:
        ap.error(f"--upscale must be 1 or more, got {args.upscale}")
    models = [*args.models, *(f"context@{name}" for name, _ in s.variants)]
    for name, extra in s.variants:  # a misspelt setting fails now, not after an hour of training
        from dvos_core.train import TrainConfig

        try:
            # 'match' becomes a share per set (matched_share): checked here with a share in its place
            check = s if s.degrade_p != "match" else replace(s, degrade_p=0.5)
            TrainConfig(phase="real", video_model="context", **context_settings(check, extra))
        except (TypeError, ValueError) as e:
            ap.error(f"--variant {name}: {e}")
    if args.steps_scale != 1.0:
        k = args.steps_scale
        s = replace(
            s,
            image_steps=round(s.image_steps * k),
            synthetic_steps=round(s.synthetic_steps * k),
            real_steps=round(s.real_steps * k),
        )
    scenes = load_scenes(args.testdata)
    if any(n.startswith("zurich-") for n in args.sets):  # fetched on request: bash tests/fetch_testdata.sh --zurich
        scenes.update(load_zurich(args.testdata))
    out_dir = Path(args.workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.sets:
        print(f"[{len(results) + 1}/{len(args.sets)}] {name}", file=sys.stderr)
        log = lambda m: print(m, file=sys.stderr)  # noqa: E731
        results.append(run_set(name, scenes, s, out_dir, models, log, reuse=args.reuse))
        print(_line(results[-1], models), file=sys.stderr)
    emit(
        {
            "benchmark": "accuracy",
            "settings": asdict(s),
            "machine": machine(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "sets": results,
        },
        args.out,
    )
    return 0


def ranked_models(results: list) -> tuple:
    """The model columns (baselines excluded), variants (``context@NAME``) after the built-in models."""
    variants = sorted({m for r in results for m in r["scores"] if is_variant(m)})
    return (*MODELS, *variants, *SMOOTHED)


def markdown_table(results: list) -> str:
    """One row per set: Dice (temporal instability) of each model and baseline; the best model's Dice in bold."""
    baselines = (
        "previous_true_mask",
        "all_foreground",
        "propagation_ceiling",
        "image_ft_undegraded",
        "degradation_ceiling",
    )
    ranked = ranked_models(results)
    models = [m for m in (*ranked, *baselines) if any(m in r["scores"] for r in results)]
    rows = ["| set | " + " | ".join(models) + " | ground truth instability |", "|---" * (len(models) + 2) + "|"]
    for r in sorted(results, key=lambda r: ALL_SETS.index(r["set"])):
        sc = r["scores"]
        best = max(sc[m]["dice"] for m in models if m in ranked and m in sc)
        cells = [
            "–"
            if m not in sc
            else (f"**{sc[m]['dice']:.3f}**" if sc[m]["dice"] == best and m in ranked else f"{sc[m]['dice']:.3f}")
            + f" ({sc[m]['instability']:.3f})"
            for m in models
        ]
        rows.append(f"| {r['set']} | " + " | ".join(cells) + f" | {sc['ground_truth']['instability']:.3f} |")
    return "\n".join(rows)


def seeds_table(results: list, control: str = "image_ft") -> str:
    """One row per set over the seeds run: each model's mean Dice +- its standard deviation across seeds, then each
    video model's paired difference from ``control`` (the same seed's footage and image model): mean [min, max]."""
    ranked = [m for m in ranked_models(results) if any(m in r["scores"] for r in results)]
    has_control = any(control in r["scores"] for r in results)
    compared = [m for m in ranked if m not in (control, "image")] if has_control else []
    by_set: dict = {}
    for r in results:
        by_set.setdefault(r["set"], []).append(r["scores"])
    head = ranked + [f"{m} - {control}" for m in compared]
    rows = ["| set | seeds | " + " | ".join(head) + " |", "|---" * (len(head) + 2) + "|"]
    for name in sorted(by_set, key=ALL_SETS.index):
        runs = by_set[name]
        cells = []
        for m in ranked:
            d = np.array([sc[m]["dice"] for sc in runs if m in sc])
            cells.append(f"{d.mean():.3f} ± {d.std(ddof=1):.3f}" if len(d) > 1 else (f"{d[0]:.3f}" if len(d) else "–"))
        for m in compared:
            d = np.array([sc[m]["dice"] - sc[control]["dice"] for sc in runs if m in sc and control in sc])
            cells.append(f"{d.mean():+.3f} [{d.min():+.3f}, {d.max():+.3f}]" if len(d) else "–")
        rows.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def hit_table(results: list, control: str = "image_ft", ablation: str = "context_query_only") -> str:
    """One row per set and seed: each model's Dice on the hard-hit frames (``hit_dice``), then each video model's
    difference from ``control`` and the context model's from its query-only ``ablation`` on those frames."""
    ranked = [m for m in ranked_models(results) if any("hit_dice" in r["scores"].get(m, {}) for r in results)]
    pairs = [(m, control) for m in ranked if m not in (control, "image")] if control in ranked else []
    pairs += [("context", ablation)] if "context" in ranked and ablation in ranked else []
    head = ranked + [f"{a} − {b}" for a, b in pairs]
    rows = ["| set | seed | " + " | ".join(head) + " |", "|---" * (len(head) + 2) + "|"]
    for r in sorted(results, key=lambda r: (ALL_SETS.index(r["set"]), r["seed"])):
        hit = {m: r["scores"][m]["hit_dice"] for m in ranked if "hit_dice" in r["scores"].get(m, {})}
        cells = [f"{hit[m]:.3f}" if m in hit else "–" for m in ranked]
        cells += [f"{hit[a] - hit[b]:+.3f}" if a in hit and b in hit else "–" for a, b in pairs]
        rows.append(f"| {r['set']} | {r['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def target_table(results: list, control: str = "image_ft", model: str = "context", margin: float = 0.03) -> str:
    """One row per degraded or occluded set and seed: issue 16's target (``control`` + ``margin``) beside what
    ``model`` reached and what the oracles built on the control reach - undoing the degradation perfectly
    (``degradation_ceiling``) and carrying the best of its earlier masks (``propagation_ceiling``) - and whether the
    better oracle reaches the target. Where it does not, a video model must segment better than the control, not
    only see past the degradation or choose earlier masks well, to meet it."""
    ceilings = ("degradation_ceiling", "propagation_ceiling")
    head = ["set", "seed", control, "target", model, f"{model} − {control}", f"{control}_smoothed", *ceilings]
    head.append("oracles reach the target")
    rows = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in sorted(results, key=lambda r: (ALL_SETS.index(r["set"]), r["seed"])):
        sc = r["scores"]
        if control not in sc or not all(c in sc for c in ceilings):
            continue
        base = sc[control]["dice"]
        cell = lambda m, sc=sc: f"{sc[m]['dice']:.3f}" if m in sc else "–"  # noqa: E731
        lead = f"{sc[model]['dice'] - base:+.3f}" if model in sc else "–"
        reach = max(sc[c]["dice"] for c in ceilings) - base >= margin - 1e-9  # Dice are rounded to 4 decimals
        rows.append(
            f"| {r['set']} | {r['seed']} | {base:.3f} | {base + margin:.3f} | {cell(model)} | {lead} | "
            f"{cell(control + '_smoothed')} | "
            + " | ".join(cell(c) for c in ceilings)
            + f" | {'yes' if reach else 'no'} |"
        )
    return "\n".join(rows)


def _line(r: dict, models) -> str:
    sc = r["scores"]
    shown = [m for m in (*models, *SMOOTHED) if m in sc]
    hit = lambda m: f" (hit {sc[m]['hit_dice']:.3f})" if "hit_dice" in sc[m] else ""  # noqa: E731
    return "    " + "  ".join(f"{m} {sc[m]['dice']:.3f}/{sc[m]['instability']:.3f}{hit(m)}" for m in shown)


if __name__ == "__main__":
    sys.exit(main())
