"""Vectorised torch augmentations for clips: one spatial transform per clip, colour/blur per frame, patch diffusion.

All functions take a ``torch.Generator`` so that a sample's augmentation depends only on its seed (identical across
worker counts, resumable). Frames are float (F, 3, H, W) in [0, 1]; masks float (F, 1, H, W) in {0, 1}.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from dvos_core.config_io import check_shares, coerce_fields
from dvos_core.data.context_sample import ContextConfig
from dvos_core.data.pixel_ops import BLUR_OPS, blur_one, gray, per_frame, style, tone

# the valid range of each number AugmentConfig checks (the *_p probabilities: check_shares): {name: (low, high,
# whether low is allowed, whether high is allowed, what it is)}; None: no bound on that side
RANGES = {
    "eval_crop": (1, None, True, True, "the validation crop's side in pixels"),
    "patch_size": (1, None, True, True, "the patch-diffusion tile's side in pixels"),
    "patch_t_max": (2, 1000, True, True, "the highest noise step + 1 of 1000: t ~ U{1 .. t_max-1}"),
    "patch_beta_end": (0, 1, False, False, "the last noise step's beta"),
    "rotate_deg": (0, 180, True, True, "degrees either way"),
    "brightness": (0, 1, True, True, "a factor in [1 - b, 1 + b]"),
    "contrast": (0, 1, True, True, "a factor in [1 - c, 1 + c]"),
    "saturation": (0, 1, True, True, "a factor in [1 - s, 1 + s]"),
    "hue": (0, 0.5, True, True, "a share of a full turn either way"),
    "gamma": (0, 1, True, False, "a gamma in [1 - g, 1 + g]"),
    "blur_sigma": (0.5, None, True, True, "the largest Gaussian sigma, from 0.5"),
}


def _check_ranges(cfg) -> None:
    """A ValueError naming the key, its value and the valid range (:data:`RANGES`) for the first one out of it."""
    for name, (low, high, low_ok, high_ok, what) in RANGES.items():
        value = getattr(cfg, name)
        if (value < low if low_ok else value <= low) or (
            high is not None and (value > high if high_ok else value >= high)
        ):
            span = f"in {'[' if low_ok else '('}{low}, {'' if high is None else high}{']' if high_ok else ')'}"
            if high is None:
                span = f">= {low}" if low_ok else f"> {low}"
            raise ValueError(f"augment.{name} must be {span} ({what}), got {value}")


@dataclass
class AugmentConfig:
    """Augmentation settings (probabilities per clip / frame / tile)."""

    hflip: float = 0.5
    vflip: float = 0.5
    rotate_p: float = 0.5
    rotate_deg: float = 30.0
    crop_min: int = 256  # crop side range in source pixels (clamped to the frame), resized to the training size
    crop_max: int = 768
    max_aspect: float = 1.5
    foreground_crop_p: float = 0.8  # centre the crop near a foreground pixel of the query mask
    eval_crop: int = 512  # validation: centre crop of this side (clamped to the frame), resized
    jitter_p: float = 0.3  # per-frame colour jitter (brightness, contrast, saturation, hue)
    brightness: float = 0.3
    contrast: float = 0.5
    saturation: float = 0.5
    hue: float = 0.2
    gamma_p: float = 0.3
    gamma: float = 0.2  # gamma in [1 - g, 1 + g]
    gray_p: float = 0.05
    blur_p: float = 0.3
    blur_sigma: float = 1.5  # max Gaussian sigma (when blur_kinds is ["gaussian"])
    blur_kinds: list = field(default_factory=lambda: ["gaussian"])  # one of these per blurred frame (pixel_ops)
    blur_max_kernel: int = 7  # kernel 3..this for the non-default blur kinds
    style_p: float = 0.0  # per frame: one of gray, sepia, FancyPCA, posterize, sharpen (the paper: 0.5)
    tone_p: float = 0.0  # per frame: one of gamma, equalize, brightness/contrast, CLAHE (the paper: 0.5)
    distort_p: float = 0.0  # per clip: one of elastic, grid distortion, emboss (the paper: 0.3)
    context: ContextConfig = field(default_factory=ContextConfig)  # context-model samples (degradations, masks)
    degrade_p: float = 0.0  # image model: its input frame is degraded like a context query (context.degrade)
    patch_diffusion_p: float = 0.5  # per 32x32 tile: replace by its noised version
    patch_size: int = 32
    patch_t_max: int = 750  # t ~ U{1 .. t_max-1} per frame, beta linear 1e-4 .. 1e-2 over 1000 steps
    patch_beta_end: float = 0.01

    def __post_init__(self):
        if isinstance(self.context, dict):
            self.context = ContextConfig(**self.context)
        coerce_fields(self)  # types and finite numbers (dvos_core.config_io)
        check_shares(self, "augment", probabilities=("hflip", "vflip"))  # every *_p and the flips
        if not 0 < self.crop_min <= self.crop_max:
            raise ValueError(f"augment crop_min..crop_max must be 0 < min <= max, got {self.crop_min}..{self.crop_max}")
        if self.max_aspect < 1:
            raise ValueError(f"augment.max_aspect must be >= 1 (1: square crops), got {self.max_aspect}")
        self.blur_kinds = list(self.blur_kinds)
        bad = [k for k in self.blur_kinds if k not in BLUR_OPS]
        if bad or not self.blur_kinds:
            raise ValueError(f"augment blur_kinds must be a non-empty list of {list(BLUR_OPS)}, got {bad or '[]'}")
        if self.blur_max_kernel < 3:
            raise ValueError(f"augment blur_max_kernel must be >= 3, got {self.blur_max_kernel}")
        _check_ranges(self)

    def to_dict(self) -> dict:
        return asdict(self)


def _u(g, n, lo=0.0, hi=1.0, device="cpu"):
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


# ---- spatial ------------------------------------------------------------------------------------------------------
def _pick_crop(h, w, mask_query, cfg: AugmentConfig, g):
    """Crop (cy, cx, ch, cw) in source pixels: random size in [crop_min, crop_max], mask-aware centre."""
    side = float(_u(g, 1, cfg.crop_min, cfg.crop_max))
    aspect = math.exp(float(_u(g, 1, -math.log(cfg.max_aspect), math.log(cfg.max_aspect))))
    ch, cw = min(h, side * math.sqrt(aspect)), min(w, side / math.sqrt(aspect))
    if mask_query is not None and float(_u(g, 1)) < cfg.foreground_crop_p:
        fg = torch.nonzero(mask_query > 0.5)
        if len(fg):
            y, x = fg[int(torch.randint(len(fg), (1,), generator=g))].tolist()
            # place the foreground pixel at a random position inside the crop
            cy = y + float(_u(g, 1, -0.4, 0.4)) * ch
            cx = x + float(_u(g, 1, -0.4, 0.4)) * cw
            cy = min(max(cy, ch / 2), h - ch / 2)
            cx = min(max(cx, cw / 2), w - cw / 2)
            return cy, cx, ch, cw
    cy = float(_u(g, 1, ch / 2, h - ch / 2)) if h > ch else h / 2
    cx = float(_u(g, 1, cw / 2, w - cw / 2)) if w > cw else w / 2
    return cy, cx, ch, cw


def _geometry(h, w, cy, cx, ch, cw, angle, flip_x, flip_y, size, dtype=torch.float32):
    """The pre-shrink factor (1: none), the shrunk frame's (h, w) and the affine ``theta`` (normalised output ->
    normalised input coordinates of the shrunk frame) of a crop centred (cy, cx) of ch x cw, rotated and flipped."""
    # antialias: pre-shrink by an integer factor when the crop is much larger than the output
    factor = int(min(ch, cw) // (size * 1.5))
    if factor >= 2:
        h2, w2 = -(-h // factor), -(-w // factor)  # avg_pool2d with ceil_mode
        sy, sx = h2 / h, w2 / w
        cy, cx, ch, cw, h, w = cy * sy, cx * sx, ch * sy, cw * sx, h2, w2
    else:
        factor = 1
    # output normalised coords (u, v) in [-1, 1] -> input normalised coords
    cos, sin = math.cos(angle), math.sin(angle)
    ax, ay = (cw / w) * (-1 if flip_x else 1), (ch / h) * (-1 if flip_y else 1)
    # rotate in pixel space (aspect-correct): x_in = cx + R [ax*u*w/2, ay*v*h/2]
    theta = torch.tensor(
        [[cos * ax, -sin * ay * h / w, (2 * cx / w) - 1], [sin * ax * w / h, cos * ay, (2 * cy / h) - 1]],
        dtype=dtype,
    )
    return factor, h, w, theta


def _affine_sample(frames, masks, cy, cx, ch, cw, angle, flip_x, flip_y, size):
    """One grid_sample for the whole clip: crop centred (cy, cx) of ch x cw, rotated, flipped, resized to size."""
    _, _, h, w = frames.shape
    factor, h, w, theta = _geometry(h, w, cy, cx, ch, cw, angle, flip_x, flip_y, size, frames.dtype)
    if factor >= 2:
        frames = F.avg_pool2d(frames, factor, ceil_mode=True)
        masks = F.avg_pool2d(masks, factor, ceil_mode=True)
    grid = F.affine_grid(
        theta[None].expand(frames.shape[0], 2, 3), [frames.shape[0], 3, size, size], align_corners=False
    )
    out_f = F.grid_sample(frames, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    out_m = F.grid_sample(masks, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out_f, (out_m > 0.5).to(frames.dtype)


def _reflect(p, n: int):
    """Pixel coordinates as ``grid_sample`` reflects and clips them onto a side of ``n`` pixels (no corner
    alignment)."""
    p = (p + 0.5).abs()
    flips = torch.floor(p / n)
    extra = torch.fmod(p, n)
    return torch.where(flips % 2 == 0, extra, n - extra).sub(0.5).clamp(0, n - 1)


def _source_pixels(h, w, params, size):
    """The pre-shrink factor and the (size, size) pixel coordinates (x, y) of the shrunk frame that the crop
    ``params`` samples, reflected at its edges as ``grid_sample`` does."""
    factor, h2, w2, theta = _geometry(h, w, *params, size)
    grid = F.affine_grid(theta[None], [1, 1, size, size], align_corners=False)[0]
    ix = _reflect(((grid[..., 0] + 1) * w2 - 1) / 2, w2)
    iy = _reflect(((grid[..., 1] + 1) * h2 - 1) / 2, h2)
    return factor, ix, iy


def source_window(h: int, w: int, params, size: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the part of (h, w) frames that the crop ``params`` (see :func:`draw_spatial`) reads, with a
    pixel to spare and its start on the pre-shrink grid."""
    factor, ix, iy = _source_pixels(h, w, params, size)

    def span(p, n):
        lo, hi = int(torch.floor(p.min())) - 1, int(torch.floor(p.max())) + 3  # bilinear reads floor(p) and floor(p)+1
        return max(0, lo) * factor, min(n, hi * factor)

    return (*span(iy, h), *span(ix, w))


def sample_window(frames, masks, window, frame_shape, params, size: int):
    """:func:`spatial_train`'s (or :func:`spatial_eval`'s) crop ``params`` of whole (h, w) ``frame_shape`` frames,
    taken from their part ``window`` (:func:`source_window`) alone: the same pixels within float rounding."""
    y0, _, x0, _ = window
    h, w = frame_shape
    factor, ix, iy = _source_pixels(h, w, params, size)
    if factor >= 2:  # the window starts on the pre-shrink grid: its blocks are the whole frame's
        frames = F.avg_pool2d(frames, factor, ceil_mode=True)
        masks = F.avg_pool2d(masks, factor, ceil_mode=True)
    hw, ww = frames.shape[-2:]
    gx = (2 * (ix - x0 // factor) + 1) / ww - 1
    gy = (2 * (iy - y0 // factor) + 1) / hw - 1
    grid = torch.stack([gx, gy], -1).to(frames.dtype)[None].expand(frames.shape[0], size, size, 2)
    out_f = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out_m = F.grid_sample(masks, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out_f, (out_m > 0.5).to(frames.dtype)


def draw_spatial(h: int, w: int, mask_query, cfg: AugmentConfig, g) -> tuple:
    """:func:`spatial_train`'s random crop, rotation and flips of (h, w) frames: (cy, cx, ch, cw, angle, flip_x,
    flip_y)."""
    cy, cx, ch, cw = _pick_crop(h, w, mask_query, cfg, g)
    angle = math.radians(float(_u(g, 1, -cfg.rotate_deg, cfg.rotate_deg))) if float(_u(g, 1)) < cfg.rotate_p else 0.0
    flip_x = float(_u(g, 1)) < cfg.hflip
    flip_y = float(_u(g, 1)) < cfg.vflip
    return cy, cx, ch, cw, angle, flip_x, flip_y


def eval_spatial(h: int, w: int, crop: int) -> tuple:
    """:func:`spatial_eval`'s crop of (h, w) frames, as :func:`draw_spatial` gives it."""
    side = min(crop, h, w)
    return h / 2, w / 2, side, side, 0.0, False, False


def spatial_train(frames, masks, size: int, cfg: AugmentConfig, g, query_index: int = -1):
    """The same random crop/rotation/flips for every frame and mask of a clip, resized to ``size`` x ``size``."""
    _, _, h, w = frames.shape
    return _affine_sample(frames, masks, *draw_spatial(h, w, masks[query_index, 0], cfg, g), size)


def spatial_eval(frames, masks, size: int, crop: int):
    """Centre square crop of side min(crop, H, W), resized to ``size``."""
    _, _, h, w = frames.shape
    return _affine_sample(frames, masks, *eval_spatial(h, w, crop), size)


# ---- pixel (per frame) ----------------------------------------------------------------------------------------
def _hue_rotate(x, turns):
    """Rotate hue by ``turns`` (fraction of a full turn, per frame) in YIQ space."""
    m = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=x.dtype)
    yiq = torch.einsum("ij,fjhw->fihw", m, x)
    a = (turns * 2 * math.pi).view(-1, 1, 1)
    c, s = torch.cos(a), torch.sin(a)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], c * i - s * q, s * i + c * q], 1)
    return torch.einsum("ij,fjhw->fihw", torch.linalg.inv(m), yiq)


def colour(x, cfg: AugmentConfig, g):
    """Per-frame colour jitter, gamma and grayscale, then the style and tone groups of the paper's set (each frame
    decides independently; see pixel_ops)."""
    n = x.shape[0]
    view = lambda t: t.view(n, 1, 1, 1)  # noqa: E731
    on = view((_u(g, n) < cfg.jitter_p).to(x.dtype))
    b = view(_u(g, n, 1 - cfg.brightness, 1 + cfg.brightness))
    c = view(_u(g, n, 1 - cfg.contrast, 1 + cfg.contrast))
    s = view(_u(g, n, 1 - cfg.saturation, 1 + cfg.saturation))
    hue = _u(g, n, -cfg.hue, cfg.hue) * on.view(n)
    y = x * b
    y = (y - y.mean(dim=(1, 2, 3), keepdim=True)) * c + y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - gray(y)) * s + gray(y)
    y = _hue_rotate(y.clamp(0, 1), hue * 0.5)
    x = on * y + (1 - on) * x
    gam = view(torch.where(_u(g, n) < cfg.gamma_p, _u(g, n, 1 - cfg.gamma, 1 + cfg.gamma), torch.ones(n)))
    x = x.clamp(1e-6, 1).pow(gam)
    to_gray = view((_u(g, n) < cfg.gray_p).to(x.dtype))
    x = (to_gray * gray(x).expand_as(x) + (1 - to_gray) * x).clamp(0, 1)
    if cfg.style_p > 0 or cfg.tone_p > 0:
        x = per_frame(per_frame(x, g, cfg.style_p, style), g, cfg.tone_p, tone)
    return x


def blur(x, cfg: AugmentConfig, g):
    """Blur each frame with p ``blur_p``: dvos's Gaussian (sigma 0.5 .. ``blur_sigma``, one grouped separable
    convolution) when ``blur_kinds`` is ["gaussian"], else one of ``blur_kinds`` (see pixel_ops) per frame."""
    if list(cfg.blur_kinds) != ["gaussian"]:
        kinds = tuple(cfg.blur_kinds)
        return per_frame(x, g, cfg.blur_p, lambda f, gen: blur_one(f, gen, kinds, cfg.blur_max_kernel))
    n = x.shape[0]
    on = _u(g, n) < cfg.blur_p
    if not bool(on.any()):
        return x
    sigma = torch.where(on, _u(g, n, 0.5, cfg.blur_sigma), torch.full((n,), 1e-3))
    r = 3
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=x.dtype)[None] ** 2) / (2 * sigma[:, None] ** 2))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(3, 0)  # (n*3, 7)
    y = x.reshape(1, n * 3, *x.shape[-2:])
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect"), k[:, None, None, :], groups=n * 3)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k[:, None, :, None], groups=n * 3)
    return y.view_as(x)


def patch_diffusion(x, cfg: AugmentConfig, g):
    """Input patch diffusion on normalised frames (F, 3, H, W): each ``patch_size`` tile is replaced, with p
    ``patch_diffusion_p``, by sqrt(a_t) x + sqrt(1 - a_t) eps with one t ~ U{1 .. t_max-1} per frame."""
    if cfg.patch_diffusion_p <= 0:
        return x
    n, _, h, w = x.shape
    betas = torch.linspace(1e-4, cfg.patch_beta_end, 1000, dtype=torch.float64)
    ab = torch.cumprod(1 - betas, 0).to(x.dtype)
    t = torch.randint(1, cfg.patch_t_max, (n,), generator=g)
    a = ab[t].view(n, 1, 1, 1)
    noised = a.sqrt() * x + (1 - a).sqrt() * torch.randn(x.shape, generator=g, dtype=x.dtype)
    p = cfg.patch_size
    tiles = torch.rand(n, 1, math.ceil(h / p), math.ceil(w / p), generator=g) < cfg.patch_diffusion_p
    tiles = tiles.repeat_interleave(p, 2).repeat_interleave(p, 3)[..., :h, :w].to(x.dtype)
    return tiles * noised + (1 - tiles) * x
