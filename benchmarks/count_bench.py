"""How well `dvos count-heads` counts the different heads of a video, from true masks, on footage where the truth is
known.

Two kinds of footage, both with every head's identity known:
* rigid: stardist's nuclei image with its real annotation (fetched by tests/fetch_testdata.sh) filmed by a camera
  panning at several speeds (160 px frames); the truth is the number of different annotated parts (8-connected, in
  the whole image) that show with at least 16 px in at least 2 frames;
* swaying: the demo's procedural wheat field (`dvos_core.demo.field.render_field`, heads swaying in the wind under a
  drifting camera) at several sway amplitudes, camera speeds and densities, 3 seeds each; the truth is the number of
  different heads that show with at least 16 px in at least 2 frames.
Heads are followed on the true masks, so this measures the linking alone (a model's masks add their own errors).
Heads that overlap in a frame are one part there - the limit of counting from masks - which shows as undercounting
in dense footage. Prints one JSON document (--out writes it) with the relative error (tracked - true) / true per
case and its mean absolute value per kind.

    python benchmarks/count_bench.py [--grow-px 2] [--min-overlap 0.2] [--out f.json]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine

PANS = [((20, 20), (3, 2), 20), ((340, 20), (-2, 5), 20), ((20, 340), (20, -17), 12), ((20, 20), (12, 9), 15)]
FIELDS = [  # (sway_px, camera px per frame, heads per frame)
    (2.5, 0.6, 25),
    (6.0, 0.6, 25),
    (10.0, 0.6, 25),
    (2.5, 5.0, 25),
    (6.0, 5.0, 25),
    (6.0, 10.0, 25),
    (2.5, 0.6, 60),
]


def seen_twice(ids_per_frame) -> int:
    """Different non-zero ids shown with at least 16 px in at least 2 of the (H, W) id maps."""
    seen: dict = {}
    for ids in ids_per_frame:
        u, c = np.unique(ids, return_counts=True)
        for i in u[(u > 0) & (c >= 16)]:
            seen[i] = seen.get(i, 0) + 1
    return sum(1 for v in seen.values() if v >= 2)


def rigid_cases(link) -> list:
    import cv2
    import tifffile

    root = Path(os.environ.get("DVOS_TESTDATA", ".cache/testdata"))
    if not (root / "nuclei_mask.tif").exists():
        raise FileNotFoundError(f"{root}: run `bash tests/fetch_testdata.sh` (or set DVOS_TESTDATA) first")
    img = tifffile.imread(root / "nuclei_image.tif").astype(np.float32)
    grey = np.repeat((255 * img / img.max()).astype(np.uint8)[..., None], 3, -1)
    mask = (tifffile.imread(root / "nuclei_mask.tif") > 0).astype(np.uint8)
    _, parts = cv2.connectedComponents(mask, connectivity=8)
    out = []
    for start, step, n in PANS:
        cuts = [(start[0] + step[0] * t, start[1] + step[1] * t) for t in range(n)]
        frames = [grey[y : y + 160, x : x + 160] for y, x in cuts]
        masks = [mask[y : y + 160, x : x + 160] for y, x in cuts]
        truth = seen_twice(parts[y : y + 160, x : x + 160] for y, x in cuts)
        got = link(frames, masks).n_heads
        out.append({"px_per_frame": round(float(np.hypot(*step)), 1), "true": truth, "tracked": got})
    return out


def swaying_cases(link, seeds=(0, 1, 2)) -> list:
    from dvos_core.demo.field import FieldSpec, render_field

    out = []
    for sway, camera, heads in FIELDS:
        for seed in seeds:
            spec = FieldSpec(n_frames=24, sway_px=sway, camera_px_per_frame=camera, n_heads=heads)
            frames, masks, ids = render_field(spec, seed, with_ids=True)
            got = link(list(frames), list(masks)).n_heads
            out.append(
                {
                    "sway_px": sway,
                    "camera_px": camera,
                    "heads": heads,
                    "seed": seed,
                    "true": seen_twice(ids),
                    "tracked": got,
                }
            )
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grow-px", type=int, default=2)
    ap.add_argument("--min-overlap", type=float, default=0.2)
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    from dvos_core.evaluate.head_tracks import link_heads

    def link(frames, masks):
        return link_heads(zip(frames, masks), len(frames), grow_px=args.grow_px, min_overlap=args.min_overlap)

    result = {"machine": machine(), "settings": vars(args)}
    for kind, cases in (("rigid", rigid_cases(link)), ("swaying", swaying_cases(link))):
        for c in cases:
            c["rel_error"] = round((c["tracked"] - c["true"]) / c["true"], 3)
        result[kind] = {
            "cases": cases,
            "mean_abs_rel_error": round(float(np.mean([abs(c["rel_error"]) for c in cases])), 3),
        }
        print(kind, result[kind]["mean_abs_rel_error"], file=sys.stderr, flush=True)
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
