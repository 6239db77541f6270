"""Image and video files through OpenCV, whatever their names. OpenCV takes a file name only as UTF-8 text and
crashed the process (a segmentation fault, no message) on a name that is not: bytes of another encoding, as files
copied from an older Windows computer or a camera card may have. Images are therefore decoded and encoded in
memory and read or written by Python, which takes every name the file system holds; a video reader or writer,
which must be given the name, is refused such a name with the fix. A written image also reports a full disk, which
``cv2.imwrite`` did not (it left an empty file and returned True)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dvos_core.store.fsops import io_step


def opencv_name(path) -> str:
    """``path`` as OpenCV's video readers and writers (FFmpeg) must be given it: absolute, so that a relative name
    with a colon (a timestamp such as ``2023-06-14T10:30:00.mp4``) is not read as a protocol, and UTF-8 text (a
    ValueError naming the file and the fix otherwise). A UTF-8 name that Python holds with escaped bytes, because it
    runs in an ASCII ("C") locale, is given as the text it is."""
    name = str(Path(path).absolute())
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(name)
        try:
            return raw.decode("utf-8")  # OpenCV encodes it back to these very bytes
        except UnicodeDecodeError:
            pass
        shown = raw.decode("utf-8", "backslashreplace")
        raise ValueError(
            f"{shown}: the name holds bytes that are not UTF-8 text (a file copied from an older Windows computer or "
            f"a camera card?), and OpenCV, which reads and writes videos for dvos, cannot open such a name: rename "
            f"the file or folder (e.g. `convmv -f latin1 -t utf8 -r --notest FOLDER`), then try again"
        ) from None
    return name


def decode_image(path, flags: int) -> np.ndarray | None:
    """``cv2.imread(path, flags)`` for any file name: None when OpenCV cannot decode the bytes (a cv2.error where
    it refuses them, e.g. more pixels than it decodes)."""
    import cv2

    data = np.fromfile(Path(path), np.uint8)
    return cv2.imdecode(data, flags) if data.size else None  # (OpenCV asserts on an empty buffer)


def write_image(path, image: np.ndarray, step: str) -> None:
    """Write ``image`` (OpenCV's channel order) to ``path`` in the format its suffix names, for any file name. A
    failed write (a full disk, a folder that is not writable) removes what it left and raises a StoreWriteError
    naming the file, ``step`` and the fix."""
    import cv2

    path = Path(path)
    ok, data = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot write a {path.suffix or 'suffix-less'} image")
    with io_step(path, step):
        f = open(path, "wb")  # noqa: SIM115 (a file that cannot be opened, write-protected say, is left as it is)
        try:
            with f:
                f.write(data.tobytes())
        except OSError:
            if path.is_file() and not path.is_symlink():  # what the write left (never a device or a link's target)
                path.unlink()
            raise
