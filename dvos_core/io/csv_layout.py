"""The reference code's training-CSV layout: columns ``VID, FID, Image, Mask, Label`` plus PNG files.

Export cuts every run of consecutive masked frames of a video into clips of ``clip_length`` frames; each clip is one
VID (``<video>-<first frame:06d>``), FIDs run globally through the file and are contiguous within a VID, Label is 1
on the last frame of each clip (the query frame). ``clip_length=None`` exports whole runs with Label 1 on every frame
(the layout of synthetic sets). Every row has a mask, as the reference loader requires. Paths are written relative
to the CSV's folder unless ``absolute_paths``.

Export refuses to replace a CSV of that name that it did not write, and writes nothing when no clip qualifies,
or when it is cancelled or fails part-way.

Import reads such a CSV back: one video per VID (frames ordered by FID, whole numbers, each once within a VID; a row
without a VID is an error), masks where the Mask cell is filled (binarised with > 0, as the reference does; JPEG
masks at 128, with a warning: their compression turns the background around each head into values 1..20 that > 0
would count as head; a JPEG mask whose values stay under 128, a 0/1 mask, is refused rather than made empty).
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dvos_core.io.image_files import write_image
from dvos_core.runs import contiguous_runs
from dvos_core.shell import quote, user_path
from dvos_core.store.fsops import io_step
from dvos_core.store.lock import writes_store
from dvos_core.store.schema import id_list
from dvos_core.user_warnings import warn_user

COLUMNS = ("VID", "FID", "Image", "Mask", "Label")


def export_reference_csv(
    project,
    out_dir,
    video_ids: Sequence[str] | None = None,
    clip_length: int | None = 5,
    csv_name: str = "dataset.csv",
    absolute_paths: bool = False,
    progress=None,
    cancel=None,
):
    """Write frames/masks as PNGs under ``out_dir`` and the CSV ``out_dir/csv_name``; returns the CSV path.

    Only frames with a mask are exported; masked frames in runs too short for a whole clip are left out with a
    warning saying how many, and an export without a single clip is an error saying why (nothing is written). Without
    ``video_ids`` every video but the test videos (whose masks are the ground truth they are scored against, not
    training data; a warning names them) is exported. An existing ``csv_name`` that an earlier export did not write
    is refused, not replaced. The PNGs are written under hidden partial names
    (:func:`dvos_core.io.output_paths.partial_path`) and given their names once all are written, so a cancelled or
    failed export leaves ``out_dir`` as it was (its earlier files untouched, no new file or folder).
    """
    import pandas as pd

    from dvos_core.progress import check, report

    if clip_length is not None and clip_length < 1:
        raise ValueError(
            f"--clip-length (clip_length=) must be >= 1, or 0 on the command line (None in Python) to export whole "
            f"runs; got {clip_length}"
        )
    from dvos_core.io.output_paths import check_output_file, check_output_folder, partial_path

    out = check_output_folder(out_dir, project, subfolders=("frames", "masks"))
    check_output_file(out / csv_name, project)  # not the CSV a video was imported from
    if absolute_paths:
        _check_text_path(out.resolve())
    _check_replaceable(out / csv_name)
    ids = id_list(video_ids) if video_ids else _training_ids(project)
    plan = []  # (video, [frame indices of one clip])
    skipped, longest = 0, 0
    for vid in ids:
        v = project.video(vid)
        for start, stop in contiguous_runs(np.flatnonzero(v.provenance)):
            run = np.arange(start, stop)
            longest = max(longest, len(run))
            if clip_length is None:
                plan.append((v, run))
                continue
            n_full = len(run) // clip_length
            skipped += len(run) - n_full * clip_length
            plan.extend((v, run[i * clip_length : (i + 1) * clip_length]) for i in range(n_full))
    if not plan:
        raise ValueError(f"nothing to export to {out / csv_name}: {_why_no_clip(ids, longest, clip_length)}")
    csv_path = out / csv_name
    tmp = csv_path.with_name(f".{csv_path.name}.{os.getpid()}.tmp")  # a kill leaves the old CSV, not half of one
    created: list[Path] = []  # folders this export made, removed again (when empty) if it stops
    staged: list[tuple[Path, Path]] = []  # (hidden partial file, its name once the whole export is written)
    try:
        try:
            for sub in ("frames", "masks"):
                _make_folder(out / sub, created)
        except OSError as e:
            raise PermissionError(f"{out}: cannot create the output folder ({e.strerror or e})") from e
        rows, fid = [], 0
        total = sum(len(c) for _, c in plan)
        for v, clip in plan:
            clip_id = f"{v.name}-{int(clip[0]):06d}"
            for j, t in enumerate(clip):
                check(cancel)
                t = int(t)
                img_p = out / "frames" / clip_id / f"{v.name}_{t:06d}.png"
                mask_p = out / "masks" / clip_id / f"{v.name}_{t:06d}.png"
                for p, image, step in (
                    (img_p, v.frame(t)[..., ::-1], f"exporting frame {t} of {v.name}"),
                    (mask_p, v.mask(t) * np.uint8(255), f"exporting the mask of frame {t} of {v.name}"),
                ):
                    _make_folder(p.parent, created)
                    staged.append((partial_path(p), p))
                    write_image(staged[-1][0], image, step)
                last = j == len(clip) - 1
                label = 1 if (clip_length is None or last) else 0
                ref = (lambda p: str(p.resolve())) if absolute_paths else (lambda p: str(p.relative_to(out)))
                rows.append({"VID": clip_id, "FID": fid, "Image": ref(img_p), "Mask": ref(mask_p), "Label": label})
                fid += 1
                report(progress, fid, total, "exporting frames and masks")
        with io_step(csv_path, "writing the CSV"):  # before any file gets its name: a failed CSV leaves none
            # names held as escaped bytes (Python in an ASCII locale; only UTF-8 ones pass _check_text_path) are
            # written as the bytes they are
            pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(tmp, index=False, errors="surrogateescape")
        while staged:  # every file written whole: each gets its name (an earlier export's file of that name replaced)
            part, path = staged[-1]
            with io_step(path, "giving an exported file its name"):
                os.replace(part, path)
            staged.pop()
        with io_step(csv_path, "writing the CSV"):
            os.replace(tmp, csv_path)
    except BaseException:  # a cancel, Ctrl+C, a full disk: the folder stays as it was (its earlier files untouched)
        tmp.unlink(missing_ok=True)
        for part, _path in staged:
            part.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # fails, harmlessly, when something else is in it
        raise
    if skipped:
        warn_user(
            f"{skipped} masked frame(s) were not exported: they do not fill a whole clip of {clip_length} "
            f"consecutive masked frames",
        )
    return csv_path


def _check_text_path(folder: Path) -> None:
    """Refuse, before anything is written, an output folder whose name is not UTF-8 text (Latin-1 bytes from an
    older Windows computer or a camera card): the CSV, which is UTF-8 text, cannot hold its absolute paths."""
    try:
        os.fsencode(folder).decode("utf-8")
    except UnicodeDecodeError:
        shown = os.fsencode(folder).decode("utf-8", "backslashreplace")
        raise ValueError(
            f"{shown}: the folder's name holds bytes that are not UTF-8 text, so the CSV (UTF-8 text) cannot name "
            f"its files by absolute path: export without --absolute-paths (absolute_paths=False: paths relative to "
            f"the CSV), or rename the folder (e.g. `convmv -f latin1 -t utf8 -r --notest FOLDER`)"
        ) from None


def _make_folder(folder: Path, created: list[Path]) -> None:
    """``mkdir -p folder``, adding to ``created`` (outermost first) each folder that did not exist before."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    created.extend(reversed(missing))


def _why_no_clip(ids: list[str], longest: int, clip_length: int | None) -> str:
    """Why no clip of ``clip_length`` masked frames was found in the videos ``ids`` (the longest run: ``longest``)."""
    if not ids:
        return "the project has no videos to export (test videos are left out unless named: --videos, video_ids=)"
    if not longest:
        return f"the video(s) {ids} have no masks; only masked frames are exported"
    return (
        f"no video of {ids} has {clip_length} consecutive masked frames (the longest run has {longest}); use a "
        f"shorter --clip-length (clip_length=), 0 (None) for whole runs, or mask more consecutive frames"
    )


_EXPORTED_VID = re.compile(r"(.+)-\d{6,}")


def _not_exported_by_dvos(csv_path: Path) -> str | None:
    """None if ``csv_path`` is a CSV :func:`export_reference_csv` wrote (its header, FIDs 0, 1, ..., Labels 0/1, VIDs
    ``<video>-<frame>`` and the files ``frames/<VID>/<video>_<frame>.png`` / ``masks/...``, relative or absolute);
    else what tells it apart."""
    import csv

    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            table = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        return f"cannot be read as such ({e})"
    if not table or table[0] != list(COLUMNS):
        return f"its columns are {', '.join(table[0][:8]) if table else 'none'}"
    for fid, row in enumerate(table[1:]):
        if not _exported_row(fid, row):
            return f"its row {fid + 2} does not list the files export-csv writes"
    return None


def _exported_row(fid: int, row: list[str]) -> bool:
    m = _EXPORTED_VID.fullmatch(row[0]) if len(row) == len(COLUMNS) else None
    if m is None or row[1] != str(fid) or row[4] not in ("0", "1"):
        return False
    name = re.compile(re.escape(m.group(1)) + r"_\d{6,}\.png")
    for top, cell in (("frames", row[2]), ("masks", row[3])):
        parts = cell.replace("\\", "/").split("/")
        absolute = cell.startswith("/") or re.match(r"[A-Za-z]:/", cell.replace("\\", "/")) is not None
        if not (len(parts) == 3 or absolute) or parts[-3:-1] != [top, row[0]] or not name.fullmatch(parts[-1]):
            return False
    return True


def _check_replaceable(csv_path: Path) -> None:
    """Refuse to replace a file ``csv_path`` that is not an earlier CSV of :func:`export_reference_csv`."""
    if csv_path.exists():
        why = _not_exported_by_dvos(csv_path)
        if why:
            raise ValueError(
                f"{csv_path}: this file is not a CSV exported by dvos ({why}); move it away or export into another "
                f"folder"
            )


def _read_rows(csv_path: Path):
    """The CSV as a DataFrame with resolved ``_img`` / ``_mask`` paths; every listed file must exist."""
    import pandas as pd

    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: CSV file not found")
    try:
        df = pd.read_csv(csv_path, dtype={"VID": str, "FID": str})  # VID 007 stays 007; FIDs checked below
    except Exception as e:
        raise ValueError(f"{csv_path}: cannot parse as CSV ({e})") from e
    missing = [c for c in ("VID", "FID", "Image") if c not in df.columns]
    if missing:
        raise ValueError(f"{csv_path}: missing column(s) {missing}; expected {list(COLUMNS)}")
    if df.empty:
        raise ValueError(f"{csv_path}: lists no frames (it has only its header row); nothing to import")
    df = _check_ids(csv_path, df)

    def resolve(p) -> Path | None:
        if not isinstance(p, str) or not p.strip():
            return None
        q = user_path(p)
        return q if q.is_absolute() else csv_path.parent / q

    masks = df["Mask"].map(resolve) if "Mask" in df.columns else None
    df = df.assign(_img=df["Image"].map(resolve), _mask=masks)
    for row, img, mask in zip(range(2, len(df) + 2), df["_img"], df["_mask"]):
        if img is None:
            raise ValueError(f"{csv_path}: row {row} has no Image path")
        for f in (img, mask):
            if f is not None and not Path(f).is_file():
                raise FileNotFoundError(f"{csv_path}: row {row}: file {f} not found")
    return df


def _rows(index) -> str:
    """Row numbers as the CSV file counts them (its header is row 1), the first ten."""
    rows = [str(int(i) + 2) for i in index]
    return ", ".join(rows[:10]) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


def _whole_number(text) -> int | None:
    """``text`` (a FID cell) as an int: ``9``, `` 9 ``, ``9.0``; None for anything else (``f9``, ``9.5``, empty)."""
    if not isinstance(text, str):
        return None
    try:
        return int(text.strip())
    except ValueError:
        pass
    try:
        x = float(text)
    except ValueError:
        return None
    return int(x) if x.is_integer() else None


def _check_ids(csv_path: Path, df):
    """``df`` with its FIDs as ints (``_fid``), after checking that every row has a VID and a whole-number FID and
    that no FID repeats within a VID; else one error naming every problem, before anything is written. A VID whose
    FIDs skip numbers is imported with its frames one after the other, with a warning."""
    problems = []
    no_vid = df.index[df["VID"].isna() | (df["VID"].astype(str).str.strip() == "")]
    if len(no_vid):
        problems.append(f"row {_rows(no_vid)} has no VID" if len(no_vid) == 1 else f"rows {_rows(no_vid)} have no VID")
    fids = df["FID"].map(_whole_number)
    bad = df.index[fids.isna()]
    if len(bad):
        shown = ", ".join(f"{df['FID'][i]!r} (row {int(i) + 2})" for i in bad[:10])
        problems.append(f"FID(s) {shown} are not whole numbers (FIDs give the order of each VID's frames)")
    if not problems:
        df = df.assign(_fid=fids.astype(np.int64))
        dup = df[df.duplicated(["VID", "_fid"], keep=False)]
        for (vid, fid), g in list(dup.groupby(["VID", "_fid"], sort=False))[:10]:
            problems.append(f"VID {vid!r} lists FID {fid} more than once (rows {_rows(g.index)})")
    if problems:
        raise ValueError(f"{csv_path}: " + "; ".join(problems) + "; nothing was imported")
    gaps = [str(vid) for vid, f in df.groupby("VID", sort=False)["_fid"] if f.max() - f.min() + 1 != len(f)]
    if gaps:
        warn_user(
            f"{csv_path}: the FIDs of VID(s) {', '.join(gaps[:10])}{' ...' if len(gaps) > 10 else ''} skip numbers; "
            f"their frames are stored one after the other, as consecutive frames of one video",
        )
    return df


def _video_groups(project, csv_path: Path, df, id_prefix: str) -> tuple[list, list[str], list[str]]:
    """([(video id, VID, rows ordered by FID)] to import, [ids kept], [every id, in the CSV's order]).

    A VID whose video this CSV already made whole (same CSV, VID and frame count: a rerun after a stop) is kept, not
    imported again; other ids of finished videos, or ids that repeat, are an error; the leftover of a killed import
    is replaced (:func:`import_reference_csv`)."""
    from dvos_core.store import safe_id

    groups = [(str(vid), g.sort_values("_fid", kind="stable")) for vid, g in df.groupby("VID", sort=False)]
    ids = [safe_id(f"{id_prefix}{vid}") for vid, _ in groups]
    held = set(project.video_ids())
    source = str(csv_path.resolve())

    def from_here(i: str, vid: str) -> bool:
        a = project.video(i).attrs
        return a.get("source") == source and str(a.get("source_vid")) == vid

    kept = [
        i
        for i, (vid, g) in zip(ids, groups)
        if i in held and project.video(i).import_complete and from_here(i, vid) and len(project.video(i)) == len(g)
    ]
    rule = "a video id holds letters without accents, digits, '_', '.' and '-'; other characters become '_'"
    repeats = [i for i, n in collections.Counter(ids).items() if n > 1]  # (ids.count: quadratic)
    if repeats:  # a prefix cannot part them: it goes in front of each
        vids = {i: [vid for (vid, _g), j in zip(groups, ids) if j == i] for i in repeats}
        shown = "; ".join(f"VIDs {', '.join(map(repr, vids[i]))} all become video id {i!r}" for i in repeats[:5])
        raise ValueError(
            f"{csv_path}: {shown} ({rule}), so they would make one video; rename all but one of them in the CSV's VID "
            f"column (a prefix goes in front of every VID and does not part them); nothing was imported"
        )
    clash = sorted(i for i in set(ids) & held if i not in kept and project.video(i).import_complete)
    if clash:
        raise ValueError(
            f"{csv_path}: video id(s) {clash} already exist in {project.path}; import under other ids with a prefix "
            f"(--prefix; Python: id_prefix=)"
        )
    plan = [(i, vid, g) for i, (vid, g) in zip(ids, groups) if i not in kept]
    for i, vid, _g in plan:
        if i not in held:
            continue
        v = project.video(i)  # an interrupted import: replaced, unless masks were painted on it since
        if not from_here(i, vid) and "provenance" in v.group and v.provenance.any():
            raise ValueError(
                f"{csv_path}: video {i!r} is an interrupted import that already has masks; import under other "
                f"ids (--prefix) or delete it (`dvos delete {quote(project.path)} video {quote(i)} --yes`)"
            )
    renamed = [(vid, i) for (vid, _g), i in zip(groups, ids) if f"{id_prefix}{vid}" != i and i not in kept]
    if renamed:
        shown = ", ".join(f"{id_prefix + vid!r} -> {i!r}" for vid, i in renamed[:5])
        warn_user(
            f"{csv_path}: {len(renamed)} VID(s) are not valid video ids{' with the prefix' if id_prefix else ''} and "
            f"are imported under valid ones ({rule}): {shown}{' ...' if len(renamed) > 5 else ''}"
        )
    return plan, kept, ids


def _import_group(project, csv_path: Path, vid_id: str, vid: str, g, provenance, cancel, jpeg_masks: list):
    """One VID as a new video: frames in FID order, then its masks, then the commit (``mark_complete``)."""
    from dvos_core.io.convert import to_rgb8
    from dvos_core.io.masks import read_mask_file
    from dvos_core.io.readers import read_image
    from dvos_core.progress import check

    first = to_rgb8(read_image(g["_img"].iloc[0]), str(g["_img"].iloc[0]))
    video = project.create_video(
        vid_id,
        first.shape[0],
        first.shape[1],
        source=str(csv_path.resolve()),
        source_vid=vid,
        fps=None,
        preprocessing={"height": None, "crop": None},
        import_complete=False,
    )

    def frames():
        for p in g["_img"]:
            check(cancel)
            f = to_rgb8(read_image(p), str(p))
            if f.shape != first.shape:
                raise ValueError(f"{p}: size {f.shape[:2]} differs from the first frame of VID {vid} {first.shape[:2]}")
            yield f

    video.append_frames(frames(), n_total=len(g), cancel=cancel)
    for t, p in enumerate(g["_mask"]):
        if p is None:
            continue
        m = np.asarray(read_mask_file(p))
        if m.shape != first.shape[:2]:
            raise ValueError(f"{p}: mask size {m.shape} differs from its frame {first.shape[:2]}")
        lossy = Path(p).suffix.lower() in (".jpg", ".jpeg")
        if lossy:
            jpeg_masks.append(str(p))
            _check_jpeg_mask(p, m)
        video.set_mask(t, m > (127 if lossy else 0), provenance)
    video.mark_complete()
    return video


def _check_jpeg_mask(path, m: np.ndarray) -> bool:
    """Whether the JPEG mask ``m`` (read from ``path``) has heads, after refusing one whose values stay under 128 but
    not at 0: a 0/1 (or label) mask, which binarising at 128 would turn into an empty ground truth."""
    top = int(m.max()) if m.size else 0
    if 0 < top < 128:
        raise ValueError(
            f"{path}: this JPEG mask's values go up to only {top}, so it is not a 0/255 mask (a 0/1 mask, as "
            f"(mask > 0).astype(uint8) gives?): JPEG masks are binarised at 128, which would leave it empty, and "
            f"compression blurs so faint a mask beyond exact recovery; save the masks as PNG (lossless; 0/1 is fine) "
            f"or as 0/255 JPEGs, then run the import again"
        )
    return top > 0


def _check_first_jpeg_mask(df) -> None:
    """Before anything is written: the JPEG masks, in the CSV's order, up to the first with heads pass
    :func:`_check_jpeg_mask` (a CSV of 0/1 JPEG masks is refused at once; each is checked again on import)."""
    from dvos_core.io.masks import read_mask_file

    jpegs = (p for p in df["_mask"] if p is not None and Path(p).suffix.lower() in (".jpg", ".jpeg"))
    for p in jpegs:
        if _check_jpeg_mask(p, np.asarray(read_mask_file(p))):
            return


def _warn_jpeg_masks(csv_path: Path, jpeg_masks: list[str]) -> None:
    if jpeg_masks:
        warn_user(
            f"{csv_path}: {len(jpeg_masks)} mask(s) are JPEG files (first: {jpeg_masks[0]}); JPEG compression turns "
            f"a mask's edges and background into grey values, so they were binarised at 128 (not > 0). Masks saved "
            f"as PNG are exact",
        )


@writes_store
def import_reference_csv(project, csv_path, provenance="manual", id_prefix: str = "", progress=None, cancel=None):
    """Read a ``VID, FID, Image, Mask, Label`` CSV into new videos (one per VID); returns them.

    Relative paths are resolved against the CSV's folder. Every row's VID and FID (whole numbers, each once within a
    VID) and every file are checked before anything is written; if an import fails midway (a 0/1 JPEG mask, say)
    the videos created by this call are deleted again (a killed import leaves videos marked incomplete, replaced by
    the next import, which keeps the videos this CSV already made whole, with a warning: a rerun after a stop
    finishes the import). Returns the CSV's videos, kept and new. Holds the
    project's writer lock.
    """
    from dvos_core.progress import report

    csv_path = user_path(csv_path)
    df = _read_rows(csv_path)
    plan, kept, ids = _video_groups(project, csv_path, df, id_prefix)
    _check_first_jpeg_mask(df)
    if kept:
        warn_user(
            f"{csv_path}: {len(kept)} video(s) made from this CSV before are kept, not imported again "
            f"({', '.join(kept)}); to import them anew, delete them first",
        )
    held = set(project.video_ids())
    for vid_id, _vid, _g in plan:  # leftovers of a killed import (checked by _video_groups) are replaced
        if vid_id in held:
            project.delete_video(vid_id)
    created, done, jpeg_masks = [], 0, []
    try:
        for vid_id, vid, g in plan:
            created.append(vid_id)
            _import_group(project, csv_path, vid_id, vid, g, provenance, cancel, jpeg_masks)
            done += len(g)
            report(progress, done, len(df), f"imported {vid_id}")
        _warn_jpeg_masks(csv_path, jpeg_masks)
        return [project.video(i) for i in ids]  # kept and new, in the CSV's order
    except BaseException:
        for vid_id in created:
            with contextlib.suppress(Exception):
                project.delete_video(vid_id)
        raise


def _training_ids(project) -> list[str]:
    """Every video of ``project`` but its test videos, which a warning names (name them to export them)."""
    ids, tests = [], []
    for vid in project.video_ids():
        (tests if project.video(vid).split == "test" else ids).append(vid)
    if tests:
        warn_user(
            f"left out the test video(s) {tests}: their masks are the ground truth they are scored against, not "
            f"training data; name them (--videos, video_ids) to export them too",
        )
    return ids
