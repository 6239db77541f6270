"""Per-viewer state shared by every dvos step of one viewer: the open project, the current video, unsaved paint.

Steps never keep their own copy of the project; they call :func:`get_state` and listen to its signals. The state is
held in a ``WeakKeyDictionary`` keyed by the viewer, so closing a viewer frees it and two viewers never share it.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
from psygnal import Signal

from dvos_core.shell import quote
from dvos_napari import _layers

_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _models_mark(root: str) -> int:
    """The latest modification time (ns) of ``root/models`` and the folders in it; 0 when there is none."""
    import os

    try:
        with os.scandir(os.path.join(root, "models")) as found:
            marks = [e.stat().st_mtime_ns for e in found if e.is_dir()]
        return max([os.stat(os.path.join(root, "models")).st_mtime_ns, *marks])
    except OSError:
        return 0


class DvosState:
    """The project and video a viewer works on.

    Signals: ``project_changed(project_or_None)``, ``video_changed(video_id_or_None)``, ``store_changed()`` (masks,
    objects, models or predictions were written; tables should refresh), ``dirty_changed(video_id)`` (frames were
    painted or saved), ``loading_changed(busy)`` (stored masks are being read into a layer),
    ``model_changed(name_or_None)`` (another prediction set was chosen) and ``opening_changed(opening)`` (an
    :class:`Opening` began, or ended: its ``outcome`` is set then).

    ``prediction_model`` names the prediction set (model) whose masks are shown as ``<video> predicted``, corrected
    and evaluated; None means each video's most recent one.
    """

    project_changed = Signal(object)
    video_changed = Signal(object)
    store_changed = Signal()
    dirty_changed = Signal(object)
    loading_changed = Signal(bool)
    model_changed = Signal(object)
    opening_changed = Signal(object)

    def __init__(self, viewer):
        self._viewer_ref = weakref.ref(viewer)
        from dvos_napari._summary import SummaryCache

        self.project = None
        self.opening: Opening | None = None  # the project being opened in the background (open_project_later)
        self.summaries = SummaryCache()  # the project's summary, each video read again only when its files changed
        self.store_stamp = None  # read_store_stamp() at the last refresh: check_store() sees other programs' writes
        self.video_id: str | None = None
        self.prediction_model: str | None = None  # None: each video's most recent prediction set
        # frames painted in the masks layer but not yet saved, per video id
        self.dirty: dict[str, set[int]] = {}
        # masks layers whose paint events feed ``dirty``
        self.tracked_layers: weakref.WeakSet = weakref.WeakSet()
        # videos whose predicted layer was taken out of the viewer (the user deleted it) and not shown again since:
        # Review's Save correction shows it again and saves nothing (its unsaved corrections went with it)
        self.predicted_removed: set[str] = set()
        # video id -> (its provenance, its masks' per-frame file stamps) when its saved masks were last read again
        self._masks_seen: dict = {}
        self.loading: set[str] = set()  # mask reads in progress
        self._report_jobs: list = []  # this panel's jobs that write reports only (look_later: no reread blocks)
        self.workers: list = []  # their worker threads (kept referenced while they run)
        self._after_loading: list = []
        viewer.layers.events.inserted.connect(self._on_layer_inserted)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        self.close_guard = None  # installed by the first dvos dock shown (dvos_napari._close_guard)
        for layer in list(viewer.layers):
            self._adopt_layer(layer)

    @property
    def viewer(self):
        return self._viewer_ref()

    # ---- project -------------------------------------------------------------------------------------------
    def set_project(self, project) -> None:
        """Show ``project`` (None: none) in every step; a project being opened in the background is cancelled: its
        read, when it ends, must not replace this one."""
        dropped = self._take_opening(release=False)
        discarded = self._videos_with_unsaved_work()  # their work goes with the switch (asked about before it)
        self.project = project
        self.store_stamp = self.read_store_stamp()
        self.video_id = None
        self.prediction_model = None
        self.dirty.clear()
        self._masks_seen.clear()
        self._drop_layers_of_other_projects(project, discarded)
        self.predicted_removed.clear()
        if dropped is not None:  # (now: its layers are tracked when they are this project's, else removed)
            self._release_layers(dropped)
        with self.summaries.one_look():
            self.project_changed.emit(project)
        if dropped is not None:
            self.opening_changed.emit(dropped)

    def forget_video(self, video_id: str) -> None:
        """Drop what is kept about ``video_id``'s layers (painted frames, masks last read): they were removed."""
        self.dirty.pop(video_id, None)
        self._masks_seen.pop(video_id, None)
        self.predicted_removed.discard(video_id)

    def _videos_with_unsaved_work(self) -> set[str]:
        """The videos of the open project shown with paint or corrections not saved yet."""
        viewer = self.viewer
        if viewer is None or self.project is None:
            return set()
        mine = [x for x in viewer.layers if _project_of(x) and _same(self.project, _project_of(x))]
        shown = {(x.metadata or {}).get("dvos_video") for x in mine}
        return {vid for vid in shown if vid and _layers.has_unsaved(viewer, self, vid)}

    def _drop_layers_of_other_projects(self, project, discarded=()) -> None:
        """Remove the layers another project's videos are shown in (their unsaved work was asked about before the
        switch): two projects often hold videos of the same name, and such a layer would be taken for the new
        project's - its frames and masks shown, and saved, as the new project's. The same project opened again
        keeps its layers, but not those of the ``discarded`` videos, whose unsaved paint or corrections the user
        agreed to lose: they would show it, untracked, as if it were the project's (picking the video again shows
        it as saved)."""
        viewer = self.viewer
        if viewer is None:
            return
        for layer in list(viewer.layers):
            path = _project_of(layer)
            same = path and _same(project, path)
            if path and (not same or (layer.metadata or {}).get("dvos_video") in discarded):
                viewer.layers.remove(layer)

    def open_project(self, path) -> object:
        """Open the project at ``path`` now (its videos read on this thread): for scripts and tests."""
        from dvos_core.store import Project

        self.set_project(Project.open(path))
        return self.project

    # ---- opening a project in the background ------------------------------------------------------------------
    def open_project_later(self, path, agreed=(), owner=None, then=None) -> Opening:
        """Open the project at ``path`` without freezing napari: its videos are read in a worker thread, then it
        replaces the open project. Another open, a project set meanwhile (New...) or :meth:`cancel_opening` cancels
        it (a read that ends anyway is not shown). Unsaved work not in ``agreed`` (lines of ``unsaved_work`` the user
        already agreed to lose) is asked about before the switch; a failed read keeps the open project and says why.
        ``owner``: the step that asked (parent of the question); ``then(project)`` runs once it is shown. A folder
        that is no project raises at once. Returns the :class:`Opening` (``.job``: its Job)."""
        from dvos_core.store import Project
        from dvos_napari._summary import read_summary
        from dvos_napari._workers import Job

        project = Project.open(path)
        opening = Opening(project, agreed, owner, then)
        label = f"open {Path(opening.path).name}"
        # activity=False: the Project step shows how far the read is; a bar in napari's activity dock costs 0.03-0.3 s
        opening.job = Job(read_summary, project, label=label, process=False, notify=False, activity=False, owner=owner)
        opening.job.finished.connect(lambda status, o=opening: self._opened(o, status))
        if self.opening is not None and _same(self.opening.project, opening.path):
            # the same project again (Open... on a folder still read since it was dropped): its dropped layers wait
            # for this read instead, to be tracked once it opens
            opening.layers, self.opening.layers = self.opening.layers, []
        dropped, self.opening = self._take_opening(), opening
        if dropped is not None:
            self.opening_changed.emit(dropped)
        self.opening_changed.emit(opening)
        opening.job.start()
        return opening

    def cancel_opening(self) -> bool:
        """Cancel the project being opened in the background (True when there was one): it is not shown."""
        dropped = self._take_opening()
        if dropped is not None:
            self.opening_changed.emit(dropped)
        return dropped is not None

    def _take_opening(self, release: bool = True) -> Opening | None:
        """The opening under way, cancelled (its outcome set; with ``release`` its layers released:
        :meth:`_release_layers`), or None; the caller says that it ended (``opening_changed``) once the state has
        moved on."""
        opening, self.opening = self.opening, None
        if opening is None:
            return None
        opening.job.cancel()
        opening.outcome = "cancelled"
        if release:
            self._release_layers(opening)
        return opening

    def _opened(self, opening: Opening, status: str) -> None:
        """The videos of ``opening`` were read (or not): show its project, unless something came after it, the
        user keeps the unsaved work, or the read failed."""
        from dvos_napari._errors import UserMessage
        from dvos_napari._workers import alive

        if self.opening is not opening:  # cancelled: another project came after it
            return
        owner = opening.owner
        if self.viewer is None or (owner is not None and not (alive(owner) and getattr(owner, "is_open", True))):
            self.cancel_opening()  # nobody would see it
            return
        if status == "ok":
            may = self._may_switch(opening)  # (the question runs an event loop: anything may happen meanwhile)
            if self.opening is not opening:  # replaced or cancelled while the user was asked: that one is said
                return
        if status == "ok" and not may:
            opening.outcome = "kept"
            closed = " (its layers were closed)" if self._layers_left(opening) else ""
            opening.message = UserMessage(
                f"{opening.path} was not opened{closed}: you kept the work not saved yet (save it, then open the "
                "project again)"
            )
            if owner is None:  # no step to say it (a dropped folder)
                from napari.utils.notifications import show_info

                show_info(f"dvos: {opening.message.text}")
        elif status == "ok":
            self.opening = None
            opening.outcome = "opened"
            self.summaries.adopt(opening.job.result)  # the steps read its summary from here, not again
            self.set_project(opening.project)
            self._release_layers(opening, adopt=True)
            if opening.then is not None:
                try:
                    opening.then(opening.project)
                except Exception as e:
                    self.report_error(f"opened {opening.path}, but", e)
            self.opening_changed.emit(opening)
            return
        else:  # failed (the job's notification said why), or cancelled through its job
            opening.outcome = "failed" if status == "error" else "cancelled"
            opening.message = opening.job.message
        self.opening = None
        self._release_layers(opening)
        self.opening_changed.emit(opening)

    def _may_switch(self, opening: Opening) -> bool:
        """Whether the project read may replace the open one: unsaved work the user did not agree to lose when the
        open began (painted while it was read, or any for a dropped folder) is asked about first."""
        from dvos_napari._close_guard import close_anyway, unsaved_work

        new = [line for line in unsaved_work(self.viewer, self) if line not in opening.agreed]
        return not new or close_anyway(self._question_parent(opening), new, f"Open {opening.path} anyway")

    def _question_parent(self, opening: Opening):
        """The step that asked for ``opening``, else the napari window (through the close guard), else None."""
        from dvos_napari._workers import alive

        for candidate in (opening.owner, self.close_guard):
            if candidate is not None and alive(candidate):
                return candidate if candidate is opening.owner else candidate.parent()
        return None

    def _layers_left(self, opening: Opening) -> list:
        """The layers dropped with ``opening``'s project that are still in the viewer."""
        viewer = self.viewer
        if viewer is None:
            return []
        return [(layer, e) for layer, e in opening.layers if any(x is layer for x in viewer.layers)]

    def _release_layers(self, opening: Opening, adopt: bool = False) -> None:
        """The layers dropped with ``opening``'s project, still in the viewer, stop waiting for it. When it opened
        (``adopt``), or is the open project, they are editable again, their paint is tracked and their video becomes
        the current one. Otherwise (the user kept unsaved work, the read failed or was cancelled) they are removed:
        the reader added them, and left they would be dvos layers no step follows - paint in them neither saved nor
        asked about, and taken for that project's layers (stale paint shown as saved) once it is opened later."""
        layers = self._layers_left(opening)
        opening.layers = []
        viewer = self.viewer
        if viewer is None:
            return
        adopt = adopt or _same(self.project, opening.path)
        for layer, editable in layers:
            if not adopt:
                viewer.layers.remove(layer)
                continue
            if editable is not None:
                layer.editable = editable
            self._adopt_layer(layer)
            vid = (layer.metadata or {}).get("dvos_video")
            for x, frames in opening.painted:  # painted before it was dropped here: Save all stores them
                if x is layer and vid and _layers.is_tracked(layer, self):
                    self.mark_dirty(vid, frames)
        opening.painted = []

    def create_project(self, path, overwrite: bool = False) -> object:
        from dvos_core.store import Project

        self.set_project(Project.create(path, overwrite=overwrite))
        return self.project

    def summary(self) -> dict:
        """``project.summary()`` of the open project, reading again only the videos whose files changed since the
        last look (a refresh of every step at each store change reads little on a project of many videos)."""
        return self.summaries.summary(self.require_project())

    def require_project(self):
        """The open project, or a ValueError telling the user to open one."""
        if self.project is None:
            raise ValueError("no dvos project is open: create or open one in the Project step first")
        return self.project

    def require_video(self):
        """The current video (``project.video``), or a ValueError naming the fix."""
        p = self.require_project()
        if self.video_id is None:
            raise ValueError("no video selected: pick one in the Project step first (double-click it)")
        if self.video_id not in p.video_ids():
            raise ValueError(
                f"video {self.video_id!r} is no longer in the project {p.path}: another program deleted it (e.g. "
                f"`dvos delete {quote(p.path)} video {quote(self.video_id)} --yes`) after it was shown here, so "
                f"nothing can be saved into it. Its layers still show what was read; to keep painted frames, save the "
                f"masks layer as image files (File > Save Selected Layers), then pick another video in the Project step"
            )
        return p.video(self.video_id)

    # ---- video -----------------------------------------------------------------------------------------------
    def select_video(self, video_id: str | None, show: bool = True) -> None:
        """Make ``video_id`` current and (by default) show its frames, masks and predictions as layers."""
        video = None
        if show and video_id is not None and self.viewer is not None:
            # the leftover of a killed import is not shown: work painted into it would go when it is replaced
            video = self.require_project().video(video_id).require_complete()
        before, self.video_id = self.video_id, video_id
        if video is not None:
            try:
                _layers.show_video(self.viewer, video, self)
            except Exception:  # e.g. no room for masks, or a replaced video's kept layers: the video before stays
                self.video_id = before
                raise
        self.video_changed.emit(video_id)

    def set_prediction_model(self, name: str | None) -> bool:
        """Choose the prediction set shown as ``<video> predicted`` (None: the most recent); the current video's
        predicted layers are re-read from it. True when they were (False: the same set as before, or no video)."""
        name = name or None
        if name == self.prediction_model:
            return False
        before, self.prediction_model = self.prediction_model, name
        viewer = self.viewer
        if viewer is not None and self.project is not None and self.video_id in self.project.video_ids():
            try:
                _layers.show_predictions(viewer, self.project.video(self.video_id), self)
            except _layers.NoRoomForMasksError:  # no layer was changed: they still show the model before
                self.prediction_model = before
                raise
            shown = True
        else:
            shown = False
        self.model_changed.emit(name)
        return shown

    def frame_layer(self):
        """The current video's layer whose frames the slider is read against (:meth:`current_frame`): its masks,
        else its predicted masks, else its image layer; None when none is shown."""
        viewer, vid = self.viewer, self.video_id
        if viewer is None or vid is None:
            return None
        return next((x for r in ("masks", "predicted", "image") if (x := _layers.video_layer(viewer, vid, r))), None)

    def current_frame(self, layer=None) -> int:
        """The video frame the viewer shows in ``layer`` (default: :meth:`frame_layer`), by
        :func:`~dvos_napari._layers.frame_shown`: not the slider's step, which a layer of another time scale or a
        layer's translate moves away from the video's frames. It can lie outside the video (check_frame refuses)."""
        viewer = self.viewer
        if viewer is None:
            return 0
        return _layers.frame_shown(viewer, self.frame_layer() if layer is None else layer)

    def show_frame(self, t: int, layer=None) -> None:
        """Move the frame slider to where ``layer`` (default: :meth:`frame_layer`) shows frame ``t`` of the video."""
        viewer = self.viewer
        if viewer is not None:
            _layers.show_frame(viewer, t, self.frame_layer() if layer is None else layer)

    def notify_store_changed(self, reports_only: bool = False) -> None:
        """This panel wrote the project: refresh the steps. What another program wrote since the last look is read
        first (:meth:`check_store`): this write's mark would hide its mark, and the layers would keep showing what
        was there before it (a mask imported from a terminal, painted over at the next save). ``reports_only``: this
        write was of reports only (an evaluation): the shown video's masks and predictions are looked at in a worker
        thread, and read again only when another program changed them (:meth:`look_later`)."""
        if self.check_store(reports_only=reports_only):
            return
        self.store_stamp = self.read_store_stamp()
        with self.summaries.one_look():
            self.store_changed.emit()

    def read_store_stamp(self):
        """A cheap mark of the project's last write by any process (None without a project): the project folder's
        modification time, which changes whenever a writer takes or gives back the writer lock (its holder record
        ``.dvos-writer.json`` is created and removed), whether a writer holds it now, and the latest modification
        time of ``models`` and its folders (a training run writes its checkpoints there without the writer lock)."""
        import os

        from dvos_core.store.lock import HOLDER_NAME

        if self.project is None:
            return None
        root = str(self.project.path)
        try:
            return (os.stat(root).st_mtime_ns, os.path.exists(os.path.join(root, HOLDER_NAME)), _models_mark(root))
        except OSError:
            return None

    def check_store(self, reports_only: bool = False) -> bool:
        """Emit ``store_changed`` (and read the current video's saved masks into its layer again) when another
        program (e.g. the ``dvos`` command line) wrote the project since the last look, once it has finished writing;
        True when it did. With ``reports_only`` (or while a job of this panel that writes reports only runs:
        :meth:`writes_reports`), the write may be that job's, which changed no mask nor prediction: what the layers
        show is compared with the store in a worker thread instead (:meth:`look_later`)."""
        stamp = self.read_store_stamp()
        if stamp is None or stamp == self.store_stamp:
            return False
        if stamp[1] and not self._writer_is_us() and self._someone_writes():  # look again once it is done
            return False
        self.store_stamp = stamp
        with self.summaries.one_look():
            self.store_changed.emit()
        if not self._reshow_if_replaced():
            self._report_jobs = [job for job in self._report_jobs if getattr(job, "status", None) is None]
            if reports_only or self._report_jobs:
                self.look_later()
            else:
                self.reread_stored_masks()
                self._reread_predictions()
        return True

    def writes_reports(self, job) -> None:
        """``job`` (a step's :class:`~dvos_napari._workers.Job`) writes reports into the project, nothing else:
        until it has ended, a look at the store that finds a write does not read the shown video again on this
        thread (:meth:`look_later`)."""
        if job is not None:
            self._report_jobs.append(job)

    def look_later(self) -> None:
        """The project was written, perhaps only its reports (an evaluation): in a worker thread, look at the current
        video's saved masks (provenance and mask file stamps, :func:`~dvos_napari._layers.masks_look`) and at the
        prediction set its predicted layer would show; back on this thread, read again only what changed since the
        layers showed it (:meth:`reread_stored_masks`, :meth:`_reread_predictions`), so a write of reports stats no
        mask file and opens no prediction set here (seconds on a long video)."""
        viewer, project, vid, model = self.viewer, self.project, self.video_id, self.prediction_model
        if viewer is None or project is None or vid is None:
            return
        from napari.qt.threading import create_worker

        def look():
            video = project.video(vid).require_complete()
            masks = _layers.masks_look(video)
            try:
                preds = _layers.prediction_set(video, model)
                shown = preds.arrays() is not None and len(preds.frames()) > 0
                key = _layers.set_key(preds) if shown else None
            except (KeyError, ValueError):
                key = None
            return masks, key

        def looked(found) -> None:
            if self.project is not project or self.video_id != vid or self.prediction_model != model:
                return  # moved on: that look reads what it shows
            (provenance, stamps), key = found
            seen = self._masks_seen.get(vid)
            same = (
                seen is not None
                and stamps is not None
                and seen[1] is not None
                and np.array_equal(seen[0], provenance)
                and seen[1] == stamps
            )
            if not same and _layers.video_layer(viewer, vid, "masks") is not None:
                self.reread_stored_masks()
            if _layers.video_layer(viewer, vid, "predicted") is not None and key != _layers.shown_set(viewer, vid):
                self._reread_predictions()

        worker = create_worker(look, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(looked)
        worker.errored.connect(lambda e: None)  # deleted or damaged meanwhile: the Project step says so
        self.workers.append(worker)
        worker.finished.connect(lambda *_: self.workers.remove(worker) if worker in self.workers else None)
        worker.start()

    def shown_video_replaced(self) -> bool:
        """Whether the current video's layers show an older video of its id (another program deleted it and added
        one under the same id since): nothing of theirs may be read into or saved from them as the new video's."""
        viewer, project, vid = self.viewer, self.project, self.video_id
        if viewer is None or project is None or vid is None:
            return False
        try:
            video = project.video(vid)
        except Exception:  # deleted (the Project step says so) or damaged
            return False
        return bool(_layers.replaced_layers(viewer, video))

    def _reshow_if_replaced(self) -> bool:
        """When the current video was replaced (:meth:`shown_video_replaced`), show the new one, unless the old
        layers hold unsaved work (kept: the Project step warns, and saves are refused); True when it was replaced."""
        if not self.shown_video_replaced():
            return False
        if not _layers.has_unsaved(self.viewer, self, self.video_id):
            try:
                self.select_video(self.video_id)
            except Exception as e:  # e.g. a leftover of an import still under way: shown when picked again
                self.report_error(f"could not show the new video {self.video_id}", e)
        else:  # kept for the paint: they must not show the new video's frames under it
            _layers.blank_replaced(self.viewer, self.project.video(self.video_id))
        return True

    def _reread_predictions(self) -> None:
        """Another program predicted again the set the current video's predicted layer shows (or a newer set is now
        the most recent): read it into the layer again, unless the layer holds unsaved corrections (kept, as
        :func:`~dvos_napari._layers.show_predictions` keeps them). Else the layer showed the old masks, and Save
        correction stored an old mask as a correction."""
        viewer, project, vid = self.viewer, self.project, self.video_id
        if viewer is None or project is None or vid is None or vid not in project.video_ids():
            return
        if _layers.video_layer(viewer, vid, "predicted") is None:
            return
        if self.loading:
            self.after_loading(self._reread_predictions)
            return
        try:
            _layers.show_predictions(viewer, project.video(vid), self, replace=False)
        except _layers.NoRoomForMasksError as e:
            self.report_error(f"could not show the predicted masks of {vid}", e)

    def reread_stored_masks(self) -> None:
        """Another program (or another napari window on this project) wrote it: read the current video's stored
        masks into its masks layer again, all but the frames painted here and not saved. Else the layer would show
        an older mask (or none) where one is now saved, and painting that frame and saving it would replace the
        saved mask by the stale one plus the new strokes. Only frames whose mask file or provenance changed since
        the last look are read (a long video is not read whole at every write); while masks are being read, this
        waits for them to finish."""
        if self.loading:  # a read under way would not show this write: look again when it is done
            self.after_loading(self.reread_stored_masks)
            return
        viewer, project, vid = self.viewer, self.project, self.video_id
        if viewer is None or project is None or vid is None:
            return
        layer = _layers.video_layer(viewer, vid, "masks")
        if layer is None:
            return
        try:
            video = project.video(vid).require_complete()
            provenance = np.asarray(video.provenance[: video.n_frames])
        except Exception:  # deleted or damaged meanwhile: the Project step says so
            return
        stamps = _layers.mask_file_stamps(video)
        before = self._masks_seen.get(vid)
        n = len(provenance)
        unknown = before is None or before[0].shape != provenance.shape or stamps is None or before[1] is None
        if unknown:
            changed = np.ones(n, bool)  # nothing to compare with: every frame
        else:
            changed = provenance != before[0]
            changed |= np.array([stamps.get(t) != before[1].get(t) for t in range(n)], bool)
        # the frames painted here and not saved still show what they showed before: what was written there since
        # is told when they are saved (written_under_paint)
        seen_provenance, seen_stamps = provenance.copy(), None if stamps is None else dict(stamps)
        if before is not None and before[0].shape == provenance.shape:
            for t in self.dirty.get(vid, ()):
                if 0 <= t < n:
                    seen_provenance[t] = before[0][t]
                    if seen_stamps is not None:
                        _set_stamp(seen_stamps, t, None if before[1] is None else before[1].get(t))
        self._masks_seen[vid] = (seen_provenance, seen_stamps)
        if _layers.is_replaced(viewer, vid, "masks"):
            # data replaced from code: its frames that differ join the painted ones, kept below; a frame the other
            # program wrote is not compared (the layer may hold its old mask there: the new one is read), unless
            # which frames it wrote is unknown (then every frame is: an edit is kept, as painted frames are)
            frames = None if unknown else np.flatnonzero(~changed).tolist()
            try:
                _layers.resolve_replaced(viewer, self, vid, frames=frames)
            except Exception:  # data of another shape: it stays marked, the close guard names it
                pass
        dirty = self.dirty.get(vid, set())
        cleared = [t for t in np.flatnonzero(changed & (provenance == 0)).tolist() if t not in dirty]
        if cleared and layer.editable:  # masks removed by the other program: the layer shows none there either
            layer.data[cleared] = 0
            layer.refresh()
        skip = set(np.flatnonzero(~changed).tolist()) | set(dirty)
        _layers.load_masks(layer, video, "masks", self, skip=sorted(skip))

    def _someone_writes(self) -> bool:
        """Whether the writer lock's holder record belongs to a running process (a killed writer leaves its record
        behind: waiting for it to finish would stop the panel from ever showing the project's changes)."""
        from dvos_core.store.lock import writer_lock

        return self.project is not None and writer_lock(self.project.path).writing()

    def _writer_is_us(self) -> bool:
        from dvos_core.store.lock import writer_lock

        return self.project is not None and writer_lock(self.project.path).held

    # ---- unsaved paint -----------------------------------------------------------------------------------------
    def mark_dirty(self, video_id: str, frames) -> None:
        self.dirty.setdefault(video_id, set()).update(int(t) for t in frames)
        self.dirty_changed.emit(video_id)

    def mark_saved(self, video_id: str, frames) -> None:
        """Frames saved (or found as the project holds them): no longer unsaved paint; the layer shows what is
        stored there now."""
        frames = [int(t) for t in frames]
        self.dirty.get(video_id, set()).difference_update(frames)
        if frames and video_id in self._masks_seen and self.project is not None:
            try:
                self.masks_shown(self.project.video(video_id), frames)
            except Exception:  # deleted meanwhile: the next look reads it whole
                self._masks_seen.pop(video_id, None)
        self.dirty_changed.emit(video_id)

    def masks_shown(self, video, frames=None) -> None:
        """The masks layer of ``video`` now shows its stored masks (of ``frames``; default every frame, as read
        into a new layer): remembered, to tell later which frames were written since."""
        if frames is None:
            self._masks_seen[video.name] = _layers.masks_look(video)
            return
        seen = self._masks_seen.get(video.name)
        if seen is None:
            return
        provenance, stamps = seen
        root = None if stamps is None else _layers.mask_files_root(video)
        now = video.provenance  # (read once: each read of it reads the whole array)
        for t in frames:
            t = int(t)
            if 0 <= t < min(len(provenance), len(now)):
                provenance[t] = now[t]
                if stamps is not None:
                    _set_stamp(stamps, t, _layers.mask_file_stamp(root, t))

    def written_under_paint(self, video, frames) -> dict[int, int]:
        """{frame: provenance code the masks layer showed} of ``frames`` whose stored mask was written (by another
        program, or a step's job) since the layer showed it, e.g. pseudo-labelled from a terminal while the frame
        held unsaved paint: that paint was made over what the layer showed, not over the mask stored now. Empty when
        it is not known what the layer showed."""
        seen = self._masks_seen.get(video.name)
        if seen is None:
            return {}
        provenance, stamps = seen
        now = np.asarray(video.provenance[: video.n_frames])
        if now.shape != provenance.shape:
            return {}
        out = {}
        root = None if stamps is None else _layers.mask_files_root(video)
        for t in sorted({int(t) for t in frames}):
            if not 0 <= t < len(now):
                continue
            moved = now[t] != provenance[t]
            if not moved and stamps is not None:
                moved = _layers.mask_file_stamp(root, t) != stamps.get(t)
            if moved:
                out[t] = int(provenance[t])
        return out

    # ---- background mask reads ---------------------------------------------------------------------------------
    def begin_loading(self, key: str) -> str:
        self.loading.add(key)
        self.loading_changed.emit(True)
        return key

    def end_loading(self, key: str) -> None:
        self.loading.discard(key)
        self.loading_changed.emit(bool(self.loading))
        if not self.loading:
            waiting, self._after_loading = self._after_loading, []
            for callback in waiting:
                callback()

    def after_loading(self, callback) -> None:
        """Call ``callback()`` once no masks are being read (at once if none are)."""
        if self.loading:
            self._after_loading.append(callback)
        else:
            callback()

    def report_error(self, what: str, error: BaseException) -> None:
        from napari.utils.notifications import show_error

        from dvos_napari._errors import user_message

        show_error(f"dvos: {what}: {user_message(error).text}")

    # ---- layers opened by the reader ---------------------------------------------------------------------------
    def _on_layer_inserted(self, event) -> None:
        self._adopt_layer(event.value)
        md = getattr(event.value, "metadata", None) or {}  # (a copy made the user's own has none left)
        if md.get("dvos_role") == "predicted":
            self.predicted_removed.discard(md.get("dvos_video"))

    def _on_layer_removed(self, event) -> None:
        """A masks layer taken out of the viewer takes its unsaved paint with it: its frames are no longer "painted
        but not saved" (else Save all painted frames would store the re-read layer's frames, empty where the paint
        was, as the user's masks). A dropped project whose layers all left before it opened is not opened."""
        layer = event.value
        opening = self.opening
        if opening is not None and any(x is layer for x, _ in opening.layers):
            opening.layers = [(x, e) for x, e in opening.layers if x is not layer]
            if not opening.layers and opening.owner is None:  # a dropped project whose layers were all closed
                self.cancel_opening()  # (or its window): it is not opened; an Open... the user asked for goes on
        md = getattr(layer, "metadata", None) or {}
        vid = md.get("dvos_video")
        ours = bool(md.get("dvos_project")) and _same(self.project, md.get("dvos_project"))
        if md.get("dvos_role") == "predicted" and vid and ours:
            self.predicted_removed.add(vid)
        if md.get("dvos_role") != "masks" or not vid or not self.dirty.get(vid):
            return
        viewer = self.viewer
        others = [] if viewer is None else [x for x in viewer.layers if _layers.video_layer_of(x, vid, "masks")]
        if not others:
            self.dirty.pop(vid, None)
            self.dirty_changed.emit(vid)

    def _adopt_layer(self, layer) -> None:
        """A layer from our reader carries ``dvos_project``/``dvos_video`` metadata: open that project."""
        if _made_own(layer, self):
            return
        md = getattr(layer, "metadata", {}) or {}
        viewer = self.viewer
        if viewer is not None and (md.get("dvos_role") == "image" or md.get("dvos_source")):
            _layers.set_axis_labels(viewer)
        path = md.get("dvos_project")
        if not path:
            return
        if not _same(self.project, path):  # a dropped project folder: opened in the background
            opening = self.opening
            if opening is None or not _same(opening.project, path):
                try:
                    opening = self.open_project_later(path)
                except Exception as e:
                    self.report_error(f"cannot open project {path}", e)
                    return
            # read-only until its project is open (its paint could not be tracked before), then adopted again
            editable = layer.editable if md.get("dvos_role") == "masks" else None
            opening.layers.append((layer, editable))
            if editable:
                painted = _layers.painted_frames(layer)  # napari forgets them when the layer becomes read-only
                if painted:
                    opening.painted.append((layer, painted))
                layer.editable = False
            return
        vid = md.get("dvos_video")
        if vid and self._shown_twice(layer, md.get("dvos_role")):
            return
        if md.get("dvos_role") == "masks":
            _layers.track_paint(layer, self)
        if vid and md.get("dvos_role") == "image" and vid != self.video_id:
            self.video_id = vid
            self.video_changed.emit(vid)

    def _shown_twice(self, layer, role) -> bool:
        """A layer of the open project dropped on napari again while the current video already has a layer of its
        role: it leaves the viewer as soon as its insertion ends, so that paint goes to one masks layer - the one
        Save all and the unsaved count know - and the video's unsaved paint stays; the layer of another video (the
        reader's is the project's first video) leaves too, and the current video stays shown. True when it goes."""
        viewer = self.viewer
        md = layer.metadata or {}
        vid, current = md.get("dvos_video"), self.video_id
        if viewer is None or role not in ("image", "masks") or current is None:
            return False

        def shown(x) -> bool:  # this project's layer of the current video, the one dvos follows (not one untracked)
            other = x.metadata or {}
            same = _layers.video_layer_of(x, current, role) and _same(self.project, other.get("dvos_project", ""))
            return same and (role == "image" or _layers.is_tracked(x, self))

        if not any(x is not layer and shown(x) for x in viewer.layers):
            return False
        from napari.utils.notifications import show_info
        from qtpy.QtCore import QTimer

        def drop():
            if any(x is layer for x in viewer.layers):
                viewer.layers.remove(layer)

        layer.visible = False
        QTimer.singleShot(0, drop)
        if role == "image" and vid == current:
            show_info(f"dvos: {vid} is already shown (its layers are kept, with any unsaved paint)")
        elif role == "image":
            show_info(f"dvos: the project is already open and {current} stays shown; pick {vid} in the Project step")
        return True


def _made_own(layer, state) -> bool:
    """A layer napari made from a dvos layer (Duplicate Layer, or another action that records the layer
    it came from; Convert to Image / Labels, which records none) carries the dvos metadata of its parent, and would
    be taken for it - a masks copy for a project layer dropped again, a predicted copy painted while Save correction
    saves the untouched original, an Image made of the masks layer saved from as the masks. Its dvos metadata is
    taken off: it becomes a layer of the user's own, which dvos neither saves nor follows, and the user is told
    which layer dvos saves. True when it was such a layer."""
    md = dict(getattr(layer, "metadata", None) or {})  # (a copy: napari empties the layer's dict when it is set)
    if not any(str(k).startswith("dvos_") for k in md):
        return False
    ref = getattr(getattr(layer, "source", None), "parent", None)
    parent = ref() if callable(ref) else ref  # napari keeps a weak reference
    converted = parent is None and _converted(layer, md)
    if parent is None and not converted:
        return False
    layer.metadata = {k: v for k, v in md.items() if not str(k).startswith("dvos_")}
    from napari.utils.notifications import show_info

    role, vid = md.get("dvos_role"), md.get("dvos_video")
    gone = ""
    if converted:  # the layer converted: still shown (a copy was converted), or taken out by napari
        viewer = state.viewer
        found = _layers.video_layer(viewer, vid, role) if viewer and vid and role in _layers.LAYER_NAMES else None
        parent = found if found is not None and found is not layer else None
        if parent is None and vid and role in _layers.LAYER_NAMES:
            gone = f" (napari took it out of the viewer to convert it: pick {vid} in the Project step to show it again)"
    elif role in ("masks", "predicted"):  # its paint is the user's: Save frame / correction will not take it for none
        _layers.follow_copy(layer, parent, vid, state)
    if parent is not None:
        source = parent.name
    elif vid and role in _layers.LAYER_NAMES:
        source = _layers.LAYER_NAMES[role](vid)
    else:
        source = layer.name
    if parent is None and layer.name == source:  # (napari gave it the name of the layer it took out)
        layer.name = f"{source} copy"  # as Duplicate Layer names a copy; dvos's layer shown again takes its name
    saved = {"masks": " (Save frame saves that one)", "predicted": " (Save correction saves that one)"}.get(role, "")
    show_info(
        f"dvos: '{layer.name}' is a copy of '{source}' and a layer of your own, which dvos neither saves nor "
        f"follows; paint in '{source}' to have your paint saved{saved}{gone}"
    )
    return True


def _converted(layer, md: dict) -> bool:
    """Whether ``layer`` is of another kind than the dvos layer its metadata names (``md``): made by napari's
    Convert to Image / Convert to Labels (layer menu), which gives it the metadata of the layer it converts."""
    from napari.layers import Image, Labels

    role = md.get("dvos_set_aside") or md.get("dvos_role")
    kind = {"masks": Labels, "predicted": Labels, "image": Image, "probability": Image, "placeholder": Image}.get(role)
    return kind is not None and not isinstance(getattr(layer, "__wrapped__", layer), kind)


def _set_stamp(stamps: dict, t: int, stamp) -> None:
    """Set frame t's mask file stamp in ``stamps`` (None: no file, as :func:`~dvos_napari._layers.mask_file_stamps`
    leaves it out)."""
    if stamp is None:
        stamps.pop(t, None)
    else:
        stamps[t] = stamp


def _project_of(layer) -> str | None:
    """The project folder a dvos layer shows a video of (its metadata), else None."""
    return (getattr(layer, "metadata", None) or {}).get("dvos_project")


def _same(project, path) -> bool:
    """Whether ``project`` (or None) is the project at ``path``."""
    return project is not None and Path(project.path).resolve() == Path(path).resolve()


class Opening:
    """A project being opened in the background (:meth:`DvosState.open_project_later`)."""

    def __init__(self, project, agreed=(), owner=None, then=None):
        self.project = project
        self.path = str(project.path)
        self.n = len(project.video_ids())
        self.agreed = list(agreed)  # lines of unsaved work the user agreed to lose when the open began
        self.owner = owner  # the step that asked for it, or None
        self.then = then
        self.job = None  # the Job reading its summary (a SummaryCache, adopted by the state)
        self.layers: list = []  # (layer, editable before or None) dropped with it, waiting for it to open
        self.painted: list = []  # (masks layer, frames painted in it before it waited): unsaved work once adopted
        self.outcome: str | None = None  # then 'opened', 'cancelled', 'failed' or 'kept' (the user kept unsaved work)
        self.message = None  # a UserMessage: why it failed, or that the unsaved work was kept


def get_state(viewer) -> DvosState:
    """The one :class:`DvosState` of ``viewer`` (created on first use)."""
    state = _STATES.get(viewer)
    if state is None:
        state = DvosState(viewer)
        _STATES[viewer] = state
    return state
