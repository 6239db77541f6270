"""napari reader: video files and folders of frames (lazy, frame by frame) and dvos project stores (first video + its
masks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dvos_core.io.readers import VIDEO_SUFFIXES  # the core's list: the reader offers only what the core reads
from dvos_napari._lazy import LazyFrames
from dvos_napari._names import image_name, layer_metadata, masks_name


def is_project(path) -> bool:
    """True when ``path`` is a dvos project folder (a Zarr group whose attributes say format=dvos-project)."""
    meta = Path(path) / "zarr.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("attributes", {}).get("format") == "dvos-project"
    except (OSError, ValueError):
        return False


def get_reader(path):
    """npe2 reader hook: return a reader function for a video file or a dvos project, else None."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(str(path).rstrip("/"))
    if p.is_dir():
        if is_project(p):
            return read_project
        return read_video if _holds_frames(p) else None  # a folder of frames, read as dvos stores it
    if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file():
        return read_video
    return None


def _holds_frames(folder: Path) -> bool:
    """Whether ``folder`` holds images dvos reads as a video's frames (as ``dvos add-video`` does)."""
    from dvos_core.io.readers import IMAGE_SUFFIXES, image_files

    try:
        return bool(image_files(folder, IMAGE_SUFFIXES))
    except (OSError, ValueError):
        return False


def read_video(path):
    """A video file as one lazy RGB image layer (decoded frame by frame while you scrub)."""
    if isinstance(path, (list, tuple)):
        path = path[0]
    from dvos_core.io import open_video

    reader = open_video(path)
    data = LazyFrames.from_reader(reader, name=f"video file {str(path)!r}")
    meta = {
        "name": Path(path).stem,
        "rgb": True,
        "metadata": {"dvos_source": str(path), "fps": getattr(reader, "fps", None)},
    }
    return [(data, meta, "image")]


def video_layers(project, video_id: str):
    """Layer tuples (lazy frames image + masks labels) for one video of an open project."""
    from dvos_napari._layers import mask_buffer

    v = project.video(video_id)
    frames = LazyFrames.from_zarr(v.frames, v.n_frames, name=f"video {video_id!r}")
    masks = mask_buffer(v)
    return [
        (
            frames,
            {"name": image_name(video_id), "rgb": True, "metadata": layer_metadata(project.path, video_id, "image")},
            "image",
        ),
        (
            masks,
            {"name": masks_name(video_id), "opacity": 0.5, "metadata": layer_metadata(project.path, video_id, "masks")},
            "labels",
        ),
    ]


def _usable(project, video_id: str) -> bool:
    """Whether a video can be shown: its files read and its import finished (the Project step lists the others and
    says how to repair or replace them)."""
    from dvos_core.store import StoreError

    try:
        return project.video(video_id).import_complete
    except StoreError:
        return False


def read_project(path):
    """A dvos project: its first video (lazy frames + masks). The Project dock lists and opens the others."""
    if isinstance(path, (list, tuple)):
        path = path[0]
    from dvos_core.store import Project

    project = Project.open(path)
    ids = [v for v in project.video_ids() if _usable(project, v)]  # damaged videos and killed imports left out
    if not ids:
        # An empty project still opens (the state adopts it from this placeholder's metadata).
        data = np.zeros((1, 8, 8), np.uint8)
        return [
            (
                data,
                {
                    "name": f"{Path(path).name} (empty project)",
                    "visible": False,
                    "metadata": {"dvos_project": str(project.path), "dvos_role": "placeholder"},
                },
                "image",
            )
        ]
    return video_layers(project, ids[0])
