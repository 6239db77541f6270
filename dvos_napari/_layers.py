"""Create and refresh the napari layers of a store video (main thread; stored masks are read in a worker thread).

Layers of video ``v``: ``v`` (lazy RGB frames), ``v masks`` (editable Labels of the label masks), ``v predicted``
(editable Labels of one model's masks: the prediction set chosen in the state, else the most recent; its name is in
the layer's ``dvos_model`` metadata) and ``v probability`` (lazy Image, magma). Showing a video never waits for the
store: the frames are lazy, and a Labels layer starts empty and read-only while a worker thread copies the stored
masks into it (:func:`load_masks`); it becomes editable when they are all in. Switching videos re-uses the layers of
the previous (saved) video instead of removing them (removing a layer costs napari a garbage collection); the
predicted and probability layers of a video left for one without predictions are set aside, hidden and blank, for the
next video that has some (:func:`set_aside`).

Mask buffers are in-memory uint8 (T,H,W) arrays; above :data:`MEMMAP_BYTES` they are memory-mapped temporary files in
the temporary folder (``TMPDIR``), so a long video costs disk pages, not RAM (unless that folder is a RAM disk, tmpfs).
Their disk space is reserved when they are made (a folder without room gives an error saying so, or an in-memory
buffer), never met later as a bus error while masks are read or painted.
A mask read's worker thread holds its buffer only while it runs (napari keeps every worker it ran), so the buffers of
a video left are freed.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import warnings
import weakref

import numpy as np

from dvos_core.store.schema import NotInStoreError, StoreError
from dvos_napari._lazy import LazyFrames
from dvos_napari._names import (
    AXIS_LABELS,
    image_name,
    layer_metadata,
    masks_name,
    predicted_name,
    probability_name,
)

MEMMAP_BYTES = 256 * 1024 * 1024
# frames painted in a ``<video> predicted`` layer (corrections) and not saved yet, per layer object
_CORRECTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# masks and predicted layers whose data was replaced from outside dvos (``layer.data = ...`` in napari's console, a
# script, another plugin): which frames changed is unknown until they are compared with the project
# (:func:`resolve_replaced`, :func:`unsaved_corrections`); the layer objects themselves, not napari's proxies of them
_REPLACED: weakref.WeakSet = weakref.WeakSet()
# copies napari made of dvos layers (Duplicate Layer) -> (their dvos layer, its video then, frames painted in the copy)
_COPY_PAINT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class NoRoomForMasksError(OSError):
    """The temporary folder has no room for a video's mask buffer (and the memory is too short to hold it)."""


def _gb(nbytes: int) -> str:
    return f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:.1f} MB"


def _available_memory() -> int:
    """Bytes of memory the system can still give without swapping (0 when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 0


def _free_bytes(folder: str) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _reserve(fd: int, nbytes: int, folder: str) -> bool:
    """Give the file ``fd`` its ``nbytes`` and reserve them on the disk, so that writing into its memory map later
    never meets a full disk (a write to a memory-mapped page the disk has no room for kills the process with a bus
    error, SIGBUS). False when the folder has no room. A file system that cannot reserve space (no
    ``posix_fallocate``, or it answers EOPNOTSUPP/EINVAL) gets a sparse file when its free space covers it."""
    try:
        os.posix_fallocate(fd, 0, nbytes)
        return True
    except AttributeError:  # no posix_fallocate here (macOS, Windows)
        pass
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return False
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    free = _free_bytes(folder)
    if free is not None and free < nbytes:
        return False
    os.ftruncate(fd, nbytes)
    return True


def _empty_buffer(shape) -> np.ndarray:
    """A zeroed (T,H,W) uint8 mask buffer: in memory up to :data:`MEMMAP_BYTES`, above it a memory-mapped file in
    the temporary folder with its disk space reserved up front. A folder without room gives an in-memory buffer
    when that fits comfortably in the free memory (a warning says so), else a :class:`NoRoomForMasksError` naming
    the folder, the size and the fix (the caller shows it; nothing is written or changed)."""
    nbytes = int(np.prod(shape))
    if nbytes <= MEMMAP_BYTES:
        return np.zeros(shape, np.uint8)
    folder = tempfile.gettempdir()
    # an unnamed file where the system can (removed at once): nothing is left behind, even by a killed napari
    f = tempfile.TemporaryFile(prefix="dvos-masks-", suffix=".u8")  # noqa: SIM115 - lives with the buffer
    try:
        room = _reserve(f.fileno(), nbytes, folder)
        if room:
            buf = np.memmap(f, dtype=np.uint8, mode="r+", shape=shape)
            buf._dvos_tmpfile = f  # keep the file alive as long as the buffer
            return buf
    except BaseException:
        f.close()
        raise
    f.close()
    free = _free_bytes(folder)
    have = f"{_gb(free)} free" if free is not None else "its free space unknown"
    if nbytes * 4 <= _available_memory():
        warnings.warn(
            f"dvos: the temporary folder {folder} has no room for the masks of this video ({_gb(nbytes)} needed, "
            f"{have}), so they are held in memory; to keep them on disk, free space there or start napari with "
            f"TMPDIR set to a folder on a disk with room",
            stacklevel=2,
        )
        return np.zeros(shape, np.uint8)
    raise NoRoomForMasksError(
        f"the temporary folder {folder} has no room for the masks of this video: they need {_gb(nbytes)} and it has "
        f"{have} (nor is there memory enough to hold them). Free some space there, or close napari and start it "
        f"again with TMPDIR set to a folder on a disk with room (e.g. TMPDIR=/path/with/room napari); what is "
        f"saved in the project is untouched"
    )


def prediction_set(video, model: str | None = None):
    """The prediction set of ``video`` named ``model``, or its most recent one when ``model`` is None."""
    return video.predictions[model] if model else video.predictions.latest()


def _stored(video, source: str, model: str | None = None):
    """(frames that hold a mask, the array holding them) of the label masks or the predicted masks of ``model``."""
    if source == "masks":
        return np.flatnonzero(video.provenance), video.group["masks"]
    preds = prediction_set(video, model)
    arrs = preds.arrays()
    return (preds.frames(), arrs[0]) if arrs is not None else ([], None)


def mask_files_root(video):
    """The folder of ``video``'s label mask files, one chunk file per frame (``masks/c/T/0/0``); None when the masks
    are not stored one frame per file (then nothing tells which frames changed)."""
    from pathlib import Path

    arr = video.group["masks"]
    if tuple(arr.chunks[1:]) != tuple(arr.shape[1:]) or arr.chunks[0] != 1:
        return None
    return Path(str(video.path)) / "videos" / video.name / "masks" / "c"  # video.path: the project's folder


def mask_file_stamps(video) -> dict[int, tuple] | None:
    """{frame: :func:`~dvos_napari._summary.file_stamp` of the file holding its label mask}; None when the masks are
    not stored one frame per file (:func:`mask_files_root`)."""
    import os

    from dvos_napari._summary import file_stamp

    root = mask_files_root(video)
    if root is None:
        return None
    stamps = {}
    try:
        entries = list(os.scandir(root))
    except OSError:
        return {}
    for e in entries:
        stamp = file_stamp(os.path.join(e.path, "0", "0")) if e.name.isdigit() else None
        if stamp is not None:
            stamps[int(e.name)] = stamp
    return stamps


def mask_file_stamp(root, t: int) -> tuple | None:
    """The :func:`~dvos_napari._summary.file_stamp` of frame t's label mask file under ``root`` (its video's
    :func:`mask_files_root`, read once by the caller); None: no file, or masks not stored one frame per file."""
    from dvos_napari._summary import file_stamp

    return None if root is None else file_stamp(os.path.join(root, str(int(t)), "0", "0"))


def masks_look(video) -> tuple:
    """(provenance of every frame, :func:`mask_file_stamps`): what tells later which frames' masks were written."""
    return np.array(video.provenance[: video.n_frames]), mask_file_stamps(video)


def fill_buffer(
    buf: np.ndarray, video, source: str = "masks", skip=(), model: str | None = None, clear: bool = False
) -> int:
    """Copy the stored masks of ``source`` (of prediction set ``model`` for 'predicted') into ``buf`` (frames in
    ``skip`` are left alone; ``clear``: the other frames that hold no stored mask are emptied); returns the count."""
    frames, arr = _stored(video, source, model)
    skip = set(skip)
    if clear:
        for t in sorted(set(range(len(buf))) - skip - {int(f) for f in frames}):
            buf[t] = 0
    n = 0
    for t in frames:
        if int(t) not in skip:
            buf[int(t)] = arr[int(t)]
            n += 1
    return n


def mask_buffer(video, source: str = "masks", model: str | None = None) -> np.ndarray:
    """(T,H,W) uint8 buffer of a video's label masks (``source='masks'``) or predicted masks (``'predicted'``, of
    prediction set ``model``, default the most recent)."""
    n, h, w, _ = video.shape
    buf = _empty_buffer((n, h, w))
    fill_buffer(buf, video, source, model=model)
    return buf


def differs_from_label(video, data, t: int) -> bool:
    """Whether ``data[t]`` differs from the label mask the project holds for frame t (no mask: an empty one), so
    that paint undone, or painted back to what is stored, is nothing to save."""
    return mask_differs(data[t], video.mask(t))


def mask_differs(frame, stored) -> bool:
    """Whether mask ``frame`` differs from ``stored`` (None: nothing stored, which an empty frame equals)."""
    frame = np.asarray(frame) != 0
    return bool(frame.any()) if stored is None else not np.array_equal(frame, np.asarray(stored) != 0)


def find_layer(viewer, name: str):
    return viewer.layers[name] if name in viewer.layers else None  # noqa: SIM401 - LayerList has no .get


LAYER_NAMES = {"image": image_name, "masks": masks_name, "predicted": predicted_name, "probability": probability_name}


def video_layer_of(layer, video_id: str, role: str) -> bool:
    """Whether ``layer`` is the ``role`` layer of video ``video_id`` (by its metadata, whatever its name)."""
    md = getattr(layer, "metadata", None) or {}
    return md.get("dvos_video") == video_id and md.get("dvos_role") == role


def video_layer(viewer, video_id: str, role: str):
    """The ``role`` layer (image, masks, predicted, probability) of video ``video_id``, found by the dvos metadata
    it carries: the one named by the convention (``<video> masks``, ...), else one the user renamed; None when there
    is none. A layer of the user's own that happens to have such a name (a video file opened under the video's name,
    a labels layer named ``plot masks``) is never taken for it: dvos neither shows, saves, refreshes nor removes it."""
    layer = find_layer(viewer, LAYER_NAMES[role](video_id))
    if layer is not None and video_layer_of(layer, video_id, role):
        return layer
    return next((x for x in viewer.layers if video_layer_of(x, video_id, role)), None)


def _identity(video) -> list | None:
    """The video's :attr:`~dvos_core.store.sequence.Sequence.identity` as layer metadata keeps it (a list)."""
    found = getattr(video, "identity", None)
    return None if found is None else list(found)


def shows_other_video(metadata: dict | None, video) -> bool:
    """Whether the layer of ``metadata`` shows a video that was deleted and added again under ``video``'s id since it
    was read (its frames and masks are the old video's); False when either side does not say."""
    shown, now = (metadata or {}).get("dvos_identity"), _identity(video)
    return shown is not None and now is not None and list(shown) != now


def replaced_message(video) -> str:
    """Why nothing is saved from layers of a video deleted and added again under ``video``'s id, and what to do."""
    return (
        f"video {video.name!r} was deleted and added again by another program after it was shown here: its layers "
        f"belong to the old video, whose frames are gone (its image layer is blank now), so nothing painted there is "
        f"saved into the new one. To keep painted frames, save the masks layer as image files (File > Save Selected "
        f"Layers); then delete the old layers and pick the video again in the Project step"
    )


def replaced_layers(viewer, video) -> list:
    """The layers of ``video``'s id that show an older video of that id (deleted and added again since)."""
    return [x for x in viewer.layers if _video_of(x) == video.name and shows_other_video(x.metadata, video)]


def blank_replaced(viewer, video) -> None:
    """The layers of an older video of ``video``'s id that read the store as they are shown (its frames, a prediction
    set's probabilities) would now read the new video's files (another picture under the paint kept beside them, or
    errors at every frame of another size): they show nothing instead (the same shape, no memory)."""
    for layer in replaced_layers(viewer, video):
        if _role(layer) in ("image", "probability") and not (layer.metadata or {}).get("dvos_blank"):
            replace_data(layer, np.broadcast_to(np.zeros((), layer.data.dtype), tuple(layer.data.shape)))
            layer.metadata = {**(layer.metadata or {}), "dvos_blank": True}


def require_shown_video(layer, video) -> None:
    """A ValueError (:func:`replaced_message`) when ``layer`` shows an older video of ``video``'s id."""
    if layer is not None and shows_other_video(layer.metadata, video):
        raise ValueError(replaced_message(video))


def _raw(layer):
    """The layer itself (napari hands plugins a proxy of it)."""
    return getattr(layer, "__wrapped__", layer)


def replace_data(layer, data) -> None:
    """Give ``layer`` new data as dvos does (a re-used layer takes another video's buffer, a predicted layer another
    set's masks, which are read into it next): not an edit of its masks, unlike a replacement from outside dvos."""
    layer.data = data
    if not layer.visible:  # napari forgets a layer's extent only when it refreshes a visible one: set again, the scale
        layer.scale = layer.scale  # makes it forget it, else the frame slider keeps the length of the data before
    _REPLACED.discard(_raw(layer))


def is_replaced(viewer, video_id: str, role: str = "masks") -> bool:
    """Whether the ``role`` layer of ``video_id`` had its data replaced from outside dvos since dvos last compared
    it with the project (its changed frames are not known yet)."""
    layer = video_layer(viewer, video_id, role)
    return layer is not None and _raw(layer) in _REPLACED


def resolve_replaced(viewer, state, video_id: str, frames=None) -> list[int]:
    """The masks layer of ``video_id`` had its data replaced from outside dvos (``layer.data = ...``): which frames
    changed is unknown, so its frames (or only ``frames``) are compared with the project's masks - its non-empty
    frames, as :func:`~dvos_napari._writer.changed_frames` compares a whole layer (an empty frame is one not
    annotated) - and those that differ join the video's unsaved painted frames (``state.dirty``); returns them. Only a
    video whose data was replaced pays for this full comparison, once per replacement. Data that cannot be compared
    (a layer of another project: left marked; data of another shape: a ValueError naming it) stays marked, so it is
    still unsaved work."""
    layer = video_layer(viewer, video_id, "masks")
    if layer is None or _raw(layer) not in _REPLACED:
        return []
    project = state.project
    if project is None or not _same_folder(project.path, (layer.metadata or {}).get("dvos_project")):
        return []
    video = project.video(video_id)
    data = layer.data
    check_layer_shape(video, data, layer.name)
    frames = range(video.n_frames) if frames is None else sorted(int(t) for t in frames)
    found = [t for t in frames if np.any(data[t]) and differs_from_label(video, data, t)]
    _REPLACED.discard(_raw(layer))
    if found:
        state.mark_dirty(video_id, found)
    return found


def check_layer_shape(video, data, name) -> None:
    """A ValueError naming the layer and the shape it needs when ``data`` (a Labels layer's) is not one mask per
    frame of ``video``."""
    want = (video.n_frames,) + tuple(video.shape[1:3])
    if tuple(np.shape(data)) != want:
        raise ValueError(
            f"Labels layer {name!r} has shape {np.shape(data)}, but video {video.name!r} is {want}: give the layer "
            f"data of that shape (layer.data = ...) to save it"
        )


def _same_folder(a, b) -> bool:
    return b is not None and os.path.realpath(str(a)) == os.path.realpath(str(b))


def unsaved_corrections(viewer, video_id: str) -> list[int]:
    """Frames of ``<video> predicted`` painted (corrected) and not saved yet, sorted; a frame painted back to what
    the project holds for it (a stroke undone) is nothing to save and is left out. A layer whose data was replaced
    from outside dvos has every frame compared (once per replacement); those that differ join its corrections."""
    layer = video_layer(viewer, video_id, "predicted")
    if layer is None:
        return []
    replaced = _raw(layer) in _REPLACED
    frames = sorted(_CORRECTIONS.get(layer, ()))
    if not frames and not replaced:
        return []
    try:
        from dvos_core.store import Project

        video = Project.open((layer.metadata or {})["dvos_project"], mode="r").video(video_id)
    except Exception:  # no project or video (deleted, damaged): every frame stays listed
        return frames
    if replaced:  # every frame compared with what the project holds for it (the filter below, on every frame)
        try:
            check_layer_shape(video, layer.data, layer.name)
        except ValueError:  # data of another shape: it stays marked (unsaved), its frames unknown
            return frames
        _REPLACED.discard(_raw(layer))
        frames = range(video.n_frames)
    try:
        codes = video.provenance  # read once for every frame compared (each read of it reads the whole array)
    except Exception:  # a damaged file: each frame's own read fails the same way, and it stays listed
        codes = None
    found = [t for t in frames if _differs_from_stored(layer, video, t, codes)]
    if replaced:
        _CORRECTIONS.setdefault(layer, set()).update(found)
    return found


def _differs_from_stored(layer, video, t: int, codes=None) -> bool:
    """Whether frame t of the predicted layer differs from what ``video`` holds for it: its correction where the
    frame holds one (a saved correction undone is unsaved), else the stored prediction the layer shows (its set's
    mask of t, or nothing where the set did not predict t); when in doubt (a read error), it differs. ``codes``: the
    video's provenance codes, when already read."""
    from dvos_core.store.schema import CORRECTED

    try:
        if int((video.provenance if codes is None else codes)[int(t)]) == CORRECTED:
            return differs_from_label(video, layer.data, int(t))
        got = video.predictions[(layer.metadata or {})["dvos_model"]].get(int(t))
        return mask_differs(layer.data[int(t)], None if got is None else got[0])
    except Exception:  # a set deleted, a damaged file: keep the frame listed
        return True


def mark_corrections_saved(viewer, video_id: str, frames=None) -> None:
    """Forget the unsaved corrections of ``frames`` of ``video_id`` (all of them when None): saved or discarded."""
    layer = video_layer(viewer, video_id, "predicted")
    if layer is not None and frames is None:
        _REPLACED.discard(_raw(layer))  # data replaced from code, discarded with the rest
    if layer is None or layer not in _CORRECTIONS:
        return
    if frames is None:
        del _CORRECTIONS[layer]
    else:
        _CORRECTIONS[layer].difference_update(int(t) for t in frames)


def has_unsaved(viewer, state, video_id: str) -> bool:
    """Whether ``video_id`` has painted masks or corrected predictions that are not saved yet (masks data replaced
    from outside dvos is compared with the project first; data that cannot be compared is unsaved)."""
    try:
        resolve_replaced(viewer, state, video_id)
    except Exception:  # data of another shape, a damaged video: kept as unsaved work
        return True
    if state.dirty.get(video_id) or unsaved_corrections(viewer, video_id):
        return True
    return is_replaced(viewer, video_id, "masks") or is_replaced(viewer, video_id, "predicted")  # not compared


def check_frame(video, t: int) -> int:
    """``t`` when it is a frame of ``video``; else a ValueError naming the video's frames and the fix."""
    t, n = int(t), video.n_frames
    if t < 0:
        raise ValueError(
            f"the frame slider is before the first frame of video {video.name!r}, which has {n} frames (0-{n - 1}): "
            f"move it forward to one of them (a layer's translate or scale along time, or a layer of another time "
            f"scale, shifts where the video's frames lie on the slider)"
        )
    if t >= n:
        raise ValueError(
            f"frame {t} is past the end of video {video.name!r}, which has {n} frames (0-{n - 1}): move the frame "
            f"slider back to 0-{n - 1} (it reaches further while the layers of a longer video with unsaved paint "
            f"are open)"
        )
    return t


def _role(layer) -> str | None:
    return (layer.metadata or {}).get("dvos_role")


def _video_of(layer) -> str | None:
    return (layer.metadata or {}).get("dvos_video")


def time_axis(viewer) -> int:
    """The viewer axis of video time (the third from the last: time, y, x)."""
    return max(0, viewer.dims.ndim - 3)


def frame_shown(viewer, layer=None) -> int:
    """The frame of ``layer``'s data that the viewer shows: the viewer's point on the time axis mapped through the
    layer's scale and translate, rounded as napari rounds it to slice the layer (the slider counts steps of the world
    of every layer: a layer of another time scale, or this layer's own translate, moves the video's frames off the
    slider's steps); the slider's step when ``layer`` is None. It can lie outside the video: :func:`check_frame`
    refuses it."""
    dims = viewer.dims
    if dims.ndim < 3:
        return 0
    if layer is None:
        return int(dims.current_step[time_axis(viewer)])
    return int(np.round(layer.world_to_data(dims.point)[-3]))


def show_frame(viewer, t: int, layer=None) -> None:
    """Move the frame slider to where ``layer`` shows its frame ``t`` (:func:`frame_shown` the other way); to step
    ``t`` when ``layer`` is None."""
    axis = time_axis(viewer)
    if layer is None:
        viewer.dims.set_current_step(axis, int(t))
        return
    data = np.asarray(layer.world_to_data(viewer.dims.point), dtype=float)
    data[-3] = int(t)
    viewer.dims.set_point(axis, float(layer.data_to_world(data)[-3]))


def set_axis_labels(viewer) -> None:
    """Label the last three axes (time, y, x) so the time slider reads 'frame'."""
    nd = viewer.dims.ndim
    if nd >= 3:
        labels = list(viewer.dims.axis_labels)
        labels[-3:] = AXIS_LABELS
        viewer.dims.axis_labels = labels


def track_paint(layer, state) -> None:
    """Record painted frames of ``layer``: of a masks layer in ``state.dirty`` (so 'save all painted frames' and the
    unsaved count know them), of a predicted layer as its unsaved corrections (:func:`unsaved_corrections`), so
    neither is lost to a video or model switch.

    The video is read from the layer's metadata at each stroke, so a re-used layer reports to its current video.
    napari's undo and redo (Ctrl+Z, Ctrl+Shift+Z) change the data without a paint event: they are wrapped on this
    layer to record the frames of the edit they replay the same way. Data replaced from outside dvos
    (``layer.data = ...``, napari's data event) marks the layer: its frames are compared with the project when dvos
    next asks what is unsaved (:func:`resolve_replaced`, :func:`unsaved_corrections`). Data changed in place
    without an event (``layer.data[t] = ...``, with or without ``layer.refresh()``, which napari also calls for
    every move of the frame slider) is not seen.
    """
    if is_tracked(layer, state):
        return

    def edited(item):
        frames = _frames_of_edit(item, layer.data.shape[0]) or {state.current_frame(layer)}
        _forget_copy_paint(raw, frames)
        vid = _video_of(layer)
        if vid and _role(layer) == "masks":
            state.mark_dirty(vid, frames)
        elif vid and _role(layer) == "predicted":
            _CORRECTIONS.setdefault(layer, set()).update(frames)
            state.dirty_changed.emit(vid)

    # napari hands plugins a proxy that warns on private attributes: the history is read from the layer itself
    raw = getattr(layer, "__wrapped__", layer)

    def replaying(replay, history: str):
        def wrapped():
            queue = getattr(raw, history, None)
            item = queue[-1] if queue else None  # the edit this undo/redo replays
            replay()
            if item or queue is None:  # an empty queue: nothing replayed; no queue (another napari): this frame
                edited(item)

        return wrapped

    def replaced(_event=None):
        # ``layer.data = ...`` from outside dvos (the console, a script, another plugin; dvos's own replacements go
        # through replace_data): which frames changed is unknown until compared with the project, at a save, a
        # close, a switch of video (resolve_replaced, unsaved_corrections) - not here: a long video's comparison
        # reads every stored mask, and a script may replace the data many times
        vid = _video_of(layer)
        if vid and _role(layer) in ("masks", "predicted"):
            _REPLACED.add(raw)
            state.dirty_changed.emit(vid)

    layer.events.paint.connect(lambda event: edited(getattr(event, "value", None)))
    layer.events.data.connect(replaced)
    raw.undo = replaying(raw.undo, "_undo_history")  # Ctrl+Z and Ctrl+Shift+Z call these on the layer itself
    raw.redo = replaying(raw.redo, "_redo_history")
    state.tracked_layers.add(raw)  # the layer itself, not the proxy a plugin got: the writer is handed the layer


def painted_frames(layer) -> set:
    """The frames of a Labels layer that its undo history says were edited (before dvos tracked the layer: a
    project dropped on napari and painted before its panel was opened). Read it before the layer is made read-only:
    napari clears the history then."""
    raw = getattr(layer, "__wrapped__", layer)
    n = raw.data.shape[0] if getattr(raw.data, "ndim", 0) >= 3 else 0
    return set().union(*(_frames_of_edit(item, n) for item in getattr(raw, "_undo_history", None) or ()))


def _frames_of_edit(item, n: int) -> set:
    """The frames one napari Labels history item (a list of edits) changed, of a layer of ``n`` frames."""
    frames = set()
    for atom in item or []:
        key = getattr(atom, "slice_key", None)  # mask-based edits (paint, fill, polygon)
        if key is not None and len(key) == 3 and isinstance(key[0], slice):
            frames.update(range(*key[0].indices(n)))
        elif isinstance(atom, tuple) and len(atom[0]) == 3:  # data_setitem: (indices, old, new)
            frames.update(int(t) for t in np.unique(np.asarray(atom[0][0])))
    return frames


def is_tracked(layer, state) -> bool:
    """Whether :func:`track_paint` follows ``layer`` (the layer itself or napari's proxy of it)."""
    raw = getattr(layer, "__wrapped__", layer)
    return any(tracked is raw for tracked in state.tracked_layers)


def load_masks(layer, video, source: str, state, skip=(), model: str | None = None, clear: bool = False) -> None:
    """Copy the stored masks into ``layer.data`` in a worker thread; the layer is read-only until they are in.

    napari keeps every worker it ran in its window's task list, with the worker's arguments and callbacks: the worker
    here holds the buffer and the layer only until it is done, so a video left frees them (else each visit to a long
    video would leave its full-length mask buffers behind)."""
    frames, _ = _stored(video, source, model)
    skip = tuple(skip)
    if len(frames) == 0 or (not clear and {int(t) for t in frames} <= {int(t) for t in skip}):
        return  # nothing to read (e.g. after this panel's own save): the layer stays editable
    from napari.qt.threading import create_worker

    held = {"buf": layer.data, "layer": layer}
    layer.editable = False
    key = state.begin_loading(f"{video.name} {source} #{id(layer.data)}")  # one key per read: a stale read ends its own

    def fill() -> int:
        buf = held.get("buf")
        try:
            return 0 if buf is None else fill_buffer(buf, video, source, skip, model, clear)
        except (KeyError, OSError, StoreError):
            try:
                video._require_present()
            except NotInStoreError:  # deleted meanwhile by another program (the Project step says so): nothing to read
                return 0
            raise

    def done(*_):
        buf, shown = held.pop("buf", None), held.pop("layer", None)
        try:
            if shown is not None and shown.data is buf:  # still showing this buffer (not switched to another video)
                shown.editable = True
                shown.refresh()
        except RuntimeError:  # the viewer was closed meanwhile
            pass
        state.end_loading(key)

    # _ignore_errors: a failed read is said once, by report_error (napari would also raise it again in the GUI thread)
    worker = create_worker(fill, _start_thread=False, _ignore_errors=True)
    worker.finished.connect(done)
    worker.errored.connect(lambda e: state.report_error(f"could not read the masks of {video.name}", e))
    state.workers.append(worker)
    worker.finished.connect(lambda *_: state.workers.remove(worker) if worker in state.workers else None)
    worker.start()


def _spare(viewer, role: str, keep: str, state):
    """A layer of ``role`` that can be re-used for video ``keep``: one set aside (:func:`set_aside`), else one that
    shows another video with nothing unsaved."""
    for layer in viewer.layers:
        if _set_aside_as(layer) == role:
            return layer
    for layer in viewer.layers:
        vid = _video_of(layer)
        if _role(layer) == role and vid and vid != keep and not has_unsaved(viewer, state, vid):
            return layer
    return None


SET_ASIDE_NAMES = {"predicted": "predicted (no predictions shown)", "probability": "probability (no predictions shown)"}


def _set_aside_as(layer) -> str | None:
    """The role (predicted, probability) a layer set aside by :func:`set_aside` is kept for; None for others."""
    md = getattr(layer, "metadata", None) or {}
    return md.get("dvos_set_aside") if md.get("dvos_role") == "set aside" else None


def set_aside(viewer, layer, shape) -> None:
    """Keep the predicted or probability ``layer``, which no video shown needs now (the video shown has no
    predictions, or none of the chosen model), for the next video that has some, instead of removing it (a removal
    costs napari a garbage collection, 0.3-0.7 s). It is hidden, blank (``shape``: the shown video's frames, so the
    slider keeps its length; no memory), read-only and of no video, so nothing saves, counts or refreshes it; the
    next predictions shown take it back, as it was seen before. One such layer per role: another one is removed."""
    role = _set_aside_as(layer) or _role(layer)
    raw = _raw(layer)
    _CORRECTIONS.pop(raw, None)
    _CORRECTIONS.pop(layer, None)
    md = layer.metadata or {}
    fresh = _set_aside_as(layer) is None
    if fresh:
        if any(_set_aside_as(x) == role for x in viewer.layers if _raw(x) is not raw):
            layer.metadata = {}  # (not taken for a predicted layer the user deleted)
            viewer.layers.remove(layer)
            return
        visible = layer.visible
        # blank before hidden: the canvas of a hidden layer keeps its last slice, a view that held the whole buffer
        replace_data(layer, np.broadcast_to(np.zeros((), layer.data.dtype), tuple(shape)))
        layer.visible = False
        layer.metadata = {
            "dvos_project": md.get("dvos_project"),
            "dvos_role": "set aside",
            "dvos_set_aside": role,
            "dvos_visible": visible,
        }
        layer.name = SET_ASIDE_NAMES[role]
    if tuple(layer.data.shape) != tuple(shape):
        replace_data(layer, np.broadcast_to(np.zeros((), layer.data.dtype), tuple(shape)))
    if role == "predicted":
        layer.editable = False  # (after its data: napari makes a layer given data editable)


def _take_back(layer, role: str) -> None:
    """A layer set aside (:func:`set_aside`), taken back for a video's ``role``: seen as before it was set aside."""
    layer.visible = bool((layer.metadata or {}).get("dvos_visible", True))
    if role == "predicted":
        layer.editable = True


def _place(viewer, role: str, video, state, make, extra: dict | None = None):
    """The layer of ``role`` for ``video``: the existing one, a re-used spare one, or a new one from ``make()``
    (``extra``: more metadata, e.g. the prediction set a predicted layer shows)."""
    name = LAYER_NAMES[role](video.name)
    md = {**layer_metadata(video.path, video.name, role), "dvos_identity": _identity(video), **(extra or {})}
    # a layer the user renamed is still this video's; one of the user's own (no dvos metadata) is left as it is
    layer = video_layer(viewer, video.name, role)
    if layer is not None:
        if extra:
            layer.metadata = {**(layer.metadata or {}), **extra}
        return layer, False
    spare = _spare(viewer, role, video.name, state)
    data, kwargs = make()
    if spare is not None:
        if _set_aside_as(spare):
            _take_back(spare, role)
        spare.metadata = md
        replace_data(spare, data)
        spare.name = name
        return spare, True
    add = viewer.add_labels if role in ("masks", "predicted") else viewer.add_image
    return add(data, name=name, metadata=md, **kwargs), True


def remove_video_layers(viewer, vid: str) -> int:
    """Remove every layer showing video ``vid`` (its frames, masks, predictions, tracks); returns how many."""
    gone = [layer for layer in list(viewer.layers) if _video_of(layer) == vid]
    for layer in gone:
        viewer.layers.remove(layer)
    return len(gone)


def _drop_other_videos(viewer, video, state) -> None:
    """Remove leftover layers of other saved videos (and the empty-project placeholder); their predicted and
    probability layers, and those set aside before, are set aside instead, in ``video``'s shape (:func:`set_aside`)."""
    vid = video.name
    shape = (video.n_frames, *video.shape[1:3])
    for layer in list(viewer.layers):
        other = _video_of(layer)
        placeholder = _role(layer) == "placeholder"
        if _set_aside_as(layer):
            set_aside(viewer, layer, shape)
        elif placeholder or (other and other != vid and not has_unsaved(viewer, state, other)):
            if _role(layer) in SET_ASIDE_NAMES:
                set_aside(viewer, layer, shape)
            else:
                viewer.layers.remove(layer)


def show_video(viewer, video, state) -> None:
    """Show a store video as layers (re-using those of another saved video); masks arrive in the background."""
    vid = video.name
    n, h, w, _ = video.shape
    # the video was deleted and added again meanwhile: its old layers go, unless they hold unsaved work
    if replaced_layers(viewer, video):
        if has_unsaved(viewer, state, vid):
            blank_replaced(viewer, video)
            raise ValueError(replaced_message(video))
        remove_video_layers(viewer, vid)
        state.forget_video(vid)
    # the masks buffer first: a temporary folder without room for it (NoRoomForMasksError) changes no layer
    buf = _empty_buffer((n, h, w)) if video_layer(viewer, vid, "masks") is None else None
    _image, new_image = _place(
        viewer,
        "image",
        video,
        state,
        lambda: (LazyFrames.from_zarr(video.frames, video.n_frames, name=f"video {vid!r}"), {"rgb": True}),
    )
    masks, new_masks = _place(
        viewer, "masks", video, state, lambda: (_empty_buffer((n, h, w)) if buf is None else buf, {"opacity": 0.5})
    )
    if new_masks:
        state.masks_shown(video)  # what the layer shows: a frame written since, under unsaved paint, is told apart
        load_masks(masks, video, "masks", state)
    track_paint(masks, state)
    try:
        show_predictions(viewer, video, state, replace=False)
    except NoRoomForMasksError as e:  # the video and its masks are shown all the same
        state.report_error(f"could not show the predicted masks of {vid}", e)
    _drop_other_videos(viewer, video, state)
    set_axis_labels(viewer)
    viewer.layers.selection.active = masks
    if new_image:
        viewer.reset_view()


def follow_copy(copy, parent, video: str | None, state) -> None:
    """Record the frames painted in ``copy``, a layer napari made of dvos's ``parent`` layer of ``video`` (Duplicate
    Layer; a layer of the user's own, see the state's adoption of layers), for :func:`check_paint_not_in_copy`."""
    raw = getattr(copy, "__wrapped__", copy)
    painted: set = set()
    _COPY_PAINT[raw] = (weakref.ref(getattr(parent, "__wrapped__", parent)), video, painted)

    def edited(event) -> None:
        frames = _frames_of_edit(getattr(event, "value", None), raw.data.shape[0])
        painted.update(frames or {state.current_frame(copy)})

    copy.events.paint.connect(edited)


def _forget_copy_paint(parent_raw, frames) -> None:
    """Frames painted in a dvos layer: what its copies hold there is no longer the paint the user left unsaved."""
    for ref, _video, painted in list(_COPY_PAINT.values()):
        if ref() is parent_raw:
            painted.difference_update(frames)


def check_paint_not_in_copy(viewer, layer, t: int, video_name: str, save: str) -> None:
    """Refuse to save frame ``t`` of ``layer``, unpainted there, while a copy napari made of it (:func:`follow_copy`)
    was painted on that frame of the same video and differs from it there: the user's paint is in the copy, and
    ``save`` (the command's name) would store the layer's untouched mask as theirs. What dvos itself changes in the
    layer since the copy was made (labels read again, another prediction set, the next video) refuses nothing."""
    raw = getattr(layer, "__wrapped__", layer)
    shown = {id(getattr(other, "__wrapped__", other)): other for other in viewer.layers}
    for copy_raw, (ref, video, painted) in list(_COPY_PAINT.items()):
        other = shown.get(id(copy_raw))
        if other is None or ref() is not raw or video != video_name or t not in painted:
            continue
        data = getattr(other, "data", None)
        if getattr(data, "shape", None) == layer.data.shape and mask_differs(data[t], layer.data[t]):
            raise ValueError(
                f"frame {t} of {video_name} is painted in '{other.name}', a copy of '{layer.name}' that dvos does not "
                f"save, and not in '{layer.name}': paint it in '{layer.name}', then {save} again (or delete the copy "
                f"to save '{layer.name}' as it shows)"
            )


def unsaved_paint(viewer, state, video, frames) -> list[int]:
    """Of ``frames`` of ``video``, those its masks layer holds unsaved paint on: painted since the last save (its
    data replaced from code included) and still differing from the mask the project holds (paint undone is none)."""
    layer = video_layer(viewer, video.name, "masks")
    if layer is None:
        return []
    resolve_replaced(viewer, state, video.name)
    dirty = state.dirty.get(video.name, ())
    return [int(t) for t in frames if int(t) in dirty and differs_from_label(video, layer.data, int(t))]


def refresh_masks(viewer, video, state, frames=None) -> list[int]:
    """Re-read label masks from the store into the masks layer: only ``frames`` (at once), or all stored frames but
    the unsaved painted ones (in the background). Unsaved paint is never written over: of ``frames``, those holding
    paint that differs from what the project now holds are left as painted, still unsaved; returns them."""
    layer = video_layer(viewer, video.name, "masks")
    if layer is None:
        return []
    if frames is None:
        load_masks(layer, video, "masks", state, skip=state.dirty.get(video.name, ()))
        return []
    kept = unsaved_paint(viewer, state, video, frames)
    written = [int(t) for t in frames if int(t) not in kept]
    for t in written:
        m = video.mask(t)
        layer.data[t] = 0 if m is None else m
    painted_back = [t for t in written if t in state.dirty.get(video.name, ())]  # paint equal to what is stored
    if painted_back:
        state.mark_saved(video.name, painted_back)
    state.masks_shown(video, written)
    layer.refresh()
    return kept


def shown_model(viewer, video_id: str) -> str | None:
    """The prediction set the ``<video> predicted`` layer shows (None when there is no such layer)."""
    layer = video_layer(viewer, video_id, "predicted")
    return None if layer is None else (layer.metadata or {}).get("dvos_model")


def shown_set(viewer, video_id: str) -> tuple | None:
    """(name, :meth:`stamp`) of the prediction set the ``<video> predicted`` layer shows, as it was read: a set
    predicted again under the same name since has another stamp (None when there is no such layer)."""
    layer = video_layer(viewer, video_id, "predicted")
    found = None if layer is None else (layer.metadata or {}).get("dvos_set")
    return None if found is None else tuple(found)


def set_key(preds) -> tuple:
    """(name, stamp) of prediction set ``preds``: what :func:`shown_set` compares with."""
    return (preds.model, preds.stamp())


def _refresh_unpainted(viewer, video, state) -> None:
    """The set the predicted layer (holding unsaved corrections) shows was predicted again under its name: read the
    new masks into every frame but the painted ones (kept for Save correction), so no old mask is saved as a
    correction of the new set."""
    layer = video_layer(viewer, video.name, "predicted")
    try:
        preds = prediction_set(video, (layer.metadata or {}).get("dvos_model"))
    except (KeyError, ValueError):  # the set was deleted: Save correction refuses its unpainted frames
        return
    if shown_set(viewer, video.name) == set_key(preds) or preds.arrays() is None:
        return
    extra = {"dvos_set": set_key(preds)}
    layer.metadata = {**(layer.metadata or {}), **extra}
    prob = video_layer(viewer, video.name, "probability")
    if prob is not None:
        prob.metadata = {**(prob.metadata or {}), **extra}
        prob.data = LazyFrames.from_zarr(
            preds.arrays()[1],
            video.n_frames,
            dtype=np.float32,
            name=f"the probabilities of video {video.name!r} by {preds.model!r}",
        )
    load_masks(layer, video, "predicted", state, skip=_CORRECTIONS.get(layer, ()), model=preds.model, clear=True)


def show_predictions(viewer, video, state, replace: bool = True) -> bool:
    """Add (or refresh) the predicted-mask Labels and probability Image layers of the prediction set chosen in
    ``state`` (``state.prediction_model``, None: the most recent); False when that set predicted nothing here (the
    layers of another set are then set aside, hidden and blank, so no one corrects the wrong model's masks:
    :func:`set_aside`). A predicted layer holding
    unsaved corrections keeps its set (True): they are saved with Review's Save correction, or discarded there
    first, never dropped here; when that set was predicted again under its name, its frames not painted are read
    again (an old mask is never saved as a correction)."""
    if unsaved_corrections(viewer, video.name):
        _refresh_unpainted(viewer, video, state)
        return True
    preds = prediction_set(video, getattr(state, "prediction_model", None))
    arrs = preds.arrays()
    if arrs is None or len(preds.frames()) == 0:
        for role in ("predicted", "probability"):
            layer = video_layer(viewer, video.name, role)
            if layer is not None:
                set_aside(viewer, layer, (video.n_frames, *video.shape[1:3]))
        return False
    shown = video_layer(viewer, video.name, "predicted")
    if not replace and shown is not None and shown_set(viewer, video.name) == set_key(preds):
        return True  # the same set as it was read (a set predicted again under its name is read again)
    n, h, w, _ = video.shape
    buf = _empty_buffer((n, h, w))  # first: a temporary folder without room for it changes no layer
    extra = {"dvos_model": preds.model, "dvos_set": set_key(preds)}
    prob = LazyFrames.from_zarr(
        arrs[1], video.n_frames, dtype=np.float32, name=f"the probabilities of video {video.name!r} by {preds.model!r}"
    )
    prob_layer, new_prob = _place(
        viewer,
        "probability",
        video,
        state,
        lambda: (
            prob,
            {
                "colormap": "magma",
                "opacity": 0.5,
                "blending": "additive",
                "contrast_limits": (0.0, 1.0),
                "visible": False,
            },
        ),
        extra,
    )
    if not new_prob:
        prob_layer.data = prob
    pred_layer, new_pred = _place(viewer, "predicted", video, state, lambda: (buf, {"opacity": 0.5}), extra)
    if not new_pred:
        replace_data(pred_layer, buf)
    track_paint(pred_layer, state)
    load_masks(pred_layer, video, "predicted", state, model=preds.model)
    return True
