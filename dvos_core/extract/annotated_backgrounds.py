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

from dvos_core.extract._checks import (
    check_int,
    check_persons_mask,
    check_seed,
    frame_seed,
    not_a_persons_mask,
    painted_videos,
    same_video,
    training_videos,
    video_token,
)
from dvos_core.extract.fingerprint import frame_sha, mask_sha
from dvos_core.extract.inpaint import METHODS, head_hole, inpaint_heads
from dvos_core.motion.transforms import invert, to3x3, warp_to
from dvos_core.progress import CancelToken, ProgressFn, Steps, check, report
from dvos_core.store.lock import writes_store
from dvos_core.store.schema import INPAINTED
from dvos_core.threads import runs_with_threads
from dvos_core.user_warnings import warn_user

MOTIONS = ("auto", "measured", "default", "none")
ORIGIN = INPAINTED  # the origin attribute of the clips made here


MAX_DILATE = 256  # px: --dilate beyond this is refused (OpenCV's kernel grows with its square)
MIN_FIELD_SHARE = 0.1  # a frame whose grown heads leave less field than this gives a clip filled mostly from little


def _plan(project, video_ids, frames) -> tuple[list[tuple[str, int]], dict]:
    """The (video, frame) pairs to make clips from, and {video id: its Video}, each video opened once. A frame is
    checked by its provenance alone (a mask is there, and a person's): no mask is read here."""
    from dvos_core.store.schema import CORRECTED, MANUAL, NONE, id_list

    video_ids = id_list(video_ids)
    chosen = video_ids is not None
    if video_ids is None:
        video_ids = [v for v in project.video_ids() if _training_split(project.video(v))]
    if frames is not None and not chosen:  # --frames without --videos: a video nobody painted (bare field) is not
        # one it means
        video_ids = painted_videos(project, video_ids)
    videos = training_videos(project, video_ids, "backgrounds inpainted from its frames", frames)
    plan = []
    for video in videos:
        vid = video.name
        codes = video.provenance
        ts = video.labelled_frames((MANUAL, CORRECTED)).tolist() if frames is None else sorted({int(t) for t in frames})
        for t in ts:
            if codes[t] == NONE:
                raise ValueError(
                    f"video {vid!r} frame {t} has no mask; paint its heads first, or leave it out of --frames (or "
                    f"choose the videos with --videos)"
                )
            check_persons_mask(project, video, int(t), "background clips are inpainted", codes)
            plan.append((vid, int(t)))
    return plan, {video.name: video for video in videos}


def _training_split(video) -> bool:
    return video.split != "test" and video.import_complete


def _nothing_to_do(project) -> ValueError:
    return ValueError(
        f"{project.path}: no annotated frames (painted or corrected masks) to make backgrounds from; paint "
        f"the heads of a few frames first"
    )


def measured_path(video, t0: int, n_frames: int, cancel: CancelToken | None = None) -> np.ndarray:
    """(n_frames, 2, 3) matrices mapping frame ``t0`` onto the views of a clip that follows the video's own camera:
    the window of ``n_frames`` frames holding ``t0`` (as early as possible); its pair motions repeat when the video
    is shorter. Labelled heads are ignored when measuring."""
    from dvos_core.motion.global_motion import estimate_global_motion

    n = len(video)
    if n < 2:
        raise ValueError(
            f"video {video.name!r} has one frame: no camera motion to measure; film its clips with a synthetic "
            f"camera (--motion default; Python: motion='default'), or leave the motion out (auto picks that camera)"
        )
    start = min(int(t0), max(0, n - n_frames))
    stop = min(n, start + n_frames)
    pairs = estimate_global_motion(
        video.frame_run(start, stop), _window_masks(video, start, stop), cancel=cancel
    ).matrices
    j0 = int(t0) - start
    path = np.empty((n_frames, 3, 3))
    path[j0] = np.eye(3)
    for j in range(j0 + 1, n_frames):
        path[j] = to3x3(pairs[(j - 1) % len(pairs)]) @ path[j - 1]
    for j in range(j0 - 1, -1, -1):
        path[j] = to3x3(invert(pairs[j % len(pairs)])) @ path[j + 1]
    return path[:, :2]


def _window_masks(video, start: int, stop: int) -> list:
    """The labelled masks of frames ``[start, stop)`` (zeros where a frame has none): what motion estimation ignores."""
    out = []
    for t in range(start, stop):
        m = video.mask(t)
        out.append(np.zeros(video.shape[1:3], np.uint8) if m is None else m)
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


class InpaintedClips(list):
    """The new :class:`~dvos_core.store.Background` clips of :func:`backgrounds_from_annotated`; ``remade`` maps the
    id of each clip made again for a frame repainted since its clip was made to the ids of the old clips it
    replaced (deleted; a later clip of the run may take such an id, so name a remade clip by its frame);
    ``dropped`` lists the old clips deleted, not made again: of frames repainted so that no field is left to make a
    clip from, and of frames cleared since or whose mask is no longer a person's (see ``_withdrawn_clips``)."""

    def __init__(self, clips=(), remade=None, dropped=()):
        super().__init__(clips)
        self.remade = dict(remade or {})
        self.dropped = list(dropped)


def _done_clips(project, videos: dict, tokens: dict, frames=()) -> tuple[dict, set]:
    """{(video, frame): [clip ids]} of the finished clips inpainted from frames of the videos of ``tokens`` (video id:
    its :func:`~dvos_core.extract._checks.video_token`; a clip of another video once added under that id is not
    counted), and those of ``frames`` repainted since their clip was made (the clip's ``mask_sha`` differs from
    the mask's; a clip without one, made by an older dvos, counts as unchanged). ``videos``: {video id: Video} of
    ``frames``."""
    out: dict = {}
    shas: dict = {}
    for b, a in project.inpainted_clips().items():
        vid = a.get("source")
        if vid in tokens and same_video(a.get("video_created"), tokens[vid]):
            out.setdefault((vid, a.get("frame")), []).append(b)
            if a.get("mask_sha") is not None and (vid, a.get("frame")) in frames:
                shas.setdefault((vid, a.get("frame")), set()).add(a["mask_sha"])
    stale = {(vid, t) for (vid, t), recorded in shas.items() if recorded != {frame_sha(videos[vid], t)}}
    return out, stale


def _usable(
    project, videos: dict, todo: list, dilate_px: int, made_before: bool = False, field_fix=None, n_clips=None
) -> tuple[list, set]:
    """The frames of ``todo`` to make clips from, those that leave some field to fill from once their heads grow by
    ``dilate_px``, and the frames tried and skipped (with a warning naming them): when none is left a ValueError
    names them and the options (unless ``made_before``: other frames asked for gave their clips before, so there are
    some). ``n_clips``: at most this many frames, spread evenly over ``todo``; a frame skipped gives its place to the
    nearest one not tried yet (the one after it first), and only the frames tried have their mask read (None: every
    frame is tried). ``videos``: {video id: Video} of ``todo``. ``field_fix``: see
    :func:`backgrounds_from_annotated` (None: `dvos extract-backgrounds`' options)."""
    full, tried = [], {}

    def fix(frames, cli: str) -> str:  # in the caller's words (``cli``: extract-backgrounds')
        return field_fix(frames, dilate_px) if field_fix else cli

    def usable(i: int) -> bool:
        vid, t = todo[i]
        hole = head_hole(videos[vid].mask(t), dilate_px)
        tried[i] = not hole.all()
        if not tried[i]:
            full.append((f"{vid!r} frame {t}", (vid, t)))
            warn_user(
                f"{project.path}: video {vid!r} frame {t} skipped: its painted heads, grown by "
                f"{dilate_px} px, cover the whole frame, so no field is left to fill them from",
            )
            return False
        field = 1.0 - float(hole.mean())
        if field < MIN_FIELD_SHARE:
            warn_user(
                f"{project.path}: video {vid!r} frame {t}: its painted heads, grown by {dilate_px} px, leave "
                f"only {100 * field:.1f} % of the frame as field, from which the rest is filled: its clip will be "
                f"smeared field; {fix([(vid, t)], 'lower --dilate, or leave the frame out (--frames)')}",
            )
        return True

    n = len(todo)
    if n_clips is None or n_clips >= n:
        keep = [i for i in range(n) if usable(i)]
    else:
        keep = []
        for k in np.linspace(0, n - 1, n_clips).round().astype(int).tolist():
            k = next((j for j in _nearest(k, n) if j not in tried and usable(j)), None)
            if k is None:  # every frame tried
                break
            keep.append(k)
    if full and not keep and not made_before:
        cli = "lower --dilate, or choose frames with some bare field (--frames, --videos)"
        raise ValueError(
            f"{project.path}: no background clip can be made: the painted heads (grown by {dilate_px} px) "
            f"cover the whole of {', '.join(n for n, _ in full)}; {fix([p for _, p in full], cli)}"
        )
    return [todo[i] for i in sorted(keep)], {p for _, p in full}


def _nearest(k: int, n: int):
    """The indices of ``range(n)`` by their distance from ``k`` (``k``, ``k + 1``, ``k - 1``, ``k + 2``, ...)."""
    for d in range(n):
        if k + d < n:
            yield k + d
        if d and k - d >= 0:
            yield k - d


@writes_store
@runs_with_threads(torch=False)
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
    threads: int | None = None,
    field_fix=None,
):
    """Make one background clip of ``clip_length`` frames per annotated frame (see the module docstring).

    ``video_ids``: default all but test videos (naming a test video is an error); ``frames``: frame numbers, for
    every video chosen (default: every frame with a painted or corrected mask; a frame named must hold one too: a
    pseudo-label, a prediction or a synthetic mask is refused, naming the fixes, as for the heads). ``n_clips``: at
    most this many new clips, from annotated frames spread evenly over the ones still to do (default: one per
    annotated frame); only the masks of the frames chosen are read, and a frame that cannot give a clip (below)
    gives its place to the nearest frame not tried yet.
    ``dilate_px``: 0 to :data:`MAX_DILATE`. A frame whose grown heads cover it whole is skipped with a warning (an
    error when no frame is left and none of those asked for gave a clip before). ``camera``: SynthConfig or dict of
    camera_* settings for ``motion="default"``. The clips of frames painted before and cleared since, or whose mask
    is no longer a person's (replaced by a pseudo-label, say), of the videos and ``frames`` the run looks at, are
    deleted with a warning naming them and why (``dropped`` of the list returned); when every painted frame was
    cleared, that is all a run does (no error that there is nothing to make clips from).
    Each clip records the fingerprint of the mask it was inpainted from (``mask_sha``, see
    :mod:`dvos_core.extract.fingerprint`). Frames that already gave a clip (of the same video: clips record its
    ``created`` attribute as ``video_created``) are skipped unless repainted since (their mask's fingerprint differs
    from the clip's; a clip without one counts as unchanged): such a frame's clip is made again, unfinished, and
    only then is its old clip deleted and the new one marked finished (a kill in between leaves the frame without a
    clip, which a plain rerun makes; ``remade`` of the list returned names them), or ``replace``: then their new
    clips are made first, unfinished (ignored
    like the leftover of a killed cut), and only once all of them are in is each frame's old clip deleted and its new
    one marked finished (on an error or a cancel the new clips are removed and the old ones kept; a kill leaves the
    old clips, or, while the swap runs, at most one frame without a clip, which a plain rerun makes). The fill and
    the synthetic camera of a clip are seeded from ``seed``, the video and the frame
    (:func:`~dvos_core.extract._checks.frame_seed`), so a run resumed after a stop makes the clips an uninterrupted
    run makes. Ids are ``<prefix>_000``, ... (prefix: video id + '_inp'). Each clip is committed whole; on cancel
    or error the unfinished clip is removed. Every option is checked before anything is written.
    Returns the new :class:`~dvos_core.store.Background` clips (an :class:`InpaintedClips` list); each records its
    source video, frame, the fingerprint of its mask, inpainting method, dilation and motion in its attributes.
    ``threads``: OpenCV threads for inpainting and measuring the motion (see :mod:`dvos_core.threads`).
    ``field_fix(frames, dilate_px)``: the fix the warning (and error) for ``frames`` ((video, frame) pairs) whose grown
    heads leave little or no field name, in the words of a caller that has not `dvos extract-backgrounds`' options
    (run-all's: the command that makes the clips); None: lower --dilate, or leave the frames out (--frames).
    """
    from dvos_core.store import safe_id

    if motion not in MOTIONS:
        raise ValueError(f"--motion must be one of {', '.join(MOTIONS)}, got {motion!r}")
    if method not in METHODS:
        raise ValueError(f"--inpaint must be one of {', '.join(METHODS)}, got {method!r}")
    clip_length = check_int(clip_length, "--clip-length", 1, "frames per clip")
    if n_clips is not None:
        n_clips = check_int(n_clips, "--clips", 1, "leave it out for one clip per annotated frame")
    dilate_px = check_int(dilate_px, "--dilate", 0, "0 fills the painted pixels alone")
    if dilate_px > MAX_DILATE:
        raise ValueError(
            f"--dilate must be at most {MAX_DILATE} px, got {dilate_px}; it grows each head by a few pixels to "
            f"cover its soft edge (default 6)"
        )
    seed = check_seed(seed)
    plan, videos = _plan(project, video_ids, frames)
    withdrawn = _withdrawn_clips(project, video_ids, frames, plan)
    if not plan and not withdrawn:
        raise _nothing_to_do(project)
    tokens = {vid: video_token(videos[vid]) for vid in {v for v, _ in plan}}
    done, stale = _done_clips(project, videos, tokens, () if replace else set(plan))
    todo = plan if replace else [p for p in plan if p not in done or p in stale]
    made_before = not replace and any(p in done for p in plan)
    todo, skipped = _usable(project, videos, todo, dilate_px, made_before, field_fix, n_clips)
    dropped = _drop_withdrawn(project, withdrawn)
    dropped += _drop_unusable_stale(project, stale & skipped, done, dilate_px)
    total = len(todo) * (clip_length + 1)
    clips, taken, remade = [], set(), {}
    try:
        for i, (vid, t) in enumerate(todo):
            check(cancel)
            again = (vid, t) in stale  # repainted: its new clip takes the old one's place once it is whole
            clips.append(
                _make_clip(
                    project,
                    vid,
                    t,
                    i,
                    tokens[vid],
                    clip_length,
                    dilate_px,
                    method,
                    motion,
                    camera,
                    bg_prefix or f"{safe_id(vid)}_inp",
                    seed,
                    progress,
                    cancel,
                    total,
                    finish=not (replace or again),
                    taken=taken,
                )
            )
            taken.add(clips[-1].name)
            if again:  # a kill from here until the new clip is marked finished leaves the frame without a clip
                for b in done[(vid, t)]:
                    project.delete_background(b)
                clips[-1].mark_complete()
                remade[clips[-1].name] = list(done[(vid, t)])
    except BaseException:
        if replace:  # all or nothing: the old clips stay, the new ones go
            for bg in clips:
                project.delete_background(bg.name)
        raise
    if replace:
        # the new clips were left unfinished (ignored like the leftover of a killed cut), so a kill before this
        # point keeps the old clips alone; now each frame's old clips go, then its new clip is marked finished (a
        # kill in between leaves that frame without a clip, made again by a plain rerun, never with two)
        for bg, p in zip(clips, todo):
            for b in done.get(p, []):
                project.delete_background(b)
            bg.mark_complete()
    report(progress, total, total, f"{len(clips)} background clips from annotated frames")
    return InpaintedClips(clips, remade, dropped)


def _withdrawn_clips(project, video_ids, frames, plan) -> dict:
    """{(video, frame): (why, [clip ids])} of the finished clips inpainted from frames of the videos (and ``frames``)
    a run looks at whose masks are no longer a person's (painted or corrected): ``why`` is 'cleared' (no mask, or a
    frame past the video's end) or what the mask is now (say 'a pseudo-label': the painted mask replaced by a
    model's; :func:`~dvos_core.extract._checks.not_a_persons_mask`). The clip shows the field around heads the user
    withdrew, so it must not feed synthesis, as the frame's objects must not (the same rule:
    :func:`dvos_core.extract.heads._withdrawn`). A clip without a fingerprint (made by an older dvos) from a frame
    that still holds a mask is kept; so are the clips of test videos, of unfinished imports, of another video once
    under that id, of frames the run does not look at, and of bare-field videos (not inpainted)."""
    from dvos_core.store.schema import id_list

    chosen = id_list(video_ids)
    present = set(project.video_ids())
    wanted = None if frames is None else {int(t) for t in frames}
    planned, videos, out = set(plan), {}, {}
    for b, a in sorted(project.inpainted_clips().items()):
        vid, t = a.get("source"), a.get("frame")
        if vid not in present or (chosen is not None and vid not in chosen) or t is None:
            continue
        t = int(t)
        if (vid, t) in planned or (wanted is not None and t not in wanted):
            continue  # a planned frame's clip is made again when repainted (_done_clips)
        if vid not in videos:
            videos[vid] = project.video(vid)
        video = videos[vid]
        if (
            video.split == "test"
            or not video.import_complete
            or not same_video(a.get("video_created"), video_token(video))
        ):
            continue
        why = not_a_persons_mask(video, t)
        if why == "cleared" or (why is not None and a.get("mask_sha") is not None):
            out.setdefault((vid, t), (why, []))[1].append(b)
    return out


def _drop_withdrawn(project, withdrawn: dict) -> list:
    """Delete the clips of :func:`_withdrawn_clips`, each frame's with a warning naming them and why; returns their
    ids."""
    gone = []
    for (vid, t), (why, ids) in sorted(withdrawn.items()):
        for b in ids:
            project.delete_background(b)
        gone += ids
        now = "was cleared since" if why == "cleared" else f"now holds {why}, not a mask a person painted or corrected"
        warn_user(
            f"{project.path}: the background clip(s) {', '.join(ids)} of video {vid!r} frame {t} were deleted: the "
            f"frame {now}, and clips are inpainted only from a person's masks, so they no longer feed synthesis"
        )
    return gone


def _drop_unusable_stale(project, frames, done: dict, dilate_px: int) -> list:
    """Delete the clips of ``frames``: repainted since their clip was made, whose mask as painted now leaves no
    field to make one from (skipped with a warning). The old clip shows the field around the old heads - heads the
    new mask may mark among it - so it must not feed synthesis; returns the ids deleted."""
    gone = []
    for vid, t in sorted(frames):
        ids = list(done.get((vid, t), []))
        for b in ids:
            project.delete_background(b)
        if ids:
            gone += ids
            warn_user(
                f"{project.path}: the background clip(s) {', '.join(ids)} of video {vid!r} frame {t} were deleted: "
                f"made from the mask painted before, and the mask as painted now (grown by {dilate_px} px) "
                f"leaves no field to make a new one from"
            )
    return gone


def _make_clip(
    project,
    vid,
    t,
    i,
    token,
    clip_length,
    dilate_px,
    method,
    motion,
    camera,
    prefix,
    seed,
    progress,
    cancel,
    total,
    finish: bool = True,
    taken: set | None = None,
):
    """One clip: frame ``t`` of ``vid`` with its heads inpainted, filmed along the camera path. ``finish``: mark it
    finished (else the caller does, see ``replace``); ``taken``: ids of this run's unfinished clips, not reused."""
    video = project.video(vid)
    h, w = video.shape[1:3]
    report(progress, i * (clip_length + 1), total, f"{vid}[{t}]: inpainting the heads")  # seconds on a 4K frame
    fill_seed = int(np.random.SeedSequence(frame_seed(seed, vid, t)).generate_state(1)[0])
    mask = video.mask(t)
    still, info = inpaint_heads(video.frame(t), mask, dilate_px, method, seed=fill_seed)
    kind = motion if motion != "auto" else ("measured" if len(video) > 1 else "default")
    if kind == "measured":
        path = measured_path(video, t, clip_length, cancel)
    elif kind == "default":
        path = synthetic_path(h, w, clip_length, camera, seed=frame_seed(seed, vid, t, 1))
    else:
        path = np.tile(np.eye(2, 3), (clip_length, 1, 1))
    report(progress, i * (clip_length + 1) + 1, total, f"{vid}[{t}]: heads inpainted")
    shifts = _shifts(path, (h, w))
    from dvos_core.extract.backgrounds import _free_ids

    bg_id = _free_ids(project, prefix, 1, taken)[0]
    bg = project.create_background(
        bg_id,
        h,
        w,
        source=vid,
        frame=int(t),
        video_created=token,
        mask_sha=mask_sha(mask),
        origin=ORIGIN,
        inpaint={"method": method, "dilate_px": int(dilate_px), **info},
        motion={"kind": kind, "median_shift_px": float(np.median(shifts)) if shifts.size else 0.0},
        fps=video.attrs.get("fps"),
        import_complete=False,  # until its last frame is in: a killed run leaves no clip that looks finished
    )
    try:
        bg.append_frames(
            clip_frames(still, path),
            n_total=clip_length,
            batch=8,
            cancel=cancel,
            progress=Steps(progress, i * (clip_length + 1) + 1, clip_length, total, f"{bg_id}: "),
        )
        if finish:
            bg.mark_complete()
    except BaseException:
        project.delete_background(bg_id)
        raise
    return bg
