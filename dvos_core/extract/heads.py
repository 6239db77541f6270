"""Extract real heads (and fake heads) from annotated frames into the project's object bank."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dvos_core.extract.components import frame_objects, instance_labels
from dvos_core.extract.fakes import make_fake_heads
from dvos_core.object_format import HALO_PX, OBJECT_ALPHA_MIN
from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.store.lock import writes_store
from dvos_core.threads import runs_with_threads


def _plan(project, video_ids, frames, labels) -> list[tuple[str, int]]:
    """(video id, frame) pairs to extract from, in order."""
    from dvos_core.store.schema import CORRECTED, MANUAL

    labels = labels or {}
    if video_ids is None:
        named = {v for v, _ in labels}  # label maps name their videos: those are not left out
        video_ids = sorted(set(project.video_ids()) | named)
        video_ids = [vid for vid in video_ids if project.video(vid).split != "test"]
        left_out = [vid for vid in video_ids if not project.video(vid).import_complete and vid not in named]
        painted = [vid for vid in left_out if len(project.video(vid).labelled_frames((MANUAL, CORRECTED)))]
        if painted:  # the others have no frame to extract from anyway
            import warnings

            warnings.warn(
                f"{project.path}: left out the painted frames of the interrupted import(s) {painted} (only part "
                f"of their frames were written; `dvos info {project.path}` lists them)",
                stacklevel=3,
            )
        video_ids = [vid for vid in video_ids if vid not in left_out]
    plan = []
    for vid in video_ids:
        video = project.video(vid).require_complete()
        if video.split == "test":
            raise ValueError(
                f"{project.path}: video {vid!r} is a test video; heads cut from its ground truth would "
                f"leak into training. Leave it out, or change its split (`dvos split {project.path} train {vid}`)"
            )
        if frames is None:
            ts = set(video.labelled_frames((MANUAL, CORRECTED)).tolist())
            ts |= {int(t) for v, t in labels if v == vid}
        elif isinstance(frames, Mapping):
            ts = {int(t) for t in frames.get(vid, [])}
        else:
            ts = {int(t) for t in frames}
        for t in sorted(ts):
            if not 0 <= t < len(video):
                raise IndexError(f"{project.path}: frame {t} out of range; video {vid!r} has {len(video)} frames")
            if (vid, t) not in labels and video.mask(t) is None:
                raise ValueError(
                    f"video {vid!r} frame {t} has no mask; paint it (or import masks) before extracting "
                    f"heads, or leave it out of the frame list"
                )
            plan.append((vid, t))
    return plan


def _label_map(project, vid: str, t: int, labels) -> np.ndarray:
    video = project.video(vid)
    if (vid, t) not in labels:
        return instance_labels(video.mask(t))[0]
    lab = np.asarray(labels[(vid, t)])
    if lab.shape != video.shape[1:3]:
        raise ValueError(f"label map for {vid}[{t}] has shape {lab.shape}, expected {video.shape[1:3]}")
    if not np.issubdtype(lab.dtype, np.integer) or (lab.size and lab.min() < 0):
        raise ValueError(
            f"label map for {vid}[{t}] must hold non-negative integers (0 = background, one id per "
            f"head), got dtype {lab.dtype}"
        )
    return lab.astype(np.int32)


@writes_store
@runs_with_threads(torch=False)
def extract_heads(
    project,
    video_ids: Sequence[str] | None = None,
    frames=None,
    min_area: int = 50,
    max_area: int | None = None,
    fakes_per_head: int = 10,
    labels: Mapping[tuple, np.ndarray] | None = None,
    seed: int = 0,
    replace: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    margin: int = 1,
    halo_px: int = HALO_PX,
    max_overlap: float = 0.1,
    max_tries: int = 200,
    threads: int | None = None,
):
    """Cut every head out of the annotated frames, plus ``fakes_per_head`` fake heads per real head.

    Videos: ``video_ids``, default every video except those of split 'test' (naming a test video is an error).
    Frames: those with human masks (manual/corrected) unless ``frames`` (a list for every video, or a dict
    {video id: [frames]}) is given. Heads are the 8-connected components of the mask, or the ids of an instance
    label map given as ``labels[(video id, frame)]``. Components smaller than ``min_area`` (or larger than
    ``max_area``) pixels are dropped and counted. Each head is stored as an RGBA crop (bounding box + ``margin``
    pixels; alpha 255 on the head, RGB zero and alpha 0 outside it) with its statistics; fakes have kind 'fake' and
    ``source`` = the id of the real head whose silhouette they use. ``halo_px`` > 0 keeps a ring of that many pixels
    of the frame around each head (alpha 1..127, fading outwards; never another head's pixels), and each fake keeps
    its own surroundings alike: synthesis pastes the ring with the object, as the edge it really has, and never
    labels it (0 = the objects alone).

    Frames already extracted are skipped unless ``replace`` (which first clears the whole object bank). Objects are
    committed frame by frame, so a cancel keeps the frames finished so far. Returns a DataFrame of the rows added;
    its ``attrs`` hold the counts (frames, heads, fakes, too_small, too_large, fakes_failed, skipped_frames).
    ``threads``: OpenCV threads (see :mod:`dvos_core.threads`).
    """
    import pandas as pd

    if min_area < 1:
        raise ValueError(f"min_area must be >= 1 pixel, got {min_area}")
    if fakes_per_head < 0:
        raise ValueError(f"fakes_per_head must be >= 0, got {fakes_per_head}")
    if halo_px < 0:
        raise ValueError(f"halo_px must be >= 0 (0 = the head alone), got {halo_px}")
    labels = dict(labels or {})
    plan = _plan(project, video_ids, frames, labels)
    bank = project.objects
    stats = {
        "frames": 0,
        "heads": 0,
        "fakes": 0,
        "too_small": 0,
        "too_large": 0,
        "fakes_failed": 0,
        "skipped_frames": 0,
    }
    if replace:
        bank.clear()
    else:
        done = bank.frames_with("head") if len(bank) else set()  # from the id index: no table decode
        stats["skipped_frames"] = sum(p in done for p in plan)
        plan = [p for p in plan if p not in done]
    rng = np.random.default_rng(seed)
    added = []
    report(progress, 0, len(plan), "extracting heads")
    for i, (vid, t) in enumerate(plan):
        check(cancel)
        frame = project.video(vid).frame(t)
        lab = _label_map(project, vid, t, labels)
        objs, small, large = frame_objects(
            frame, lab, min_area=min_area, max_area=max_area, margin=margin, halo_px=halo_px
        )
        stats["too_small"] += small
        stats["too_large"] += large
        stats["frames"] += 1
        if objs:
            heads = pd.DataFrame.from_records(
                bank.append((rgba, {"kind": "head", "video": vid, "frame": t, **rec}) for rgba, rec in objs)
            )
            added.append(heads)
            stats["heads"] += len(heads)
            fakes, heads_mask = [], lab > 0
            for (rgba, rec), head_id in zip(objs, heads["id"].tolist()):
                made, failed = make_fake_heads(
                    frame,
                    heads_mask,
                    rgba[..., 3] >= OBJECT_ALPHA_MIN,  # the object, not its halo
                    fakes_per_head,
                    rng,
                    max_overlap=max_overlap,
                    max_tries=max_tries,
                    halo_px=halo_px,
                )
                stats["fakes_failed"] += failed
                shape = {k: rec[k] for k in ("eccentricity", "aspect")}
                fakes.extend(
                    (
                        f,
                        {
                            "kind": "fake",
                            "video": vid,
                            "frame": t,
                            "source": int(head_id),
                            "touches_border": False,
                            **shape,
                            **frec,
                        },
                    )
                    for f, frec in made
                )
            if fakes:
                made_fakes = pd.DataFrame.from_records(bank.append(fakes))
                added.append(made_fakes)
                stats["fakes"] += len(made_fakes)
        report(progress, i + 1, len(plan), f"{vid}[{t}]: {stats['heads']} heads, {stats['fakes']} fakes")
    out = pd.concat(added, ignore_index=True) if added else pd.DataFrame()
    out.attrs.update(stats)
    return out
