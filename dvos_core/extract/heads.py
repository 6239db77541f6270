"""Extract real heads (and fake heads) from annotated frames into the project's object bank."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace

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
from dvos_core.extract.components import frame_objects, instance_labels
from dvos_core.extract.fakes import FAKES_ASKED, heads_integral, make_fake_heads
from dvos_core.extract.fingerprint import mask_sha, repainted
from dvos_core.object_format import HALO_PX, OBJECT_ALPHA_MIN
from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.shell import quote
from dvos_core.store.lock import writes_store
from dvos_core.store.objects import ItemRef
from dvos_core.threads import runs_with_threads
from dvos_core.user_warnings import warn_user

MIN_AREA = 50  # extraction's default --min-area: the smallest blob cut as a head, in pixels


def _plan(project, video_ids, frames, labels) -> list[tuple[str, int]]:
    """(video id, frame) pairs to extract from, in order."""
    from dvos_core.store.schema import CORRECTED, MANUAL, id_list

    labels = labels or {}
    video_ids = id_list(video_ids)
    chosen = video_ids is not None
    if video_ids is None:
        named = {v for v, _ in labels}  # label maps name their videos: those are not left out
        video_ids = sorted(set(project.video_ids()) | named)
        video_ids = [vid for vid in video_ids if project.video(vid).split != "test"]
        left_out = [vid for vid in video_ids if not project.video(vid).import_complete and vid not in named]
        painted = painted_videos(project, left_out)
        if painted:  # the others have no frame to extract from anyway
            warn_user(
                f"{project.path}: left out the painted frames of the interrupted import(s) {painted} (only part "
                f"of their frames were written; `dvos info {quote(project.path)}` lists them)",
            )
        video_ids = [vid for vid in video_ids if vid not in left_out]
    if frames is not None and not chosen:  # --frames without --videos: a video nobody painted (bare field) is not
        # one it means
        video_ids = painted_videos(project, video_ids, also={v for v, _ in labels})
    videos = training_videos(project, video_ids, "heads cut from its ground truth", frames)
    plan = []
    for video in videos:
        vid = video.name
        if frames is None:
            ts = set(video.labelled_frames((MANUAL, CORRECTED)).tolist())
            ts |= {int(t) for v, t in labels if v == vid}
        elif isinstance(frames, Mapping):
            ts = {int(t) for t in frames.get(vid, [])}
        else:
            ts = {int(t) for t in frames}
        for t in sorted(ts):
            if (vid, t) not in labels and video.mask(t) is None:
                raise ValueError(
                    f"video {vid!r} frame {t} has no mask; paint it (or import masks) before extracting "
                    f"heads, or leave it out of --frames (or choose the videos with --videos)"
                )
            if (vid, t) in labels:
                _check_labels(video, t, labels[(vid, t)])
            else:
                check_persons_mask(project, video, t, "heads are cut")
            plan.append((vid, t))
    return plan


def _withdrawn(project, bank, video_ids, frames, plan) -> dict:
    """{(video id, frame): why} of the frames of the videos (and ``frames``) a run looks at whose heads are in the
    bank, cut from a stored mask that is no longer a person's (painted or corrected): their objects must go, as a
    repainted frame's do. ``why`` (:func:`~dvos_core.extract._checks.not_a_persons_mask`): 'cleared' (the frame
    cleared since), or what its mask is now (say 'a pseudo-label': the painted mask replaced by a model's). Objects
    cut before dvos recorded their mask (no ``mask_sha``), from a label map (None) or from an earlier video of the
    same id are left alone."""
    from dvos_core.store.schema import id_list

    chosen = id_list(video_ids)
    planned = set(plan)
    if isinstance(frames, Mapping):
        wanted = {vid: {int(x) for x in ts} for vid, ts in frames.items()}
    else:
        every = None if frames is None else {int(x) for x in frames}

    def asked(vid: str, t: int) -> bool:
        if chosen is not None and vid not in chosen:
            return False
        if frames is None:
            return True
        return t in (wanted.get(vid, ()) if isinstance(frames, Mapping) else every)

    cut = [p for p in bank.frames_with("head") if p not in planned and asked(*p)]
    if not cut:
        return {}
    latest, videos, out, present = bank.latest_records(cut), {}, {}, set(project.video_ids())
    for vid, t in cut:
        rec = latest.get((vid, t)) or {}
        if not rec.get("mask_sha") or vid not in present:  # a deleted video's objects: `dvos info` names them
            continue
        if vid not in videos:
            videos[vid] = project.video(vid)
        video = videos[vid]
        if video.split == "test" or not same_video(rec.get("video_created"), video_token(video)):
            continue
        why = not_a_persons_mask(video, t)
        if why is not None:
            out[(vid, t)] = why
    return out


def withdrawn_note(withdrawn) -> str:
    """The words of a run's ``withdrawn`` frames ((video, frame, why) of :func:`extract_heads`' ``attrs``): whose
    objects were removed, and why (each frame named, up to a few)."""
    withdrawn = sorted(withdrawn)
    named = [f"{v!r} frame {t} ({'cleared since' if why == 'cleared' else 'now ' + why})" for v, t, why in withdrawn]
    more = f" and {len(named) - 4} more" if len(named) > 5 else ""
    named = named[:4] if more else named
    return (
        f"the objects of {len(withdrawn)} frame(s) removed, their masks no longer a person's (heads come only from "
        f"painted or corrected masks): {', '.join(named)}{more}"
    )


def _check_labels(video, t: int, lab) -> None:
    lab = np.asarray(lab)
    if lab.shape != video.shape[1:3]:
        raise ValueError(f"label map for {video.name}[{t}] has shape {lab.shape}, expected {video.shape[1:3]}")
    if not np.issubdtype(lab.dtype, np.integer) or (lab.size and lab.min() < 0):
        raise ValueError(
            f"label map for {video.name}[{t}] must hold non-negative integers (0 = background, one id per "
            f"head), got dtype {lab.dtype}"
        )


def _label_map(project, vid: str, t: int, labels) -> tuple[np.ndarray, str | None]:
    """The frame's instance labels, and the fingerprint of the stored mask they come from (None for a label map
    given in ``labels``)."""
    if (vid, t) not in labels:
        mask = project.video(vid).mask(t)
        return instance_labels(mask)[0], mask_sha(mask)
    return np.asarray(labels[(vid, t)]).astype(np.int32), None  # checked by _plan


def largest_blob(labels: np.ndarray, below: int | None = None) -> int:
    """The area in pixels of the largest object of ``labels`` (an instance label map; of those smaller than
    ``below`` pixels when it is given), 0 when there is none."""
    areas = np.bincount(np.asarray(labels).ravel())[1:]
    if below is not None:
        areas = areas[areas < below]
    return int(areas.max()) if areas.size else 0


def painted_heads_note(project, min_area: int = MIN_AREA, most: int = 200) -> str:
    """Why the object bank holds no heads, and what to do, in words for an error that needs them (synthesis): no
    frame of a training video painted, or painted frames whose blobs are all under ``min_area`` (extraction's
    default --min-area) or not extracted yet. Reads the masks of at most ``most`` painted frames."""
    from dvos_core.store.schema import CORRECTED, MANUAL

    painted = [
        (video, int(t))
        for video in project.videos()
        if video.split != "test"
        for t in video.labelled_frames((MANUAL, CORRECTED))
    ]
    if not painted:
        return "paint a few frames and extract heads first (`dvos extract-objects`)"
    largest = max(largest_blob(instance_labels(video.mask(t))[0]) for video, t in painted[:most])
    if 0 < largest < min_area:
        return (
            f"the heads painted in {len(painted)} frame(s) of training videos are all under the --min-area of `dvos "
            f"extract-objects` ({min_area} px by default; the largest is {largest} px), so none was cut; if your heads "
            f"are that small, "
            f"extract them with a lower --min-area (`dvos extract-objects {quote(project.path)} --min-area {largest}`)"
        )
    return (
        f"extract heads from the {len(painted)} painted frame(s) of training videos first (`dvos extract-objects "
        f"{quote(project.path)}`); if you did, every blob painted was under the --min-area it was given (the largest "
        f"is {largest} px)"
    )


def _replaced(project, video_ids, frames, plan):
    """What ``replace`` deletes: None for the whole bank (no ``video_ids`` given), else a test of a record: cut from
    one of ``video_ids`` (with ``frames`` given, from one of the planned frames of them)."""
    from dvos_core.store.schema import id_list

    chosen = id_list(video_ids)
    if chosen is None:
        return None
    chosen, planned = set(chosen), set(plan)
    if frames is None:
        return lambda r: r.get("video") in chosen
    return lambda r: (r.get("video"), r.get("frame")) in planned


@writes_store
@runs_with_threads(torch=False)
def extract_heads(
    project,
    video_ids: Sequence[str] | None = None,
    frames=None,
    min_area: int = MIN_AREA,
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
    Frames: those with human masks (manual/corrected) unless ``frames`` (a list for every video, or a dict {video
    id: [frames]}) is given; a frame of ``frames`` must hold a person's mask too (a pseudo-label, a prediction or a
    synthetic mask is refused, naming the fixes), or have a label map in ``labels``. Heads are the 8-connected
    components of the mask, or the ids of an instance label map given as ``labels[(video id, frame)]``. Components
    smaller than ``min_area`` (or larger than ``max_area``) pixels are dropped and counted. Each head is stored as
    an RGBA crop (bounding box + ``margin`` pixels; alpha 255 on the head, RGB zero and alpha 0 outside it) with its
    statistics; fakes have kind 'fake' and ``source`` = the id of the real head whose silhouette they use; where
    their textures are taken from is drawn from ``seed``, the video and the frame, so a frame gives the same fakes
    whichever frames the run extracts (say, a run resumed after a stop or a kill). ``halo_px`` > 0 keeps a ring of
    that many pixels of the frame around each head (alpha 1..127, fading outwards; never another head's pixels), and
    each fake keeps its own surroundings alike: synthesis pastes the ring with the object, as the edge it really
    has, and never labels it (0 = the objects alone).

    Each object records the fingerprint of the mask it was cut from (``mask_sha``, see
    :mod:`dvos_core.extract.fingerprint`; None for a frame cut from a label map of ``labels``). Frames already
    extracted are skipped unless repainted since (their mask's fingerprint differs from the one their objects
    record; objects without one, cut by an older dvos, count as unchanged): a repainted frame's objects are removed
    and the frame is cut again (counted as ``recut_frames``; a kill between the two leaves the frame unextracted,
    so a rerun cuts it). A frame counts as extracted only for the same video: objects record the video's
    ``created`` attribute (``video_created``), so a video added under the id of a deleted one is extracted afresh.
    Without ``replace``, objects are committed frame by frame (a frame's heads and fakes in one commit, so a frame
    with heads has its fakes), so a cancel or a kill keeps the frames finished so far.

    ``replace`` cuts every planned frame again and deletes the objects cut before: those of ``video_ids`` when they
    are given (with ``frames`` too: of those frames of them; the other videos' objects are kept as they are, ids and
    pixels), else every object in the bank (of any video). The old objects go only once the new extraction has
    finished and cut at least one head: the new objects are written past the committed bank and committed in one
    step at the end, so on an error, a cancel or a kill (power cut) the old bank is kept whole and none of the new
    objects is counted. Every option is checked before anything is written. Returns a DataFrame of the rows added
    (nothing new cut: no rows, with the columns of the bank's rows); its ``attrs`` hold the counts (frames, heads,
    fakes, too_small, largest_too_small: the area in pixels of the largest of those, too_large, fakes_failed,
    skipped_frames, recut_frames, unfingerprinted_frames: the skipped frames whose objects record no fingerprint,
    whose repaint cannot be seen, and withdrawn_frames: the frames cut before whose objects were removed, their
    masks no longer a person's, listed in ``withdrawn`` as (video, frame, why), why 'cleared' or what the mask is now,
    say 'a pseudo-label'; :func:`withdrawn_note` words them). A run that cuts no head where blobs were under
    ``min_area`` warns, naming the largest of them and --min-area.
    ``threads``: OpenCV threads (see :mod:`dvos_core.threads`).
    """
    import pandas as pd

    from dvos_core.store import Project

    project = Project.of(project)

    min_area = check_int(min_area, "--min-area", 1, "the smallest head kept, in pixels")
    if max_area is not None:
        max_area = check_int(max_area, "--max-area", 1, "the largest head kept, in pixels (leave it out: no limit)")
        if max_area < min_area:
            raise ValueError(
                f"--max-area {max_area} is below --min-area {min_area}: every head would be skipped; give a "
                f"--max-area of at least {min_area}, or leave it out (no limit)"
            )
    fakes_per_head = check_int(fakes_per_head, "--fakes-per-head", 0, "0 makes no fakes")
    halo_px = check_int(halo_px, "--halo-px", 0, "0 cuts the head alone")
    seed = check_seed(seed)
    margin = check_int(margin, "margin", 0)
    max_tries = check_int(max_tries, "max_tries", 1)
    if not 0.0 <= float(max_overlap) <= 1.0:
        raise ValueError(f"max_overlap must be between 0 and 1 (a share of the fake's area), got {max_overlap}")
    labels = dict(labels or {})
    plan = _plan(project, video_ids, frames, labels)
    bank = project.objects
    stats = {
        "frames": 0,
        "heads": 0,
        "fakes": 0,
        "too_small": 0,
        "largest_too_small": 0,
        "too_large": 0,
        "fakes_failed": 0,
        "skipped_frames": 0,
        "recut_frames": 0,
        "unfingerprinted_frames": 0,
        "withdrawn_frames": 0,
        "withdrawn": [],
    }
    tokens = {vid: video_token(project.video(vid)) for vid in {v for v, _ in plan}}
    had = len(bank)
    replaced = _replaced(project, video_ids, frames, plan) if replace else None
    stale: set = set()
    if replace:
        if not plan and had:
            raise ValueError(
                f"{project.path}: --replace found no painted frames to extract from, so the {len(bank)} objects "
                f"in the bank were kept; paint (or import masks of) some frames first"
            )
    elif len(bank):
        done = bank.frames_with("head")  # from the id index: no table decode
        again = [p for p in plan if p in done]
        if again:  # the same video, not another one added since under a deleted video's id
            latest = bank.latest_records(again)
            done = {p for p in again if p in latest and same_video(latest[p].get("video_created"), tokens[p[0]])}
            stale = {p for p in done if repainted(latest[p].get("mask_sha"), project.video(p[0]), p[1])}
            done -= stale
            stats["unfingerprinted_frames"] = sum("mask_sha" not in latest[p] for p in done)  # label maps: None
        stats["skipped_frames"] = sum(p in done for p in plan)
        stats["recut_frames"] = len(stale)
        withdrawn = _withdrawn(project, bank, video_ids, frames, plan)
        stats["withdrawn_frames"] = len(withdrawn)
        stats["withdrawn"] = sorted((vid, t, why) for (vid, t), why in withdrawn.items())
        stale |= set(withdrawn)  # their objects go too, and nothing is cut from them
        plan = [p for p in plan if p not in done]
    if plan or stale:  # a project that cannot be written fails now, not after every head was cut
        project.check_writable("extract heads")
    opts = SimpleNamespace(
        seed=seed,
        min_area=min_area,
        max_area=max_area,
        fakes_per_head=fakes_per_head,
        halo_px=halo_px,
        margin=margin,
        max_overlap=max_overlap,
        max_tries=max_tries,
    )
    run = (plan, labels, tokens, stats, opts, progress, cancel)
    if not replace:  # committed frame by frame: a cancel or a kill keeps the frames finished
        if stale:  # their objects go first (one commit); a kill before they are cut again leaves them unextracted
            check(cancel)
            bank.remove(
                lambda r: (r.get("video"), r.get("frame")) in stale,
                f"removing the objects of {len(stale)} repainted or cleared frame(s)",
            )
        added = _extract(project, bank, *run)
    else:  # all or nothing: the new bank is committed once, at the end; until then the old one stays as it was
        step = "replacing the object bank (--replace)" if replaced is None else "replacing objects (--replace)"
        with bank.rebuild(step) as new:
            if replaced is not None and had:  # the objects not asked for stay as they are (ids, records, pixels)
                new.keep_where(lambda r: not replaced(r))
            added = _extract(project, new, *run)
            if had and not stats["heads"]:
                # --max-area named only where it was given (the napari step has no such field)
                large = "" if max_area is None else f", {stats['too_large']} over --max-area {max_area} px"
                biggest = f"; the largest is {stats['largest_too_small']} px" if stats["largest_too_small"] else ""
                raise ValueError(
                    f"{project.path}: --replace cut no heads from the {stats['frames']} painted frames "
                    f"({stats['too_small']} blobs under --min-area {min_area} px{biggest}{large}), so the "
                    f"{bank.count('head')} heads already in the bank were kept; lower --min-area"
                    + ("" if max_area is None else " (or raise --max-area)")
                )
            new.commit()
    if not replace and stats["too_small"] and not stats["heads"]:  # (with --replace: the error above)
        warn_user(
            f"{project.path}: no heads were cut from the {stats['frames']} painted frame(s): all "
            f"{stats['too_small']} blobs painted there are smaller than --min-area {min_area} px (the largest is "
            f"{stats['largest_too_small']} px), the size under which a blob is taken for a speck of paint; if your "
            f"heads are that small, run it again with a lower --min-area (`dvos extract-objects {quote(project.path)} "
            f"--min-area {stats['largest_too_small']}`)"
        )
    # nothing new cut (a rerun): no rows, with the columns of the bank's rows, as a run that cut some has
    out = pd.concat(added, ignore_index=True) if added else project.objects.table().iloc[:0]
    out.attrs = {**out.attrs, **stats}
    return out


def _extract(project, bank, plan, labels, tokens, stats, opts, progress, cancel) -> list:
    """Cut the heads and fakes of ``plan``'s frames into ``bank`` (the project's object bank, committed frame by
    frame, or a :class:`~dvos_core.store.objects.BankRebuild`); counts go to ``stats``. Returns the DataFrames of
    the rows added. ``opts``: the extraction settings (seed, areas, margin, halo, fakes per head, overlap, tries)."""
    import pandas as pd

    added = []
    report(progress, 0, len(plan), "extracting heads")
    for i, (vid, t) in enumerate(plan):
        check(cancel)
        frame = project.video(vid).frame(t)
        lab, sha = _label_map(project, vid, t, labels)
        objs, small, large = frame_objects(
            frame, lab, min_area=opts.min_area, max_area=opts.max_area, margin=opts.margin, halo_px=opts.halo_px
        )
        if small:
            stats["largest_too_small"] = max(stats["largest_too_small"], largest_blob(lab, below=opts.min_area))
        stats["too_small"] += small
        stats["too_large"] += large
        stats["frames"] += 1
        made_by = {"video": vid, "frame": t, "video_created": tokens[vid], "mask_sha": sha}  # None: a label map
        if objs:  # the frame's heads and fakes in one append, one commit: a kill keeps both or neither
            fakes, heads_mask = [], lab > 0
            integral = heads_integral(heads_mask) if opts.fakes_per_head else None  # once per frame, not per head
            rng = np.random.default_rng(frame_seed(opts.seed, vid, t))  # per frame: a resumed run makes the same fakes
            for at, (rgba, rec) in enumerate(objs):
                made, failed = make_fake_heads(
                    frame,
                    heads_mask,
                    rgba[..., 3] >= OBJECT_ALPHA_MIN,  # the object, not its halo
                    opts.fakes_per_head,
                    rng,
                    max_overlap=opts.max_overlap,
                    max_tries=opts.max_tries,
                    halo_px=opts.halo_px,
                    integral=integral,
                )
                stats["fakes_failed"] += failed
                shape = {k: rec[k] for k in ("eccentricity", "aspect")}
                fakes.extend(
                    (
                        f,
                        {
                            "kind": "fake",
                            **made_by,
                            "source": ItemRef(at),  # the id its head gets in the append
                            "touches_border": rec["touches_border"],  # its head's silhouette: cut by the edge too
                            **shape,
                            **frec,
                        },
                    )
                    for f, frec in made
                )
            asked = {FAKES_ASKED: opts.fakes_per_head}  # that fakes were tried (or not wanted), even if none was made
            rows = bank.append([(rgba, {"kind": "head", **made_by, **asked, **rec}) for rgba, rec in objs] + fakes)
            heads = pd.DataFrame.from_records(rows[: len(objs)])
            added.append(heads)
            stats["heads"] += len(heads)
            if fakes:
                made_fakes = pd.DataFrame.from_records(rows[len(objs) :])
                added.append(made_fakes)
                stats["fakes"] += len(made_fakes)
        report(progress, i + 1, len(plan), f"{vid}[{t}]: {stats['heads']} heads, {stats['fakes']} fakes")
    return added
