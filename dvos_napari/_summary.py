"""The project's summary as the steps show it (``Project.summary()``), without reading every video's arrays again
at every refresh.

On a project that has grown for a season (tens of videos, a few prediction sets each) ``Project.summary()`` reads
each video's mask provenance and each prediction set's flags: hundreds of small reads, a second or more, and every
step refreshes when the store changes (the Project step's table, the panel's step ticks), so napari froze each time
one mask was saved, here or by the ``dvos`` command line. :class:`SummaryCache` keeps each video's row with the
signature of the files it was read from (the video's ``zarr.json``, its provenance array, its prediction sets'
metadata and flags: their modification times, sizes and inodes) and reads again only the videos whose files
changed. A file changed in the last :data:`SETTLE_S` seconds is not trusted (its next change could keep the same
time stamp): its video is read again until it settles, so a quick second write is never missed.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from pathlib import Path

SETTLE_S = 2.0


def file_stamp(path) -> tuple | None:
    """(mtime, size, inode) of ``path``, None when it is not there: what tells that a file changed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def settled(mtime_ns: int) -> bool:
    """Whether a file changed at ``mtime_ns`` is older than :data:`SETTLE_S` (a file changed just now may change
    again within the same time stamp, so a stamp taken now cannot be trusted to tell)."""
    return mtime_ns <= time.time_ns() - int(SETTLE_S * 1e9)


def _stat(path: str, out: list) -> int | None:
    """Append ``path``'s :func:`file_stamp` to ``out``; returns its mtime (None when it is not there)."""
    stamp = file_stamp(path)
    out.append((path, *stamp) if stamp else (path, None))
    return stamp[0] if stamp else None


def _tree(folder: str, out: list) -> list[int]:
    """The stats of ``folder`` and of everything under it (small folders: a provenance array, a set's flags)."""
    times = [_stat(folder, out)]
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return times
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            times += _tree(e.path, out)
        else:
            times.append(_stat(e.path, out))
    return times


def video_signature(project, video_id: str) -> tuple[tuple | None, bool]:
    """(what the video's summary row is read from, as file stats; whether they settled): not settled when a file
    changed in the last :data:`SETTLE_S` seconds (its next change may keep its time stamp); None when the video is
    not a folder."""
    root = Path(str(project.path)) / "videos" / video_id
    if not root.is_dir():
        return None, False
    out: list = []
    times = [_stat(str(root), out), _stat(str(root / "zarr.json"), out)]
    times += _tree(str(root / "provenance"), out)
    preds = root / "predictions"
    times += [_stat(str(preds), out), _stat(str(preds / "zarr.json"), out)]
    try:
        sets = sorted(e.path for e in os.scandir(preds) if e.is_dir(follow_symlinks=False))
    except OSError:
        sets = []
    for s in sets:
        times += [_stat(s, out), _stat(os.path.join(s, "zarr.json"), out)]
        times += _tree(os.path.join(s, "done"), out)
    return tuple(out), settled(max((t for t in times if t is not None), default=0))


class SummaryCache:
    """``Project.summary()`` of one project, each video's row (and its predicted frame count) kept while its files
    are unchanged."""

    def __init__(self):
        self.project = None
        self.rows: dict[str, tuple] = {}  # video id -> (signature, summary row, predicted frames)
        self.clips: dict[str, tuple] = {}  # background clip id -> (its zarr.json's stamp, (complete, frames))
        self.look: dict | None = None  # during one look (:meth:`one_look`): the rows read in it, settled or not
        self.whole: tuple | None = None  # during one look: (project, its summary, predicted frames) once read
        self.reads = 0  # videos read (not taken from the cache), for tests

    @contextlib.contextmanager
    def one_look(self):
        """Every step refreshing after one change of the store: a video written just now (its files not settled) is
        read once for all of them, not once per step. A write after the look is seen by the next one: the writer
        changes the store's stamp, and the look it starts reads the video again (a look started inside another one,
        by a step that wrote and said so, reads it again too). The whole summary is read once per look: the steps
        after the first take it as it was (no file looked at again)."""
        outer, self.look, self.whole = self.look, {}, None
        try:
            yield
        finally:
            self.look = None if outer is None else {}  # the outer look reads again what the inner one saw written
            self.whole = None

    def _video(self, project, vid: str):
        """(row, predicted frames) of video ``vid``: from the cache while its files are unchanged."""
        from dvos_core.store.project import _video_summary

        sig, settled = video_signature(project, vid)  # before reading: a write meanwhile changes it for next time
        for held in (self.rows.get(vid) if settled else None, None if self.look is None else self.look.get(vid)):
            if sig is not None and held is not None and held[0] == sig:
                return held[1], held[2]
        self.reads += 1
        v = project.video(vid)
        row = _video_summary(v)
        try:  # the frames of its most recent prediction set (``video.predictions.frames()``, listing the sets once)
            latest = row["predicted_by"]
            predicted = len(v.predictions[latest[-1]].frames()) if latest else 0
        except (KeyError, ValueError, OSError):
            predicted = 0
        if sig is not None and settled:
            self.rows[vid] = (sig, row, predicted)
        else:
            self.rows.pop(vid, None)
        if sig is not None and self.look is not None:
            self.look[vid] = (sig, row, predicted)
        return row, predicted

    def _clip(self, project, clip_id: str) -> tuple[bool, int]:
        """(complete, frames) of background clip ``clip_id``: from the cache while its ``zarr.json`` (where both are
        recorded) is unchanged and settled - a season's hundreds of clips are not opened again at every refresh."""
        from dvos_core.store.project import background_summary

        meta = Path(str(project.path)) / "backgrounds" / clip_id / "zarr.json"
        stamp = file_stamp(meta)
        held = self.clips.get(clip_id)
        if stamp is not None and held is not None and held[0] == stamp:
            return held[1]
        row = background_summary(project.background(clip_id))
        if stamp is not None and settled(stamp[0]):
            self.clips[clip_id] = (stamp, row)
        return row

    def summary(self, project, predicted: dict | None = None, progress=None, cancel=None) -> dict:
        """As ``project.summary()``; ``predicted`` (a dict) receives {video id: predicted frames} of the readable
        videos; ``progress(done, total, message)`` hears of each video read, ``cancel`` (a CancelToken) stops it."""
        from dvos_core.progress import check, report
        from dvos_core.store.schema import DamagedStoreError

        if project is not self.project:
            self.project, self.rows, self.clips, self.whole = project, {}, {}, None
            self.look = None if self.look is None else {}
        if self.look is not None and self.whole is not None:  # read already in this look
            out, counts = copy.deepcopy(self.whole[1]), self.whole[2]
            if predicted is not None:
                predicted.update(counts)
            return out
        counts, seen = {}, []
        total = len(project.video_ids()) if progress is not None else 0

        def row(vid: str) -> dict:
            check(cancel)
            try:
                held, counts[vid] = self._video(project, vid)
            except DamagedStoreError:
                self.rows.pop(vid, None)
                raise
            finally:
                seen.append(vid)
                report(progress, len(seen), total, f"read {len(seen)} of {total} videos")
            return copy.deepcopy(held)  # the caller may change its rows

        out = project.summary(video_row=row, background_row=lambda b: self._clip(project, b))
        for gone in set(self.rows) - {v["id"] for v in out["videos"]}:
            del self.rows[gone]
        for gone in set(self.clips) - set(out["backgrounds"]) - set(out.get("backgrounds_interrupted") or ()):
            del self.clips[gone]
        if predicted is not None:
            predicted.update(counts)
        if self.look is not None:
            self.whole = (project, copy.deepcopy(out), counts)
        return out

    def adopt(self, other: SummaryCache) -> None:
        """Take the rows that ``other`` read (in a worker thread, :func:`read_summary`) of its project: the next
        summary of that project reads again only the videos changed since (and those not settled then)."""
        self.project, self.rows, self.clips, self.whole = other.project, dict(other.rows), dict(other.clips), None
        self.look = None if self.look is None else {}


def read_summary(project, progress=None, cancel=None) -> SummaryCache:
    """A new :class:`SummaryCache` holding every video's row of ``project`` (run in a worker thread when a project
    is opened; the main thread adopts it with :meth:`SummaryCache.adopt`, then shows the project without reading it)."""
    cache = SummaryCache()
    cache.summary(project, progress=progress, cancel=cancel)
    return cache
