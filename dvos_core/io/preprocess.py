"""Frame preprocessing applied on import: optional resize to a fixed height, then optional centre crop."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dvos_core.config_io import coerce_fields

MAX_RESIZED_SIDE = 16384  # a resize may not make frames larger than this (px a side)


@dataclass(frozen=True)
class Preprocess:
    """Resize so the frame height is ``height`` (aspect kept), then centre-crop to ``crop`` = (height, width).

    ``Preprocess()`` leaves frames untouched; ``Preprocess.paper()`` is the paper's setting (height 1024, then a
    1024 x 1024 centre crop). Shrinking uses area interpolation, enlarging bilinear.
    """

    height: int | None = None
    crop: tuple | None = None

    def __post_init__(self):
        coerce_fields(self)  # types and finite numbers (dvos_core.config_io)
        if self.height is not None and int(self.height) < 1:
            raise ValueError(f"resize height must be >= 1, got {self.height}")
        if self.crop is not None:
            crop = tuple(int(c) for c in self.crop)
            if len(crop) != 2 or min(crop) < 1:
                raise ValueError(f"crop must be (height, width) with positive sizes, got {self.crop}")
            object.__setattr__(self, "crop", crop)

    @classmethod
    def paper(cls) -> Preprocess:
        return cls(height=1024, crop=(1024, 1024))

    @classmethod
    def from_dict(cls, d: dict | None) -> Preprocess:
        d = d or {}
        return cls(height=d.get("height"), crop=tuple(d["crop"]) if d.get("crop") else None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["crop"] = list(self.crop) if self.crop else None
        return d

    def resized_size(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) after the resize; ValueError if it would make a side larger than :data:`MAX_RESIZED_SIDE`."""
        if self.height is None or self.height == h:
            return int(h), int(w)
        rh, rw = int(self.height), max(1, int(round(w * self.height / h)))
        if max(rh, rw) > MAX_RESIZED_SIDE:
            raise ValueError(
                f"resizing {h}x{w} frames to height {self.height} makes them {rh}x{rw}, more than "
                f"{MAX_RESIZED_SIDE} px a side; choose a smaller resize height"
            )
        return rh, rw

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) of the output for an (h, w) input; ValueError if the crop does not fit."""
        rh, rw = self.resized_size(h, w)
        if self.crop is None:
            return rh, rw
        ch, cw = self.crop
        if ch > rh or cw > rw:
            where = f"cannot centre-crop {ch}x{cw} from a {rh}x{rw} frame (input {h}x{w}" + (
                ", after resizing)" if (rh, rw) != (h, w) else ")"
            )
            if self == Preprocess.paper():  # the user asked for the paper's setting, not for this crop or height
                raise ValueError(f"{where}: {self.portrait_hint(h, w)}")
            raise ValueError(f"{where}; choose a smaller crop or a larger resize height")
        return ch, cw

    @staticmethod
    def portrait_hint(h: int, w: int) -> str:
        """What to do when the paper's setting meets frames narrower than high (``h`` x ``w``)."""
        side = Preprocess.paper().crop[1]
        height = -(-side * h // w)  # the least height that makes the frames ``side`` px wide
        while Preprocess(height=height).resized_size(h, w)[1] < side:
            height += 1
        return (
            f"the paper's preprocessing (--paper-preprocess: {side} px high, then the central {side}x{side} square) "
            f"expects frames wider than high, and these are {h} px high and {w} wide. For the same square from "
            f"them resize them to {side} px wide instead: --height {height} --crop {side} {side} in place of "
            f"--paper-preprocess (Preprocess(height={height}, crop=({side}, {side}))), or add the video without "
            f"preprocessing"
        )

    def apply(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        oh, ow = self.output_size(h, w)
        rh, rw = self.resized_size(h, w)
        if (rh, rw) != (h, w):
            import cv2

            interp = cv2.INTER_AREA if rh < h else cv2.INTER_LINEAR
            frame = cv2.resize(frame, (rw, rh), interpolation=interp)
        if (oh, ow) != (rh, rw):
            y0, x0 = (rh - oh) // 2, (rw - ow) // 2
            frame = frame[y0 : y0 + oh, x0 : x0 + ow]
        return np.ascontiguousarray(frame)
