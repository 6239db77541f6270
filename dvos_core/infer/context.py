"""Prediction with the context-aware video model: frame by frame, each frame with its aligned earlier frames.

For frame t the references are frames t-1 .. t-tau (fewer at the start of a video, none for frame 0). Each is
aligned to frame t by the estimated camera motion (:func:`dvos_core.motion.estimate_pair`, the heads it knows of
left out) and warped onto it, with its mask: the model's own prediction of that frame from this run, or - when the
caller allows it - a stored label (painted, corrected or pseudo). Frames run one after another (a frame's
prediction is the next frames' reference mask); big frames are tiled like every other model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from dvos_core.data.context_sample import align_reference
from dvos_core.infer.tiling import MULTIPLE, Blender, pad_amounts, reflect_pad, round_up, tile_grid
from dvos_core.motion import MotionParams, warp_to
from dvos_core.progress import CancelToken, ProgressFn, check, report

MOTION = MotionParams()


def align(ref: np.ndarray, query: np.ndarray, ref_mask: np.ndarray | None, params: MotionParams = MOTION):
    """(ref frame warped onto the query (H, W, 3) uint8, its mask warped (H, W) float or None, coverage (H, W) bool)."""
    matrix, warped, cover = align_reference(ref, query, ref_mask, params)
    mask = (
        None if ref_mask is None else warp_to(np.asarray(ref_mask, np.float32), matrix, query.shape[:2], nearest=False)
    )
    return warped, mask, cover


class ContextPredictor:
    """Runs a ContextNet on one query frame with up to tau references (uint8 frames, float masks or None)."""

    def __init__(
        self, model, device, tile_size: int = 512, overlap: int = 64, amp: bool = False, references: str = "previous"
    ):
        if tile_size < MULTIPLE or tile_size % MULTIPLE:
            raise ValueError(f"tile size must be a positive multiple of {MULTIPLE}, got {tile_size}")
        self.model, self.device = model, torch.device(device)
        self.tau = int(model.tau)
        self.tile_size, self.overlap = int(tile_size), int(min(overlap, tile_size // 4))
        self.amp = bool(amp)
        if references not in ("previous", "query"):
            raise ValueError(f"references must be 'previous' or 'query', got {references!r}")
        # "query": the ablation that proves the model uses time - every reference is a copy of frame t, no masks
        self.references = references

    def inputs(self, query, refs, ref_masks):
        """Model inputs (numpy, unpadded): refs (T, H, W, 3) uint8 and ref_masks (T, 2, H, W) float, T = len(refs)."""
        h, w = query.shape[:2]
        out_refs = np.zeros((len(refs), h, w, 3), np.uint8)
        out_masks = np.zeros((len(refs), 2, h, w), np.float32)
        for i, (ref, m) in enumerate(zip(refs, ref_masks)):
            warped, wm, cover = align(ref, query, m)
            out_refs[i] = warped
            if wm is not None:
                known = cover.astype(np.float32)
                out_masks[i, 0] = np.clip(wm, 0, 1) * known
                out_masks[i, 1] = known
        return out_refs, out_masks

    def predict(self, query: np.ndarray, refs: Sequence[np.ndarray], ref_masks: Sequence) -> np.ndarray:
        """Probability (H, W) float32 of the query frame given its references (oldest first) and their masks."""
        from dvos_core.model import to_model_input

        refs = list(refs)[-self.tau :] if self.tau else []
        ref_masks = list(ref_masks)[-len(refs) :] if refs else []
        if self.references == "query":
            refs, ref_masks = [query] * len(refs), [None] * len(refs)
        h, w = query.shape[:2]
        r8, rm = self.inputs(query, refs, ref_masks)
        ph, pw = pad_amounts(h, w)
        q = reflect_pad(query[None], ph, pw)[0]
        r8 = reflect_pad(r8, ph, pw) if len(refs) else r8
        rm = np.pad(rm, ((0, 0), (0, 0), (0, ph), (0, pw)))  # padding is unknown to the masks
        hp, wp = h + ph, w + pw
        tiles = tile_grid(hp, wp, self.tile_size, self.overlap)
        blender = Blender(1, hp, wp, self.overlap)
        valid = torch.ones(1, len(refs), device=self.device)
        for tile in tiles:
            ys, xs = tile.slices
            qt = to_model_input(torch.from_numpy(np.ascontiguousarray(q[ys, xs])).to(self.device))[None]
            args = [qt]
            if len(refs):
                rt = to_model_input(torch.from_numpy(np.ascontiguousarray(r8[:, ys, xs])).to(self.device))[None]
                mt = torch.from_numpy(np.ascontiguousarray(rm[:, :, ys, xs])).to(self.device)[None]
                args += [rt, mt, valid]
            with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.amp):
                logits = self.model(*args)["mask"]
            blender.add(tile, torch.sigmoid(logits.float())[:, 0].cpu().numpy(), single=len(tiles) == 1)
        return blender.result(h, w)[0]


def default_tile(info: dict) -> int:
    size = info.get("input_size") or 256
    return round_up(int(size) * 2)


def run_context(
    predictor: ContextPredictor,
    read: Callable[[int, int], np.ndarray],
    targets: Sequence[int],
    sink: Callable[[int, np.ndarray], None],
    known_mask: Callable[[int], np.ndarray | None] | None = None,
    threshold: float = 0.5,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    label: str = "",
) -> int:
    """Predict ``targets`` in order, each from its tau earlier frames; ``sink(t, probability)`` after each frame.

    A reference's mask is this run's prediction of it when there is one, else ``known_mask(t)`` (a stored label
    the caller allows, or None = unknown). Holds at most tau + 1 frames and masks.
    """
    tau = predictor.tau
    targets = sorted({int(t) for t in targets})
    frames: dict[int, np.ndarray] = {}
    predicted: dict[int, np.ndarray] = {}
    report(progress, 0, len(targets), f"{label}predicting {len(targets)} frames")
    for done, t in enumerate(targets, 1):
        check(cancel)
        wanted = list(range(max(0, t - tau), t + 1))
        for k in list(frames):
            if k not in wanted:
                del frames[k]
        for k in list(predicted):
            if k not in wanted:
                del predicted[k]
        missing = [k for k in wanted if k not in frames]
        if missing:
            block = read(missing[0], missing[-1] + 1)
            for k in missing:
                frames[k] = np.asarray(block[k - missing[0]])
        refs = wanted[:-1]
        masks = []
        for k in refs:
            m = predicted.get(k)
            if m is None and known_mask is not None:
                m = known_mask(k)
            masks.append(None if m is None else (np.asarray(m, np.float32) >= threshold).astype(np.float32))
        prob = predictor.predict(frames[t], [frames[k] for k in refs], masks)
        predicted[t] = prob
        sink(t, prob)
        report(progress, done, len(targets), f"{label}frame {t}")
    return len(targets)
