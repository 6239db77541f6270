"""Fingerprints of painted masks: what tells a frame repainted since something was made from it.

Objects cut from a frame (``mask_sha`` in their records), the background clips inpainted from it (``mask_sha`` in
the clip's attributes) and a training run's data summary (``human_masks``) record the fingerprint of the mask they
were made from; a frame whose mask now gives another fingerprint was repainted (or corrected) since.
"""

from __future__ import annotations

import hashlib

import numpy as np

SHA_CHARS = 16  # 64 bits of SHA-256: a repaint is never taken for the mask it replaced


def mask_sha(mask) -> str:
    """The fingerprint of a stored mask (an (H, W) array of 0/1, as :meth:`~dvos_core.store.sequence.Video.mask` reads
    it): a short SHA-256 of its shape and bytes."""
    m = np.ascontiguousarray(np.asarray(mask) > 0, dtype=np.uint8)
    h = hashlib.sha256(repr(m.shape).encode())
    h.update(m.tobytes())
    return h.hexdigest()[:SHA_CHARS]


def frame_sha(video, t: int) -> str | None:
    """The fingerprint of frame ``t``'s stored mask (None when it has none)."""
    mask = video.mask(int(t))
    return None if mask is None else mask_sha(mask)


def repainted(recorded, video, t: int) -> bool:
    """Whether frame ``t`` of ``video`` holds another mask than the one fingerprinted ``recorded`` (None, from a
    dvos that did not record it: taken as unchanged)."""
    return recorded is not None and frame_sha(video, t) != recorded
