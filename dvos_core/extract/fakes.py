"""Fake heads: a real head's silhouette filled with non-head texture cut from the same frame.

They teach the network that the head *shape* alone is not a head: in synthetic clips fakes are pasted like heads
but never enter the mask.
"""

from __future__ import annotations

import numpy as np

from dvos_core.extract.components import colour_stats, halo_weights, rgba_crop


def make_fake_heads(
    frame: np.ndarray,
    heads_mask: np.ndarray,
    silhouette: np.ndarray,
    n: int,
    rng: np.random.Generator,
    max_overlap: float = 0.1,
    max_tries: int = 200,
    halo_px: int = 0,
):
    """Up to ``n`` fakes shaped like ``silhouette`` (bool (h, w)), textured from ``frame`` where the silhouette
    overlaps the frame's heads (``heads_mask``) by less than ``max_overlap`` of the silhouette's area.

    ``halo_px`` > 0: each fake keeps a ring of its own surroundings, as the real heads do (see
    ``components.rgba_crop``; never head pixels), so that a cut edge does not tell a fake from a head.
    Tries at most ``max_tries`` random positions per fake. Returns (list of (rgba, record with y, x, overlap and
    colour stats), number of fakes given up on).
    """
    sil = np.asarray(silhouette, dtype=bool)
    sh, sw = sil.shape
    H, W = heads_mask.shape
    area = int(sil.sum())
    if area == 0 or sh > H or sw > W:
        return [], int(n)
    heads = np.asarray(heads_mask) > 0
    # Integral image of the heads mask: a cheap upper bound rejects windows that are mostly head.
    integral = np.pad(heads.cumsum(0).cumsum(1), ((1, 0), (1, 0))).astype(np.int64)
    ring = halo_weights(sil.astype(np.int32), 1, halo_px) if halo_px > 0 else None
    fakes, failed = [], 0
    for _ in range(int(n)):
        for _try in range(int(max_tries)):
            y = int(rng.integers(0, H - sh + 1))
            x = int(rng.integers(0, W - sw + 1))
            in_box = integral[y + sh, x + sw] - integral[y, x + sw] - integral[y + sh, x] + integral[y, x]
            if in_box == 0:
                overlap = 0.0
            else:
                overlap = float((heads[y : y + sh, x : x + sw] & sil).sum()) / area
            if overlap < max_overlap:
                patch = frame[y : y + sh, x : x + sw]
                rec = {"y": y, "x": x, "area": area, "overlap": overlap}
                rec.update(colour_stats(patch, sil))
                halo = None if ring is None else np.where(heads[y : y + sh, x : x + sw], 0, ring)
                fakes.append((rgba_crop(patch, sil, halo), rec))
                break
        else:
            failed += 1
    return fakes, failed
