"""Lazy, frame-exact readers for video files, multi-page TIFFs and folders of images.

``open_video(path)`` returns a :class:`VideoReader`: ``len(r)``, ``r[k]`` (frame k as (H, W, 3) uint8 RGB),
iteration, ``r.read_range(start, stop)``, ``r.fps``, ``r.height``, ``r.width``, ``r.path``; use it as a context
manager or call ``close()``.

Frame exactness for compressed video (OpenCV/FFmpeg): reading forward decodes sequentially, so frame k is the k-th
decoded frame. A jump (backwards, or more than ``forward_window`` frames ahead) seeks with ``CAP_PROP_POS_FRAMES``
only if seeking was verified on this file: on the first jump the reader decodes the first frames sequentially,
lists the presentation time of every frame (from the file's packets, without decoding them), then seeks to several
of the first frames out of order and compares checksums. Frames evenly spaced in time: each later seek is checked
against the position FFmpeg reports. Otherwise (variable frame rate: phones drop frames in dim light) FFmpeg, which
seeks by time, may land a few frames off; the reader looks up the time of the frame it landed on and decodes forward
to the right frame, or seeks again earlier. If a check fails the reader warns once and falls back to decoding from the
start (slow but exact). The frame count is the container's count after checking that its last frame decodes;
otherwise (truncated or damaged files, or containers without a count) frames are counted by decoding, with a
warning when the header lied. Of a file cut off in a packet, the frames the decoder still holds are counted too (see
``_held_frames``).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from dvos_core.io.convert import to_rgb8
from dvos_core.io.image_files import opencv_name
from dvos_core.shell import quote, user_path
from dvos_core.user_warnings import warn_user

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
TIME_TOLERANCE_MS = 0.5  # a seek landed on a frame when FFmpeg reports its time to within this (frames 4+ ms apart)
TAIL_FRAMES = 16  # frames a decoder may still hold when a truncated file's last packet is cut off (B-frame delay)
TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
UNREAD_PHOTO_SUFFIXES = (".heic", ".heif", ".webp", ".dng", ".avif")  # phone formats dvos does not read


def quiet_opencv_video():
    """OpenCV, with FFmpeg's and OpenCV's own log lines about a damaged or odd video file kept off the terminal
    (``moov atom not found``, ``can't be used to capture by name``): dvos's own error names the file and the fix.
    A level the user set (``OPENCV_FFMPEG_LOGLEVEL``, ``OPENCV_LOG_LEVEL``) or ``DVOS_DEBUG=1`` keeps the lines."""
    import os

    import cv2

    from dvos_core.user_warnings import debug_from_environment

    if not debug_from_environment():  # DVOS_DEBUG=0 is off, as for the traceback
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when OpenCV first opens a video
        if "OPENCV_LOG_LEVEL" not in os.environ:
            logging = getattr(getattr(cv2, "utils", None), "logging", None)  # OpenCV 4.13 and later
            if logging is not None:
                logging.setLogLevel(logging.LOG_LEVEL_ERROR)
            elif hasattr(cv2, "setLogLevel"):  # OpenCV 4.12 and earlier
                cv2.setLogLevel(2)  # LOG_LEVEL_ERROR
    return cv2


def natural_key(name: str):
    """Sort key so that 'f2.png' comes before 'f10.png' (names that tie, 'f1.png' and 'f01.png', in name order)."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)], name


def is_hidden(path) -> bool:
    """Whether ``path`` names a hidden file (a name starting with '.'): macOS leaves '._frame_001.png' resource
    forks and '.DS_Store' beside copied files, which are no frames or masks."""
    return Path(path).name.startswith(".")


def image_files(folder, suffixes) -> list[Path]:
    """The files of ``folder`` with one of ``suffixes`` (any case), hidden files left out, in natural name order.
    A link among them whose target is missing is an error naming it (left out, it made a gap in the frames)."""
    found = [p for p in Path(folder).iterdir() if p.suffix.lower() in suffixes and not is_hidden(p)]
    for p in found:
        if p.is_symlink() and not p.exists():
            raise FileNotFoundError(
                f"{p}: is a link to {os.readlink(p)}, which is missing; copy the file it named there, or remove "
                f"the link"
            )
    return sorted((p for p in found if p.is_file()), key=lambda p: natural_key(p.name))


def _frames_before(t: int) -> str:
    """What to say of the frames before an undecodable frame ``t``: they can be added alone."""
    return f"; the frames before it can be added alone (`dvos add-video --stop {t}`)" if t else ""


class VideoReader:
    """Base class: random access by index plus forward iteration; subclasses implement ``_get(k)``."""

    path: Path
    fps: float | None = None
    height: int = 0
    width: int = 0

    def __len__(self) -> int:
        return self._n

    def _index(self, k) -> int:
        k = int(k)
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"{self.path}: frame {k} out of range; it has {n} frames")
        return k

    def __getitem__(self, k):
        if isinstance(k, slice):
            return np.stack([self._get(i) for i in range(*k.indices(len(self)))])
        return self._get(self._index(k))

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_range(0, len(self))

    def iter_range(self, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[np.ndarray]:
        """Yield frames start, start+step, ... < stop one at a time (bounded memory)."""
        stop = len(self) if stop is None else min(int(stop), len(self))
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        for k in range(int(start), stop, int(step)):
            yield self._get(self._index(k))

    def read_range(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) as one (T, H, W, 3) uint8 array."""
        stop = len(self) if stop is None else stop
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"{self.path}: frames [{start}, {stop}) out of range; it has {len(self)} frames")
        if start == stop:
            return np.zeros((0, self.height, self.width, 3), np.uint8)
        return np.stack(list(self.iter_range(start, stop)))

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, frames={len(self)}, size={self.height}x{self.width})"


def reencode_command(path) -> str:
    """The ffmpeg command that re-encodes video ``path`` to an H.264 .mp4 any OpenCV reads (8-bit, every frame kept
    at its own time, rotation applied)."""
    path = Path(opencv_name(path))
    out = path.with_name(f"{path.stem}_h264.mp4")
    return f'ffmpeg -i "{path}" -map 0:v:0 -c:v libx264 -pix_fmt yuv420p -crf 18 "{out}"'


class CV2VideoReader(VideoReader):
    """Video files through OpenCV's FFmpeg backend (see the module docstring for how exactness is kept).

    ``seek``: 'auto' (verify, then use), 'never' (always decode forward; reopens for backward jumps).
    """

    forward_window = 48  # jumps this short are decoded forward instead of seeking
    probe_frames = 64  # frames decoded to verify seeking

    def __init__(self, path, seek: str = "auto"):
        self._cv2 = cv2 = quiet_opencv_video()
        self.path = Path(path)
        if seek not in ("auto", "never"):
            raise ValueError(f"seek must be 'auto' or 'never', got {seek!r}")
        self._seek_ok: bool | None = False if seek == "never" else None
        self._times: np.ndarray | None = None  # presentation time (ms) of each frame, listed on the first seek
        self._cap = None
        self._open()
        cap = self._cap
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps < 1000 else None
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._last: tuple[int, np.ndarray] | None = None
        self._tail: dict[int, float] = {}  # frames handed out after a cut-off packet (truncated file): index -> ms
        self._n = self._count_frames(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        if self._n == 0:
            self.close()
            raise ValueError(f"{self.path}: the video has no decodable frames (empty, corrupt or truncated file)")
        if self.height <= 0 or self.width <= 0:
            f = self._get(0)
            self.height, self.width = f.shape[:2]

    # ---- low level ------------------------------------------------------------------------------------------
    def _open(self) -> None:
        if self._cap is not None:
            self._cap.release()
        cap = self._cv2.VideoCapture(opencv_name(self.path), self._cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            if self.path.stat().st_size == 0:
                raise ValueError(f"{self.path}: the file is empty (0 bytes); copy it again from the camera")
            raise ValueError(
                f"{self.path}: cannot open this video: OpenCV's FFmpeg finds no video it can decode in it (a "
                f"corrupt or truncated file, e.g. a recording cut off by a flat battery or a full card; a file "
                f"with sound only; or a codec it does not support). If it plays elsewhere, re-encode it to "
                f"H.264: {reencode_command(self.path)} (or export it as a folder of PNGs)"
            )
        self._cap, self._pos = cap, 0  # _pos: index of the frame the next read() returns

    def _grab(self) -> bool:
        """Decode the next frame (without converting it). A frame of ``_tail`` comes out only when grabbed again
        after the cut-off packet fails, and is checked by its time."""
        ok = self._cap.grab()
        want = self._tail.get(self._pos)
        if want is None:
            return ok
        for _ in range(2):
            if ok:
                return abs(self._cap.get(self._cv2.CAP_PROP_POS_MSEC) - want) <= TIME_TOLERANCE_MS
            ok = self._cap.grab()
        return False

    def _read_next(self) -> np.ndarray:
        ok = self._grab()
        bgr = self._cap.retrieve()[1] if ok else None
        if not ok or bgr is None:
            raise ValueError(
                f"{self.path}: frame {self._pos} cannot be decoded (file damaged or truncated); "
                f"it reports {len(self)} frames{_frames_before(self._pos)}"
            )
        self._pos += 1
        return self._to_rgb(bgr)

    def _to_rgb(self, bgr: np.ndarray) -> np.ndarray:
        if bgr.ndim == 2:
            return to_rgb8(bgr, str(self.path))
        return np.ascontiguousarray(to_rgb8(bgr, str(self.path))[..., ::-1])

    def _skip(self, n: int) -> None:
        for _ in range(n):
            if not self._grab():
                raise ValueError(
                    f"{self.path}: frame {self._pos} cannot be decoded (file damaged or truncated)"
                    f"{_frames_before(self._pos)}"
                )
            self._pos += 1

    def _count_frames(self, n_header: int) -> int:
        """The header's count when its last frame decodes (and nothing follows), else count by decoding."""
        cv2 = self._cv2
        if n_header > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, n_header - 1)
            ok = self._cap.grab() and self._cap.retrieve()[0]
            extra = self._cap.grab() if ok else False
            self._open()
            if ok and not extra:
                return n_header
        times = []
        while self._cap.grab():
            times.append(self._cap.get(cv2.CAP_PROP_POS_MSEC))
        self._tail = self._held_frames(times)
        n = len(times) + len(self._tail)
        self._open()
        if n_header > 0 and n != n_header:
            warn_user(
                f"{self.path}: the file header says {n_header} frames but {n} can be decoded; reading the {n} "
                f"decodable frames. Some files only estimate the count (an mkv or webm, a clip trimmed without "
                f"re-encoding), which is harmless; if the video should run longer than {n} frames the file is cut "
                f"short (an interrupted copy): copy it again",
            )
        return n

    def _held_frames(self, times: list[float]) -> dict[int, float]:
        """After the decoding read stopped (at ``len(times)`` frames of times ``times``): the frames the decoder
        still held, index -> time. A file cut off in a packet makes that packet fail, and the decoder keeps the
        frames it holds back for B-frames (the last 1 or 2 of an H.264 file); grabbing again hands them out. One is
        kept while it is the next frame in time at the video's constant frame rate: a frame after a missing one
        would be stored in that one's place."""
        if len(times) < 3:
            return {}
        steps = np.diff(times[-8:])
        if np.ptp(steps) > 2 * TIME_TOLERANCE_MS or steps[-1] <= 2 * TIME_TOLERANCE_MS:
            return {}  # variable frame rate (or no times): which frame would come next is unknown
        held, misses = {}, 0
        while len(held) < TAIL_FRAMES:
            if not self._cap.grab():
                misses += 1
                if held or misses > 2:
                    break
                continue
            t = self._cap.get(self._cv2.CAP_PROP_POS_MSEC)
            if abs(t - (held.get(len(times) + len(held) - 1, times[-1]) + steps[-1])) > TIME_TOLERANCE_MS:
                break
            held[len(times) + len(held)] = t
        return held

    # ---- random access --------------------------------------------------------------------------------------
    def _get(self, k: int) -> np.ndarray:
        if self._last is not None and self._last[0] == k:
            return self._last[1].copy()
        if not (self._pos <= k <= self._pos + self.forward_window):
            self._jump(min(k, len(self) - len(self._tail) - 1))  # a held frame: decoded forward from the one before
            if self._last is not None and self._last[0] == k:  # the seek landed on k and decoded it
                return self._last[1].copy()
        self._skip(k - self._pos)
        frame = self._read_next()
        self._last = (k, frame)
        return frame.copy()

    def _jump(self, k: int) -> None:
        """Position the decoder so that the next read returns frame k (or decode frame k into ``_last``)."""
        if self._seek_ok is None:
            self._seek_ok = self._verify_seeking()
        if self._seek_ok and self._times is None:  # constant frame rate: FFmpeg's frame numbers are exact
            self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, k)
            if int(round(self._cap.get(self._cv2.CAP_PROP_POS_FRAMES))) == k:
                self._pos = k
                return
            self._disable_seeking(f"seeking to frame {k} landed elsewhere")
        elif self._seek_ok:
            if self._seek_by_time(k):
                return
            self._disable_seeking(f"seeking to frame {k} landed elsewhere")
        if k < self._pos:
            self._open()

    def _seek_by_time(self, k: int) -> bool:
        """Variable frame rate: FFmpeg seeks by time, so it may land a few frames off. Find where it landed from
        the frame times and seek again earlier if it went past k; False when that fails."""
        cv2, target = self._cv2, k
        for _ in range(4):
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, target)
            if not self._cap.grab():  # FFmpeg's frame numbers of the last frames may pass the end: aim earlier
                if target == 0:
                    return False
                target = max(0, target - 16)
                continue
            j = self._frame_at(self._cap.get(cv2.CAP_PROP_POS_MSEC))
            if j is None:
                return False
            if j <= k:  # on k, or before it: the caller decodes forward from j + 1
                self._pos = j + 1
                if j == k:
                    ok, bgr = self._cap.retrieve()
                    if not ok or bgr is None:
                        return False
                    self._last = (k, self._to_rgb(bgr))
                return True
            if target == 0:
                return False
            target = max(0, target - (j - k) - 1)  # landed after k: aim that much earlier
        return False

    def _frame_at(self, msec: float) -> int | None:
        """Index of the frame shown at ``msec`` (from the frame times), None when no frame is there."""
        ts = self._times
        if ts is None or not np.isfinite(msec):
            return None
        j = int(np.searchsorted(ts, msec))
        for i in (j - 1, j):
            if 0 <= i < len(ts) and abs(ts[i] - msec) <= TIME_TOLERANCE_MS:
                return i
        return None

    def _list_times(self, raw: bool) -> np.ndarray | None:
        """Times (ms) FFmpeg reports for the frames, in order: from the packets without decoding (``raw``, sorted
        into display order) or by decoding every frame. None when OpenCV cannot do it."""
        cv2 = self._cv2
        cap = cv2.VideoCapture(opencv_name(self.path), cv2.CAP_FFMPEG)
        try:
            if not cap.isOpened() or (raw and not cap.set(cv2.CAP_PROP_FORMAT, -1)):
                return None
            ts = []
            while len(ts) <= len(self) and cap.grab():
                ts.append(cap.get(cv2.CAP_PROP_POS_MSEC))
        finally:
            cap.release()
        return np.sort(np.asarray(ts, float)) if raw else np.asarray(ts, float)

    def _frame_times(self, first: list[float]) -> tuple[bool, np.ndarray | None]:
        """(seeking usable, frame times). Frames evenly spaced in time (constant frame rate): (True, None), seeking
        by frame number is exact. Otherwise the time of every frame, from the packets when they agree with
        ``first`` (the times of the first frames, decoded), else by decoding them all; (False, None) when the
        times are not distinct and increasing."""
        n = len(self)
        ts = self._list_times(raw=True)
        if ts is not None and len(ts) >= n:
            gaps = np.diff(ts[:n])
            if not len(gaps) or np.ptp(gaps) <= 2 * TIME_TOLERANCE_MS:
                return True, None
        if ts is None or len(ts) != n or not np.allclose(ts[: len(first)], first, rtol=0, atol=TIME_TOLERANCE_MS):
            ts = self._list_times(raw=False)
        if ts is None or len(ts) != n or not np.all(np.diff(ts) > 2 * TIME_TOLERANCE_MS):
            return False, None
        return True, ts

    def _disable_seeking(self, why: str) -> None:
        self._seek_ok = False
        warn_user(
            f"{self.path}: {why}; random access falls back to decoding from the start (exact but slow). "
            f"Re-encode the video with regular keyframes for fast random access",
        )
        self._open()

    def _verify_seeking(self) -> bool:
        """Decode the first frames sequentially, list the frame times, then seek to some of the first frames out of
        order (by frame number, or by time in variable-frame-rate video) and compare checksums."""
        cv2 = self._cv2
        m = min(len(self), self.probe_frames)
        if m < 3:
            return False
        self._open()
        sums, times = [], []
        for _ in range(m):
            ok, bgr = self._cap.read()
            if not ok:
                self._open()
                return False
            sums.append(zlib.crc32(bgr.tobytes()))
            times.append(self._cap.get(cv2.CAP_PROP_POS_MSEC))
        self._open()
        good, self._times = self._frame_times(times)
        targets = sorted({m - 1, (2 * m) // 3, m // 2, m // 3, 1, m - 2}, reverse=True)
        for t in targets if good else ():
            bgr = self._probe_seek(t)
            if bgr is None or zlib.crc32(bgr.tobytes()) != sums[t]:
                good = False
                break
        self._last = None
        self._open()
        if not good:
            self._seek_ok = False
            warn_user(
                f"{self.path}: seeking in this file is not frame-exact; random access decodes from the "
                f"start instead (exact but slow)",
            )
        return good

    def _probe_seek(self, t: int) -> np.ndarray | None:
        """Frame t (BGR, as decoded) reached by seeking the way :meth:`_jump` will; None when that fails."""
        cv2 = self._cv2
        if self._times is None:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, t)
            ok, bgr = self._cap.read()
            return bgr if ok else None
        self._last = None
        if not self._seek_by_time(t):
            return None
        if self._last is None:  # landed before t: decode forward
            for _ in range(t - self._pos):
                if not self._cap.grab():
                    return None
            ok, bgr = self._cap.read()
            return bgr if ok else None
        ok, bgr = self._cap.retrieve()  # _seek_by_time decoded t already: the same decoded picture, as BGR
        return bgr if ok else None

    @property
    def seek_verified(self) -> bool | None:
        """True when fast seeking was verified, False when the reader decodes forward, None when not tested yet."""
        return self._seek_ok

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


CHANNELS = (1, 3, 4)  # grayscale, RGB, RGBA: the channel counts a frame may have
# A TIFF "frame" at most 4 pixels wide and 4 times taller than wide is a misread channel axis: tifffile stores an
# (H, W, 2) image, or (H, W, 3) saved as grayscale, as H pages of (W, C).
CHANNEL_LIKE_WIDTH = 4


def _shape_error(path, shape, axes, why: str) -> ValueError:
    return ValueError(
        f"{path}: TIFF of shape {tuple(shape)} (axes {axes or '?'}) {why}; dvos reads a frame stack (T, H, W) or "
        f"(T, H, W, C) with C = 1, 3 or 4 channels (grayscale, RGB, RGBA). Export the video in one of those shapes"
    )


def tiff_layout(shape, axes: str, path) -> tuple[int, tuple, bool]:
    """(frame count, frame shape (H, W) or (H, W, C), planar) of a TIFF series of ``shape`` with tifffile ``axes``
    (e.g. 'QYX', 'TYXS', 'SYX', 'QSYX').

    Y and X give the frame size. A sample axis ('S', a trailing axis of length 1, or a channel axis 'C' of 3 or 4
    just before Y, as ImageJ writes a (T, C, H, W) colour stack) gives the channels, 1, 3 or 4;
    ``planar`` when it comes before Y. At most one other axis longer than 1 counts frames, and it must come first.
    Anything else raises a ValueError naming ``path``, the shape, the axes and what is wrong (a 'C' axis of 2
    channels is named as such, not as one more axis): never a silent misreading.
    """
    shape = tuple(int(n) for n in shape)
    axes = axes if axes and len(axes) == len(shape) else ""
    named = "S" in axes  # the file itself says which axis holds the samples (channels) of a pixel
    if not axes:  # no axis names: (..., H, W) or (..., H, W, 3|4)
        colour = len(shape) >= 3 and shape[-1] in (3, 4)
        axes = "Q" * (len(shape) - 2 - colour) + "YX" + "S" * colour
    y, x = axes.rfind("Y"), axes.rfind("X")
    if y < 0 or x != y + 1 or axes.count("S") > 1:
        raise _shape_error(path, shape, axes, "has no (height, width) plane")
    s_pos = axes.find("S")
    if s_pos < 0 and x == len(shape) - 2 and shape[-1] == 1:
        s_pos = len(shape) - 1  # (..., H, W, 1): one channel
    if s_pos < 0 and y > 0 and axes[y - 1] == "C" and shape[y - 1] in (3, 4):
        s_pos, named = y - 1, True  # an ImageJ colour stack (T, C, H, W) of 3 or 4 channels: planar colour
    c = shape[s_pos] if s_pos >= 0 else 1
    if c not in CHANNELS:
        raise _shape_error(path, shape, axes, f"has {c} channels")
    others = [i for i in range(len(shape)) if i not in (y, x, s_pos) and shape[i] > 1]
    ch = axes.find("C") if s_pos < 0 else -1
    if len(others) == 2 and ch in others:  # frames and a channel axis dvos cannot read as colour: say which
        t = others[0] if others[1] == ch else others[1]
        if shape[ch] not in CHANNELS:
            why = f"has {shape[ch]} channels (its C axis), not 1, 3 or 4"
        else:
            where = f"before its frames (axis {axes[t]})" if ch < t else "apart from height and width"
            why = f"keeps its {shape[ch]} channels (axis C) {where}, not just before height and width"
        raise _shape_error(path, shape, axes, why)
    if len(others) > 1:
        listed = ", ".join(axes[i] for i in others)
        raise _shape_error(path, shape, axes, f"has {len(others)} axes besides height, width and channels ({listed})")
    if others and (others[0] > y or (0 <= s_pos < others[0])):
        raise _shape_error(path, shape, axes, "keeps its frames after the image axes")
    h, w = shape[y], shape[x]
    if min(h, w) < 1:
        raise _shape_error(path, shape, axes, "is empty")
    if w <= CHANNEL_LIKE_WIDTH and h >= 4 * w and not named:  # a thin frame whose channels the file names is one
        raise _shape_error(path, shape, axes, f"would give frames {w} pixel(s) wide: its last axis looks like channels")
    frame = (h, w) if c == 1 else (h, w, c)
    return (shape[others[0]] if others else 1), frame, 0 <= s_pos < y


def _frame(a: np.ndarray, frame: tuple, planar: bool) -> np.ndarray:
    """Raw pixels of one frame as (H, W) or (H, W, C) (planar TIFFs store the channels first)."""
    a = np.asarray(a)
    if planar:
        h, w, c = frame
        return np.moveaxis(a.reshape(c, h, w), 0, -1)
    return a.reshape(frame)


def imagej_channel_stack(tf) -> bool:
    """Whether ``tf`` is an ImageJ stack of 3 or 4 grey pages on a channel axis alone (axes CYX): what
    ``tifffile.imwrite(path, frames, imagej=True)`` writes for 3 or 4 grayscale frames, and also how ImageJ keeps
    a 3- or 4-channel colour image."""
    series = tf.series
    if len(series) != 1 or series[0].axes != "CYX" or series[0].shape[0] not in (3, 4):
        return False
    pages = list(tf.pages)
    return len(pages) == series[0].shape[0] and all(getattr(pg, "samplesperpixel", 1) == 1 for pg in pages)


def imagej_grey_planes(tf) -> bool:
    """Whether ``tf`` is an :func:`imagej_channel_stack` that ImageJ shows as grayscale images, one by one (its
    ``mode: grayscale``, as tifffile writes it): frames, not the planes of one colour frame ('composite' or
    'color' mode)."""
    return imagej_channel_stack(tf) and (tf.imagej_metadata or {}).get("mode") == "grayscale"


def tiff_frames(tf, path) -> tuple[int, Callable[[int], np.ndarray]]:
    """(frame count, get(k) -> raw (H, W[, C]) array of frame k) of an open ``tifffile.TiffFile``.

    The file's shape comes from its tifffile series (see :func:`tiff_layout`): one page per frame is read lazily,
    a stack stored in one page (contiguous ImageJ files) is read once on first use. Files written page by page
    (one series per page) give one frame per page. Errors are ValueErrors naming ``path`` (and the page); a page
    compressed with a codec tifffile cannot decode alone (LZW, JPEG, zstd... need ``imagecodecs``, a dependency)
    names that package, not a damaged file.
    """
    try:
        import imagecodecs  # noqa: F401  tifffile decodes LZW (OpenCV's and GIMP's default), JPEG, zstd... with it
    except ImportError:  # a broken install: the pages that need it say so when read
        pass
    try:
        pages = list(tf.pages)
        series = list(tf.series)
        shapes = [(tuple(s.shape), s.axes) for s in series]
    except Exception as e:  # tifffile raises many types for damaged files
        raise ValueError(f"{path}: cannot read this TIFF ({type(e).__name__}: {e})") from e
    if not pages or not series:
        raise ValueError(f"{path}: the TIFF has no frames")
    if len(series) > 1:  # written page by page: every page is a frame (sizes are checked when read)
        layouts = [tiff_layout(shape, axes, f"{path} page {k}") for k, (shape, axes) in enumerate(shapes)]
        if any(n != 1 for n, _, _ in layouts):
            shape, axes = shapes[next(i for i, (n, _, _) in enumerate(layouts) if n != 1)]
            raise _shape_error(path, shape, axes, f"mixes {len(series)} image series")
        n = len(layouts)

        def get(k):
            return _frame(series[k].asarray(), layouts[k][1], layouts[k][2])

    else:
        shape, axes = shapes[0]
        if imagej_grey_planes(tf):
            axes = "QYX"  # 3 or 4 grayscale frames, not the planes of one colour frame
        n, frame, planar = tiff_layout(shape, axes, path)
        if len(pages) == n:

            def get(k):
                return _frame(pages[k].asarray(), frame, planar)

        else:  # the whole stack lives in fewer pages than frames: read it once
            stack = []

            def get(k):
                if not stack:
                    stack.append(series[0].asarray().reshape(n, -1))
                return _frame(stack[0][k], frame, planar)

    def read(k: int) -> np.ndarray:
        try:
            return get(k)
        except Exception as e:
            if "imagecodecs" in str(e):  # tifffile: "<COMPRESSION.LZW: 5> requires the 'imagecodecs' package"
                raise ValueError(
                    f"{path} page {k}: its compression needs the imagecodecs package, which this Python lacks "
                    f"({e}); install it (`pip install imagecodecs`) and try again"
                ) from e
            raise ValueError(
                f"{path} page {k}: cannot be read ({type(e).__name__}: {e}); the file may be truncated or damaged"
            ) from e

    return n, read


DIM_16BIT = 16383  # a 16-bit first frame no brighter than this (14 bits) comes out at most a quarter bright


DIM_SAMPLES = 5  # frames, spread over the video, whose brightness decides (the first alone may be a lens cap)


def warn_dim_16bit(first: np.ndarray, read: Callable[[int], np.ndarray], n: int, path) -> None:
    """Warn when 16-bit frames use only the low bits (10-, 12- or 14-bit camera data): 16-bit is scaled by
    255/65535 (:func:`~dvos_core.io.convert.to_rgb8`), so such frames would be stored dark (at most 64 of 255).
    ``first`` is frame 0 as stored (read already by the caller) and ``read(k)`` gives frame k of ``n``; the brightest
    of up to :data:`DIM_SAMPLES` frames spread over them decides (the others read only when the first is 16-bit), by
    its 99.9th percentile, so that a black first frame or a few hot or saturated pixels do not hide dark footage."""
    first = np.asarray(first)
    if first.dtype != np.uint16 or not first.size:
        return
    picks = sorted({int(k) for k in np.linspace(0, n - 1, min(n, DIM_SAMPLES))} - {0})
    frames = [first, *(read(k) for k in picks)]
    level = max(int(np.percentile(f, 99.9)) for f in frames)
    if 0 < level <= DIM_16BIT:  # (an all-black video is black)
        top = (level * 255 + 32767) // 65535
        hot = max(int(f.max()) for f in frames) > DIM_16BIT
        warn_user(
            f"{path}: 16-bit frames no brighter than {level} of 65535"
            f"{' (but for a few hot or saturated pixels)' if hot else ''} (10-, 12- or 14-bit camera data?): dvos "
            f"scales 16-bit by 255/65535, so they are stored dark or almost black (brightest pixels {top} of 255). "
            f"Scale them to the full 16-bit range (or convert them to 8-bit) before importing",
        )


def _warn_planes_or_frames(tf, n: int, path) -> None:
    """Say how a TIFF of one image of 3 or 4 planes (axes SYX) is read: as one colour frame. ``tifffile.imwrite``
    writes a stack of 3 or 4 grayscale frames exactly so (as of 2026), so the file alone cannot tell them apart."""
    series = tf.series
    if n != 1 or len(series) != 1 or len(tf.pages) != 1 or series[0].axes[:1] != "S":
        return
    c = int(series[0].shape[0])
    if c not in (3, 4):
        return
    warn_user(
        f"{path}: holds one image of {c} planes (shape {tuple(series[0].shape)}), read as one colour frame "
        f"(planes red, green, blue{', alpha dropped' if c == 4 else ''}). If it holds {c} grayscale frames (that is "
        f"how tifffile.imwrite saves a stack of {c} frames unless told otherwise), save them again with "
        f"tifffile.imwrite(path, frames, photometric='minisblack') and add that file instead",
    )


class TiffReader(VideoReader):
    """A multi-page TIFF (one frame per page, read lazily) or a single (T, H, W[, C]) TIFF stack."""

    def __init__(self, path):
        import tifffile

        self.path = Path(path)
        try:
            self._tf = tifffile.TiffFile(str(self.path))
        except Exception as e:  # tifffile raises many types for damaged files
            raise ValueError(f"{self.path}: cannot read this TIFF ({type(e).__name__}: {e})") from e
        try:
            self._n, self._read = tiff_frames(self._tf, self.path)
            _warn_planes_or_frames(self._tf, self._n, self.path)
            raw = self._read(0)
            first = to_rgb8(raw, f"{self.path} page 0")
            warn_dim_16bit(raw, self._read, self._n, self.path)
        except BaseException:
            self._tf.close()
            raise
        self.height, self.width = first.shape[:2]
        self.fps = None

    def _get(self, k: int) -> np.ndarray:
        where = f"{self.path} page {k}"
        f = to_rgb8(self._read(k), where)
        if k and f.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"{where}: size {f.shape[:2]} differs from page 0 ({self.height}, {self.width}); all "
                f"frames must have one size"
            )
        return f

    def close(self) -> None:
        self._tf.close()


def _jpeg_complete(path: Path) -> bool:
    """Whether a JPEG file holds its end-of-image marker near its end (a truncated copy lacks it; OpenCV decodes
    what is there and fills the rest grey, without an error)."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 1024))
        return b"\xff\xd9" in f.read()


def read_image(path) -> np.ndarray:
    """Read one image file (PNG/JPG/BMP through OpenCV, TIFF through tifffile) in its own dtype, RGB order."""
    path = user_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found")
    if path.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        try:
            tf = tifffile.TiffFile(str(path))
        except Exception as e:
            raise ValueError(f"{path}: cannot read this TIFF ({type(e).__name__}: {e})") from e
        with tf:
            n, read = tiff_frames(tf, path)  # planar colour and (H, W, 1) come out as (H, W[, C])
            if n != 1:
                raise ValueError(
                    f"{path}: this TIFF holds {n} frames where one image is expected; save one image per file, "
                    f"or give the multi-page TIFF as a file of its own (dvos add-video PROJECT FILE, dvos "
                    f"import-masks PROJECT VIDEO FILE)"
                )
            return read(0)
    import cv2

    from dvos_core.io.image_files import decode_image

    try:
        a = decode_image(path, cv2.IMREAD_UNCHANGED)  # (keeps alpha and 16 bits, but ignores EXIF orientation)
    except cv2.error as e:  # e.g. more pixels than OpenCV decodes (CV_IO_MAX_IMAGE_PIXELS)
        raise ValueError(f"{path}: cannot decode this image ({str(e).strip().splitlines()[-1]})") from None
    jpeg = is_jpeg(path)
    if jpeg and not _jpeg_complete(path):
        raise ValueError(
            f"{path}: the JPEG file is cut short (no end-of-image marker: an interrupted copy?); its missing rows "
            f"would be stored grey: copy it again"
        )
    if a is None and path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes: an interrupted copy?); copy it again")
    if a is None:
        raise ValueError(
            f"{path}: cannot decode this image (corrupt file or unsupported format); copy it again, convert it to PNG, "
            f"or move it out of the folder"
        )
    if a.ndim == 3 and a.shape[2] == 3:
        a = a[..., ::-1]
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(orient(a, _file_orientation(path) if jpeg else 1))


def is_jpeg(path) -> bool:
    """Whether the file holds a JPEG (it starts with the bytes FF D8 FF), whatever its name says: a JPEG saved as
    ``.png`` is one, a PNG saved as ``.jpg`` is not."""
    with open(path, "rb") as f:
        return f.read(3) == b"\xff\xd8\xff"


def jpeg_orientation(im) -> int:
    """The EXIF orientation tag (0x0112) of an open Pillow image, 1 to 8, when it holds a JPEG (by its content, not
    its name); 1 (as stored) for any other format or no tag. PNG's eXIf chunk is left alone: Pillow decodes a whole
    PNG to look for it, and phones write photos as JPEG. The one rule for frames, mask files and the size check."""
    if im.format != "JPEG":
        return 1
    try:
        o = int(im.getexif().get(0x0112, 1))
    except Exception:  # unreadable EXIF: the pixels as stored
        return 1
    return o if 1 <= o <= 8 else 1


def exif_orientation(path) -> int:
    """:func:`jpeg_orientation` of the image file ``path`` (1 without opening it in Pillow when it holds no JPEG)."""
    return _file_orientation(path) if is_jpeg(path) else 1


def _file_orientation(path) -> int:
    """:func:`jpeg_orientation` of the image file ``path``, opened in Pillow."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return jpeg_orientation(im)
    except Exception:  # unreadable header: the pixels as stored
        return 1


def orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels ``a`` (H, W[, C]) as displayed under EXIF ``orientation``: phones store a portrait photo as landscape
    pixels plus this tag (6: turn 90 degrees clockwise), and photo viewers show it upright."""
    if orientation in (5, 6, 7, 8):
        a = np.swapaxes(a, 0, 1)  # transpose, then flip:
    flip_rows = orientation in (3, 4, 7, 8)
    flip_cols = orientation in (2, 3, 6, 7)
    return a[:: -1 if flip_rows else 1, :: -1 if flip_cols else 1]


def _refuse_same_stems(folder: Path, files: list[Path]) -> None:
    """Refuse a folder where one frame is saved twice under different extensions (frame_001.png and frame_001.jpg):
    read in name order, every such frame would come twice."""
    by_stem: dict[str, list[str]] = {}
    for f in files:
        by_stem.setdefault(f.stem.lower(), []).append(f.name)
    twice = [names for names in by_stem.values() if len(names) > 1]
    if twice:
        shown = "; ".join(" and ".join(names) for names in twice[:5]) + (
            f"; and {len(twice) - 5} more" if len(twice) > 5 else ""
        )
        raise ValueError(
            f"{folder}: {len(twice)} frame(s) are saved twice under different extensions ({shown}); each would be "
            f"imported twice. Keep one file per frame (e.g. move the .jpg copies out of the folder)"
        )


_TRAILING_NUMBER = re.compile(r"(\d+)\D*$")


def name_without_number(stem: str) -> str:
    """A file stem up to its last number ('left_0012' -> 'left_'): the name its numbered sequence shares."""
    m = _TRAILING_NUMBER.search(stem)
    return stem[: m.start(1)] if m else stem


def file_numbers(files) -> list[int] | None:
    """The last number in each file's stem ('frame_0012.png' -> 12), or None if a name has none."""
    out = []
    for f in files:
        m = _TRAILING_NUMBER.search(Path(f).stem)
        if not m:
            return None
        out.append(int(m.group(1)))
    return out


class FolderReader(VideoReader):
    """A folder of images (PNG/JPG/TIFF/BMP), one frame per file, in natural name order (f2 before f10)."""

    def __init__(self, path, fps: float | None = None):
        self.path = Path(path)
        self.files = image_files(self.path, IMAGE_SUFFIXES)
        self._n = len(self.files)
        if self._n == 0:
            other = sorted(
                {
                    f.suffix
                    for f in self.path.iterdir()
                    if f.suffix.lower() in UNREAD_PHOTO_SUFFIXES and not is_hidden(f)
                }
            )
            hint = (
                f"; it holds {' / '.join(other)} files, which dvos does not read: convert them to JPEG or PNG "
                f"first (e.g. export them as JPEG from the phone or photo app)"
                if other
                else ""
            )
            subs = sorted(
                (
                    d.name
                    for d in self.path.iterdir()
                    if d.is_dir() and not is_hidden(d) and image_files(d, IMAGE_SUFFIXES)
                ),
                key=natural_key,
            )
            if subs and not other:  # a plot's folder of videos, each a folder of frames
                shown = ", ".join(subs[:5]) + (", ..." if len(subs) > 5 else "")
                hint = (
                    f"; its subfolders {shown} hold images: each is a video of its own (dvos add-video PROJECT "
                    f"{quote(self.path)}/*)"
                )
            raise ValueError(f"{self.path}: folder has no images ({', '.join(IMAGE_SUFFIXES)}){hint}")
        _refuse_same_stems(self.path, self.files)
        raw = read_image(self.files[0])
        first = to_rgb8(raw, str(self.files[0]))
        warn_dim_16bit(raw, lambda k: read_image(self.files[k]), len(self.files), self.path)
        self.height, self.width = first.shape[:2]
        self.fps = fps
        self._check_photo_sizes()

    def _check_photo_sizes(self) -> None:
        """Name every JPEG/PNG whose size (upright, from its header) differs from the first frame's, before any
        frame is imported: a folder of phone photos often mixes portrait and landscape shots."""
        from PIL import Image

        wrong = []
        for f in self.files[1:]:
            if f.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                continue
            try:
                with Image.open(f) as im:  # the header only
                    w, h = im.size
                    o = jpeg_orientation(im)
            except Exception:  # unreadable header: the frame's own read reports it
                continue
            size = (w, h) if o in (5, 6, 7, 8) else (h, w)
            if size != (self.height, self.width):
                wrong.append(f"{f.name} {size}")
        if wrong:
            shown = ", ".join(wrong[:10]) + (f" and {len(wrong) - 10} more" if len(wrong) > 10 else "")
            raise ValueError(
                f"{self.path}: {shown} {'differs' if len(wrong) == 1 else f'({len(wrong)} images) differ'} in size "
                f"(height, width) from the first image {self.files[0].name} ({self.height}, {self.width}). All "
                f"frames must have one size: move such images out of the folder (e.g. the portrait photos into a "
                f"folder of their own), or resize them to match"
            )

    def _get(self, k: int) -> np.ndarray:
        f = to_rgb8(read_image(self.files[k]), str(self.files[k]))
        if k and f.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"{self.files[k]}: size {f.shape[:2]} differs from the first image "
                f"{self.files[0].name} ({self.height}, {self.width}); all frames must have one size: move this image "
                f"out of the folder, or resize it to match"
            )
        return f


def open_video(path, **kwargs) -> VideoReader:
    """Open a video file, a multi-page TIFF or a folder of images as a lazy :class:`VideoReader`."""
    path = user_path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        return FolderReader(path, **kwargs)
    if not path.is_file():  # a FIFO (FFmpeg waited for a writer for ever) or a device (read as "0 bytes")
        raise ValueError(f"{path}: is not a regular file (a pipe or a device?); give a video file, a TIFF or a folder")
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return CV2VideoReader(path, **kwargs)
    if suffix in TIFF_SUFFIXES:
        return TiffReader(path)
    if suffix in IMAGE_SUFFIXES:  # one still: read as a folder of one image
        raise ValueError(
            f"{path}: a single image, not a video; to add it (a video of one frame, e.g. a still to paint heads on), "
            f"put it into a folder of its own and add that folder (a folder of images is read as a video's frames)"
        )
    raise ValueError(
        f"{path}: unsupported file type {suffix!r}; use a video ({', '.join(VIDEO_SUFFIXES)}), a "
        f"multi-page TIFF, or a folder of PNG/JPG images"
    )
