"""Layer-name and metadata conventions of dvos layers (one place, so the reader, the state and every step agree)."""

from __future__ import annotations

AXIS_LABELS = ("frame", "y", "x")  # the time slider of a video is labelled "frame"


def image_name(video_id: str) -> str:
    return video_id


def masks_name(video_id: str) -> str:
    return f"{video_id} masks"


def predicted_name(video_id: str) -> str:
    return f"{video_id} predicted"


def probability_name(video_id: str) -> str:
    return f"{video_id} probability"


def tracks_name(video_id: str) -> str:
    return f"{video_id} head tracks"


def layer_metadata(project_path, video_id: str, role: str) -> dict:
    """What a dvos layer carries: the project, the video and its role (image, masks, predicted, probability)."""
    return {"dvos_project": str(project_path), "dvos_video": video_id, "dvos_role": role}
