"""Checks of where an export writes, made before any work: never inside the project, never over a video's footage.

An export names its file or folder freely (``dvos export-video``, ``count-heads --out``, ``export-masks``,
``export-csv``). A path inside the project folder would write past the store's writer lock and could replace its
metadata (``zarr.json``), and a path equal to the file a video was imported from would replace the user's original
footage, as a folder of frames a video was imported from would take files of the same names; all are refused
with the reason, as are a file name that is an existing folder and a folder whose parent is a file.
"""

from __future__ import annotations

import math
from pathlib import Path

from dvos_core.shell import user_path

FPS_RANGE = (0.01, 1000.0)  # frame rates the video writers accept (mp4v fails above 65535, MJPG under 1)


NAME_MAX = 255  # bytes in one file name on the usual file systems


def partial_path(path) -> Path:
    """The hidden name an output file is written under until it is whole (``.NAME.partial`` before the suffix when
    it keeps one, e.g. ``.plot.partial.mp4``); a name that would pass :data:`NAME_MAX` bytes (an output name of 240
    accented letters is legal, its hidden name was not) is shortened to a digest of it."""
    import hashlib
    import os

    path = Path(path)
    hidden = f".{path.stem}.partial{path.suffix}"
    if len(os.fsencode(hidden)) > NAME_MAX:
        digest = hashlib.sha1(os.fsencode(path.name)).hexdigest()[:16]
        hidden = f".{digest}.partial{path.suffix[:32]}"
    return path.with_name(hidden)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _check_not_in_project(path: Path, project) -> None:
    if project is None:
        return
    root = Path(project.path).resolve()
    if _inside(path, root):
        raise ValueError(
            f"{path}: lies inside the project folder {root}; writing there could damage the store: choose a path "
            f"outside it"
        )


def _check_parent(path: Path) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PermissionError(
                    f"{path}: cannot create the output folder, {parent} is a file: choose another path"
                )
            return


def _sources(project) -> dict:
    """{resolved source file or folder: video id} of the project's videos imported from a file or a folder."""
    found = {}
    for vid in project.video_ids():
        try:
            source = project.video(vid).attrs.get("source")
        except Exception:  # an unreadable video's metadata is reported by the commands that read it
            continue
        if isinstance(source, str) and source:
            found[Path(source).resolve()] = vid
    return found


def check_output_file(path, project=None) -> Path:
    """``path`` as an absolute Path, after checking it can be written as a new or replaced file: not inside the
    project folder, not a video's source footage, not an existing folder, its folder creatable."""
    path = user_path(path).resolve()
    _check_not_in_project(path, project)
    if project is not None:
        vid = _sources(project).get(path)
        if vid is not None:
            raise ValueError(
                f"{path}: is the file video {vid!r} was imported from; writing it would replace your original "
                f"footage: choose another file name"
            )
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give a file name")
    _check_parent(path)
    return path


def check_output_folder(path, project=None, subfolders: tuple[str, ...] = ()) -> Path:
    """``path`` as an absolute Path, after checking a folder can be created or written there: not inside the
    project folder, not a video's source folder of frames (nor one inside the ``subfolders`` the export writes
    into), not an existing file, its parent creatable."""
    path = user_path(path).resolve()
    _check_not_in_project(path, project)
    if project is not None:
        for source, vid in _sources(project).items():
            if source == path or any(_inside(source, path / sub) for sub in subfolders):
                raise ValueError(
                    f"{path}: holds the frames video {vid!r} was imported from ({source}); writing there would "
                    f"mix files into (or replace) your original footage: choose another folder"
                )
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path}: is a file, not a folder; give a folder to write into")
    _check_parent(path)
    return path


def check_fps(fps, what: str = "fps") -> float:
    """A frame rate the video writers accept (:data:`FPS_RANGE`), as a float."""
    try:
        rate = float(fps)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of frames per second, got {fps!r}") from None
    low, high = FPS_RANGE
    if not math.isfinite(rate) or not low <= rate <= high:
        raise ValueError(f"{what} must be between {low:g} and {high:g} frames per second, got {fps!r}")
    return rate
