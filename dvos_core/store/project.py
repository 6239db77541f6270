"""The dvos project store: one Zarr v3 directory that is the single source of truth (see docs/store.md)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path

import zarr

from dvos_core.progress import ProgressFn
from dvos_core.store.migrate import MIGRATIONS
from dvos_core.store.objects import ObjectBank
from dvos_core.store.schema import SCHEMA_VERSION, STORE_FORMAT, SchemaVersionError, StoreError, check_id
from dvos_core.store.sequence import Background, Video
from dvos_core.store.synthetic import SyntheticSet

_GROUPS = ("videos", "objects", "backgrounds", "synthetic")
# Migrations from schema N to N+1 ({N: callable(project_path, progress)}) live in dvos_core.store.migrate.


def _root_attrs(path: Path) -> dict:
    """The root attrs of a dvos project, read straight from its zarr.json (no Zarr open, no version check)."""
    meta = path / "zarr.json"
    if not meta.exists():
        hint = "create it with `dvos new PATH`" if not path.exists() else "it is not a dvos project folder"
        raise StoreError(f"{path}: no dvos project here ({hint})")
    try:
        attrs = json.loads(meta.read_text()).get("attributes", {})
    except (OSError, ValueError) as e:
        raise StoreError(f"{meta}: unreadable project metadata ({e}); restore it from a backup") from e
    if attrs.get("format") != STORE_FORMAT:
        raise StoreError(f"{path} is a Zarr store but not a dvos project (format={attrs.get('format')!r})")
    return attrs


def _migratable(version) -> bool:
    return (
        isinstance(version, int)
        and not isinstance(version, bool)
        and version < SCHEMA_VERSION
        and all(v in MIGRATIONS for v in range(version, SCHEMA_VERSION))
    )


def _version_error(path: Path, attrs: dict) -> SchemaVersionError:
    version = attrs.get("schema_version")
    if _migratable(version):
        return SchemaVersionError(
            f"{path} uses store schema {version}; this dvos uses {SCHEMA_VERSION}. "
            f"Run `dvos migrate {path}` (back the folder up first)"
        )
    return SchemaVersionError(
        f"{path} uses store schema {version!r} (written by dvos {attrs.get('dvos_version', '?')}); this dvos "
        f"reads schema {SCHEMA_VERSION} only. Open it with the dvos version that wrote it, or export its "
        f"videos and masks and import them into a new project"
    )


class Project:
    """A dvos project store.

    >>> p = Project.create("field.dvos")
    >>> v = p.add_video_array("plot1", frames)       # or dvos_core.io.import_video(p, "plot1.mp4")
    >>> v.set_mask(0, mask, "manual")
    """

    def __init__(self, root: zarr.Group, path: Path, mode: str):
        self.root, self.path, self.mode = root, Path(path), mode

    # ---- open / create -----------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path, overwrite: bool = False) -> Project:
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            if not overwrite:
                raise StoreError(
                    f"{path} already exists; open it with Project.open, or pass overwrite=True "
                    f"(--overwrite) to replace it"
                )
            if (path / "zarr.json").exists():
                shutil.rmtree(path)
            else:
                raise StoreError(f"{path} exists and is not a dvos project; refusing to delete it")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            root = zarr.open_group(str(path), mode="w")
        except (PermissionError, OSError) as e:
            raise StoreError(f"cannot create project at {path}: {e.strerror or e}; choose a writable folder") from e
        for g in _GROUPS:
            root.create_group(g)
        ObjectBank.initialise(root["objects"])
        (path / "models").mkdir()
        (path / "reports").mkdir()
        from dvos_core import __version__

        root.attrs.update(
            {
                "format": STORE_FORMAT,
                "schema_version": SCHEMA_VERSION,
                "dvos_version": __version__,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
        )
        return cls(root, path, "r+")

    @classmethod
    def open(cls, path, mode: str = "r+") -> Project:
        """Open an existing project; ``mode='r'`` for read-only use."""
        path = Path(path)
        attrs = _root_attrs(path)
        if attrs.get("schema_version") != SCHEMA_VERSION:
            raise _version_error(path, attrs)
        root = zarr.open_group(str(path), mode="r" if mode == "r" else "r+")
        return cls(root, path, mode)

    @classmethod
    def migrate(cls, path, progress: ProgressFn | None = None) -> list[int]:
        """Upgrade a project in place to this dvos's schema (``dvos migrate PATH``; back the folder up first).

        Returns the schema versions it went through (e.g. ``[1, 2]``), or ``[]`` when the store is already current
        (nothing is changed then). A store of an unknown or newer schema raises ``SchemaVersionError``. Each step
        sets ``schema_version`` last, so a killed migration leaves the store at its last finished step; run it again.
        """
        path = Path(path)
        attrs = _root_attrs(path)
        version = attrs.get("schema_version")
        if version == SCHEMA_VERSION:
            return []
        if not _migratable(version):
            raise _version_error(path, attrs)
        if not os.access(path / "zarr.json", os.W_OK):
            raise StoreError(f"{path}: the project is not writable; migrate a writable copy")
        steps = [version]
        for v in range(version, SCHEMA_VERSION):
            MIGRATIONS[v](path, progress)
            steps.append(v + 1)
        return steps

    @classmethod
    def open_or_create(cls, path) -> Project:
        p = Path(path)
        return cls.open(p) if (p / "zarr.json").exists() else cls.create(p)

    # ---- info -----------------------------------------------------------------------------------------------------
    @property
    def attrs(self) -> dict:
        return dict(self.root.attrs)

    def __repr__(self) -> str:
        return f"Project({str(self.path)!r}, videos={self.video_ids()})"

    # ---- videos ---------------------------------------------------------------------------------------------------
    def video_ids(self) -> list[str]:
        return sorted(self.root["videos"].group_keys())

    def video(self, video_id: str) -> Video:
        if video_id not in self.root["videos"]:
            raise KeyError(f"{self.path}: no video {video_id!r}; videos are {self.video_ids()}")
        return Video(self.root["videos"][video_id], video_id, str(self.path))

    def videos(self, split: str | None = None) -> list[Video]:
        vs = [self.video(v) for v in self.video_ids()]
        return [v for v in vs if split is None or v.split == split]

    def create_video(self, video_id: str, height: int, width: int, **attrs) -> Video:
        """Create an empty video; fill it with ``append_frames``. attrs: source, fps, preprocessing, split, tags."""
        check_id(video_id, "video id")
        attrs.setdefault("split", "unassigned")
        attrs.setdefault("tags", {})
        return Video.create(self.root["videos"], video_id, height, width, attrs, str(self.path))

    def add_video_array(self, video_id: str, frames, **attrs) -> Video:
        """Create a video from an in-memory (T,H,W,3) uint8 array."""
        import numpy as np

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise ValueError(f"frames must be a non-empty (T,H,W,3) uint8 array, got {frames.shape} {frames.dtype}")
        v = self.create_video(video_id, frames.shape[1], frames.shape[2], **attrs)
        v.append_frames(frames)
        return v

    def delete_video(self, video_id: str) -> None:
        self.video(video_id)
        del self.root["videos"][video_id]

    # ---- backgrounds ------------------------------------------------------------------------------------------
    def background_ids(self) -> list[str]:
        return sorted(self.root["backgrounds"].group_keys())

    def background(self, bg_id: str) -> Background:
        if bg_id not in self.root["backgrounds"]:
            raise KeyError(f"{self.path}: no background clip {bg_id!r}; have {self.background_ids()}")
        return Background(self.root["backgrounds"][bg_id], bg_id, str(self.path))

    def delete_background(self, bg_id: str) -> None:
        self.background(bg_id)
        del self.root["backgrounds"][bg_id]

    def create_background(self, bg_id: str, height: int, width: int, **attrs) -> Background:
        check_id(bg_id, "background id")
        return Background.create(self.root["backgrounds"], bg_id, height, width, attrs, str(self.path))

    # ---- objects ----------------------------------------------------------------------------------------------
    @property
    def objects(self) -> ObjectBank:
        return ObjectBank(self.root["objects"], str(self.path))

    # ---- synthetic ----------------------------------------------------------------------------------------------
    def synthetic_ids(self) -> list[str]:
        return sorted(self.root["synthetic"].group_keys())

    def synthetic(self, name: str) -> SyntheticSet:
        if name not in self.root["synthetic"]:
            raise KeyError(f"{self.path}: no synthetic set {name!r}; have {self.synthetic_ids()}")
        return SyntheticSet(self.root["synthetic"][name], name, str(self.path))

    def create_synthetic(
        self, name: str, n_clips: int, n_frames: int, height: int, width: int, **attrs
    ) -> SyntheticSet:
        check_id(name, "synthetic set name")
        return SyntheticSet.create(
            self.root["synthetic"], name, n_clips, n_frames, height, width, attrs, str(self.path)
        )

    def delete_synthetic(self, name: str) -> None:
        self.synthetic(name)
        del self.root["synthetic"][name]

    # ---- models and reports (plain files beside the Zarr arrays) ----------------------------------------------
    def model_dir(self, name: str, create: bool = False) -> Path:
        check_id(name, "model name")
        d = self.path / "models" / name
        if create:
            d.mkdir(parents=True, exist_ok=True)
        return d

    def model_names(self) -> list[str]:
        d = self.path / "models"
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.exists() else []

    def report_dir(self, name: str, create: bool = False) -> Path:
        check_id(name, "report name")
        d = self.path / "reports" / name
        if create:
            d.mkdir(parents=True, exist_ok=True)
        return d

    def report_names(self) -> list[str]:
        d = self.path / "reports"
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.exists() else []

    # ---- summary ------------------------------------------------------------------------------------------------
    def summary(self) -> dict:
        """Plain-dict overview used by `dvos info` and the Project dock."""
        vids = []
        for v in self.videos():
            a = v.attrs
            vids.append(
                {
                    "id": v.name,
                    "frames": v.n_frames,
                    "size": [a["height"], a["width"]],
                    "split": v.split,
                    "complete": v.import_complete,
                    "fps": a.get("fps"),
                    "source": a.get("source"),
                    "tags": v.tags,
                    "provenance": {k: c for k, c in v.provenance_counts().items() if c and k != "none"},
                }
            )
        ob = self.objects
        return {
            "path": str(self.path),
            "schema_version": self.attrs.get("schema_version"),
            "videos": vids,
            "objects": {"head": ob.count("head"), "fake": ob.count("fake")},
            "backgrounds": {b: self.background(b).n_frames for b in self.background_ids()},
            "synthetic": {
                s: {"clips_done": int(len(self.synthetic(s).done())), "clips": self.synthetic(s).n_clips}
                for s in self.synthetic_ids()
            },
            "models": self.model_names(),
            "reports": self.report_names(),
        }
