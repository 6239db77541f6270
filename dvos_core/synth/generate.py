"""Dataset generation: many clips written straight into a project's synthetic set, in parallel and resumable.

Clip i is rendered from seeds derived from (seed, the set's name, i) only, so the result does not depend on the number
of workers, the backend or how often the job was interrupted, and two sets of other names made with the same seed hold
different clips. Each worker writes whole clips into their own chunks and sets
``done[i]`` after the data; a killed job leaves unfinished clips with ``done == 0``, which the next call redoes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import zlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np

from dvos_core.progress import Cancelled, CancelToken, ProgressFn, check, report
from dvos_core.shell import quote
from dvos_core.store.lock import writes_store
from dvos_core.synth.bank import (
    check_training_objects,
    edge_cut_note,
    head_videos,
    synthesis_objects,
    test_backgrounds_warning,
    test_video_backgrounds,
)
from dvos_core.synth.config import SynthConfig, synth_config
from dvos_core.threads import resolve_threads, using_threads
from dvos_core.user_warnings import warn_user

BACKENDS = ("serial", "process", "dask")
SET_SPLITS = ("train", "val", "test")  # what a synthetic set can be used for


def set_seed_key(name: str) -> int:
    """The number a synthetic set's name adds to its clips' seeds (recorded as its ``seed_key``), so that sets of
    other names made with the same seed hold other clips: a stable CRC-32 of the name (never Python's ``hash()``,
    which changes from one process to the next)."""
    return zlib.crc32(str(name).encode("utf-8", "surrogatepass"))


def _seed_entropy(seed: int, i: int, key: int | None) -> list[int]:
    """The entropy of clip i's generators: (seed, key, i), or (seed, i) for a set started before sets recorded a
    ``seed_key`` (key None), whose clips still to make must come out as its first ones did."""
    return [int(seed), int(i)] if key is None else [int(seed), int(key), int(i)]


def clip_seed(seed: int, i: int, key: int | None = None) -> int:
    """The rendering seed of clip i of a set made with ``seed`` and ``key`` (its name's :func:`set_seed_key`; None:
    a set started before the name counted); independent of workers and resumes."""
    return int(np.random.SeedSequence(_seed_entropy(seed, i, key)).generate_state(1, np.uint64)[0])


class _Committed:
    """Read-only view of the committed frames of a background clip (only the slices the renderer asks for)."""

    def __init__(self, arr, n: int):
        self.arr, self.dtype = arr, np.dtype(arr.dtype)
        self.shape = (n,) + tuple(arr.shape[1:])

    def __getitem__(self, key):
        return self.arr[key]


def usable_backgrounds(project, cfg: SynthConfig, size_option: str = "SynthConfig(height=, width=)") -> list:
    """Background clips that can feed clips of ``cfg``'s size; a clear error when there are none, naming
    ``size_option`` as the Python way to ask for a smaller size."""
    ids = project.background_ids()
    if not ids:
        raise ValueError(
            f"{project.path}: no background clips; extract bare-field clips first (`dvos extract-backgrounds`)"
        )
    tested = test_video_backgrounds(project, ids)
    if tested:
        warn_user(test_backgrounds_warning(project, tested, "synthesis leaves them out"))
        ids = [b for b in ids if b not in tested]
        if not ids:
            raise ValueError(
                f"{project.path}: every background clip was made from a test video; cut clips from bare-field "
                f"footage or training videos (`dvos extract-backgrounds`)"
            )
    ok, sizes = [], []
    for b in ids:
        bg = project.background(b)
        _, h, w, _ = bg.shape
        sizes.append(f"{b} {h}x{w} ({bg.n_frames} frames)")
        if bg.n_frames > 0 and (cfg.allow_upscale or (h >= cfg.height and w >= cfg.width)):
            ok.append(b)
    if not ok:
        raise ValueError(
            f"{project.path}: no background clip is at least {cfg.height}x{cfg.width} px with frames "
            f"(have {', '.join(sizes)}); use a smaller --size ({size_option} from Python) or set "
            f"allow_upscale: true"
        )
    return ok


def _whole(value, what: str) -> int:
    """``value`` as a whole number (a numpy integer or a string of digits too); ValueError naming ``what`` for
    1.5, True or "two" (1.5 clips were one clip without a word)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, np.integer, np.floating)):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    return int(number)


def _inputs_fingerprint(project, backgrounds: list) -> dict:
    """What a set's clips are made from: the object bank's counts and size, each background clip's frame count and
    the uid that tells it from a clip cut again under the same id (``background_uids``)."""
    ob = project.objects
    clips = {b: project.background(b) for b in backgrounds}
    return {
        "heads": ob.count("head"),
        "fakes": ob.count("fake"),
        "object_bytes": int(ob.group.attrs.get("n_bytes", 0)),
        "backgrounds": {b: bg.n_frames for b, bg in clips.items()},
        "background_uids": {b: str(bg.attrs.get("uid") or bg.attrs.get("created")) for b, bg in clips.items()},
        "head_videos": head_videos(project),  # told apart later, should one of them become a test video
    }


LATER_INPUTS = ("background_uids", "head_videos")  # recorded from 2026-12-07: older sets are compared without them


def _same_inputs(recorded: dict | None, now: dict) -> bool:
    """Whether a set's recorded inputs are ``now``'s; a set started before some of them were recorded
    (:data:`LATER_INPUTS`) is compared without those."""
    recorded = recorded or {}
    now = {k: v for k, v in now.items() if k in recorded or k not in LATER_INPUTS}
    return recorded == now


def set_border_heads(recorded, asked: str) -> str:
    """How a synthetic set pastes heads cut by their frame's edge: ``asked`` (SynthConfig.border_heads), but 'use'
    for a set whose ``recorded`` config (None: a new set) was started before the setting existed: it pasted every
    head, and its clips still to make do so too."""
    return "use" if isinstance(recorded, dict) and "border_heads" not in recorded else asked


class _Context:
    """What a worker needs to render clips of one set: config, seed, objects and background handles."""

    def __init__(self, project_path: str, name: str):
        from dvos_core.store import Project

        self.project = Project.open(project_path)
        self.set = self.project.synthetic(name)
        a = self.set.attrs
        self.cfg = SynthConfig.from_dict(a["config"])
        self.seed = int(a["seed"])
        self.key = None if a.get("seed_key") is None else int(a["seed_key"])  # None: a set of an earlier dvos
        self.backgrounds = list(a["inputs"]["backgrounds"])
        border = set_border_heads(a["config"] or {}, self.cfg.border_heads)
        self.heads, self.fakes = synthesis_objects(self.project, border)

    def make(self, i: int, cancel: CancelToken | None = None) -> None:
        from dvos_core.synth.clip import simulate_clip

        rng = np.random.default_rng(_seed_entropy(self.seed, i, self.key) + [1])
        bg = self.project.background(self.backgrounds[int(rng.integers(len(self.backgrounds)))])
        frames, masks = simulate_clip(
            self.heads,
            self.fakes,
            _Committed(bg.frames, bg.n_frames),
            self.cfg,
            seed=clip_seed(self.seed, i, self.key),
            cancel=cancel,
        )
        self.set.write_clip(int(i), frames, masks)  # data first, then done[i]


# ---- worker-process side ------------------------------------------------------------------------------------------
_WORKER: dict = {}


def _worker_init(project_path: str, name: str, event, threads: int = 1, parent: int | None = None) -> None:
    from dvos_core.threads import set_threads

    set_threads(threads, torch=False)  # this worker's share of the cores (OpenCV)
    _WORKER.clear()
    _WORKER.update(path=project_path, name=name, cancel=CancelToken(event) if event is not None else None)
    if parent is not None:
        _exit_with_parent(parent)


def _exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """End this worker process once its parent (pid ``parent``) is gone: a parent killed outright (SIGKILL, the
    panel's kill of a job) cannot stop its pool, whose workers went on rendering clips without the writer lock and
    then waited for ever. A clip stopped half-way is not done, and the next run renders it again."""
    import threading
    import time

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(interval)

    threading.Thread(target=watch, name="dvos-parent-watch", daemon=True).start()


def _worker_clip(i: int) -> int:
    check(_WORKER.get("cancel"))  # a cancelled run's queued clips end here, before loading the bank (seconds each)
    if "ctx" not in _WORKER:
        _WORKER["ctx"] = _Context(_WORKER["path"], _WORKER["name"])
    _WORKER["ctx"].make(i, _WORKER.get("cancel"))
    return i


def _dask_clip(project_path: str, name: str, i: int) -> int:
    """One clip on a Dask worker (context cached per worker process and set)."""
    key = (project_path, name)
    if _WORKER.get("dask_key") != key:
        _WORKER.update(dask_key=key, dask_ctx=_Context(project_path, name))
    _WORKER["dask_ctx"].make(i)
    return i


# ---- parent side ----------------------------------------------------------------------------------------------
def _half_created(sset) -> bool:
    """True for a set whose creation was interrupted (settings never recorded) and that has no finished clip."""
    return sset.half_created


def open_or_create_set(
    project, name: str, n_clips: int, cfg: SynthConfig, seed: int, split: str, motion_matched_to: list | None = None
):
    """The synthetic set ``name``: created, or reopened when its config, seed and inputs match (else StoreError). A
    new set records ``motion_matched_to`` (see :func:`generate`) when it is given; a reopened one keeps its own."""
    from dvos_core.store.schema import StoreError

    backgrounds = usable_backgrounds(project, cfg)
    inputs = _inputs_fingerprint(project, backgrounds)
    if name in project.synthetic_ids() and _half_created(project.synthetic(name)):
        project.delete_synthetic(name)  # killed while being created: it holds nothing, start it afresh
    if name in project.synthetic_ids():
        s = project.synthetic(name)
        a = dict(s.attrs)
        try:  # a set started before a field was added holds that field's default (border_heads: any, as it pastes
            # every head whatever it is asked: set_border_heads)
            a["config"] = SynthConfig.from_dict({"border_heads": cfg.border_heads, **(a.get("config") or {})}).to_dict()
        except (ValueError, TypeError):
            pass
        diffs = [
            k
            for k, mine in (("config", cfg.to_dict()), ("seed", int(seed)), ("n_clips", int(n_clips)))
            if a.get(k) != mine
        ]
        if diffs:
            old = a.get("config") or {}
            keys = [k for k, v in cfg.to_dict().items() if old.get(k) != v]
            detail = f" (config differs in {', '.join(keys)})" if keys else ""
            if "seed" in diffs:
                detail += f" (it was started with seed {a.get('seed')}, not {int(seed)})"
            if diffs == ["n_clips"] and int(n_clips) > int(a.get("n_clips") or 0):
                detail += (
                    f" ({a.get('n_clips')} clips: a set does not grow; for more clips make another set under a new "
                    f"--name, which gives other clips with the same settings and seed (the name is part of each "
                    f"clip's seed): training reads every synthetic set unless told which)"
                )
            elif "n_clips" in diffs:  # fewer clips, or with other changes: the count it was started with
                detail += f" (it was started with {a.get('n_clips')} clips, not {int(n_clips)})"
            raise StoreError(
                f"{project.path}: synthetic set {name!r} exists with a different {', '.join(diffs)}"
                f"{detail}; "
                f"resume it with the same settings, choose another --name, or delete it "
                f"(`dvos delete {quote(project.path)} synthetic {quote(name)} --yes`)"
            )
        if not _same_inputs(a.get("inputs"), inputs):
            if len(s.done()) >= s.n_clips:  # finished: nothing to resume, and nothing is wrong with it
                raise StoreError(
                    f"{project.path}: synthetic set {name!r} is complete, made from the objects and background clips "
                    f"as they were then (they have changed since); to make a set from the current ones use another "
                    f"--name"
                )
            raise StoreError(
                f"{project.path}: the objects or background clips changed since synthetic set {name!r} "
                f"was started, so resuming would mix two datasets; use another --name"
            )
        if s.split != split:  # the data does not depend on it: the set takes the split asked for
            s.set_split(split)
        return s
    return project.create_synthetic(
        name,
        n_clips,
        cfg.n_frames,
        cfg.height,
        cfg.width,
        config=cfg.to_dict(),
        seed=int(seed),
        seed_key=set_seed_key(name),
        split=split,
        provenance="synthetic",
        inputs=inputs,
        **({} if motion_matched_to is None else {"motion_matched_to": list(motion_matched_to)}),
    )


@writes_store
def generate(
    project,
    name: str,
    n_clips: int,
    config: SynthConfig | None = None,
    seed: int = 0,
    workers: int = 1,
    backend: str = "process",
    split: str = "train",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    threads: int | None = None,
    motion_matched_to: list[str] | None = None,
):
    """Render ``n_clips`` clips into synthetic set ``name`` of ``project`` (a Project or its path); resumable.

    backend: "serial" (this process), "process" (a pool of ``workers`` processes on this machine) or "dask" (the
    active ``distributed`` client if there is one, else Dask's local process scheduler; the project folder must be
    on storage that every worker can write). Re-running with the same name, config and seed only renders clips
    that are not done yet. Returns the SyntheticSet. ``config``: a :class:`SynthConfig`, a dict of its fields or
    None (the defaults). ``threads``: OpenCV threads per process (default: the cores shared among the ``workers``;
    see :mod:`dvos_core.threads`). ``motion_matched_to``: the videos whose measured motion ``config``'s motion
    settings come from (:func:`dvos_core.motion.match_motion`), or [] when they were not matched; recorded in a new
    set's attrs as ``motion_matched_to``, so that `dvos run-all` tells a set made with matched motion from one that
    moves as configured without guessing it from the settings. None (the default): not recorded (not known).
    """
    from dvos_core.store import Project

    project = Project.of(project)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    n_clips = _whole(n_clips, "n_clips")
    if n_clips < 1:
        raise ValueError(f"n_clips must be >= 1, got {n_clips}")
    seed, workers = _whole(seed, "seed"), _whole(workers, "workers")
    if workers < 1:  # 0 and -1 ran one process unsaid (-1 is joblib's "every core", which dvos does not mean)
        raise ValueError(f"workers must be at least 1 (1: render in this process), got {workers}")
    if split not in SET_SPLITS:
        raise ValueError(
            f"split must be one of {SET_SPLITS} (train: the video model learns from it, val: checks its training, "
            f"test: never trained on), got {split!r}"
        )
    cfg = synth_config(config)
    if project.objects.count("head") == 0:
        from dvos_core.extract.heads import painted_heads_note

        raise ValueError(f"{project.path}: no real heads in the object bank; {painted_heads_note(project)}")
    check_training_objects(project)  # before the set is made: a bank of test-video heads only makes none
    old = project.synthetic(name).attrs.get("config") if name in project.synthetic_ids() else None
    left_out = edge_cut_note(project, set_border_heads(old, cfg.border_heads))
    if motion_matched_to is not None:
        from dvos_core.store.schema import id_list

        motion_matched_to = [str(v) for v in id_list(motion_matched_to) or []]
    sset = open_or_create_set(project, name, int(n_clips), cfg, int(seed), split, motion_matched_to)
    done = set(sset.done().tolist())
    todo = [i for i in range(int(n_clips)) if i not in done]
    total = int(n_clips)
    report(progress, len(done), total, f"{name}: {len(todo)} clips to render" + (f"; {left_out}" if left_out else ""))
    if not todo:
        return sset
    _warn_camera_runs_off(project, sset, cfg)
    if backend == "serial" or (backend == "process" and workers <= 1):
        with using_threads(threads, torch=False):
            _run_serial(project, name, todo, len(done), total, progress, cancel)
    elif backend == "process":
        per_worker = resolve_threads(threads, workers)
        _run_processes(project, name, todo, len(done), total, workers, progress, cancel, per_worker)
    else:
        _run_dask(project, name, todo, len(done), total, workers, progress, cancel)
    _warn_no_heads(sset, cfg)
    return sset


MIRRORED_WARN = 0.1  # warn when more than this share of the synthetic frames shows field beyond the background's edge


def _warn_camera_runs_off(project, sset, cfg: SynthConfig) -> None:
    """Warn when the camera's path runs past the edge of the set's background clips so far that more than
    :data:`MIRRORED_WARN` of the synthetic frames' area shows the field beyond it, mirrored (each background clip
    picked alike). From the clips' sizes and the camera settings alone
    (:func:`~dvos_core.synth.clip.mirrored_share`)."""
    from dvos_core.synth.clip import mirrored_share

    ids = list(sset.attrs["inputs"]["backgrounds"])
    sizes = [tuple(project.background(b).shape[1:3]) for b in ids]
    share = float(np.mean([mirrored_share(cfg, hw, seed=sset.attrs.get("seed", 0)) for hw in sizes]))
    if share <= MIRRORED_WARN:
        return
    h, w = max(sizes, key=lambda hw: hw[0] * hw[1])
    warn_user(
        f"synthetic set {sset.name!r}: the camera's path over {cfg.n_frames} frames (camera_speed "
        f"{cfg.camera_speed:g} px/frame, shake, roll and zoom) runs past the edge of the background clips (the "
        f"largest is {h}x{w} px for {cfg.height}x{cfg.width} px clips), so about {100 * share:.0f} % of the "
        f"synthetic frames' area shows the field beyond it mirrored: a seam and repeated texture the real footage "
        f"does not have. Cut larger background clips (`dvos extract-backgrounds`; clips inpainted from painted frames "
        f"are only frame-sized), or make the clips shorter (--frames) or smaller (--size)"
    )


def _warn_no_heads(sset, cfg: SynthConfig) -> None:
    """Warn when no finished clip of the set shows a head pixel (a set that teaches a model only background): the
    heads and fakes drawn per view can cover each other on small views (``n_heads``/``n_fakes`` are counts, not
    densities), which the training run would find only as labels that are all empty."""
    done = sset.done()
    if not len(done) or any(sset._clip("masks", int(i), 0, sset.n_frames).any() for i in done):
        return
    warn_user(
        f"synthetic set {sset.name!r}: none of its {len(done)} clips shows a head pixel (every mask is empty), so "
        f"training on it would learn background only; at {cfg.height}x{cfg.width} px the {cfg.n_heads} heads and "
        f"{cfg.n_fakes} fake heads per view cover each other: make the set again (`dvos delete PROJECT synthetic "
        f"{sset.name} --yes`) with a larger --size, fewer fake heads (n_fakes in a --config file), or the painted "
        f"frames' density (--match-density), and look at --preview first"
    )


def _run_serial(project, name, todo, n_done, total, progress, cancel) -> None:
    ctx = _Context(str(project.path), name)
    for i in todo:
        check(cancel)
        ctx.make(i, cancel)
        n_done += 1
        report(progress, n_done, total, f"{name}: clip {i}")


def _run_processes(project, name, todo, n_done, total, workers, progress, cancel, threads: int = 1) -> None:
    spawn = mp.get_context("spawn")  # no fork: zarr/asyncio threads in the parent must not be copied
    stop = spawn.Event()
    pool = ProcessPoolExecutor(
        max_workers=int(workers),
        mp_context=spawn,
        initializer=_worker_init,
        initargs=(str(Path(project.path).resolve()), name, stop, threads, os.getpid()),
    )
    pending = set()
    try:
        pending = {pool.submit(_worker_clip, i) for i in todo}
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for f in finished:
                i = f.result()  # re-raises a worker's error here
                n_done += 1
                report(progress, n_done, total, f"{name}: clip {i}")
            check(cancel)
    except BaseException:
        stop.set()  # running clips stop at their next frame without setting done
        for f in pending:
            f.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(project, name, todo, n_done, total, workers, progress, cancel) -> None:
    try:
        import dask
    except ImportError as e:
        raise ImportError(
            "backend='dask' needs Dask: pip install 'dvos-napari[dask]' (or use backend='process')"
        ) from e
    path = str(Path(project.path).resolve())
    client = None
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        from distributed import as_completed

        futures = client.map(_dask_clip, [path] * len(todo), [name] * len(todo), todo, pure=False)
        try:
            for f in as_completed(futures):
                i = f.result()
                n_done += 1
                report(progress, n_done, total, f"{name}: clip {i}")
                check(cancel)
        except BaseException:
            client.cancel(futures)
            raise
        return
    spawn = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, int(workers)), mp_context=spawn) as pool:
        batch = max(1, int(workers)) * 2
        for k in range(0, len(todo), batch):
            check(cancel)
            part = todo[k : k + batch]
            tasks = [dask.delayed(_dask_clip, pure=False)(path, name, i) for i in part]
            dask.compute(*tasks, scheduler="processes", pool=pool)
            n_done += len(part)
            report(progress, n_done, total, f"{name}: clips {part[0]}-{part[-1]}")


__all__ = [
    "BACKENDS",
    "Cancelled",
    "clip_seed",
    "generate",
    "open_or_create_set",
    "set_seed_key",
    "usable_backgrounds",
]
