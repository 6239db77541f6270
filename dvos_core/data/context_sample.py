"""Training samples of the context-aware video model: a degraded query, its aligned references and their masks.

From a spatially augmented clip (tau references then the query, one crop for all):
1. some of the oldest reference slots are emptied (as at the start of a video), the rest stay valid;
2. the query (often) and the references (less often) are degraded - blur, noise, exposure, occluders;
3. each valid reference is aligned to the query by the estimated camera motion (``dvos_core.motion``, on the
   degraded frames, as at prediction time) and warped onto it with its mask and the share of it that is covered;
4. reference masks are perturbed like a model's own earlier predictions (grown, shrunk, heads dropped or added),
   or made unknown, so the model learns to use them without copying them.
The target stays the clean query's mask (and frame).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from dvos_core.data.degrade import DegradeConfig, degrade
from dvos_core.motion import MotionParams, estimate_pair, valid_region, warp_to

# training crops are small (64-512 px): fewer corners are plenty, and keep the data pipeline cheap
FAST_MOTION = MotionParams(max_side=320, grid=3, n_features=200)


@dataclass
class ContextConfig:
    """How context samples are made (``augment: {context: {...}}`` in a training config)."""

    degrade_query_p: float = 0.7  # the query is degraded
    degrade_refs_p: float = 0.25  # each reference is degraded
    empty_refs_p: float = 0.3  # some of the oldest reference slots are empty (start of a video)
    ref_mask_noise_p: float = 0.6  # a reference mask is perturbed like a prediction
    ref_mask_unknown_p: float = 0.15  # a reference has no mask at all
    align: bool = True  # estimate the camera motion and warp references onto the query
    degrade: DegradeConfig = field(default_factory=DegradeConfig)

    def __post_init__(self):
        if isinstance(self.degrade, dict):
            self.degrade = DegradeConfig(**self.degrade)

    def to_dict(self) -> dict:
        return asdict(self)


def _rand(g) -> float:
    return float(torch.rand(1, generator=g))


def _to_u8(x: torch.Tensor) -> np.ndarray:
    return (x.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def perturb_mask(m: torch.Tensor, g) -> torch.Tensor:
    """A binary (1, H, W) mask made to look like a prediction: grown or shrunk by 1-2 px, a few heads dropped, a
    few false blobs added."""
    import scipy.ndimage as ndi

    k = int(torch.randint(1, 3, (1,), generator=g)) * 2 + 1
    if _rand(g) < 0.5:
        m = F.max_pool2d(m[None], k, 1, k // 2)[0]
    else:
        m = -F.max_pool2d(-m[None], k, 1, k // 2)[0]
    labels, n = ndi.label(m[0].numpy() > 0.5)
    if n:
        drop = (torch.rand(n, generator=g) < 0.15).numpy()
        m = m * torch.from_numpy(~np.isin(labels, np.flatnonzero(drop) + 1))[None].to(m.dtype)
    h, w = m.shape[-2:]
    for _ in range(int(torch.randint(0, 3, (1,), generator=g))):
        cy, cx = int(torch.randint(h, (1,), generator=g)), int(torch.randint(w, (1,), generator=g))
        r = max(1, int(min(h, w) * 0.03))
        m[:, max(0, cy - r) : cy + r, max(0, cx - r) : cx + r] = 1.0
    return m


def align_reference(ref: np.ndarray, query: np.ndarray, ref_mask: np.ndarray | None, params: MotionParams = None):
    """(matrix ref -> query, warped ref (H, W, 3) uint8, coverage (H, W) bool) by the estimated camera motion.

    The reference's known heads are left out of the estimate (they sway on their own); when too little is left to
    estimate from, the whole frame is used."""
    params = params or FAST_MOTION
    motion = None
    if ref_mask is not None and np.any(ref_mask):
        motion = estimate_pair(ref, query, exclude_prev=np.asarray(ref_mask) > 0, params=params)
    if motion is None or not motion.ok:
        motion = estimate_pair(ref, query, params=params)
    shape = query.shape[:2]
    warped = warp_to(ref, motion.matrix, shape, border="reflect")
    return motion.matrix, warped, valid_region(motion.matrix, ref.shape[:2], shape)


def context_sample(frames: torch.Tensor, masks: torch.Tensor, known: torch.Tensor, cfg: ContextConfig, g) -> dict:
    """Inputs of one context sample from augmented clip tensors.

    ``frames`` (T+1, 3, S, S) in [0, 1] (references oldest first, query last), ``masks`` (T+1, 1, S, S) {0, 1},
    ``known`` (T+1,) 1 where the frame has a mask and 0 where it has none (a slot outside the source is -1).
    Returns float tensors in [0, 1] (normalise later): ``query`` (3, S, S), ``refs`` (T, 3, S, S), ``ref_masks``
    (T, 2, S, S) as [mask * known, known] and ``ref_valid`` (T,).
    """
    t = frames.shape[0] - 1
    valid = (known[:t] >= 0).to(frames.dtype)
    if t and _rand(g) < cfg.empty_refs_p:
        empty = int(torch.randint(1, t + 1, (1,), generator=g))  # the oldest `empty` slots
        valid[:empty] = 0
    query = frames[-1]
    if _rand(g) < cfg.degrade_query_p:
        query = degrade(query, g, cfg.degrade)
    q8 = _to_u8(query)
    refs = torch.zeros_like(frames[:t])
    ref_masks = torch.zeros(t, 2, *frames.shape[-2:], dtype=frames.dtype)
    for i in range(t):
        if valid[i] <= 0:
            continue
        ref = frames[i]
        if _rand(g) < cfg.degrade_refs_p:
            ref = degrade(ref, g, cfg.degrade)
        m = masks[i]
        has_mask = bool(known[i] > 0) and _rand(g) >= cfg.ref_mask_unknown_p
        if has_mask and _rand(g) < cfg.ref_mask_noise_p:
            m = perturb_mask(m.clone(), g)
        if cfg.align:
            m8 = (m[0].numpy() > 0.5).astype(np.uint8) if has_mask else None
            matrix, warped, cover = align_reference(_to_u8(ref), q8, m8)
            ref = torch.from_numpy(warped).permute(2, 0, 1).to(frames.dtype) / 255
            if has_mask:
                m = torch.from_numpy(warp_to(m8, matrix, q8.shape[:2]))[None]
            cover_t = torch.from_numpy(cover)[None].to(frames.dtype)
        else:
            cover_t = torch.ones(1, *frames.shape[-2:], dtype=frames.dtype)
        knw = cover_t * float(has_mask)
        refs[i] = ref
        ref_masks[i, 0] = (m.to(frames.dtype) * knw)[0]
        ref_masks[i, 1] = knw[0]
    return {"query": query, "refs": refs, "ref_masks": ref_masks, "ref_valid": valid}
