"""Prediction with the context-aware video model: frame by frame, each frame with its aligned earlier frames.

For frame t the references are frames t-1 .. t-tau (fewer at the start of a video, none for frame 0). Each is
aligned to frame t by the estimated camera motion (:class:`dvos_core.motion.align.SequenceAligner`: the best of the
direct estimate, the chain of consecutive estimates and the identity) and warped onto it, with its mask: the
model's own prediction of that frame from this run (with ``reference_masks="independent"``: what it saw in that
frame alone, decoded in the same pass, so a mistake is not fed back into the next frames) or, when the caller
allows it, a stored label (painted, corrected or pseudo). Frames run one after another; big frames are tiled like
every other model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from dvos_core.infer.engine import context_overlap, frames_per_pass, probabilities
from dvos_core.infer.frame_window import FrameWindow
from dvos_core.infer.scales import Scales, averaged, reporters_by_scale, shrink
from dvos_core.infer.tiling import MULTIPLE, Blender, frame_tiles, reflect_pad, tile_done
from dvos_core.motion import valid_region, warp_to
from dvos_core.motion.align import SequenceAligner
from dvos_core.prediction_options import THRESHOLD, check_reference_masks
from dvos_core.progress import CancelToken, ProgressFn, check, report


class ContextPredictor:
    """Runs a ContextNet on one query frame with up to tau references (uint8 frames, float masks or None)."""

    def __init__(
        self,
        model,
        device,
        tile_size: int = 512,
        overlap: int = 64,
        amp: bool = False,
        references: str = "previous",
        reference_masks: str = "chained",
        scales: Scales | None = None,
        refs_per_pass: int | None = None,
    ):
        if tile_size < MULTIPLE or tile_size % MULTIPLE:
            raise ValueError(f"tile size must be a positive multiple of {MULTIPLE}, got {tile_size}")
        self.model, self.device = model, torch.device(device)
        self.tau = int(model.tau)
        self.tile_size, self.overlap = int(tile_size), context_overlap(tile_size, overlap)
        self.amp = bool(amp)
        if references not in ("previous", "query"):
            raise ValueError(f"references must be 'previous' or 'query', got {references!r}")
        # "query": the ablation that proves the model uses time - every reference is a copy of frame t, no masks
        self.references = references
        check_reference_masks(reference_masks)
        self.reference_masks = reference_masks
        self.aligner = SequenceAligner()
        # the scales each frame is segmented at (default: its own only); the alignment is made once, at its own
        self.scales = scales if scales is not None else Scales("own")
        # reference frames per encoder pass: None = the device's rule (engine.frames_per_pass: on a CPU, large tiles'
        # one at a time); a number = that many (the benchmark compares them)
        self.refs_per_pass = refs_per_pass

    def inputs(self, query, refs, ref_masks, times=None):
        """Model inputs (numpy, unpadded): the references warped onto the query (T, H, W, 3) uint8 and their masks
        (T, 2, H, W) float as [mask * known, known]; ``times`` (refs then query) see :meth:`predict`."""
        h, w = query.shape[:2]
        out_refs = np.zeros((len(refs), h, w, 3), np.uint8)
        out_masks = np.zeros((len(refs), 2, h, w), np.float32)
        if not refs:
            return out_refs, out_masks
        matrices = self.aligner.align([*refs, query], times=times)
        for i, (ref, m, mat) in enumerate(zip(refs, ref_masks, matrices)):
            out_refs[i] = warp_to(ref, mat, (h, w), border="reflect")
            if m is not None:
                known = valid_region(mat, ref.shape[:2], (h, w)).astype(np.float32)
                out_masks[i, 0] = np.clip(warp_to(np.asarray(m, np.float32), mat, (h, w), nearest=False), 0, 1) * known
                out_masks[i, 1] = known
        return out_refs, out_masks

    def predict(
        self, query: np.ndarray, refs: Sequence[np.ndarray], ref_masks: Sequence, times=None, on_tile=None
    ) -> np.ndarray:
        """Probability (H, W) float32 of the query frame given its references and their masks; ``times``: the frame
        numbers of the references and the query (for chaining motion estimates and reusing them across frames);
        ``on_tile(done, total)``: after each tile of a frame cut into several."""
        return self._predict(query, refs, ref_masks, times, ("mask",), on_tile)[0]

    def predict_with_alone(self, query, refs, ref_masks, times=None, on_tile=None) -> tuple[np.ndarray, np.ndarray]:
        """(probability as :meth:`predict`, probability from the query frame alone): one encoder pass for both."""
        both = self._predict(query, refs, ref_masks, times, ("mask", "mask_alone"), on_tile)
        return both[0], both[1]

    def _predict(self, query, refs, ref_masks, times, heads, on_tile=None) -> np.ndarray:
        """(len(heads), H, W) probabilities of the query frame from the model's mask heads ``heads``."""
        refs = list(refs)[-self.tau :] if self.tau else []
        ref_masks = list(ref_masks)[-len(refs) :] if refs else []
        if self.references == "query":
            refs, ref_masks, times = [query] * len(refs), [None] * len(refs), None
        h, w = query.shape[:2]
        if times is not None:
            times = list(times)[-(len(refs) + 1) :]
        r8, rm = self.inputs(query, refs, ref_masks, times)

        zooms = self.scales.zooms(h, w)
        said = reporters_by_scale(on_tile, zooms, h, w, self.tile_count)

        def at(z: float) -> np.ndarray:
            if z == 1:
                return self._tiles(query, r8, rm, heads, said[z])
            return self._tiles(shrink(query, z), shrink(r8, z), shrink(rm, z, frames=False), heads, said[z])

        return averaged(zooms, h, w, at)

    def tile_count(self, height: int, width: int) -> int:
        """How many tiles a height x width frame is cut into."""
        return len(frame_tiles(height, width, self.tile_size, self.overlap)[2])

    def _tiles(self, query, r8, rm, heads, on_tile=None) -> np.ndarray:
        """(len(heads), H, W) probabilities from the query and its warped references and masks, tile by tile."""
        from dvos_core.model import to_model_input

        h, w = query.shape[:2]
        n_refs = len(r8)
        ph, pw, tiles = frame_tiles(h, w, self.tile_size, self.overlap)
        q = reflect_pad(query[None], ph, pw)[0]
        r8 = reflect_pad(r8, ph, pw) if n_refs else r8
        rm = np.pad(rm, ((0, 0), (0, 0), (0, ph), (0, pw)))  # padding is unknown to the masks
        hp, wp = h + ph, w + pw
        blender = Blender(len(heads), hp, wp, self.overlap)
        valid = torch.ones(1, n_refs, device=self.device)
        # on a CPU the references of a large tile are encoded one at a time, as the other models' frames are
        chunk = self.refs_per_pass or (
            frames_per_pass(self.device, tiles[0].h * tiles[0].w, n_refs) if n_refs else None
        )
        for j, tile in enumerate(tiles):
            ys, xs = tile.slices
            qt = to_model_input(torch.from_numpy(np.ascontiguousarray(q[ys, xs])).to(self.device))[None]
            args = [qt]
            if n_refs:
                rt = to_model_input(torch.from_numpy(np.ascontiguousarray(r8[:, ys, xs])).to(self.device))[None]
                mt = torch.from_numpy(np.ascontiguousarray(rm[:, :, ys, xs])).to(self.device)[None]
                args += [rt, mt, valid]
            with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.amp):
                out = self.model(*args, heads=heads, ref_chunk=chunk)
            logits = torch.cat([out[k] for k in heads], 1)[0]
            blender.add(tile, probabilities(logits), single=len(tiles) == 1)
            tile_done(on_tile, j + 1, len(tiles))
        return blender.result(h, w)


_ALREADY = "every frame asked for is done already"  # a pass with no frame left (predicting or labelling)


def _half(tau: int) -> int:
    """How many frames the second pass looks at on each side of a frame."""
    return max(1, tau // 2)


def _tiles_said(progress, done: int, targets, label: str, t: int):
    """An ``on_tile`` that reports the tiles of frame t (the ``done``-th of ``targets``) with the run's progress."""
    if progress is None:
        return None
    return lambda j, m: report(progress, done - 1, len(targets), f"{label}frame {t}, tile {j}/{m}")


def _binary(m, threshold):
    return None if m is None else (np.asarray(m, np.float32) >= threshold).astype(np.float32)


def run_context(
    predictor: ContextPredictor,
    read: Callable[[int, int], np.ndarray],
    targets: Sequence[int],
    sink: Callable[[int, np.ndarray], None],
    known_mask: Callable[[int], np.ndarray | None] | None = None,
    threshold: float = THRESHOLD,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    label: str = "",
    with_alone: bool = False,
    refine_next: bool = True,
) -> int:
    """Predict ``targets`` in order, each from its tau earlier frames; ``sink(t, probability)`` after each frame
    (``with_alone``: ``sink(t, probability, probability from the frame alone)``, both from one encoder pass). A
    sink that returns a probability map (e.g. a blend with other models') makes it t's mask for the next frames
    (except with ``reference_masks="independent"``, where t always lends its frame-alone mask).

    A reference's mask is this run's prediction of it when there is one - the prediction made with its own
    references, or with the predictor's ``reference_masks="independent"`` the prediction of that frame alone - else
    ``known_mask(t)`` (a stored label the caller allows, or None = unknown). Holds at most tau + 1 frames and masks.
    ``refine_next``: keep the motion estimates that :func:`refine_context` with this predictor asks for again (two
    2x3 matrices a frame with tau 4), so the second pass does not estimate them twice.
    """
    tau = predictor.tau
    predictor.aligner.reset()  # a new first pass: other frames may come under the same frame numbers
    if refine_next and predictor.references == "previous":
        # the second pass's paths before frame t, t-half -> ... -> t, are this pass's too
        predictor.aligner.hold(_half(tau) + 1)
    targets = sorted({int(t) for t in targets})
    window = FrameWindow(read)
    predicted: dict[int, np.ndarray] = {}
    if not targets:  # nothing left: reported done (0 of 0; a Steps maps it onto its whole span)
        report(progress, 0, 0, f"{label}{'first pass: ' if refine_next else ''}{_ALREADY}")
    else:
        report(progress, 0, len(targets), f"{label}predicting {len(targets)} frames")
    for done, t in enumerate(targets, 1):
        check(cancel)
        wanted = list(range(max(0, t - tau), t + 1))
        frames = window.get(wanted)
        predicted = {k: m for k, m in predicted.items() if k in wanted}
        refs = wanted[:-1]
        masks = [
            _binary(predicted[k] if k in predicted else known_mask(k) if known_mask else None, threshold) for k in refs
        ]
        args = (frames[t], [frames[k] for k in refs], masks, wanted, _tiles_said(progress, done, targets, label, t))
        independent = predictor.reference_masks == "independent" and predictor.references == "previous"
        if independent or with_alone:
            prob, alone = predictor.predict_with_alone(*args)
            predicted[t] = alone if independent else prob
        else:
            prob = predicted[t] = predictor.predict(*args)
        predictor.aligner.forget(set(wanted))
        kept = sink(t, prob, alone) if with_alone else sink(t, prob)
        if kept is not None and not independent:  # the caller's final probability of t lends t's mask
            predicted[t] = kept
        report(progress, done, len(targets), f"{label}frame {t}")
    return len(targets)


def refine_context(
    predictor: ContextPredictor,
    read: Callable[[int, int], np.ndarray],
    n_frames: int,
    targets: Sequence[int],
    first_pass: Callable[[int], np.ndarray | None],
    sink: Callable[[int, np.ndarray], None],
    threshold: float = THRESHOLD,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    label: str = "",
) -> int:
    """The second pass: each target again, now with references on both sides - the tau/2 frames before and the
    tau/2 after (fewer at the ends of the video) - and their first-pass masks (``first_pass(t)``). Motion estimates
    the first pass (:func:`run_context`) made with this predictor are reused: ``read`` must give the same frames."""
    half = _half(predictor.tau)
    targets = sorted({int(t) for t in targets})
    window = FrameWindow(read)
    aligner = predictor.aligner
    aligner.hold(0)
    if not targets:
        report(progress, 0, 0, f"{label}{_ALREADY}")
    else:
        report(progress, 0, len(targets), f"{label}refining {len(targets)} frames with both neighbours")
    try:
        for done, t in enumerate(targets, 1):
            check(cancel)
            refs = [k for k in range(t - half, t + half + 1) if k != t and 0 <= k < n_frames]
            frames = window.get([*refs, t])
            masks = [_binary(first_pass(k), threshold) for k in refs]
            said = _tiles_said(progress, done, targets, label, t)
            prob = predictor.predict(frames[t], [frames[k] for k in refs], masks, times=[*refs, t], on_tile=said)
            aligner.forget(set(range(t - half, t + half + 1)))
            sink(t, prob)
            report(progress, done, len(targets), f"{label}frame {t}")
    finally:
        aligner.reset()  # what the first pass held and this one did not ask for (a part of the video) goes too
    return len(targets)
