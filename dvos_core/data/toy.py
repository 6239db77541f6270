"""Toy data: small clips of moving ellipses on a textured background, for tests, demos and benchmarks."""

from __future__ import annotations

import numpy as np


def toy_clip(n_frames: int, height: int, width: int, rng: np.random.Generator, n_objects: int = 3):
    """(frames (T,H,W,3) uint8, masks (T,H,W) uint8): ellipses moving with constant velocity on a textured field."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0.15, 0.35, 3).astype(np.float32) * np.array([0.8, 1.2, 0.6], np.float32)
    texture = rng.normal(0, 0.05, (height // 4 + 1, width // 4 + 1)).astype(np.float32)
    texture = np.kron(texture, np.ones((4, 4), np.float32))[:height, :width]
    objs = []
    for _ in range(n_objects):
        r = rng.uniform(0.08, 0.16) * min(height, width)
        objs.append(
            {
                "y": rng.uniform(r, height - r),
                "x": rng.uniform(r, width - r),
                "ry": r,
                "rx": r * rng.uniform(0.5, 1),
                "vy": rng.uniform(-1.5, 1.5),
                "vx": rng.uniform(-1.5, 1.5),
                "colour": rng.uniform(0.6, 0.9, 3).astype(np.float32) * np.array([1, 0.95, 0.5], np.float32),
            }
        )
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    masks = np.empty((n_frames, height, width), np.uint8)
    for t in range(n_frames):
        img = base[None, None] + texture[..., None]
        m = np.zeros((height, width), bool)
        for o in objs:
            cy, cx = o["y"] + o["vy"] * t, o["x"] + o["vx"] * t
            inside = ((yy - cy) / o["ry"]) ** 2 + ((xx - cx) / o["rx"]) ** 2 <= 1
            img[inside] = o["colour"] + texture[inside, None]
            m |= inside
        img += rng.normal(0, 0.02, img.shape).astype(np.float32)
        frames[t] = np.clip(img * 255, 0, 255).astype(np.uint8)
        masks[t] = m
    return frames, masks


def make_toy_project(
    path,
    n_clips: int = 6,
    n_frames: int = 8,
    size: int = 64,
    n_videos: int = 1,
    video_frames: int = 12,
    seed: int = 0,
    overwrite: bool = True,
):
    """A project with a synthetic set ``toy`` (n_clips x n_frames) and ``n_videos`` videos with manual masks on
    every other frame (video i > 0 is put in the val split)."""
    from dvos_core.store import Project

    rng = np.random.default_rng(seed)
    p = Project.create(path, overwrite=overwrite)
    s = p.create_synthetic("toy", n_clips, n_frames, size, size)
    for i in range(n_clips):
        s.write_clip(i, *toy_clip(n_frames, size, size, rng))
    for v in range(n_videos):
        frames, masks = toy_clip(video_frames, size, size, rng)
        vid = p.add_video_array(f"video{v}", frames, split="val" if v > 0 else "unassigned")
        for t in range(0, video_frames, 2):
            vid.set_mask(t, masks[t], "manual")
    return p
