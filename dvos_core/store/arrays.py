"""Small Zarr v3 helpers: codecs, array creation, growing an array along its first axis, Zarr's thread pool."""

from __future__ import annotations

import numpy as np
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

ZARR_WORKERS = 1  # threads in Zarr's codec pool unless the user configured it (see configure_zarr)


def configure_zarr() -> None:
    """Give Zarr's codec thread pool ``ZARR_WORKERS`` thread unless the user set ``threading.max_workers``
    (``zarr.config`` or ``ZARR_THREADING__MAX_WORKERS``).

    Why: Zarr compresses chunks with Blosc in a pool of (cores + 4) threads; with chunks whose compressed sizes vary
    (real frames), that pool made native memory grow with the number of frames written (measured with plain Zarr
    writes of 64² frames: +17 MB from 1,000 to 10,000 frames, +1 MB with one thread; docs/benchmarks.md). One thread
    keeps it flat and costs little:
    each write is one frame per chunk, the writer already overlaps with decoding, and torch/OpenCV own the cores
    (dvos_core.threads). Takes effect if called before Zarr's pool starts (this module runs it on import)."""
    if zarr.config.get("threading.max_workers", None) is None:
        zarr.config.set({"threading.max_workers": ZARR_WORKERS})
    # Every chunk written is kept, even one equal to the fill value (an empty mask, a black frame): Zarr's default
    # skips those, so a chunk file that was deleted (by a sync tool, a person) would read as an empty mask or a black
    # frame. With every chunk on disk, arrays marked ``EVERY_CHUNK`` (see ``create``) can tell a missing file apart.
    zarr.config.set({"array.write_empty_chunks": True})


configure_zarr()


def image_codecs():
    """Blosc lz4 + bitshuffle, clevel 5: RGB frames, float16 probabilities and every array that is not a mask.

    Measured against Zstandard on real footage (``python benchmarks/codec_bench.py``, docs/benchmarks.md "Store
    codecs"): Zarr's zstd (levels 1-3) made the real video's frames only 3-9% smaller at their own size while each
    frame read took 1.2-1.7x the CPU (Blosc's zstd: at most 17% smaller, reads 1.3-2.5x the CPU); for probabilities
    Zstandard was 14-21% smaller only with slower reads or 4-11x slower writes. Frames are read at every training
    step, prediction and napari scroll, so lz4 stays."""
    return [BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")]


MASK_ZSTD_LEVEL = 1


def mask_codecs():
    """Zstandard level 1 (Zarr's ``zstd`` codec) for masks: measured 1.4-1.9x smaller than lz4 + bitshuffle, reads
    about twice as fast at 1080x1920 and about as fast at 160-256 px (0.8-1.4x), writes as fast (docs/benchmarks.md
    "Store codecs")."""
    return [ZstdCodec(level=MASK_ZSTD_LEVEL)]


EVERY_CHUNK = "dvos_every_chunk_written"  # array attr: each written row has its chunk file (see missing_chunks)
# Array attr: every committed row was written when its frame was committed (a video's quality scores, NaN until
# scored), so, with EVERY_CHUNK, a committed row whose chunk file is missing is damage. Arrays without it (a video's
# quality made before) wrote only the rows that were set: a missing chunk there may never have been written.
EVERY_ROW = "dvos_every_row_written"


def create(
    group: zarr.Group, name: str, shape, dtype, chunks=None, fill_value=0, compressors=None, every_row: bool = False
) -> zarr.Array:
    """Create (or replace) an array; per-frame chunks by default for (T, ...) arrays; ``compressors`` default to
    :func:`image_codecs` (the mask arrays pass :func:`mask_codecs`). Existing arrays keep the codec recorded in their
    own metadata, so stores written before keep working. The array is marked ``EVERY_CHUNK``: dvos writes every
    chunk (see :func:`configure_zarr`), so a committed row without its chunk file is a deleted file, not zeros.
    ``every_row``: also mark it ``EVERY_ROW`` (its owner writes every row as its frame is committed)."""
    shape = tuple(int(s) for s in shape)
    if chunks is None:
        chunks = (1,) + shape[1:] if len(shape) > 1 else (max(1, min(4096, shape[0] or 1)),)
    return group.create_array(
        name,
        shape=shape,
        dtype=dtype,
        chunks=tuple(int(c) for c in chunks),
        compressors=image_codecs() if compressors is None else compressors,
        fill_value=fill_value,
        attributes={EVERY_CHUNK: True, **({EVERY_ROW: True} if every_row else {})},
        overwrite=True,
    )


GROWTH = 1.5  # capacity grows by this factor ...
MIN_GROWTH = 64  # ... and by at least this many rows, in whole chunks


def ensure_length(arr: zarr.Array, n: int) -> None:
    """Grow ``arr`` along axis 0 to exactly ``n`` if shorter (never shrinks: uncommitted tails are simply overwritten
    later)."""
    if arr.shape[0] < n:
        arr.resize((n,) + tuple(arr.shape[1:]))


def capacity_for(current: int, needed: int, chunk: int) -> int:
    """The length to grow an array of ``current`` rows to so it holds ``needed``: ``current`` if it already does,
    else at least ``GROWTH`` times ``current`` and ``MIN_GROWTH`` more rows, rounded up to whole chunks, so appending
    n rows costs O(log n) resizes (each one metadata write) instead of one per append."""
    if current >= needed:
        return current
    target = max(int(needed), int(current * GROWTH), int(current) + MIN_GROWTH)
    chunk = max(1, int(chunk))
    return -(-target // chunk) * chunk


def reserve(arr: zarr.Array, n: int) -> bool:
    """Make room for ``n`` rows along axis 0, growing geometrically (see :func:`capacity_for`); returns whether the
    array was resized. Rows past the committed count are capacity: readers never look at them (commit rule)."""
    cap = capacity_for(arr.shape[0], n, arr.chunks[0])
    if cap == arr.shape[0]:
        return False
    arr.resize((cap,) + tuple(arr.shape[1:]))
    return True


def trim(arr: zarr.Array, n: int) -> bool:
    """Shrink ``arr`` to ``n`` rows when it holds spare capacity; returns whether it was resized. Call only after
    ``n`` is committed.

    Only the metadata is rewritten: Zarr's own shrink lists every chunk of the old shape (memory and time that grow
    with the array), while the rows past the committed count have no chunks, except the uncommitted tail of a
    killed append, which stays outside the shape and is overwritten like any tail if the array grows again."""
    if arr.shape[0] <= n:
        return False
    from zarr.core.sync import sync

    sync(arr.async_array.resize((int(n),) + tuple(arr.shape[1:]), delete_outside_chunks=False))
    return True


def as_uint8_mask(
    mask, shape, name: str = "mask", allow_labels: bool = False, size_note: str = "", touching: list | None = None
) -> np.ndarray:
    """Validate a mask and return it as binary uint8 {0,1}.

    Accepts bool, {0,1}, {0,255} or {0,65535} (a 16-bit binary image) masks; other values are rejected unless
    ``allow_labels`` (instance label maps), in which case every non-zero label is foreground. ``size_note`` ends the
    error of a mask of another shape (what to do about it).

    Heads of a label map painted with different numbers that touch (8-neighbourhood) become one shape in the binary
    mask, cut out and counted as one head: they are warned about (see :func:`touching_heads`), or, when ``touching``
    is a list, (heads, groups) is appended to it instead for the caller to warn once for many masks.
    """
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.shape != tuple(shape):
        raise ValueError(
            f"{name} has shape {m.shape}, expected {tuple(shape)} (height, width) to match the frames{size_note}"
        )
    if m.dtype == bool:
        return m.astype(np.uint8)
    if not (np.issubdtype(m.dtype, np.integer) or np.issubdtype(m.dtype, np.floating)):
        raise ValueError(f"{name} has dtype {m.dtype}; expected bool or integer values 0/1")
    if np.issubdtype(m.dtype, np.floating) and not np.all(np.isfinite(m)):
        raise ValueError(f"{name} contains NaN or infinite values")
    values = np.unique(m)
    if values.size <= 2 and set(values.tolist()) <= {0, 1}:
        return m.astype(np.uint8)
    if values.size <= 2 and (set(values.tolist()) <= {0, 255} or set(values.tolist()) <= {0, 65535}):
        return (m > 0).astype(np.uint8)
    shown = values[:8].tolist()
    if np.issubdtype(m.dtype, np.floating) and not np.all(values == np.round(values)):
        raise ValueError(
            f"{name} holds fractions ({shown}{'...' if values.size > 8 else ''}), like a probability map; threshold "
            f"it first (e.g. prob >= 0.5) to get a binary mask"
        )
    if allow_labels and values.min() >= 0 and values.size > 2 and _equal_neighbours(m) < SOFT_EDGES_BELOW:
        raise ValueError(  # no label map of heads has touching pixels that mostly differ: edges shaded grey
            f"{name} has values {shown}{'...' if values.size > 8 else ''} that differ between most touching pixels: "
            f"grey values shading the edges of its shapes (a soft brush, or a mask resized or saved as JPEG), not "
            f"an instance label map, whose heads each hold one number; read as one, every grey edge pixel would be "
            f"a head. Threshold it first (e.g. mask >= {(int(values.max()) + 1) // 2}), save it again, and import "
            f"it without allow_labels (--labels)"
        )
    if allow_labels and values.min() >= 0:  # (whole numbers stored as floats, by ImageJ or scikit-image, too)
        merged = touching_heads(m)
        if merged and touching is not None:
            touching.append(merged)
        elif merged:
            from dvos_core.user_warnings import warn_user

            warn_user(f"{name}: {touching_words(*merged)}")
        return (m > 0).astype(np.uint8)
    if allow_labels:  # asked for a label map, but this is not one
        raise ValueError(
            f"{name} has values {shown}{'...' if values.size > 8 else ''}; an instance label map holds whole numbers "
            f"0 and up (0 = background, one number per head), and a binary mask 0/1, 0/255 or 0/65535"
        )
    if values.min() < 0:  # allow_labels refuses these too: no use naming it
        raise ValueError(
            f"{name} has negative values ({shown}{'...' if values.size > 8 else ''}); a mask holds 0 for the "
            f"background and 1 (or 255) for heads, and an instance label map whole numbers 0 and up: convert it "
            f"first (e.g. mask != 0 where the background is 0) and save it again"
        )
    top = 65535 if m.dtype == np.uint16 else 255
    cored = values.max() == top and 4 * np.count_nonzero(m == top) >= np.count_nonzero(m) and not _flat_shapes(m, top)
    if values.min() == 0 and (cored or _equal_neighbours(m) < SOFT_EDGES_BELOW):
        raise ValueError(  # the top value on a good share of the shapes, grey around it, or neighbours that mostly
            # differ (small heads whose soft edges are most of them): soft edges, not label ids, whose heads are flat
            f"{name} has values {shown}{'...' if values.size > 8 else ''}: grey values between 0 and {top} at the "
            f"edges of its shapes (a soft brush, or a mask resized or saved as JPEG); dvos reads binary masks: "
            f"threshold it first (e.g. mask >= {(top + 1) // 2}) and save it again (allow_labels, --labels, would "
            f"count every grey edge pixel as a head)"
        )
    raise ValueError(
        f"{name} has values {shown}{'...' if values.size > 8 else ''}; expected a binary mask (0/1, 0/255 "
        f"or 0/65535). For an instance label map pass allow_labels=True (--labels on the command line)"
    )


def touching_heads(m: np.ndarray) -> tuple[int, int] | None:
    """(heads, groups) of a label map whose heads of different numbers touch (side by side or corner to corner): the
    ``heads`` that become ``groups`` shapes in its binary mask, each cut out as one head (extraction's components are
    8-connected) and counted as one; None where no two heads touch."""
    fg = m > 0
    if not any(
        np.any(a & b & (x != y))
        for x, y, a, b in (
            (m[:, :-1], m[:, 1:], fg[:, :-1], fg[:, 1:]),
            (m[:-1], m[1:], fg[:-1], fg[1:]),
            (m[:-1, :-1], m[1:, 1:], fg[:-1, :-1], fg[1:, 1:]),
            (m[:-1, 1:], m[1:, :-1], fg[:-1, 1:], fg[1:, :-1]),
        )
    ):
        return None
    from scipy import ndimage

    shapes = ndimage.label(fg, structure=np.ones((3, 3), bool))[0]
    pairs = np.unique(np.stack([shapes[fg].astype(np.int64), m[fg].astype(np.int64)]), axis=1)  # (shape, head)
    per_shape = np.unique(pairs[0], return_counts=True)[1]
    several = per_shape > 1
    return int(per_shape[several].sum()), int(np.count_nonzero(several))


def touching_words(heads: int, groups: int, where: str = "", again: str = "") -> str:
    """What touching heads of a label map (:func:`touching_heads`) become, and the fix. ``where``: the frames;
    ``again``: how to bring the masks in again once a gap is painted."""
    return (
        f"{heads} heads painted with different numbers touch{where}; dvos stores one binary mask of all heads, so "
        f"they merge: dvos extract-objects cuts them out, and evaluation counts them, as {groups} head(s); to keep "
        f"heads apart, leave a gap of background at least 1 px wide between heads that touch (in napari, erase a line "
        f"between them){again}, or paint such a gap into the stored masks later"
    )


def _flat_shapes(m: np.ndarray, top: int) -> bool:
    """Whether the values of ``m`` other than 0 and ``top`` mostly fill whole shapes of one value each (of 4 px or
    more) that do not touch the ``top`` shapes: the heads of a label map (one of them numbered ``top``), not grey
    edges, which hold many values around a ``top`` core, or one grey value that touches it, nor a JPEG's specks."""
    from scipy import ndimage

    eight = np.ones((3, 3), bool)
    grey = (m > 0) & (m != top)
    shapes, n = ndimage.label(grey, structure=eight)
    if not n:
        return False
    index = np.arange(1, n + 1)
    low, high = np.asarray(ndimage.minimum(m, shapes, index)), np.asarray(ndimage.maximum(m, shapes, index))
    sizes = np.bincount(shapes.ravel(), minlength=n + 1)[1:]
    touching = np.zeros(n + 1, bool)
    touching[shapes[grey & ndimage.binary_dilation(m == top, structure=eight)]] = True
    heads = (low == high) & (sizes >= 4) & ~touching[1:]
    return 2 * int(sizes[heads].sum()) >= int(sizes.sum())


def _equal_neighbours(m: np.ndarray) -> float:
    """The share of pairs of touching non-zero pixels (side by side or one above the other) that hold the same
    value: near 1 in a label map (each head one flat id; 0.7 where heads of 3x4 px touch on every side), low where
    grey values shade the edges (0.05-0.35 for small heads blurred, resized or saved as JPEG)."""
    same = total = 0
    for a, b in ((m[:, :-1], m[:, 1:]), (m[:-1], m[1:])):
        both = (a > 0) & (b > 0)
        same += int(np.count_nonzero(both & (a == b)))
        total += int(np.count_nonzero(both))
    return same / total if total else 1.0


# a label map of heads packed edge to edge holds the same number in at least half of its touching pixel pairs (2x2 px
# heads: 0.5, 3x4: 0.7); masks shaded at the edges by a soft brush, resizing or JPEG: 0.05-0.35
SOFT_EDGES_BELOW = 0.4

MAX_NAMED = 5  # damaged chunk files named in one message


def row_indices(rows, n: int) -> list[int]:
    """The row indices (along axis 0) a read of ``rows`` (an int, a slice or a sequence of ints) covers."""
    if isinstance(rows, slice):
        return list(range(*rows.indices(n)))
    if isinstance(rows, (int, np.integer)):
        return [int(rows) + n if int(rows) < 0 else int(rows)]
    return [int(r) for r in np.asarray(rows, np.int64).ravel()]


def chunks_of(rows, n: int, step: int) -> list[int]:
    """The numbers of the chunks (of ``step`` rows along an axis of ``n``) that ``rows`` touch, sorted. A slice
    becomes a range of chunks without listing its rows: the object bank's pixels are one row per byte (millions of
    rows), and listing them took seconds per read of the bank."""
    step = max(1, int(step))
    if isinstance(rows, slice):
        start, stop, stride = rows.indices(n)
        if stride == 1:
            return list(range(start // step, (stop - 1) // step + 1)) if stop > start else []
    return sorted({r // step for r in row_indices(rows, n) if 0 <= r < n})


def damaged_chunks(arr: zarr.Array, rows, lead: tuple = ()) -> list[tuple[int, int, str]]:
    """(first row, last row, file) of each chunk holding ``rows`` that cannot be decoded (at most ``MAX_NAMED``).

    Reads each chunk of those rows alone (only after a read failed), so a message can name the files to restore.
    ``lead``: fixed indices of the leading axes (a synthetic clip's number), ``rows`` then run along the next axis."""
    axis = len(lead)
    n, step = arr.shape[axis], max(1, arr.chunks[axis])
    bad = []
    for c in chunks_of(rows, n, step):
        lo, hi = c * step, min(n, (c + 1) * step)
        try:
            arr[tuple(lead) + (slice(lo, hi),)]
        except Exception:  # any decode failure marks the chunk
            bad.append((lo, hi - 1, _chunk_file(arr, c, lead)))
            if len(bad) >= MAX_NAMED:
                break
    return bad


def _chunk_file(arr: zarr.Array, c: int, lead: tuple = ()) -> str:
    """The file of chunk ``c`` (along axis ``len(lead)``, the leading axes at the indices ``lead``) of ``arr``."""
    from pathlib import Path

    first = tuple(int(i) // max(1, k) for i, k in zip(lead, arr.chunks))
    key = arr.metadata.encode_chunk_key(first + (c,) + (0,) * (arr.ndim - 1 - len(first)))
    root = getattr(arr.store, "root", None)
    return str(Path(str(root)) / arr.path / key if root is not None else Path(arr.path) / key)


def member_metadata(group: zarr.Group, key: str = ""):
    """The ``zarr.json`` path of ``group``'s member ``key`` (of the group itself for ``""``), for messages."""
    from pathlib import Path

    return Path(str(getattr(group.store, "root", ""))) / group.path / key / "zarr.json"


def open_member(group: zarr.Group, key: str, what: str, fix: str, on_missing=None):
    """``group[key]``; a missing or unreadable ``zarr.json`` of it becomes a
    :class:`~dvos_core.store.schema.DamagedStoreError` naming the file, ``what`` it holds (e.g. "the 'masks' array
    of video 'v'") and ``fix``. ``on_missing`` is called first when the file is missing (it may raise its own,
    more telling error: say, the whole folder is gone)."""
    from dvos_core.store.schema import DamagedStoreError

    meta = member_metadata(group, key)
    try:
        return group[key]
    except KeyError:
        if on_missing is not None:
            on_missing()
        raise DamagedStoreError(
            f"{meta}: the metadata file of {what} is missing (deleted, or not yet copied by a sync tool), so its "
            f"data cannot be read. {fix}"
        ) from None
    except Exception as e:  # json/Zarr errors of a corrupt metadata file
        raise DamagedStoreError(f"{meta}: unreadable metadata of {what} ({e}). {fix}") from e


def _metadata_file(arr: zarr.Array) -> str:
    """The ``zarr.json`` of ``arr``, for messages."""
    from pathlib import Path

    root = getattr(arr.store, "root", None)
    return str(Path(str(root)) / arr.path / "zarr.json" if root is not None else Path(arr.path) / "zarr.json")


def missing_chunks(arr: zarr.Array, rows, lead: tuple = ()) -> list[tuple[int, int, str]]:
    """(first row, last row, file) of each chunk holding ``rows`` whose file is not on disk (at most ``MAX_NAMED``).

    Only for arrays marked ``EVERY_CHUNK`` in a folder store: there each written row has its chunk file, so a
    missing one was deleted (Zarr would read it as the fill value: zeros). Older arrays skipped chunks equal to the
    fill value (an empty mask), so a missing chunk there may be one: they are not checked. ``lead`` as in
    :func:`damaged_chunks`. One ``stat`` per chunk, no read."""
    from pathlib import Path

    if not arr.attrs.get(EVERY_CHUNK) or getattr(arr.store, "root", None) is None:
        return []
    axis = len(lead)
    n, step = arr.shape[axis], max(1, arr.chunks[axis])
    gone = []
    for c in chunks_of(rows, n, step):
        f = _chunk_file(arr, c, lead)
        if not Path(f).is_file():
            gone.append((c * step, min(n, (c + 1) * step) - 1, f))
            if len(gone) >= MAX_NAMED:
                break
    return gone


def _spans(bad) -> str:
    """'frame 3', 'frames 2, 5' or 'frames 0-3, 8' for the (first, last, file) rows of ``bad``."""
    parts = [str(a) if a == b else f"{a}-{b}" for a, b, _ in bad]
    return ("frame " if parts == [str(bad[0][0])] else "frames ") + ", ".join(parts)


def _fix_for(fix: str, n_files: int) -> str:
    """``fix`` worded for ``n_files`` files (the fixes say "that file")."""
    return fix if n_files == 1 else fix.replace("Restore that file", "Restore those files")


def open_local(path, mode: str, group: bool = True):
    """The Zarr group (or, ``group=False``, the node) of the local folder ``path``, whatever its name holds: a path
    string handed to Zarr is read as a URL first, so a folder named ``a::b`` was taken for a chain of two and a project
    in it could neither be made nor opened."""
    from zarr.storage import LocalStore

    store = LocalStore(str(path), read_only=mode == "r")
    return zarr.open_group(store=store, mode=mode) if group else zarr.open(store=store, mode=mode)


def require_chunks(arr: zarr.Array, rows, owner: str, what: str, fix: str, lead: tuple = ()) -> None:
    """A :class:`~dvos_core.store.schema.DamagedStoreError` naming the files when a chunk of ``rows`` (rows that
    were written: committed frames, painted masks, predicted frames) is missing (see :func:`missing_chunks`). The
    other chunks of ``rows`` are then decoded too, so that one message names every missing and damaged file (a
    damaged file beside a missing one was found only once the missing one was restored)."""
    from dvos_core.store.schema import DamagedStoreError, check_project_here

    gone = missing_chunks(arr, rows, lead)
    if not gone:
        return
    check_project_here(getattr(arr.store, "root", None))  # every file is missing when the project was moved
    bad = damaged_chunks(arr, rows, lead)  # a missing chunk decodes (as the fill value): never among these
    if not bad:
        files = ", ".join(f for _, _, f in gone) + (" (and maybe more)" if len(gone) >= MAX_NAMED else "")
        one = len(gone) == 1
        raise DamagedStoreError(
            f"{owner}: the {what} of {_spans(gone)} cannot be read: the file{'' if one else 's'} {files} "
            f"{'is' if one else 'are'} missing (deleted, or not yet copied by a sync tool). {_fix_for(fix, len(gone))}"
        )
    said = "; ".join(
        f"the file{'' if len(c) == 1 else 's'} {', '.join(f for *_, f in c)} of {_spans(c)} "
        f"{'is' if len(c) == 1 else 'are'} {how}"
        for c, how in ((gone, "missing (deleted, or not yet copied by a sync tool)"), (bad, "damaged"))
    )
    raise DamagedStoreError(
        f"{owner}: the {what} of {_spans(sorted(gone + bad))} cannot be read: {said}. "
        f"{_fix_for(fix, len(gone) + len(bad))}"
    )


def read(arr: zarr.Array, rows, owner: str, what: str, fix: str, present=None):
    """``arr[rows]`` (``rows``: an int, a slice, or a sequence of row indices read as an orthogonal selection); a
    chunk that cannot be decoded (a truncated or overwritten file) becomes a
    :class:`~dvos_core.store.schema.DamagedStoreError` naming ``owner`` (e.g. "P: video 'v'"), ``what`` is read,
    the frames and the damaged file(s), and ``fix``; so does a row past the array's end (its ``zarr.json`` holds
    fewer rows than were committed), and a chunk file missing among the rows ``present`` (rows that were written:
    ``True`` for all of ``rows``, the default for an array marked ``EVERY_ROW``; see :func:`require_chunks`). OS
    errors pass through unchanged."""
    from dvos_core.store.schema import DamagedStoreError

    n = arr.shape[0]
    wanted = row_indices(rows, max(n, rows.stop or 0) if isinstance(rows, slice) and (rows.stop or 0) >= 0 else n)
    beyond = [r for r in wanted if r >= n]
    if beyond:
        meta = _metadata_file(arr)
        raise DamagedStoreError(
            f"{owner}: the {what} of frame {beyond[0]} cannot be read: {meta} says the array holds only "
            f"{arr.shape[0]} rows (that file, or the frame count of what it belongs to, was edited or replaced by an "
            f"older copy). {fix}"
        )
    if present is None and arr.attrs.get(EVERY_ROW):  # every committed row was written: each has its chunk file
        present = True
    if present is not None and present is not False:
        require_chunks(arr, rows if present is True else present, owner, what, fix)
    try:
        if isinstance(rows, (int, np.integer, slice)):
            return arr[rows]
        return arr.get_orthogonal_selection(np.asarray(rows, np.int64))
    except (OSError, IndexError):
        raise
    except Exception as e:  # Blosc/Zarr raise RuntimeError, ValueError, TypeError... on a bad chunk
        raise damaged_error(arr, rows, owner, what, fix, e) from e


def damaged_error(arr: zarr.Array, rows, owner: str, what: str, fix: str, error: BaseException, lead: tuple = ()):
    """The :class:`~dvos_core.store.schema.DamagedStoreError` for a failed read of ``arr[rows]`` (see :func:`read`;
    ``lead`` as in :func:`damaged_chunks`)."""
    from dvos_core.store.schema import DamagedStoreError

    reason = f"{error} ({type(error).__name__})" if str(error) else type(error).__name__
    bad = damaged_chunks(arr, rows, lead)
    if not bad:
        return DamagedStoreError(f"{owner}: its {what} cannot be read ({reason}); {fix}")
    spans = _spans(bad)
    files = ", ".join(f for _, _, f in bad) + (" (and maybe more)" if len(bad) >= MAX_NAMED else "")
    one = len(bad) == 1
    return DamagedStoreError(
        f"{owner}: the {what} of {spans} cannot be read ({reason}); the file{'' if one else 's'} {files} "
        f"{'is' if one else 'are'} damaged. {_fix_for(fix, len(bad))}"
    )
