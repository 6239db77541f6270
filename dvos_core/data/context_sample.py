"""Training samples of the context-aware video model: a degraded query, its aligned references and their masks.

1. each reference is aligned to the query by the camera motion estimated between the stored frames
   (:class:`dvos_core.motion.align.SequenceAligner`, as at prediction time; cached per frame pair) and warped onto
   it with its mask and the share of it that is covered (:func:`warp_references`); then the clip is augmented as
   one (crop, rotation, flips, distortions);
2. some of the oldest reference slots are emptied (as at the start of a video), the rest stay valid;
3. the query (often) and the references (less often) are degraded - blur, noise, exposure, occluders; a query's
   occluders can persist: the same leaves, drifting, lie over its references too (a leaf does not vanish between
   frames, so what it hides now may be hidden in the nearest references as well) and, optionally, the references'
   masks lose the heads their leaves hide (as a model's own earlier predictions would), so what the leaf hides
   must come from a reference it had not yet reached;
4. reference masks are perturbed like a model's own earlier predictions (grown, shrunk, heads dropped or added),
   or made unknown, so the model learns to use them without copying them.
The target stays the clean query's mask (and frame).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from dvos_core.config_io import check_shares, coerce_fields
from dvos_core.data.degrade import DegradeConfig, composite, degrade, shift_layer
from dvos_core.motion import compose, valid_region, warp_to


@dataclass
class ContextConfig:
    """How context samples are made (``augment: {context: {...}}`` in a training config)."""

    # the query is degraded; null: matched to the footage by the trainer (dvos_core.data.degradation_match; 0.7 where
    # nothing is measured)
    degrade_query_p: float | None = None
    degrade_refs_p: float = 0.25  # each reference is degraded
    empty_refs_p: float = 0.3  # some of the oldest reference slots are empty (start of a video)
    ref_mask_noise_p: float = 0.6  # a reference mask is perturbed like a prediction
    ref_mask_unknown_p: float = 0.15  # a reference has no mask at all
    bidirectional_p: float = 0.5  # references drawn from both sides of the query (the second prediction pass)
    persist_occluders_p: float = 0.0  # a degraded query's occluders also lie over its references, drifting
    occluder_drift: tuple = (0.0, 0.06)  # their drift per frame, as a share of the frame side (random direction)
    erase_hidden_ref_masks_p: float = 0.0  # with persisting occluders: each reference's mask loses what they hide
    degrade: DegradeConfig = field(default_factory=DegradeConfig)

    def __post_init__(self):
        if isinstance(self.degrade, dict):
            self.degrade = DegradeConfig(**self.degrade)
        coerce_fields(self)  # types and finite numbers (dvos_core.config_io)
        check_shares(self, "augment.context")

    def to_dict(self) -> dict:
        return asdict(self)

    def query_share(self) -> float:
        """The share of degraded queries: ``degrade_query_p``, or the share for degraded footage when it is left to
        be matched and nothing matched it."""
        from dvos_core.data.degradation_match import DEGRADED_SHARE

        return DEGRADED_SHARE if self.degrade_query_p is None else self.degrade_query_p

    def for_validation(self) -> ContextConfig:
        """These settings as validation uses them: the frames as prediction sees them (no degraded query or
        reference, no emptied slot), the references' masks still made prediction-like (prediction lends its own)."""
        return replace(self, degrade_query_p=0.0, degrade_refs_p=0.0, empty_refs_p=0.0)


def _rand(g) -> float:
    return float(torch.rand(1, generator=g))


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


def warp_references(
    frames: np.ndarray, masks: np.ndarray, matrices, window=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp every reference (all but the last frame) onto the last frame's coordinates.

    ``frames`` (n, H, W, 3) uint8, ``masks`` (n, H, W), ``matrices`` one 2x3 per reference (reference -> last frame).
    Returns the warped frames (reflected beyond the reference's edges), the warped masks and the coverage (1 where
    the warped reference holds real pixels); the last frame is passed through with full coverage. ``window``: (y0,
    y1, x0, x1), only that part of the last frame's coordinates is made (the same pixels, but for the fixed-point
    rounding of the warp's source positions: a 1/1024 px difference now and then)."""
    h, w = frames.shape[1:3]
    y0, y1, x0, x1 = (0, h, 0, w) if window is None else (int(v) for v in window)
    shape = (y1 - y0, x1 - x0)
    out_f, out_m = frames[:, y0:y1, x0:x1].copy(), masks[:, y0:y1, x0:x1].copy()
    cover = np.ones(out_m.shape, np.uint8)
    # the coverage is eroded by a pixel (valid_region): made a pixel beyond the window so its edges erode as whole
    # frames' do
    cy0, cy1, cx0, cx1 = max(0, y0 - 1), min(h, y1 + 1), max(0, x0 - 1), min(w, x1 + 1)
    for i, m in enumerate(matrices):
        moved = compose(m, [[1, 0, -x0], [0, 1, -y0]])
        out_f[i] = warp_to(frames[i], moved, shape, border="reflect")
        out_m[i] = warp_to(masks[i], moved, shape)
        wide = valid_region(compose(m, [[1, 0, -cx0], [0, 1, -cy0]]), (h, w), (cy1 - cy0, cx1 - cx0))
        cover[i] = wide[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
    return out_f, out_m, cover


def _persisting(layer, steps, size, cfg: ContextConfig, g) -> list:
    """The query's occluder layer as each reference sees it: moved by its entry of ``steps`` (frames from the
    query, positive for a reference before it, negative after it) times one random drift per frame, so a leaf
    drifting across the view lies on one side of its place in the query on earlier frames and on the other side
    on later ones."""
    speed = float(torch.empty(1).uniform_(*cfg.occluder_drift, generator=g)) * size
    heading = float(torch.rand(1, generator=g)) * 2 * math.pi
    vy, vx = speed * math.sin(heading), speed * math.cos(heading)
    return [shift_layer(layer, round(k * vy), round(k * vx)) for k in steps]


def context_sample(
    frames: torch.Tensor, masks: torch.Tensor, known: torch.Tensor, cfg: ContextConfig, g, steps=None
) -> dict:
    """Inputs of one context sample from an augmented clip whose references are already aligned to the query.

    ``frames`` (T+1, 3, S, S) in [0, 1] (references oldest first, query last), ``masks`` (T+1, 2, S, S) holding
    each frame's mask {0, 1} and its coverage (1 where the warped reference has real pixels), ``known`` (T+1,): 1 =
    the frame has a mask, 0 = none, -1 = the slot lies before the start of its source. Returns float tensors in
    [0, 1] (normalise later): ``query`` (3, S, S), ``refs`` (T, 3, S, S), ``ref_masks`` (T, 2, S, S) as
    [mask * known, known] and ``ref_valid`` (T,); and ``query_degraded`` (bool: the query was degraded, which the
    anchor loss needs, see :func:`dvos_core.train.losses.anchor_loss`). ``steps`` (T,): each reference's distance
    in frames from the query, for persisting occluders (default T, T-1, ..., 1: the references just before it).
    """
    t = frames.shape[0] - 1
    valid = (known[:t] >= 0).to(frames.dtype)
    if t and _rand(g) < cfg.empty_refs_p:
        valid[: int(torch.randint(1, t + 1, (1,), generator=g))] = 0  # the oldest slots: the start of a video
    query = frames[-1]
    degraded = _rand(g) < cfg.query_share()
    layers = [None] * t
    if degraded:
        query, layer = degrade(query, g, cfg.degrade, with_occluder=True)
        if layer is not None and cfg.persist_occluders_p > 0 and _rand(g) < cfg.persist_occluders_p:
            steps = range(t, 0, -1) if steps is None else list(steps)  # signed: a later frame sees the leaf on ahead
            layers = _persisting(layer, steps, max(frames.shape[-2:]), cfg, g)
    persisting = any(layer is not None for layer in layers)
    erase = persisting and cfg.erase_hidden_ref_masks_p > 0 and _rand(g) < cfg.erase_hidden_ref_masks_p
    refs = torch.zeros_like(frames[:t])
    ref_masks = torch.zeros(t, 2, *frames.shape[-2:], dtype=frames.dtype)
    for i in range(t):
        if valid[i] <= 0:
            continue
        ref = frames[i] if layers[i] is None else composite(frames[i], layers[i])
        refs[i] = degrade(ref, g, cfg.degrade) if _rand(g) < cfg.degrade_refs_p else ref
        if known[i] <= 0 or _rand(g) < cfg.ref_mask_unknown_p:
            continue
        m = masks[i, :1]
        if _rand(g) < cfg.ref_mask_noise_p:
            m = perturb_mask(m.clone(), g)
        if erase:  # a prediction of the reference would have missed what its leaf hides
            m = m * (layers[i][0] <= 0.5).to(m.dtype)
        ref_masks[i, 0] = (m * masks[i, 1:2])[0]
        ref_masks[i, 1] = masks[i, 1]
    return {"query": query, "refs": refs, "ref_masks": ref_masks, "ref_valid": valid, "query_degraded": degraded}
