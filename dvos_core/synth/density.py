"""Synthesis density matched to the painted frames: the share of each frame that heads cover.

How crowded the training clips are is a prior the model learns before it looks: trained on clips sparser than the
footage it paints crowded heads too small (the benchmark's conifer crowns); on clips more crowded than the footage it
paints them too large. :func:`match_density` reads the painted masks of the user's videos and sets ``n_heads``
(``n_fakes`` in proportion) so that clips rendered from the project's own object bank cover the same share of the
frame. By default it only ever raises the heads per frame: fewer heads per clip also teach less per training step,
and on the benchmark's sparse sets lowering them cost Dice more often than the better prior gained
(``allow_sparser=True`` matches both ways). The coverage of a head
count is measured by rendering masks with the config itself (placement, overlap, fakes on top and the frame border
included; no background needed), and the count is solved for on ``-log(1 - coverage)``, which grows nearly in
proportion to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from dvos_core.motion.head_sway import MANUAL, painted_frames
from dvos_core.progress import CancelToken, ProgressFn, Steps, check, report
from dvos_core.synth.bank import edge_cut_note, synthesis_objects
from dvos_core.synth.config import SynthConfig

SPREAD = 0.15  # with one density (e.g. a single painted frame), clips cover +-15 % around it
_PROBE_CLIPS = 16  # one-frame clips rendered per coverage measurement
_MAX_HEADS = 5000  # the most heads per frame matching sets


@dataclass
class DensityMatch:
    """What :func:`match_density` measured and changed."""

    config: SynthConfig
    measured: dict  # painted frames: their count and the coverage / objects-per-frame statistics
    synthetic: dict  # coverage of the matched config's clips (low and high end of n_heads)
    overrides: dict  # the changed fields
    warnings: list = field(default_factory=list)

    def table(self) -> str:
        """Measured vs synthetic coverage, one line each."""
        m, s = self.measured["coverage"], self.synthetic
        lo, hi = sorted((s["low"], s["high"]))  # (more heads can cover less: smaller heads, more overlap)
        return (
            f"head pixels in painted frames: {100 * m['min']:.1f}-{100 * m['max']:.1f} % (median "
            f"{100 * m['median']:.1f} %, {self.measured['frames']} frames, {self.measured['objects']['median']:.0f} "
            f"heads per frame); synthetic clips with n_heads {tuple(self.config.n_heads)}: "
            f"{100 * lo:.1f}-{100 * hi:.1f} %"
        )


def painted_density(videos, provenances=MANUAL, max_frames: int | None = 200) -> dict:
    """Coverage (share of head pixels) and head count (8-connected components) of the painted frames of stored
    videos: ``{"frames", "empty_frames", "coverage": {min, median, max}, "objects": {min, median, max}}``; at most
    ``max_frames`` painted frames per video, evenly spread. Raises ValueError when no video has a painted frame."""
    videos = [videos] if hasattr(videos, "labelled_frames") else list(videos)
    cover, count, empty = [], [], 0
    for v in videos:
        for t in painted_frames(v, provenances, max_frames):
            m = v.mask(int(t))
            if m is None or not m.any():
                empty += 1
                continue
            m = (np.asarray(m) > 0).astype(np.uint8)
            cover.append(float(m.mean()))
            count.append(cv2.connectedComponents(m, connectivity=8)[0] - 1)
    if not cover:
        names = ", ".join(getattr(v, "name", "?") for v in videos)
        raise ValueError(
            f"no painted frame with heads in {names or 'the given videos'}: paint the heads of a few frames "
            f"(or give videos that have painted frames) before matching the synthesis density"
        )

    def stats(x):
        return {"min": float(np.min(x)), "median": float(np.median(x)), "max": float(np.max(x))}

    return {"frames": len(cover) + empty, "empty_frames": empty, "coverage": stats(cover), "objects": stats(count)}


def _fakes(heads: int, fake_ratio: float) -> int:
    """Fakes per frame that go with ``heads`` heads per frame."""
    return int(round(heads * fake_ratio))


def _with_heads(cfg: SynthConfig, n: float, fake_ratio: float) -> SynthConfig:
    k = max(1, int(round(n)))
    return cfg.replace(n_heads=(k, k), n_fakes=(_fakes(k, fake_ratio),) * 2)


def synthetic_coverage(
    heads, fakes, cfg: SynthConfig, n_clips: int = _PROBE_CLIPS, seed: int = 0, cancel: CancelToken | None = None
) -> float:
    """Mean share of head pixels in the first frame of ``n_clips`` clips drawn from ``cfg`` (masks only matter: the
    background is blank). ``cancel`` is checked before each clip."""
    from dvos_core.synth.clip import simulate_clip

    one = cfg.replace(n_frames=1, allow_upscale=True)
    blank = np.zeros((1, 16, 16, 3), np.uint8)
    cover = []
    for i in range(n_clips):
        check(cancel)
        cover.append(simulate_clip(heads, fakes, blank, one, seed=[seed, 61, i])[1].mean())
    return float(np.mean(cover))


def heads_for_coverage(
    heads,
    fakes,
    cfg: SynthConfig,
    target: float,
    fake_ratio: float,
    seed: int = 0,
    cancel: CancelToken | None = None,
    seen: dict | None = None,
    progress: ProgressFn | None = None,
) -> float:
    """The number of heads per frame whose clips cover ``target`` of the frame (fakes at ``fake_ratio`` per head).

    Where more heads cover less (many large fakes on top hiding them, heads about as large as the frame), a
    proportional step goes the wrong way, towards thousands of heads per frame, each step rendering slower than the
    last: after a step that lands clearly further off, the count is halved (or doubled) from the closest count
    measured instead, as long as that comes closer. ``seen``: {heads per frame: coverage} measured before with the
    same settings and seed (filled in): the steps start from the count closest to ``target`` among them, so that
    the second end of a range starts where the first one ended. ``progress`` hears of each count measured (each
    renders a few clips: seconds on large frames), as (step, 6)."""
    if not 0 < target < 1:
        raise ValueError(f"target coverage must lie in (0, 1), got {target}")
    goal = -math.log(1 - min(target, 0.98))
    n = float(np.mean(cfg.n_heads)) or 1.0
    if seen:  # start from the count measured closest to the target (the other end of the range)
        n = float(min(seen, key=lambda k: abs(seen[k] - target)))
    best, walk = None, None  # (how far off, heads) of the closest count measured; the walk's factor once needed
    for step_no in range(6):  # fixed-point steps on -log(1 - coverage) ~ proportional to n
        key = max(1, int(round(n)))  # the count _with_heads renders
        c = None if seen is None else seen.get(key)
        if c is None:
            c = synthetic_coverage(heads, fakes, _with_heads(cfg, n, fake_ratio), seed=seed, cancel=cancel)
            if seen is not None:
                seen[key] = c
            report(progress, step_no + 1, 6, f"{key} heads per frame cover {100 * c:.1f} %")
        if c <= 0 and walk is None:
            n = min(n * 4, _MAX_HEADS)
            continue
        ratio = goal / -math.log1p(-min(c, 0.98)) if c > 0 else 4.0
        off = abs(math.log(ratio))
        if walk is None and (best is None or off <= best[0] + 0.1):  # proportional steps
            if best is None or off < best[0]:
                best = (off, n)
            n = min(max(1.0, n * min(ratio, 4.0)), _MAX_HEADS)  # at most 4x per step, as when nothing is covered
            if abs(ratio - 1) < 0.03:
                break
            continue
        if walk is None:  # the step landed clearly further off: walk from the closest count, the other way
            walk, n = (0.5 if n > best[1] else 2.0), best[1]
        elif off < best[0]:
            best = (off, n)
        else:  # the walk stopped coming closer
            return best[1]
        step = min(max(1.0, n * walk), _MAX_HEADS)
        if step == n:
            return best[1]
        n = step
    return n if walk is None else best[1]


def match_density(
    project,
    video_ids=None,
    base: SynthConfig | None = None,
    *,
    provenances=MANUAL,
    allow_sparser: bool = False,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> DensityMatch:
    """``base`` (default SynthConfig()) with ``n_heads`` set so that its clips, rendered from the object bank of
    ``project`` (a Project or its path), cover the same share of the frame as the heads of the painted frames of
    ``video_ids`` (default: every video but the test videos); ``n_fakes`` keeps its ratio to ``n_heads``. The range
    spans the painted frames' lowest to highest coverage (+-:data:`SPREAD` around the median when they hardly
    differ). Each end of the range only grows unless ``allow_sparser``: settings more crowded than the footage are
    kept (and the table says so)."""
    from dvos_core.store import Project
    from dvos_core.store.schema import id_list

    project = Project.of(project, mode="r")
    base = base or SynthConfig()
    ids = id_list(video_ids) if video_ids is not None else [v.name for v in project.videos() if v.split != "test"]
    videos = [project.video(i) for i in ids]
    measured = painted_density(videos, provenances)
    heads, fakes = synthesis_objects(project, base.border_heads)
    if not heads and project.objects.count("head"):  # every head left out: say why (border_heads 'skip')
        edge_cut_note(project, base.border_heads)
    if not heads:
        raise ValueError(
            f"{project.path}: the object bank has no heads; extract them first (dvos extract-objects) so the "
            f"density can be matched with the heads that will be pasted"
        )
    c = measured["coverage"]
    lo, hi = c["min"], c["max"]
    if hi - lo < 2 * SPREAD * c["median"]:
        lo, hi = (1 - SPREAD) * c["median"], (1 + SPREAD) * c["median"]
    fake_ratio = float(np.mean(base.n_fakes)) / max(1e-9, float(np.mean(base.n_heads)))
    warnings = []
    if hi > 0.9:
        warnings.append(
            f"painted frames are up to {100 * c['max']:.0f} % head: synthetic clips cannot leave as little field; "
            f"they are capped at 90 %"
        )
        hi = min(hi, 0.9)
        lo = min(lo, hi)
    ends, seen = [], {}
    for i, target in enumerate((lo, hi)):
        check(cancel)
        steps = Steps(progress, i, 1, 3, prefix=f"density, aiming at {100 * target:.1f} % head pixels: ")
        n = heads_for_coverage(
            heads, fakes, base, target, fake_ratio, seed=seed, cancel=cancel, seen=seen, progress=steps
        )
        ends.append(n)  # each count measured was reported in this end's third of the bar
        report(progress, i + 1, 3, f"density: heads per frame for {100 * target:.1f} % head pixels")
    n_heads = tuple(sorted(max(1, round(n)) for n in ends))  # where more heads cover less, the ends may swap
    lower = [(end, b) for end, n, b in zip(("low", "high"), n_heads, base.n_heads) if n < b]  # (end, setting)
    if lower and not allow_sparser:
        kept = " and ".join(f"{end} end {b}" for end, b in lower)
        warnings.append(
            f"the painted frames match n_heads {n_heads}, sparser than the settings' {tuple(base.n_heads)} at the "
            f"{' and '.join(end for end, _ in lower)} end; kept the settings' {kept}, which teach more per clip "
            f"(allow_sparser / --allow-sparser matches them anyway)"
        )
        n_heads = (max(n_heads[0], base.n_heads[0]), max(n_heads[1], base.n_heads[1]))
    n_fakes = tuple(_fakes(n, fake_ratio) for n in n_heads)
    if not allow_sparser:  # the fakes only grow with the heads too (their ratio alone may lower an end)
        n_fakes = tuple(max(n, b) for n, b in zip(n_fakes, base.n_fakes))
    if n_heads == tuple(base.n_heads):
        n_fakes = tuple(base.n_fakes)
    config = base.replace(n_heads=n_heads, n_fakes=n_fakes)
    report(progress, 2, 3, f"density: measuring clips of {n_heads[0]}-{n_heads[1]} heads per frame")
    synthetic = {
        key: round(
            synthetic_coverage(heads, fakes, _with_heads(config, n, fake_ratio), seed=seed + 1, cancel=cancel), 4
        )
        for key, n in (("low", n_heads[0]), ("high", n_heads[1]))
    }
    report(progress, 3, 3, "density matched")
    overrides = {k: v for k, v in (("n_heads", n_heads), ("n_fakes", n_fakes)) if tuple(getattr(base, k)) != v}
    return DensityMatch(config, measured, synthetic, overrides, warnings)
