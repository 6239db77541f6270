"""Write edited masks back into the project store (the Labels writer and the docks' save buttons).

Provenance rule: a frame painted from scratch is saved as ``manual``; a frame whose mask came from the model
(pseudo-label or prediction) and was then edited is saved as ``corrected``. Both are human labels: they enter the
training set the trainer reads next and are never overwritten by later predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dvos_core.store.schema import CORRECTED, MANUAL, PREDICTED, PSEUDO


def provenance_for(video, t: int, edited_prediction: bool = False, shown: int | None = None) -> str:
    """'corrected' when frame t held a model mask or a correction (or the edit was made on a prediction), else
    'manual'. ``shown``: the provenance code of the mask the layer showed when it was painted, when another mask was
    stored since (what the person edited, not what is stored now)."""
    if edited_prediction:
        return "corrected"
    code = int(video.provenance[t]) if shown is None else int(shown)
    return "corrected" if code in (PSEUDO, PREDICTED, CORRECTED) else "manual"


def save_frames(
    video,
    data,
    frames,
    edited_prediction: bool = False,
    provenance: str | None = None,
    model: str | None = None,
    shown: dict | None = None,
    codes=None,
) -> list[int]:
    """Save ``data[t]`` (a (T,H,W) label array) as the mask of each frame t; returns the frames written. Corrections
    of a prediction set's masks (``edited_prediction``) record the set, ``model`` (see
    ``Video.correction_sources``). ``shown``: {frame: provenance code the layer showed} of frames whose stored mask
    was written since they were painted (:meth:`DvosState.written_under_paint`): their provenance follows what was
    painted over. ``codes``: the video's provenance codes, when the caller has read them (else read here, once)."""
    saved = []
    shown = shown or {}
    if codes is None and provenance is None and not edited_prediction:
        codes = video.provenance  # (read once for every frame: each read of it reads the whole array)
    # (a set deleted since the layer was shown: no source to record)
    source = model if edited_prediction and model is not None and video.predictions[model].exists() else None
    for t in sorted({int(t) for t in frames}):
        # every nonzero label is a head, a negative one too (napari paints and shows it; mask_differs counts it)
        mask = (np.asarray(data[t]) != 0).astype(np.uint8)
        held = shown.get(t, None if codes is None else int(codes[t]))  # what was painted over
        prov = provenance or provenance_for(video, t, edited_prediction, held)
        corrected_from = source if prov == "corrected" else None
        if video.set_mask(t, mask, prov, overwrite=True, corrected_from=corrected_from):
            saved.append(t)
    return saved


def save_painted(state, video, data, frames) -> tuple[list[int], str | None]:
    """Save the painted ``frames`` of a masks layer (:func:`save_frames`); returns the frames written and what to
    tell the user, or None: when the paint replaced a mask stored after the layer showed the frame (another
    program's, e.g. `dvos pseudo-label` run from a terminal meanwhile), a sentence that says so - such a frame is
    saved by what was painted over: paint on a frame shown empty is 'manual', never a 'corrected' pseudo-label nobody
    saw -, and when heads painted with different label numbers touch (:func:`touching_note`)."""
    from dvos_core.store.schema import PROVENANCE_NAMES

    shown = state.written_under_paint(video, frames) if state is not None else {}
    codes = video.provenance  # (read once: each read of it reads the whole array)
    stored = {t: int(codes[t]) for t in shown}
    saved = save_frames(video, data, frames, shown=shown, codes=codes)
    notes = [touching_note(video.name, data, saved)]
    replaced = [t for t in saved if stored.get(t)]
    if replaced:
        parts = []
        for t in replaced:
            now, was = provenance_for(video, t, shown=shown[t]), PROVENANCE_NAMES[stored[t]]
            parts.append(f"frame {t} saved as '{now}' over its '{was}' mask")
        notes.insert(
            0,
            f"{video.name}: your paint replaced a mask that another program (or a job) wrote after the frame was "
            f"shown here, which you had not seen: {'; '.join(parts)}",
        )
    return saved, " ".join(n for n in notes if n) or None


def touching_note(video_id: str, data, frames) -> str | None:
    """What becomes of heads painted with different label numbers that touch on the saved ``frames`` of ``data``
    (they merge into one head in the stored binary mask: :func:`~dvos_core.store.arrays.touching_heads`), or None."""
    from dvos_core.store.arrays import touching_heads, touching_words

    found = {}
    for t in frames:
        merged = touching_heads(_nonnegative(np.asarray(data[t])))
        if merged:
            found[int(t)] = merged
    if not found:
        return None
    heads, groups = (sum(v[i] for v in found.values()) for i in (0, 1))
    where = f" on frame{'s' if len(found) > 1 else ''} {', '.join(map(str, sorted(found)))} of {video_id}"
    return f"{video_id}: {touching_words(heads, groups, where=where)}."


def _nonnegative(frame: np.ndarray) -> np.ndarray:
    """``frame`` with each negative label moved above the largest one (a head painted with label -5 is a head, as
    :func:`save_frames` stores it, told from its neighbours of other numbers), 0 still the background."""
    if not np.issubdtype(frame.dtype, np.signedinteger) or not frame.size or frame.min() >= 0:
        return frame
    f = frame.astype(np.int64)
    return np.where(f < 0, max(int(f.max()), 0) - f, f)


def _stored(video, t: int, source: str, model: str | None = None):
    """The stored mask of frame t from ``source`` ('masks' or 'predicted': of prediction set ``model``, default the
    most recent), or None when there is none."""
    if source == "predicted":
        chosen = video.predictions[model] if model else video.predictions.latest()
        pred = chosen.get(t) if chosen.exists() else None  # a set deleted since the layer was shown: nothing stored
        return None if pred is None else pred[0]
    return video.mask(t)


def changed_frames(video, data, source: str = "masks", model: str | None = None, frames=None) -> list[int]:
    """Frames whose mask in ``data`` differs from what the store holds for the layer it came from.

    ``source='masks'`` compares the non-empty frames with the label masks (an empty frame there is one not
    annotated); ``'predicted'`` compares with the stored predictions of ``model`` (the set the layer shows), so
    saving a predicted layer writes only the frames a person edited, never the untouched predictions - a predicted
    frame erased to nothing included (its right answer: no heads). ``frames``: compare only these (default every
    frame; each comparison reads a stored mask).
    """
    from dvos_napari._layers import mask_differs

    out = []
    for t in (
        range(video.n_frames) if frames is None else sorted(int(f) for f in frames if 0 <= int(f) < video.n_frames)
    ):
        d = np.asarray(data[t])
        if not d.any() and source != "predicted":
            continue
        if mask_differs(d, _stored(video, t, source, model)):  # nothing stored: painted here if anything is there
            out.append(t)
    return out


def _video_id(meta: dict, project) -> str:
    md = meta.get("metadata") or {}
    vid = md.get("dvos_video")
    if not vid:
        name = str(meta.get("name", ""))
        for suffix in (" masks", " predicted"):
            if name.endswith(suffix):
                vid = name[: -len(suffix)]
    if not vid or vid not in project.video_ids():
        raise ValueError(
            f"cannot tell which video the Labels layer {meta.get('name')!r} belongs to; name it "
            f"'<video id> masks' with a video id from {project.video_ids()}"
        )
    return vid


def _tracking_viewer(path, vid: str, name: str):
    """(viewer, its dvos state) of the current napari viewer when it shows this project and tracks the paint of layer
    ``name`` for video ``vid``; None when no viewer does (a layer from elsewhere, or a script).

    Such a layer is saved by its painted frames only: another program (``dvos clear-masks``, ``import-masks``,
    ``pseudo-label``) may have written the video since the layer was read, so its other frames differ from the store
    without anyone having painted them, and writing them would put the old masks back (as human labels)."""
    import os

    try:
        import napari
    except ImportError:
        return None
    from dvos_napari import _layers
    from dvos_napari._state import _STATES

    viewer = napari.current_viewer()
    state = _STATES.get(viewer) if viewer is not None else None
    if state is None or state.project is None:
        return None
    if os.path.realpath(str(state.project.path)) != os.path.realpath(str(path)):
        return None
    layer = _layers.find_layer(viewer, name)
    if layer is None or _layers._video_of(layer) != vid or not _layers.is_tracked(layer, state):
        return None
    return viewer, state


def write_labels(path: str, data, meta: dict) -> list[str]:
    """npe2 writer: save a ``<video> masks`` / ``<video> predicted`` Labels layer into the dvos project at ``path``.

    Of a masks layer, the non-empty frames that differ from the store are written (an empty frame is read as 'not
    annotated'); of a predicted layer, the frames edited away from the stored prediction of the set it shows (its
    ``dvos_model`` metadata, else the most recent set; a frame erased to nothing too), as 'corrected', but never
    over a mask a person painted (left, with a warning). A layer a dvos viewer tracks writes only its painted
    frames among those, so what another program wrote meanwhile is not overwritten with what the layer read before.
    Which of the two a layer is, its ``dvos_role`` metadata says (a renamed layer keeps its role); its name
    (``... predicted``) only for a layer without one. Nothing written (no frame differs): a warning that says why, and
    no path (napari's writer contract).
    """
    from dvos_core.store import Project

    project = Project.open(path)
    vid = _video_id(meta, project)
    video = project.video(vid)
    from dvos_napari._layers import check_layer_shape, replaced_message, shows_other_video

    md = meta.get("metadata") or {}
    if shows_other_video(md, video):
        raise ValueError(replaced_message(video))
    check_layer_shape(video, data, meta.get("name"))
    name = str(meta.get("name", ""))
    # the role dvos gave the layer decides; its name only for a layer without one (a masks layer renamed to end in
    # " predicted" is still a masks layer: read as a prediction, its paint was not saved and a correction was lost)
    role = md.get("dvos_role")
    edited_prediction = role == "predicted" if role else name.endswith(" predicted")
    source = "predicted" if edited_prediction else "masks"
    tracking = _tracking_viewer(path, vid, name)
    painted = None
    if tracking is not None:  # only what was painted here: other differences are another program's newer writes
        from dvos_napari import _layers

        viewer, state = tracking
        if not edited_prediction:  # data replaced from outside dvos: its frames that differ count as painted
            _layers.resolve_replaced(viewer, state, vid)
        painted = _layers.unsaved_corrections(viewer, vid) if edited_prediction else state.dirty.get(vid, ())
    # a tracked layer compares its painted frames only (a 600-frame video's comparison read every stored mask)
    changed = changed_frames(video, data, source, md.get("dvos_model"), frames=painted)
    kept_any = False
    if edited_prediction:  # a mask a person painted is never replaced by a fixed prediction without a question
        kept = [t for t in changed if int(video.provenance[t]) == MANUAL]
        changed = [t for t in changed if t not in kept]
        kept_any = bool(kept)
        if kept:
            import warnings

            warnings.warn(
                f"{vid}: frames {kept} hold masks painted by a person, which saving the predicted layer would "
                f"replace: they were left as they are (Review's Save correction asks, frame by frame)",
                stacklevel=2,
            )
    if edited_prediction:
        shown = md.get("dvos_model") or video.predictions.latest().model
        saved = save_frames(video, data, changed, edited_prediction=True, model=shown)
        note = touching_note(vid, data, saved)
    else:  # a frame written since the layer showed it: saved by what was painted over, and said
        saved, note = save_painted(tracking[1] if tracking is not None else None, video, data, changed)
    if note:
        import warnings

        warnings.warn(note, stacklevel=2)
    if tracking is not None:  # the viewer's unsaved-paint records no longer hold the frames just saved
        if edited_prediction:
            _layers.mark_corrections_saved(viewer, vid, saved)
            state.dirty_changed.emit(vid)
        else:
            state.mark_saved(vid, saved)
        state.notify_store_changed()
    if not saved:  # napari's writer contract: no path when nothing was written (napari then says the save failed)
        import warnings

        if kept_any:
            why = "its frames that differ hold masks painted by a person, left as they are"
        elif edited_prediction:
            why = f"no frame of it differs from the prediction of set '{shown}' that the project holds"
        else:
            why = "no painted frame of it differs from the masks the project holds (saved already, or none painted)"
        warnings.warn(f"{name or vid}: nothing was saved to video '{vid}' of {Path(path).name}: {why}", stacklevel=2)
        return []
    return [str(Path(path))]
