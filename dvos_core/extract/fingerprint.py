"""Fingerprints of painted masks: what tells a frame repainted since something was made from it.

Objects cut from a frame (``mask_sha`` in their records), the background clips inpainted from it (``mask_sha`` in
the clip's attributes) and a training run's data summary (``human_masks``) record the fingerprint of the mask they
were made from; a frame whose mask now gives another fingerprint was repainted (or corrected) since.
"""

from __future__ import annotations


def mask_sha(mask) -> str:
    """The fingerprint of a stored mask (an (H, W) array, any non-zero pixel a head): which pixels are heads and the
    mask's size, the same fingerprint ``dvos export-masks`` records of each mask it writes
    (:func:`dvos_core.io.masks.mask_digest`)."""
    from dvos_core.io.masks import mask_digest

    return mask_digest(mask)


def frame_sha(video, t: int) -> str | None:
    """The fingerprint of frame ``t``'s stored mask (None when it has none)."""
    mask = video.mask(int(t))
    return None if mask is None else mask_sha(mask)


def repainted(recorded, video, t: int) -> bool:
    """Whether frame ``t`` of ``video`` holds another mask than the one fingerprinted ``recorded`` (None, from a
    dvos that did not record it: taken as unchanged)."""
    return recorded is not None and frame_sha(video, t) != recorded
