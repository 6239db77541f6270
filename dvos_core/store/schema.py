"""Store schema constants: version, provenance codes, errors. See docs/store.md."""

from __future__ import annotations

import re

# 2: objects table as append-only JSON lines (objects/records); 3: predictions per model (predictions/<model>/);
# 4: every chunk of a new array is written (an older dvos deleted all-zero chunk files, which reads as damage now).
# `dvos migrate` converts older stores.
SCHEMA_VERSION = 4
STORE_FORMAT = "dvos-project"

# Per-frame mask provenance codes (uint8).
NONE, MANUAL, PSEUDO, PREDICTED, CORRECTED, SYNTHETIC = 0, 1, 2, 3, 4, 5
PROVENANCE = {
    "none": NONE,
    "manual": MANUAL,
    "pseudo": PSEUDO,
    "predicted": PREDICTED,
    "corrected": CORRECTED,
    "synthetic": SYNTHETIC,
}
PROVENANCE_NAMES = {v: k for k, v in PROVENANCE.items()}
# A mask write never replaces a mask of higher rank unless asked to (overwrite=True): human labels are protected.
PROVENANCE_RANK = {NONE: 0, PREDICTED: 1, PSEUDO: 2, SYNTHETIC: 3, MANUAL: 4, CORRECTED: 4}
# Provenances that count as training labels by default (predictions are opt-in: self-training).
LABEL_PROVENANCES = (MANUAL, PSEUDO, CORRECTED, SYNTHETIC)

SPLITS = ("train", "val", "test", "unassigned")
INPAINTED = "inpainted"  # the origin attribute of background clips inpainted from painted frames

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# Names an id may not take: Zarr's metadata files (v3 and v2) and device names Windows will not create as folders.
# Compared case-insensitively (macOS and Windows folders are case-insensitive).
RESERVED_IDS = frozenset(
    {"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata", "con", "prn", "aux", "nul"}
    | {f"{dev}{k}" for dev in ("com", "lpt") for k in range(1, 10)}
)


class StoreError(ValueError):
    """Any problem with a dvos project store; the message names the path and the fix.

    A ``ValueError``: like every other bad-input error of dvos, it is one family (``except ValueError``)."""


class NotInStoreError(StoreError, KeyError):
    """The store holds no video, background clip, synthetic set, model, report or object of that name; the message
    lists what it has. A ``KeyError`` too (a lookup that failed), and a user error like every ``StoreError``."""

    def __str__(self) -> str:  # the message as written (a KeyError would show it quoted)
        return str(self.args[0]) if self.args else ""


class SchemaVersionError(StoreError):
    """The store was written with another schema version."""


def project_gone_error(path) -> NotInStoreError:
    """The error for a project whose folder is no longer where it was opened (moved, renamed or deleted meanwhile)."""
    return NotInStoreError(
        f"{path}: the project is no longer there (moved, renamed or deleted while this was running); open it where "
        f"it is now and run the step again (what was saved before is in it)"
    )


def check_project_here(path) -> None:
    """Refuse with :func:`project_gone_error` when project ``path`` no longer holds its ``zarr.json``."""
    from pathlib import Path

    if path is not None and not (Path(str(path)) / "zarr.json").is_file():
        raise project_gone_error(path)


class InterruptedImportError(StoreError):
    """The video is the leftover of an import that was killed (``import_complete`` False): it holds only the frames
    written before the kill. Commands that use a video's frames, masks or predictions refuse it; the message names
    the fix (add the video again under its id, which replaces it, or delete it)."""


class DamagedStoreError(StoreError):
    """A file of the store cannot be read back (a truncated or overwritten chunk, a corrupt ``zarr.json``); the
    message names the file and the fix (restore it from a backup, or delete the item and make it again)."""


class ProjectExistsError(StoreError):
    """``Project.create`` on a path that holds something, without ``overwrite``; ``path``: that path. Its message
    names the Python fix; ``dvos new`` words its own (``--overwrite``)."""

    def __init__(self, path):
        self.path = path
        super().__init__(f"{path} already exists; open it with Project.open, or pass overwrite=True to replace it")


class StoreWriteError(StoreError, OSError):
    """Writing a file of (or exported from) the store failed at the operating-system level (disk full, permission,
    ...); the message names the file and the step, ``errno`` is the system's."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


def provenance_code(p) -> int:
    """Accept a name ('manual') or a code (1) and return the code."""
    if isinstance(p, str):
        try:
            return PROVENANCE[p.lower()]
        except KeyError:
            raise ValueError(f"unknown provenance {p!r}; use one of {sorted(PROVENANCE)}") from None
    code = int(p)
    if code not in PROVENANCE_NAMES:
        raise ValueError(f"unknown provenance code {code}; use one of {sorted(PROVENANCE_NAMES)}")
    return code


def id_list(ids) -> list[str] | None:
    """``ids`` (of videos, sets, ...) as a list: one id given as text is a list of that id (a str is a sequence of
    letters: ``"plot3"`` was read as videos 'p', 'l', ...); None stays None."""
    if ids is None:
        return None
    return [ids] if isinstance(ids, str) else list(ids)


def check_id(name: str, what: str = "id") -> str:
    """Validate a video/background/set/model/report id: letters, digits, '_', '.', '-' (no slashes, no newline),
    at most 128 characters, starting with a letter or digit, and not a name the store itself uses (``zarr.json``)."""
    if not isinstance(name, str) or not _ID_RE.fullmatch(name):
        raise ValueError(
            f"invalid {what} {name!r}: use letters, digits, '_', '.', '-' (max 128), starting with a letter or digit"
        )
    if name.lower() in RESERVED_IDS:
        raise ValueError(f"invalid {what} {name!r}: the name is reserved (Zarr metadata or a device name); rename it")
    return name


def _id_text(text: str) -> str:
    """What an id keeps of ``text``: its letters (accents dropped), digits, '_', '.' and '-' (other runs become '_'),
    without '_', '.' or '-' at its ends; empty when nothing is left."""
    import unicodedata

    text = "".join(c for c in unicodedata.normalize("NFKD", str(text)) if not unicodedata.combining(c))
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")


def id_made_up(text: str) -> bool:
    """Whether :func:`safe_id` has to make the id up (``'video'``): ``text`` keeps no letter or digit."""
    return not _id_text(text)


def safe_id(text: str) -> str:
    """Turn a file stem into a valid id (used when ids are derived from file names). Accented letters lose their
    accents ('Parcelle été' -> 'Parcelle_ete'); other characters outside letters, digits, '_', '.' and '-' become
    '_'."""
    s = _id_text(text) or "video"
    if not s[0].isalnum():
        s = "v" + s
    s = s[:128]
    if s.lower() in RESERVED_IDS:
        s = s[:127] + "_"
    return s
