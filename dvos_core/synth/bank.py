"""The object bank's heads and fakes that synthesis may paste: none cut from a test video.

A test video's painted masks are the ground truth it is scored against; heads cut from them and pasted into training
clips would leak it into training. ``extract-objects`` never cuts from a test video, but a bank can still hold such
heads: cut by an older dvos, or cut before the video was made a test video. Synthesis leaves them out and says so.
"""

from __future__ import annotations

import warnings

import numpy as np


def test_video_ids(project) -> set[str]:
    """Ids of the project's test videos."""
    return {v.name for v in project.videos(include_incomplete=True) if v.split == "test"}


def training_objects(project, kind: str, say: bool = False) -> list[np.ndarray]:
    """The RGBA crops of ``kind`` ("head" or "fake") in the bank, but for those cut from a test video; ``say``:
    warn how many were left out, and how to take them out of the bank."""
    tests = test_video_ids(project)
    items = project.objects.load(kind)
    kept = [rgba for rgba, record in items if record.get("video") not in tests]
    if say and len(kept) < len(items):
        videos = sorted({record.get("video") for _, record in items if record.get("video") in tests})
        warnings.warn(
            f"{project.path}: {len(items) - len(kept)} {kind}s of the object bank were cut from test video(s) "
            f"{', '.join(videos)}, whose masks are their ground truth: they are left out of the synthetic clips "
            f"(`dvos extract-objects {project.path} --replace` cuts the bank again from the training videos only)",
            stacklevel=3,
        )
    return kept
