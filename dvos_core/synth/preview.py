"""Fast preview: one short clip from a project's objects and one background, for the napari dock and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dvos_core.progress import CancelToken, ProgressFn, Steps, check, report
from dvos_core.synth.bank import check_training_objects, edge_cut_note, synthesis_objects
from dvos_core.synth.config import SynthConfig, synth_config

PREVIEW_SUFFIXES = (".mp4", ".avi", ".png", ".jpg", ".jpeg")


def preview(
    project,
    config: SynthConfig | None = None,
    seed: int = 0,
    n_frames: int = 16,
    size: int = 512,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
):
    """Render one ``n_frames`` x ``size``² clip with ``config`` (other fields as set there; a dict of its fields
    too) -> (frames, masks). ``size`` (default 512) replaces the config's height and width: at most the side of
    the project's largest background clip, unless the config sets ``allow_upscale``.

    ``project`` is a Project or its path. The background clip is picked with ``seed``; only the window the camera
    sees is read from the store.
    """
    from dvos_core.store import Project
    from dvos_core.synth.clip import simulate_clip
    from dvos_core.synth.generate import _Committed, usable_backgrounds

    project = Project.of(project, mode="r")
    cfg = synth_config(config).replace(n_frames=int(n_frames), height=int(size), width=int(size))
    report(progress, 0, n_frames + 1, "loading objects")
    check_training_objects(project)
    if not project.objects.count("head"):
        from dvos_core.extract.heads import painted_heads_note

        raise ValueError(f"{project.path}: no real heads in the object bank; {painted_heads_note(project)}")
    edge_cut_note(project, cfg.border_heads)  # (a warning where cut heads are pasted for want of whole ones)
    heads, fakes = synthesis_objects(project, cfg.border_heads)
    ids = usable_backgrounds(project, cfg, "preview(size=)")  # size, not the config's height and width
    check(cancel)
    rng = np.random.default_rng([int(seed), 1])
    bg = project.background(ids[int(rng.integers(len(ids)))])
    return simulate_clip(
        heads,
        fakes,
        _Committed(bg.frames, bg.n_frames),
        cfg,
        seed=int(seed),
        progress=Steps(progress, 1, n_frames, n_frames + 1, "preview: "),
        cancel=cancel,
    )


def overlay(
    frames: np.ndarray, masks: np.ndarray, colour=(204, 68, 150), alpha: float = 0.45, outline: bool = True
) -> np.ndarray:
    """Frames with the mask tinted (and outlined) for viewing: (T,H,W,3) uint8."""
    import cv2

    out = frames.astype(np.float32)
    m = masks.astype(bool)
    out[m] = (1 - alpha) * out[m] + alpha * np.asarray(colour, np.float32)
    out = out.astype(np.uint8)
    if outline:
        k = np.ones((3, 3), np.uint8)
        for t in range(len(out)):
            edge = masks[t] - cv2.erode(masks[t], k)
            out[t][edge.astype(bool)] = (255, 255, 255)
    return out


def check_preview_path(path) -> str:
    """The lower-case suffix of a preview file name; ValueError unless it is one :func:`save_preview` writes."""
    ext = Path(path).suffix.lower()
    if ext not in PREVIEW_SUFFIXES:
        raise ValueError(f"preview file must end in .mp4, .avi, .png or .jpg, got {Path(path).name!r}")
    return ext


def save_preview(path, frames: np.ndarray, masks: np.ndarray, fps: int = 10) -> str:
    """Write a preview: ``.mp4``/``.avi`` (overlay video) or ``.png``/``.jpg`` (a grid of up to 8 frames, each
    shown plain above its overlay). Returns the path written."""
    import cv2

    from dvos_core.io.image_files import opencv_name, write_image

    p = Path(path)
    ext = check_preview_path(p)
    over = overlay(frames, masks)
    if ext in (".mp4", ".avi"):
        _t, h, w, _ = frames.shape
        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if ext == ".mp4" else "MJPG"))
        writer = cv2.VideoWriter(opencv_name(p), fourcc, fps, (w, h))
        if not writer.isOpened():
            raise OSError(f"cannot write video {p}; try a .png preview instead")
        for f in over:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
    else:
        idx = np.linspace(0, len(frames) - 1, min(8, len(frames))).round().astype(int)
        grid = np.concatenate([np.concatenate([frames[i], over[i]], axis=0) for i in idx], axis=1)
        write_image(p, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), "writing the preview")
    return str(p)
