"""Running a model on uint8 frames of any size: checkpoint resolution, padding, tiling, blending, bf16 on CUDA.

A model with ``encode_frames`` / ``decode_windows`` (DVOSNet, FrameNet; see :mod:`dvos_core.infer.window` for the
protocol) is run in two halves: each frame (tile) is encoded once into a :class:`FeatureCache` and every window that
holds it decodes from the cached features, computing the mask head only. Any other module is called as
``model(x)["mask"]`` per window. ``optimize=False`` runs every model that plain way with stock kernels (the
benchmarks' baseline).
"""

from __future__ import annotations

import inspect
from functools import partial
from pathlib import Path

import numpy as np
import torch

from dvos_core.infer.fastconv import fast_cpu_copy
from dvos_core.infer.scales import Scales, averaged, reporters_by_scale, shrink, zoomed_shape
from dvos_core.infer.tiling import (
    MULTIPLE,
    Blender,
    TileFn,
    frame_tiles,
    largest_overlap,
    reflect_pad,
    round_up,
    tile_done,
)
from dvos_core.infer.window import Batch, FeatureCache, FrameCache
from dvos_core.progress import CancelToken, check
from dvos_core.shell import user_path
from dvos_core.user_warnings import warn_user

DEFAULT_OVERLAP = 64  # px tiles overlap by, unless told otherwise

FLIPS = (None, "h", "v", "hv")
SINGLE_TILE_PIXELS = 128 * 128  # on a CPU, tiles this large (pixels) are encoded and decoded one at a time


def frames_per_pass(device: torch.device, tile_pixels: int, n: int) -> int:
    """How many of ``n`` frames (or windows) of ``tile_pixels`` pixels go through a network at once: on a CPU, large
    tiles one at a time (their fast convolutions run one image at a time anyway, and the larger maps of a batch leave
    the caches); on a GPU all of them. Encoding: a video's first step, tau frames, then needs no more memory than the
    next ones and the kernel choice sees one set of shapes - 3.5 s less over the first six frames of the paper model
    at 512^2, peak memory 0.3 GB lower. Decoding: the paper model at 512^2, one thread, took 6.2-6.5 s per frame with
    4 windows at once, 5.3-5.9 s with 2 and 4.2-4.5 s one at a time; 3.5-3.7 against 2.7-3.0 s with 2 threads; the
    `small` one at 512^2 1.4-1.7 against 1.3 s. The context model's references one at a time: its network call
    1.2-1.3x faster (the demo's model, 256^2 and 512^2 tiles, one thread), prediction 1.01-1.12x per frame end to
    end (docs/benchmarks.md)."""
    if torch.device(device).type == "cpu" and tile_pixels >= SINGLE_TILE_PIXELS:
        return 1
    return max(1, int(n))


def resolve_checkpoint_path(project, spec) -> Path:
    """A checkpoint path from ``spec``: an existing file, a model name in the project (``models/<name>/best.pt``), or
    a model folder (its best.pt: :func:`~dvos_core.model.checkpoint.folder_checkpoint`, which also refuses a
    project folder or its models folder saying what it is). A bare name (no folder in it) is the project's model
    first: a folder of that name where the command runs is read only when the project has no model of that name
    (``./NAME`` always means the folder), and one that is no model folder (e.g. masks exported there) never hides
    the model nor its error."""
    from dvos_core.model.checkpoint import folder_checkpoint, names_a_model

    p = user_path(spec)
    if p.is_file():
        return p
    if project is not None and isinstance(spec, str) and "/" not in spec and "\\" not in spec:
        try:
            cand = project.model_dir(spec) / "best.pt"
        except ValueError:
            cand = None
        if cand is not None and cand.exists():
            if names_a_model(p) and p.resolve() != cand.parent.resolve():
                warn_user(
                    f"checkpoint {spec!r}: the project's model {spec!r} ({cand}) is used, not the model folder "
                    f"{p.resolve()} of the same name here; give ./{spec} for that folder"
                )
            return cand
        known = project.model_names()
        if cand is None and str(project.path / "models" / spec) in project.misnamed_models():
            from dvos_core.store.notes import misnamed_model_note

            raise FileNotFoundError(f"checkpoint {spec!r}: {misnamed_model_note(project.path / 'models' / spec)}")
        last = None if cand is None else cand.with_name("last.pt")
        if last is not None and last.is_file():  # a run stopped before its first validation: no best.pt yet
            raise FileNotFoundError(
                f"checkpoint {spec!r}: model {spec!r} has no best.pt yet (its training has not saved one: stopped "
                f"before a validation chose one, or its loss diverged), only last.pt: pass {last}, or train it "
                f"further (`dvos train` with the same --name resumes it)"
            )
        if names_a_model(p):  # no model of that name in the project: a model folder (or a project) of that path
            return folder_checkpoint(p)
        here = f"; the folder {p.resolve()} here holds no checkpoint (no best.pt)" if p.is_dir() else ""
        raise FileNotFoundError(
            f"checkpoint {spec!r}: no such file, and no model {spec!r} with best.pt in "
            f"{project.path / 'models'} (models there: {known or 'none'}){here}; train one with "
            f"`dvos train` or pass a checkpoint path"
        )
    if p.is_dir():  # a model folder: its best.pt (another folder is refused saying what it is)
        return folder_checkpoint(p)
    raise FileNotFoundError(f"checkpoint {spec}: no such file; pass the path of a .pt file written by `dvos train`")


def _bare_name(spec) -> bool:
    """Whether ``spec`` reads as a model's name rather than a file: a string with no folder in it, no such file (a
    folder of that name is no checkpoint)."""
    return isinstance(spec, str) and bool(spec) and "/" not in spec and "\\" not in spec and not Path(spec).is_file()


def checkpoint_in(project, spec):
    """``spec`` as :func:`~dvos_core.infer.predict.predict_video` and :func:`~dvos_core.infer.pseudo.pseudo_label`
    take it: the name of a model of ``project`` is its ``best.pt``, and so is a model folder's (as on the command
    line, see :func:`resolve_checkpoint_path`); a file, a ``(model, info)`` pair or a model is returned as it is."""
    folder = isinstance(spec, (str, Path)) and Path(spec).is_dir() and not _bare_name(spec)
    return resolve_checkpoint_path(project, spec) if (project is not None and _bare_name(spec)) or folder else spec


def load_model(checkpoint, device="auto"):
    """(model, info, device) from a path, a ``(model, info)`` pair, what this function returned (its device is not
    used: ``device`` is) or a bare model; the model is in eval mode."""
    from dvos_core.model import CheckpointError, load_checkpoint, select_device

    dev = select_device(device)  # a name or a torch.device: one this machine lacks is named, as --device does
    if isinstance(checkpoint, (tuple, list)):
        model, info = _model_and_info(checkpoint)
    elif isinstance(checkpoint, torch.nn.Module):
        model, info = checkpoint, {}
    elif _bare_name(checkpoint):  # a model's name means nothing without its project
        raise CheckpointError(
            f"{checkpoint}: no checkpoint file here; a model's name is known only within its project: pass its "
            f"file, project.model_dir({checkpoint!r}) / 'best.pt', or give the name with the project "
            "(dvos_core.infer.predict_video, pseudo_label)"
        )
    else:
        model, info = load_checkpoint(checkpoint, dev)
    info = dict(info or {})
    info.setdefault("kind", getattr(model, "kind", "dvos"))
    model = model.to(dev).eval()
    return model, info, dev


def _model_and_info(given) -> tuple:
    """(model, info) of a model passed as a tuple: ``(model, info)``, or :func:`load_model`'s ``(model, info,
    device)`` (it raised "too many values to unpack"); anything else is refused saying what to pass."""
    if len(given) == 2 or (len(given) == 3 and isinstance(given[2], (torch.device, str))):
        return given[0], given[1]
    kinds = ", ".join(type(g).__name__ for g in given)
    raise TypeError(
        f"a model passed as a tuple must be (model, info) or what load_model returns (model, info, device); got a "
        f"tuple of {len(given)} ({kinds}): pass a checkpoint path, a model, or one of these"
    )


def default_tile_size(info: dict) -> int:
    """The checkpoint's training size x 2 (a multiple of 32), or 512 when unknown."""
    size = info.get("input_size")
    if isinstance(size, (tuple, list)):
        size = max(size)
    return round_up(int(size) * 2) if size else 512


def has_feature_api(model) -> bool:
    """Whether ``model`` can be run in two halves (``encode_frames`` per frame, ``decode_windows`` per window)."""
    return callable(getattr(model, "encode_frames", None)) and callable(getattr(model, "decode_windows", None))


def _accepts_stochastic(model) -> bool:
    try:
        return "stochastic" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _flip_frames(x: np.ndarray, flip: str | None) -> np.ndarray:
    """Flip (..., H, W, 3) frames horizontally ('h') and/or vertically ('v')."""
    if flip and "h" in flip:
        x = x[..., :, ::-1, :]
    if flip and "v" in flip:
        x = x[..., ::-1, :, :]
    return x


def _flip_maps(p: np.ndarray, flip: str | None) -> np.ndarray:
    """Undo :func:`_flip_frames` on (..., H, W) maps."""
    if flip and "h" in flip:
        p = p[..., :, ::-1]
    if flip and "v" in flip:
        p = p[..., ::-1, :]
    return p


class _ShrunkFrames(dict):
    """Frames resized by ``zoom`` on first use, by frame id."""

    def __init__(self, frames: dict, zoom: float):
        super().__init__()
        self.frames, self.zoom = frames, zoom

    def __missing__(self, i):
        self[i] = shrink(self.frames[i], self.zoom)
        return self[i]


class _PaddedFrames(dict):
    """Frames flipped (TTA) and reflect-padded to the tile grid on first use, by frame id."""

    def __init__(self, frames: dict, flip: str | None, pad_h: int, pad_w: int):
        super().__init__()
        self.frames, self.flip, self.pad = frames, flip, (pad_h, pad_w)

    def __missing__(self, i):
        self[i] = reflect_pad(_flip_frames(self.frames[i], self.flip), *self.pad)
        return self[i]


def context_overlap(tile_size: int, overlap: int) -> int:
    """The overlap a context model's tiles use: at most a quarter of the tile (docs/evaluation.md; its
    :class:`~dvos_core.infer.context.ContextPredictor` cuts it so too), and at most
    what tiles of that size can have (:func:`~dvos_core.infer.tiling.largest_overlap`). A
    :class:`Predictor` of a context model cuts its overlap so, and says so when the overlap
    was asked for (not the default)."""
    return int(min(overlap, tile_size // 4, largest_overlap(tile_size)))


class BrokenModelError(ValueError):
    """A model's output is NaN: its weights are broken (see :func:`probabilities`)."""


def probabilities(logits: torch.Tensor) -> np.ndarray:
    """The sigmoid of a model's mask logits as a float32 array; a ValueError naming the fix when any is NaN (weights
    blown up by a training run that diverged: the store would only call them "not probabilities")."""
    p = torch.sigmoid(logits.float()).cpu().numpy()
    if np.isnan(p).any():
        raise BrokenModelError(
            "the model's output is NaN: its weights are broken, most likely by a training run that diverged (a "
            "learning rate too high); train it again with a lower --lr (default 1e-4), or predict with another model"
        )
    return p


class Predictor:
    """Applies a DVOS or frame model to uint8 inputs of any size and returns mask probabilities.

    Inputs: (B, tau, H, W, 3) windows for a DVOS model, (B, H, W, 3) frames for a frame model (:meth:`predict`), or
    windows of frame ids into a frame store (:meth:`predict_windows`, :meth:`predict_batch`). Frames are
    reflect-padded to multiples of 32; if larger than ``tile_size`` they are cut into overlapping tiles whose outputs
    are blended with a raised-cosine window, so memory depends on the tile size, not the frame size.

    ``optimize`` (default) encodes each frame tile once for all the windows that need it (models with the feature
    API), computes the mask head only, and on a CPU uses faster convolution kernels (:mod:`.fastconv`) on a
    parameter-sharing copy of the model. ``optimize=False`` is the plain path: one full forward per window.
    ``precision`` ("auto", "fp32", "bf16"; see :data:`dvos_core.prediction_options.PRECISIONS`): bfloat16 autocast
    on CUDA GPUs that have it by default, and on a CPU with native bfloat16 only when "bf16" is asked for.
    """

    def __init__(
        self,
        model,
        info: dict | None = None,
        device=None,
        tile_size: int | None = None,
        overlap: int | None = None,
        amp: bool = True,
        optimize: bool = True,
        precision: str = "auto",
        scales: str = "auto",
    ):
        from dvos_core.model.device import select_device, use_bf16

        self.model = model
        self.info = dict(info or {})
        self.device = select_device(device) if device is not None else next(model.parameters()).device
        self.kind = self.info.get("kind", getattr(model, "kind", "dvos"))
        self.tau = int(getattr(model, "tau", 0) or 0) if self.kind == "dvos" else 0
        if tile_size is not None and int(tile_size) < 1:
            raise ValueError(
                f"tile size must be a positive multiple of {MULTIPLE} (or None: automatic), got {tile_size}"
            )
        tile = int(tile_size) if tile_size else default_tile_size(self.info)
        # the overlap given (None: the default, cut without a word to what the tiles allow); ``overlap`` is the one used
        self.overlap_asked = None if overlap is None else int(overlap)
        asked = self.overlap_asked
        overlap = DEFAULT_OVERLAP if asked is None else asked
        if not tile_size:  # automatic tile size: keep the overlap sensible for small models (a context model's cap)
            overlap = context_overlap(tile, overlap)
            if asked is not None and asked != overlap:
                warn_user(
                    f"tile overlap {asked} px is more than the automatic tile size of {tile} px allows "
                    f"(at most a quarter of it): tiles overlap by {overlap} px; pass a tile size (--tile-size, "
                    f"tile_size=) to keep the overlap asked for"
                )
        elif asked is None and tile >= MULTIPLE:  # a small tile size given: the default overlap fits it
            overlap = min(overlap, largest_overlap(tile))
        if tile < MULTIPLE or tile % MULTIPLE:
            raise ValueError(f"tile size must be a positive multiple of {MULTIPLE}, got {tile}")
        if not 0 <= overlap <= largest_overlap(tile):
            raise ValueError(
                f"tile overlap must be between 0 and the tile size minus {MULTIPLE} ({largest_overlap(tile)}: tiles "
                f"start on a {MULTIPLE}-px grid), got {overlap}"
            )
        if self.kind == "context":  # a context model's tiles overlap by at most a quarter of the tile
            used = context_overlap(tile, overlap)
            if used != overlap and asked is not None:  # the default is cut without a word
                warn_user(
                    f"tile overlap {asked} px is more than a context model's {tile} px tiles allow (at most a quarter "
                    f"of the tile: {used} px): tiles overlap by {used} px; pass a tile size of {round_up(4 * asked)} "
                    f"or more (--tile-size, tile_size=) to keep the overlap asked for"
                )
            overlap = used
        self.tile_size, self.overlap = tile, int(overlap)
        # bf16 autocast: by default on CUDA GPUs that have it (as describe_device says); on a CPU only when asked
        self.amp = bool(amp) and use_bf16(self.device, precision)
        self.optimize = bool(optimize)
        self.cached = self.optimize and has_feature_api(model)
        # the fast CPU kernels are float32 kernels: in bf16 the stock (oneDNN) ones run
        fast = self.optimize and self.device.type == "cpu" and not self.amp
        self.net = fast_cpu_copy(model) if fast else model
        # skip diffusion (stochastic passes) is the paper's model's: the image model's skips are plain, so its
        # extra passes are flipped copies from the first (a stochastic pass of it would repeat the first)
        self.stochastic_capable = self.kind != "frame" and (self.cached or _accepts_stochastic(model))
        self.scales = Scales.from_info(self.info, scales)  # the frame's own scale and/or the trained one

    @property
    def number_format(self) -> str:
        """ "bf16" or "fp32": what this predictor computes in (recorded with its predictions)."""
        return "bf16" if self.amp else "fp32"

    # ---- scheduling ------------------------------------------------------------------------------------------
    def tiles(self, height: int, width: int):
        """(pad_h, pad_w, tiles) for frames of height x width."""
        return frame_tiles(height, width, self.tile_size, self.overlap)

    def chunk_size(self, batch_size: int, shape=None) -> int:
        """Targets per scheduling step. Tiled frames with a cached model go through the video in chunks of at least
        4 * tau frames, tile by tile, so only one tile's features are held (the first tau frames of each chunk and
        tile are encoded a second time); otherwise a step is one batch."""
        if not self.cached or shape is None or len(self.tiles(*shape)[2]) == 1:
            return batch_size
        return max(batch_size, 4 * self.tau)

    # ---- array inputs ----------------------------------------------------------------------------------------
    def predict(self, inputs: np.ndarray, stochastic: bool = False, flip: str | None = None) -> np.ndarray:
        """Probabilities (B, H, W) float32 for a batch of uint8 inputs; ``flip`` in {None,'h','v','hv'} (TTA)."""
        x = np.asarray(inputs)
        want = 5 if self.kind == "dvos" else 4
        if x.ndim != want or x.shape[-1] != 3:
            shape = "(B, tau, H, W, 3)" if want == 5 else "(B, H, W, 3)"
            raise ValueError(f"{self.kind} model input must be {shape} uint8 frames, got {x.shape}")
        if want == 5 and x.shape[1] != self.tau:
            raise ValueError(f"this DVOS model uses tau={self.tau} reference frames, got windows of {x.shape[1]}")
        if self.cached:  # the frames of each window are distinct ids here: nothing is shared between windows
            if want == 5:
                frames = {(b, k): x[b, k] for b in range(x.shape[0]) for k in range(x.shape[1])}
                windows = [[(b, k) for k in range(x.shape[1])] for b in range(x.shape[0])]
            else:
                frames, windows = {b: x[b] for b in range(x.shape[0])}, [[b] for b in range(x.shape[0])]
            return self.predict_windows(frames, windows, stochastic=stochastic, flip=flip)
        h, w = x.shape[-3], x.shape[-2]
        return averaged(
            self.scales.zooms(h, w),
            h,
            w,
            lambda z: self._predict_plain(x if z == 1 else shrink(x, z), stochastic, flip),
        )

    def _predict_plain(self, x: np.ndarray, stochastic: bool, flip: str | None) -> np.ndarray:
        """:meth:`predict` at one scale, one full forward per input."""
        b, h, w = x.shape[0], x.shape[-3], x.shape[-2]
        x = _flip_frames(x, flip)
        ph, pw, tiles = self.tiles(h, w)
        x = reflect_pad(x, ph, pw)
        blender = Blender(b, h + ph, w + pw, self.overlap)
        for tile in tiles:
            ys, xs = tile.slices
            blender.add(tile, self._forward(x[..., ys, xs, :], stochastic), single=len(tiles) == 1)
        return np.ascontiguousarray(_flip_maps(blender.result(h, w), flip))

    def _forward(self, x: np.ndarray, stochastic: bool) -> np.ndarray:
        from dvos_core.model import to_model_input

        # move uint8 (4x smaller than float) to the device, normalise there
        t = to_model_input(torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True))
        kwargs = {"stochastic": True} if stochastic and self.stochastic_capable else {}
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.net(t, **kwargs)["mask"]
        return probabilities(logits[:, 0])

    # ---- frame-id inputs (video streaming) -------------------------------------------------------------------
    def predict_batch(
        self,
        batch: Batch,
        frames: FrameCache,
        features: FeatureCache | None = None,
        batch_size: int | None = None,
        cancel: CancelToken | None = None,
        on_tile: TileFn | None = None,
    ) -> np.ndarray:
        """Probabilities (len(batch.targets), H, W) for a scheduled batch, reading its frames through ``frames``.

        With a cached model, ``features`` (one per video and predictor) keeps each frame tile's encoding for the next
        batches and ``batch_size`` caps the windows decoded at once; without, this is one plain forward per window.
        ``on_tile``: see :meth:`predict_windows`.
        """
        tau = 0 if batch.mode == "image" else self.tau
        if not self.cached:
            return self.predict(frames.batch_input(batch, tau))
        sources = batch.sources(tau)
        held = frames.fetch(i for s in sources for i in s)
        return self.predict_windows(held, sources, features, batch_size=batch_size, cancel=cancel, on_tile=on_tile)

    def predict_windows(
        self,
        frames: dict,
        windows: list,
        features: FeatureCache | None = None,
        stochastic: bool = False,
        flip: str | None = None,
        batch_size: int | None = None,
        cancel: CancelToken | None = None,
        on_tile: TileFn | None = None,
    ) -> np.ndarray:
        """Probabilities (len(windows), H, W): ``frames[i]`` is a uint8 (H, W, 3) frame and each window lists the ids
        of its frames, oldest first (tau ids for a DVOS model, one for a frame model).

        Tile by tile, each (frame, tile) is encoded once through ``features`` (a new cache when None) and at most
        ``batch_size`` windows are decoded at once (:meth:`at_once`: on a CPU, those of large tiles one at a
        time). Encoding is deterministic, so stochastic passes reuse it. ``on_tile(done, total)`` is called after
        each tile of a frame cut into several (counted over its scales): a pass over a large frame can take half a
        minute on a CPU, and a progress bar should move meanwhile.
        """
        if not self.cached:
            x = np.stack([np.stack([frames[i] for i in w]) if self.kind == "dvos" else frames[w[0]] for w in windows])
            return self.predict(x, stochastic, flip)
        features = features if features is not None else FeatureCache()
        h, w = next(iter(frames.values())).shape[:2]
        zooms = self.scales.zooms(h, w)
        said = reporters_by_scale(on_tile, zooms, h, w, lambda y, x: len(self.tiles(y, x)[2]))

        def at(z: float) -> np.ndarray:
            held = frames if z == 1 else _ShrunkFrames(frames, z)
            shape = (h, w) if z == 1 else zoomed_shape(h, w, z)
            args = (windows, features.at_zoom(z), stochastic, flip, batch_size, cancel, said[z])
            return self._predict_windows_at(held, shape, *args)

        return averaged(zooms, h, w, at)

    def _predict_windows_at(self, frames, shape, windows, features, stochastic, flip, batch_size, cancel, on_tile):
        """:meth:`predict_windows` at one scale: ``frames`` (id -> frame) already at it, of ``shape`` (H, W)."""
        h, w = shape
        ph, pw, tiles = self.tiles(h, w)
        padded = _PaddedFrames(frames, flip, ph, pw)
        step = max(1, int(batch_size or len(windows)))
        blender = Blender(len(windows), h + ph, w + pw, self.overlap)
        for j, tile in enumerate(tiles):
            for s in range(0, len(windows), step):
                check(cancel)
                sub = windows[s : s + step]
                keys = [(i, j, flip) for i in dict.fromkeys(i for win in sub for i in win)]
                got = dict(zip(keys, features.get(keys, partial(self._encode_keys, padded, tile))))
                held = [[got[(i, j, flip)] for i in win] for win in sub]
                d = self.at_once(tile.h * tile.w, len(held))
                probs = np.concatenate([self._decode(held[k : k + d], stochastic) for k in range(0, len(held), d)])
                blender.add(tile, probs, single=len(tiles) == 1, rows=slice(s, s + len(sub)))
            tile_done(on_tile, j + 1, len(tiles))
        return np.ascontiguousarray(_flip_maps(blender.result(h, w), flip))

    def at_once(self, tile_pixels: int, n: int) -> int:
        """How many of ``n`` tiles (to encode) or windows (to decode) of ``tile_pixels`` pixels go through the network
        at once (:func:`frames_per_pass`)."""
        return frames_per_pass(self.device, tile_pixels, n)

    def _encode_keys(self, padded: _PaddedFrames, tile, keys: list) -> list:
        ys, xs = tile.slices
        return self._encode([padded[k[0]][ys, xs] for k in keys])

    def _encode(self, tiles: list) -> list:
        """Encoder features of the tiles, :meth:`at_once` of them per pass."""
        from dvos_core.model import to_model_input

        step = self.at_once(tiles[0].shape[0] * tiles[0].shape[1], len(tiles))
        out = []
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            for s in range(0, len(tiles), step):
                t = to_model_input(torch.from_numpy(np.stack(tiles[s : s + step])).to(self.device, non_blocking=True))
                out += self.net.encode_frames(t)
        return out

    def _decode(self, windows: list, stochastic: bool) -> np.ndarray:
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.net.decode_windows(windows, stochastic=stochastic, heads=("mask",))["mask"]
        return probabilities(logits[:, 0])
