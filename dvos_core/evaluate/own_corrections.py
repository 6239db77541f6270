"""Ground truth a model made itself: frames whose 'corrected' mask is a person's correction of that model's own
prediction (recorded when the correction was saved: ``Video.correction_sources``), and frames whose pseudo-label the
same checkpoint made (the video's pseudo-labelling record: its ``checkpoint_sha256``).

Scoring a model against such frames measures how much the person changed, not how well the model segments: a
frame accepted as predicted scores 1. Both ``evaluate`` and ``compare_models`` record them (``own_corrections``) and
warn, naming how to score on other frames only (``--gt manual`` leaves every correction out)."""

from __future__ import annotations

from collections.abc import Iterable

from dvos_core.user_warnings import warn_user


def _is_own(record: dict, name: str, sha: str | None) -> bool:
    """Whether a correction's record names the set ``name`` (by its checkpoint when both are known: a set made again
    by another checkpoint, or one smoothed from the same model's set, is told apart or matched by it)."""
    if sha is not None and record.get("checkpoint") is not None:
        return record["checkpoint"] == sha
    return record.get("set") == name


def own_corrections(scored: Iterable[tuple]) -> dict[str, list[int]]:
    """{video: frames} of the frames scored whose ground truth corrects the prediction set that is scored there.

    ``scored``: (prediction set, frames scored) pairs, one per video (a set: ``video.predictions[name]``)."""
    from dvos_core.store.predictions import checkpoint_sha

    found: dict = {}
    for preds, frames in scored:
        sources = preds.video.correction_sources
        if not sources:
            continue
        sha = checkpoint_sha(preds.attrs.get("fingerprint")) if preds.exists() else None
        own = [int(t) for t in frames if int(t) in sources and _is_own(sources[int(t)], preds.model, sha)]
        if own:
            found[preds.video.name] = own
    return found


def _tally(found: dict[str, list[int]]) -> tuple[int, str]:
    """(frames, where in words: "3 in video 'v', ...") of ``found`` ({video: frames})."""
    return sum(len(f) for f in found.values()), ", ".join(f"{len(f)} in video {v!r}" for v, f in found.items())


def warn_own_corrections(model: str, found: dict[str, list[int]], n_scored: int) -> None:
    """Warn that ``model`` was scored on ``found`` ({video: frames}) out of ``n_scored`` frames whose ground truth is
    a correction of its own predictions (nothing when there are none)."""
    n, where = _tally(found)
    if not n:
        return
    warn_user(
        f"{model!r} was scored on {n} of {n_scored} frames whose ground truth is a person's correction of its own "
        f"predictions ({where}): a frame accepted as it was predicted scores 1 there, so its score is optimistic; "
        f"score it on painted masks only for an independent score (`dvos evaluate PROJECT --gt manual`; Python: "
        f"gt_provenances=['manual'])"
    )


def own_pseudo_labels(scored: Iterable[tuple]) -> dict[str, list[int]]:
    """{video: frames} of the frames scored whose ground truth is a pseudo-label made by the checkpoint that made the
    scored prediction set (the video's last pseudo-labelling run, by the checkpoint file's SHA-256): scoring a model
    on its own labels measures how much it agrees with itself. ``scored``: as :func:`own_corrections`."""
    from dvos_core.store.predictions import checkpoint_sha
    from dvos_core.store.schema import PSEUDO

    found: dict = {}
    for preds, frames in scored:
        record = preds.video.attrs.get("pseudo_label")
        made_by = record.get("checkpoint_sha256") if isinstance(record, dict) else None
        sha = checkpoint_sha(preds.attrs.get("fingerprint")) if preds.exists() else None
        if made_by is None or sha != made_by or not len(frames):
            continue
        codes = preds.video.provenance
        own = [int(t) for t in frames if int(codes[int(t)]) == PSEUDO]
        if own:
            found[preds.video.name] = own
    return found


def warn_own_pseudo_labels(model: str, found: dict[str, list[int]], n_scored: int) -> None:
    """Warn that ``model`` was scored on ``found`` ({video: frames}) out of ``n_scored`` frames whose ground truth is
    a pseudo-label its own checkpoint made (nothing when there are none)."""
    n, where = _tally(found)
    if not n:
        return
    warn_user(
        f"{model!r} was scored on {n} of {n_scored} frames whose ground truth is a pseudo-label its own checkpoint "
        f"made ({where}): there it is scored against itself, so its score says how well it agrees with its labels, "
        f"not how well it segments; score it on masks a person made (`dvos evaluate PROJECT --gt manual corrected`; "
        f"Python: gt_provenances=['manual', 'corrected']), e.g. on a test video"
    )
