"""Create and refresh the napari layers of a store video (main thread only).

Layers of video ``v``: ``v`` (lazy RGB frames), ``v masks`` (editable Labels of the label masks), ``v predicted``
(editable Labels of the model's masks) and ``v probability`` (lazy Image, magma). Mask buffers are in-memory uint8
(T,H,W) arrays; above :data:`MEMMAP_BYTES` they are memory-mapped temporary files, so a long video costs disk pages,
not RAM, and only frames that have a mask are read from the store.
"""

from __future__ import annotations

import tempfile

import numpy as np

from dvos_napari._lazy import LazyFrames
from dvos_napari._state import image_name, masks_name, predicted_name, probability_name

MEMMAP_BYTES = 256 * 1024 * 1024


def _empty_buffer(shape) -> np.ndarray:
    if int(np.prod(shape)) <= MEMMAP_BYTES:
        return np.zeros(shape, np.uint8)
    f = tempfile.NamedTemporaryFile(prefix="dvos-masks-", suffix=".u8")  # noqa: SIM115 - lives with the buffer
    buf = np.memmap(f, dtype=np.uint8, mode="w+", shape=shape)
    buf._dvos_tmpfile = f  # keep the file alive as long as the buffer
    return buf


def mask_buffer(video, source: str = "masks") -> np.ndarray:
    """(T,H,W) uint8 buffer of a video's label masks (``source='masks'``) or predicted masks (``'predicted'``)."""
    n, h, w, _ = video.shape
    buf = _empty_buffer((n, h, w))
    if source == "masks":
        frames = np.flatnonzero(video.provenance)
        arr = video.group["masks"]
    else:
        frames = video.predicted_frames()
        arrs = video.prediction_arrays()
        arr = arrs[0] if arrs is not None else None
    for t in frames:
        buf[int(t)] = arr[int(t)]
    return buf


def find_layer(viewer, name: str):
    return viewer.layers[name] if name in viewer.layers else None  # noqa: SIM401 - LayerList has no .get


def _metadata(video, role: str) -> dict:
    return {"dvos_project": str(video.path), "dvos_video": video.name, "dvos_role": role}


def track_paint(layer, state, video_id: str) -> None:
    """Record painted frames of ``layer`` in ``state.dirty[video_id]`` (so 'save all painted frames' knows them)."""
    if any(tracked is layer for tracked in state.tracked_layers):
        return

    def on_paint(event=None):
        frames = set()
        for atom in getattr(event, "value", None) or []:
            key = getattr(atom, "slice_key", None)  # mask-based edits (paint, fill, polygon)
            if key is not None and len(key) == 3 and isinstance(key[0], slice):
                frames.update(range(*key[0].indices(layer.data.shape[0])))
            elif isinstance(atom, tuple) and len(atom[0]) == 3:  # data_setitem: (indices, old, new)
                frames.update(int(t) for t in np.unique(np.asarray(atom[0][0])))
        if not frames:
            frames = {state.current_frame()}
        state.dirty.setdefault(video_id, set()).update(frames)

    layer.events.paint.connect(on_paint)
    state.tracked_layers.add(layer)


def show_video(viewer, video, state) -> None:
    """Show a store video as layers, replacing the layers of other (saved) videos."""
    vid = video.name
    for layer in list(viewer.layers):
        other = (layer.metadata or {}).get("dvos_video")
        if (other and other != vid and not state.dirty.get(other)) or (layer.metadata or {}).get(
            "dvos_role"
        ) == "placeholder":
            viewer.layers.remove(layer)
    new = find_layer(viewer, image_name(vid)) is None
    if new:
        viewer.add_image(
            LazyFrames.from_zarr(video.frames, video.n_frames),
            name=image_name(vid),
            rgb=True,
            metadata=_metadata(video, "image"),
        )
    masks = find_layer(viewer, masks_name(vid))
    if masks is None:
        masks = viewer.add_labels(
            mask_buffer(video), name=masks_name(vid), opacity=0.5, metadata=_metadata(video, "masks")
        )
    track_paint(masks, state, vid)
    show_predictions(viewer, video, replace=False)
    viewer.layers.selection.active = masks
    if new:
        viewer.reset_view()


def refresh_masks(viewer, video, frames=None) -> None:
    """Re-read label masks from the store into the masks layer (all frames, or only ``frames``)."""
    layer = find_layer(viewer, masks_name(video.name))
    if layer is None:
        return
    if frames is None:
        layer.data = mask_buffer(video)
        return
    for t in frames:
        m = video.mask(int(t))
        layer.data[int(t)] = 0 if m is None else m
    layer.refresh()


def show_predictions(viewer, video, replace: bool = True) -> bool:
    """Add (or refresh) the predicted-mask Labels and probability Image layers; False when nothing is predicted."""
    arrs = video.prediction_arrays()
    if arrs is None or len(video.predicted_frames()) == 0:
        return False
    vid = video.name
    pred_layer = find_layer(viewer, predicted_name(vid))
    prob_layer = find_layer(viewer, probability_name(vid))
    if pred_layer is not None and not replace:
        return True
    prob = LazyFrames.from_zarr(arrs[1], video.n_frames, dtype=np.float32)
    if prob_layer is None:
        viewer.add_image(
            prob,
            name=probability_name(vid),
            colormap="magma",
            opacity=0.5,
            blending="additive",
            contrast_limits=(0.0, 1.0),
            metadata=_metadata(video, "probability"),
            visible=False,
        )
    else:
        prob_layer.data = prob
    pred = mask_buffer(video, "predicted")
    if pred_layer is None:
        viewer.add_labels(pred, name=predicted_name(vid), opacity=0.5, metadata=_metadata(video, "predicted"))
    else:
        pred_layer.data = pred
    return True
