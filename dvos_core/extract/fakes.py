"""Fake heads: a real head's silhouette filled with non-head texture cut from the same frame.

They teach the network that the head *shape* alone is not a head: in synthetic clips fakes are pasted like heads
but never enter the mask.
"""

from __future__ import annotations

import numpy as np

from dvos_core.extract.components import colour_stats, halo_weights, rgba_crop
from dvos_core.shell import quote

FAKES_ASKED = "fakes_per_head"  # in each head's record: the fakes asked of it (0: none wanted), made or not


def heads_without_fakes_made(bank) -> int:
    """How many heads of ``bank`` record nothing of fakes (no ``fakes_per_head``: cut before dvos made fake heads,
    or by a dvos that did not record it) when the bank holds no fake at all: a bank that gives synthesis no
    negatives unsaid. 0 when the bank holds a fake or no head, or when every head records the fakes asked of it (an
    extraction that asked for fakes and found no head-free spot for any, or asked for none, is not such a bank).
    Reads the records only when the bank's counts hold heads and no fakes."""
    if not bank.count("head") or bank.count("fake"):
        return 0
    table = bank.table()
    heads = table[table["kind"] == "head"]
    return len(heads) if FAKES_ASKED not in heads else int(heads[FAKES_ASKED].isna().sum())


def no_fakes_warning(project) -> str | None:
    """The warning for a bank of :func:`heads_without_fakes_made` (None when there is nothing to say): it names the
    fix, cutting the heads again with their fakes."""
    n = heads_without_fakes_made(project.objects)
    if not n:
        return None
    return (
        f"{project.path}: the object bank holds no fake heads, and {n} of its heads were cut with no record of fakes "
        f"(cut before dvos made fake heads): the synthetic clips get no negatives, the look-alikes that teach the "
        f"network that a head's shape alone is not a head; cut the heads again with their fakes: `dvos "
        f"extract-objects {quote(project.path)} --replace` (the Extract step: tick 'replace objects extracted "
        f"before'), or add `--fakes-per-head 0` to go without fakes on purpose"
    )


def heads_integral(heads_mask: np.ndarray) -> np.ndarray:
    """Summed-area table ((H + 1, W + 1) int64) of a frame's heads mask: the head pixels of any window in four
    look-ups, a cheap test that skips the overlap count where a window holds no head. Made once per frame: made
    per head it was a pass over the whole frame for each of a field frame's hundreds of heads."""
    heads = np.asarray(heads_mask) > 0
    out = np.zeros((heads.shape[0] + 1, heads.shape[1] + 1), np.int64)
    np.cumsum(heads, axis=0, out=out[1:, 1:])
    np.cumsum(out[1:, 1:], axis=1, out=out[1:, 1:])
    return out


def make_fake_heads(
    frame: np.ndarray,
    heads_mask: np.ndarray,
    silhouette: np.ndarray,
    n: int,
    rng: np.random.Generator,
    max_overlap: float = 0.1,
    max_tries: int = 200,
    halo_px: int = 0,
    integral: np.ndarray | None = None,
):
    """Up to ``n`` fakes shaped like ``silhouette`` (bool (h, w)), textured from ``frame`` where the silhouette
    overlaps the frame's heads (``heads_mask``) by less than ``max_overlap`` of the silhouette's area.

    ``halo_px`` > 0: each fake keeps a ring of its own surroundings, as the real heads do (see
    ``components.rgba_crop``; never head pixels), so that a cut edge does not tell a fake from a head.
    Tries at most ``max_tries`` random positions per fake. ``integral``: :func:`heads_integral` of ``heads_mask``,
    made once per frame by a caller that makes the fakes of many heads (else made here, a pass over the whole frame).
    Returns (list of (rgba, record with y, x, overlap and colour stats), number of fakes given up on).
    """
    sil = np.asarray(silhouette, dtype=bool)
    sh, sw = sil.shape
    H, W = heads_mask.shape
    area = int(sil.sum())
    if area == 0 or sh > H or sw > W:
        return [], int(n)
    heads = np.asarray(heads_mask)
    heads = heads if heads.dtype == bool else heads > 0
    if integral is None:
        integral = heads_integral(heads)
    elif integral.shape != (H + 1, W + 1):
        raise ValueError(f"integral must be heads_integral(heads_mask), shape {(H + 1, W + 1)}, got {integral.shape}")
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
                if overlap > 0:  # the real head pixels it covers are painted over from the field around them
                    patch = _without_heads(patch, heads[y : y + sh, x : x + sw])
                rec = {"y": y, "x": x, "area": area, "overlap": overlap}
                rec.update(colour_stats(patch, sil))
                halo = None if ring is None else np.where(heads[y : y + sh, x : x + sw], 0, ring)
                fakes.append((rgba_crop(patch, sil, halo), rec))
                break
        else:
            failed += 1
    return fakes, failed


def _without_heads(patch: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """``patch`` with its head pixels (``heads``, bool) filled in from the non-head pixels around them (OpenCV's
    Telea inpainting): a fake that overlaps a real head by a little must not carry that head's pixels into the
    synthetic clips, where fakes never enter the mask."""
    import cv2

    return cv2.inpaint(np.ascontiguousarray(patch), heads.astype(np.uint8), 3, cv2.INPAINT_TELEA)
