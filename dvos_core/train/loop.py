"""The training loop: one function, ``train``, for the image model and both DVOS phases, single process or DDP.

Files in ``project.model_dir(name)``: ``best.pt`` (best validation Dice, or the last epoch: see
:meth:`~dvos_core.train.config.TrainConfig.selection`), ``last.pt`` (end of the last epoch or the
moment of a cancel, with optimizer / scheduler / RNG state for an exact resume), ``metrics.json``, ``config.yaml``.
A run that fails before it commits a checkpoint removes the folder again when it held no files before it began.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import shlex
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from dvos_core.data import ClipDataset, ClipIndex, ClipSampler, EvalSampler, config_samples
from dvos_core.lr_schedule import epoch_rate
from dvos_core.model import (
    build_model,
    describe_device,
    init_from_frame_model,
    read_checkpoint,
    save_checkpoint,
    select_device,
    unwrap,
)
from dvos_core.model.checkpoint import file_fingerprint
from dvos_core.model.device import use_bf16
from dvos_core.model.presets import ModelConfig, get_config
from dvos_core.model.transfer import image_parameter_names
from dvos_core.progress import Cancelled, CancelToken, ProgressFn, interrupt_cancels, report
from dvos_core.shell import quote, user_path
from dvos_core.store.fsops import checkpoint_now, in_project, io_step, same_checkpoint
from dvos_core.store.lock import TRAIN_HOLDER, TRAIN_LOCK
from dvos_core.store.schema import StoreError
from dvos_core.threads import loader_worker_init
from dvos_core.train import distributed
from dvos_core.train.config import MAX_SIZE, TrainConfig, check_size, cosine_floor, field_docs
from dvos_core.train.events import BatchEvent, CancelledEvent, DoneEvent, EpochEvent, StartEvent, TrainEvent
from dvos_core.train.interrupt import cancel_points
from dvos_core.train.losses import dvos_loss, frame_dice
from dvos_core.user_warnings import warn_user

# Settings that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = {"num_workers", "device", "epochs"}
START_AFRESH = "pass --no-resume (resume=False) to start over, or choose another --name"
INIT_FROM = "--init-from (init_from)"  # the setting of the checkpoint a run starts from, as errors name it


DATA_KEYS = ("samples", "provenance", "videos", "synthetic_sets", "synthetic_clips")  # compared on a resume


def _resolved_floor(config: dict) -> dict:
    """A saved or current training config (a dict) with ``eta_min`` as the rate it gives: a tenth of ``lr`` where
    unset, so that a run begun with it spelt out or left unset compares alike."""
    if config.get("eta_min") is None and isinstance(config.get("lr"), (int, float)):
        return {**config, "eta_min": cosine_floor(config["lr"])}
    return config


def _human_labels(data: dict | None) -> int:
    """The painted and corrected frames a run's data summary counts (training and validation samples)."""
    parts = [(data or {}).get(split) for split in ("train", "val")]
    counts = [part.get("provenance") or {} for part in parts if isinstance(part, dict)]
    return sum(int(c.get(kind, 0)) for c in counts for kind in ("manual", "corrected"))


def _human_masks(project, *indexes) -> dict:
    """{video id: {frame (a string): fingerprint of its mask}} of the painted and corrected frames the video samples
    of ``indexes`` (ClipIndex) query: what tells a frame repainted since a run read its data (the run's data
    summary records it as ``human_masks``)."""
    from dvos_core.extract.fingerprint import frame_sha
    from dvos_core.store.schema import CORRECTED, MANUAL

    out: dict = {}
    videos: dict = {}  # each video opened once, each frame's mask read once
    for index in indexes:
        for s in index.samples:
            if s.kind == "video" and s.provenance in (MANUAL, CORRECTED):
                frames = out.setdefault(s.source, {})
                if str(int(s.t)) not in frames:
                    if s.source not in videos:
                        videos[s.source] = project.video(s.source)
                    frames[str(int(s.t))] = frame_sha(videos[s.source], s.t)
    return out


def _new_human_labels(now: dict, trained_on: dict) -> tuple[int, int]:
    """(frames painted or corrected since a run read its data ``trained_on``, of which repainted): from the masks'
    fingerprints both data summaries record (``human_masks``), else (a run saved before they were recorded) the
    difference of the counts, which misses a frame repainted."""
    was, masks = trained_on.get("human_masks"), now.get("human_masks")
    if not isinstance(was, dict) or not isinstance(masks, dict):
        return max(_human_labels(now) - _human_labels(trained_on), 0), 0
    new = repainted = 0
    for vid, frames in masks.items():
        before = was.get(vid) or {}
        for t, sha in frames.items():
            if before.get(t) != sha:
                new += 1
                repainted += t in before
    return new, repainted


def _setting(key: str, value, settings: dict) -> str:
    """A setting's value for a refusal (of the run ``settings``): a path whole (two paths cut short can read the
    same), the others short; an unset one in words (no ``None``)."""
    if value is None:
        if key == "init_from":
            return "none (a new model)"
        if key == "size":
            return "the start checkpoint's" if settings.get("init_from") else "the preset's"
        meant = re.search(r"null(?: or 0)? = ((?:[^;()]|\([^)]*\))*)", field_docs(TrainConfig).get(key, ""))
        return f"unset ({meant.group(1).strip()})" if meant else "unset"
    return repr(value) if key == "init_from" else _short(value)


def _model_settings(settings: dict, inside: bool | None = None, root=None) -> tuple[dict, bool]:
    """(``settings`` (a run's train_config) with ``preset`` and ``size`` as its model has them, whether its start
    checkpoint could be read): started from a checkpoint, its model's preset and (size unset) input size; else, size
    unset, the preset's input size. As recorded where the checkpoint cannot be read now (moved, deleted, no dvos
    checkpoint: False) or the preset is unknown."""
    from dvos_core.checkpoint_header import read_checkpoint_header

    start, size = settings.get("init_from"), settings.get("size")
    if start:
        there = checkpoint_now(start, inside, root)
        header = read_checkpoint_header(there) if there is not None else None
        model = header.get("config") if header else None
        if not isinstance(model, dict):
            return settings, False
        return {
            **settings,
            "preset": model.get("name", settings.get("preset")),
            "size": size or model.get("input_size"),
        }, True
    if size is None:
        try:
            return {**settings, "size": get_config(settings.get("preset")).input_size}, True
        except (ValueError, TypeError):
            return settings, True
    return settings, True


def _short(value, width: int = 40) -> str:
    """A setting's value for a message: its repr, cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


class ResumeRefused(ValueError):
    """A model folder holds a run that this one cannot continue: ``reason`` says why, ``advice`` (the message's
    end) how to start afresh in `dvos train`'s terms; callers with other options (run-all) give their own."""

    def __init__(self, reason: str, advice: str = START_AFRESH):
        super().__init__(f"{reason}; {advice}")
        self.reason, self.advice = reason, advice


def settings_refusal(
    out: Path, cfg: TrainConfig, saved: dict, finished: bool, init: dict | None, data: dict | None = None
) -> str | None:
    """Why a run with ``cfg`` cannot continue the run in ``out`` that began with the settings ``saved`` (those a
    resume may change aside; ``init``: its record of the checkpoint it started from; ``data``: its data summary,
    which names the project where it ran), or None when it can."""
    now = cfg.to_dict()
    floor_unset = saved.get("eta_min") is None and now.get("eta_min") is None  # it follows lr: lr is what changed
    own = began_in_project(saved.get("init_from"), init, data)  # None: the record does not tell
    root = Path(out).parent.parent if Path(out).parent.name == "models" else None  # the project of the run
    saved, now = _resolved_floor(saved), _resolved_floor(now)  # eta_min unset: compared as the rate it gives
    # started from a checkpoint, its model fixes the preset and (size unset) the size: compared as the model has them
    saved_model, saved_read = _model_settings(saved, own, root)
    now_model, now_read = _model_settings(now, own, root)
    if not (saved.get("init_from") and now.get("init_from") and saved_read != now_read):
        saved, now = saved_model, now_model  # (else one side's start file is unreadable, e.g. moved and resumed from
        # a copy: both are compared as recorded)
    if saved.get("max_steps_per_epoch") == 0:  # recorded before 0 (no cap) was stored as null
        saved = {**saved, "max_steps_per_epoch": None}
    diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in RESUMABLE_CHANGES)
    if floor_unset and "eta_min" in diff:
        diff.remove("eta_min")
    if "preset" in diff and saved.get("init_from") and now.get("init_from"):  # the start checkpoint fixes the model:
        diff.remove("preset")  # its config.yaml records the preset used, the run's own record the one asked for
    if "init_from" in diff and (
        same_checkpoint(saved.get("init_from"), now.get("init_from"), own, root)
        or _same_bytes(now.get("init_from"), (init or {}).get("sha256"))
    ):  # the same file spelt from another folder, the project moved, or a copy (last season's project archived)
        diff.remove("init_from")
    retrained = ""
    if "init_from" in diff and _trained_again(saved.get("init_from"), now.get("init_from"), init, own):
        # the same model of the project (models/NAME/FILE, the project copied or moved): its bytes are what differ
        diff.remove("init_from")
        start = Path(now["init_from"])
        retrained = (
            f"it started from model {start.parent.name!r} ({start}), which has been trained again since (its "
            f"{start.name} holds other weights than the run began from)"
        )
    if not diff and not retrained:
        return None
    which = "a finished" if finished else "an unfinished"
    if not diff:
        return f"{out}: holds {which} run that {retrained}"
    hint = ""
    began, typed = saved.get("init_from"), ""
    if began and not Path(began).is_absolute():  # recorded by an older dvos as typed, from its working folder
        typed = " (as typed then, from the folder the run was started in)"
    if "init_from" in diff and saved.get("init_from") and not now.get("init_from"):
        there = checkpoint_now(began, own, root)
        if there is None:  # moved or deleted since: a command naming it would be refused again
            hint = (
                f" (a run continues from its last.pt, but names the checkpoint it began from, {began}{typed}, which "
                f"is not there now (moved or deleted?): give --init-from where that file lies now, or a copy of it: "
                f"it is known by its bytes)"
            )
        else:
            again = "again" if there == Path(began) else "(where that file lies now)"
            hint = (
                f" (a run continues from its last.pt, but names the checkpoint it began from: give --init-from "
                f"{shlex.quote(str(there))} {again}{typed}, or a copy of that file: it is known by its bytes)"
            )
    elif "init_from" in diff and saved.get("init_from") and not Path(saved["init_from"]).exists():
        which = "another project's model, " if own is False else ""
        hint = (
            f" (it began from {which}{began}{typed}, which is not there now (moved or deleted?): give --init-from "
            f"where that file lies now, or a copy of it: it is known by its bytes)"
        )
    if "real_share" in diff and "real_share" not in saved:
        hint += " (it began before real_share existed: --real-share off, real_share: null, resumes it as it was)"
    changes = ", ".join(
        f"{k}: {_setting(k, saved.get(k), saved)} when it began, now {_setting(k, now.get(k), now)}" for k in diff
    )
    also = f"; and {retrained}" if retrained else ""
    return f"{out}: holds {which} run with different settings ({changes}){hint}{also}"


ANCHOR_HEADS = ("mask", "frame", "mask_alone")  # the context model's outputs when its anchor loss is on
CHECKPOINT_FILES = ("best.pt", "last.pt")
# what a run writes into its model folder before its first checkpoint (removed again when it fails before one)
EARLY_FILES = ("config.yaml", "metrics.json", ".metrics.json.tmp")
# the lock a run holds on its model folder (one training per model at a time) and its holder's record; both go when
# the run ends (a killed run's are left: the OS has dropped its lock, so the next run takes it)
LOCK_FILES = (TRAIN_LOCK, TRAIN_HOLDER)
# a training loss this many times its first step's (or 1, when that is below 1) means the run diverged: finite but
# exploded losses (a learning rate of 1 or 10) otherwise train on and save a model that predicts nothing
DIVERGED_FACTOR = 100.0


class TrainingBusy(StoreError):
    """Another training of the same model is running (its folder's training lock is held): nothing was changed."""


def train(
    project,
    config: TrainConfig,
    name: str,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    on_event: Callable[[TrainEvent], None] | None = None,
    resume: bool = True,
    threads: int | None = None,
) -> Path:
    """Train a model as described by ``config``; returns the path of the best checkpoint.

    With ``resume`` (default) an unfinished run of the same name continues from its ``last.pt`` exactly where it
    stopped. ``on_event`` receives the typed events of :mod:`dvos_core.train.events`. ``cancel`` is checked before
    each step and, outside DDP, at every convolution of its forward and backward pass (see
    :mod:`dvos_core.train.interrupt`), so a stop never waits for a whole step; on cancel, ``last.pt`` is written (an
    interrupted step is not counted) and :class:`Cancelled` is raised. Called from a plain Python session's main
    thread (a notebook cell, a script), the first Ctrl+C or "Interrupt kernel" stops the run the same way and is
    then raised as ``KeyboardInterrupt`` (a second one interrupts at once; see
    :func:`dvos_core.progress.interrupt_cancels`).
    ``threads``: CPU threads per process (see :mod:`dvos_core.threads`; the default shares the cores among
    torchrun ranks and data-loader workers).
    """
    from dvos_core.store import Project
    from dvos_core.threads import loader_workers, local_processes, using_threads

    if isinstance(project, Project):  # a path is opened read-only below: the run writes only its model's folder
        project.refuse_read_only(f"train model {name!r}")
    project = Project.of(project, mode="r")
    if not isinstance(config, TrainConfig):
        raise TypeError(
            f"config must be a TrainConfig (e.g. TrainConfig(phase='image', preset='tiny'), or TrainConfig.from_yaml"
            f"(path)), got {type(config).__name__}"
        )
    config.validate()
    config = config.replace(init_from=init_checkpoint_path(project, config.init_from))
    folder = project.model_dir(name)  # checks the name; the run creates the folder
    if config.init_from and Path(config.init_from).resolve().parent == folder.resolve():
        raise ValueError(
            f"--init-from {quote(config.init_from)} is a checkpoint of {name!r}, the model this run trains: its first "
            f"epoch would overwrite the weights it starts from, and the run could not be resumed; train under another "
            f"--name (e.g. --name {quote(name + '_2')}), or, to train {name!r} further, give its own command again "
            f"with a higher --epochs (it resumes)"
        )
    had_files = folder.is_dir() and any(p.name not in LOCK_FILES for p in folder.iterdir())
    device_type = select_device(config.device).type
    unused = config.unused_settings(device_type)
    if unused and int(os.environ.get("RANK", "0")) == 0:
        warn_user(f"{config.phase} phase: {'; '.join(unused)} - do not apply to this run and are not used")
    workers = loader_workers(config.num_workers, device_type, local_processes())
    config = config.replace(num_workers=workers)  # the run records the number it used
    try:
        with training_lock(project, name), using_threads(threads, workers=local_processes() * (1 + workers)):
            _sweep_killed_saves(folder)
            dist_info = distributed.setup(config.device)
            kept = f"the run saved its last.pt in {folder}: train again under the same name to resume it"
            try:
                with interrupt_cancels(cancel, kept) as cancel:
                    return _Run(project, config, name, dist_info, progress, cancel, on_event).run(resume)
            finally:
                distributed.cleanup(dist_info)
    except TrainingBusy:  # the folder is the other run's: left as it is
        raise
    except BaseException:
        if not had_files and int(os.environ.get("RANK", "0")) == 0:
            _remove_unfinished(folder)
        raise


def _finished(state: dict, saved: dict) -> bool:
    """Whether a saved run (its training state and settings) had trained all the epochs it was started with."""
    return int(state["epoch"]) >= int(saved.get("epochs") or 0) > 0


def _no_training_state(best: Path) -> ResumeRefused:
    """The refusal for a model folder that holds a best.pt without a last.pt (imported weights, say)."""
    return ResumeRefused(
        f"{best.parent}: holds a model with no training state to resume (best.pt only, e.g. imported weights), "
        f"which a new run would replace",
        f"train from it under another name (--init-from {quote(best)} --name OTHER), or pass --no-resume "
        f"(resume=False) to replace it",
    )


def read_last_run(last: Path, best: Path) -> dict:
    """A run's last.pt, to resume from; a file that cannot be read (truncated, damaged) is refused with what can be
    done (``best``: the run's best.pt, kept then), not resumed from nor replaced."""
    from dvos_core.model.checkpoint import CheckpointError

    try:
        return read_checkpoint(last)
    except CheckpointError as e:
        why = e.__cause__ if e.__cause__ is not None else e
        reason = (
            f"{last}: the training state of this unfinished run cannot be read ({type(why).__name__}: "
            f"{(str(why).splitlines() or ['damaged file'])[0].split('. ')[0][:160]}), so it cannot be resumed"
        )
        if not best.is_file():
            raise ResumeRefused(reason) from e
        done, planned = _epochs_recorded(last.parent)
        if done is not None and planned is not None and done >= planned:  # finished: nothing is lost with last.pt
            raise ResumeRefused(
                f"{last}: the training state cannot be read ({type(why).__name__}), so the run cannot be resumed; it "
                f"had finished (its metrics.json records all {planned} epochs)",
                f"{best} is its model and is whole: use it as it is (it needs no training state); --no-resume would "
                f"train it anew from the start; to train it further, train on from it under another name (--init-from "
                f"{quote(best)} --name OTHER)",
            ) from e
        raise ResumeRefused(
            reason,
            f"start it over with --no-resume (resume=False; its best.pt is replaced once the new run saves an "
            f"epoch), or keep {best} and train on from it under another name (--init-from {quote(best)} --name OTHER)",
        ) from e


def _epochs_recorded(folder: Path) -> tuple[int | None, int | None]:
    """(epochs the run's metrics.json records, epochs its config.yaml asked for); None for what cannot be read."""
    import yaml

    def read(name, get):
        try:
            return int(get((folder / name).read_text()))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError):
            return None

    return read("metrics.json", lambda t: len(json.loads(t)["history"])), read(
        "config.yaml", lambda t: yaml.safe_load(t)["epochs"]
    )


_UNREAD = object()


def resume_refusal(project, config: TrainConfig, name: str, payload=_UNREAD) -> ResumeRefused | None:
    """The refusal :func:`train` (resuming) would meet in model ``name``'s folder, found without training: a model
    with no training state, an unreadable last.pt, or a run begun with other settings than ``config``. For callers
    that do other work before they train (run-all), so that they refuse before it; None: the run can go ahead.
    ``payload``: the folder's :func:`last_run`, when the caller has read it already."""
    folder = project.model_dir(name)
    try:
        if payload is _UNREAD:
            payload = last_run(folder / "best.pt", folder / "last.pt")
        if payload is not None:
            config = config.replace(init_from=init_checkpoint_path(project, config.init_from))
            refuse_other_settings(folder, config, payload["info"])
    except ResumeRefused as e:
        return e
    return None


def last_run(best: Path, last: Path) -> dict | None:
    """The training state to resume a model's run from (its ``last``.pt, read), or None when there is no run to
    resume; refused (:class:`ResumeRefused`): a model with a ``best``.pt and no training state, an unreadable last.pt,
    a last.pt without a training state."""
    if best.exists() and not last.exists():
        raise _no_training_state(best)
    if not last.exists():
        return None
    payload = read_last_run(last, best)
    if payload.get("info", {}).get("train_state") is None:
        raise ResumeRefused(f"{last}: has no training state")
    return payload


def refuse_other_settings(out: Path, config: TrainConfig, info: dict) -> None:
    """Refuse (:class:`ResumeRefused`) to continue the run whose last.pt holds ``info`` with ``config``'s settings
    where they differ from those it began with, but for those a resume may change (:func:`settings_refusal`)."""
    state, saved = info["train_state"], info.get("train_config", {})
    reason = settings_refusal(out, config, saved, _finished(state, saved), info.get("init"), info.get("data"))
    if reason:
        raise ResumeRefused(reason)


def _sweep_killed_saves(folder: Path) -> None:
    """Remove the half-written checkpoints (``.best.pt.PID.tmp``, ``.last.pt.PID.tmp``) of a run killed while saving:
    under the model's training lock no other run is writing them, and each is as large as a checkpoint."""
    if int(os.environ.get("RANK", "0")) != 0 or not folder.is_dir():
        return
    for p in folder.glob(".*.pt.*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()


@contextlib.contextmanager
def training_lock(project, name: str):
    """Hold the training lock of model ``name`` (an OS file lock in its folder, dropped when the process dies) for
    the run: a second training of the same model, in another process or this one, stops at once with
    :class:`TrainingBusy` naming the first, instead of both writing best.pt, last.pt and metrics.json in turn (each
    then reporting the other's model as its own). Under torchrun rank 0 holds it for the job."""
    if int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    import filelock

    from dvos_core.store.lock import describe_record, process_record, read_record, write_record

    folder = project.model_dir(name, create=True)
    lock_path, holder_path = folder / TRAIN_LOCK, folder / TRAIN_HOLDER
    lock = filelock.FileLock(str(lock_path), thread_local=False, is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise TrainingBusy(
            f"{folder}: model '{name}' is being trained by {describe_record(read_record(holder_path))}; let it "
            f"finish (or stop it), then run this again to continue it, or choose another --name"
        ) from None
    except OSError:  # a file system without locks: train unlocked, as the store's writer lock would have said
        yield
        return
    try:
        write_record(holder_path, process_record(f"train {name}"))  # names this run in a second one's error
        yield
    finally:
        for p in (holder_path, lock_path):  # the lock file too: a finished run leaves only its model's files
            with contextlib.suppress(OSError):
                p.unlink()
        lock.release()


def _remove_unfinished(folder: Path) -> None:
    """Remove the model folder of a run that failed before it committed a checkpoint (only what such a run writes;
    a folder holding anything else is left as it is)."""
    try:
        if not folder.is_dir() or any((folder / c).exists() for c in CHECKPOINT_FILES):
            return
        for f in EARLY_FILES:
            if (folder / f).is_file():
                (folder / f).unlink()
        folder.rmdir()  # fails, harmlessly, when something else is in it
    except OSError:
        pass


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


class _Run:
    def __init__(self, project, config: TrainConfig, name, dist_info, progress, cancel, on_event):
        self.project, self.cfg, self.name, self.dist = project, config, name, dist_info
        self.progress, self.cancel, self.on_event = progress, cancel, on_event
        self.device = distributed.device_for(dist_info, select_device(config.device))
        # bf16 autocast: by default on CUDA GPUs that have it; on a CPU with native bfloat16 when precision is bf16
        # (refused where the device lacks it: before anything is written)
        self.use_amp = bool(config.amp) and use_bf16(self.device, config.precision)
        self.out = project.model_dir(name, create=True)
        self.last_path, self.best_path = self.out / "last.pt", self.out / "best.pt"
        if config.size:
            self.size = config.size
        else:  # the model's own input size: its preset's or the one recorded in init_from's checkpoint
            where = f"{config.init_from}: its model's input size" if config.init_from else f"preset {config.preset}"
            self.size = check_size(self._model_input_size(), f"{where} (or set size / --size, up to {MAX_SIZE})")
        self._run_loader = None  # the training loader, made once per run (see _train_loader)

    def _model_input_size(self) -> int:
        """The training size when the config leaves it open: the input size of the model it starts from."""
        cfg = self.cfg
        if cfg.init_from:
            config = ModelConfig.from_dict(read_checkpoint(cfg.init_from, INIT_FROM)["config"])
        else:
            config = get_config(cfg.preset)  # not model: {input_size}, which the config refuses (size sets it)
        return int(config.input_size)

    # ---- helpers -----------------------------------------------------------------------------------------------
    def emit(self, event: TrainEvent) -> None:
        """Hand ``event`` to ``on_event``; without one, a done event's note (nothing trained, or prediction sets
        now out of date) is a warning, so a caller from Python is told as the CLI and the Train step are."""
        if not self.dist.is_main:
            return
        if self.on_event is not None:
            self.on_event(event)
        elif isinstance(event, DoneEvent) and event.note:
            warn_user(event.note)

    def _cancel_requested(self) -> bool:
        flag = self.cancel is not None and self.cancel.cancelled
        return distributed.any_rank(flag, self.device) if self.dist.enabled else flag

    def _stop(self, epoch: int, step: int, running: tuple, rng: dict | None = None) -> None:
        """Save ``last.pt`` at ``step`` of ``epoch`` (with the RNG state ``rng`` taken when that step began, if given:
        an exact resume) and raise :class:`Cancelled`."""
        if rng is not None:
            _set_rng_state(rng, self.device)
        self._save_last(epoch, step, running)
        self.emit(CancelledEvent(last=str(self.last_path), epoch=epoch + 1, step=step))
        raise Cancelled(f"training cancelled at epoch {epoch + 1}, step {step}; resume with the same name")

    # ---- model ---------------------------------------------------------------------------------------------------
    def _model_preset(self) -> str:
        """The preset name of the model trained (a checkpoint's own when the run started from one)."""
        return str(getattr(self.model, "module", self.model).config.name)

    def _fresh_model(self):
        cfg, kind = self.cfg, self.cfg.kind
        overrides = dict(cfg.model)
        overrides["input_size"] = self.size
        if kind != "frame":
            overrides["tau"] = cfg.tau
        if not cfg.init_from:
            return build_model(cfg.preset, kind, **overrides), None
        payload = read_checkpoint(cfg.init_from, INIT_FROM)
        src_kind = payload.get("kind")
        saved = ModelConfig.from_dict(payload["config"])  # the checkpoint's model settings
        model = build_model(saved.replace(**overrides), kind)
        theirs = saved.to_dict()
        differ = {k: (theirs[k], v) for k, v in overrides.items() if k in theirs and theirs[k] != v}
        differ.pop("input_size", None)  # a training size: no tensor depends on it
        if src_kind != kind:
            differ.pop("tau", None)  # the clip length of one kind of model is no setting of the other's
        if src_kind == kind:
            _check_same_parts(model, payload["state_dict"], cfg.init_from, differ)
            model.load_state_dict(payload["state_dict"], strict=True)
            note = {"init_from": str(cfg.init_from), "loaded": len(payload["state_dict"]), "missing": []}
        elif src_kind == "frame":  # the paper's partial pretraining (and the context model's starting point)
            # its tensors the video model has must fit: init_from_frame_model would leave out any of another shape
            _check_same_parts(model, payload["state_dict"], cfg.init_from, differ, src_kind)
            r = init_from_frame_model(model, payload["state_dict"])
            note = {"init_from": str(cfg.init_from), "loaded": r["loaded"], "missing": len(r["missing"])}
        elif kind != "frame":
            raise ValueError(
                f"{cfg.init_from}: a {src_kind!r} model cannot initialise a {kind!r} model; to go on training the "
                f"{src_kind!r} model, pass --video-model {src_kind} (video_model: {src_kind}); to train a {kind!r} "
                f"model, start from an image model (--phase image) or a {kind!r} checkpoint"
            )
        else:  # a video checkpoint initialising an image model: its encoder/decoder/heads keys fit
            _check_same_parts(model, payload["state_dict"], cfg.init_from, differ, src_kind)
            own = model.state_dict()
            state = {k: v for k, v in payload["state_dict"].items() if k in own}
            model.load_state_dict(state, strict=True)
            note = {"init_from": str(cfg.init_from), "loaded": len(state), "missing": []}
        # the bytes loaded (a file saved over it since, by a training of that model, is not what this run began from)
        note["sha256"] = payload.get("file_sha256") or file_fingerprint(cfg.init_from)  # a resume checks it
        # one of this project's own models, or another's (never taken for this project's model of the same name)
        note["in_project"] = bool(in_project(cfg.init_from, self.project.path))
        return model, note

    def _check_same_start(self, init: dict | None, finished: bool) -> None:
        """Refuse to continue (or keep) a run whose starting checkpoint has changed since it began (trained again
        under the same name): its weights came from other weights than ``init_from`` holds now."""
        recorded, src = (init or {}).get("sha256"), self.cfg.init_from
        if not recorded or not src or not Path(src).is_file() or file_fingerprint(src) == recorded:
            return
        which = "a finished" if finished else "an unfinished"
        raise ResumeRefused(
            f"{self.out}: holds {which} run started from {src} as that file was then; it has changed since (trained "
            f"again?), so this run's weights come from another model than the one it names"
        )

    def _optimizer(self):
        """AdamW and its cosine schedule over the epochs. A video model's parts inherited from the image model
        (:func:`image_parameter_names`) train at ``cfg.inherited_lr_scale()`` of ``lr`` and ``eta_min``, its new
        blocks at the full rate."""
        cfg = self.cfg
        scale = cfg.inherited_lr_scale()
        if scale == 1:
            opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.final_lr())
        inherited = image_parameter_names(self.model)
        named = list(self.model.named_parameters())
        groups = [
            {"params": [p for n, p in named if n in inherited], "lr": cfg.lr * scale},
            {"params": [p for n, p in named if n not in inherited], "lr": cfg.lr},
        ]
        opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        floor = cfg.final_lr() / cfg.lr

        def cosine(epoch: int) -> float:  # CosineAnnealingLR's curve, as a factor of each group's own rate
            return epoch_rate(1.0, floor, epoch, cfg.epochs)

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, cosine)

    def _stretch_cosine(self, epochs: int) -> None:
        """Fit the resumed cosine schedule to ``epochs`` from the epoch it has reached: each group's rate becomes the
        new curve's at that epoch (:func:`epoch_rate`). The optimizer's state holds the rates of the old curve, and a
        scheduler only sets new ones at its next step: without this the first added epoch trained at the old
        schedule's rate (eta_min for a finished run). CosineAnnealingLR also gets the new T_max; the scaled
        schedule's factor (:meth:`_optimizer`) reads the new ``cfg.epochs`` itself."""
        sched, epoch = self.sched, self.sched.last_epoch
        if isinstance(sched, torch.optim.lr_scheduler.LambdaLR):  # each group at its own share of the curve
            rates = [base * factor(epoch) for base, factor in zip(sched.base_lrs, sched.lr_lambdas)]
        else:
            sched.T_max = epochs
            rates = [epoch_rate(base, sched.eta_min, epoch, epochs) for base in sched.base_lrs]
        for group, rate in zip(self.opt.param_groups, rates):
            group["lr"] = rate
        sched._last_lr = rates

    # ---- data ----------------------------------------------------------------------------------------------------
    def _data(self, resumed: dict | None = None):
        cfg = self.cfg
        train_s, val_s = config_samples(self.project, cfg)
        self.train_index = ClipIndex(train_s, cfg.tau, cfg.delta)
        self.val_index = ClipIndex(val_s, cfg.tau, cfg.delta)
        aug = self._matched_degradation(cfg.augment_config(), resumed)
        path = self.project.path
        clean_view = self._clean_view_anchor() and cfg.loss_weights().anchor > 0  # what _anchor reads
        self.train_ds = ClipDataset(path, self.train_index, self.size, True, aug, cfg.kind, cfg.seed, clean_view)
        self.val_ds = ClipDataset(path, self.val_index, self.size, False, aug, cfg.kind, cfg.seed, False)
        self.sampler = ClipSampler(
            self.train_index,
            cfg.samples_per_epoch,
            weighted=True,
            seed=cfg.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        self._check_some_foreground()
        steps = math.ceil(self.sampler.per_rank / cfg.batch_size)
        self.steps_per_epoch = min(steps, cfg.max_steps_per_epoch or steps)
        if self.steps_per_epoch < 1:  # the config refuses what leads here; never save an untrained model as trained
            raise ValueError(
                f"{self.out}: an epoch would have no training step ({len(self.train_index)} training samples, "
                f"samples_per_epoch {cfg.samples_per_epoch}, max_steps_per_epoch {cfg.max_steps_per_epoch})"
            )
        train, val = self.train_index.summary(), self.val_index.summary()
        self.select_by, why = cfg.selection(val["provenance"])
        self.data_summary = {
            **({"degraded_queries": self.degraded_queries} if self.degraded_queries else {}),
            "train": train,
            "val": val,
            "selection": {"by": self.select_by, "why": why},
            "project": str(Path(self.project.path).resolve()),
            "versions": self._source_versions(train, val),
            "human_masks": _human_masks(self.project, self.train_index, self.val_index),
        }

    def _source_versions(self, *summaries: dict) -> dict:
        """What tells a source trained on (in the data ``summaries``) from the same one made again: each synthetic
        set's ``uid`` and the date of each video's pseudo-labelling (where its pseudo-labels are trained on)."""
        out = {}
        for name in sorted({s for part in summaries for s in part["synthetic_sets"]}):
            out[f"synthetic set {name}"] = self.project.synthetic(name).attrs.get("uid")
        if any(part["provenance"].get("pseudo") for part in summaries):
            for vid in sorted({v for part in summaries for v in part["videos"]}):
                record = self.project.video(vid).attrs.get("pseudo_label") or {}
                out[f"pseudo-labels of {vid}"] = record.get("date")
        return out

    def _note_data_changes(self, before: dict, epoch: int) -> None:
        """On a resume: warn when the training or validation data differ from those the run began on (a synthetic
        set made again, labels added or relabelled: the run goes on with the new data, so it no longer equals one
        never stopped), and keep the change, with earlier ones, in the data summary the checkpoints record."""
        changes = list(before.get("changed_on_resume") or [])
        said = []
        for part in ("train", "val"):
            was, now = before.get(part) or {}, self.data_summary[part]
            for key in DATA_KEYS:
                if key in was and was.get(key) != now.get(key):
                    said.append(f"{part} {key} {_short(was.get(key))} -> {_short(now.get(key))}")
        was, now = before.get("versions") or {}, self.data_summary["versions"]
        said += [f"{key} made again" for key in sorted(set(was) & set(now)) if was[key] != now[key]]
        if said:
            warn_user(
                f"{self.out}: the training data changed since the run began ({'; '.join(said)}); the resumed run "
                f"goes on with the new data (--no-resume, resume=False, starts over on it)",
            )
            changes.append({"after_epoch": epoch, "changes": said})
        if changes:
            self.data_summary["changed_on_resume"] = changes

    def _check_some_foreground(self) -> None:
        """Refuse training labels that are all empty (no head in any of them): the model would learn to predict
        nothing, whatever it is trained for. Reads the masks until the first that holds a head."""
        samples = self.train_index.samples
        if any(self.train_ds.query_has_foreground(s) for s in samples):
            return
        from collections import Counter

        from dvos_core.store.schema import PROVENANCE_NAMES

        counts = Counter(PROVENANCE_NAMES.get(s.provenance, "?") for s in samples)
        kinds = ", ".join(f"{c} {k}" for k, c in sorted(counts.items()))
        videos = sorted({s.source for s in samples if s.kind == "video"})
        sets = sorted({s.source for s in samples if s.kind == "synthetic"})
        where = "; ".join(
            w
            for w in (
                f"videos {', '.join(videos)}" if videos else "",
                f"synthetic sets {', '.join(sets)}" if sets else "",
            )
            if w
        )
        raise ValueError(
            f"{self.project.path}: every one of the {len(samples)} training label(s) ({kinds}; {where}) is empty - no "
            f"pixel marked as a wheat head - so a model would only learn to predict nothing; paint the heads on some "
            f"frames (a mask marks a head with 1 or 255), or check that the masks were imported to the right video"
        )

    def _matched_degradation(self, aug, resumed: dict | None = None):
        """``aug`` with the context model's share of degraded queries set from the project's footage when the
        config leaves it open (:mod:`dvos_core.data.degradation_match`); what was measured goes into the run's data
        summary (``degraded_queries``). A resumed run (``resumed``: its last checkpoint, as read) keeps the share it
        started with (one started before the share was matched: the share it then used), whatever videos were added
        since."""
        self.degraded_queries = None
        if self.cfg.kind != "context" or aug.context.degrade_query_p is not None:
            return aug
        from dvos_core.data.degradation_match import (
            DEGRADED_SHARE,
            matched_query_share,
            measure_degradation,
            project_footage,
        )

        if resumed is not None:
            saved = resumed.get("info", {}).get("data", {}).get("degraded_queries")
            self.degraded_queries = saved or {"share": DEGRADED_SHARE, "matched_to": None}
        else:
            measured = measure_degradation(project_footage(self.project))
            self.degraded_queries = {"share": matched_query_share(measured), "matched_to": measured.to_dict()}
        share = float(self.degraded_queries["share"])
        return dataclasses.replace(aug, context=dataclasses.replace(aug.context, degrade_query_p=share))

    def _loader(self, ds, sampler, persistent: bool = False):
        pin = self.device.type == "cuda"
        g = torch.Generator().manual_seed(self.cfg.seed)  # keeps the global RNG untouched (exact resume)
        return torch.utils.data.DataLoader(
            ds,
            batch_size=self.cfg.batch_size,
            sampler=sampler,
            num_workers=self.cfg.num_workers,
            pin_memory=pin,
            generator=g,
            persistent_workers=persistent and self.cfg.num_workers > 0,
            worker_init_fn=loader_worker_init,
        )

    def _train_loader(self):
        """One training loader for the whole run: its worker processes live from epoch to epoch, so what the dataset
        caches in them (open arrays, the context model's alignments) is computed once, not once per epoch."""
        if self._run_loader is None:
            self._run_loader = self._loader(self.train_ds, self.sampler, persistent=True)
        return self._run_loader

    # ---- checkpoints ---------------------------------------------------------------------------------------------
    def _write_config(self) -> None:
        """Write config.yaml, once, just before this run's first checkpoint: a run that fails before it leaves the
        folder's files (an earlier run's, with --no-resume) as they were."""
        if self.dist.is_main and not self._config_written:
            # a checkpoint of this project as models/NAME/FILE: the file still starts the run from the project's own
            # model once the project is moved or copied (an absolute path would name the original's)
            init = _project_relative(self.project, self.cfg.init_from)
            # the preset of a model started from a checkpoint is the checkpoint's (the config's is not used)
            used = self._model_preset() if self.cfg.init_from else None
            preset = used or self.cfg.preset  # one not among the presets too (the start model's own, not --preset's)
            with io_step(self.out / "config.yaml", "writing the training settings"):
                self.cfg.replace(init_from=init, preset=preset).to_yaml(self.out / "config.yaml", comments=True)
            self._config_written = True

    def _save_last(self, epoch: int, step: int, running: tuple) -> None:
        if not self.dist.is_main:
            return
        self._write_config()
        state = {
            "epoch": epoch,
            "step": step,
            "global_step": self.global_step,
            "running": list(running),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "rng": _rng_state(self.device),
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "finished": epoch >= self.cfg.epochs,
            "loss_ref": self.loss_ref,  # the first step's loss: the bound of a diverged loss (_check_step_loss)
            "run_id": self.run_id,
        }
        self._save(self.last_path, epoch, train_state=state)

    def _save_best(self, epoch: int) -> None:
        """Save the model as best.pt, the best of ``epoch`` epochs (its validation in the history's last entry)."""
        if not self.dist.is_main:
            return
        self._write_config()
        val_dice = self.history[-1].get("val_dice") if self.history else None
        self._save(self.best_path, epoch, val_dice=val_dice, run_id=self.run_id)

    def _save(self, path: Path, epoch: int, **extra) -> None:
        """One checkpoint of the run at ``epoch`` with what every one of them records (and ``extra``)."""
        save_checkpoint(
            path,
            self.model,
            epoch=epoch,
            metrics=self.history,
            data=self.data_summary,
            phase=self.cfg.phase,
            train_config=self.cfg.to_dict(),
            init=self.init_note,
            **extra,
        )

    def _repair_best(self, state: dict) -> bool:
        """On a resume: when the last finished epoch was the best and best.pt is not that epoch of this run (a kill
        between saving last.pt and best.pt: missing, an earlier epoch's, or an earlier run's after --no-resume),
        write best.pt from last.pt's model, which is that epoch's."""
        if not self.dist.is_main or int(state.get("step", 0)) != 0 or state.get("best_epoch") != state.get("epoch"):
            return False
        from dvos_core.model.checkpoint import CheckpointError, read_checkpoint

        try:
            held = read_checkpoint(self.best_path).get("info", {})
        except (FileNotFoundError, CheckpointError):
            held = {}
        if held.get("epoch") != state["epoch"] or held.get("run_id") != state.get("run_id"):
            self._save_best(int(state["epoch"]))
            self._write_metrics()
            return True
        return False

    def _repair_metrics(self) -> bool:
        """On a resume: when metrics.json does not hold the epochs last.pt has (a kill between saving best.pt and
        writing it, at the end of an epoch; or the file damaged), write it from last.pt's history. Whether it did."""
        if not self.dist.is_main or not self.history:
            return False
        try:
            held = json.loads((self.out / "metrics.json").read_text())
            if held.get("history") == self.history and held.get("best_epoch") == self.best_epoch:
                return False
        except (OSError, ValueError, AttributeError):
            pass
        self._write_metrics()
        return True

    def _write_metrics(self) -> None:
        if not self.dist.is_main:
            return
        record = {
            "name": self.name,
            "phase": self.cfg.phase,
            "best_epoch": self.best_epoch,
            "selection": self.data_summary["selection"],
            "history": self.history,
        }
        tmp = self.out / ".metrics.json.tmp"
        with io_step(self.out / "metrics.json", "writing the training metrics"):
            tmp.write_text(json.dumps(record, indent=1))
            tmp.replace(self.out / "metrics.json")

    # ---- main --------------------------------------------------------------------------------------------------
    def run(self, resume: bool) -> Path:
        cfg = self.cfg
        if cfg.final_lr() > cfg.lr and not (resume and self.last_path.exists()):  # a run begun so is left to resume
            raise ValueError(
                f"eta_min (--eta-min, {cfg.eta_min:g}) is above lr (--lr, {cfg.lr:g}): the cosine schedule would raise "
                f"the learning rate over the run instead of lowering it; set eta_min to at most lr (a tenth of it, "
                f"{cosine_floor(cfg.lr):g}, is the usual floor, which --lr alone sets)"
            )
        torch.manual_seed(cfg.seed)
        payload = last_run(self.best_path, self.last_path) if resume else None
        self._config_written = False  # config.yaml is written with this run's first checkpoint (_write_config)
        self._data(payload)
        self.history, self.best_score, self.best_epoch, self.global_step = [], None, None, 0
        self.loss_ref = None  # the loss of the run's first step (_check_step_loss)
        start_epoch, start_step, running, state = 0, 0, (0.0, 0), None
        if payload is not None:
            info = payload["info"]
            state, saved = info["train_state"], info.get("train_config", {})
            finished = _finished(state, saved)
            refuse_other_settings(self.out, cfg, info)
            self._check_same_start(info.get("init"), finished)
            self.model = build_model(ModelConfig.from_dict(payload["config"]), payload["kind"])
            self.model.load_state_dict(payload["state_dict"])
            self.init_note = info.get("init")
            self.history = list(info.get("metrics", []))
            self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
            self.run_id = state.get("run_id")  # None: a run begun before it was recorded
            repaired = self._repair_best(state)
            repaired = self._repair_metrics() or repaired
            if int(state["epoch"]) >= cfg.epochs:  # nothing left to train: the run and its config.yaml stay as they are
                return self._nothing_to_do(
                    int(state["epoch"]), int(saved.get("epochs") or state["epoch"]), info.get("data"), repaired
                )
            start_epoch, start_step = int(state["epoch"]), int(state["step"])
            self._note_data_changes(info.get("data") or {}, start_epoch)
            running = tuple(state["running"])
            self.global_step = int(state["global_step"])
            self.loss_ref = state.get("loss_ref")  # None in runs saved before it was recorded: this run's first step
        else:
            self.model, self.init_note = self._fresh_model()
            self.run_id = uuid.uuid4().hex  # kept in last.pt and best.pt: tells this run's files from another's
        self.model.to(self.device)
        self.opt, self.sched = self._optimizer()
        if state is not None:
            saved_groups = len(state["optimizer"]["param_groups"])
            if saved_groups != len(self.opt.param_groups):
                raise ResumeRefused(
                    f"{self.last_path}: holds an unfinished run whose optimizer had {saved_groups} learning-rate "
                    f"group(s), not {len(self.opt.param_groups)}; resume it with the image_lr_scale it was started "
                    f"with (1 for a run started before the setting existed)"
                )
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            if getattr(self.sched, "T_max", saved.get("epochs")) != cfg.epochs:  # epochs were changed: keep the
                self._stretch_cosine(cfg.epochs)  # position, every group at the new curve's rate there
            _set_rng_state(state["rng"], self.device)

        net = self.model
        if cfg.compile and self.device.type == "cuda":
            net = torch.compile(net)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            # a head whose task weight is 0 gets no gradient: DDP must then look for unused parameters
            net = DDP(net, device_ids=ids, find_unused_parameters=not (cfg.mask_weight and cfg.frame_weight))
        self.net = net
        self.emit(
            StartEvent(
                total_epochs=cfg.epochs,
                steps_per_epoch=self.steps_per_epoch,
                device=describe_device(self.device, "bf16" if self.use_amp else "fp32"),
                start_epoch=start_epoch + 1,
                train_samples=len(self.train_index),
                val_samples=len(self.val_index),
                world_size=self.dist.world_size,
                amp_bf16=self.use_amp,
                params=sum(p.numel() for p in self.model.parameters()),
                matched_degraded_queries=self.degraded_queries["share"] if self.degraded_queries else None,
                preset=self._model_preset(),
                resumed=payload is not None,
                start_step=start_step,
            )
        )
        # stop inside a step (not under DDP: every rank must stop at the same collective)
        try:
            with cancel_points(self.model, None if self.dist.enabled else self.cancel):
                for epoch in range(start_epoch, cfg.epochs):
                    self._train_epoch(
                        epoch, start_step if epoch == start_epoch else 0, running if epoch == start_epoch else (0.0, 0)
                    )
        finally:
            self._run_loader = None  # its worker processes end with it (also on a stop or an error)
        distributed.barrier()
        self.emit(DoneEvent(best=str(self.best_path), note=self._retrained_note()))
        return self.best_path

    def _retrained_note(self) -> str:
        """Which prediction sets an earlier version of this run's best.pt made (they no longer say what the model
        does), with the commands that make them again; "" when none (or not the main process). The model is saved
        by then: a project that cannot be read for this note (a damaged file: ``dvos check`` names it) gives no note
        and never fails the run."""
        if not self.dist.is_main:
            return ""
        from dvos_core.store.notes import retrained_note
        from dvos_core.store.schema import StoreError

        try:
            return retrained_note(self.project, self.best_path)
        except (StoreError, OSError, ValueError):
            return ""

    def _check_best_reads(self, done: int) -> None:
        """Refuse (:class:`ResumeRefused`) a finished run whose best.pt cannot be read (cut short, bits flipped):
        "nothing to do" named the damaged file as the model. Its best epoch's model cannot be made again from last.pt
        (the last epoch's; when that epoch was the best, :meth:`_repair_best` has rewritten best.pt already)."""
        from dvos_core.model.checkpoint import CheckpointError, _load_failure, read_checkpoint

        try:
            read_checkpoint(self.best_path)
        except CheckpointError as e:
            held = f"; best.pt held epoch {self.best_epoch}'s" if self.best_epoch is not None else ""
            raise ResumeRefused(
                f"{self.best_path}: damaged, it cannot be read ({_load_failure(e.__cause__ or e)}), and the run "
                f"already has {done} epoch(s), so nothing was trained: use {quote(self.last_path)} (the model after "
                f"epoch {done}{held}) in its place, e.g. `dvos predict {quote(self.project.path)} "
                f"{quote(self.last_path)}`",
                "or pass --no-resume (resume=False) to train the model again",
            ) from None

    def _nothing_to_do(self, done: int, planned: int, trained_on: dict | None = None, repaired: bool = False) -> Path:
        """A resumed run that already has ``done`` epochs (of the ``planned`` it was started with), at least as many as
        asked: nothing is trained or written (``repaired``: but best.pt or metrics.json was just written from
        last.pt); a done event says so, and says when frames were painted or corrected since the run read its data
        (``trained_on``: its saved data summary), which it does not learn from."""
        asked = self.cfg.epochs
        if not self.best_path.exists():
            raise ResumeRefused(f"{self.out}: its last.pt is at epoch {done} but it has no best.pt")
        self._check_best_reads(done)
        more = f", more than the {asked} asked" if done > asked else ""
        left = "" if done >= planned else f" (of the {planned} it was started with)"
        files = (
            "best.pt or metrics.json was written from last.pt, the run having stopped between its saves; nothing "
            "else changed"
            if repaired
            else "its files are unchanged"
        )
        note = (
            f"{self.out}: the run already has {done} epoch(s){left}{more}; nothing to do ({files}; give a higher "
            f"--epochs to train it further, or --no-resume to start over)"
        )
        new, repainted = _new_human_labels(self.data_summary, trained_on) if trained_on else (0, 0)
        if new:
            again = f" ({repainted} of them repainted)" if repainted else ""
            note += (
                f"; {new} frame(s) were painted or corrected since it trained{again}, which it has not learnt from: "
                f"train under a new --name (e.g. --init-from {quote(self.best_path)} --name NEW) to use them"
            )
        # done at once (no progress at all left a progress bar that never completed)
        report(self.progress, done, done, f"the run already has {done} epoch(s): nothing to do")
        self.emit(DoneEvent(best=str(self.best_path), note=note, new_labels=new, kept=True))
        return self.best_path

    def _clean_view_anchor(self) -> bool:
        """Whether the anchor holds the model to its mask on the undegraded input (always so for the image model)."""
        return self.cfg.kind == "frame" or self.cfg.anchor_view == "clean"

    def _anchor(self, batch: dict, weights) -> tuple[dict, torch.Tensor | None]:
        """The model's extra inputs for its anchor loss, and the samples it applies to (see
        :func:`dvos_core.train.losses.anchor_loss`): for the image model, and the context model with
        ``anchor_view="clean"``, every sample, held to the mask of its input before degradation; else the clean
        queries, held to their own query-alone mask."""
        if not weights.anchor:
            return {}, None
        if self._clean_view_anchor():
            view = batch["query_view"].to(self.device, non_blocking=True)
            return {"heads": ANCHOR_HEADS, "alone_query": view}, torch.ones(view.shape[0], device=self.device)
        return {"heads": ANCHOR_HEADS}, batch.get("query_clean")

    def _train_epoch(self, epoch: int, start_step: int, running: tuple) -> None:
        cfg, total_steps = self.cfg, self.cfg.epochs * self.steps_per_epoch
        weights = cfg.loss_weights()
        t0 = time.monotonic()
        self.net.train()
        self.sampler.set_epoch(epoch)
        self.sampler.skip = start_step * cfg.batch_size
        loss_sum, n = running
        lr = self.opt.param_groups[-1]["lr"]  # the full rate (the last group: new blocks)
        step, inputs = start_step, None
        if start_step < self.steps_per_epoch:  # a word before the epoch's first step (on a CPU the first batch and
            # step took 10-20 s with nothing shown after the stage's heading)
            first = f"epoch {epoch + 1}/{cfg.epochs}: step {step + 1}/{self.steps_per_epoch} under way"
            report(self.progress, self.global_step, total_steps, first)
        batches = iter(self._train_loader()) if start_step < self.steps_per_epoch else iter(())
        while step < self.steps_per_epoch:
            if self._cancel_requested():
                self._stop(epoch, step, (loss_sum, n))
            rng = None if self.dist.enabled or self.cancel is None else _rng_state(self.device)
            try:
                batch = next(batches)
            except StopIteration:
                break
            inputs = self.model.batch_inputs(batch, self.device)
            mask = batch["mask"].to(self.device, non_blocking=True)
            target = batch["target"].to(self.device, non_blocking=True)
            anchor_inputs, anchor_flags = self._anchor(batch, weights)
            try:
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp):
                    out = self.net(*inputs, **anchor_inputs)
                loss, parts = dvos_loss(out, mask, target, weights, anchor_flags)
                self._check_step_loss(parts["loss"], step, epoch)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
            except Cancelled:  # from a cancel point inside this step: drop the step, a resume redoes it exactly
                self._stop(epoch, step, (loss_sum, n), rng)
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
            self.opt.step()
            step += 1
            self.global_step += 1
            loss_sum, n = loss_sum + parts["loss"], n + 1
            self.emit(BatchEvent(epoch + 1, step, parts["loss"], {k: v for k, v in parts.items() if k != "loss"}))
            report(
                self.progress,
                self.global_step,
                total_steps,
                f"epoch {epoch + 1}/{cfg.epochs} step {step}/{self.steps_per_epoch} loss {parts['loss']:.4f}",
            )
        tl = distributed.all_reduce_sum([loss_sum, n], self.device)
        train_loss = tl[0] / max(tl[1], 1)
        try:
            val = self._validate(epoch)
        except Cancelled:  # the epoch's steps are done: resume goes straight to its validation
            self._stop(epoch, self.steps_per_epoch, (loss_sum, n))
        self._check_finite(epoch, train_loss, val, inputs)
        with warnings.catch_warnings():  # a resume at an epoch's last step validates it with no optimizer step here
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            self.sched.step()  # every rank steps its scheduler: learning rates stay identical
        score = val["val_dice"] if val["val_dice"] is not None else -train_loss
        improved = self.select_by == "last" or self.best_score is None or score > self.best_score
        entry = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            **val,
            "lr": lr,
            "time_s": round(time.monotonic() - t0, 3),
            "steps": step,
        }
        self.history.append(entry)
        if improved:
            self.best_score, self.best_epoch = score, epoch + 1
        # last.pt first: a kill before best.pt is written leaves a last.pt that says this epoch is the best, from
        # which a resume writes best.pt (_repair_best); the other order left the new best.pt beside the last.pt of
        # an earlier run (--no-resume), whose resume then mixed the two runs
        self._save_last(epoch + 1, 0, (0.0, 0))
        if improved:
            self._save_best(epoch + 1)
        self._write_metrics()
        self.emit(
            EpochEvent(
                epoch=epoch + 1,
                train_loss=train_loss,
                val_loss=val["val_loss"],
                val_dice=val["val_dice"],
                lr=lr,
                best=improved,
            )
        )

    def _check_step_loss(self, value: float, step: int, epoch: int) -> None:
        """Stop (before the step changes the weights) when the loss is not a finite number or has exploded: over
        ``DIVERGED_FACTOR`` times the run's first step's (at least 1). The first step's loss is recorded in last.pt, so
        a resumed run holds to the same bound; under DDP it is the ranks' mean and the bound is checked on each epoch's
        mean loss (every rank alike, see :meth:`_check_finite`), not per step."""
        if not math.isfinite(value):
            raise self._diverged(f"the training loss became {value} at step {step + 1}", epoch)
        if self.loss_ref is None:
            if self.dist.enabled:
                total, ranks = distributed.all_reduce_sum([value, 1.0], self.device)
                value = total / ranks
            self.loss_ref = value
        elif not self.dist.enabled:
            self._check_not_exploded(value, f"at step {step + 1}", epoch)

    def _check_not_exploded(self, value: float, where: str, epoch: int) -> None:
        bound = DIVERGED_FACTOR * max(self.loss_ref or 0.0, 1.0)
        if value > bound:
            why = f"over {DIVERGED_FACTOR:g} times the {self.loss_ref:.4g} of the run's first step"
            raise self._diverged(f"the training loss became {value:.4g} {where}", epoch, why)

    def _diverged(self, what: str, epoch: int, why: str = "") -> FloatingPointError:
        """The error that stops a run whose loss or weights stopped being finite numbers, or whose loss exploded
        (nothing of this epoch is saved: best.pt and last.pt keep the epochs before it)."""
        kept = f"best.pt keeps epoch {self.best_epoch}" if self.best_epoch is not None else "this run saved no best.pt"
        return FloatingPointError(
            f"{what} in epoch {epoch + 1}{f' ({why})' if why else ''}: the training diverged, most likely because the "
            f"learning rate is too high (lr {self.cfg.lr:g}); lower it (--lr, default 1e-4) or check the data; {kept}"
        )

    def _check_finite(self, epoch: int, train_loss: float, val: dict, inputs=None) -> None:
        """Stop (before anything of the epoch is saved) when its training or validation loss, its validation Dice or
        the weights are not finite, or, in a run without validation, the model's output on the epoch's last batch
        (``inputs``; weights blown up by the last step stay finite, but its output is not): such an epoch must never
        become best.pt."""
        values = [("training loss", train_loss), ("validation loss", val["val_loss"])]
        values.append(("validation Dice", val["val_dice"]))
        bad = [(k, v) for k, v in values if v is not None and not math.isfinite(v)]
        if bad:
            raise self._diverged(f"the {bad[0][0]} became {bad[0][1]}", epoch)
        if self.loss_ref is not None:  # the mean of the epoch's steps: the same on every rank
            self._check_not_exploded(train_loss, "on average", epoch)
        if not bool(torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all()):  # same on ranks
            raise self._diverged("the weights became inf/nan", epoch)
        if val["val_loss"] is None and inputs is not None and not self._output_finite(inputs):
            raise self._diverged("the model's output on its last batch became inf/nan", epoch)

    @torch.no_grad()
    def _output_finite(self, inputs) -> bool:
        """Whether the model as trained now gives finite outputs for ``inputs`` on every rank (in eval mode: no
        running statistic moves)."""
        model, was = self.model, self.model.training
        model.eval()
        try:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp):
                out = model(*inputs)
        finally:
            model.train(was)
        parts = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) else [out]
        bad = not all(bool(torch.isfinite(t).all()) for t in parts if torch.is_tensor(t))
        return distributed.all_reduce_sum([float(bad)], self.device)[0] == 0

    @torch.no_grad()
    def _validate(self, epoch: int) -> dict:
        """Loss and Dice on the validation samples after ``epoch`` (0-based), with progress batch by batch (on a CPU
        a phase's validation took up to a minute after its last step, with nothing shown)."""
        if len(self.val_index) == 0:
            return {"val_loss": None, "val_dice": None, "val_frames": 0}
        model = unwrap(self.net)
        model.eval()
        sampler = EvalSampler(len(self.val_index), self.dist.rank, self.dist.world_size)
        loader = self._loader(self.val_ds, sampler)
        weights = self.cfg.loss_weights()
        loss_sum = dice_sum = frames = 0.0
        n_batches, total_steps = len(loader), self.cfg.epochs * self.steps_per_epoch
        for k, batch in enumerate(loader):
            report(
                self.progress,
                self.global_step,
                total_steps,
                f"epoch {epoch + 1}/{self.cfg.epochs} validating: batch {k + 1}/{n_batches}",
            )
            if self.cancel is not None and not self.dist.enabled:  # ranks hold unequal shares: no collective here
                self.cancel.check()
            inputs = model.batch_inputs(batch, self.device)
            mask, target = batch["mask"].to(self.device), batch["target"].to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp):
                out = model(*inputs)
            loss, _ = dvos_loss(out, mask, target, weights)
            b = mask.shape[0]
            loss_sum += float(loss) * b
            dice_sum += float(frame_dice(out["mask"], mask).sum())
            frames += b
        loss_sum, dice_sum, frames = distributed.all_reduce_sum([loss_sum, dice_sum, frames], self.device)
        model.train()
        return {"val_loss": loss_sum / max(frames, 1), "val_dice": dice_sum / max(frames, 1), "val_frames": int(frames)}


def init_checkpoint_path(project, init_from):
    """``init_from`` as an absolute path to open (and to record: a path relative to the folder a run was started in
    names nothing from another): ``models/NAME/FILE`` (how config.yaml records a checkpoint of the project) is the
    project's own, wherever the command runs from; a bare model name (``image``) is that model's best.pt, as
    ``dvos predict`` reads it; a model folder is its best.pt (:func:`~dvos_core.model.checkpoint.folder_checkpoint`);
    any other path is made absolute from the working folder."""
    if not init_from:
        return init_from
    p = user_path(init_from)
    if not p.is_absolute() and p.parts[:1] == ("models",) and (project.path / p).is_file():
        return str(project.path / p)
    if (not p.is_file() and len(p.parts) == 1 and not p.suffix) or p.is_dir():  # a model's name, or a model folder
        from dvos_core.infer.engine import resolve_checkpoint_path

        # a clear error naming the models there (or what a folder given is: a project, its models folder)
        return os.path.abspath(resolve_checkpoint_path(project, str(init_from)))
    return os.path.abspath(p)


def _project_relative(project, init_from):
    """``init_from`` as config.yaml records it: ``models/NAME/FILE`` when it is a checkpoint inside the project, else
    as given (absolute: see :func:`init_checkpoint_path`)."""
    if not init_from:
        return init_from
    try:
        rel = Path(init_from).resolve().relative_to(Path(project.path).resolve())
    except ValueError:
        return init_from
    return rel.as_posix() if rel.parts[:1] == ("models",) else init_from


def _trained_again(saved, now, init: dict | None, own: bool | None) -> bool:
    """Whether the checkpoints ``saved`` and ``now`` are the same file of a project, ``models/NAME/FILE`` (the project
    copied or moved since), whose bytes are no longer those a run recorded (``init``'s sha256) it began from.
    ``own``: whether ``saved`` was a model of the run's own project (False: another project's, never this one's model
    of the same name; None: a record that does not tell)."""
    sha256 = (init or {}).get("sha256")
    if not saved or not now or not sha256 or not Path(now).is_file() or own is False:
        return False
    a, b = Path(saved).parts, Path(now).parts
    return len(a) >= 3 and a[-3] == "models" and a[-3:] == b[-3:] and not _same_bytes(now, sha256)


def began_in_project(init_from, init: dict | None, data: dict | None) -> bool | None:
    """Whether a run's starting checkpoint ``init_from`` (as its train_config records it) was a model of the project
    it ran in: its ``init`` record says so (``in_project``); for a run recorded before that, its path lies in the
    project its ``data`` summary names (where the project was then), or is spelt from a folder above it; None when
    the records do not tell."""
    if not init_from:
        return None
    if isinstance((init or {}).get("in_project"), bool):
        return init["in_project"]
    project = (data or {}).get("project")
    p = Path(str(init_from))
    if not isinstance(project, str) or not project:
        return None
    if len(p.parts) < 3 or p.parts[-3] != "models":
        return False
    head = p.parents[2]  # the project folder, as spelt
    if p.is_absolute():
        return os.path.normpath(head) == os.path.normpath(project) or head.resolve() == Path(project).resolve()
    if ".." in head.parts:
        return None
    return not head.parts or Path(project).parts[-len(head.parts) :] == head.parts


def _same_bytes(path, sha256: str | None) -> bool:
    """Whether the file ``path`` holds the bytes whose SHA-256 a run recorded of its starting checkpoint."""
    return bool(path and sha256 and Path(path).is_file() and file_fingerprint(path) == sha256)


def _check_same_parts(model, state: dict, init_from, differ: dict, src_kind: str | None = None) -> None:
    """A model continued from a checkpoint of its own kind must have the same tensors, of the same shapes: a ``model``
    setting that adds or removes a part (``input_fusion``, ``prior_refine``, ...) or resizes one (``fusion_dim``,
    ``widths``, ``tau``, ...) cannot change between phases. A model started from another kind's checkpoint
    (``src_kind``: an image model's for a video model, a video model's for an image model) takes the tensors the two
    kinds share: those must have the same shapes, and an image model must find all of its own. Raises a ValueError
    naming the parts, the settings that differ from the checkpoint's (``differ``: {setting: (the checkpoint's, this
    run's)}) and the fix, not torch's load error (or a start that silently leaves out what does not fit)."""
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    saved = {k: tuple(v.shape) for k, v in state.items()}
    missing, extra = sorted(own.keys() - saved.keys()), sorted(saved.keys() - own.keys())
    if src_kind == "frame":  # the video model's own blocks: not in an image model
        missing = []
    if src_kind is not None:  # the other kind's own parts: not taken
        extra = []
    resized = sorted(k for k in own.keys() & saved.keys() if own[k] != saved[k])
    if missing or extra or resized:
        parts = sorted({k.split(".")[0] for k in missing + extra + resized})
        if src_kind is None:
            fix = (
                "continue it with the model settings it was trained with (see its config.yaml), or start from an "
                "image model to train a model with the new ones"
            )
        elif src_kind == "frame":
            fix = (
                "start from it with the model settings it was trained with (see its config.yaml), or train an image "
                "model with the new ones first (--phase image) and start from that"
            )
        else:
            fix = (
                "start from it with the model settings it was trained with (see its config.yaml), or leave out "
                "--init-from to train an image model with the new ones from scratch"
            )
        raise ValueError(
            f"{init_from}: its model has other parts than these settings build ({', '.join(parts)}: "
            f"{len(missing)} tensor(s) it lacks, {len(extra)} it has beyond them, {len(resized)} of another shape; "
            + (
                "settings that differ from its model's: "
                + ", ".join(f"{k} {_short(now)} (its model: {_short(was)})" for k, (was, now) in differ.items())
                if differ
                else "no model setting differs from its model's"
            )
            + f"); {fix}"
        )
