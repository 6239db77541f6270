"""Checks shared by the extraction functions: done before any work, and worded with the command-line options."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dvos_core.shell import quote


def check_int(value, option: str, low: int, fix: str = "") -> int:
    """``value`` as an int >= ``low``; else a ValueError naming the option (``--seed``) and the fix."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{option} must be a whole number, got {value!r}")
    if value < low:
        raise ValueError(f"{option} must be >= {low}, got {value}" + (f"; {fix}" if fix else ""))
    return int(value)


def check_seed(seed) -> int:
    return check_int(seed, "--seed", 0, "use 0 or a positive number")


def frame_seed(seed: int, video_id: str, t: int, use: int = 0) -> list[int]:
    """The random seed of what is made from frame ``t`` of ``video_id`` (``use`` tells its uses apart: 0 the
    inpainting fill or the fake heads, 1 the synthetic camera): derived from the run's ``seed``, the video and the
    frame alone, so a frame gives the same result whichever frames the run makes (a run resumed after a stop or a
    kill, ``--frames``, ``--clips``)."""
    import zlib

    return [int(seed), zlib.crc32(str(video_id).encode("utf-8")), int(t), int(use)]


def frames_in_range(project, videos: list, frames) -> None:
    """``frames`` (a list for every video, a {video id: frames} dict, or None = the painted frames) all lie inside
    their videos; else one ValueError naming each video whose frame count they exceed."""
    if frames is None:
        return
    bad = []
    for video in videos:
        ts = frames.get(video.name, []) if isinstance(frames, Mapping) else frames
        out = sorted({int(t) for t in ts if not 0 <= int(t) < len(video)})
        if out:
            bad.append(f"{', '.join(map(str, out))} of video {video.name!r} ({len(video)} frames, 0..{len(video) - 1})")
    if bad:
        every = "" if isinstance(frames, Mapping) else " (--frames applies to every video chosen)"
        raise ValueError(
            f"{project.path}: --frames out of range{every}: {'; '.join(bad)}. Give frame numbers from 0 to the "
            f"video's frame count - 1, or choose the videos with --videos"
        )


def video_token(video) -> str | None:
    """What tells this video from another one later added under the same id: its ``created`` attribute. Objects
    and inpainted clips record it (``video_created``), so a video that reuses a deleted video's id is not taken for
    one already extracted."""
    token = video.attrs.get("created")
    return str(token) if token is not None else None


def same_video(recorded, token) -> bool:
    """Whether something derived from a video recorded ``recorded`` (None: made before the token was recorded, so
    taken as the same video) matches the video's current ``token``."""
    return recorded is None or token is None or recorded == token


def training_video(project, video_id: str, made: str, leak: str | None = None):
    """Video ``video_id`` to extract ``made`` (e.g. "heads cut from its masks") from: a finished import, never a
    test video (what is made from it feeds training); else an error naming the fix. ``leak``: what using the test
    video would do, in place of "``made`` would leak it into training" (training itself says its own)."""
    video = project.video(video_id).require_complete()
    if video.split == "test":
        raise ValueError(
            f"{project.path}: video {video_id!r} is a test video; {leak or made + ' would leak it into training'} "
            f"(test frames never feed training). Leave it out, or change its split (`dvos split "
            f"{quote(project.path)} train {quote(video_id)}`)"
        )
    return video


def painted_videos(project, video_ids, also=()) -> list[str]:
    """The videos of ``video_ids`` holding a painted or corrected frame (in their order), and those of ``also``."""
    from dvos_core.store.schema import CORRECTED, MANUAL

    return [v for v in video_ids if v in also or len(project.video(v).labelled_frames((MANUAL, CORRECTED)))]


def training_videos(project, video_ids, made: str, frames=None) -> list:
    """:func:`training_video` for each of ``video_ids``, with ``frames`` checked against them
    (:func:`frames_in_range`)."""
    from dvos_core.store.schema import id_list

    videos = [training_video(project, vid, made) for vid in id_list(video_ids)]
    frames_in_range(project, videos, frames)
    return videos


def not_a_persons_mask(video, t: int, provenance=None) -> str | None:
    """None when frame ``t`` of ``video`` holds a mask a person made (painted or corrected): the only masks heads,
    fakes and inpainted clips are made from. Else why not, in words: 'cleared' (no mask, or a frame past the video's
    end), or what the mask is ('a pseudo-label', "a model's prediction", 'a synthetic mask'). ``provenance``: the
    video's provenance codes already read (``video.provenance``; None reads them)."""
    from dvos_core.store.schema import CORRECTED, MANUAL, PREDICTED, PROVENANCE_NAMES, PSEUDO, SYNTHETIC

    codes = video.provenance if provenance is None else provenance
    code = int(codes[t]) if 0 <= t < len(codes) else 0
    if code in (MANUAL, CORRECTED):
        return None
    if not code:
        return "cleared"
    names = {PSEUDO: "a pseudo-label", PREDICTED: "a model's prediction", SYNTHETIC: "a synthetic mask"}
    return names.get(code, f"a {PROVENANCE_NAMES.get(code, code)} mask")


def check_persons_mask(project, video, t: int, made: str, provenance=None) -> None:
    """Refuse frame ``t`` of ``video`` (named by ``--frames``) whose mask is not a person's
    (:func:`not_a_persons_mask`): ``made`` (e.g. "heads are cut") comes from painted or corrected masks alone,
    since a model's mask misses heads and draws false ones. The error names the frame, its mask and the fixes.
    ``provenance``: see :func:`not_a_persons_mask`."""
    why = not_a_persons_mask(video, t, provenance)
    if why is None or why == "cleared":  # no mask: the caller's own error
        return
    raise ValueError(
        f"video {video.name!r} frame {t} holds {why}, not a mask a person painted or corrected, and {made} only "
        f"from a person's masks: accept or fix it in the Annotate step (Save frame) or the Review step (Save "
        f"correction), or import it as a person's mask (`dvos import-masks {quote(project.path)} "
        f"{quote(video.name)} SOURCE --provenance corrected`), or leave it out of --frames"
    )
