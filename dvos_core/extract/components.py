"""Objects (heads) of one annotated frame: instance labels, crops and shape/colour statistics."""

from __future__ import annotations

import numpy as np

from dvos_core.object_format import HALO_ALPHA_MAX

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def instance_labels(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the connected components of a binary mask (8-connectivity): (label map int32, count)."""
    from scipy import ndimage

    lab, n = ndimage.label(np.asarray(mask) > 0, structure=EIGHT_CONNECTED)
    return lab.astype(np.int32), int(n)


def crop_box(sl: tuple[slice, slice], shape, margin: int = 1) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of a component's bounding slices grown by ``margin`` pixels, clipped to the frame."""
    h, w = shape[:2]
    return (
        max(0, sl[0].start - margin),
        max(0, sl[1].start - margin),
        min(h, sl[0].stop + margin),
        min(w, sl[1].stop + margin),
    )


def rgba_crop(frame: np.ndarray, obj: np.ndarray, halo: np.ndarray | None = None) -> np.ndarray:
    """RGBA crop: RGB of ``frame`` inside ``obj`` (bool, same size), zero outside; alpha 255 inside, 0 outside.

    ``halo`` (float, same size, in [0, 1], zero on the object): a ring of the frame's own pixels around the object,
    kept with alpha 1..127 (its opacity times 127) - what the object looks like at its edge (glow, shadow, awns),
    which synthesis pastes with it but never counts as object."""
    out = np.zeros(obj.shape + (4,), np.uint8)
    out[obj, :3] = frame[obj]
    out[obj, 3] = 255
    if halo is not None:
        level = np.where(obj, 0, np.ceil(np.clip(halo, 0, 1) * HALO_ALPHA_MAX)).astype(np.uint8)
        ring = level > 0
        out[ring, :3] = frame[ring]
        out[ring, 3] = level[ring]
    return out


def halo_weights(labels: np.ndarray, label: int, halo_px: int) -> np.ndarray:
    """Opacity of the halo ring of object ``label`` in the label map ``labels`` (a crop around it): 1 on the pixels
    touching the object, falling linearly to 0 beyond ``halo_px`` pixels (Euclidean distance), and 0 on the object
    and on every other labelled object (a neighbour's pixels would be pasted as unlabelled head)."""
    from scipy import ndimage

    obj = labels == label
    if halo_px <= 0 or not obj.any():
        return np.zeros(labels.shape, np.float32)
    d = ndimage.distance_transform_edt(~obj)
    w = np.clip((halo_px + 1 - d) / halo_px, 0, 1).astype(np.float32)
    w[labels > 0] = 0
    return w


def shape_stats(obj: np.ndarray) -> dict:
    """Eccentricity and aspect ratio (major/minor axis) from the second moments of a bool mask."""
    ys, xs = np.nonzero(obj)
    if ys.size < 2:
        return {"eccentricity": 0.0, "aspect": 1.0}
    cov = np.cov(np.stack([ys, xs]).astype(np.float64)) + np.eye(2) / 12.0  # + pixel-size variance
    ev = np.sort(np.linalg.eigvalsh(cov))[::-1]
    major, minor = np.sqrt(max(ev[0], 1e-12)), np.sqrt(max(ev[1], 1e-12))
    return {"eccentricity": float(np.sqrt(max(0.0, 1.0 - (minor / major) ** 2))), "aspect": float(major / minor)}


def colour_stats(frame: np.ndarray, obj: np.ndarray) -> dict:
    px = frame[obj].astype(np.float64)
    brightness = px.mean(axis=1)
    m = px.mean(axis=0)
    return {
        "mean_r": float(m[0]),
        "mean_g": float(m[1]),
        "mean_b": float(m[2]),
        "std_brightness": float(brightness.std()),
    }


def frame_objects(
    frame: np.ndarray,
    labels: np.ndarray,
    min_area: int = 50,
    max_area: int | None = None,
    margin: int = 1,
    halo_px: int = 0,
):
    """Cut every labelled object of a frame. Returns (objects, n_too_small, n_too_large) where objects is a list of
    (rgba crop, record) with record keys label, y, x (crop origin in the frame), bbox_y/x/h/w (tight box), area,
    colour and shape stats, touches_border. ``halo_px`` > 0 keeps a ring of that width around each object (see
    :func:`rgba_crop`); the crop grows to hold it."""
    from scipy import ndimage

    h, w = labels.shape
    objects, small, large = [], 0, 0
    for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        y0, x0, y1, x1 = crop_box(sl, labels.shape, max(margin, halo_px))
        obj = labels[y0:y1, x0:x1] == lab
        area = int(obj.sum())
        if area < min_area:
            small += 1
            continue
        if max_area is not None and area > max_area:
            large += 1
            continue
        crop = frame[y0:y1, x0:x1]
        rec = {
            "label": lab,
            "y": y0,
            "x": x0,
            "area": area,
            "bbox_y": sl[0].start,
            "bbox_x": sl[1].start,
            "bbox_h": sl[0].stop - sl[0].start,
            "bbox_w": sl[1].stop - sl[1].start,
            "touches_border": bool(sl[0].start == 0 or sl[1].start == 0 or sl[0].stop == h or sl[1].stop == w),
        }
        rec.update(colour_stats(crop, obj))
        rec.update(shape_stats(obj))
        halo = halo_weights(labels[y0:y1, x0:x1], lab, halo_px) if halo_px > 0 else None
        objects.append((rgba_crop(crop, obj, halo), rec))
    return objects, small, large
