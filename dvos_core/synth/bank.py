"""The object bank's heads and fakes, and the background clips, that synthesis may use: none made from a test video.

A test video's painted masks are the ground truth it is scored against; heads cut from them and pasted into training
clips would leak it into training. ``extract-objects`` never cuts from a test video, but a bank can still hold such
heads: cut by an older dvos, or cut before the video was made a test video. Synthesis leaves them out and says so.
"""

from __future__ import annotations

import numpy as np

from dvos_core.user_warnings import warn_user


def test_video_ids(project) -> set[str]:
    """Ids of the project's test videos."""
    return {v.name for v in project.videos(include_incomplete=True) if v.split == "test"}


def training_objects(project, kind: str) -> list[np.ndarray]:
    """The RGBA crops of ``kind`` ("head" or "fake") in the bank, but for those cut from a test video."""
    tests = test_video_ids(project)
    return [rgba for rgba, record in project.objects.load(kind) if record.get("video") not in tests]


def check_training_objects(project) -> None:
    """Warn, per kind, how many objects of the bank are left out of synthesis for having been cut from a test
    video, and how to take them out of the bank; refuse a bank whose every head is such. From the bank's counts
    per video: no crop is read."""
    counts = {vid: project.objects.video_counts(vid) for vid in sorted(test_video_ids(project))}
    for kind in ("head", "fake"):
        videos = [vid for vid, c in counts.items() if c.get(kind)]
        n = sum(counts[vid][kind] for vid in videos)
        if not n:
            continue
        if kind == "head" and n >= project.objects.count("head"):
            raise ValueError(
                f"{project.path}: every head of the object bank was cut from a test video; cut heads from training "
                f"videos (`dvos extract-objects {project.path} --replace`)"
            )
        warn_user(
            f"{project.path}: {n} {kind}s of the object bank were cut from test video(s) {', '.join(videos)}, whose "
            f"masks are their ground truth: they are left out of the synthetic clips (`dvos extract-objects "
            f"{project.path} --replace` cuts the bank again from the training videos only)",
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
        f"whose frames never feed training: {what} (delete them: `dvos delete {project.path} background ID --yes`)"
    )
