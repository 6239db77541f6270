"""Heads followed from frame to frame: how many different heads a video shows, and where each one went.

A per-frame head count counts the same head again in every frame that shows it; a plot filmed by a moving camera
needs the number of *different* heads. Each frame's heads (8-connected parts of its mask of at least ``min_area``
pixels, as the evaluation counts them) are linked to the heads of the frames before it: those frames' heads are
carried onto the current frame by the camera motion (the best of the direct estimate and the identity, as the
context model aligns its references), grown by ``grow_px`` pixels into the background around them, and a head takes
the track of the carried head it overlaps most (shared pixels over the smaller of the two at least ``min_overlap``,
each track and head used once, best overlaps first): a thin head that sways by more than half its width between
frames still overlaps its carried self. A head missed for up to ``max_gap`` frames (a gust,
a leaf, a weak prediction) keeps its track; frames without a mask (stored masks of a few painted frames) do not
count towards that gap. A head seen in fewer than ``min_frames`` frames is not counted (one-frame
specks of a prediction). Two heads that touch form one part and so one track while they touch: a limit of counting
from masks.

The tracks are rows (track, frame, y, x, area): the first four are what napari's Tracks layer reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dvos_core.evaluate.metrics import head_parts
from dvos_core.progress import check, report
from dvos_core.threads import runs_with_threads

COLUMNS = ("track_id", "frame", "y", "x", "area")
MAX_GROW_PX = 64  # the tracks' last places are grown by at most this much (a larger reach links unrelated heads)


@dataclass
class HeadTracks:
    """Every head of every frame with the track it belongs to; see the module docstring."""

    rows: np.ndarray  # (N, 5) float64: track id, frame, centroid y, centroid x, area in pixels
    n_frames: int
    min_frames: int = 2
    settings: dict = field(default_factory=dict)
    masked: np.ndarray | None = None  # (n_frames,) bool: the frames that had a mask (None: every frame)

    @property
    def frames_with_masks(self) -> int:
        return self.n_frames if self.masked is None else int(np.count_nonzero(self.masked))

    def lengths(self) -> dict[int, int]:
        """Frames in which each track's head was seen."""
        ids, counts = np.unique(self.rows[:, 0].astype(np.int64), return_counts=True)
        return dict(zip(ids.tolist(), counts.tolist()))

    def counted(self) -> list[int]:
        """The tracks seen in at least ``min_frames`` frames: the heads counted."""
        return [t for t, n in self.lengths().items() if n >= self.min_frames]

    @property
    def n_heads(self) -> int:
        """Different heads in the video (tracks seen in at least ``min_frames`` frames)."""
        return len(self.counted())

    def per_frame(self) -> np.ndarray:
        """(n_frames,) heads in each frame (every part of at least ``min_area`` pixels)."""
        return np.bincount(self.rows[:, 1].astype(np.int64), minlength=self.n_frames)[: self.n_frames]

    def _sorted_rows(self, counted_only: bool = True) -> np.ndarray:
        """The rows (of the counted tracks only, by default) sorted by track, then frame."""
        rows = self.rows
        if counted_only:
            rows = rows[np.isin(rows[:, 0].astype(np.int64), self.counted())]
        return rows[np.lexsort((rows[:, 1], rows[:, 0]))]

    def napari_tracks(self, counted_only: bool = True) -> np.ndarray:
        """(N, 4) [track_id, frame, y, x] sorted by track then frame: the data of a napari Tracks layer."""
        return self._sorted_rows(counted_only)[:, :4].copy()

    def summary(self) -> dict:
        per = self.per_frame()
        if self.masked is not None:
            per = per[self.masked]  # frames with a mask
        lengths = [n for n in self.lengths().values() if n >= self.min_frames]
        return {
            "heads": self.n_heads,
            "frames": self.n_frames,
            "frames_with_masks": self.frames_with_masks,
            "tracks_all": len(self.lengths()),
            "heads_per_frame": round(float(per.mean()), 2) if len(per) else 0.0,
            "median_frames_per_head": float(np.median(lengths)) if lengths else 0.0,
            **self.settings,
        }

    def to_csv(self, path) -> Path:
        """Write the rows of the counted tracks as CSV (track_id, frame, y, x, area) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [",".join(COLUMNS)]
        lines += [f"{int(t)},{int(f)},{y:.1f},{x:.1f},{int(a)}" for t, f, y, x, a in self._sorted_rows()]
        from dvos_core.io.output_paths import partial_path

        tmp = partial_path(path)
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(path)
        return path


def describe_count(summary: dict) -> str:
    """One line for a person: the count, what was followed, and a warning when frames had no mask."""
    s = summary
    text = (
        f"{s['heads']} different heads in {s['frames']} frames ({s.get('masks', 'masks')}; each seen in at least "
        f"{s['min_frames']} frames, {s['median_frames_per_head']:g} at the median; {s['heads_per_frame']:g} per "
        f"frame with a mask on average)"
    )
    predicted = str(s.get("masks", "")).startswith("predictions")
    whole = (
        "finish the prediction of the whole video (`dvos info` names the command)"
        if predicted
        else "predict the whole video and count its predictions"
    )
    if s["frames_with_masks"] < s["min_frames"]:
        fix = "lower --min-frames (min_frames)" if s["frames_with_masks"] == s["frames"] else whole
        text += (
            f"; {s['frames_with_masks']} of the {s['frames']} frames have a mask, fewer than the {s['min_frames']} "
            f"a head must be seen in to count: {fix}"
        )
    elif s["frames_with_masks"] < s["frames"]:
        text += (
            f"; only {s['frames_with_masks']} of the {s['frames']} frames have a mask, so heads that show only in the "
            f"others are not counted ({whole})"
        )
    return text


def _overlaps(carried: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(track ids, head labels, shared pixels) of every pair of a carried track and a head that overlap, in
    (track, head) order. Each pair is one integer (track * (largest label + 1) + head): a 1-D sort, where sorting
    the pairs as rows took 0.15 s per 720p frame."""
    both = (carried > 0) & (labels > 0)
    if not both.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    heads = labels[both].astype(np.int64)
    span = int(heads.max()) + 1
    keys, counts = np.unique(carried[both].astype(np.int64) * span + heads, return_counts=True)
    return keys // span, keys % span, counts


def _of_tracks(carried: np.ndarray, ids, n_ids: int) -> np.ndarray:
    """Bool (H, W): the pixels of ``carried`` (track ids, 0 = none, all below ``n_ids``) that hold one of ``ids``;
    a look-up table instead of ``np.isin``, which sorts the whole frame."""
    table = np.zeros(n_ids, bool)
    table[np.asarray(list(ids), np.int64)] = True
    return table[carried.astype(np.int64)]


def link_heads(
    frames_and_masks: Iterable[tuple[np.ndarray, np.ndarray | None]],
    n_frames: int,
    min_area: int = 16,
    min_overlap: float = 0.2,
    max_gap: int = 2,
    min_frames: int = 2,
    grow_px: int = 2,
    align: Callable | None = None,
    progress=None,
    cancel=None,
) -> HeadTracks:
    """Follow the heads of ``frames_and_masks`` ((frame (H, W, 3) uint8, mask (H, W) or None) in frame order; a frame
    without a mask shows no heads and does not count towards a gap: a head seen again within ``max_gap`` frames
    with a mask keeps its track). ``n_frames``: how many pairs there are, for the progress only.
    ``align(prev, cur)`` -> the 2x3 matrix carrying frame t-1 onto frame t (default: the camera motion, see the
    module docstring; not measured while nothing is carried). Frames and masks held as arrays:
    ``link_heads(zip(frames, masks), len(frames))``; another call is a TypeError or ValueError saying so."""
    import cv2

    from dvos_core.motion.align import best_transform
    from dvos_core.motion.transforms import warp_to

    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)):
        got = f"an array of shape {n_frames.shape}" if hasattr(n_frames, "shape") else type(n_frames).__name__
        raise TypeError(f"link_heads: n_frames must be the number of (frame, mask) pairs, got {got}; {_CALL}")
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    if max_gap < 0 or grow_px < 0 or min_frames < 1 or min_area < 1:
        raise ValueError("max_gap and grow_px must be >= 0, min_frames and min_area >= 1")
    if grow_px > MAX_GROW_PX:
        raise ValueError(f"grow_px must be at most {MAX_GROW_PX} (a head's reach into its surroundings), got {grow_px}")
    grow = np.ones((2 * grow_px + 1, 2 * grow_px + 1), np.uint8) if grow_px else None
    align = align or (lambda a, b: best_transform(a, b, ()))
    rows: list[tuple] = []
    carried = None  # (H, W) float32 track ids of the heads of earlier frames, carried onto the previous frame
    last_seen: dict[int, int] = {}  # track -> the number of the last frame with a mask that showed it
    masked: list[bool] = []
    prev_frame, next_id, seen_masks = None, 1, 0
    for t, pair in enumerate(frames_and_masks):
        check(cancel)
        frame, mask = _frame_and_mask(pair, t)
        masked.append(mask is not None)
        if carried is not None and last_seen:
            carried = warp_to(carried, align(prev_frame, frame), frame.shape[:2], nearest=True)
        else:  # nothing to carry (the first frame, or every track gone): no motion to measure
            carried = np.zeros(frame.shape[:2], np.float32)
        if mask is not None:
            # a gap is counted in frames with a mask: a frame without one says nothing about where a head went
            seen_masks += 1
            gone = [k for k, s in last_seen.items() if seen_masks - s > max_gap + 1]
            if gone:
                carried[_of_tracks(carried, gone, next_id)] = 0
                for k in gone:
                    del last_seen[k]
            labels, info = head_parts(mask, min_area)
            # the carried heads grown into the background around them (never over another carried head)
            probe = carried if grow is None else np.where(carried > 0, carried, cv2.dilate(carried, grow))
            tracks, heads, shared = _overlaps(probe, labels)
            track_area = np.bincount(probe[probe > 0].astype(np.int64), minlength=next_id)
            overlap = shared / np.minimum(track_area[tracks], info[heads - 1, 0])
            # pairs that overlap enough, best matched first by IoU: ranked by the overlap above, a speck lying wholly
            # in a large head's carried place (1.0) took its track from the head's own continuation (just under 1)
            iou = shared / (track_area[tracks] + info[heads - 1, 0] - shared)
            assigned: dict[int, int] = {}  # head label -> track id
            used: set[int] = set()
            for i in np.argsort(-iou, kind="stable"):
                if overlap[i] < min_overlap:
                    continue
                k, h = int(tracks[i]), int(heads[i])
                if h not in assigned and k not in used:
                    assigned[h] = k
                    used.add(k)
            lut = np.zeros(len(info) + 1, np.float32)
            for h in range(1, len(info) + 1):
                if h not in assigned:
                    assigned[h], next_id = next_id, next_id + 1
                k = assigned[h]
                lut[h] = k
                last_seen[k] = seen_masks
                area, cy, cx = info[h - 1]
                rows.append((k, t, cy, cx, area))
            carried[_of_tracks(carried, assigned.values(), next_id)] = 0  # their old places give way to the new ones
            carried = np.where(labels > 0, lut[labels], carried)
        prev_frame = frame
        report(progress, t + 1, n_frames, f"following heads: frame {t + 1}/{n_frames}")
    data = np.asarray(rows, np.float64).reshape(-1, 5)
    settings = {
        "min_area": min_area,
        "min_overlap": min_overlap,
        "max_gap": max_gap,
        "min_frames": min_frames,
        "grow_px": grow_px,
    }
    return HeadTracks(data, len(masked), min_frames, settings, np.asarray(masked, bool))


_CALL = (
    "call link_heads(frames_and_masks, n_frames) with (frame (H, W, 3) uint8, mask (H, W) or None) pairs in frame "
    "order and their number, e.g. link_heads(zip(frames, masks), len(frames))"
)


def _frame_and_mask(pair, t: int) -> tuple:
    """Frame ``t``'s (frame, mask) pair of :func:`link_heads`, or a TypeError / ValueError naming the call it
    expects (a mask array alone unpacked into its rows: "too many values to unpack")."""
    try:
        frame, mask = pair
    except (TypeError, ValueError):
        got = f"an array of shape {pair.shape}" if hasattr(pair, "shape") else type(pair).__name__
        raise TypeError(
            f"link_heads: item {t} of frames_and_masks is {got}, not a (frame, mask) pair; {_CALL}"
        ) from None
    frame = np.asarray(frame)
    if mask is None:
        return frame, None
    mask = np.asarray(mask)
    if frame.ndim not in (2, 3) or mask.shape != frame.shape[:2]:
        raise ValueError(
            f"link_heads: frame {t} is {frame.shape} and its mask {mask.shape}; a mask (H, W) must go with its frame "
            f"(H, W, 3) - {_CALL}"
        )
    return frame, mask


@runs_with_threads(torch=False)
def track_heads(
    project,
    video_id: str,
    which: str | None = None,
    model: str | None = None,
    min_area: int = 16,
    min_overlap: float = 0.2,
    max_gap: int = 2,
    min_frames: int = 2,
    grow_px: int = 2,
    progress=None,
    cancel=None,
    threads: int | None = None,
) -> HeadTracks:
    """:func:`link_heads` over a stored video: ``which='labels'`` follows the stored masks (painted, corrected, pseudo),
    ``'predictions'`` ``model``'s predicted heads (default the most recent set); by default the predictions when a
    ``model`` is named, else the stored masks (as ``dvos count-heads [--predictions --model]``). The result's
    ``settings`` also name the video and the masks followed. ``threads``: OpenCV threads for the camera motion (see
    :mod:`dvos_core.threads`)."""
    from dvos_core.io.mask_source import frames_and_masks, masks_of, stored_masks
    from dvos_core.store import Project

    project = Project.of(project, mode="r")
    video = project.video(video_id)
    read, what = stored_masks(project, video, masks_of(which, model), model)
    pairs = ((frame, mask) for _, frame, mask in frames_and_masks(video, read))
    tracks = link_heads(
        pairs, video.n_frames, min_area, min_overlap, max_gap, min_frames, grow_px, progress=progress, cancel=cancel
    )
    tracks.settings.update(video=video_id, masks=what)
    return tracks
