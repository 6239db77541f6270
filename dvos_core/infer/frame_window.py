"""A sliding window over a video's frames for step-by-step passes (context prediction, temporal smoothing)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class FrameWindow:
    """The frames around the current one, read in contiguous blocks through ``read(start, stop)``; keeps only the
    frames the current step asks for, so a pass through a long video holds a window's worth of frames."""

    def __init__(self, read: Callable[[int, int], np.ndarray]):
        self.read, self.frames = read, {}

    def get(self, wanted: Sequence[int]) -> dict:
        """{frame index: frame} for ``wanted``; frames held from the last call are reused, the rest read at once."""
        wanted = set(wanted)
        self.frames = {k: f for k, f in self.frames.items() if k in wanted}
        missing = sorted(k for k in wanted if k not in self.frames)
        if missing:
            block = self.read(missing[0], missing[-1] + 1)
            for k in missing:
                self.frames[k] = np.asarray(block[k - missing[0]])
        return self.frames
