"""The object bank's heads and fakes, and the background clips, that synthesis may use: none made from a test video.

A test video's painted masks are the ground truth it is scored against; heads cut from them and pasted into training
clips would leak it into training. ``extract-objects`` never cuts from a test video, but a bank can still hold such
heads: cut by an older dvos, or cut before the video was made a test video. Synthesis leaves them out and says so.
"""

from __future__ import annotations

import numpy as np

from dvos_core.shell import quote
from dvos_core.user_warnings import warn_user


def test_video_ids(project) -> set[str]:
    """Ids of the project's test videos."""
    return {v.name for v in project.videos(include_incomplete=True) if v.split == "test"}


def synthesis_objects(project, border_heads: str = "auto") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The (heads, fakes) RGBA crops synthesis pastes, read in one pass: none cut from a test video, and, as
    ``border_heads`` (:class:`~dvos_core.synth.config.SynthConfig`) says, none of the heads cut by their frame's edge
    nor of the fake heads made from them (:func:`edge_cut_plan`)."""
    tests = test_video_ids(project)
    objects = [(rgba, r) for rgba, r in project.objects.load() if r.get("video") not in tests]
    drop = edge_cut_plan([r for _rgba, r in objects], border_heads)[0]
    kept = [(rgba, r) for rgba, r in objects if r.get("id") not in drop]
    return [rgba for rgba, r in kept if r["kind"] == "head"], [rgba for rgba, r in kept if r["kind"] == "fake"]


def _flag(value) -> bool:
    return isinstance(value, (bool, np.bool_)) and bool(value)  # (a bank's table holds NaN where a record has none)


def edge_cut_plan(rows: list[dict], border_heads: str) -> tuple[set, int, int]:
    """(ids to leave out, heads cut by their frame's edge, whole heads) of the bank records ``rows``. A head whose
    painted shape touches its frame's edge (``touches_border``) has a straight cut side, not its outline: pasted
    mid-frame it teaches the model heads with straight sides. 'skip' leaves such heads out, with the fakes made from
    them (their silhouette: the fake's ``source``); 'auto' does so while MIN_WHOLE_HEADS whole heads remain; 'use'
    keeps them."""
    from dvos_core.synth.config import MIN_WHOLE_HEADS

    cut = {r["id"] for r in rows if r["kind"] == "head" and _flag(r.get("touches_border"))}
    whole = sum(1 for r in rows if r["kind"] == "head") - len(cut)
    if not cut or border_heads == "use" or (border_heads == "auto" and whole < MIN_WHOLE_HEADS):
        return set(), len(cut), whole
    fakes = {
        r["id"]
        for r in rows
        if r["kind"] == "fake" and (_flag(r.get("touches_border")) or _source(r.get("source")) in cut)
    }
    return cut | fakes, len(cut), whole


def _source(value):
    try:
        return int(value)
    except (TypeError, ValueError):  # no source (NaN in the table, None): made by an older dvos, or not a fake
        return None


def edge_cut_note(project, border_heads: str) -> str | None:
    """What synthesis does with the bank's heads cut by their frame's edge (:func:`edge_cut_plan`), from the records
    only: a line to show when they are left out, a warning (said here) when 'auto' keeps them for want of whole
    heads, and a ValueError when 'skip' leaves no head."""
    from dvos_core.synth.config import MIN_WHOLE_HEADS

    tests = test_video_ids(project)
    rows = [r for r in project.objects.table().to_dict("records") if r.get("video") not in tests]
    drop, cut, whole = edge_cut_plan(rows, border_heads)
    if not cut:
        return None
    edge = "cut by the edge of the frame they were painted in (a straight side, not their outline)"
    if drop and not whole:
        raise ValueError(
            f"{project.path}: every head of the object bank is {edge}, and border_heads 'skip' leaves them all out; "
            f"paint heads that lie inside the frame, or set border_heads: auto (or use) in the synthesis settings "
            f"(the --config file of `dvos synth`)"
        )
    if drop:
        return f"{cut} of {cut + whole} heads {edge} left out, with the fake heads made from them (border_heads)"
    if border_heads == "auto":
        warn_user(
            f"{project.path}: {cut} of the object bank's {cut + whole} heads are {edge}; with only {whole} whole "
            f"head(s) (under {MIN_WHOLE_HEADS}) synthesis pastes them too, and their straight sides mid-frame teach "
            f"the model heads that have none: paint heads away from the frame's edges (whole heads) and extract "
            f"again (`dvos extract-objects {quote(project.path)}`), or set border_heads: use in the synthesis "
            f"settings (the --config file of `dvos synth`; the Synthesize step's settings) to keep them without this "
            f"warning"
        )
    return None


def check_training_objects(project) -> None:
    """Warn, per kind, how many objects of the bank are left out of synthesis for having been cut from a test
    video, and how to take them out of the bank; refuse a bank whose every head is such. From the bank's counts
    per video: no crop is read. A bank of heads without fakes and without a record that fakes were made for them
    (cut before dvos made fakes: :func:`~dvos_core.extract.fakes.no_fakes_warning`) is named with the fix."""
    from dvos_core.extract.fakes import no_fakes_warning

    legacy = no_fakes_warning(project)
    if legacy:
        warn_user(legacy)
    counts = {vid: project.objects.video_counts(vid) for vid in sorted(test_video_ids(project))}
    for kind in ("head", "fake"):
        videos = [vid for vid, c in counts.items() if c.get(kind)]
        n = sum(counts[vid][kind] for vid in videos)
        if not n:
            continue
        if kind == "head" and n >= project.objects.count("head"):
            raise ValueError(
                f"{project.path}: every head of the object bank was cut from a test video; cut heads from training "
                f"videos (`dvos extract-objects {quote(project.path)} --replace`)"
            )
        warn_user(
            f"{project.path}: {n} {kind}s of the object bank were cut from test video(s) {', '.join(videos)}, whose "
            f"masks are their ground truth: they are left out of the synthetic clips (`dvos extract-objects "
            f"{quote(project.path)} --replace` cuts the bank again from the training videos only)",
        )


def test_video_backgrounds(project, ids=None) -> dict[str, str]:
    """{background clip id: test video} of the clips among ``ids`` (default: all) cut or inpainted from a video that
    is a test video now (the same video: its ``created`` token, where the clip recorded one)."""
    from dvos_core.extract._checks import same_video, video_token

    tests = {v.name: v for v in project.videos(include_incomplete=True) if v.split == "test"}
    if not tests:
        return {}
    out = {}
    for b in project.background_ids() if ids is None else ids:
        a = project.background(b).attrs
        vid = a.get("source")
        if vid in tests and same_video(a.get("video_created"), video_token(tests[vid])):
            out[b] = vid
    return out


def test_backgrounds_warning(project, clips: dict[str, str], what: str) -> str:
    """The warning for background clips made from test videos (``clips``: {clip: video}): ``what`` happens to them."""
    shown = ", ".join(sorted(clips)[:8]) + (" ..." if len(clips) > 8 else "")
    videos = ", ".join(sorted(set(clips.values())))
    return (
        f"{project.path}: {len(clips)} background clip(s) ({shown}) were cut or inpainted from test video(s) {videos}, "
        f"whose frames never feed training: {what} (delete them: `dvos delete {quote(project.path)} background ID "
        f"--yes`)"
    )


def head_videos(project) -> list[str]:
    """The videos (not test videos) whose heads synthesis pastes now: what a synthetic set records it was made
    from (``inputs["head_videos"]``), so that a video made a test video later can be told apart."""
    tests = test_video_ids(project)
    return sorted(v for v in project.video_ids() if v not in tests and project.objects.video_counts(v).get("head"))


def sets_from_test_videos(project, names=None) -> dict[str, list[str]]:
    """{synthetic set: [test videos]} of the sets among ``names`` (default all) made with heads cut from videos that
    are test videos now (sets made before the videos were recorded cannot tell, and are left out)."""
    tests = test_video_ids(project)
    out = {}
    for name in project.synthetic_ids() if names is None else names:
        made = (project.synthetic(name).attrs.get("inputs") or {}).get("head_videos") or []
        hit = sorted(set(made) & tests)
        if hit:
            out[name] = hit
    return out


def sets_from_test_videos_warning(project, sets: dict[str, list[str]], what: str) -> str:
    """The warning for synthetic sets made with heads of (now) test videos: ``what`` is said of them."""
    listed = "; ".join(f"{name} (heads of {', '.join(v)})" for name, v in sets.items())
    return (
        f"{project.path}: synthetic set(s) {listed} were made with heads cut from what are now test videos, whose "
        f"masks are the ground truth they are scored against: {what}; make the set again under a new --name (after "
        f"`dvos extract-objects {quote(project.path)} --replace`) and train from that"
    )
