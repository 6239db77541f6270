"""Synthesis motion matched to the footage: measure the real videos, derive SynthConfig motion ranges, compare.

The synthetic camera (see :mod:`dvos_core.synth.motion`) pans at a steady speed drawn once per clip, wobbles,
rolls and zooms along smooth sums of sinusoids; heads sway on their own. :func:`match_motion` measures the user's
videos (:mod:`dvos_core.motion.summary`) and sets those ranges so the synthetic per-frame motion has the same size:

* ``camera_speed_min`` / ``camera_speed``: the slowest and fastest steady pan of the footage (|mean shift| over
  windows of one clip length), widened to +-15 % around the median when the footage has a single speed;
* ``camera_period``: around the wobble's typical period (kept when the footage hardly wobbles);
* ``camera_shake_px``: the RMS deviation of the per-frame shift from its window's pan, divided by that of a
  unit-amplitude wobble with that ``camera_period``;
* ``camera_rotation_deg`` / ``camera_zoom``: the RMS turn / log-zoom per frame divided by that of a unit roll / zoom;
* ``sway_px``: the median per-frame step of the painted heads, each followed to the next frame after the camera
  motion is removed (:mod:`dvos_core.motion.head_sway`), divided by that of a unit-amplitude sway. Without enough
  painted heads it falls back to the footage's local motion (median over pairs of the p99 residual flow) divided by
  the p90 step of a unit sway; that flow also counts occluders, blur and flicker, so when it would put ``sway_px``
  beyond :data:`FLOW_SWAY_MAX_PX` the configured ``sway_px`` is kept and matching warns. Both that limit and the
  cap on the heads' sway (:data:`SWAY_CAP_PX`) hold for frames up to :data:`SWAY_REF_SIDE_PX` and grow with the
  footage's frame size above it (:func:`sway_limits`).

The motion of a config is measured the same way from sampled camera paths (no rendering), and rendered clips can be
measured with :func:`measure_clips`, so measured and synthetic motion are compared number by number.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from dvos_core.motion.global_motion import GlobalMotion, MotionParams, estimate_global_motion
from dvos_core.motion.head_sway import MANUAL, MIN_HEADS, measure_head_sway
from dvos_core.motion.summary import measure_videos, rescaled, resolve_sources, summarise
from dvos_core.motion.transforms import decompose, frame_centre
from dvos_core.progress import CancelToken, ProgressFn, check
from dvos_core.user_warnings import warn_user

SWAY_CAP_PX = 50.0  # the largest sway amplitude matching sets from followed heads (frames up to SWAY_REF_SIDE_PX)
# the largest sway amplitude the whole frame's residual flow may set (frames up to SWAY_REF_SIDE_PX): beyond it the
# flow has most likely caught something other than heads (a leaf crossing, blur, flicker), so the configured sway_px
# is kept and matching warns
FLOW_SWAY_MAX_PX = 15.0
# both limits were tuned on the accuracy benchmark's footage, frames of 128-160 px (docs/benchmarks.md, 2026-12-02);
# motion in px grows with the resolution, so on footage whose longer side exceeds this they grow in proportion
# (:func:`sway_limits`): the same scene filmed 4x larger sways 4x as many px and is decided alike
SWAY_REF_SIDE_PX = 160
# the largest share of the synthetic frame's shorter side the matched pan may cross per frame: the heads are cut at
# the footage's own pixel size, so its pan speed in px carries over, but consecutive synthetic frames must keep
# overlapping (by at least half) for the neighbours to show frame t's heads; a faster footage pan is slowed to this
# and matching warns (a larger synthetic frame shows it as it is)
MAX_PAN_SHARE = 0.5


def sway_limits(frame_side) -> tuple[float, float]:
    """(cap on the sway set from followed heads, largest sway the whole frame's flow may set), in px, for footage
    whose frames' longer side is ``frame_side`` px: :data:`SWAY_CAP_PX` and :data:`FLOW_SWAY_MAX_PX` up to
    :data:`SWAY_REF_SIDE_PX`, in proportion to the side above it (None or 0: not known, the unscaled limits)."""
    k = max(1.0, float(frame_side or 0) / SWAY_REF_SIDE_PX)
    return SWAY_CAP_PX * k, FLOW_SWAY_MAX_PX * k


MATCHED_FIELDS = (
    "camera_period",
    "camera_speed_min",
    "camera_speed",
    "camera_shake_px",
    "camera_rotation_deg",
    "camera_zoom",
    "sway_px",
    "drift_speed",
)
_N_SAMPLES = 400  # Monte Carlo draws for the unit-amplitude constants (fixed seed: deterministic)


@functools.lru_cache(maxsize=64)
def _unit_steps(period_lo: float, period_hi: float, n_frames: int) -> tuple[float, float]:
    """(RMS change about each clip's mean frame-to-frame change, p90 of the frame-to-frame change's size) of a
    unit-amplitude smooth signal."""
    from dvos_core.synth.motion import smooth_signal

    x = smooth_signal(np.random.default_rng(12345), max(3, n_frames), 1.0, (period_lo, period_hi), size=(_N_SAMPLES,))
    d = np.diff(x, axis=0)
    return float(np.sqrt(np.mean((d - d.mean(0)) ** 2))), float(np.percentile(np.abs(d), 90))


@functools.lru_cache(maxsize=64)
def _head_steps(sway_px: float, drift_speed: float, period: tuple, coherence: float, n_frames: int) -> tuple:
    """(p50, p90) per-frame step (px) of a head relative to the camera, as synthesis moves it
    (:func:`dvos_core.synth.motion.head_motion`: a steady drift plus the sway) with these settings. Both scale in
    proportion to ``sway_px`` and ``drift_speed`` together (same draws: fixed seed)."""
    from types import SimpleNamespace

    from dvos_core.synth.motion import head_motion

    cfg = SimpleNamespace(
        n_frames=max(3, int(n_frames)),
        sway_px=float(sway_px),
        drift_speed=float(drift_speed),
        sway_period=tuple(period),
        wind_coherence=float(coherence),
        rotation_deg=0.0,
        scale_jitter=0.0,
        elastic_px=0.0,
    )
    rng, n, steps = np.random.default_rng(54321), 64, []
    for _ in range(8):
        mo = head_motion(rng, cfg, np.zeros((n, 2)), np.zeros(n), np.ones(n))
        steps.append(np.hypot(*np.diff(mo.position, axis=0).transpose(2, 0, 1)).ravel())
    s = np.concatenate(steps)
    return float(np.percentile(s, 50)), float(np.percentile(s, 90))


def _head_motion_share(base) -> tuple[float, float]:
    """(sway_px, drift_speed) of unit scale that matching multiplies by one factor: ``base``'s own split between the
    two (both zero: the sway alone), so the matched heads sway and drift in ``base``'s proportion."""
    sway, drift = float(base.sway_px), float(base.drift_speed)
    return (sway, drift) if sway > 0 or drift > 0 else (1.0, 0.0)


def config_motion(cfg, n_clips: int = 64, seed: int = 0) -> dict:
    """Motion statistics (as :func:`dvos_core.motion.summary.summarise`) of ``n_clips`` camera paths drawn from
    ``cfg`` (no rendering), plus ``local_px`` and ``head_sway_px["p50"]``: the p90 and median per-frame step of a
    head relative to the camera."""
    from dvos_core.synth.motion import camera_path, head_motion

    rng = np.random.default_rng([int(seed), 77])
    shape = (cfg.height, cfg.width)
    c = frame_centre(shape)
    motions, steps = [], []
    for _ in range(int(n_clips)):
        cam = camera_path(rng, cfg)
        a = cam.matrices((0.0, 0.0), cfg.height, cfg.width)
        pairs = a[1:] @ np.linalg.inv(a[:-1])
        d = [decompose(m, c) for m in pairs]
        n = len(pairs)
        motions.append(
            GlobalMotion(
                frame_shape=shape,
                pairs=np.arange(n),
                matrices=pairs[:, :2],
                dx=np.array([x["dx"] for x in d]),
                dy=np.array([x["dy"] for x in d]),
                rotation_deg=np.array([x["rotation_deg"] for x in d]),
                scale=np.array([x["scale"] for x in d]),
                method=["model"] * n,
            )
        )
        k = 16
        mo = head_motion(rng, cfg, np.zeros((k, 2)), np.zeros(k), np.ones(k))
        steps.append(np.hypot(*np.diff(mo.position, axis=0).transpose(2, 0, 1)).ravel())
    out = summarise(motions, window=cfg.n_frames)
    s = np.concatenate(steps) if steps else np.zeros(0)
    out["local_px"] = round(float(np.percentile(s, 90)), 4) if s.size else 0.0
    out["head_sway_px"] = {"p50": round(float(np.percentile(s, 50)), 4) if s.size else 0.0}
    return out


WIND_GAIN_MAX = 2.0  # matched rotation_deg, scale_jitter and elastic_px: at most this many times the base's


def pan_limit(cfg) -> float:
    """The fastest pan (px/frame) matching sets for synthetic frames of ``cfg``'s size: :data:`MAX_PAN_SHARE` of
    the shorter side, so that consecutive frames overlap by at least half."""
    return MAX_PAN_SHARE * min(cfg.height, cfg.width)


def pan_too_fast(measured: dict, base) -> bool:
    """Whether the footage's fastest steady pan (``measured["pan_px"]["max"]``) is more than ``base``'s synthetic
    frames can show (:func:`pan_limit`): matching then slows it and says so."""
    return ((measured.get("pan_px") or {}).get("max") or 0.0) > pan_limit(base)


def matched_pan(measured: dict) -> tuple[float, float]:
    """(camera_speed_min, camera_speed) of the footage's steady pan (``measured["pan_px"]``), before
    :func:`overrides_from_motion` slows it to what the synthetic frame can show (:func:`pan_limit`)."""
    pan = measured.get("pan_px") or {}
    if pan.get("max") is None:
        raise ValueError(
            "no camera motion could be measured (every frame pair was unreliable: too little texture?); set the "
            "camera_* synthesis parameters by hand (`dvos synth --config`), or leave out --match-motion (`dvos run-all "
            "--no-match-motion`)"
        )
    lo, med, hi = pan["min"], pan["median"], pan["max"]
    if hi - lo < 0.3 * med:  # one speed (e.g. a single video): keep some variety around it
        lo, hi = 0.85 * med, 1.15 * med
    hi = max(hi, 0.1)
    lo = min(max(lo, 0.05), hi)
    return lo, hi


def overrides_from_motion(measured: dict, base) -> dict:
    """SynthConfig changes that give ``base`` the motion of ``measured`` (a pooled :func:`summarise` result). A pan
    faster than ``base``'s frame can show (:func:`pan_limit`) is slowed to it, its range scaled alike. ``sway_px``
    and ``drift_speed`` are scaled together (``base``'s split) so that a head's simulated median step is the painted
    heads' median step (else the frame's flow as a head's p90 step); the heads' turning, size change and bending
    (``rotation_deg``, ``scale_jitter``, ``elastic_px``) by the same factor, at most :data:`WIND_GAIN_MAX`."""
    lo, hi = matched_pan(measured)
    limit = pan_limit(base)
    if pan_too_fast(measured, base):  # the footage's px speed does not fit: the range's shape at what fits
        lo, hi = lo * limit / hi, limit
    elif hi > limit:  # only the variety added around one speed goes beyond: trimmed
        hi = limit
    period = tuple(base.camera_period)
    p = measured.get("wobble_period")
    if p is not None and (measured.get("wobble_px") or 0.0) > 0.2:
        period = (round(max(2.0, 0.6 * p), 1), round(max(3.0, 1.6 * p), 1))
    dev, p90 = _unit_steps(*period, base.n_frames)
    # rotation and zoom matched on their p90 per-frame change, what the comparison shows: a steady turn's p90 is its
    # RMS, a swing's about 1.5x it, so matching the RMS made a steady turn 1.5x too strong in the clips
    rotation = ((measured.get("rotation_deg") or {}).get("p90")) or 0.0
    zoom = ((measured.get("zoom") or {}).get("p90")) or 0.0
    out = {
        "camera_period": period,
        "camera_speed_min": round(lo, 2),
        "camera_speed": round(max(hi, lo), 2),
        "camera_shake_px": round(min((measured.get("wobble_px") or 0.0) / dev, 500.0), 2),
        "camera_rotation_deg": round(min(rotation / p90, 45.0), 3),
        "camera_zoom": round(min(zoom / p90, 0.3), 4),
    }
    # the heads' own motion: sway and drift scaled together (base's split between them) so that a head's simulated
    # per-frame step (drift + sway, as synthesis composes them) has the footage's median; sway alone left the default
    # drift (0.3 px/frame) to make calm footage's heads move 8x too much
    sway0, drift0 = _head_motion_share(base)
    step50, step90 = _head_steps(sway0, drift0, tuple(base.sway_period), base.wind_coherence, base.n_frames)
    heads = measured.get("head_sway_px")
    resid = measured.get("residual_px")
    cap, flow_max = sway_limits(measured.get("frame_side_px"))
    k = None
    if heads and heads.get("p50") is not None:  # followed on the painted heads: their median step
        k = heads["p50"] / step50
        k = min(k, cap / max(sway0, drift0))
    elif resid and resid.get("p99") is not None and np.isfinite(resid["p99"]):
        k = resid["p99"] / step90  # the whole frame's flow: an upper bound that occluders and blur inflate
        if sway0 * k > flow_max:  # beyond it something else moved: keep the configured motion (match_motion warns)
            k = None
    if k is not None:
        out["sway_px"] = round(sway0 * k, 3)
        out["drift_speed"] = round(drift0 * k, 4)
        # the wind that sways a head also turns, tilts (its size in view) and bends it: left at their defaults, on
        # calm footage those moved the heads' edges 20x what the footage's heads move (their centres matched)
        gain = min(k, WIND_GAIN_MAX)
        out["rotation_deg"] = round(base.rotation_deg * gain, 3)
        out["scale_jitter"] = round(base.scale_jitter * gain, 4)
        out["elastic_px"] = round(base.elastic_px * gain, 3)
    return out


# ---- comparison ---------------------------------------------------------------------------------------------------
# (row label, unit, getter, absolute slack below which a difference never warns)
_ROWS = (
    ("shift per frame, median", "px", lambda s: (s.get("shift_px") or {}).get("median"), 2.0),
    ("shift per frame, p90", "px", lambda s: (s.get("shift_px") or {}).get("p90"), 2.0),
    ("steady pan, fastest", "px/frame", lambda s: (s.get("pan_px") or {}).get("max"), 2.0),
    ("rotation per frame, p90", "deg", lambda s: (s.get("rotation_deg") or {}).get("p90"), 0.2),
    ("zoom per frame, p90", "%", lambda s: _pct((s.get("zoom") or {}).get("p90")), 0.3),
    ("local motion", "px/frame", lambda s: _local(s), 1.5),
    # heads of calm footage step a few hundredths of a px per frame (followed to ~0.01 px): a 0.5 px slack hid 8x
    ("head sway per frame, median", "px", lambda s: (s.get("head_sway_px") or {}).get("p50"), 0.05),
)


def _pct(x):
    return None if x is None else 100.0 * x


def _local(s: dict):
    """Measured: median p99 residual flow; a config: p90 head step (model)."""
    if "local_px" in s:
        return s["local_px"]
    r = s.get("residual_px")
    return None if not r else r.get("p99")


def _far(a, b, slack: float) -> bool:
    if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)):
        return False
    return abs(a - b) > slack and (max(a, b) > 2.0 * max(min(a, b), 1e-9))


def compare_motion(measured: dict, synthetic: dict, cfg=None, label: str = "synthetic") -> tuple[list, list]:
    """(rows, warnings): each row {quantity, unit, measured, <label>, far}; a warning per quantity that differs
    by more than 2x (and more than a small absolute slack)."""
    rows, warnings = [], []
    for name, unit, get, slack in _ROWS:
        m, s = get(measured), get(synthetic)
        if m is None and s is None:
            continue
        far = _far(m, s, slack)
        rows.append({"quantity": name, "unit": unit, "measured": m, label: s, "far": far})
    shift_m, shift_s = measured.get("shift_px") or {}, synthetic.get("shift_px") or {}
    if any(r["far"] for r in rows[:3]):
        speed = (
            "" if cfg is None else f" (camera_speed {cfg.camera_speed:g}, camera_speed_min {cfg.camera_speed_min:g})"
        )
        pan = f"({fmt((measured.get('pan_px') or {}).get('min'))}-{fmt((measured.get('pan_px') or {}).get('max'))})"
        fix = (  # after matching, matching again changes nothing: the range cannot take the footage's speeds
            f"one range of pan speeds cannot follow the footage's spread of speeds (several videos, or a camera that "
            f"stops and goes); set camera_speed_min / camera_speed by hand within the footage's steady pan {pan}, or "
            f"match the videos of one speed separately"
            if label == "matched"
            else f"match it with `dvos synth PROJECT --match-motion VIDEO...` (or the Synthesize dock) or set "
            f"camera_speed_min / camera_speed near the footage's steady pan {pan}"
        )
        warnings.append(
            f"motion mismatch: the footage moves {fmt(shift_m.get('p10'))}-{fmt(shift_m.get('p90'))} px/frame "
            f"(median {fmt(shift_m.get('median'))}) but the {label} clips move {fmt(shift_s.get('p10'))}-"
            f"{fmt(shift_s.get('p90'))} px/frame{speed}; {fix}"
        )
    for r in rows[3:]:
        if r["far"]:
            warnings.append(
                f"motion mismatch: {r['quantity']} is {fmt(r['measured'])} {r['unit']} in the footage but "
                f"{fmt(r[label])} {r['unit']} in the {label} clips"
            )
    return rows, warnings


def fmt(x) -> str:
    """A figure for tables: 2 decimals below 10, 1 above, "?" for None."""
    return "?" if x is None else f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"


# ---- rendered clips -------------------------------------------------------------------------------------------------
def measure_clips(
    clips,
    *,
    residual: bool = True,
    params: MotionParams | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Pooled motion statistics of rendered clips: an iterable of (T, H, W, 3) frame arrays or (frames, masks)
    pairs, or a stored :class:`~dvos_core.store.SyntheticSet` (its finished clips)."""
    if hasattr(clips, "read_clip") and hasattr(clips, "done"):
        sset = clips
        clips = (sset.read_clip(int(i)) for i in sset.done())
    motions = []
    for i, c in enumerate(clips):
        check(cancel)
        frames = c[0] if isinstance(c, tuple) else c
        motions.append(estimate_global_motion(frames, params=params, residual=residual, cancel=cancel))
        if progress is not None:
            progress(i + 1, 0, f"measured clip {i + 1}")
    if not motions:
        raise ValueError("no clips to measure")
    return summarise(motions, window=max(len(m) for m in motions))


def render_and_measure(project, cfg, n_clips: int = 1, n_frames: int = 16, seed: int = 0, cancel=None) -> dict:
    """Render ``n_clips`` short preview clips of ``cfg`` from ``project`` and measure them (:func:`measure_clips`)."""
    from dvos_core.synth.preview import preview

    clips = (
        preview(project, cfg, seed=seed + k, n_frames=n_frames, size=cfg.height, cancel=cancel)[0]
        for k in range(int(n_clips))
    )
    return measure_clips(clips, cancel=cancel)


# ---- the whole step -------------------------------------------------------------------------------------------------
@dataclass
class MotionMatch:
    """Result of :func:`match_motion`: what was measured, the config changes and the comparison."""

    measured: dict  # {"videos": {name: stats}, "all": pooled stats}
    base: object  # the SynthConfig it started from
    overrides: dict  # SynthConfig field -> value
    config: object  # base with the overrides
    before: dict  # motion statistics of the base config (sampled camera paths)
    after: dict  # the same for the matched config
    rows: list  # {quantity, unit, measured, before, after, far_before, far_after}
    warnings: list  # mismatches of the base config (what matching fixes)
    warnings_after: list  # mismatches left after matching (should be empty)
    rendered: dict | None = field(default=None)  # measured motion of rendered clips of the matched config

    def to_dict(self) -> dict:
        """Plain, JSON-safe dict (for the Synthesize dock and reports)."""
        return {
            "measured": self.measured,
            "overrides": dict(self.overrides),
            "config": self.config.to_dict(),
            "before": self.before,
            "after": self.after,
            "rows": [dict(r) for r in self.rows],
            "warnings": list(self.warnings),
            "warnings_after": list(self.warnings_after),
            "rendered": self.rendered,
        }

    def table(self) -> str:
        """The measured vs synthetic comparison as aligned text."""
        head = ["quantity", "footage", "config", "matched"] + (["rendered"] if self.rendered else [])
        lines = []
        for r in self.rows:
            cells = [f"{r['quantity']} ({r['unit']})", fmt(r["measured"]), fmt(r["before"]), fmt(r["after"])]
            if self.rendered:
                cells.append(fmt(r.get("rendered")))
            lines.append(cells)
        widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
        line = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
        notes = [self.sway_source()]
        scale = self.measured["all"].get("pixel_scale")
        if scale:
            notes.append(
                f"pixel size: {', '.join(scale['rescaled'])} scaled to the {scale['side']} px frames of "
                f"{scale['video']} (the heads' size) before pooling"
            )
        return "\n".join([*(line.format(*x) for x in [head, *lines]), *notes])

    def sway_source(self) -> str:
        """One line: where the matched ``sway_px`` (and ``drift_speed``, scaled with it) came from."""
        heads = self.measured["all"].get("head_sway_px")
        both = f"sway_px {self.config.sway_px:g}, drift_speed {self.config.drift_speed:g}"
        if heads:
            return (
                f"{both}: from {heads['heads']} painted heads followed over {heads['pairs']} frame pairs (median step "
                f"{heads['p50']:.2f} px/frame)"
            )
        if "sway_px" in self.overrides:
            return f"{both}: from the whole frame's local motion (no painted heads to follow)"
        if not self.measured["all"].get("residual_px"):
            return f"sway_px {self.config.sway_px:g}: kept as configured (local motion not measured)"
        return f"sway_px {self.config.sway_px:g}: kept as configured (see the warnings)"


def match_motion(
    project_or_videos,
    video_ids=None,
    base=None,
    *,
    max_pairs: int | None = 300,
    residual: bool = True,
    n_model_clips: int = 64,
    render_project=None,
    render_clips: int = 0,
    seed: int = 0,
    params: MotionParams | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> MotionMatch:
    """Measure the motion of real videos and derive the synthesis motion ranges from it.

    ``project_or_videos``: a Project (its videos but the test ones, or ``video_ids``; an empty list is refused, not
    read as every video; ids may also be video file paths), video file paths, frame arrays or stored videos.
    ``base``: the SynthConfig to start from (default: the defaults); only :data:`MATCHED_FIELDS` change.
    ``max_pairs`` bounds the frame pairs measured per video. With
    ``render_clips`` > 0 and a ``render_project`` (default: the project measured, when it is one), that many short
    preview clips of the matched config are rendered and measured too (``rendered``; needs heads and background
    clips of ``base``'s height, checked before the footage is measured). Stored videos with painted frames also
    give the head sway (``measured["all"]["head_sway_px"]``, see :mod:`dvos_core.motion.head_sway`), from which
    ``sway_px`` and ``drift_speed`` are set (:func:`overrides_from_motion`).
    Returns a :class:`MotionMatch`; ``.config`` is the matched SynthConfig, ``.warnings`` says how far the base
    config was off, ``.table()`` prints the comparison.
    """
    from dvos_core.store import Project
    from dvos_core.synth.config import SynthConfig

    base = base if base is not None else SynthConfig()
    video_ids = _default_ids(project_or_videos, video_ids)
    if render_project is None and isinstance(project_or_videos, Project):
        render_project = project_or_videos
    if render_clips > 0 and render_project is not None:  # before the measuring, naming this function's size option
        from dvos_core.synth.generate import usable_backgrounds

        square = base.replace(width=base.height)  # as render_and_measure renders them
        usable_backgrounds(
            Project.of(render_project, mode="r"), square, "match_motion(base=SynthConfig(height=, width=))"
        )
    motions = measure_videos(
        project_or_videos,
        video_ids,
        residual=residual,
        max_pairs=max_pairs,
        run_length=base.n_frames,
        params=params,
        progress=progress,
        cancel=cancel,
    )
    _require_pairs(motions, "match the motion to", "--match-motion (`dvos run-all --no-match-motion`)")
    pooled, scales = _pooled(project_or_videos, video_ids, motions, base.n_frames)
    measured = {"videos": {name: summarise(gm, base.n_frames) for name, gm in motions.items()}, "all": pooled}
    measured["all"]["head_sway_px"] = painted_head_sway(project_or_videos, video_ids, cancel, scales["factors"])
    overrides = overrides_from_motion(measured["all"], base)
    config = base.replace(**overrides)
    before = config_motion(base, n_model_clips, seed)
    after = config_motion(config, n_model_clips, seed)
    rows_b, warnings = compare_motion(measured["all"], before, base, label="configured")
    rows_a, warnings_after = compare_motion(measured["all"], after, config, label="matched")
    rows = []
    for rb, ra in zip(rows_b, rows_a):
        rows.append(
            {
                "quantity": rb["quantity"],
                "unit": rb["unit"],
                "measured": rb["measured"],
                "before": rb["configured"],
                "after": ra["matched"],
                "far_before": rb["far"],
                "far_after": ra["far"],
            }
        )
    if pan_too_fast(measured["all"], base):  # slowed: says so instead of the camera mismatch, whose advice made it
        warnings_after = [w for w in warnings_after if not w.startswith("motion mismatch: the footage moves")]
        warnings_after.append(fast_pan_warning(measured["all"], base, config))
    heads = measured["all"]["head_sway_px"]
    if heads is None and "sway_px" not in overrides and measured["all"].get("residual_px"):
        warnings_after.append(
            f"local motion: {_local(measured['all']):.1f} px/frame is left after the camera motion, more than heads "
            f"swaying in the wind make; something else moves (occluders crossing, motion blur, exposure flicker), so "
            f"sway_px was kept at {base.sway_px:g} px - paint the heads of a few frames (the sway is then measured on "
            f"them: at least {MIN_HEADS} heads followed to the next frame) or set sway_px by hand"
        )
    elif heads is not None and overrides.get("sway_px", 0.0) >= sway_limits(measured["all"]["frame_side_px"])[0]:
        warnings_after.append(
            f"head sway: the painted heads move {heads['p50']:.1f} px/frame on their own (median of {heads['heads']}); "
            f"sway_px was capped at {overrides['sway_px']:g} px"
        )
    rendered = None
    if render_project is not None:
        warnings_after += _moving_backgrounds(render_project, measured["all"], cancel)
    if render_clips > 0 and render_project is not None:
        rendered = render_and_measure(render_project, config, render_clips, seed=seed, cancel=cancel)
        rows_r, _ = compare_motion(measured["all"], rendered, config, label="rendered")
        by_name = {r["quantity"]: r["rendered"] for r in rows_r}
        for r in rows:
            r["rendered"] = by_name.get(r["quantity"])
    return MotionMatch(measured, base, overrides, config, before, after, rows, warnings, warnings_after, rendered)


def _pooled(project_or_videos, video_ids, motions: dict, window: int) -> tuple[dict, dict]:
    """(statistics of ``motions`` pooled at one pixel size, with ``pixel_scale`` where a video was scaled; the
    :func:`pixel_scales` used)."""
    scales = pixel_scales(project_or_videos, video_ids, motions)
    pooled = summarise([rescaled(gm, scales["factors"][n]) for n, gm in motions.items()], window)
    if scales["rescaled"]:
        pooled["pixel_scale"] = scales
    return pooled, scales


def pixel_scales(project_or_videos, video_ids, motions: dict) -> dict:
    """How videos of different frame sizes are pooled: each one's motion in px is scaled to the frame size of the
    video the heads are cut from, since the synthetic clips move heads of that pixel size: in a Project, the video
    of the most heads in its object bank (matched or not); else the matched video with the most painted frames
    (manual or corrected masks: model masks give no heads); else the one with the most measured frame pairs.
    ``{"side": px, "video": name, "factors": {name: factor}, "rescaled": [names whose factor is not 1]}``."""
    from dvos_core.store import Project

    sides = {n: int(max(gm.frame_shape[:2])) for n, gm in motions.items()}
    ref, side = None, None
    if isinstance(project_or_videos, Project):
        heads = {v: project_or_videos.objects.video_counts(v).get("head", 0) for v in project_or_videos.video_ids()}
        if any(heads.values()):
            ref = max(heads, key=heads.get)
            side = int(max(project_or_videos.video(ref).shape[1:3]))
    if ref is None:
        painted = {
            n: len(src.labelled_frames(MANUAL))
            for n, src in resolve_sources(project_or_videos, video_ids)
            if n in sides and hasattr(src, "labelled_frames")
        }
        ref = (
            max(painted, key=painted.get)
            if any(painted.values())
            else max(motions, key=lambda n: len(motions[n].pairs))
        )
        side = sides[ref]
    factors = {n: side / s for n, s in sides.items()}
    return {
        "side": side,
        "video": ref,
        "factors": factors,
        "rescaled": sorted(n for n, f in factors.items() if abs(f - 1.0) > 1e-6),
    }


def fast_pan_warning(measured: dict, base, config) -> str:
    """What matching says when the footage pans faster than ``base``'s frames can show (:func:`pan_limit`)."""
    hi = matched_pan(measured)[1]
    need = int(np.ceil(hi / MAX_PAN_SHARE / 16) * 16)
    return (
        f"fast pan: the footage pans up to {fmt(measured['pan_px']['max'])} px/frame (camera_speed {hi:.0f} "
        f"matched), more than {base.height}x{base.width} px synthetic frames can show with consecutive frames "
        f"overlapping by half (at most {pan_limit(base):g} px/frame); camera_speed was set to "
        f"{config.camera_speed:g} px/frame (camera_speed_min {config.camera_speed_min:g}), so the synthetic heads "
        f"move slower than the footage's. For the footage's own speed make the synthetic frames at least {need} px "
        f"(dvos synth --size {need}; dvos run-all: synth_size: {need} in its --config file; the Synthesize dock: "
        f"clip height and width), with background clips at least as large"
    )


def _default_ids(source, video_ids, option: str = "--match-motion"):
    """A project's videos to match when none are named (None): all but the test videos (if that leaves any). An
    empty list is refused, not read as "every video" (as evaluate refuses it); ``option`` names the videos on the
    command line."""
    from dvos_core.store import Project
    from dvos_core.store.schema import id_list

    video_ids = id_list(video_ids)
    if video_ids is not None and not video_ids and isinstance(source, Project):
        raise ValueError(
            f"video_ids is an empty list: name the videos to measure ({option} VIDEO ...), or pass None to measure "
            f"every video of {source.path} but the test ones"
        )
    if not isinstance(source, Project):
        return video_ids
    if video_ids:
        held = set(source.video_ids())
        tests = [v for v in video_ids if v in held and source.video(v).split == "test"]
        if tests:  # named on purpose, perhaps not knowing: the synthetic clips would then be shaped by them
            warn_user(
                f"{', '.join(tests)}: test video(s), whose motion (and painted heads' sway) now shapes the synthetic "
                f"training clips, so the test score no longer comes from footage the training never saw; match the "
                f"motion to training videos instead (leave the video ids out: every video but the test ones)"
            )
        return video_ids
    ids = [v.name for v in source.videos() if v.split != "test" and v.n_frames > 1]
    return ids or None


def background_motion(project, max_clips: int = 8, max_pairs: int = 20, cancel=None) -> dict:
    """{clip id: median per-frame shift (px)} of up to ``max_clips`` of the project's background clips."""
    out = {}
    for b in project.background_ids()[:max_clips]:
        bg = project.background(b)
        if bg.n_frames < 2:
            continue
        gm = estimate_global_motion(bg, max_pairs=max_pairs, run_length=max_pairs, cancel=cancel)
        ok = np.array([m != "none" for m in gm.method], bool)
        if ok.any():
            out[b] = float(np.median(gm.shift_px[ok]))
    return out


def _moving_backgrounds(project, measured: dict, cancel=None) -> list:
    """A warning when the background clips move on their own: the synthetic camera then moves the field by their
    motion plus its own, and the heads by its own only."""
    moving = background_motion(project, cancel=cancel)
    if not moving:
        return []
    own = float(np.median(list(moving.values())))
    footage = (measured.get("shift_px") or {}).get("median") or 0.0
    if own <= max(2.0, 0.25 * footage):
        return []
    return [
        f"the background clips move {fmt(own)} px/frame on their own (e.g. bare-field footage, or clips made with "
        f"`dvos extract-backgrounds --from-annotated --motion measured`): the synthetic camera adds its motion to "
        f"both field and heads, so the field will slide under the heads by that much. With matched camera motion "
        f"prefer still background clips (`dvos extract-backgrounds --from-annotated --motion none`)"
    ]


def painted_head_sway(project_or_videos, video_ids, cancel=None, scales: dict | None = None) -> float | None:
    """The painted heads' sway in the stored videos among ``video_ids`` (:func:`measure_head_sway`, each video's
    steps times its factor in ``scales``); None when none of them holds painted frames (videos given as arrays or
    files have none)."""
    painted = [src for _, src in resolve_sources(project_or_videos, video_ids) if hasattr(src, "labelled_frames")]
    return measure_head_sway(painted, scales=scales, cancel=cancel) if painted else None


def _require_pairs(motions: dict, doing: str, option: str) -> None:
    """Refuse footage without a single frame pair (every video one frame long): nothing to measure."""
    if motions and all(len(gm.pairs) == 0 for gm in motions.values()):
        raise ValueError(
            f"no frame pairs to measure the camera motion from: {sorted(motions)} hold one frame each; {doing} "
            f"videos of two frames or more, or leave out {option}"
        )


def check_config_motion(
    project_or_videos, config, video_ids=None, *, max_pairs: int | None = 300, head_sway: bool = True, **kw
) -> dict:
    """Compare a config's motion with the footage without changing it: {"rows", "warnings", "measured",
    "synthetic"} (warnings are empty when they agree). ``head_sway``: also follow the painted heads of stored videos
    to compare their sway, as :func:`match_motion` measures it (False: camera motion only, quicker)."""
    video_ids = _default_ids(project_or_videos, video_ids, "--compare-motion")
    motions = measure_videos(project_or_videos, video_ids, max_pairs=max_pairs, run_length=config.n_frames, **kw)
    _require_pairs(motions, "compare the motion with", "--compare-motion")
    measured, scales = _pooled(project_or_videos, video_ids, motions, config.n_frames)
    if (measured.get("pan_px") or {}).get("max") is None:  # it said "matches" with nothing measured
        raise ValueError(
            "no camera motion could be measured (every frame pair was unreliable: too little texture?), so there is "
            "nothing to compare the synthesis motion with; compare it with other footage, or leave out "
            "--compare-motion"
        )
    if head_sway:
        sway = painted_head_sway(project_or_videos, video_ids, kw.get("cancel"), scales["factors"])
        if sway is not None:
            measured["head_sway_px"] = sway
    synthetic = config_motion(config)
    rows, warnings = compare_motion(measured, synthetic, config)
    return {"rows": rows, "warnings": warnings, "measured": measured, "synthetic": synthetic}


__all__ = [
    "MATCHED_FIELDS",
    "MotionMatch",
    "background_motion",
    "check_config_motion",
    "compare_motion",
    "config_motion",
    "match_motion",
    "measure_clips",
    "overrides_from_motion",
    "pan_limit",
    "pan_too_fast",
    "pixel_scales",
    "render_and_measure",
    "sway_limits",
]
