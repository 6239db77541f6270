"""The check of the in-memory frames the array functions take (:func:`~dvos_core.infer.predict.predict_array`,
:func:`~dvos_core.infer.smooth.smooth_array`; their probabilities: the store's
:func:`~dvos_core.store.predictions.check_probabilities`): numpy only, so smoothing still loads no torch."""

from __future__ import annotations

import numpy as np


def check_frames(frames) -> np.ndarray:
    """``frames`` as a (T, H, W, 3) uint8 RGB array, or a ValueError saying what they are and how to convert them
    (float frames in [0, 1] made OpenCV fail with its own error, or were read as 0/1 brightness)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        hint = ""
        if frames.dtype.kind == "f":
            hint = "; float frames in [0, 1]: pass (frames * 255).round().astype(np.uint8)"
        elif frames.dtype.kind in "iub" and frames.dtype != np.uint8:
            hint = "; frames with values 0-255 in another integer type: pass frames.astype(np.uint8)"
        raise ValueError(f"frames must be (T, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}{hint}")
    return frames
