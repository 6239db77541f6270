"""COCO instance annotations (the "COCO 1.0" JSON of CVAT, Label Studio, Roboflow, makesense): read and write.

Reading: :func:`read_coco` checks the file's structure, picks the heads' category and gives one :class:`CocoImage`
per listed image; :meth:`CocoHeads.mask` draws an image's head annotations as one binary mask. Segmentations may be
polygons ``[[x1, y1, x2, y2, ...], ...]``, uncompressed RLE ``{"counts": [...], "size": [h, w]}`` or compressed RLE
(COCO's string-encoded counts); RLE runs go down the columns (column-major), starting with background.

Polygon coordinates are pixel edges: (0, 0) is the top-left corner of the top-left pixel, and a pixel is a head
when its centre lies inside the polygon (even-odd rule; a centre exactly on a left or top edge counts in, on a
right or bottom edge out). So the unit square ``[0, 0, 1, 0, 1, 1, 0, 1]`` covers one pixel and a w x h box w*h
pixels, as COCO's own tools (pycocotools) draw them. The parts of an annotation and the annotations of an image are
joined (union); crowd annotations (``iscrowd`` 1, how CVAT exports brush masks) are heads too.

Writing: :func:`head_annotations` turns a mask into one annotation per head (8-connected part): a polygon tracing
its pixels' outer edges where that polygon gives back exactly its pixels, else (a head with a hole) compressed RLE.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dvos_core.shell import user_path

CATEGORY = "wheat head"  # the category export writes
EXPORT_MARK = "dvos"  # the key of the extras dvos writes in "info" and in each image


@dataclass
class CocoImage:
    """One entry of ``images``: ``index`` is its place in that list; ``extras`` what dvos wrote there on export."""

    id: object
    file_name: str
    width: int
    height: int
    index: int
    extras: dict = field(default_factory=dict)

    @property
    def base_name(self) -> str:
        """The file name without its folders (either slash)."""
        return re.split(r"[\\/]", self.file_name)[-1]

    def describe(self, path) -> str:
        return f"{path} image {self.file_name}"


@dataclass
class CocoHeads:
    """The images of a COCO file and the annotations of its heads' category, checked (see :func:`read_coco`)."""

    path: Path
    images: list[CocoImage]
    category: str
    annotations: dict = field(default_factory=dict)  # image id -> [annotation] of the heads' category
    annotated: set = field(default_factory=set)  # ids of the images with annotations of any category

    def check_size(self, height: int, width: int, video_id: str, note: str = "") -> None:
        """Refuse images whose size differs from the video's frames, naming the first one; ``note`` ends the
        message (what to do for a video resized when it was added)."""
        for img in self.images:
            if (img.height, img.width) != (height, width):
                raise ValueError(
                    f"{self.path}: image {img.id} ({img.file_name}) is {img.width}x{img.height} pixels, but video "
                    f"{video_id!r} stores {width}x{height} frames; annotations must be drawn on frames of the stored "
                    f"size: annotate the frames as the project holds them{note}"
                )

    def mask(self, img: CocoImage) -> np.ndarray:
        """The (height, width) uint8 0/1 mask of the heads annotated on ``img``."""
        out = np.zeros((img.height, img.width), np.uint8)
        polygons = []
        for ann in self.annotations.get(img.id, ()):
            seg = ann["segmentation"]
            if isinstance(seg, dict):
                where = f"{self.path}: annotation {ann.get('id', '?')} of image {img.id} ({img.file_name})"
                size = seg.get("size")
                if not _int_pair(size) or (int(size[0]), int(size[1])) != (img.height, img.width):
                    raise ValueError(
                        f"{where}: its RLE size {size!r} is not the image's [height, width] "
                        f"[{img.height}, {img.width}]; fix the file (or export it again)"
                    )
                out |= decode_rle(seg["counts"], img.height, img.width, where)
            else:
                polygons.extend(seg)
        if polygons:
            out |= fill_polygons(polygons, img.height, img.width)
        n = len(self.annotations.get(img.id, ()))
        if n and not out.any():  # stored, it would be a person's "no heads here"
            raise ValueError(
                f"{self.path}: image {img.id} ({img.file_name}) has {n} head annotation(s), but none covers a pixel of "
                f"its {img.width}x{img.height} frame (coordinates scaled to 0-1, or outside the image?); fix the "
                f"file's coordinates (pixels of the stored frame) and import it again"
            )
        return out


# ---- reading ------------------------------------------------------------------------------------------------------
def _int_pair(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(_whole(x) and x >= 0 for x in v)


def _whole(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and float(v).is_integer()


def _load(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"{path}: COCO annotation file not found")
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}: not a JSON file ({e.msg} at line {e.lineno}, column {e.colno}); export the annotations again "
            f"as COCO 1.0 JSON"
        ) from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text (JSON) file ({e.reason}); give the COCO .json file") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read this file ({e.strerror or e})") from e


def _list(doc: dict, key: str, path: Path) -> list:
    if key not in doc:
        raise ValueError(
            f"{path}: no {key!r} list, so not COCO instance annotations (a COCO file holds 'images', 'annotations' "
            f"and 'categories'); export the annotations as COCO 1.0 JSON"
        )
    if not isinstance(doc[key], list):
        raise ValueError(f"{path}: {key!r} is a {type(doc[key]).__name__}, not a list; fix or export the file again")
    return doc[key]


def _images(entries: list, path: Path) -> list[CocoImage]:
    images, ids = [], set()
    for k, e in enumerate(entries):
        missing = [key for key in ("id", "file_name", "width", "height") if not isinstance(e, dict) or key not in e]
        if missing:
            raise ValueError(
                f"{path}: entry {k} of 'images' has no {', '.join(missing)} (each image needs id, file_name, width "
                f"and height); fix or export the file again"
            )
        if not isinstance(e["file_name"], str) or not e["file_name"]:
            raise ValueError(f"{path}: image {e['id']!r} has no file name (file_name {e['file_name']!r})")
        if not (_whole(e["width"]) and _whole(e["height"]) and e["width"] > 0 and e["height"] > 0):
            raise ValueError(
                f"{path}: image {e['id']!r} ({e['file_name']}) has width {e['width']!r} and height {e['height']!r}; "
                f"both must be whole numbers of pixels"
            )
        if e["id"] in ids:
            raise ValueError(f"{path}: two images have the id {e['id']!r}; each image needs its own id")
        ids.add(e["id"])
        extras = e.get(EXPORT_MARK) if isinstance(e.get(EXPORT_MARK), dict) else {}
        images.append(CocoImage(e["id"], e["file_name"], int(e["width"]), int(e["height"]), k, extras))
    return images


def _categories(entries: list, path: Path) -> dict:
    """{category id: name}."""
    names = {}
    for k, c in enumerate(entries):
        if not isinstance(c, dict) or "id" not in c or not isinstance(c.get("name"), str):
            raise ValueError(f"{path}: entry {k} of 'categories' needs an id and a name; fix or export the file again")
        names[c["id"]] = c["name"]
    return names


def _chosen(names: dict, label_class: str | None, path: Path) -> set:
    """The ids of the heads' category: ``label_class``'s, else the only category besides one named background."""
    listed = ", ".join(dict.fromkeys(names.values())) or "none"
    if label_class is not None:
        ids = {i for i, n in names.items() if n == label_class}
        if not ids:
            raise ValueError(f"{path}: no category {label_class!r}; its categories: {listed} (--class NAME)")
        return ids
    heads = {i for i, n in names.items() if n.strip().lower() != "background"}
    if len({names[i] for i in heads}) != 1:
        raise ValueError(
            f"{path}: lists {len({names[i] for i in heads})} categories besides the background ({listed}); say "
            f"which category is the wheat heads with --class NAME (Python: label_class='NAME')"
        )
    return heads


def _check_segmentation(seg, where: str):
    """``seg`` as a list of polygons (lists of floats) or an RLE dict; else an error naming ``where``."""
    if isinstance(seg, dict):
        if "counts" not in seg or "size" not in seg:
            raise ValueError(f"{where}: its RLE segmentation needs 'counts' and 'size'; fix or export the file again")
        if not isinstance(seg["counts"], (str, list)):
            raise ValueError(f"{where}: RLE counts must be a list of numbers or a COCO counts string")
        return seg
    if not isinstance(seg, list) or not seg:
        raise ValueError(
            f"{where}: has no segmentation (a bounding box only?); dvos needs the outline of each head: draw "
            f"polygons or masks, or delete this annotation"
        )
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seg):
        seg = [seg]  # one polygon written flat
    polygons = []
    for p in seg:
        if not isinstance(p, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p):
            raise ValueError(f"{where}: a polygon must be a list of numbers [x1, y1, x2, y2, ...], got {p!r:.60}")
        if len(p) % 2 or len(p) < 6 or not all(math.isfinite(v) for v in p):
            raise ValueError(
                f"{where}: a polygon needs at least 3 points given as x, y pairs of finite numbers, got {len(p)} "
                f"numbers; fix or delete this annotation"
            )
        polygons.append([float(v) for v in p])
    return polygons


def read_coco(path, label_class: str | None = None) -> CocoHeads:
    """Read and check the COCO file ``path``: its ``images``, and the annotations of the heads' category
    (``label_class``, else the one category besides a background). Errors name the file and what to fix."""
    path = user_path(path)
    doc = _load(path)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: holds a JSON {type(doc).__name__}, not COCO annotations (an object with 'images')")
    images = _images(_list(doc, "images", path), path)
    anns = _list(doc, "annotations", path)
    names = _categories(_list(doc, "categories", path), path)
    heads = _chosen(names, label_class, path)
    by_id = {img.id: img for img in images}
    out = CocoHeads(path, images, names[next(iter(heads))])
    for k, a in enumerate(anns):
        name = a.get("id", f"#{k}") if isinstance(a, dict) else f"#{k}"
        missing = [key for key in ("image_id", "category_id") if not isinstance(a, dict) or key not in a]
        if missing:
            raise ValueError(f"{path}: annotation {name} has no {', '.join(missing)}; fix or export the file again")
        img = by_id.get(a["image_id"])
        if img is None:
            raise ValueError(
                f"{path}: annotation {name} belongs to image {a['image_id']!r}, which 'images' does not list; fix or "
                f"export the file again"
            )
        if a["category_id"] not in names:
            raise ValueError(
                f"{path}: annotation {name} (image {img.file_name}) has category {a['category_id']!r}, which "
                f"'categories' does not list; fix or export the file again"
            )
        out.annotated.add(img.id)
        if a["category_id"] in heads:
            seg = _check_segmentation(a.get("segmentation"), f"{path}: annotation {name} of image {img.file_name}")
            out.annotations.setdefault(img.id, []).append({**a, "segmentation": seg})
    return out


# ---- RLE ----------------------------------------------------------------------------------------------------------
def rle_counts(text: str, where: str = "RLE") -> list[int]:
    """The run lengths of COCO's compressed counts string: each number in 5-bit groups (characters '0' + group,
    bit 0x20 = more groups follow, the last group's bit 0x10 = negative), from the fourth on as the difference from
    the number two places before."""
    counts: list[int] = []
    x = k = 0
    for ch in text:
        c = ord(ch) - 48
        if not 0 <= c < 64:
            raise ValueError(f"{where}: {ch!r} cannot be in a COCO RLE counts string")
        x |= (c & 0x1F) << (5 * k)
        k += 1
        if c & 0x20:
            continue
        if c & 0x10:
            x -= 1 << (5 * k)  # sign-extend
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
        x = k = 0
    if k:
        raise ValueError(f"{where}: its RLE counts string ends in the middle of a number (cut short?)")
    return counts


def rle_string(counts) -> str:
    """COCO's compressed string of run lengths ``counts`` (inverse of :func:`rle_counts`)."""
    out = []
    for i, n in enumerate(counts):
        x = int(n) - (int(counts[i - 2]) if i > 2 else 0)
        while True:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr(c + (0x20 if more else 0) + 48))
            if not more:
                break
    return "".join(out)


def decode_rle(counts, height: int, width: int, where: str = "RLE") -> np.ndarray:
    """The (height, width) uint8 0/1 mask of COCO RLE ``counts`` (a list, or the compressed string)."""
    if isinstance(counts, str):
        counts = rle_counts(counts, where)
    if not all(_whole(n) and n >= 0 for n in counts):
        raise ValueError(f"{where}: RLE counts must be whole numbers, 0 or more")
    runs = np.asarray(counts, np.int64)
    if int(runs.sum()) != height * width:
        raise ValueError(
            f"{where}: its RLE counts add up to {int(runs.sum())} pixels, not {height}x{width} = {height * width}; "
            f"fix or export the file again"
        )
    flat = np.repeat((np.arange(runs.size) % 2).astype(np.uint8), runs)
    return np.ascontiguousarray(flat.reshape(width, height).T)


def encode_rle(mask) -> dict:
    """Compressed COCO RLE ``{"size": [h, w], "counts": str}`` of a binary mask."""
    m = np.asarray(mask) > 0
    flat = m.T.ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": rle_string(runs)}


# ---- polygons -----------------------------------------------------------------------------------------------------
def fill_polygons(polygons, height: int, width: int) -> np.ndarray:
    """The (height, width) uint8 mask of the union of ``polygons`` (flat [x1, y1, ...] lists in pixel-edge
    coordinates): a pixel is in a polygon when its centre is (even-odd rule, see the module's notes). The spans of
    each row are found where the row's centre line crosses a polygon's edges, and ``cv2.fillPoly`` draws them all
    (given the corners alone, it would also fill the pixels its outline merely touches: a unit square came out as
    2x2 pixels)."""
    import cv2

    out = np.zeros((height, width), np.uint8)
    spans = []
    for poly in polygons:
        xy = np.asarray(poly, np.float64).reshape(-1, 2)
        x0, y0 = xy[:, 0], xy[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        keep = y0 != y1  # level edges cross no row's centre line
        x0, y0, x1, y1 = x0[keep], y0[keep], x1[keep], y1[keep]
        lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
        # rows r whose centre r + 0.5 lies in [lo, hi): an edge crosses each once (no double count at a vertex)
        first = np.maximum(np.ceil(lo - 0.5), 0).astype(np.int64)
        last = np.minimum(np.ceil(hi - 0.5) - 1, height - 1).astype(np.int64)
        n = np.maximum(last - first + 1, 0)
        total = int(n.sum())
        if not total:
            continue
        edge = np.repeat(np.arange(n.size), n)
        rows = first[edge] + np.arange(total) - np.repeat(np.cumsum(n) - n, n)
        xs = x0[edge] + (rows + 0.5 - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
        order = np.lexsort((xs, rows))
        rows, xs = rows[order], xs[order]
        # crossings pair up along a row; pixel c lies in the span [a, b) when its centre c + 0.5 does
        start = np.clip(np.ceil(xs[0::2] - 0.5), 0, width).astype(np.int64)
        stop = np.clip(np.ceil(xs[1::2] - 0.5), 0, width).astype(np.int64)
        full = stop > start
        r = rows[0::2][full]
        spans.append(np.stack([np.stack([start[full], r], 1), np.stack([stop[full] - 1, r], 1)], 1))
    if spans:
        cv2.fillPoly(out, list(np.concatenate(spans).astype(np.int32)), 1)
    return out


def _outline_polygons(part: np.ndarray) -> list[list[float]]:
    """Polygons around the pixels of ``part`` (one head, cropped): traced by ``cv2.findContours`` on the part drawn
    twice as large, whose boundary pixels' centres lie a quarter pixel inside the head's outer edges."""
    import cv2

    big = np.kron(part.astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        pts = (c.reshape(-1, 2).astype(np.float64) + 0.5) / 2
        if len(pts) >= 3:
            out.append([round(float(v), 2) for v in pts.ravel()])
    return out


def head_annotations(mask) -> list[dict]:
    """One annotation (without ids) per head (8-connected part) of a binary mask: ``segmentation`` (polygons that
    give back exactly its pixels, else compressed RLE, e.g. for a head with a hole, ``iscrowd`` 0 either way),
    ``area`` (its pixels) and ``bbox`` [x, y, width, height]."""
    import cv2

    m = (np.asarray(mask) > 0).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    out = []
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[k])
        part = labels[y : y + h, x : x + w] == k
        polygons = _outline_polygons(part)
        if polygons and np.array_equal(fill_polygons(polygons, h, w) > 0, part):
            seg = [[v + (x if i % 2 == 0 else y) for i, v in enumerate(p)] for p in polygons]
        else:
            whole = np.zeros(m.shape, bool)
            whole[y : y + h, x : x + w] = part
            seg = encode_rle(whole)
        out.append({"segmentation": seg, "area": area, "bbox": [x, y, w, h], "iscrowd": 0})
    return out


def write_json(path: Path, doc: dict) -> None:
    """Write ``doc`` to ``path`` through a temporary file beside it (a failed write leaves an earlier file whole)."""
    from dvos_core.io.output_paths import partial_path
    from dvos_core.store.fsops import io_step

    tmp = partial_path(path)
    with io_step(path, "writing the COCO annotations"):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, separators=(",", ":"))
        os.replace(tmp, path)


def is_dvos_export(path: Path) -> bool:
    """Whether ``path`` is a COCO file written by dvos (its ``info`` carries the ``dvos`` mark)."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("info"), dict) and EXPORT_MARK in doc["info"]
