"""Import and export of per-frame masks as PNG / TIFF files."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from dvos_core.io.image_files import write_image
from dvos_core.io.output_paths import partial_path
from dvos_core.io.readers import (
    TIFF_SUFFIXES,
    image_files,
    imagej_channel_stack,
    jpeg_orientation,
    orient,
    tiff_frames,
)
from dvos_core.shell import quote, user_path
from dvos_core.store.fsops import io_step
from dvos_core.store.lock import writes_store
from dvos_core.store.schema import DamagedStoreError
from dvos_core.store.training import refuse_while_training
from dvos_core.user_warnings import warn_user

MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
_JPEG_WHY = "JPEG's lossy compression blurs a mask's edges into grey values; save masks as PNG or TIFF"
_TRAILING_NUMBER = re.compile(r"(\d+)\D*$")


def frame_number(name: str) -> int:
    """The trailing number of a file stem: 'plot1_mask_000042' -> 42."""
    m = _TRAILING_NUMBER.search(Path(name).stem)
    if not m:
        raise ValueError(
            f"{name}: cannot tell which frame this mask belongs to (no number in the name); name the "
            f"files like mask_000012.png (or, from Python, pass the frame indices: import_masks(..., frames=[...]))"
        )
    stem = Path(name).stem
    k = m.start()
    if k >= 1 and stem[k - 1] == "-" and (k == 1 or not stem[k - 2].isalnum()):  # 'mask_-3': a sign, not a dash
        raise ValueError(
            f"{name}: its frame number is negative (-{m.group(1)}); frames are numbered from 0: rename the file with "
            f"the frame it belongs to"
        )
    return int(m.group(1))


def read_mask_file(path, allow_labels: bool = False, label_class: str | None = None) -> np.ndarray:
    """Read a mask image keeping its values (palette PNGs give palette indices, not colours, unless the two disagree
    on which pixels are background: then it is an error, see :func:`_palette_indices`). Colour masks are read by
    the CVAT ``labelmap.txt`` beside them, or as one head per colour with ``allow_labels`` (see :func:`gray_mask`)."""
    path = user_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: mask file not found")
    if path.suffix.lower() in TIFF_SUFFIXES:
        from dvos_core.io.readers import read_image

        a = read_image(path)
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                o = jpeg_orientation(im)  # upright as its JPEG frame is (readers.orient), whatever its name
                if im.mode == "P" and _labelmap(path.parent) is not None:  # a CVAT export: colours name the classes
                    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                a = _palette_indices(im, path) if im.mode == "P" else np.array(im)
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:  # (the last: a PNG "bomb")
            raise ValueError(f"{path}: cannot decode this mask image ({e})") from e
        a = orient(a, o)
    return gray_mask(a, path, allow_labels=allow_labels, label_class=label_class, folder=path.parent)


def _palette_indices(im, path) -> np.ndarray:
    """The palette indices of a palette ("P") image, when they agree with its colours on which pixels are background
    (index 0 and black, or transparent, alike); otherwise an error naming ``path``: a paint program or a PNG optimiser
    that put white (or a colour) at index 0 would give a mask whose heads and background are swapped."""
    idx = np.array(im)
    pal = np.array(im.getpalette() or [], np.uint8).reshape(-1, 3)
    used = np.unique(idx)
    if not used.size or int(used.max()) >= len(pal):
        return idx
    seen = pal[used].any(axis=1)  # as shown: not black
    clear = im.info.get("transparency")
    if isinstance(clear, int):
        seen &= used != clear
    elif isinstance(clear, bytes):
        alpha = np.frombuffer(clear, np.uint8)
        seen &= ~((used < alpha.size) & (alpha[np.minimum(used, alpha.size - 1)] == 0))
    if np.array_equal(seen, used > 0):
        return idx
    shown = ", ".join(f"{int(i)} = {_rgb(pal[i])}" for i in used[:6])
    raise ValueError(
        f"{path}: palette image whose indices and colours disagree on which pixels are background (index 0 is "
        f"background, black is background; its palette: {shown}), so its heads could come out swapped with the "
        f"background; save it as a greyscale PNG with black (0) background and white (255) heads"
    )


def _rgb(c) -> str:
    return f"({int(c[0])},{int(c[1])},{int(c[2])})"


def _labelmap(folder: Path) -> tuple[Path, dict[int, str]] | None:
    """(path, {colour code r<<16|g<<8|b: class name}) of the CVAT ``labelmap.txt`` ("Segmentation mask 1.1" export:
    ``name:r,g,b:parts:actions`` lines) in ``folder`` or its parent, or None."""
    for d in (folder, folder.parent):
        f = d / "labelmap.txt"
        if not f.is_file():
            continue
        classes = {}
        try:
            lines = f.read_text(errors="replace").splitlines()
        except OSError as e:
            raise ValueError(f"{f}: cannot read this label map ({e.strerror or e})") from e
        for n, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split(":")
            try:
                r, g, b = (int(v) for v in parts[1].split(","))
                if not all(0 <= v <= 255 for v in (r, g, b)):
                    raise ValueError
            except (IndexError, ValueError):
                raise ValueError(
                    f"{f} line {n}: {line.strip()!r} is not a CVAT label map line (name:r,g,b:parts:actions); "
                    f"fix or remove the file"
                ) from None
            classes[(r << 16) | (g << 8) | b] = parts[0].strip()
        return f, classes
    return None


def _colour_bytes(rgb: np.ndarray, where) -> np.ndarray:
    """The colours of a colour mask as uint8: its values must be whole numbers 0-255 (a float or 16-bit colour image
    holding other values is no colour mask a program writes); else an error naming ``where`` and the fix."""
    if rgb.dtype == np.uint8:
        return rgb
    if rgb.dtype == bool:
        return rgb.astype(np.uint8)
    whole = np.issubdtype(rgb.dtype, np.integer) or bool(np.all(np.isfinite(rgb)) and np.all(rgb == np.round(rgb)))
    if not whole or (rgb.size and (rgb.min() < 0 or rgb.max() > 255)):
        raise ValueError(
            f"{where}: a colour image of {rgb.dtype} values (from {rgb.min()} to {rgb.max()}), not a mask; save masks "
            f"as single-channel images (0 = background, 1 or 255 = wheat head, or one integer per head with --labels), "
            f"or colour masks with 8-bit colours"
        )
    return rgb.astype(np.uint8)


def _colour_mask(rgb: np.ndarray, where, allow_labels: bool, label_class: str | None, folder) -> np.ndarray:
    """A colour mask (its channels differ) as one channel, black being background: the pixels of one class of the
    CVAT ``labelmap.txt`` in ``folder`` or its parent (``label_class``, or its only class besides background), or,
    with ``allow_labels``, one label per colour (an instance mask such as CVAT's SegmentationObject). Otherwise an
    error naming ``where``, the colours and the fix."""
    rgb = _colour_bytes(rgb, where)
    code = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    colours, inverse = np.unique(code, return_inverse=True)
    inverse = inverse.reshape(code.shape)

    def name(c) -> str:
        return _rgb(((int(c) >> 16) & 255, (int(c) >> 8) & 255, int(c) & 255))

    found = ", ".join(name(c) for c in colours[:6]) + (", ..." if colours.size > 6 else "")
    lm = _labelmap(Path(folder)) if folder is not None else None
    if lm is None or (allow_labels and label_class is None):
        if allow_labels and label_class is None:  # one head per colour, black = background
            if lm is not None:  # a class mask of that export read as instances would make every class heads
                classes = lm[1]
                shown = sorted(classes[int(c)] for c in colours if int(c) in classes and c != 0)
                if len(shown) > 1 and all(int(c) in classes or c == 0 for c in colours):
                    raise ValueError(
                        f"{where}: its colours are the classes {', '.join(shown)} of {lm[0]}: a class mask, whose "
                        f"classes --labels would all take for heads; give --class NAME (label_class=) for the heads' "
                        f"class, or import the SegmentationObject folder of that export with --labels"
                    )
            return (inverse + (0 if colours[0] == 0 else 1)).astype(np.uint32)
        raise ValueError(
            f"{where}: colour mask image (colours {found}); save masks as single-channel images (0 = background, "
            f"1 or 255 = wheat head, or one integer per head with --labels). A colour instance mask (one colour per "
            f"head on black, as CVAT's SegmentationObject folder) is read with --labels; class masks exported by "
            f"CVAT (Segmentation mask 1.1) are read by the labelmap.txt of that export: keep it beside their folder"
        )
    lm_path, classes = lm
    unknown = [c for c in colours if int(c) not in classes and c != 0]
    if unknown:
        raise ValueError(
            f"{where}: colour(s) {', '.join(name(c) for c in unknown[:6])} are not classes of {lm_path}; an instance "
            f"mask (one colour per head, as CVAT's SegmentationObject folder) is read with --labels"
        )
    named = {v: k for k, v in classes.items()}
    if label_class is not None:
        if label_class not in named:
            raise ValueError(
                f"{where}: {lm_path} has no class {label_class!r}; its classes: {', '.join(named)} (--class NAME)"
            )
        head = named[label_class]
        if head == 0:
            raise ValueError(
                f"{where}: --class {label_class} is the background (black) of {lm_path}; name the heads' class"
            )
    else:
        heads = [k for k, v in classes.items() if k != 0 and v.lower() != "background"]
        if len(heads) != 1:
            raise ValueError(
                f"{where}: {lm_path} lists {len(heads)} classes besides the background "
                f"({', '.join(classes[k] for k in heads) or 'none'}); say which class is the wheat heads with "
                f"--class NAME (Python: label_class='NAME')"
            )
        head = heads[0]
    return (code == head).astype(np.uint8)


def gray_mask(
    a: np.ndarray, where, allow_labels: bool = False, label_class: str | None = None, folder=None
) -> np.ndarray:
    """A mask image as one channel: an RGB(A) image whose three colour channels agree (a grey mask saved in colour)
    gives that channel; other colour images are read by :func:`_colour_mask` (a CVAT ``labelmap.txt`` in ``folder``
    or its parent, or one label per colour with ``allow_labels``), else an error naming ``where``.

    Transparency (RGBA, or grey + alpha): pixels less than half as opaque as the most opaque paint in the image (a
    soft brush's fading edge, or nothing painted) are background, whatever colour they hide (paint programs keep
    white or black under them); when the visible pixels are all 0 (black strokes on a transparent layer), the alpha
    channel itself is the mask, at the same threshold. A wholly transparent image is empty, unless its grey values vary
    (a mask written into the colour channels, alpha left 0): then they are the mask."""
    a = np.asarray(a)
    alpha = None
    if a.ndim == 3 and a.shape[2] in (2, 4):
        alpha, a = a[..., -1], a[..., :-1]
    if a.ndim == 3 and a.shape[2] == 3:
        rgb = a
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            a = _colour_mask(rgb, where, allow_labels, label_class, folder)
    if a.ndim == 3:
        a = a[..., 0]
    if alpha is None or (alpha.min() == alpha.max() and (alpha.any() or a.min() < a.max())):
        return a  # opaque, or an alpha channel left empty by a program that wrote the mask into the grey values
    if not alpha.any():  # a transparent empty layer (white or black under it): no heads
        return np.zeros_like(a)
    visible = 2 * alpha.astype(np.int64) >= int(alpha.max())  # at least half the opacity of the strongest paint
    a = np.where(visible, a, 0).astype(a.dtype)
    return a if a.any() else visible.astype(np.uint8)  # black paint: its opacity marks the heads


def _planar_colour_stack(tf, source) -> None:
    """Refuse a TIFF holding one image of 3 or 4 colour planes: that is how tifffile saves a stack of 3 or 4 masks
    unless told otherwise, and reading it as one colour mask would drop frames."""
    series = tf.series
    if len(series) == 1 and series[0].axes[:1] == "S" and series[0].shape[0] in (3, 4) and len(tf.pages) == 1:
        n = series[0].shape[0]
        raise ValueError(
            f"{source}: holds one image of {n} colour planes (axes {series[0].axes}, shape {tuple(series[0].shape)}), "
            f"not {n} masks; save a stack of masks as grayscale pages (tifffile.imwrite(path, masks, "
            f"photometric='minisblack')) or as one PNG per frame"
        )


def _imagej_channel_pages(tf):
    """(3 or 4, read(k)) for an ImageJ stack of 3 or 4 grey pages on a channel axis (axes CYX): what
    ``tifffile.imwrite(path, masks, imagej=True)`` writes for 3 or 4 masks (any other count is read page by page
    as frames too). Videos read such a file as frames too when ImageJ would show it in grey (readers'
    ``imagej_grey_planes``), else as one colour frame; a mask is never in colour. Else None."""
    if not imagej_channel_stack(tf):
        return None
    pages = list(tf.pages)
    return len(pages), (lambda k: pages[k].asarray())


def _mask_sources(
    source: Path,
    frames: Sequence[int] | None,
    files: ExitStack,
    allow_labels: bool = False,
    label_class: str | None = None,
):
    """[(frame index, loader, description)] for a folder of mask files or a multi-page TIFF. A TIFF stays open (in
    ``files``) and each loader reads its page when called: a stack of thousands of masks is never held whole.
    ``allow_labels`` and ``label_class`` say how colour masks are read (:func:`gray_mask`)."""

    def read(path):
        return read_mask_file(path, allow_labels=allow_labels, label_class=label_class)

    if not source.exists():
        raise FileNotFoundError(f"{source}: no such mask file or folder")
    if source.is_dir():
        files_in = image_files(source, MASK_SUFFIXES)
        if not files_in:
            lossy = [p.name for p in image_files(source, (".jpg", ".jpeg"))]
            why = (
                f"; its {len(lossy)} JPEG file(s) ({lossy[0]}, ...) are not read as masks: {_JPEG_WHY}" if lossy else ""
            )
            raise ValueError(f"{source}: folder has no mask images ({', '.join(MASK_SUFFIXES)}){why}{_coco_in(source)}")
        if frames is not None:
            if len(frames) != len(files_in):
                raise ValueError(f"{source}: {len(files_in)} mask files but {len(frames)} frame indices given")
            idx = [int(t) for t in frames]
        else:
            idx = [frame_number(str(p)) for p in files_in]
        return [(t, (lambda p=p: read(p)), str(p)) for t, p in zip(idx, files_in)]
    if source.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        try:
            tf = tifffile.TiffFile(str(source))
        except Exception as e:
            raise ValueError(f"{source}: cannot read this TIFF ({type(e).__name__}: {e})") from e
        files.enter_context(tf)
        _planar_colour_stack(tf, source)
        n, read_page = _imagej_channel_pages(tf) or tiff_frames(tf, source)

        def page(k):
            return gray_mask(
                read_page(k),
                f"{source} page {k}",
                allow_labels=allow_labels,
                label_class=label_class,
                folder=source.parent,
            )

        if frames is None and n == 1 and _TRAILING_NUMBER.search(source.stem):
            # one mask in one file: its frame is the number in its name, as for a PNG (export-masks --format tif
            # writes <video>_<frame>.tif)
            return [(frame_number(str(source)), (lambda: page(0)), str(source))]
        idx = list(range(n)) if frames is None else [int(t) for t in frames]
        if len(idx) != n:
            raise ValueError(f"{source}: {n} mask pages but {len(idx)} frame indices given")
        return [(t, (lambda k=k: page(k)), f"{source} page {k}") for k, t in enumerate(idx)]
    if source.suffix.lower() in MASK_SUFFIXES:
        t = int(frames[0]) if frames else frame_number(str(source))
        return [(t, (lambda: read(source)), str(source))]
    if source.suffix.lower() in (".jpg", ".jpeg"):
        raise ValueError(f"{source}: JPEG masks are not read: {_JPEG_WHY}")
    raise ValueError(f"{source}: unsupported mask source; give a folder of PNG/TIFF masks or a multi-page TIFF")


def _coco_in(folder: Path) -> str:
    """For a folder without mask images: the COCO files in it or in its ``annotations/`` subfolder (an unzipped CVAT
    export: ``annotations/instances_default.json``), as a note; "" when there are none."""
    found = [p for d in (folder, folder / "annotations") if d.is_dir() for p in sorted(d.glob("*.json"))]
    found = [p for p in found if not p.name.startswith(".")]
    if not found:
        return ""
    more = f" (and {len(found) - 1} other .json file(s))" if len(found) > 1 else ""
    return f"; it holds {found[0]}{more}, a COCO file: import that file"


def _resized_note(project, video) -> str:
    """For masks of another size than the frames of a video resized when it was added (``--paper-preprocess``,
    ``--height``, ``--crop``; masks painted on the original footage): what to do; "" for a video not resized."""
    pre = video.attrs.get("preprocessing") or {}
    if not (pre.get("height") or pre.get("crop")):
        return ""
    how = [f"height {pre['height']} px"] if pre.get("height") else []
    how += [f"central {pre['crop'][0]}x{pre['crop'][1]} crop"] if pre.get("crop") else []
    return (
        f"; {video.name} was resized when it was added ({', '.join(how)}), so its masks must have the size of its "
        f"stored frames: resize and crop them the same way, paint them in napari, or add the video again without "
        f"resizing (`dvos delete {quote(project.path)} video {quote(video.name)} --yes`, then `dvos add-video`)"
    )


def _odd_size_note(video, mask_shape) -> str:
    """For a mask one pixel taller and/or wider than the frames of a video added from a video file: such files store
    even sizes (an odd side loses its last row or column), so masks cut at the footage's own odd size do not fit."""
    from dvos_core.io.readers import VIDEO_SUFFIXES

    h, w = video.shape[1:3]
    over = (int(mask_shape[0]) - h, int(mask_shape[1]) - w) if len(mask_shape) == 2 else (0, 0)
    source = str(video.attrs.get("source") or "")
    if over not in ((1, 0), (0, 1), (1, 1)) or not source.lower().endswith(VIDEO_SUFFIXES):
        return ""
    return (
        f"; {video.name} came from a video file, whose encoder stores an even height and width (footage of "
        f"{h + over[0]}x{w + over[1]} px keeps {h}x{w}): cut the masks' last {'row' if over[0] else ''}"
        f"{' and ' if over[0] and over[1] else ''}{'column' if over[1] else ''} (mask[:{h}, :{w}]), or add the footage "
        f"as an image folder or a TIFF, which keep every pixel"
    )


def _numbering_note(video) -> str:
    """For a video imported with --start/--step: mask frame numbers count its stored frames, not the source's."""
    sf = video.attrs.get("source_frames") or {}
    start, step = int(sf.get("start") or 0), int(sf.get("step") or 1)
    if start == 0 and step == 1:
        return ""
    return (
        f". Mask frame numbers count the frames stored in the project: this video was imported from source frames "
        f"{start}, {start + step}, ... (--start {start} --step {step}), so source frame s is stored frame "
        f"(s - {start}) / {step}; renumber the masks, or give --numbering source (numbering='source') to place "
        f"them by source frame"
    )


@writes_store
def import_masks(
    project,
    video_id: str,
    source,
    frames: Sequence[int] | None = None,
    provenance=None,
    allow_labels: bool = False,
    overwrite: bool = False,
    progress=None,
    cancel=None,
    numbering: str | None = None,
    label_class: str | None = None,
    first_number: int = 0,
    empty_images: bool = False,
    from_video: str | None = None,
) -> list[int]:
    """Write masks from ``source`` into video ``video_id``; returns the frame indices written.

    ``source``: a folder of PNG/TIFF masks (frame index = trailing number of the file name, or ``frames``), a
    multi-page TIFF (page k -> frame k, or ``frames[k]``), one mask file (its frame is ``frames[0]``, else the
    trailing number of its name, which a PNG must then have; a one-page TIFF without one is frame 0) or a COCO
    JSON file (see :func:`_coco_sources`). Frame numbers count the
    video's stored frames, not those of its source file. All masks are read and checked before anything is
    written, so a bad file leaves the store untouched.
    Human masks (manual/corrected) already in the store are not replaced by lower-ranked ones unless ``overwrite``;
    those frames are skipped. A test video takes manual masks only. Holds the project's writer lock.

    ``numbering`` says what the numbers in mask file names count: ``'stored'``, the video's stored frames;
    ``'source'``, the numbers of its source files or frames (a folder of images numbered from 1 or with gaps, or a
    video added with --start/--step: mask ``000001.png`` goes to the frame read from ``000001.png``). ``None``:
    stored, except that a video added from a folder whose file numbers differ from its stored numbers (or from a
    video file with --start/--step) is an error naming both choices when every mask number could be either and the
    masks are not files that :func:`export_masks` wrote (listed by its ``masks.csv``). Files it wrote go to the
    frame read from the source frame its listing gives, when that is not the frame their names carry (exported from
    a video added with other --start/--step): see :func:`_by_source_frame`.

    Colour masks (black background) are read by the CVAT ``labelmap.txt`` in their folder or its parent (CVAT's
    "Segmentation mask 1.1" export: ``SegmentationClass/`` beside ``labelmap.txt``): the pixels of its one class
    besides the background, or of ``label_class`` when it lists several. With ``allow_labels`` (and no
    ``label_class``) every colour is one head, as in CVAT's ``SegmentationObject/`` instance masks. For a COCO
    file, ``label_class`` names the heads' category, and ``empty_images`` stores its images without annotations as
    frames without heads (by default they are left out: see :func:`_coco_sources`). Likewise an empty mask file (or
    TIFF page) is left out, with a warning naming them, unless ``empty_images`` or the folder's ``masks.csv`` of
    :func:`export_masks` lists it: a file or page for every frame (a whole labels layer saved, an annotation tool's
    export) holds blank ones where nobody painted, and an empty mask says "no heads here" (manual truth for
    training, and a background clip inpainted from it). Masks that are all empty are an error naming the fix.

    Masks that :func:`export_masks` wrote for another video (its ``masks.csv``, a COCO export's ``dvos`` entries, or,
    without either, files all named ``<video>_<frame>`` after another video of the project) are refused, naming
    that video, unless ``from_video`` names it: the masks of video ``from_video`` are then taken (the same footage
    stored under another id, or in another project). See :func:`_own_exports`.
    """
    from dvos_core.store import Project

    project = Project.of(project)
    if numbering not in (None, "stored", "source"):
        raise ValueError(f"numbering must be 'stored' or 'source', got {numbering!r}")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"import_masks reads mask files: source must be a file or folder path, got {type(source).__name__}; "
            f"write masks held in memory with project.video({video_id!r}).set_mask(t, mask, provenance), one frame "
            f"at a time"
        )
    source = user_path(source)
    video = project.video(video_id).require_complete()
    if provenance is not None:
        video.check_label_write(provenance)
    coco = Path(source).suffix.lower() == ".json" and not Path(source).is_dir()
    if label_class is not None and not coco:
        where = Path(source) if Path(source).is_dir() else Path(source).parent
        if _labelmap(where) is None:
            raise ValueError(
                f"{source}: --class {label_class} (label_class) picks a class of the labelmap.txt of a CVAT "
                f"'Segmentation mask 1.1' export, and there is none in {where} or its parent; import the "
                f"SegmentationClass folder of that export, with its labelmap.txt beside it"
            )
    size_note = _resized_note(project, video)
    with ExitStack() as files:  # a multi-page TIFF stays open and is read page by page, twice
        if coco:
            sources: dict[str, int] = {}  # image file name -> the source frame its dvos entry gives
            items, names, listed, videos_of = _coco_sources(
                Path(source), video, frames, label_class, empty_images, size_note, sources
            )
            listing = Path(source)
            exported = set(listed)  # images with the dvos entry of export-masks
        else:
            items = _mask_sources(Path(source), frames, files, allow_labels=allow_labels, label_class=label_class)
            names = {desc: Path(desc).name for _t, _load, desc in items}
            rows = _listing_rows(Path(source))  # the folder's masks.csv, read once
            videos_of = _listed_videos(rows)
            exported = set()
            sources = _listed_source_frames(rows)
        if frames is None:  # (frames= maps every file or image to a frame itself)
            items, own = _own_exports(items, names, videos_of, video, Path(source), from_video, project)
            exported = exported or own
        elif from_video is not None:
            raise ValueError(
                f"{source}: from_video (--from-video) picks the masks export-masks wrote for one video by their "
                f"names, and frames= places every mask itself: leave one of them out"
            )
        if not coco:
            listed = _listed_provenances(rows) if provenance is None else {}
            listing = Path(source) / "masks.csv"
        if frames is None and _numbered_by_name(Path(source), items):
            if first_number:
                items = _shift(items, first_number, numbering)
            else:
                sources = {name: sf for name, sf in sources.items() if name in exported}
                placed, items = _by_source_frame(video, items, names, sources, numbering, Path(source), coco)
                items = placed + (_renumber(video, items, numbering, Path(source), names, exported) if items else [])
        elif first_number:
            raise ValueError(
                f"{source}: --first-number (first_number) counts the numbers in mask file names; these masks take "
                f"their frames from {'frames=' if frames is not None else 'the pages of the file'}: leave it out"
            )
        listed = listed if provenance is None else {}
        # blank mask files may be left out (not a COCO file's images: _coco_sources chose those; not those an export
        # of dvos lists, which come back as they were)
        droppable = set() if coco or empty_images else {desc for _t, _load, desc in items if names[desc] not in listed}
        planned = {t: listed.get(names[desc], (provenance or "manual", None, None, None)) for t, _load, desc in items}
        # a COCO file's images without a dvos entry: manual by default, though an annotation program's export of
        # reviewed pseudo-labels drops that entry (see _warn_now_manual)
        unlisted = {t for t, _load, desc in items if names[desc] not in listed} if coco and provenance is None else ()
        return _check_and_write(
            video,
            items,
            planned,
            listing if listed else None,
            allow_labels,
            overwrite,
            progress,
            cancel,
            size_note=size_note,
            unlisted=(Path(source), unlisted) if unlisted else None,
            droppable=(Path(source), droppable),
        )


def _coco_sources(
    source: Path,
    video,
    frames: Sequence[int] | None,
    label_class: str | None,
    empty_images: bool = False,
    size_note: str = "",
    sources: dict | None = None,
):
    """(items, {description: file name}, {file name: (provenance, head pixels)}) of the COCO file ``source`` for
    ``video``: one item per listed image (:mod:`dvos_core.io.coco`), its mask the union of its annotations of the
    heads' category, its frame the last number of its ``file_name`` as for mask files (or ``frames[k]`` for the k-th
    image). Images of another size than the frames are refused (``size_note``: :func:`_resized_note`). The provenances
    are those :func:`export_masks` wrote into each image's ``dvos`` entry; ``sources`` (when given) takes the source
    frame each entry gives ({file name: source frame}, see :func:`_by_source_frame`).

    An image without any annotation is left out (with one warning naming them), unless ``empty_images`` or it holds
    the ``dvos`` entry of an export of dvos: exports that list every frame of a task (CVAT's) list frames nobody
    annotated, and an empty mask would say they have no heads. A file whose images are all left out is an error."""
    from dvos_core.io.coco import read_coco
    from dvos_core.store.schema import PROVENANCE

    _n, h, w, _ = video.shape
    heads = read_coco(source, label_class=label_class)
    if not heads.images:
        raise ValueError(f"{source}: lists no images, so there are no masks to import")
    heads.check_size(h, w, video.name, size_note)
    if frames is not None and len(frames) != len(heads.images):
        raise ValueError(f"{source}: {len(heads.images)} images but {len(frames)} frame indices given")
    items, names, listed, videos_of, left_out = [], {}, {}, {}, []
    for img in heads.images:
        if img.id not in heads.annotated and not img.extras and not empty_images:
            left_out.append(img.file_name)
            continue
        desc = img.describe(source)
        if frames is not None:
            t = int(frames[img.index])
        elif _TRAILING_NUMBER.search(Path(img.base_name).stem):
            t = frame_number(img.base_name)
        else:
            raise ValueError(
                f"{desc}: cannot tell which frame image {img.id} belongs to: a COCO image goes to the frame numbered "
                f"last in its file_name (frame_000012.png -> frame 12), and {img.file_name!r} has no number; annotate "
                f"frames named with their numbers (or, from Python, pass the frame indices: import_masks(..., "
                f"frames=[...]), one per image in the file's order)"
            )
        items.append((t, (lambda img=img: heads.mask(img)), desc))
        names[desc] = img.base_name
        if isinstance(img.extras.get("video"), str) and img.extras["video"]:
            videos_of[img.base_name] = img.extras["video"]
        if sources is not None and _whole_number(img.extras.get("source_frame")):
            sources[img.base_name] = img.extras["source_frame"]
        kind, pixels = img.extras.get("provenance"), img.extras.get("head_pixels")
        if kind in PROVENANCE and kind != "none":
            digest = img.extras.get("mask_digest")
            model = img.extras.get("model")
            listed[img.base_name] = (
                kind,
                int(pixels) if _whole_number(pixels) else None,
                digest if isinstance(digest, str) else None,
                model if isinstance(model, str) and model else None,
            )
    if left_out:
        shown = ", ".join(left_out[:3]) + (", ..." if len(left_out) > 3 else "")
        fix = EMPTY_FIX
        if not items:
            raise ValueError(
                f"{source}: none of its {len(left_out)} images has an annotation ({shown}), so there is nothing to "
                f"import: images without annotations are left out, since exports that list every frame of a task "
                f"(as CVAT's do) list frames nobody annotated. {fix}"
            )
        warn_user(
            f"{source}: left out {len(left_out)} of its {len(heads.images)} images, which have no annotation "
            f"({shown}): exports that list every frame of a task (as CVAT's do) list frames nobody annotated, and an "
            f"empty mask would say a frame has no heads. {fix}",
        )
    return items, names, listed, videos_of


def _whole_number(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _provenances(video, planned: dict, pixels: dict, listing: Path | None, digests: dict | None = None) -> dict:
    """{frame: provenance}: ``planned`` gives each frame's (provenance, head pixels it was exported with or None,
    its :func:`mask_digest` then or None); a mask listed by the ``masks.csv`` of :func:`export_masks` (``listing``)
    keeps what it lists while it is the mask it was exported as (an export and import keeps pseudo-labels and
    predictions what they were), and is 'corrected' when a person changed it since (fixed in another program:
    ``digests``, the masks' digests now, or where an export listed none, ``pixels``, their head pixels now).
    Checked against what the video takes (a test video: manual masks only)."""
    kinds = {}
    for t, (kind, exported, digest, _set) in planned.items():
        if digest is not None and digests is not None:
            changed = digests[t] != digest  # a head moved keeps its pixel count
        else:
            changed = exported is not None and pixels[t] != exported
        kinds[t] = "corrected" if changed and kind not in ("manual", "corrected") else kind
    for kind in sorted(set(kinds.values())):
        try:
            video.check_label_write(kind)
        except ValueError as e:
            if listing is None:
                raise
            raise ValueError(
                f"{e} ({kind!r}: what {listing} lists for these masks, or 'corrected' for one changed since it was "
                f"exported; masks a person checked go into a test video with --provenance manual, "
                f"provenance='manual')"
            ) from None
    return kinds


def _listing_rows(source: Path) -> list[dict]:
    """The rows of the ``masks.csv`` export-masks wrote in ``source`` (a folder) as dicts; [] without one, or when
    it cannot be read."""
    import csv

    listing = source / "masks.csv" if source.is_dir() else None
    if listing is None or not listing.is_file():
        return []
    try:
        with open(listing, newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _listed_provenances(rows: list[dict]) -> dict[str, tuple[str, int | None, str | None, str | None]]:
    """{mask file name: (provenance, head pixels, mask digest, prediction set)} from the rows of a ``masks.csv``
    export-masks wrote (:func:`_listing_rows`); the set is the model whose predictions were exported, or None."""
    from dvos_core.store.schema import PROVENANCE

    def pixels(row) -> int | None:
        text = (row.get("head_pixels") or "").strip()
        return int(text) if text.isdigit() else None  # a list written before the column: nothing to compare

    listed = [r for r in rows if r.get("file") and r.get("provenance") in PROVENANCE]
    return {
        r["file"]: (
            r["provenance"],
            pixels(r),
            (r.get("mask_digest") or "").strip() or None,
            (r.get("model") or "").strip() or None,
        )
        for r in listed
    }


def _listed_source_frames(rows: list[dict]) -> dict[str, int]:
    """{mask file name: the source frame its stored frame came from} from the rows of a ``masks.csv`` export-masks
    wrote (:func:`_listing_rows`), for the rows that give one."""
    out = {}
    for r in rows:
        name, sf = (r.get("file") or "").strip(), (r.get("source_frame") or "").strip()
        if name and sf.isdigit():
            out[name] = int(sf)
    return out


def _listed_videos(rows: list[dict]) -> dict[str, str]:
    """{mask file name: video id} from the rows of a ``masks.csv`` export-masks wrote (:func:`_listing_rows`); a
    list written before its ``video`` column gives the video of each file's name."""
    out = {}
    for r in rows:
        name = (r.get("file") or "").strip()
        m = _EXPORTED_NAME.fullmatch(name)
        video = (r.get("video") or "").strip() or (m.group(1) if m else "")
        if name and video:
            out[name] = video
    return out


class MasksOfOtherVideos(ValueError):
    """Masks that export-masks wrote for other videos (``videos``: their ids), refused for this one unless
    ``from_video`` names which of them to take."""

    def __init__(self, message: str, videos):
        super().__init__(message)
        self.videos = sorted(videos)


def _own_exports(items, names: dict, videos_of: dict, video, source: Path, from_video: str | None, project):
    """(items, names export-masks wrote for them) of a mask folder or COCO file ``source`` whose ``masks.csv`` (or
    COCO ``dvos`` entries; ``videos_of``: file -> video) may list the exports of several videos (export-masks into
    one folder, one video after another): only this video's files (``from_video``'s, when given) and the files it
    does not list are taken. Masks listed for another video alone are refused, naming it and both ways on (import
    them into that video, or ``from_video``: the same footage stored under another id); so are files all named
    ``<video>_<frame>`` after another video of ``project`` in a folder without a ``masks.csv``."""
    own = from_video if from_video is not None else video.name
    listed = set(videos_of.values())
    if not listed:  # no list of an export: the names may still be those export-masks gives another video's masks
        named = {m.group(1) if (m := _EXPORTED_NAME.fullmatch(names[desc])) else None for _t, _load, desc in items}
        if from_video is not None:
            mine = [it for it in items if (m := _EXPORTED_NAME.fullmatch(names[it[2]])) and m.group(1) == own]
            if not mine:
                raise ValueError(
                    f"{source}: from_video={own!r} (--from-video) takes the masks exported for video {own!r}, and "
                    f"no mask here is named {own}_<frame> nor listed for it by a masks.csv of export-masks"
                )
            return mine, set()
        other = next(iter(named)) if len(named) == 1 else None
        if other is not None and other != video.name and other in project.video_ids():
            how = f"are named {other}_<frame>, as export-masks names the masks of video {other!r}"
            raise MasksOfOtherVideos(_foreign_masks(source, other, video, how, project), [other])
        return items, set()
    if own not in listed:
        if from_video is not None:
            raise ValueError(
                f"{source}: from_video={own!r} (--from-video) takes the masks exported for video {own!r}, and its "
                f"list of exported masks names only {', '.join(sorted(listed))}"
            )
        if len(listed) == 1:
            other = next(iter(listed))
            why = "masks.csv lists them" if source.is_dir() else "its dvos entries list them"
            raise MasksOfOtherVideos(
                _foreign_masks(source, other, video, f"were exported from video {other!r} ({why})", project), [other]
            )
        raise MasksOfOtherVideos(
            f"{source}: its masks.csv lists the masks export-masks wrote for videos {', '.join(sorted(listed))}, "
            f"not for {video.name!r}; import them into those videos, or give --from-video ID (from_video='ID') "
            f"to take the masks of one of them into {video.name!r}",
            listed,
        )
    mine = [it for it in items if videos_of.get(names[it[2]], own) == own]
    return mine, {n for n, v in videos_of.items() if v == own}


def _foreign_masks(source: Path, other: str, video, how: str, project) -> str:
    """The error for masks of video ``other`` imported into ``video``: what they are and both ways on."""
    into = (
        f"import them into {other!r} (`dvos import-masks {quote(project.path)} {quote(other)} "
        f"{quote(Path(source).absolute())}`), or, "
        if other in project.video_ids()
        else ""
    )
    return (
        f"{source}: these masks {how}, not for video {video.name!r}; {into}if they are masks of the same footage "
        f"stored as {video.name!r}, give --from-video {other} (from_video={other!r}) to import them anyway"
    )


def _numbered_by_name(source: Path, items) -> bool:
    """Whether the frames of ``items`` (from :func:`_mask_sources`) come from numbers in file names: a folder, a
    mask file, a one-page TIFF with a number in its name; not the pages of a TIFF stack."""
    if source.is_dir() or source.suffix.lower() not in TIFF_SUFFIXES:
        return True
    return len(items) == 1 and items[0][2] == str(source)  # (pages are described as "<file> page <k>")


def known_source_numbers(video) -> dict[int, int] | None:
    """:func:`source_numbers` of a video added from a file or folder (which records them); None for one whose
    source is not known (added from an array)."""
    if not (video.attrs.get("source_file_numbers") or video.attrs.get("source_frames")):
        return None
    return source_numbers(video)


def _held_sources(video) -> str:
    """Which source frames (or file numbers) ``video`` holds, in words, e.g. 'source frames 2, 4, ..., 10 (--start
    2 --step 2)'."""
    to_stored = source_numbers(video)
    first, last = min(to_stored), max(to_stored)
    if video.attrs.get("source_file_numbers"):
        return f"the frames of image files numbered {first}..{last}"
    step = int((video.attrs.get("source_frames") or {}).get("step") or 1)
    if step == 1:
        return f"source frames {first}..{last} (--start {first})"
    return f"source frames {first}, {first + step}, ..., {last} (--start {first} --step {step})"


def _by_source_frame(video, items, names: dict, sources: dict, numbering: str | None, source: Path, coco: bool):
    """(items placed by their source frame, the other items) for the masks export-masks wrote whose listing
    (``sources``: {file name: source frame}, from its ``masks.csv`` or a COCO file's ``dvos`` entries) says which
    frame of the footage each came from. Their names carry the stored numbers of the video they were exported from,
    which are other frames of the footage when that video was added with other --start/--step than ``video`` (the
    same footage in another project, or added again): such masks go to the frame of ``video`` read from their source
    frame, with a warning saying so; a source frame ``video`` does not hold is an error naming it, not a mask put on
    another frame. Nothing is moved when the numbers agree, with ``numbering='stored'``, or for a video whose source
    frames are not known."""
    to_stored = known_source_numbers(video)
    listed = [it for it in items if names[it[2]] in sources]
    if to_stored is None or numbering == "stored" or not listed:
        return [], items
    if numbering is None and all(to_stored.get(sources[names[desc]]) == t for t, _load, desc in listed):
        return [], items  # the same numbering (the common case): nothing to move
    where, says = ("its dvos entries", "say") if coco else ("masks.csv", "says")
    missing = sorted(
        (sources[names[desc]], names[desc]) for _t, _load, desc in listed if sources[names[desc]] not in to_stored
    )
    if missing:
        shown = ", ".join(f"{name} (source frame {sf})" for sf, name in missing[:5]) + (
            " ..." if len(missing) > 5 else ""
        )
        raise ValueError(
            f"{source}: {where} {says} {len(missing)} of these masks belong to source frames that video {video.name!r} "
            f"does not hold: {shown}. They were exported from a video added with other --start/--step, and "
            f"{video.name!r} holds {_held_sources(video)}, so they would land on other frames of the footage. Move "
            f"those masks out of the import (or add the footage again with --start/--step that hold them); nothing "
            f"was imported"
        )
    placed = [(to_stored[sources[names[desc]]], load, desc) for _t, load, desc in listed]
    moved = [(t, to_stored[sources[names[desc]]]) for t, _load, desc in listed if to_stored[sources[names[desc]]] != t]
    if moved:
        shown = ", ".join(f"{a}->{b}" for a, b in moved[:8]) + (" ..." if len(moved) > 8 else "")
        warn_user(
            f"{video.name}: placed {len(placed)} mask(s) by the source frame {where} {says} they came from: they were "
            f"exported from a video added with other --start/--step, so {len(moved)} go to other stored frames than "
            f"the numbers in their names ({shown}). To place them by those numbers instead, give --numbering stored "
            f"(numbering='stored')"
        )
    return placed, [it for it in items if names[it[2]] not in sources]


def source_numbers(video) -> dict[int, int]:
    """{source number: stored frame} of ``video``: the file numbers of a folder of images (its
    ``source_file_numbers`` runs), else source frame start + t*step (its ``source_frames``)."""
    runs = video.attrs.get("source_file_numbers")
    if runs:
        return {int(n0) + k * int(d): int(t0) + k for t0, n0, count, d in runs for k in range(int(count))}
    sf = video.attrs.get("source_frames") or {}
    start, step = int(sf.get("start") or 0), int(sf.get("step") or 1)
    return {start + t * step: t for t in range(len(video))}


def _renumber(video, items, numbering: str | None, source: Path, names: dict, exported: set):
    """``items`` with their frame numbers read as ``numbering`` says (see :func:`import_masks`); ``names``: the file
    name of each item's description; ``exported``: the names that export-masks wrote (listed by its ``masks.csv``,
    or a COCO image with its ``dvos`` entry), numbered by stored frame."""
    if numbering == "stored":
        return items
    if numbering == "source":
        to_stored = source_numbers(video)
        out = []
        for t, load, desc in items:
            if t not in to_stored:
                shown = sorted(to_stored)
                raise ValueError(
                    f"{desc}: no frame of video {video.name!r} was read from a source file or frame numbered {t} "
                    f"(its source numbers: {shown[0]}..{shown[-1]}); with --numbering source, masks are named "
                    f"like the frame files they belong to"
                )
            out.append((to_stored[t], load, desc))
        return out
    runs = video.attrs.get("source_file_numbers")
    sf = video.attrs.get("source_frames") or {}
    start, step = int(sf.get("start") or 0), int(sf.get("step") or 1)
    if not runs and start == 0 and step == 1:  # stored and source numbers are the same
        return items
    if all(names[desc] in exported for _t, _load, desc in items):  # written by export-masks: stored numbers (a
        # name alone does not tell: frames extracted as <folder>_000001.png look like its files)
        return items
    to_stored = source_numbers(video)
    if not all(t in to_stored for t, _load, _desc in items):  # a number no file has: stored numbers
        return items
    moved = [(t, desc) for t, _load, desc in items if to_stored[t] != t]
    if not moved:
        return items
    t, desc = moved[0]
    as_stored = f"stored frame {t}" if 0 <= t < len(video) else f"frame {t}, past the video's end"
    first = min(to_stored)
    added = (
        f"was added from a folder whose image files are numbered {first}..{max(to_stored)}"
        if runs
        else f"was added from frames {start}, {start + step}, ... of its source (--start {start} --step {step})"
    )
    unit = "a file number" if runs else "a source frame number"
    raise ValueError(
        f"{source}: which frames do these masks belong to? Video {video.name!r} {added}, while its stored frames are "
        f"numbered 0..{len(video) - 1} (source number {first} is stored frame {to_stored[first]}). {names[desc]} "
        f"would go to {as_stored}; counted as {unit}, to stored frame {to_stored[t]}. Say which: --numbering source "
        f"(masks named like the source's frames) or --numbering stored (masks numbered 0..{len(video) - 1}, as "
        f"export-masks writes them); from Python, numbering='source' or 'stored'"
    )


def _shift(items, first_number: int, numbering: str | None):
    """``items`` with ``first_number`` (the number the video's first frame's mask carries) taken off each number."""
    if isinstance(first_number, bool) or not isinstance(first_number, int) or first_number < 0:
        raise ValueError(f"first_number (--first-number) must be a whole number, 0 or more, got {first_number!r}")
    if numbering == "source":
        raise ValueError(
            "--first-number (first_number) and --numbering source both say what mask numbers count; give one"
        )
    out = []
    for t, load, desc in items:
        if t < first_number:
            raise ValueError(
                f"{desc}: its number {t} is below --first-number {first_number}, the number of the first frame's "
                f"mask; check the number, or give the first frame's"
            )
        out.append((t - first_number, load, desc))
    return out


def _from_one_note(items, n: int) -> str:
    """For masks numbered 1..n (as ffmpeg's ``%06d.png``, Label Studio or a person counting from 1 number frames)
    of an ``n``-frame video: dvos counts frames from 0."""
    numbers = [t for t, _load, _desc in items]
    if min(numbers) < 1 or max(numbers) != n:
        return ""
    return (
        f". The masks are numbered {min(numbers)}..{n}, as if counted from 1, while dvos counts a video's frames "
        f"from 0: give --first-number 1 (first_number=1; mask 1 is frame 0), or, for a video added from a folder of "
        f"frames numbered from 1, --numbering source (numbering='source') to name masks like the frame files"
    )


# a mask whose heads cover more than this share of its frame is most likely inverted (black heads painted on white)
MOSTLY_HEADS = 0.5


def _warn_inverted(video_id: str, mostly_heads: list, n_files: int) -> None:
    """Warn about masks that call most of their frame heads: a mask painted black on white reads as its inverse, and
    no value tells the two apart (they are written as they are)."""
    desc, share = max(mostly_heads, key=lambda x: x[1])
    warn_user(
        f"{video_id}: {len(mostly_heads)} of {n_files} masks mark more than half of their frame as heads (e.g. {desc}: "
        f"{share:.0%}): if they show the heads black on a white background they are inverted; heads must be the "
        f"white (non-zero) pixels. Invert such files and import them again with --overwrite",
    )


def _check_and_write(
    video,
    items,
    planned: dict,
    listing,
    allow_labels,
    overwrite,
    progress,
    cancel,
    size_note="",
    unlisted=None,
    droppable=None,
) -> list[int]:
    """import_masks' two passes: check every mask of ``items``, then write them (nothing written if one is bad) with
    the provenance :func:`_provenances` gives each frame from ``planned`` and ``listing``. Without ``overwrite`` a
    mask painted or corrected by a person is kept where the imported one differs from it (a re-import must not
    replace a correction in silence). ``size_note`` ends the error of a mask of the wrong size; ``unlisted``:
    (COCO file, its frames made manual by default), see :func:`_warn_now_manual`; ``droppable``: (source, the
    descriptions of the items left out when their mask is empty), see :func:`_without_empty`."""
    from dvos_core.progress import check, report
    from dvos_core.store.arrays import as_uint8_mask
    from dvos_core.store.schema import CORRECTED, MANUAL

    video_id = video.name
    n, h, w, _ = video.shape
    seen = {}
    pixels = {}  # frame -> the head pixels of its mask
    digests = {}  # frame -> its mask_digest
    mostly_heads = []  # (file, share of its pixels that are heads) above MOSTLY_HEADS
    touching = {}  # frame -> (file, heads, groups) of a label map whose heads of different numbers touch
    for t, load, desc in items:  # validation pass: nothing is written if any file is bad
        check(cancel)
        if not 0 <= t < n:
            raise ValueError(
                f"{desc}: frame {t} is out of range; video {video_id!r} has {n} frames (0..{n - 1})"
                + (_numbering_note(video) or _from_one_note(items, n))
            )
        if t in seen:
            named = " page " not in desc and " page " not in seen[t]
            raise ValueError(
                f"{desc} and {seen[t]} both give the mask of frame {t}"
                + (
                    f": a mask's frame is the last number in its file name (here {t} in both); rename the files so "
                    f"that each name ends with its own frame number, e.g. mask_000012.png"
                    if named
                    else ""
                )
            )
        seen[t] = desc
        raw = load()
        note = size_note + _odd_size_note(video, np.shape(raw)[:2])
        merged = []
        mask = as_uint8_mask(raw, (h, w), name=desc, allow_labels=allow_labels, size_note=note, touching=merged)
        if merged:
            touching[t] = (desc, *merged[0])
        pixels[t], digests[t] = int(np.count_nonzero(mask)), mask_digest(mask)
        if pixels[t] > MOSTLY_HEADS * h * w:
            mostly_heads.append((desc, pixels[t] / (h * w)))
    if droppable is not None:
        items = _without_empty(video.name, items, pixels, *droppable)
        planned = {t: planned[t] for t, _load, _desc in items}
    kinds = _provenances(video, planned, pixels, listing, digests)
    if mostly_heads:
        _warn_inverted(video_id, mostly_heads, len(items))
    _warn_touching(video_id, {t: touching[t] for t, _load, _desc in items if t in touching})
    written = []
    sources = _corrected_sources(video, planned, kinds)
    before = np.asarray(video.provenance[:n])
    human = set(np.flatnonzero(np.isin(before, (MANUAL, CORRECTED))).tolist()) if not overwrite else ()
    if overwrite and video.path and video.split != "test" and any(before[t] for t, _load, _desc in items):
        # replacing masks in bulk, as clear-masks: a training run's samples were fixed at its start
        refuse_while_training(video.path, f"the masks of video {video.name!r}", "import them with --overwrite")
    for i, (t, load, desc) in enumerate(sorted(items, key=lambda x: x[0])):
        check(cancel)
        mask = as_uint8_mask(load(), (h, w), name=desc, allow_labels=allow_labels, touching=[])  # (warned above)
        if t in human and not np.array_equal(video.mask(t) > 0, mask > 0):
            pass  # a person's mask, and the imported one differs: kept (listed below)
        elif video.set_mask(t, mask, kinds[t], overwrite=overwrite, corrected_from=sources.get(t)):
            written.append(t)
        report(progress, i + 1, len(items), f"{video_id}: masks")
    kept = sorted({t for t, _load, _desc in items} - set(written))  # (empty masks left out are not "kept")
    if kept:
        outranked = [t for t in kept if t not in human]
        _warn_kept(video_id, [t for t in kept if t in human], "human")
        _warn_kept(video_id, outranked, _code_names(before, outranked, kinds))
    if unlisted is not None:
        _warn_now_manual(video.name, unlisted, [t for t in written if kinds[t] == "manual" and pixels[t]], before)
    return written


def _corrected_sources(video, planned: dict, kinds: dict) -> dict[int, str]:
    """{frame: prediction set} of the masks made 'corrected' by this import (an exported prediction a person
    changed since) whose set still holds the very prediction that was exported (its digest as listed): recorded
    with the correction (``corrected_from``), so that evaluation knows the set's model is scored on its own
    correction, as for a correction saved in napari. A set deleted, or predicted again since, is not named."""
    out = {}
    for t, (listed, _pixels, digest, name) in planned.items():
        if kinds.get(t) != "corrected" or not name or digest is None or listed == "corrected":
            continue
        preds = video.predictions[name]
        got = preds.get(t) if preds.exists() else None
        if got is not None and mask_digest(np.asarray(got[0]) > 0) == digest:
            out[t] = name
    return out


def _warn_touching(video_id: str, touching: dict) -> None:
    """One warning for the label maps whose heads of different numbers touch (``touching``: frame -> (file, heads,
    groups)): each group becomes one head in the binary masks dvos stores."""
    if not touching:
        return
    from dvos_core.store.arrays import touching_words

    frames = sorted(touching)
    shown = ", ".join(map(str, frames[:10])) + (" ..." if len(frames) > 10 else "")
    heads = sum(x[1] for x in touching.values())
    groups = sum(x[2] for x in touching.values())
    where = f" in {len(frames)} frame(s) (frames {shown}; e.g. {Path(touching[frames[0]][0]).name})"
    warn_user(f"{video_id}: {touching_words(heads, groups, where, ' and import the masks again with --overwrite')}")


def _code_names(before: np.ndarray, frames: list, kinds: dict) -> tuple[str, str]:
    """(the provenances ``frames`` held before the import, those it brought), e.g. ('pseudo', 'predicted')."""
    from dvos_core.store.schema import PROVENANCE_NAMES

    held = sorted({PROVENANCE_NAMES[int(before[t])] for t in frames})
    brought = sorted({kinds[t] for t in frames})
    return "/".join(held), "/".join(brought)


def _warn_kept(video_id: str, frames: list, why) -> None:
    """The warning for imported masks not written: ``why`` "human" (a person's mask, and the imported one differs),
    else (the provenance the frames held, the one imported) where the held one ranks higher."""
    if not frames:
        return
    shown = ", ".join(map(str, frames[:10])) + (" ..." if len(frames) > 10 else "")
    if why == "human":
        warn_user(
            f"{video_id}: {len(frames)} frame(s) kept the masks they had (frames {shown}): masks painted or corrected "
            f"by a person are not replaced by other masks; pass overwrite=True (--overwrite) to replace them",
        )
        return
    held, brought = why
    warn_user(
        f"{video_id}: {len(frames)} frame(s) kept their {held} masks (frames {shown}): an imported {brought} mask "
        f"ranks below them, so it does not replace them. Nothing to do unless you meant to replace them: pass "
        f"overwrite=True (--overwrite) to make them {brought} masks (training reads those only when asked)",
    )


EMPTY_FIX = (
    "If someone looked at these frames and found no heads, give --empty-images (Python: empty_images=True) to store "
    "them as frames without heads"
)


def _without_empty(video_id: str, items: list, pixels: dict, source: Path, droppable: set) -> list:
    """``items`` without the empty masks among ``droppable`` (their descriptions), with one warning naming them; an
    error when nothing is left. A mask file for every frame holds blank ones where nobody painted, and an empty mask
    would say "no heads here"."""
    empty = {desc for t, _load, desc in items if desc in droppable and pixels[t] == 0}
    if not empty:
        return items
    first = [desc for _t, _load, desc in items if desc in empty][:3]  # in the order of the items
    shown = ", ".join(Path(d).name for d in first)  # a file's name, or "stack.tif page 3"
    shown += ", ..." if len(empty) > 3 else ""
    why = (
        "a mask for every frame (a whole labels layer saved, an annotation tool's export) holds blank ones where "
        "nobody painted, and an empty mask would say a frame has no heads"
    )
    if len(empty) == len(items):
        raise ValueError(
            f"{source}: all {len(empty)} of its masks are empty ({shown}), so there is nothing to import: empty "
            f"masks are left out, since {why}. {EMPTY_FIX}"
        )
    warn_user(
        f"{video_id}: left out {len(empty)} of the {len(items)} masks of {source}, which are empty ({shown}): "
        f"{why}. {EMPTY_FIX}",
    )
    return [item for item in items if item[2] not in empty]


def _warn_now_manual(video_id: str, unlisted: tuple[Path, set], manual: list[int], before: np.ndarray) -> None:
    """Warn once when masks of a COCO file without ``dvos`` entries (``unlisted``: the file and those images'
    frames) replaced pseudo-labels or predictions as manual masks (``manual``: the frames written manual, with heads;
    ``before``: the provenances before): CVAT or Label Studio drop the entries dvos exports, so reviewed model masks
    would come back as ground truth."""
    from dvos_core.store.schema import PREDICTED, PSEUDO

    source, frames = unlisted
    were_model = [t for t in manual if t in frames and before[t] in (PSEUDO, PREDICTED)]
    if not were_model:
        return
    shown = ", ".join(map(str, were_model[:10])) + (" ..." if len(were_model) > 10 else "")
    warn_user(
        f"{source}: the pseudo-labels or predictions of {len(were_model)} frame(s) of {video_id} (frames {shown}) "
        f"are now this file's masks, saved as manual (ground truth): its images have no dvos entry saying a model "
        f"made them (annotation programs leave it out of their exports). If these are model masks someone reviewed, "
        f"import the file again with --provenance corrected (provenance='corrected')",
    )


def written_kinds(video, frames) -> dict[str, int]:
    """{provenance name: how many of ``frames`` (e.g. those :func:`import_masks` wrote) hold a mask of it}."""
    from collections import Counter

    from dvos_core.store.schema import PROVENANCE_NAMES

    codes = np.asarray(video.provenance)
    return dict(Counter(PROVENANCE_NAMES[int(codes[t])] for t in frames))


class ExportedMasks(list):
    """What :func:`export_masks` returns: the paths it wrote (a list, as before), with ``skipped``, {frame: the error
    naming its file and the fix} of the masks it could not read (a damaged or missing chunk of the store) and left
    out; ``dvos export-masks`` exits with status 1 when there is any."""

    def __init__(self, paths=(), skipped=None):
        super().__init__(paths)
        self.skipped: dict[int, str] = dict(skipped or {})


def export_masks(
    project,
    video_id: str,
    out_dir,
    fmt: str = "png",
    which: str = "labels",
    progress=None,
    cancel=None,
    model: str | None = None,
    min_area: int = 16,
    overwrite: bool = False,
) -> ExportedMasks:
    """Write the masks of a video as one image per frame (values 0/255) named ``<video>_<frame:06d>.<fmt>``.

    ``which='labels'`` exports every frame with a mask (any provenance); ``which='predictions'`` exports a model's
    thresholded predictions: ``model``'s, default the most recent set. ``masks.csv`` lists video, frame, file,
    provenance, the model (predictions), the heads in the mask (8-connected parts of at least ``min_area`` pixels, as
    the evaluation counts them) and its head pixels; the rows of other videos exported into the same folder stay in
    it (see :func:`_other_videos_rows`). ``fmt``: 'png' or 'tif'. ``out_dir`` may not lie inside the project folder.
    TIFFs are deflate-compressed (lossless). Returns the written paths (an :class:`ExportedMasks` list). A mask that
    cannot be read (a damaged or missing chunk file) is left out with a warning naming its frames and the file, and
    every other mask is written: the returned list's ``skipped`` names the frames left out ({frame: why}).

    ``fmt='coco'`` writes one COCO JSON file instead, ``<video>_coco.json`` (see :func:`_export_coco`).

    Files of an earlier export that this one would write over are kept unless ``overwrite`` when they may hold
    someone's edits (see :func:`_refuse_edited`): a file whose mask is not the one ``masks.csv`` (the COCO ``dvos``
    entries) lists for it, or one it does not list; the export is then refused before anything is written.

    The files are written under hidden temporary names and put in place with ``masks.csv`` only once all are written
    (:func:`_put_in_place`): a cancel or an error leaves the folder and its ``masks.csv`` as they were.
    """
    import tifffile

    from dvos_core.progress import check, report
    from dvos_core.store import Project
    from dvos_core.store.schema import PROVENANCE_NAMES

    if fmt not in ("png", "tif", "tiff", "coco"):
        raise ValueError(f"mask format must be 'png', 'tif' or 'coco', got {fmt!r}")
    if which not in ("labels", "predictions"):
        raise ValueError(f"which must be 'labels' or 'predictions', got {which!r}")
    if int(min_area) < 1:
        raise ValueError(f"min_area must be at least 1 pixel, got {min_area}")
    from dvos_core.io.output_paths import check_output_folder

    project = Project.of(project, mode="r")
    out = check_output_folder(out_dir, project)
    video = project.video(video_id)
    if which == "labels":
        frames = np.flatnonzero(video.provenance)
        codes = video.provenance
        if not len(frames):  # an empty export would look like a finished one (exit status 0, "wrote 0 masks")
            raise ValueError(
                f"{project.path}: video {video_id!r} has no masks to export (none painted, imported, pseudo-labelled "
                f"or corrected); paint or import some first, or export a model's masks (--predictions, "
                f"which='predictions')"
            )
    else:
        from dvos_core.io.mask_source import prediction_set

        chosen = prediction_set(project, video, model)
        frames, codes, model = chosen.frames(), None, chosen.model
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"{out}: cannot create the output folder ({e.strerror or e})") from e
    read = (lambda t: video.mask(t)) if which == "labels" else (lambda t: chosen.get(t)[0])
    damaged: list = []  # (frame, message) of masks that cannot be read: every other mask is still exported

    def get(t: int):
        try:
            return read(t)
        except DamagedStoreError as e:
            damaged.append((t, str(e)))
            return None

    if fmt == "coco":
        kinds = (lambda t: PROVENANCE_NAMES[int(codes[t])]) if which == "labels" else (lambda t: "predicted")
        path = out / f"{video_id}_coco.json"
        from dvos_core.io.coco import is_dvos_export

        if path.exists() and not overwrite and is_dvos_export(path):  # (one dvos did not write: refused below)
            _refuse_edited(out, {path.name: None}, project, video_id, read, {})
        written = _export_coco(path, video, frames, get, kinds, model, progress, cancel)
        _warn_damaged(video, damaged)
        return ExportedMasks([written], damaged)
    others = _other_videos_rows(out, video_id)  # read (and refused if foreign) before any mask is written
    targets = {f"{video_id}_{int(t):06d}.{fmt}": int(t) for t in frames}
    listed = {r["file"]: r for r in _listing_rows(out) if r.get("file")}  # masks.csv's rows by file, read once
    if not overwrite:
        _refuse_edited(out, targets, project, video_id, read, listed)
    _refuse_mixing(out, video_id, fmt, targets, which, listed)
    from dvos_core.evaluate.metrics import count_objects

    rows, staged = [], []  # staged: (temporary file, the file it becomes)
    source_of = {t: s for s, t in (known_source_numbers(video) or {}).items()}
    _remove_partial(out, video_id, fmt)  # left by an export killed before it could clean up
    try:
        for i, t in enumerate(frames):
            check(cancel)
            m = get(int(t))
            if m is None:  # damaged: named at the end
                continue
            prov = PROVENANCE_NAMES[int(codes[t])] if which == "labels" else "predicted"
            p = out / f"{video_id}_{int(t):06d}.{fmt}"
            part = partial_path(p)  # hidden until the whole export is written (hidden files are not read as masks)
            img = (np.asarray(m) > 0).astype(np.uint8) * 255
            staged.append((part, p))
            if fmt == "png":
                write_image(part, img, f"exporting the mask of frame {int(t)}")
            else:
                with io_step(part, f"exporting the mask of frame {int(t)}"):
                    # deflate (lossless, read by every TIFF reader): a 0/255 mask shrinks ~50x, as PNG does;
                    # uncompressed, 3000 masks of a 1080p video were 6 GB
                    tifffile.imwrite(str(part), img, compression="zlib")
            heads = count_objects(img, min_area=min_area)
            pixels, source = str(int(np.count_nonzero(img))), str(source_of.get(int(t), ""))
            row = [video_id, str(int(t)), p.name, prov, model or "", str(heads), pixels, source, mask_digest(img)]
            rows.append(row)
            report(progress, i + 1, len(frames), f"{video_id}: exporting masks")
    except BaseException:  # a cancel, Ctrl+C, a full disk: the folder and its masks.csv stay as they were
        for part, _p in staged:
            part.unlink(missing_ok=True)
        raise
    paths = _put_in_place(out / "masks.csv", others, rows, staged)
    _warn_stale(out, video_id, fmt, paths, which)
    _warn_damaged(video, damaged)
    return ExportedMasks(paths, damaged)


def _remove_partial(out: Path, video_id: str, fmt: str) -> None:
    """Remove the files of ``video_id`` an export killed before it could clean up left under their hidden partial names
    (:func:`~dvos_core.io.output_paths.partial_path`)."""
    pattern = re.compile(r"\." + re.escape(video_id) + r"_\d{6}\.partial\." + re.escape(fmt))
    for q in out.iterdir():
        if pattern.fullmatch(q.name) and q.is_file() and not q.is_symlink():
            q.unlink(missing_ok=True)


def _put_in_place(listing: Path, others: list, rows: list, staged: list) -> list[Path]:
    """Give the files ``staged`` ((temporary file, final path), written whole) their names and list ``others`` +
    ``rows`` in ``listing``. Until every file has its name, ``listing`` lists none of this video's files: a process
    killed in between leaves files it does not list (refused by the next export unless they hold its masks), never
    a row claiming a file holds a mask it does not."""
    _write_listing(listing, others)
    done = 0
    try:
        for part, path in staged:
            with io_step(path, "giving an exported mask its name"):
                os.replace(part, path)
            done += 1
    except BaseException:  # list the files that have their names; the others stay as they were
        for part, _path in staged[done:]:
            part.unlink(missing_ok=True)
        _write_listing(listing, others + rows[:done])
        raise
    _write_listing(listing, others + rows)
    return [path for _part, path in staged]


def _warn_damaged(video, damaged: list) -> None:
    """Name the frames whose mask could not be read (a damaged or missing chunk): the export holds every other one,
    so a damaged video's readable masks can be kept before it is repaired or added again."""
    if not damaged:
        return
    frames = ", ".join(str(t) for t, _ in damaged[:20]) + (" ..." if len(damaged) > 20 else "")
    warn_user(
        f"{video.name}: the masks of {len(damaged)} frame(s) could not be read and were not exported (frames "
        f"{frames}); every other mask was. First: {damaged[0][1]}"
    )


def _export_coco(path: Path, video, frames, get, kinds, model, progress, cancel) -> Path:
    """Write the masks ``get(t)`` of ``frames`` as COCO instance annotations (one per head, polygons where they give
    back its pixels exactly, else RLE: :func:`dvos_core.io.coco.head_annotations`), one image per frame named
    ``<video>_<frame:06d>.png`` (so :func:`import_masks` puts it back on its stored frame), a frame without heads as
    an image without annotations. Each image's ``dvos`` entry holds the frame, its source frame (where the video
    knows it), its provenance (``kinds(t)``), the model
    and its head pixels, read back by :func:`import_masks`. A file of that name that dvos did not write is refused
    (one edited since dvos wrote it: see :func:`export_masks`)."""
    from dvos_core.io import coco
    from dvos_core.progress import check, report

    source_of = {t: s for s, t in (known_source_numbers(video) or {}).items()}
    if path.exists() and not coco.is_dvos_export(path):
        raise ValueError(f"{path}: this file is not a COCO export of dvos; move it away or export into another folder")
    _n, h, w, _ = video.shape
    images, annotations = [], []
    for i, t in enumerate(int(t) for t in frames):
        check(cancel)
        got = get(t)
        if got is None:  # a mask that cannot be read (``get`` says so): left out
            continue
        m = np.asarray(got) > 0
        extras = {"video": video.name, "frame": t, "provenance": kinds(t), "head_pixels": int(np.count_nonzero(m))}
        extras["mask_digest"] = mask_digest(m)
        if t in source_of:
            extras["source_frame"] = source_of[t]
        if model:
            extras["model"] = model
        image_id = i + 1
        name = f"{video.name}_{t:06d}.png"
        images.append({"id": image_id, "file_name": name, "width": w, "height": h, coco.EXPORT_MARK: extras})
        for ann in coco.head_annotations(m):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1, **ann})
        report(progress, i + 1, len(frames), f"{video.name}: exporting masks")
    doc = {
        "info": {"description": f"masks of video {video.name}", coco.EXPORT_MARK: {"video": video.name}},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": coco.CATEGORY, "supercategory": ""}],
    }
    coco.write_json(path, doc)
    return path


# head_pixels: every mask pixel (parts under min_area too, which "heads" leaves out); source_frame: the frame (or the
# file number of a folder of images) of the source footage that stored frame ``frame`` came from; mask_digest: which
# pixels are heads (mask_digest), so that a head moved in another program is seen as a correction
LISTING_COLUMNS = (
    "video",
    "frame",
    "file",
    "provenance",
    "model",
    "heads",
    "head_pixels",
    "source_frame",
    "mask_digest",
)


def mask_digest(mask) -> str:
    """A short fingerprint of which pixels of ``mask`` are heads (non-zero) and of its size: two masks share it only
    when they are the same mask (a head moved keeps the head pixel count, not the digest)."""
    import hashlib

    m = np.asarray(mask) > 0
    return hashlib.sha1(np.array(m.shape, np.int64).tobytes() + np.packbits(m).tobytes()).hexdigest()[:16]


_EXPORTED_NAME = re.compile(r"(.+)_(\d{6})\.(?:png|tif|tiff)")


def _other_videos_rows(out: Path, video_id: str) -> list[list[str]]:
    """The rows of an existing ``out/masks.csv`` that belong to other videos and whose mask files are still there, so
    that exporting several videos into one folder, one after another, lists all of them. Lists written before the
    ``video`` column existed are read too (the video taken from each file's name). A ``masks.csv`` that dvos did not
    write is refused, before anything is written, rather than overwritten."""
    import csv

    listing = out / "masks.csv"
    if not listing.is_file():
        return []
    try:
        with open(listing, newline="") as f:
            table = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{listing}: cannot read the existing list of exported masks ({e}); move it away") from e
    header, body = (table[0], table[1:]) if table else ([], [])
    if header == list(LISTING_COLUMNS):
        rows = [r for r in body if len(r) == len(header)]
    elif header == list(LISTING_COLUMNS[:-1]):  # before the mask_digest column
        rows = [[*r, ""] for r in body if len(r) == len(header)]
    elif header == list(LISTING_COLUMNS[:-2]):  # before the source_frame column
        rows = [[*r, "", ""] for r in body if len(r) == len(header)]
    elif header == list(LISTING_COLUMNS[1:-2]):  # before the video column: the video is in the file name
        rows = []
        for r in body:
            m = _EXPORTED_NAME.fullmatch(r[1]) if len(r) == len(header) else None
            if m:
                rows.append([m.group(1), *r, "", ""])
    else:
        raise ValueError(
            f"{listing}: this file is not a list of masks exported by dvos (its columns are {', '.join(header[:8])}); "
            f"move it away or export into another folder"
        )
    return [r for r in rows if r[0] != video_id and (out / r[2]).is_file()]


def _write_listing(path: Path, rows: list[list[str]]) -> None:
    """Write ``masks.csv`` whole (rows sorted by video, then frame) through a temporary file, so a failed write
    leaves the earlier list in place."""
    import csv
    import io
    import os

    rows = sorted(rows, key=lambda r: (r[0], int(r[1])))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(LISTING_COLUMNS)
    writer.writerows(rows)
    tmp = path.with_name(path.name + ".tmp")
    with io_step(path, "writing the list of exported masks"):
        try:
            tmp.write_text(text.getvalue())
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk left it, empty or cut short
            raise


def _edits(out: Path, names: dict, now, listed: dict) -> list[str]:
    """Of the files ``names`` ({file name: the frame it holds, or None for a COCO export}) in ``out`` that an export
    is about to write, the ones that may hold someone's edits, each with why: a mask file whose mask is not the one
    the folder's ``masks.csv`` lists for it (its ``mask_digest``; a list written before that column: its head
    pixels), or that it does not list; a COCO export (``*_coco.json``) with an image whose mask is not the one its
    ``dvos`` entry lists, or without that entry. A file whose mask is the one the export writes (``now(t)``: the
    mask of frame t now; edits imported since) loses nothing and is not named. Only files that exist are read.
    ``listed``: the rows of the folder's ``masks.csv`` by file name."""
    present = [n for n in names if (out / n).is_file()]
    if not present:
        return []
    edited = []
    for name in present:
        if name.endswith(".json"):
            edited += _coco_edits(out / name, now)
            continue
        row = listed.get(name)
        try:
            m = read_mask_file(out / name)
        except (ValueError, OSError):
            edited.append(f"{name} (no longer a mask dvos can read)")
            continue
        if row is None:
            why = "masks.csv does not list it"
        else:
            digest, pixels = (row.get("mask_digest") or "").strip(), (row.get("head_pixels") or "").strip()
            changed = mask_digest(m) != digest if digest else pixels.isdigit() and np.count_nonzero(m) != int(pixels)
            why = "changed since it was exported" if changed else None
        if why and not _same_mask(m, now, names[name]):
            edited.append(f"{name} ({why})")
    return edited


def _same_mask(mask, now, t) -> bool:
    """Whether ``mask`` is the mask ``now(t)`` of frame ``t`` (False when it has none, or cannot be read)."""
    try:
        held = now(t) if t is not None else None
    except DamagedStoreError:
        return False
    return held is not None and np.shape(held) == np.shape(mask) and mask_digest(held) == mask_digest(mask)


def _coco_edits(path: Path, now) -> list[str]:
    """``path`` (a COCO export of dvos) with why, in a list, when one of its images is not as it was exported, nor
    the mask its frame holds ``now`` (see :func:`_edits`); else []."""
    from dvos_core.io.coco import read_coco

    try:
        heads = read_coco(path)
        for img in heads.images:
            extras = img.extras or {}
            digest, pixels = extras.get("mask_digest"), extras.get("head_pixels")
            m = heads.mask(img)
            if not extras or (img.id in heads.annotated and img.id not in heads.annotations):
                why = "was added or annotated since it was exported"
            elif isinstance(digest, str):
                why = "changed since it was exported" if mask_digest(m) != digest else None
            elif _whole_number(pixels):
                why = "changed since it was exported" if np.count_nonzero(m) != pixels else None
            else:
                why = None
            t = frame_number(img.base_name) if why and _TRAILING_NUMBER.search(Path(img.base_name).stem) else None
            if why and not _same_mask(m, now, t):
                return [f"{path.name} (image {img.file_name} {why})"]
    except ValueError as e:
        return [f"{path.name} (no longer a file dvos can read back: {e})"]
    return []


def _refuse_edited(out: Path, names: dict, project, video_id: str, now, listed: dict) -> None:
    """Refuse an export that would write over files of ``out`` holding someone's edits (:func:`_edits`), naming
    them and the ways on, before anything is written: the docs suggest exporting, fixing masks in another program and
    importing them back, and exporting again before that import silently threw the fixes away."""
    edited = _edits(out, names, now, listed)
    if not edited:
        return
    shown = ", ".join(edited[:5]) + (f", and {len(edited) - 5} more" if len(edited) > 5 else "")
    first = next(iter(names))
    where = quote(out / first) if first.endswith(".json") else quote(out)
    raise ValueError(
        f"{out}: this export would write over {len(edited)} file(s) that dvos did not write as they are (edited or "
        f"added in another program?): {shown}. Import them first (`dvos import-masks {quote(project.path)} "
        f"{quote(video_id)} {where}`), export into another folder, or pass --overwrite (overwrite=True) to replace "
        f"them; nothing was written"
    )


def _stale_files(out: Path, video_id: str, fmt: str, names) -> list[str]:
    """The mask files of ``video_id`` in ``out`` (named as export-masks names them, in ``fmt``) not among ``names``."""
    pattern = re.compile(re.escape(video_id) + r"_(\d{6})\." + re.escape(fmt))
    return sorted(q.name for q in out.iterdir() if pattern.fullmatch(q.name) and q.name not in names)


def _refuse_mixing(out: Path, video_id: str, fmt: str, names, which: str, rows: dict) -> None:
    """Refuse, before anything is written, an export of a video's predictions into a folder holding an export of its
    stored masks (or the other way round) that it would not write over: ``masks.csv`` would list this export only,
    and importing the folder took the other export's files for manual masks (a warning also said their frames had
    no mask). Which export a file came from is its ``masks.csv`` row (``rows``, by file name: predictions name their
    model)."""
    stale = _stale_files(out, video_id, fmt, names)
    other = [n for n in stale if n in rows and bool((rows[n].get("model") or "").strip()) != (which == "predictions")]
    if not other:
        return
    kinds = ("predictions", "stored masks") if which == "labels" else ("stored masks", "predictions")
    shown = ", ".join(other[:5]) + (" ..." if len(other) > 5 else "")
    raise ValueError(
        f"{out}: holds an export of the {kinds[0]} of {video_id!r} ({len(other)} file(s) this export of its "
        f"{kinds[1]} would not replace: {shown}); mixing the two, masks.csv would list only this export and importing "
        f"the folder would take those files for manual masks. Export into another folder (or an empty one)"
    )


def _warn_stale(out: Path, video_id: str, fmt: str, written: list[Path], which: str = "labels") -> None:
    """Warn about mask files of ``video_id`` in ``out`` that this export did not write (an earlier export of frames
    that have no mask now, or no prediction in this export's set): importing the folder again would bring those
    masks back."""
    stale = _stale_files(out, video_id, fmt, {p.name for p in written})
    if stale:
        shown = ", ".join(stale[:5]) + (" ..." if len(stale) > 5 else "")
        why = "their frames have no mask now" if which == "labels" else "frames these predictions do not cover"
        warn_user(
            f"{out}: {len(stale)} mask file(s) of {video_id!r} from an earlier export are not in this one ({why}): "
            f"{shown}; masks.csv does not list them. Delete those files before importing the folder again, or "
            f"export into an empty folder",
        )
