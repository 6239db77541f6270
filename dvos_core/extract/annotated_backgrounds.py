"""Background clips without bare-field footage: annotated frames with their heads inpainted, filmed by a camera.

Each annotated frame (a painted or corrected mask) gives one clip: its heads, grown by a few pixels, are filled
with the surrounding field (:func:`dvos_core.extract.inpaint.inpaint_heads`), and the still is warped along a
camera path, one frame per step:

* ``motion="measured"``: the camera path the video itself had around that frame (global motion measured with
  :mod:`dvos_core.motion`, the heads ignored), repeated when the video is shorter than the clip;
* ``motion="default"``: a synthetic camera path (steady pan, wobble, roll, zoom) drawn from the ``camera``
  settings (a SynthConfig or a dict of its camera_* fields; default: SynthConfig's);
* ``motion="none"``: the still repeated;
* ``motion="auto"`` (default): measured when the video has more than one frame, else default.

Parts of the view that leave the still are filled by mirroring it. The clips are stored like bare-field clips.
"""

from __future__ import annotations

import itertools

import numpy as np

from dvos_core.extract.inpaint import inpaint_heads
from dvos_core.motion.transforms import invert, to3x3, warp_to
from dvos_core.progress import CancelToken, ProgressFn, Steps, check, report

MOTIONS = ("auto", "measured", "default", "none")
ORIGIN = "inpainted"


def _plan(project, video_ids, frames) -> list[tuple[str, int]]:
    from dvos_core.store.schema import CORRECTED, MANUAL

    if video_ids is None:
        video_ids = [v for v in project.video_ids() if project.video(v).split != "test"]
    plan = []
    for vid in video_ids:
        video = project.video(vid)
        if video.split == "test":
            raise ValueError(
                f"{project.path}: video {vid!r} is a test video; backgrounds made from its frames would leak "
                f"its field into training. Leave it out, or change its split"
            )
        ts = video.labelled_frames((MANUAL, CORRECTED)).tolist() if frames is None else sorted({int(t) for t in frames})
        for t in ts:
            if not 0 <= t < len(video):
                raise IndexError(f"{project.path}: frame {t} out of range; video {vid!r} has {len(video)} frames")
            if video.mask(t) is None:
                raise ValueError(f"video {vid!r} frame {t} has no mask; paint its heads first or leave it out")
            plan.append((vid, int(t)))
    if not plan:
        raise ValueError(
            f"{project.path}: no annotated frames (painted or corrected masks) to make backgrounds from; paint "
            f"the heads of a few frames first"
        )
    return plan


def measured_path(video, t0: int, n_frames: int, cancel: CancelToken | None = None) -> np.ndarray:
    """(n_frames, 2, 3) matrices mapping frame ``t0`` onto the views of a clip that follows the video's own camera:
    the window of ``n_frames`` frames holding ``t0`` (as early as possible); its pair motions repeat when the video
    is shorter. Labelled heads are ignored when measuring."""
    from dvos_core.motion.global_motion import estimate_global_motion

    n = len(video)
    if n < 2:
        raise ValueError(f"video {video.name!r} has one frame: no camera motion to measure; use motion='default'")
    start = min(int(t0), max(0, n - n_frames))
    stop = min(n, start + n_frames)
    window = _Window(video, start, stop)
    pairs = estimate_global_motion(window, window.masks(), cancel=cancel).matrices
    j0 = int(t0) - start
    path = np.empty((n_frames, 3, 3))
    path[j0] = np.eye(3)
    for j in range(j0 + 1, n_frames):
        path[j] = to3x3(pairs[(j - 1) % len(pairs)]) @ path[j - 1]
    for j in range(j0 - 1, -1, -1):
        path[j] = to3x3(invert(pairs[j % len(pairs)])) @ path[j + 1]
    return path[:, :2]


class _Window:
    """Frames [start, stop) of a stored video as a frame source, with its labelled masks to ignore."""

    def __init__(self, video, start: int, stop: int):
        self.video, self.start, self.stop = video, start, stop
        self.shape = (stop - start, *video.shape[1:])

    def __getitem__(self, k):
        return self.video.frame(self.start + int(k))

    def masks(self):
        out = []
        for t in range(self.start, self.stop):
            m = self.video.mask(t)
            out.append(np.zeros(self.shape[1:3], np.uint8) if m is None else m)
        return out


def synthetic_path(height: int, width: int, n_frames: int, camera=None, seed=0) -> np.ndarray:
    """(n_frames, 2, 3) matrices of a synthetic camera (SynthConfig camera_* settings) over a still frame."""
    from dvos_core.synth.config import SynthConfig
    from dvos_core.synth.motion import camera_path

    if camera is None:
        cfg = SynthConfig()
    elif isinstance(camera, SynthConfig):
        cfg = camera
    else:
        cfg = SynthConfig.from_dict(dict(camera))
    cfg = cfg.replace(n_frames=int(n_frames), height=max(16, int(height)), width=max(16, int(width)))
    cam = camera_path(np.random.default_rng(seed), cfg)
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    return cam.matrices(centre, height, width)[:, :2]


def clip_frames(still: np.ndarray, path: np.ndarray):
    """Yield the still warped by each matrix of ``path`` (mirrored where the view leaves it)."""
    for m in path:
        yield warp_to(still, m, still.shape, border="reflect")


def _shifts(path: np.ndarray, shape) -> np.ndarray:
    """Displacement of the frame centre between consecutive views of a path (px)."""
    from dvos_core.motion.transforms import compose, decompose, frame_centre

    c = frame_centre(shape)
    out = [decompose(compose(invert(a), b), c) for a, b in itertools.pairwise(path)]
    return np.array([np.hypot(d["dx"], d["dy"]) for d in out])


def _done_frames(project) -> set:
    out = set()
    for b in project.background_ids():
        a = project.background(b).attrs
        if a.get("origin") == ORIGIN:
            out.add((a.get("source"), a.get("frame")))
    return out


def backgrounds_from_annotated(
    project,
    video_ids=None,
    frames=None,
    clip_length: int = 60,
    n_clips: int | None = None,
    dilate_px: int = 6,
    method: str = "texture",
    motion: str = "auto",
    camera=None,
    bg_prefix: str | None = None,
    replace: bool = False,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
):
    """Make one background clip of ``clip_length`` frames per annotated frame (see the module docstring).

    ``video_ids``: default all but test videos; ``frames``: frame numbers (default: every frame with a painted or
    corrected mask). ``n_clips``: at most this many new clips, from annotated frames spread evenly over the ones
    still to do (default: one per annotated frame). ``camera``: SynthConfig or dict of camera_* settings for
    ``motion="default"``. Frames that already gave a clip are skipped unless ``replace`` (which adds new clips;
    delete old ones in the Backgrounds store). Ids are ``<prefix>_000``, ... (prefix: video id + '_inp'). Each clip
    is committed whole; on cancel or error the unfinished clip is removed. Returns the new
    :class:`~dvos_core.store.Background` clips; each records its source video, frame, inpainting method, dilation
    and motion in its attributes.
    """
    from dvos_core.extract.backgrounds import _free_ids
    from dvos_core.store import safe_id

    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {MOTIONS}, got {motion!r}")
    if clip_length < 1:
        raise ValueError(f"clip_length must be >= 1, got {clip_length}")
    if n_clips is not None and n_clips < 1:
        raise ValueError(f"n_clips must be >= 1 (or None: one clip per annotated frame), got {n_clips}")
    plan = _plan(project, video_ids, frames)
    done = set() if replace else _done_frames(project)
    todo = [(v, t) for v, t in plan if (v, t) not in done]
    if n_clips is not None and n_clips < len(todo):
        todo = [todo[int(k)] for k in np.linspace(0, len(todo) - 1, n_clips).round()]
    total = len(todo) * (clip_length + 1)
    clips = []
    for i, (vid, t) in enumerate(todo):
        check(cancel)
        video = project.video(vid)
        h, w = video.shape[1:3]
        still, info = inpaint_heads(video.frame(t), video.mask(t), dilate_px, method, seed=seed + i)
        kind = motion if motion != "auto" else ("measured" if len(video) > 1 else "default")
        if kind == "measured":
            path = measured_path(video, t, clip_length, cancel)
        elif kind == "default":
            path = synthetic_path(h, w, clip_length, camera, seed=[int(seed), i])
        else:
            path = np.tile(np.eye(2, 3), (clip_length, 1, 1))
        report(progress, i * (clip_length + 1) + 1, total, f"{vid}[{t}]: heads inpainted")
        shifts = _shifts(path, (h, w))
        bg_id = _free_ids(project, bg_prefix or f"{safe_id(vid)}_inp", 1)[0]
        bg = project.create_background(
            bg_id,
            h,
            w,
            source=vid,
            frame=int(t),
            origin=ORIGIN,
            inpaint={"method": method, "dilate_px": int(dilate_px), **info},
            motion={"kind": kind, "median_shift_px": float(np.median(shifts)) if shifts.size else 0.0},
            fps=video.attrs.get("fps"),
        )
        try:
            bg.append_frames(
                clip_frames(still, path),
                n_total=clip_length,
                batch=8,
                cancel=cancel,
                progress=Steps(progress, i * (clip_length + 1) + 1, clip_length, total, f"{bg_id}: "),
            )
        except BaseException:
            project.delete_background(bg_id)
            raise
        clips.append(bg)
    report(progress, total, total, f"{len(clips)} background clips from annotated frames")
    return clips
