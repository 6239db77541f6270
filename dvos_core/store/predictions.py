"""A video's model predictions, one set per model, stored beside (never in) its label masks.

From schema 3: ``videos/<id>/predictions/<model>/`` holds ``probability`` float16 (T,H,W), ``masks`` uint8 (T,H,W)
(probability >= threshold, from the float32 probability before its float16 rounding: a stored probability that
reads as the threshold can be a 0 mask) and ``done`` uint8 (T,), the per-frame commit written after the data (the
number of the prediction pass that finished the frame: 1, or 2 for a context model's refinement). Its attributes
record what made it: ``checkpoint`` (path), ``fingerprint`` (SHA-256 of the checkpoint file), ``kind``,
``threshold``, ``date`` and the prediction settings. Several models' predictions of one video live side by side,
so they can be compared (``dvos evaluate --models``) and any of them corrected.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from pathlib import Path

import numpy as np

from dvos_core.shell import quote
from dvos_core.store import arrays
from dvos_core.store.fsops import discard, model_folders
from dvos_core.store.schema import NotInStoreError, check_id

GROUP = "predictions"
KEYS = ("masks", "probability", "done")
STAGED_DONE = "done_staged"  # where a new set's flags are written before they become its "done" (see _create_done)
# the rows a comparison of models adds itself (dvos_core.evaluate.compare): a set of such a name could not be compared
RESERVED_NAMES = ("previous_true_mask", "all_foreground", "ground_truth")
RENEW_RUN = "run_renewed_at_first_write"  # set attr: a resumed run gives the set a new run id when it writes a frame


def _new_run() -> str:
    """A new run id: tells two runs apart even within one second (what derived sets key on)."""
    return uuid.uuid4().hex


def checkpoint_sha(fingerprint) -> str | None:
    """The SHA-256 of the checkpoint file a set's ``fingerprint`` starts with (see infer.predict._fingerprint), or
    None for a set without one."""
    return fingerprint.split("/", 1)[0].split("@", 1)[0] if isinstance(fingerprint, str) and fingerprint else None


def recorded_checkpoint(root, attrs: dict) -> str | None:
    """The checkpoint a prediction set's ``attrs`` record, as a path from here: one of the project's own models
    (``checkpoint_in_project``) is named in project ``root`` as it is now (a copied or moved project recorded it
    where the original lay); another file as recorded."""
    from dvos_core.store.fsops import own_model_file

    recorded = attrs.get("checkpoint")
    own = own_model_file(root, recorded, True) if recorded and attrs.get("checkpoint_in_project") else None
    return str(own) if own is not None else recorded


def check_probabilities(probabilities, what: str = "probabilities", after: str = "") -> np.ndarray:
    """``probabilities`` as float32, or a ValueError (``what`` they are, then ``after``) when any is outside [0, 1] or
    NaN: a 0/255 image or mask is not a probability map (the store's rule, :func:`~dvos_core.infer.smooth.smooth_array`
    checks its input by it too)."""
    p = np.asarray(probabilities, np.float32)
    if p.size:
        lo, hi = float(np.min(p)), float(np.max(p))  # NaN propagates into both
        if not (lo >= 0.0 and hi <= 1.0):
            bad = "NaN" if np.isnan(lo) or np.isnan(hi) else f"values from {lo:g} to {hi:g}"
            raise ValueError(
                f"{what} hold {bad}; a probability map is a number in [0, 1] per pixel (a 0/255 image: divide by "
                f"255 first){after}"
            )
    return p


class ModelPredictions:
    """The predictions of one model for one video (``video.predictions[model]``)."""

    def __init__(self, video, model: str):
        self.video, self.model = video, check_id(model, "model name")

    def __repr__(self) -> str:
        state = f"{len(self.frames())} of {self.video.n_frames} frames predicted" if self.exists() else "no set yet"
        return f"ModelPredictions({self.model!r} of {self.video.kind} {self.video.name!r}: {state})"

    @property
    def _path(self) -> str:
        return f"{GROUP}/{self.model}"

    def _require(self) -> None:
        """:class:`~dvos_core.store.schema.NotInStoreError` naming the sets there are, when this one does not exist
        (Zarr's own error was ``KeyError: 'predictions/NAME/masks'``)."""
        if not self.exists():
            v = self.video
            models = [p.name for p in model_folders(v.path)]
            if v.path is None or self.model in models:
                fix = (
                    f"make them with `dvos predict {quote(v.path or 'PROJECT')} {quote(self.model)} --videos "
                    f"{quote(v.name)}`, or dvos_core.infer.predict_video"
                )
            else:  # a predict command would fail too: there is no model of that name
                fix = f"the project has no model {self.model!r} either; its models: {', '.join(models) or 'none'}"
            raise NotInStoreError(
                f"{v.path or 'PROJECT'}: video {v.name!r} has no predictions of {self.model!r}; it has predictions "
                f"of {Predictions(v).models()} ({fix})"
            )

    def read(self, key: str, rows):
        """``key`` (one of ``masks``, ``probability``, ``done``) of frames ``rows`` (an int, a slice or a sequence of
        frame indices); a damaged file is a :class:`~dvos_core.store.schema.DamagedStoreError` naming it. Frames
        added to the video after the set's arrays last grew (only a write grows them) read as not predicted: flag 0,
        zeros."""
        from dvos_core.store import arrays

        v = self.video
        if key not in KEYS:
            raise ValueError(f"key must be one of {KEYS}, got {key!r}")
        self._require()
        arr = v._array(f"{self._path}/{key}", self._meta_fix())
        n = arr.shape[0]
        wanted = arrays.row_indices(rows, max(n, v.n_frames))
        added = [r >= n and r < v.n_frames for r in wanted]  # frames appended since: never predicted by this set
        if any(added) and (key == "done" or not np.any(self.read("done", [r for r, a in zip(wanted, added) if a]))):
            inside = [r for r, a in zip(wanted, added) if not a]
            out = np.zeros((len(wanted), *arr.shape[1:]), arr.dtype)
            if inside:
                out[~np.asarray(added)] = self.read(key, inside)
            return out[0] if isinstance(rows, (int, np.integer)) else out
        what = {"masks": "predicted mask", "probability": "predicted probability", "done": "prediction flag"}[key]
        fix = self._meta_fix() if key == "done" else self._fix()  # predicting again reads the flags first
        present = True  # every flag was written when the set was started (or grew)
        if key != "done":  # a predicted frame's mask and probability were written: their files must be there
            present = [t for t, d in zip(wanted, np.atleast_1d(self.read("done", rows))) if d]
        return arrays.read(arr, rows, v._owner, f"{what} by {self.model!r}", fix, present)

    def exists(self) -> bool:
        """Whether the set is there (its ``done`` array, created last, exists); a set or ``predictions`` folder
        whose ``zarr.json`` is missing or cannot be read is a :class:`~dvos_core.store.schema.DamagedStoreError`
        naming it."""
        sub = _open(self.video, self._path, self.model)
        folder = _folder(self.video, f"{self._path}/done")
        return sub is not None and (folder.is_dir() if folder is not None else "done" in sub)

    @property
    def attrs(self) -> dict:
        return dict(_open(self.video, self._path, self.model).attrs) if self.exists() else {}

    def arrays(self, create: bool = False):
        """(masks, probability, done) arrays; None when absent. ``create``: for a write, create them when absent and
        grow them to the video's frames (appended since they were made). A read never writes: when the video has
        grown since, each array is a read-only view of the video's length whose added frames read as not predicted
        (flag 0, zeros), so a project opened read-only reads too."""
        v, g = self.video, self.video.group
        if not self.exists():  # "done" is created last: a killed creation is simply redone
            if not create:
                return None
            n, h, w, _ = v.shape
            with v._write(f"creating the prediction arrays of {self.model!r}"):
                sub = g.require_group(GROUP).require_group(self.model)
                arrays.create(sub, "probability", (n, h, w), "float16", chunks=(1, h, w))
                arrays.create(sub, "masks", (n, h, w), "uint8", chunks=(1, h, w), compressors=arrays.mask_codecs())
                self._create_done(sub, n)
        arrs = {key: v._array(f"{self._path}/{key}", self._meta_fix()) for key in KEYS}  # a damaged zarr.json named
        n = v.n_frames
        if not create:
            return tuple(a if a.shape[0] >= n else _Grown(a, n) for a in arrs.values())
        if any(a.shape[0] < n for a in arrs.values()):
            with v._write("growing the prediction arrays"):
                for key, a in arrs.items():  # the flags last, each added one written: "every flag was written"
                    had = a.shape[0]
                    arrays.ensure_length(a, n)
                    if key == "done" and had < n:
                        a[had:n] = 0
        return arrs["masks"], arrs["probability"], arrs["done"]

    def _create_done(self, sub, n: int) -> None:
        """Create the set's ``done`` flags (the array whose presence makes the set exist) whole: its zeros are
        written under a staging name and the folder is renamed into place, so a kill never leaves a ``done`` without
        its chunks (a damaged set that predicting again could not resume)."""
        folder = _folder(self.video, self._path)
        if folder is None:  # no folders: created and zeroed in place
            arrays.create(sub, "done", (n,), "uint8", chunks=(4096,))
            sub["done"][:] = 0
            return
        staged = folder / STAGED_DONE
        if staged.exists():  # the leftover of a killed creation
            discard(staged, Path(str(self.video.group.store.root)))
        arrays.create(sub, STAGED_DONE, (n,), "uint8", chunks=(4096,))
        sub[STAGED_DONE][:] = 0
        os.rename(staged, folder / "done")

    def _fix(self) -> str:
        """The fix for a damaged chunk: predicting again rewrites every chunk."""
        v = self.video
        p = quote(v.path)
        return (
            f"Restore that file from a backup of the project, or predict the video again (`dvos predict {p} "
            f"{quote(self.model)} --videos {quote(v.name)} --no-resume`)"
        )

    def _meta_fix(self) -> str:
        """The fix for a damaged ``zarr.json`` of the set's arrays (predicting again cannot open them)."""
        v = self.video
        p = quote(v.path)
        return (
            f"Restore that file from a backup of the project, or delete these predictions (`dvos delete {p} "
            f"predictions {quote(self.model)} --videos {quote(v.name)} --yes`) and predict the video again"
        )

    def start(self, info: dict, fingerprint: str | None) -> bool:
        """Record who predicts (``info`` + ``fingerprint``) before writing; returns True when earlier frames of the
        same checkpoint may be kept (resume), False when they came from another checkpoint and were cleared.
        Refuses the names a comparison of models gives its own rows (:data:`RESERVED_NAMES`).

        The set's ``run`` id (part of :meth:`stamp`, which a smoothed set made from it records) changes when what the
        set holds changes: here when its frames are cleared; for a resumed set, at the first frame the run writes
        (:meth:`set_many`), so a resumed run that predicts nothing leaves the sets made from it current, and one
        killed after it wrote a frame leaves them flagged."""
        if self.model in RESERVED_NAMES:
            raise ValueError(
                f"{self.video.path or 'PROJECT'}: a prediction set cannot be named {self.model!r}: a comparison of "
                f"models (`dvos evaluate`, Review) adds a row of that name itself; choose another name (--name, or "
                f"'save predictions as' in the Predict step). Nothing was written"
            )
        self.arrays(create=True)
        same = fingerprint is not None and self.attrs.get("fingerprint") == fingerprint
        v = self.video
        with v._write(f"starting predictions of {self.model!r}"):
            sub = v.group[self._path]
            if not same:
                sub["done"][:] = 0  # the commit flags first: stale frames never read as this checkpoint's
                self._clear_data()
            stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
            old = dict(sub.attrs)
            if same:  # the frames kept: the run id it had (its date in a set made before runs had ids) until a write
                run = {"run": old.get("run") or old.get("date") or _new_run(), RENEW_RUN: True}
            else:
                run = {"run": _new_run()}
            sub.attrs.put({**info, "fingerprint": fingerprint, "date": stamp, **run})
        return same

    def _clear_data(self) -> None:
        """Remove the chunk files of the set's masks and probabilities (their ``zarr.json`` stays), once its flags
        are cleared: an earlier checkpoint's frames are gone, not kept beside the new run's. A copy of the project
        taken while the new run writes (``cp -r`` copies the flags after the data) could otherwise flag a frame
        whose copied chunks are the earlier checkpoint's: now such a frame's chunks are missing, which reads (and
        ``dvos check``) name as damage. A kill part-way leaves some of the old files, none of them flagged."""
        folder = _folder(self.video, self._path)
        if folder is None:  # no files to copy (a store in memory): the cleared flags are enough
            return
        root = Path(str(self.video.group.store.root))
        for key in ("masks", "probability"):
            for part in sorted((folder / key).iterdir()) if (folder / key).is_dir() else ():
                if part.name != "zarr.json":  # the chunks (``c/``, or an older key encoding's files)
                    discard(part, root)

    def _renew_run(self) -> None:
        """Give the set a new ``run`` id when a resumed run writes its first frame (see :meth:`start`); the caller
        holds the writer lock and writes the frame after this."""
        sub = self.video.group[self._path]
        a = dict(sub.attrs)
        if a.pop(RENEW_RUN, False):
            sub.attrs.put({**a, "run": _new_run()})

    def set_many(self, ts, probabilities, threshold: float = 0.5, done_value: int = 1, masks=None) -> None:
        """Store probability maps for frames ``ts`` (and their masks), then mark them predicted (``done_value``: the
        prediction pass that finished them, 1 or 2): one write per array for a run of consecutive frames. ``masks``:
        the frames' masks when they are not the probabilities thresholded here (a frame another set lends as it
        is: its mask was thresholded from the float32 probability, of which the float16 one stored is a rounding)."""
        v = self.video
        ts = [int(t) for t in ts]
        p = np.asarray(probabilities, dtype=np.float32)
        if p.shape != (len(ts), *v.shape[1:3]):
            raise ValueError(f"probabilities for {v.name} have shape {p.shape}, expected {(len(ts), *v.shape[1:3])}")
        if not ts:
            return
        for t in ts:
            v._check_t(t)
        if masks is not None and np.shape(masks) != p.shape:
            raise ValueError(
                f"masks for {v.name} have shape {np.shape(masks)}, expected {p.shape} (one per frame, the size of its "
                "probability map). Nothing was written"
            )
        check_probabilities(p, f"probabilities for {v.name} frames {ts[0]}..{ts[-1]}", ". Nothing was written")
        pm, pp, done = self.arrays(create=True)
        with v._write(f"writing the predictions of frames {ts[0]}..{ts[-1]}"):
            self._renew_run()  # before the frames: a run killed after writing one has changed the set's stamp
            # the mask is the float32 probability thresholded, as the prediction run lends it to the next frames (a
            # resumed run reads it back, so it must be the same mask); the stored float16 probability can round a
            # value just under the threshold up to it
            m = (p >= threshold).astype(np.uint8) if masks is None else (np.asarray(masks) > 0).astype(np.uint8)
            if ts == list(range(ts[0], ts[-1] + 1)):
                sl = slice(ts[0], ts[-1] + 1)
                pp[sl] = p.astype(np.float16)
                pm[sl] = m
                done[sl] = done_value
            else:
                for t, q, mt in zip(ts, p, m):
                    pp[t] = q.astype(np.float16)
                    pm[t] = mt
                for t in ts:
                    done[t] = done_value

    def set(self, t: int, probability: np.ndarray, threshold: float = 0.5, done_value: int = 1) -> None:
        """Store one frame's probability map (see :meth:`set_many`)."""
        self.set_many([t], np.asarray(probability)[None], threshold, done_value)

    @property
    def passes(self) -> int:
        """The prediction passes the set is made with (``passes`` attribute: 2 for a context model's refinement;
        1 when absent or not a positive whole number)."""
        n = self.attrs.get("passes", 1)
        return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1

    def finished(self, rows) -> np.ndarray:
        """Whether each frame of ``rows`` is predicted: finished by every pass of the set (a frame of a two-pass set
        stopped in its second pass holds the first pass's mask only, which is not what the set predicts)."""
        return np.asarray(self.read("done", rows)) >= self.passes

    def outdated(self, attrs: dict | None = None) -> str | None:
        """The checkpoint file that made the set when it has changed since (a model trained again under the same
        name: its predictions no longer say what it does), else None (the same file, or none to compare with).
        ``attrs``: the set's attributes, when already read."""
        from dvos_core.store.fsops import file_sha256, own_model_file, same_checkpoint

        a = self.attrs if attrs is None else attrs
        made_by, fingerprint = a.get("checkpoint"), a.get("fingerprint")
        if not isinstance(made_by, str) or not isinstance(fingerprint, str) or a.get("kind") == "smoothed":
            return None
        sha = checkpoint_sha(fingerprint)
        root, inside = self.video.path, a.get("checkpoint_in_project")
        if inside is not None:  # recorded since dvos says where the file lies: no guessing by name
            # (an inside record that names no model of this project: another project's file, see own_model_file)
            path = (own_model_file(root, made_by, True) if inside else None) or Path(made_by)
            if path is None or not path.is_file():  # gone (another project's model deleted or moved): unknown
                return None
            return None if file_sha256(path) == sha else str(path)
        candidates = [Path(made_by)] + ([Path(root) / "models" / self.model / "best.pt"] if root else [])
        for path in candidates:  # an older record: the path as typed, from the folder the command ran in
            if path.is_file() and same_checkpoint(made_by, path):
                return None if file_sha256(path) == sha else str(path)
        return None

    def stamp(self) -> str:
        """What this set's predictions are: its fingerprint and run (its start date in stores written before runs had
        ids). A set made from it (smoothed) records it, and is out of date once the set is made again."""
        a = self.attrs
        return f"{a.get('fingerprint')}|{a.get('run') or a.get('date')}"

    def stale_source(self, attrs: dict | None = None) -> str | None:
        """For a smoothed set: why its source set no longer holds what was smoothed (predicted again, or made by a
        checkpoint trained again since), else None; None for any other set. ``attrs``: as for :meth:`outdated`."""
        change = self.source_change(attrs)
        return change[1] if change else None

    def source_change(self, attrs: dict | None = None) -> tuple[str, str] | None:
        """:meth:`stale_source` with what happened to the source: (``"deleted"``, ``"predicted"`` - predicted again,
        so that ``dvos smooth`` starts the set over rather than resuming it - or ``"retrained"``, why)."""
        a = self.attrs if attrs is None else attrs
        source = a.get("source")
        if a.get("kind") != "smoothed" or not isinstance(source, str) or not isinstance(a.get("fingerprint"), str):
            return None
        src = self.video.predictions[source]
        if not src.exists():  # (a source whose own zarr.json is damaged raises: that damage is named where it is)
            return "deleted", f"its source set {source!r} was deleted since"
        if not a["fingerprint"].startswith(src.stamp() + "|"):
            return "predicted", f"{source!r} was predicted again since it was smoothed"
        made_by = src.outdated()
        return (
            ("retrained", f"{source!r} was made by an earlier version of {made_by} (trained again since)")
            if made_by
            else None
        )

    def frames(self) -> np.ndarray:
        """Indices of the predicted frames (see :meth:`finished`); a set that does not exist (a misspelt name) is a
        :class:`~dvos_core.store.schema.NotInStoreError` naming the sets there are, not a set with no frames."""
        arrs = self.arrays()
        if arrs is None:
            self._require()
        return np.flatnonzero(self.finished(slice(0, self.video.n_frames)))

    def get(self, t: int):
        """(mask, probability) of frame t, or None if the set did not predict it (see :meth:`finished`); a set that
        does not exist (a misspelt name) is a :class:`~dvos_core.store.schema.NotInStoreError` naming the sets there
        are, not a frame "not predicted"."""
        self.video._check_t(t)
        arrs = self.arrays()
        if arrs is None:
            self._require()
        if not self.finished(t):
            return None
        return self.read("masks", t), self.read("probability", t).astype(np.float32)

    def masks(self, frames) -> np.ndarray:
        """Predicted masks of ``frames`` (uint8 (n, H, W)); frames must be predicted (see :meth:`frames`): a frame
        that is not raises ``ValueError`` naming it (its row would be zeros, or a mask left by an earlier
        checkpoint)."""
        self._require()
        if np.isscalar(frames):
            frames = [frames]
        idx = np.asarray(frames if isinstance(frames, np.ndarray) else list(frames), np.int64).reshape(-1)
        for t in idx:
            self.video._check_t(int(t))
        missing = idx[~self.finished(idx)] if len(idx) else idx
        if len(missing):
            shown = ", ".join(str(int(t)) for t in missing[:8]) + (" ..." if len(missing) > 8 else "")
            raise ValueError(
                f"{self.video.path or 'PROJECT'}: video {self.video.name!r}: {len(missing)} of the frames asked for "
                f"are not predicted by {self.model!r} (frames {shown}); .frames() lists the predicted ones"
            )
        return self.read("masks", idx)


class Predictions:
    """``video.predictions``: every model's predictions of a :class:`~dvos_core.store.Video`.

    ``video.predictions["dvos"]`` is one model's set; ``models()`` lists them (oldest first); the methods without a
    model name (``arrays``, ``set``, ``frames``, ``get``) use the most recent set (``latest()``), or a set named
    ``default`` when there is none yet.
    """

    def __init__(self, video):
        self.video = video

    def __getitem__(self, model: str) -> ModelPredictions:
        return ModelPredictions(self.video, model)

    def __iter__(self):
        """The names of the models with predictions (as :meth:`models`): ``for model in video.predictions``."""
        return iter(self.models())

    def __contains__(self, model) -> bool:
        return model in self.models()

    def __len__(self) -> int:
        return len(self.models())

    def models(self) -> list[str]:
        """Names of the models with predictions for this video, oldest first. A set whose own ``zarr.json`` cannot
        be read is left out (:meth:`damaged` names it and the fix), so that one damaged set does not make the video's
        other sets, or the video, unreadable; a damaged ``zarr.json`` of the ``predictions`` folder itself is a
        :class:`~dvos_core.store.schema.DamagedStoreError`."""
        return self._scan()[0]

    def damaged(self) -> dict[str, str]:
        """{set name: the error naming its file and the fix} of the sets whose own ``zarr.json`` is missing or cannot
        be read (left out of :meth:`models`); ``dvos delete PROJECT predictions NAME --videos ID --yes`` removes
        one."""
        return self._scan()[1]

    def raise_damaged(self, model: str | None = None) -> None:
        """Raise the :class:`~dvos_core.store.schema.DamagedStoreError` (naming the file and the fix, see
        :meth:`damaged`) of set ``model``, or of every damaged set when ``model`` is None, if it is damaged: for a
        caller about to say the video has no (such) predictions, which would send the user to predict it again."""
        from dvos_core.store.schema import DamagedStoreError

        said = [message for name, message in self.damaged().items() if model is None or name == model]
        if said:
            raise DamagedStoreError("; ".join(said))

    def _scan(self) -> tuple[list[str], dict[str, str]]:
        """(:meth:`models`, :meth:`damaged`)."""
        from dvos_core.store.schema import DamagedStoreError

        sub = _open(self.video, GROUP)
        if sub is None:
            return [], {}
        sets, damaged = [], {}
        for name in _set_names(self.video, sub):
            s = ModelPredictions(self.video, name)
            try:
                if s.exists():
                    sets.append((str(s.attrs.get("date", "")), name))
            except DamagedStoreError as e:
                damaged[name] = str(e)
        return [name for _, name in sorted(sets)], damaged

    def latest(self) -> ModelPredictions:
        """The most recent set that holds a predicted frame (a newer one stopped before its first frame is passed
        over: it would make "the latest predictions" none); the most recent set when none holds one."""
        names = self.models()
        for name in reversed(names):
            if len(self[name].frames()):
                return self[name]
        return self[names[-1] if names else "default"]

    def newest(self) -> ModelPredictions:
        """The most recent set, predicted frames or not."""
        names = self.models()
        return self[names[-1] if names else "default"]

    def __repr__(self) -> str:
        return f"Predictions({self.video.kind} {self.video.name!r}: {self.models()})"

    def delete(self, model: str) -> None:
        """Delete the predictions of ``model`` for this video; a set that is not there is a
        :class:`~dvos_core.store.schema.NotInStoreError` listing the sets there are."""
        check_id(model, "model name")
        g = self.video.group
        folder = _folder(self.video, f"{GROUP}/{model}")
        if not (folder.is_dir() if folder is not None else GROUP in g and model in g[GROUP]):
            ModelPredictions(self.video, model)._require()
        with self.video._write(f"deleting the predictions of {model!r}"):
            root = getattr(g.store, "root", None)
            if root is not None and self.video.path:  # whole or gone: renamed into the trash first, then removed
                from pathlib import Path

                from dvos_core.store.fsops import discard

                discard(Path(str(root)) / g.path / GROUP / model, self.video.path)
            else:
                del g[GROUP][model]

    # the most recent set, for callers that do not name a model
    def arrays(self, create: bool = False):
        return self.newest().arrays(create)

    def set(self, t: int, probability: np.ndarray, threshold: float = 0.5) -> None:
        self.newest().set(t, probability, threshold)

    def frames(self) -> np.ndarray:
        """Indices of the frames the most recent set predicted; none when the video has no predictions yet."""
        latest = self.latest()
        return latest.frames() if latest.exists() else np.zeros(0, np.int64)

    def get(self, t: int):
        """(mask, probability) of frame t in the most recent set; None when it did not predict t, or when the video
        has no predictions yet."""
        self.video._check_t(t)
        latest = self.latest()
        return latest.get(t) if latest.exists() else None


class _Grown:
    """A read-only view of a prediction array ``arr`` as ``n`` rows long (its video grew since the array last did):
    the rows past its end read as zeros (not predicted), as :meth:`ModelPredictions.read` reads them."""

    def __init__(self, arr, n: int):
        self.arr, self.shape = arr, (int(n), *arr.shape[1:])
        self.dtype, self.chunks, self.ndim = arr.dtype, arr.chunks, arr.ndim

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        n = self.shape[0]
        rows = np.asarray([r + n if r < 0 else r for r in arrays.row_indices(first, n)], np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise IndexError(f"frame index out of range for {n} frames: {first!r}")
        stored = rows < self.arr.shape[0]
        out = np.zeros((len(rows), *self.shape[1:]), self.dtype)
        if stored.any():
            out[stored] = self.arr.get_orthogonal_selection(rows[stored])
        if isinstance(first, (int, np.integer)):
            return out[0][rest] if rest else out[0]
        return out[(slice(None), *rest)] if rest else out

    def __array__(self, dtype=None, copy=None):
        a = self[:]
        return a if dtype is None else a.astype(dtype)


def _folder(video, sub: str):
    """The folder of ``sub`` (a path inside the video's group) on disk, or None for a store without folders."""
    root = getattr(video.group.store, "root", None)
    if root is None:
        return None
    from pathlib import Path

    return Path(str(root)) / video.group.path / sub


def _open(video, sub: str, model: str | None = None):
    """The group ``sub`` (``predictions`` or ``predictions/<model>``) of ``video``, or None when it is not there. A
    ``zarr.json`` of it that is missing (while its folder holds data) or cannot be read is a
    :class:`~dvos_core.store.schema.DamagedStoreError` naming the file and the fix (Zarr's own errors named
    neither, and ``dvos info`` failed for the whole project)."""
    from dvos_core.store.schema import DamagedStoreError

    folder = _folder(video, sub)
    if model is None:
        what = f"the predictions folder of video {video.name!r}"
        fix = (
            'that file holds no data of its own: restore it from a backup of the project, or write {"zarr_format": 3, '
            '"node_type": "group", "attributes": {}} into it'
        )
    else:
        what = f"the predictions of {model!r} for video {video.name!r}"
        fix = (
            f"restore it from a backup of the project, or delete these predictions (`dvos delete {quote(video.path)} "
            f"predictions {quote(model)} --videos {quote(video.name)} --yes`) and predict the video again"
        )
    if folder is not None and not (folder / "zarr.json").is_file():
        if folder.is_dir() and any(folder.iterdir()):
            raise DamagedStoreError(f"{folder / 'zarr.json'}: the metadata file of {what} is missing; {fix}")
        return None
    try:
        g = video.group[sub]
    except KeyError:
        return None
    except Exception as e:  # json/Zarr errors of a corrupt metadata file
        where = folder / "zarr.json" if folder is not None else f"{sub}/zarr.json"
        raise DamagedStoreError(f"{where}: unreadable metadata of {what} ({e}); {fix}") from e
    if not hasattr(g, "group_keys"):
        raise DamagedStoreError(f"{folder}: {what} is not a folder of arrays; {fix}")
    return g


def _set_names(video, sub) -> list[str]:
    """The names of the sets in the ``predictions`` group ``sub``: its sub-folders with a valid model name (read
    from the folder, so one set's corrupt ``zarr.json`` is named when that set is opened instead of failing the
    listing)."""
    folder = _folder(video, GROUP)
    if folder is None:
        return list(sub.group_keys())
    names = []
    for d in sorted(folder.iterdir()):
        try:
            check_id(d.name, "model name")
        except ValueError:
            continue  # a foreign folder or file ("img (conflicted copy)", .DS_Store): not a set
        if d.is_dir():
            names.append(d.name)
    return names
