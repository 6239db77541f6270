"""Which masks of a stored video a tool reads - a model's predictions or the stored labels - and the video's frames
with them, a few at a time (the overlay video and the head counter share this)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dvos_core.shell import quote

CHUNK = 16  # frames read from the store at a time


def prediction_set(project, video, model: str | None):
    """``model``'s prediction set of ``video`` (default the most recent); a video without predictions, or a model
    that has not predicted it, is an error naming the fix (and the sets it has). A set made by a checkpoint trained
    again since (or, smoothed, from a set made again since) is read with a warning saying so and how to make it
    again."""
    models = video.predictions.models()
    if model not in models if model is not None else not models:  # a damaged set named, not "no predictions"
        video.predictions.raise_damaged(model)
    if model is not None and model not in models:
        from dvos_core.store.notes import predict_fix

        raise ValueError(
            f"{project.path}: video {video.name!r} has no predictions by {model!r} (its predictions: "
            f"{models or 'none'}); {predict_fix(project.path, model, [video.name])}"
        )
    chosen = video.predictions[model] if model is not None else video.predictions.latest()
    if not chosen.exists():
        raise ValueError(
            f"{project.path}: video {video.name!r} has no predictions yet; predict it first (`dvos predict "
            f"{quote(project.path)} MODEL --videos {quote(video.name)}`) or use its stored masks (leave out "
            f"--predictions)"
        )
    from dvos_core.store.project import outdated_record

    d = outdated_record(chosen)
    if d:
        from dvos_core.store.notes import outdated_warning
        from dvos_core.user_warnings import warn_user

        effect = "what is read from them is out of date"
        warn_user(outdated_warning(project.path, chosen.model, d, [video.name], effect, "first to use what it is now"))
    return chosen


def masks_of(which: str | None, model: str | None) -> str:
    """``which`` masks a function reads: as given, else 'predictions' when a ``model`` is named (its masks are
    predictions) and 'labels' when not (the stored masks, as the commands without ``--predictions``). A ``model``
    with ``which='labels'`` is an error: it would be left unused."""
    if which is None:
        return "predictions" if model else "labels"
    if which == "labels" and model:
        raise ValueError(
            f"model={model!r} names a prediction set, which which='labels' (the stored masks) does not read"
        )
    return which


def stored_masks(project, video, which: str, model: str | None):
    """(read(a, b) -> (masks (n, H, W) uint8 of frames a..b-1, present (n,) bool), what the masks are, for
    messages): ``which='labels'``, the stored masks of any provenance; ``'predictions'``, ``model``'s predictions
    (default the most recent set; an error naming the fix when the video has none). The leftover of an interrupted
    import is refused (:meth:`~dvos_core.store.Video.require_complete`); a damaged file is named in the error."""
    video.require_complete()
    if which == "labels":

        def read(a, b):
            codes = video.provenance[a:b]
            return video.read_masks(a, b), codes > 0

        return read, "stored masks"
    if which != "predictions":
        raise ValueError(f"which must be 'labels' or 'predictions', got {which!r}")
    chosen = prediction_set(project, video, model)

    def read(a, b):
        return np.asarray(chosen.read("masks", slice(a, b))), chosen.finished(slice(a, b))

    return read, f"predictions of {chosen.model!r}"


def frames_and_masks(video, read) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """(t, frame, mask or None) for every frame of ``video`` in order, ``read`` from :func:`stored_masks`."""
    n = video.n_frames
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        frames = video.read_frames(a, b)
        masks, present = read(a, b)
        for i in range(b - a):
            yield a + i, frames[i], masks[i] if present[i] else None
