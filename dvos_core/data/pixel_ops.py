"""Per-frame pixel augmentations of the paper's set, each frame choosing independently.

Frames are float (F, 3, H, W) in [0, 1]; every random draw comes from the ``torch.Generator`` passed in, so a
sample's augmentation depends only on its seed (exact resume, any number of workers). Three "one of" groups, as the
reference code composes them:

* style: gray, sepia, FancyPCA (alpha 0.2), posterize (4 bits), sharpen;
* tone: gamma 0.8-1.2, histogram equalisation, brightness/contrast (+-0.2 / +-0.1), CLAHE (clip limit 1-5);
* blur: Gaussian, box, glass, motion, median, kernel 3-7.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

STYLE_OPS = ("gray", "sepia", "fancy_pca", "posterize", "sharpen")
TONE_OPS = ("gamma", "equalize", "brightness_contrast", "clahe")
BLUR_OPS = ("gaussian", "box", "glass", "motion", "median")

_SEPIA = torch.tensor([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


def rand_uniform(g, lo=0.0, hi=1.0) -> float:
    """One number drawn uniformly from [lo, hi) with the torch generator ``g``."""
    return float(torch.rand(1, generator=g)) * (hi - lo) + lo


def _choice(g, n: int) -> int:
    return int(torch.randint(n, (1,), generator=g))


def gray(x: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R 601) of (3, H, W) or (F, 3, H, W) images, keeping the channel dimension."""
    return 0.299 * x[..., 0:1, :, :] + 0.587 * x[..., 1:2, :, :] + 0.114 * x[..., 2:3, :, :]


def _odd_kernel(g, lo: int = 3, hi: int = 7) -> int:
    return 2 * int(torch.randint(lo // 2, hi // 2 + 1, (1,), generator=g)) + 1


# ---- style ----------------------------------------------------------------------------------------------------
def sepia(x):
    return torch.einsum("ij,jhw->ihw", _SEPIA.to(x.dtype), x).clamp(0, 1)


def fancy_pca(x, g, alpha_std: float = 0.2):
    """AlexNet lighting noise: shift every pixel along the colour principal components of the frame."""
    pixels = x.reshape(3, -1)
    cov = torch.cov(pixels)
    eigval, eigvec = torch.linalg.eigh(cov.double())
    alpha = torch.randn(3, generator=g, dtype=torch.float64) * alpha_std
    shift = (eigvec @ (alpha * eigval.clamp(min=0))).to(x.dtype)
    return (x + shift.view(3, 1, 1)).clamp(0, 1)


def posterize(x, bits: int = 4):
    levels = 2**bits
    return torch.floor(x * 255 / (256 / levels)) * (256 / levels) / 255


def _box(x, k: int):
    pad = k // 2
    return F.avg_pool2d(F.pad(x[None], (pad, pad, pad, pad), mode="reflect"), k, stride=1)[0]


def sharpen(x, g):
    """Unsharp masking with a strength of 0.2-0.5 (the reference's Sharpen alpha range)."""
    alpha = rand_uniform(g, 0.2, 0.5)
    return (x + alpha * (x - _box(x, 3))).clamp(0, 1)


def style(x, g):
    op = STYLE_OPS[_choice(g, len(STYLE_OPS))]
    if op == "gray":
        return gray(x).expand_as(x).clone()
    if op == "sepia":
        return sepia(x)
    if op == "fancy_pca":
        return fancy_pca(x, g)
    if op == "posterize":
        return posterize(x)
    return sharpen(x, g)


# ---- tone -----------------------------------------------------------------------------------------------------
def equalize(x):
    """Histogram equalisation of each channel (256 bins)."""
    out = torch.empty_like(x)
    for c in range(3):
        v = (x[c] * 255).round().long().clamp(0, 255)
        hist = torch.bincount(v.flatten(), minlength=256).double()
        cdf = hist.cumsum(0)
        lo = cdf[cdf > 0][0]
        lut = ((cdf - lo) / max(float(cdf[-1] - lo), 1.0)).clamp(0, 1).to(x.dtype)
        out[c] = lut[v]
    return out


def clahe(x, g):
    """Contrast-limited adaptive histogram equalisation (8x8 tiles) of the lightness channel (OpenCV)."""
    import cv2

    limit = rand_uniform(g, 1.0, 5.0)
    rgb = (x.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=limit, tileGridSize=(8, 8)).apply(np.ascontiguousarray(lab[..., 0]))
    out = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return torch.from_numpy(out).permute(2, 0, 1).to(x.dtype) / 255


def tone(x, g):
    op = TONE_OPS[_choice(g, len(TONE_OPS))]
    if op == "gamma":
        return x.clamp(1e-6, 1).pow(rand_uniform(g, 0.8, 1.2))
    if op == "equalize":
        return equalize(x)
    if op == "brightness_contrast":
        b, c = rand_uniform(g, -0.2, 0.2), rand_uniform(g, -0.1, 0.1)
        return (x * (1 + c) + b).clamp(0, 1)
    return clahe(x, g)


# ---- blur -----------------------------------------------------------------------------------------------------
def convolve(x, kernel):
    k = kernel.to(x.dtype)
    kh, kw = k.shape
    y = F.pad(x[:, None], (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    return F.conv2d(y, k[None, None])[:, 0]


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-(r**2) / (2 * sigma**2))
    return torch.outer(k, k) / k.sum() ** 2


def motion_kernel(size: int, angle: float) -> torch.Tensor:
    """A line of ``size`` pixels through the centre at ``angle`` radians, normalised."""
    k = torch.zeros(size, size, dtype=torch.float64)
    c = (size - 1) / 2
    for s in np.linspace(-c, c, 4 * size):
        k[round(c + s * math.sin(angle)), round(c + s * math.cos(angle))] = 1.0
    return k / k.sum()


def median(x, k: int):
    pad = k // 2
    y = F.pad(x[None], (pad, pad, pad, pad), mode="reflect")[0]
    patches = y.unfold(1, k, 1).unfold(2, k, 1)
    return patches.reshape(*patches.shape[:3], -1).median(dim=-1).values


def glass(x, g, sigma: float = 0.7, max_delta: int = 2):
    """Blur, swap each pixel with a random neighbour within ``max_delta``, blur again."""
    _, h, w = x.shape
    k = gaussian_kernel(5, sigma)
    y = convolve(x, k)
    dy = torch.randint(-max_delta, max_delta + 1, (h, w), generator=g)
    dx = torch.randint(-max_delta, max_delta + 1, (h, w), generator=g)
    yy = (torch.arange(h)[:, None] + dy).clamp(0, h - 1)
    xx = (torch.arange(w)[None, :] + dx).clamp(0, w - 1)
    return convolve(y[:, yy, xx], k)


def blur_one(x, g, kinds=BLUR_OPS, max_kernel: int = 7):
    op = kinds[_choice(g, len(kinds))]
    k = _odd_kernel(g, 3, max(3, max_kernel))
    if op == "gaussian":
        return convolve(x, gaussian_kernel(k, 0.3 * ((k - 1) * 0.5 - 1) + 0.8))  # OpenCV's sigma for a k kernel
    if op == "box":
        return _box(x, k)
    if op == "motion":
        return convolve(x, motion_kernel(k, rand_uniform(g, 0, math.pi)))
    if op == "median":
        return median(x, k)
    return glass(x, g)


# ---- per-frame composition ---------------------------------------------------------------------------------------
def per_frame(x: torch.Tensor, g, p: float, op) -> torch.Tensor:
    """Apply ``op(frame, g)`` to each frame of (F, 3, H, W) with probability ``p`` (each frame decides)."""
    if p <= 0:
        return x
    out = []
    for f in x:
        out.append(op(f, g) if rand_uniform(g) < p else f)
    return torch.stack(out)
