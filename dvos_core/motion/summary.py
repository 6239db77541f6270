"""Per-video motion statistics: the camera's shift, turn and zoom per frame and the local motion left over."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from dvos_core.motion.global_motion import GlobalMotion, MotionParams, estimate_global_motion
from dvos_core.progress import CancelToken, ProgressFn, Steps, check


def _stats(values, keys=("median", "p90", "max")) -> dict:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return dict.fromkeys(keys)
    fns = {
        "min": np.min,
        "p10": lambda x: np.percentile(x, 10),
        "median": np.median,
        "p90": lambda x: np.percentile(x, 90),
        "max": np.max,
    }
    return {k: round(float(fns[k](v)), 4) for k in keys}


def _rms(x) -> float | None:
    return round(float(np.sqrt(np.mean(np.square(x)))), 4) if np.size(x) else None


def _period(dev: np.ndarray, acc: np.ndarray) -> float | None:
    """Typical period (frames) of the wobble: a sinusoid of period P has RMS(change of v) = 2 sin(pi / P) RMS(v)."""
    if len(acc) < 2 or not np.any(dev):
        return None
    ratio = float(np.sqrt(np.mean(acc**2)) / (2 * np.sqrt(np.mean(dev**2))))
    return round(float(np.pi / np.arcsin(min(ratio, 1.0))), 2) if ratio > 0 else None


def _windows(pairs: np.ndarray, window: int) -> list[np.ndarray]:
    """Index groups of contiguous pairs, each at most ``window`` long (a new group at every gap)."""
    groups: list[list[int]] = []
    for i, p in enumerate(pairs):
        if groups and p == pairs[groups[-1][-1]] + 1 and len(groups[-1]) < window:
            groups[-1].append(i)
        else:
            groups.append([i])
    return [np.asarray(g) for g in groups]


def summarise(motions, window: int = 60) -> dict:
    """Statistics of one or several :class:`GlobalMotion` results (pooled), JSON-safe.

    * ``shift_px``: displacement of the frame centre per frame (median / p10 / p90 / max);
    * ``pan_px``: steady pan speed, |mean shift| over windows of ``window`` consecutive pairs (min / median / max);
    * ``wobble_px``: RMS per-axis deviation of the per-frame shift from its window's mean (the shake around the pan),
      and ``wobble_period``: its typical period in frames (2 = frame-to-frame jitter);
    * ``rotation_deg`` / ``zoom``: |turn| in degrees and |scale - 1| per frame, with their RMS;
    * ``residual_px``: local motion after compensation, medians over pairs of each pair's p50 / p90 / p99 flow
      magnitude (None when not measured);
    * ``unreliable_share``: share of pairs where no camera motion could be found (left out of the statistics);
    * ``frame_side_px``: the longer side of the largest frames (px; what the sway limits of motion matching scale
      with, :func:`dvos_core.motion.matching.sway_limits`), None without motions.
    """
    if isinstance(motions, GlobalMotion):
        motions = [motions]
    dx, dy, rot, zoom, resid, pans, devs = [], [], [], [], [], [], []
    n_pairs = n_bad = 0
    side = None
    methods: dict[str, int] = {}
    for gm in motions:
        side = max(side or 0, int(max(gm.frame_shape[:2])))
        n_pairs += len(gm)
        for m in gm.method:
            methods[m] = methods.get(m, 0) + 1
        ok = np.array([m != "none" for m in gm.method], bool)
        n_bad += int((~ok).sum())
        dx.append(gm.dx[ok])
        dy.append(gm.dy[ok])
        rot.append(gm.rotation_deg[ok])
        zoom.append(np.log(np.maximum(gm.scale[ok], 1e-6)))
        if gm.residual is not None:
            resid.append(gm.residual[ok])
        for g in _windows(gm.pairs[ok], window):
            idx = np.flatnonzero(ok)[g]
            v = np.stack([gm.dx[idx], gm.dy[idx]], 1)
            pans.append(float(np.hypot(*v.mean(0))))
            if len(idx) > 1:
                devs.append(v - v.mean(0))
    dx, dy, rot, zoom = (np.concatenate(x) if x else np.zeros(0) for x in (dx, dy, rot, zoom))
    dev = np.concatenate(devs) if devs else np.zeros((0, 2))
    acc = np.concatenate([np.diff(d, axis=0) for d in devs]) if devs else np.zeros((0, 2))
    out = {
        "pairs": int(n_pairs),
        "unreliable_share": round(n_bad / n_pairs, 4) if n_pairs else None,
        "methods": methods,
        "shift_px": _stats(np.hypot(dx, dy), ("median", "p10", "p90", "max")),
        "pan_px": _stats(pans, ("min", "median", "max")),
        "wobble_px": _rms(dev) if dev.size else (0.0 if dx.size else None),
        "wobble_period": _period(dev, acc),
        "rotation_deg": _stats(np.abs(rot)),
        "rotation_rms_deg": _rms(rot),
        "zoom": _stats(np.abs(np.expm1(zoom))),
        "zoom_rms": _rms(zoom),
        "residual_px": None,
        "frame_side_px": side,
    }
    if resid:
        r = np.concatenate(resid)
        if len(r):
            med = np.nanmedian(r, axis=0)
            out["residual_px"] = {k: round(float(v), 4) for k, v in zip(("p50", "p90", "p99"), med)}
    return out


def rescaled(gm: GlobalMotion, factor: float) -> GlobalMotion:
    """``gm`` as if its frames were ``factor`` times larger: shifts, translations and residual flow in px scale,
    turns and zooms do not."""
    if factor == 1.0:
        return gm
    m = gm.matrices.copy()
    m[:, :, 2] *= factor
    h, w = gm.frame_shape[:2]
    return replace(
        gm,
        frame_shape=(round(h * factor), round(w * factor), *gm.frame_shape[2:]),
        matrices=m,
        dx=gm.dx * factor,
        dy=gm.dy * factor,
        residual=None if gm.residual is None else gm.residual * factor,
    )


def resolve_sources(project_or_videos, video_ids=None) -> list[tuple[str, object]]:
    """(name, frames source) pairs from a Project (its videos, or ``video_ids``), a mapping name -> source, one
    source, or a list of sources (video files, arrays, stored videos); ids of ``video_ids`` may also be paths."""
    from dvos_core.store import Project
    from dvos_core.store.schema import id_list

    src = project_or_videos
    if isinstance(src, Project):
        ids = id_list(video_ids) if video_ids else src.video_ids()
        out = []
        for v in ids:
            if v in src.video_ids():
                out.append((v, src.video(v)))
            elif Path(v).exists():
                out.append((Path(v).stem, str(v)))
            else:
                raise ValueError(f"{v}: neither a video of {src.path} ({src.video_ids()}) nor an existing file")
        if not out:
            raise ValueError(f"{src.path}: no videos to measure; add a video first (dvos add-video)")
        return out
    if isinstance(src, Mapping):
        return list(src.items())
    if isinstance(src, (str, Path)) or hasattr(src, "shape") or hasattr(src, "n_frames"):
        src = [src]
    out = []
    for i, s in enumerate(src):
        if isinstance(s, (str, Path)):
            if not Path(s).exists():
                raise FileNotFoundError(f"{s}: no such video file or folder")
            out.append((Path(s).stem, str(s)))
        else:
            out.append((getattr(s, "name", None) or f"video{i}", s))
    return out


def measure_videos(
    project_or_videos,
    video_ids=None,
    *,
    residual: bool = True,
    max_pairs: int | None = None,
    run_length: int = 60,
    params: MotionParams | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, GlobalMotion]:
    """{name: GlobalMotion} for each video (see :func:`resolve_sources`); stored videos ignore their labelled
    masks (heads) when measuring the camera."""
    sources = resolve_sources(project_or_videos, video_ids)
    out = {}
    for i, (name, s) in enumerate(sources):
        check(cancel)
        masks = "labels" if hasattr(s, "labelled_frames") and len(s.labelled_frames()) else None
        out[name] = estimate_global_motion(
            s,
            masks,
            params=params,
            residual=residual,
            max_pairs=max_pairs,
            run_length=run_length,
            progress=Steps(progress, i * 1000, 1000, 1000 * len(sources), f"{name}: "),
            cancel=cancel,
        )
    return out


def motion_summary(
    project_or_videos,
    video_ids=None,
    *,
    residual: bool = True,
    max_pairs: int | None = None,
    window: int = 60,
    params: MotionParams | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """``{"videos": {name: statistics}, "all": statistics of all videos pooled}`` (see :func:`summarise`).

    ``max_pairs`` bounds the work per video (evenly spread runs of ``window`` consecutive pairs).
    """
    motions = measure_videos(
        project_or_videos,
        video_ids,
        residual=residual,
        max_pairs=max_pairs,
        run_length=window,
        params=params,
        progress=progress,
        cancel=cancel,
    )
    return {
        "videos": {name: summarise(gm, window) for name, gm in motions.items()},
        "all": summarise(list(motions.values()), window),
    }
