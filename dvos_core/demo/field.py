"""Procedural wheat-field clips for the demo, the sample data and tests (made offline, deterministic by seed).

The renderer is deliberately independent of the synthetic engine (``dvos_core.synth``): heads are drawn as
textured ellipses swaying in a smooth wind field over a layered canopy with leaf streaks and soft shadows, under a
slowly drifting camera, with sensor noise and mild blur. Masks are the exact union of visible head pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FieldSpec:
    """What a rendered clip looks like; defaults give a 160x160 clip of ~25 heads."""

    n_frames: int = 24
    height: int = 160
    width: int = 160
    n_heads: int = 25
    head_length: tuple = (16, 28)
    head_width: tuple = (6, 9)
    sway_px: float = 2.5
    wind_period: float = 14.0
    camera_px_per_frame: float = 0.6
    n_leaves: int = 60
    noise: float = 4.0
    heads: bool = True
    palette: str = "green"  # "green" (early) or "yellow" (mature)


def _smooth_noise(rng, h, w, scale):
    small = rng.random((max(2, h // scale), max(2, w // scale))).astype(np.float32)
    import cv2

    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _canopy(rng, h, w, spec: FieldSpec):
    """A static, larger-than-frame canopy texture (the camera pans over it)."""
    import cv2

    base = np.array([70, 105, 45], np.float32) if spec.palette == "green" else np.array([95, 100, 50], np.float32)
    tex = 0.6 * _smooth_noise(rng, h, w, 24) + 0.4 * _smooth_noise(rng, h, w, 6)
    img = base[None, None, :] * (0.55 + 0.8 * tex[..., None])
    soil = _smooth_noise(rng, h, w, 40) > 0.78
    img[soil] = img[soil] * 0.5 + np.array([60, 50, 38], np.float32) * 0.5
    for _ in range(spec.n_leaves * (h * w) // (160 * 160)):
        y, x = rng.integers(0, h), rng.integers(0, w)
        ang = rng.uniform(0, np.pi)
        ln = rng.uniform(10, 30)
        p2 = (int(x + ln * np.cos(ang)), int(y + ln * np.sin(ang)))
        shade = rng.uniform(0.7, 1.3)
        cv2.line(img, (int(x), int(y)), p2, tuple(float(c) for c in base * shade), int(rng.integers(1, 3)), cv2.LINE_AA)
    return img


def _head_sprite(rng, length, width, palette):
    """An RGB head texture with spikelet bands, and its binary mask, drawn vertically."""
    import cv2

    h, w = int(length) + 4, int(width) + 4
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (int(width) // 2, int(length) // 2), 0, 0, 360, 1, -1)
    if palette == "green":
        col = np.array([175, 190, 90], np.float32) * rng.uniform(0.85, 1.15)
    else:
        col = np.array([200, 180, 110], np.float32) * rng.uniform(0.85, 1.1)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    bands = 0.85 + 0.15 * np.sin(yy * rng.uniform(1.2, 1.8)) * np.cos((xx - w / 2) * 0.9)
    shade = 1.0 - 0.25 * np.abs(xx - w / 2) / (w / 2)
    img = col[None, None, :] * (bands * shade)[..., None]
    return np.clip(img, 0, 255), mask


def render_field(spec: FieldSpec | None = None, seed: int = 0, with_ids: bool = False):
    """Render a clip: returns (frames uint8 (T,H,W,3), masks uint8 (T,H,W) {0,1}); ``with_ids`` adds which head each
    head pixel shows (int32 (T,H,W), 0 = none; the same head keeps its number in every frame), for measuring how
    heads are followed. The frames and masks do not depend on ``with_ids``."""
    import cv2

    spec = spec or FieldSpec()
    rng = np.random.default_rng(seed)
    T, H, W = spec.n_frames, spec.height, spec.width
    pad = int(abs(spec.camera_px_per_frame) * T) + 24
    world_h, world_w = H + 2 * pad, W + 2 * pad
    canopy = _canopy(rng, world_h, world_w, spec)
    cam_dir = rng.normal(size=2)
    cam_dir /= np.linalg.norm(cam_dir) + 1e-9
    heads = []
    if spec.heads:
        for _ in range(spec.n_heads * world_h * world_w // (H * W)):
            length = rng.uniform(*spec.head_length)
            width = rng.uniform(*spec.head_width)
            tex, m = _head_sprite(rng, length, width, spec.palette)
            heads.append(
                {
                    "tex": tex,
                    "mask": m,
                    "y": rng.uniform(0, world_h),
                    "x": rng.uniform(0, world_w),
                    "angle": rng.uniform(-50, 50),
                    "phase": rng.uniform(0, 2 * np.pi),
                    "amp": spec.sway_px * rng.uniform(0.5, 1.5),
                    "depth": rng.random(),
                }
            )
        heads.sort(key=lambda d: d["depth"])
    frames = np.zeros((T, H, W, 3), np.uint8)
    masks = np.zeros((T, H, W), np.uint8)
    ids = np.zeros((T, H, W), np.int32) if with_ids else None
    light = 1.0 + 0.05 * np.sin(np.linspace(0, 2 * np.pi, T) + rng.uniform(0, 6))
    for t in range(T):
        world = canopy.copy()
        wmask = np.zeros((world_h, world_w), np.uint8)
        wid = np.zeros((world_h, world_w), np.int32) if with_ids else None
        wind = np.sin(2 * np.pi * t / spec.wind_period)
        for number, hd in enumerate(heads, 1):
            sway = hd["amp"] * np.sin(2 * np.pi * t / spec.wind_period + hd["phase"] * 0.3) + 0.5 * hd["amp"] * wind
            ang = hd["angle"] + 4.0 * sway / max(hd["amp"], 1e-6) * 0.5
            hh, ww = hd["mask"].shape
            size = int(np.ceil(np.hypot(hh, ww))) + 2
            M = cv2.getRotationMatrix2D((ww / 2, hh / 2), ang, 1.0)
            M[:, 2] += (size - ww) / 2, (size - hh) / 2
            tex = cv2.warpAffine(hd["tex"].astype(np.float32), M, (size, size), flags=cv2.INTER_LINEAR)
            m = cv2.warpAffine(hd["mask"], M, (size, size), flags=cv2.INTER_NEAREST)
            cy, cx = hd["y"] + 0.3 * sway, hd["x"] + sway
            y0, x0 = int(round(cy - size / 2)), int(round(cx - size / 2))
            ys, xs = max(0, y0), max(0, x0)
            ye, xe = min(world_h, y0 + size), min(world_w, x0 + size)
            if ye <= ys or xe <= xs:
                continue
            sub_m = m[ys - y0 : ye - y0, xs - x0 : xe - x0].astype(bool)
            sub_t = tex[ys - y0 : ye - y0, xs - x0 : xe - x0]
            # soft shadow below-right of the head
            sh = world[min(world_h - 1, ys + 2) : min(world_h, ye + 2), min(world_w - 1, xs + 2) : min(world_w, xe + 2)]
            sm = sub_m[: sh.shape[0], : sh.shape[1]]
            sh[sm] *= 0.8
            region = world[ys:ye, xs:xe]
            region[sub_m] = sub_t[sub_m]
            wmask[ys:ye, xs:xe][sub_m] = 1
            if with_ids:
                wid[ys:ye, xs:xe][sub_m] = number
        off = pad + cam_dir * spec.camera_px_per_frame * (t - T / 2)
        oy, ox = int(round(off[0])), int(round(off[1]))
        img = world[oy : oy + H, ox : ox + W] * light[t]
        img = cv2.GaussianBlur(img, (3, 3), 0.6)
        img = img + rng.normal(0, spec.noise, img.shape)
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
        masks[t] = wmask[oy : oy + H, ox : ox + W]
        if with_ids:
            ids[t] = wid[oy : oy + H, ox : ox + W]
    return (frames, masks, ids) if with_ids else (frames, masks)


def demo_videos(size: int = 160, seed: int = 7) -> dict:
    """The demo's clips: seed frames with masks, a bare-field clip, a training clip and a held-out test clip."""
    s = FieldSpec(height=size, width=size)
    out = {}
    out["seed"] = render_field(FieldSpec(**{**s.__dict__, "n_frames": 6}), seed=seed)
    out["bare_field"] = render_field(FieldSpec(**{**s.__dict__, "n_frames": 30, "heads": False}), seed=seed + 1)
    out["field_train"] = render_field(FieldSpec(**{**s.__dict__, "n_frames": 32}), seed=seed + 2)
    out["field_test"] = render_field(FieldSpec(**{**s.__dict__, "n_frames": 24, "n_heads": 30}), seed=seed + 3)
    return out
