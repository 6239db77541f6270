"""A video's model predictions, stored beside (never in) its label masks.

Arrays of the video group, created by the first prediction: ``pred_probability`` float16 (T,H,W), ``pred_masks``
uint8 (T,H,W) (probability >= threshold) and ``pred_done`` uint8 (T,), the per-frame commit written after the data.
"""

from __future__ import annotations

import numpy as np

from dvos_core.store import arrays

KEYS = ("pred_masks", "pred_probability", "pred_done")


class Predictions:
    """``video.predictions``: read and write the predictions of one :class:`~dvos_core.store.Video`."""

    def __init__(self, video):
        self.video = video

    def arrays(self, create: bool = False):
        """(pred_masks, pred_probability, pred_done) arrays, created on demand; None when absent."""
        v, g = self.video, self.video.group
        if "pred_done" not in g:  # created last: a killed creation is simply redone
            if not create:
                return None
            n, h, w, _ = v.shape
            with v._write("creating the prediction arrays"):
                arrays.create(g, "pred_probability", (n, h, w), "float16", chunks=(1, h, w))
                arrays.create(g, "pred_masks", (n, h, w), "uint8", chunks=(1, h, w))
                arrays.create(g, "pred_done", (n,), "uint8", chunks=(4096,))
        if any(g[key].shape[0] < v.n_frames for key in KEYS):
            with v._write("growing the prediction arrays"):
                for key in KEYS:
                    arrays.ensure_length(g[key], v.n_frames)
        return g["pred_masks"], g["pred_probability"], g["pred_done"]

    def set(self, t: int, probability: np.ndarray, threshold: float = 0.5) -> None:
        """Store a probability map for frame t (and its thresholded mask), then mark the frame as predicted."""
        v = self.video
        v._check_t(t)
        pm, pp, done = self.arrays(create=True)
        p = np.asarray(probability, dtype=np.float32)
        if p.shape != v.shape[1:3]:
            raise ValueError(f"probability for {v.name}[{t}] has shape {p.shape}, expected {v.shape[1:3]}")
        with v._write(f"writing the prediction of frame {t}"):
            pp[t] = p.astype(np.float16)
            pm[t] = (p >= threshold).astype(np.uint8)
            done[t] = 1

    def frames(self) -> np.ndarray:
        """Indices of the predicted frames."""
        arrs = self.arrays()
        if arrs is None:
            return np.zeros(0, np.int64)
        return np.flatnonzero(arrs[2][: self.video.n_frames])

    def get(self, t: int):
        """(mask, probability) of frame t, or None if not predicted."""
        self.video._check_t(t)
        arrs = self.arrays()
        if arrs is None or not arrs[2][t]:
            return None
        return arrs[0][t], arrs[1][t].astype(np.float32)
