"""``ClipDataset``: reads (tau references + query) clips from the store and augments them.

The dataset keeps the project *path* and opens the store lazily in each DataLoader worker (a zarr handle does not
pickle well): the project, each source and its arrays are opened once per process and reused for every item
(handles are dropped when pickled and re-opened after a fork). Items are addressed as
``(sample index, augmentation seed)`` pairs by :class:`ClipSampler`, so a sample's augmentation is fixed by its
seed: identical with any worker count and after resuming.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from dvos_core.data.augment import (
    AugmentConfig,
    blur,
    colour,
    draw_spatial,
    eval_spatial,
    patch_diffusion,
    sample_window,
    source_window,
    spatial_eval,
    spatial_train,
)
from dvos_core.data.clips import ClipIndex, Sample
from dvos_core.data.context_sample import context_sample, warp_references
from dvos_core.data.degrade import degrade
from dvos_core.data.distort import distort
from dvos_core.model.normalize import normalize_float

KINDS = ("dvos", "frame", "context")


class ClipDataset(Dataset):
    """Samples of a :class:`ClipIndex` as tensors.

    Each item is a dict: ``"frames"``: ``(tau, 3, S, S)`` normalised references (oldest first) for ``kind="dvos"``,
    or the ``(3, S, S)`` augmented query for ``kind="frame"`` (QAI image model); ``"target"``: ``(3, S, S)`` the clean
    normalised query frame; ``"mask"``: ``(1, S, S)`` float {0, 1}; ``"weight"``: the sample's provenance weight.
    For ``kind="context"`` the inputs are ``"query"`` (3, S, S), ``"refs"`` (tau, 3, S, S) aligned to the query,
    ``"ref_masks"`` (tau, 2, S, S), ``"ref_valid"`` (tau,), ``"query_clean"`` (1.0 when the query was left
    undegraded, else 0.0: for the anchor loss) and ``"query_view"`` (3, S, S): the query before it was degraded,
    with the same pixel augmentation (the query itself when it was not degraded, or when ``clean_view`` is False
    because nothing reads it; the anchor loss's clean view) (see :mod:`dvos_core.data.context_sample`). A ``"frame"``
    training item with ``clean_view`` also holds ``"query_view"``: its frame before degradation (the image model's
    anchor).
    """

    def __init__(
        self,
        project_path,
        index: ClipIndex,
        size: int,
        train: bool = True,
        augment: AugmentConfig | None = None,
        kind: str = "dvos",
        seed: int = 0,
        clean_view: bool = True,
    ):
        if size % 32:
            raise ValueError(f"training size must be a multiple of 32, got {size}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.project_path = str(Path(project_path))
        self.index, self.size, self.train, self.kind, self.seed = index, int(size), bool(train), kind, int(seed)
        self.augment = augment if augment is not None else AugmentConfig()
        self.clean_view = bool(clean_view)  # make the undegraded query view (a second pixel pass) for the anchor
        self._project = None
        self._cache: dict = {}
        self._arrays: dict = {}  # (kind, source) -> (frames, masks, provenance or None) zarr arrays
        self._pid = None  # the process that opened the handles
        self._aligned: dict = {}  # context clips: (source, frame times) -> reference -> query matrices
        self._aligner = None  # one SequenceAligner for every clip: overlapping windows share their pair estimates

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_project"], state["_cache"], state["_arrays"], state["_pid"] = None, {}, {}, None
        return state

    # ---- store access --------------------------------------------------------------------------------------------
    def _source(self, s: Sample):
        if self._project is None or self._pid != os.getpid():  # first use, or a forked worker: open our own
            from dvos_core.store import Project

            self._project, self._cache, self._arrays = Project.open(self.project_path, mode="r"), {}, {}
            self._pid = os.getpid()
        key = (s.kind, s.source)
        if key not in self._cache:
            self._cache[key] = self._project.video(s.source) if s.kind == "video" else self._project.synthetic(s.source)
        return self._cache[key]

    def _handles(self, s: Sample):
        """The source's (frames, masks, provenance) arrays, opened once per process (provenance None for synthetic
        sets, which have none); a missing or corrupt ``zarr.json`` of one is a ``DamagedStoreError`` naming it."""
        src = self._source(s)
        key = (s.kind, s.source)
        if key not in self._arrays:
            if s.kind == "video":
                self._arrays[key] = tuple(src._array(k) for k in ("frames", "masks", "provenance"))
            else:
                for k in ("frames", "masks"):
                    src._read(k, slice(0, 0), k)  # a missing or corrupt zarr.json named
                self._arrays[key] = (src.group["frames"], src.group["masks"], None)
        return self._arrays[key]

    def _span(self, s: Sample, arr, lo: int, hi: int, what: str, present) -> np.ndarray:
        """Rows ``lo:hi`` of ``arr`` (of clip ``s.clip`` for a synthetic set) in one read. The chunk files of the rows
        ``present`` (rows that were written) are checked first (one ``stat`` each): a deleted one would read as a
        black frame or an empty mask and train on it. A missing or undecodable chunk is a ``DamagedStoreError``
        naming the file and the fix (not a raw Blosc error)."""
        from dvos_core.store import arrays

        src = self._source(s)
        if s.kind == "video":
            lead, owner, fix = (), src._owner, src._damage_fix()
        else:
            lead, fix = (int(s.clip),), src._fix()
            owner = f"{src.path}: synthetic set {src.name!r}" if src.path else f"synthetic set {src.name!r}"
            what = f"{what} of clip {s.clip}"
        if len(present):
            arrays.require_chunks(arr, present, owner, what, fix, lead)
        try:
            return arr[lead + (slice(lo, hi),)]
        except OSError:
            raise
        except Exception as e:  # Blosc/Zarr raise RuntimeError, ValueError... on a damaged chunk
            raise arrays.damaged_error(arr, slice(lo, hi), owner, what, fix, e, lead) from e

    def query_has_foreground(self, s: Sample) -> bool:
        """Whether the query mask of ``s`` marks any pixel (reads that one mask, no frame)."""
        _, masks_arr, _ = self._handles(s)
        present = [s.t] if s.kind != "video" or s.provenance else []  # a painted query's mask chunk was written
        return bool(np.asarray(self._span(s, masks_arr, s.t, s.t + 1, "mask", present)).any())

    def read_clip(self, s: Sample):
        """uint8 frames (tau+1, H, W, 3) (references then query) and the query mask (H, W) {0, 1}."""
        frames, masks, _ = self.read_clip_masks(s, query_only=True)
        return frames, masks[-1]

    def _times(self, s: Sample, g=None) -> tuple[list, list]:
        """Frame times (references, then the query) and whether each is inside the source (and its segment).

        A context training sample (``g`` given) draws its references: with p ``context.bidirectional_p`` tau of the
        frames within tau*delta before *or after* the query (a second pass predicts with both sides), else the tau
        before; a validation sample takes the tau before, as the default (causal) prediction pass does."""
        if self.kind == "frame":
            return [s.t], [True]
        if self.kind == "dvos":  # references before the start repeat the first frame (the paper's clamping)
            return self.index.reference_times(s.t, s.start) + [s.t], [True] * (self.index.tau + 1)
        tau, d = self.index.tau, self.index.delta
        offsets = list(range(-tau, 0))
        if g is not None and self.train and float(torch.rand(1, generator=g)) < self.augment.context.bidirectional_p:
            both = torch.tensor([*range(-tau, 0), *range(1, tau + 1)])
            offsets = sorted(both[torch.randperm(len(both), generator=g)[:tau]].tolist())
        stop = self._source(s).n_frames if s.stop is None else s.stop
        raw = [s.t + d * o for o in offsets]
        inside = [s.start <= r < stop for r in raw] + [True]
        return [min(max(r, s.start), stop - 1) for r in raw] + [s.t], inside

    def read_clip_masks(self, s: Sample, query_only: bool = False, times=None):
        """uint8 frames (n, H, W, 3), masks (n, H, W) {0, 1} and ``known`` (n,): 1 = the frame has a mask, 0 = none,
        -1 = the slot lies outside its source or segment. ``query_only`` reads only the query's mask; ``times``:
        (frame times, inside flags) from :meth:`_times` (default: the plain ones)."""
        frames_arr, masks_arr, prov_arr = self._handles(s)
        times, inside = times if times is not None else self._times(s)
        mask_times = times[-1:] if query_only else times
        lo, hi = min(times), max(times) + 1  # one read of the span covering the clip, then pick its frames
        frames = self._span(s, frames_arr, lo, hi, "image", times)[np.asarray(times) - lo]
        if s.kind == "video":
            prov = self._span(s, prov_arr, lo, hi, "mask provenance", range(lo, hi))
            known = [1 if prov[t - lo] else 0 for t in mask_times]
            painted = [t for t, k in zip(mask_times, known) if k]
        else:
            known = [1] * len(mask_times)
            painted = mask_times
        masks = self._span(s, masks_arr, lo, hi, "mask", painted)[np.asarray(mask_times) - lo]
        known = [k if ok else -1 for k, ok in zip(known, inside[-len(mask_times) :])]
        return frames, (np.asarray(masks) > 0).astype(np.uint8), np.asarray(known, np.int8)

    # ---- items ---------------------------------------------------------------------------------------------------
    def __getitem__(self, item):
        i, aug_seed = item if isinstance(item, tuple) else (item, self.seed * 1_000_003 + int(item))
        s = self.index[int(i)]
        if self.kind == "context":
            return self._context_item(s, aug_seed)
        frames, mask = self.read_clip(s)
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)
        m = torch.zeros(x.shape[0], 1, *x.shape[-2:])
        m[-1, 0] = torch.from_numpy(mask).float()
        g = torch.Generator().manual_seed(int(aug_seed) & 0x7FFF_FFFF_FFFF_FFFF)
        cfg = self.augment
        if self.train:
            x, m = distort(*spatial_train(x, m, self.size, cfg, g), g, cfg.distort_p)
        else:
            x, m = spatial_eval(x, m, self.size, cfg.eval_crop)
        query = x[-1]
        inputs = x[:-1] if self.kind == "dvos" else x[-1:]
        degraded = (
            self.kind == "frame"
            and self.train
            and cfg.degrade_p > 0
            and float(torch.rand(1, generator=g)) < cfg.degrade_p
        )
        undegraded = inputs
        if degraded:
            inputs = degrade(inputs[0], g, cfg.context.degrade)[None]  # the clean frame stays the target
        state = g.get_state() if degraded and self.clean_view else None
        inputs = self._pixels(inputs, g)
        item = {}
        if self.kind == "frame":
            inputs = inputs[0]
            if self.clean_view and self.train:  # the image model's anchor: the frame before degradation, same pixels
                view = inputs if state is None else self._pixels_again(undegraded, state)[0]
                item["query_view"] = view.contiguous()
        return {
            "frames": inputs.contiguous(),
            **item,
            "target": normalize_float(query).contiguous(),
            "mask": m[-1].contiguous(),
            "weight": torch.tensor(s.weight, dtype=torch.float32),
        }

    def _pixels_again(self, x, state):
        """:meth:`_pixels` of ``x`` with the random draws that began at generator ``state``: an undegraded view gets
        the very pixel augmentation its degraded twin got (the anchor's clean view)."""
        return self._pixels(x, torch.Generator().set_state(state))

    def _pixels(self, x, g):
        """Per-frame colour, blur and patch diffusion in training; normalisation always."""
        if not self.train:
            return normalize_float(x)
        cfg = self.augment
        return patch_diffusion(normalize_float(blur(colour(x, cfg, g), cfg, g)), cfg, g)

    def _alignment(self, s: Sample, times: list, frames: np.ndarray) -> list:
        """Reference -> query matrices of a clip, estimated on the stored frames and cached per (source, times)."""
        from dvos_core.motion.align import SequenceAligner

        key = (s.key, tuple(times))
        if key not in self._aligned:
            if self._aligner is None:
                self._aligner = SequenceAligner()
            self._aligned[key] = self._aligner.align(list(frames), keys=[(s.key, t) for t in times], times=times)
        return self._aligned[key]

    def _context_clip(self, s: Sample, g) -> tuple:
        """The clip of a context item, its references warped onto the query and the whole clip cropped as one:
        frames (T+1, 3, S, S) in [0, 1], masks and coverage (T+1, 2, S, S), (frame times, inside flags), known.

        The crop is drawn first; only the part of the frames it reads (its window) is warped, converted and sampled,
        so the cost does not grow with the frame size (the same crop as of whole frames, see
        :func:`~dvos_core.data.augment.sample_window`)."""
        times = self._times(s, g)
        frames, masks, known = self.read_clip_masks(s, times=times)
        matrices = self._alignment(s, times[0], frames)
        cfg = self.augment
        h, w = frames.shape[1:3]
        if self.train:  # the query is not warped: its own mask places the crop
            params = draw_spatial(h, w, torch.from_numpy(masks[-1]).float(), cfg, g)
        else:
            params = eval_spatial(h, w, cfg.eval_crop)
        window = source_window(h, w, params, self.size)
        frames, masks, cover = warp_references(frames, masks, matrices, window)
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)
        m = torch.from_numpy(np.stack([masks, cover], 1)).float()
        x, m = sample_window(x, m, window, (h, w), params, self.size)
        if self.train:
            x, m = distort(x, m, g, cfg.distort_p)
        return x, m, times, known

    def _context_item(self, s: Sample, aug_seed: int) -> dict:
        """A context-model item: every frame's mask is read, the references are warped onto the query, the clip is
        cropped as one (:meth:`_context_clip`), then see :func:`~dvos_core.data.context_sample.context_sample`."""
        # validation items (plain indices) have a fixed seed: the same reference masks every epoch; they see the
        # frames as prediction does (no degradation, no emptied slot), as the image model's validation does
        g = torch.Generator().manual_seed(int(aug_seed) & 0x7FFF_FFFF_FFFF_FFFF)
        x, m, times, known = self._context_clip(s, g)
        cfg = self.augment
        steps = [times[0][-1] - r for r in times[0][:-1]]  # each reference's distance from the query, in frames
        sampling = cfg.context if self.train else cfg.context.for_validation()
        parts = context_sample(x, m, torch.from_numpy(known), sampling, g, steps=steps)
        valid, degraded = parts["ref_valid"], parts["query_degraded"]
        frames_in = torch.cat([parts["refs"], parts["query"][None]])
        state = g.get_state() if degraded and self.clean_view else None
        frames_in = self._pixels(frames_in, g) * torch.cat([valid, torch.ones(1)]).view(-1, 1, 1, 1)
        query_view = frames_in[-1]
        if state is not None:  # the query before degradation, with the very same pixel augmentation (the clean view)
            query_view = self._pixels_again(torch.cat([parts["refs"], x[-1:]]), state)[-1]
        return {
            "query": frames_in[-1].contiguous(),
            "query_view": query_view.contiguous(),
            "refs": frames_in[:-1].contiguous(),
            "ref_masks": parts["ref_masks"].contiguous(),
            "ref_valid": valid,
            "query_clean": torch.tensor(0.0 if degraded else 1.0),
            "target": normalize_float(x[-1]).contiguous(),
            "mask": m[-1, :1].contiguous(),
            "weight": torch.tensor(s.weight, dtype=torch.float32),
        }


class ClipSampler(torch.utils.data.Sampler):
    """Weighted sampling with replacement (training) or a plain ordered pass (validation), sharded over ranks.

    Yields ``(index, augmentation seed)``; the draw depends only on (seed, epoch), so every rank agrees and a resumed
    run repeats the same epoch. Call :meth:`set_epoch` before each epoch.
    """

    def __init__(
        self,
        index: ClipIndex,
        num_samples: int | None = None,
        weighted: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ):
        self.index, self.weighted, self.seed, self.shuffle = index, weighted, int(seed), shuffle
        self.rank, self.world_size = int(rank), int(world_size)
        total = len(index) if num_samples is None else int(num_samples)
        self.per_rank = -(-total // self.world_size)
        self.epoch = 0
        self.skip = 0  # items of this rank's share to skip (resuming in the middle of an epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return max(0, self.per_rank - self.skip)

    def _draw(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        n = self.per_rank * self.world_size
        if self.weighted:
            w = torch.as_tensor(self.index.weights, dtype=torch.float64)
            if float(w.sum()) <= 0:
                raise ValueError("all sample weights are zero; raise some provenance weights")
            return torch.multinomial(w, n, replacement=True, generator=g)
        order = torch.randperm(len(self.index), generator=g) if self.shuffle else torch.arange(len(self.index))
        return torch.cat([order, order[: n - len(order)]]) if n > len(order) else order[:n]

    def __iter__(self):
        draw = self._draw()
        positions = range(self.rank, len(draw), self.world_size)[self.skip :]
        base = (self.seed * 1_000_003 + self.epoch) * 10_000_019
        for p in positions:
            yield int(draw[p]), base + p


class EvalSampler(torch.utils.data.Sampler):
    """Each validation sample exactly once, split over ranks (no padding, so frame-weighted metrics are exact)."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1):
        self.items = list(range(rank, n, world_size))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)
