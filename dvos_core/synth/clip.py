"""`simulate_clip`: one synthetic clip (frames + exact masks) from heads, fake heads and a bare-field clip.

World coordinates are background pixels (times the upscale factor, normally 1). Heads are placed in the part of
the world that the moving camera sees during the clip (plus a margin of one object radius); each frame, every
object is warped straight from its crop to the output with (camera @ object pose), and the background with the
same camera matrix, so heads and field move together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.synth import motion, render
from dvos_core.synth.config import MAX_FEATHER, SynthConfig, synth_config

_GRID = 8  # occupancy-grid cell (world px) used to spread real heads at placement


def _check_background(background, cfg: SynthConfig):
    shape = getattr(background, "shape", None)
    dtype = getattr(background, "dtype", None)
    if shape is None or len(shape) != 4 or shape[-1] != 3 or dtype != np.uint8:
        raise ValueError(
            f"background must be a (T, H, W, 3) uint8 array of consecutive bare-field frames, got "
            f"shape {shape} dtype {dtype}"
        )
    tb, hb, wb = (int(s) for s in shape[:3])
    if tb < 1:
        raise ValueError("background clip has no frames; add bare-field frames (dvos extract-backgrounds)")
    if (hb < cfg.height or wb < cfg.width) and not cfg.allow_upscale:
        raise ValueError(
            f"background clip is {hb}x{wb} px but the output is {cfg.height}x{cfg.width}; use a smaller "
            f"output size (--size), larger background clips, or set allow_upscale: true in the config"
        )
    return tb, hb, wb


def background_indices(n_bg: int, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Frame indices into a background clip: a random window of consecutive frames, or ping-pong when too short."""
    if n_bg >= n_frames:
        start = int(rng.integers(0, n_bg - n_frames + 1))
        return np.arange(start, start + n_frames)
    if n_bg == 1:
        return np.zeros(n_frames, np.int64)
    period = 2 * (n_bg - 1)
    k = np.arange(n_frames) % period
    return np.where(k < n_bg, k, period - k)


def _frame_boxes(cam: motion.CameraPath, height: int, width: int):
    """(T, 2) lows and highs (x, y) of the world bounding box of what the camera sees in each frame, relative to the
    starting camera centre."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    corners = np.array([[-cx, -cy], [cx, -cy], [-cx, cy], [cx, cy]])
    c, s = np.cos(-cam.roll) / cam.zoom, np.sin(-cam.roll) / cam.zoom
    x = c[:, None] * corners[:, 0] - s[:, None] * corners[:, 1] + cam.centre[:, :1]
    y = s[:, None] * corners[:, 0] + c[:, None] * corners[:, 1] + cam.centre[:, 1:]
    return np.stack([x.min(1), y.min(1)], 1), np.stack([x.max(1), y.max(1)], 1)


def _view_box(cam: motion.CameraPath, height: int, width: int):
    """World bounding box (relative to the starting camera centre) of everything the camera sees in the clip."""
    lo, hi = _frame_boxes(cam, height, width)
    return lo.min(0), hi.max(0)


def _place(rng, n: int, radii: np.ndarray, lo, hi, occupancy: np.ndarray | None, tries: int) -> np.ndarray:
    """Positions (n, 2) in the box [lo, hi); with an occupancy grid, keep the least-overlapping of ``tries``."""
    if occupancy is None or tries <= 1:
        return rng.uniform(lo, hi, (n, 2))
    gh, gw = occupancy.shape
    out = np.empty((n, 2))
    for i in range(n):
        cand = rng.uniform(lo, hi, (tries, 2))
        r = max(1, int(radii[i] * 0.6 / _GRID))
        best, best_score = None, None
        for p in cand:
            gx, gy = int((p[0] - lo[0]) / _GRID), int((p[1] - lo[1]) / _GRID)
            score = occupancy[max(0, gy - r) : gy + r + 1, max(0, gx - r) : gx + r + 1].sum()
            if best is None or score < best_score:
                best, best_score = (p, gx, gy), score
                if score == 0:
                    break
        p, gx, gy = best
        occupancy[max(0, gy - r) : min(gh, gy + r + 1), max(0, gx - r) : min(gw, gx + r + 1)] += 1
        out[i] = p
    return out


def _pose_matrices(pos: np.ndarray, angle: np.ndarray, scale: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(T, N, 3, 3) crop -> world matrices: rotate and scale about the crop centre, then move it to ``pos``."""
    T, N = angle.shape
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    m = np.zeros((T, N, 3, 3))
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1] = c, -s, s, c
    m[..., 0, 2] = pos[..., 0] - (c * centres[:, 0] - s * centres[:, 1])
    m[..., 1, 2] = pos[..., 1] - (s * centres[:, 0] + c * centres[:, 1])
    m[..., 2, 2] = 1.0
    return m


@dataclass(frozen=True)
class _View:
    """Where the camera looks: its starting centre in world px, the box it sees around that centre in the clip and its
    matrices."""

    centre: np.ndarray  # (2,) xy world position of the camera centre at frame 0
    lo: np.ndarray  # (2,) view box corners relative to ``centre`` (see _view_box)
    hi: np.ndarray
    matrices: np.ndarray  # (T, 3, 3) world -> output pixels


def _aim_camera(rng, cfg: SynthConfig, extent: np.ndarray) -> _View:
    """A camera path and a starting centre that keeps the whole view inside a world of size ``extent`` (x, y) when it
    fits (else the view is centred on the world)."""
    cam = motion.camera_path(rng, cfg)
    vlo, vhi = _view_box(cam, cfg.height, cfg.width)
    c0 = np.empty(2)
    for a in range(2):
        lo_c, hi_c = -vlo[a], extent[a] - 1 - vhi[a]
        c0[a] = rng.uniform(lo_c, hi_c) if lo_c <= hi_c else (extent[a] - 1) / 2 - (vlo[a] + vhi[a]) / 2
    return _View(c0, vlo, vhi, cam.matrices(c0, cfg.height, cfg.width))


def mirrored_share(cfg: SynthConfig, background_hw, n_paths: int = 64, seed: int = 0) -> float:
    """The mean share of the frame that shows field beyond the edge of a background frame of ``background_hw``
    (height, width), over the frames of ``n_paths`` camera paths drawn from ``cfg`` (each view's bounding box, the
    path placed as :func:`_aim_camera` places it): synthesis shows that field mirrored (a seam and repeated texture;
    it moves with the camera, so the motion stays right)."""
    hb, wb = background_hw
    upscale = max(1.0, cfg.height / hb, cfg.width / wb)
    extent = np.array([wb, hb], np.float64) * upscale - 1
    rng = np.random.default_rng([int(seed), 97])
    shares = []
    for _ in range(int(n_paths)):
        lo, hi = _frame_boxes(motion.camera_path(rng, cfg), cfg.height, cfg.width)
        vlo, vhi = lo.min(0), hi.max(0)
        fits = vhi - vlo <= extent
        c0 = np.where(fits, -vlo, extent / 2 - (vlo + vhi) / 2)  # where it fits, every start keeps the view inside
        lo, hi = lo + c0, hi + c0
        inside = np.prod(np.clip(np.minimum(hi, extent) - np.maximum(lo, 0), 0, None), axis=1)
        shares.append(1 - inside / np.prod(hi - lo, axis=1))
    return float(np.mean(shares)) if shares else 0.0


def _object_box(view: _View, cfg: SynthConfig, crops: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """World box (lo, hi) where objects live: what the camera sees plus the largest object radius.

    The margin includes elastic and feathered edges, so an object wrapping from one side to the other does it out of
    sight. It does not depend on edge_feather_px (<= MAX_FEATHER), so feathering never changes the layout of a seed.
    """
    grow = cfg.object_scale[1] * (1 + cfg.scale_jitter)
    r_max = max(math.hypot(*o.shape[:2]) / 2 for o in crops) * grow + cfg.elastic_px + 3 * MAX_FEATHER + 2
    return view.centre + view.lo - r_max, view.centre + view.hi + r_max


def _objects_in_box(n_real_view: int, n_fake_view: int, box_lo, box_hi, height: int, width: int) -> tuple[int, int]:
    """Object counts for the whole box, keeping the density of ``n_*_view`` objects per output frame (>= 1 head)."""
    area_ratio = float(np.prod(box_hi - box_lo)) / (height * width)
    n_real = max(min(n_real_view, 1), int(round(n_real_view * area_ratio)))
    return n_real, int(round(n_fake_view * area_ratio))


def _make_objects(rng, cfg: SynthConfig, heads, fakes, n_real: int, n_fake: int):
    """``n_real`` heads then ``n_fake`` fakes: their sprites (random source crop, colour gain, elastic fields), which
    are real (bool per object), and the drawing order (bottom first): fakes below, real heads, fakes on top."""
    src = np.concatenate([rng.integers(0, len(heads), n_real), rng.integers(0, max(1, len(fakes)), n_fake)])
    real = np.arange(n_real + n_fake) < n_real
    on_top = ~real & (rng.random(n_real + n_fake) < cfg.fake_on_top_prob)
    order = np.concatenate([np.flatnonzero(~real & ~on_top), np.flatnonzero(real), np.flatnonzero(on_top)])
    sprites = []
    for i in range(len(real)):  # drawn in object order, so layering never changes placement or looks
        bright = cfg.head_brightness if real[i] else cfg.fake_brightness
        colour = cfg.head_colour if real[i] else cfg.fake_colour
        gain = (1 + rng.uniform(-bright, bright)) * (1 + rng.uniform(-colour, colour, 3))
        crop = heads[src[i]] if real[i] else fakes[src[i]]
        sprites.append(
            render.make_sprite(crop, real[i], gain, cfg.edge_feather_px, rng, cfg.elastic_px, cfg.elastic_wavelength)
        )
    if len(sprites) >= np.iinfo(np.uint16).max:
        raise ValueError(f"{len(sprites)} objects in one clip is too many; lower n_heads / n_fakes or the camera speed")
    return sprites, real, order


def _start_poses(rng, cfg: SynthConfig, sprites, real: np.ndarray, box_lo, box_hi):
    """Frame-0 position (N, 2), angle and scale of every object; real heads spread out, fakes anywhere."""
    n = len(sprites)
    base_scale = rng.uniform(cfg.object_scale[0], cfg.object_scale[1], n)
    base_angle = np.deg2rad(rng.uniform(-cfg.initial_rotation_deg, cfg.initial_rotation_deg, n))
    radii = np.array([s.radius for s in sprites]) * base_scale
    grid = np.zeros((int((box_hi[1] - box_lo[1]) / _GRID) + 1, int((box_hi[0] - box_lo[0]) / _GRID) + 1), np.int32)
    start = np.empty((n, 2))
    start[real] = _place(rng, int(real.sum()), radii[real], box_lo, box_hi, grid, cfg.placement_tries)
    start[~real] = _place(rng, int((~real).sum()), radii[~real], box_lo, box_hi, None, 1)
    return start, base_angle, base_scale


def _object_transforms(mo: motion.HeadMotion, sprites, box_lo, box_hi, view: _View, height: int, width: int):
    """Per frame and object: the (T, N, 2, 3) crop -> output matrix, the output box and whether it is in view."""
    pos = motion.wrap(mo.position, box_lo, box_hi)
    centres = np.array([s.centre for s in sprites])
    full = np.einsum("tij,tnjk->tnik", view.matrices, _pose_matrices(pos, mo.angle, mo.scale, centres))[:, :, :2]
    sizes = np.array([(s.rgba.shape[1], s.rgba.shape[0]) for s in sprites])
    boxes, visible = render.boxes(full, sizes, height, width)
    return full, boxes, visible


def _background_window(view: _View, upscale: float, hb: int, wb: int):
    """The part of the background frames the camera sees, as (rows, cols) slices, and the (T, 2, 3) matrices from
    that window to the output; only the window is read from the background array."""
    wlo = np.floor((view.centre + view.lo) / upscale).astype(int) - 2
    whi = np.ceil((view.centre + view.hi) / upscale).astype(int) + 3
    wx0, wy0 = max(0, wlo[0]), max(0, wlo[1])
    wx1, wy1 = max(wx0 + 1, min(wb, whi[0])), max(wy0 + 1, min(hb, whi[1]))
    to_world = np.array([[upscale, 0, upscale * wx0], [0, upscale, upscale * wy0], [0, 0, 1.0]])
    return (slice(wy0, wy1), slice(wx0, wx1)), (view.matrices @ to_world)[:, :2]


@dataclass(frozen=True)
class _Scene:
    """Everything random about one clip, drawn up front; rendering a frame from it uses no randomness."""

    sprites: list  # render.Sprite per object
    real: np.ndarray  # (N,) bool: real head (else fake)
    order: np.ndarray  # (N,) object indices, bottom first; label k + 1 is object order[k]
    full: np.ndarray  # (T, N, 2, 3) crop -> output matrices
    boxes: np.ndarray  # (T, N, 4) output boxes (render.boxes)
    visible: np.ndarray  # (T, N) bool
    elastic: np.ndarray  # (T, N, K) elastic coefficients (motion.HeadMotion.elastic)
    background_frames: np.ndarray  # (T,) background frame index per output frame
    window: tuple  # (rows, cols) slices of the background read each frame
    window_matrices: np.ndarray  # (T, 2, 3) window -> output
    heads_per_view: int
    fakes_per_view: int
    upscale: float


def _draw_scene(rng, cfg: SynthConfig, heads, fakes, background_shape) -> _Scene:
    """Draw the camera, the objects, their motion and the background frames of one clip (in a fixed order of random
    draws: the same seed gives the same scene)."""
    tb, hb, wb = background_shape
    T, H, W = cfg.n_frames, cfg.height, cfg.width
    upscale = max(1.0, H / hb, W / wb)
    n_real_view = int(rng.integers(cfg.n_heads[0], cfg.n_heads[1] + 1))
    n_fake_view = int(rng.integers(cfg.n_fakes[0], cfg.n_fakes[1] + 1)) if fakes else 0
    view = _aim_camera(rng, cfg, np.array([wb, hb], np.float64) * upscale)
    box_lo, box_hi = _object_box(view, cfg, heads + fakes)
    n_real, n_fake = _objects_in_box(n_real_view, n_fake_view, box_lo, box_hi, H, W)
    sprites, real, order = _make_objects(rng, cfg, heads, fakes, n_real, n_fake)
    start, base_angle, base_scale = _start_poses(rng, cfg, sprites, real, box_lo, box_hi)
    mo = motion.head_motion(rng, cfg, start, base_angle, base_scale)
    full, boxes, visible = _object_transforms(mo, sprites, box_lo, box_hi, view, H, W)
    bg_idx = background_indices(tb, T, rng)
    window, window_m = _background_window(view, upscale, hb, wb)
    return _Scene(
        sprites=sprites,
        real=real,
        order=order,
        full=full,
        boxes=boxes,
        visible=visible,
        elastic=mo.elastic,
        background_frames=bg_idx,
        window=window,
        window_matrices=window_m,
        heads_per_view=n_real_view,
        fakes_per_view=n_fake_view,
        upscale=upscale,
    )


def _render_frame(scene: _Scene, background, t: int, cfg: SynthConfig, labels: np.ndarray | None) -> np.ndarray:
    """Frame ``t`` as a float32 RGBA canvas: premultiplied colour + the share of it not from real heads (1 = all bare
    field; see render.py). ``labels`` (H, W), when given, is filled with the topmost object's label per pixel."""
    rows, cols = scene.window
    window = np.ascontiguousarray(background[int(scene.background_frames[t]), rows, cols])
    size = (cfg.width, cfg.height)
    field = cv2.warpAffine(
        window, scene.window_matrices[t], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    canvas = cv2.cvtColor(field.astype(np.float32), cv2.COLOR_RGB2RGBA)
    if labels is not None:
        labels.fill(0)
    for k, j in enumerate(scene.order):
        if not scene.visible[t, j]:
            continue
        box = scene.boxes[t, j]
        patch, ring = render.warp_sprite(
            scene.sprites[j], scene.full[t, j], box, scene.elastic[t, j], cfg.edge_feather_px == 0
        )
        render.composite(canvas, patch, box, bool(scene.real[j]), labels, k + 1, ring)
    return canvas


def simulate_clip(
    heads: Sequence,
    fakes: Sequence,
    background,
    config: SynthConfig | None = None,
    seed=0,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    return_info: bool = False,
):
    """Render one synthetic clip.

    heads, fakes: RGBA uint8 crops, or (rgba, record) pairs as returned by ``project.objects.load("head")``; fakes
    may be empty. background: (Tb, Hb, Wb, 3) uint8 consecutive bare-field frames (numpy or any array that slices
    like one, e.g. a Zarr array: only the window the camera sees is read). A shorter clip is played back and forth.

    Returns ``(frames (T,H,W,3) uint8, masks (T,H,W) uint8 in {0,1})``: a mask pixel is 1 where real heads make up at
    least half of the rendered colour (with ``edge_feather_px=0``: exactly the pixels showing a real head). With
    ``return_info`` also a dict with the per-pixel topmost-object ``labels`` (T,H,W) uint16 (alpha >= 0.5),
    ``is_real`` per label, per-frame ``heads_visible`` counts and the background frame indices. The same seed gives
    bit-identical output.
    """
    cfg = synth_config(config)  # a dict of its fields too
    heads = [render.as_rgba(h, "heads") for h in heads]
    fakes = [render.as_rgba(f, "fakes") for f in fakes]
    if not heads:
        raise ValueError("no real heads to paste; extract heads from painted frames first (dvos extract-objects)")
    background_shape = _check_background(background, cfg)
    scene = _draw_scene(np.random.default_rng(seed), cfg, heads, fakes, background_shape)
    T, H, W = cfg.n_frames, cfg.height, cfg.width
    frames = np.empty((T, H, W, 3), np.uint8)
    masks = np.empty((T, H, W), np.uint8)
    labels_all = np.empty((T, H, W), np.uint16) if return_info else None
    heads_visible = np.zeros(T, np.int64)
    is_real = scene.real[scene.order]  # per label - 1
    for t in range(T):
        check(cancel)
        labels = labels_all[t] if labels_all is not None else None
        canvas = _render_frame(scene, background, t, cfg, labels)
        cv2.cvtColor(cv2.convertScaleAbs(canvas), cv2.COLOR_RGBA2RGB, dst=frames[t])
        masks[t] = cv2.extractChannel(canvas, 3) <= 0.5
        if labels is not None:
            heads_visible[t] = _heads_visible(labels, is_real, cfg.min_visible_area)
        report(progress, t + 1, T, f"frame {t + 1}/{T}")
    if not return_info:
        return frames, masks
    info = {
        "labels": labels_all,
        "is_real": np.concatenate([[False], is_real]),
        "heads_visible": heads_visible,
        "background_frames": scene.background_frames,
        "n_real": int(is_real.sum()),
        "n_fake": int((~is_real).sum()),
        "heads_per_view": scene.heads_per_view,
        "fakes_per_view": scene.fakes_per_view,
        "upscale": scene.upscale,
    }
    return frames, masks, info


def _heads_visible(labels: np.ndarray, is_real: np.ndarray, min_area: int) -> int:
    """How many real heads show at least ``min_area`` (>= 1) pixels in a label image (label k + 1 <-> is_real[k])."""
    area = np.bincount(labels.ravel(), minlength=len(is_real) + 1)[1:]
    return int(((area >= max(1, min_area)) & is_real).sum())
