"""Regenerate the pictures of docs/synthesis.md from procedural toy heads (no real data needed).

    python docs/make_synth_images.py

Writes docs/images/synth_frames.png (frames above their masks) and docs/images/synth_tracks.png (head centre paths
over a clip), palette-quantised to stay small.
"""

from __future__ import annotations

import functools
import operator
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "images"


def _save_small(path: Path, rgb: np.ndarray, colours: int = 96) -> None:
    from PIL import Image

    Image.fromarray(rgb).quantize(colours, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def frames_picture(frames, masks, times) -> np.ndarray:
    from dvos_core.synth.preview import overlay

    over = overlay(frames[times], masks[times])
    sep = np.full((frames.shape[1], 4, 3), 255, np.uint8)
    top = np.concatenate(functools.reduce(operator.iadd, [[frames[t], sep] for t in times], [])[:-1], axis=1)
    bottom = np.concatenate(functools.reduce(operator.iadd, [[o, sep] for o in over], [])[:-1], axis=1)
    return np.concatenate([top, np.full((4, top.shape[1], 3), 255, np.uint8), bottom], axis=0)


def tracks_picture(frames, info, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, real = info["labels"], info["is_real"]
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
    ax.imshow(frames[0])
    ys, xs = np.indices(labels.shape[1:])
    for j in np.flatnonzero(real)[:40]:
        pts = [
            (xs[lab == j].mean(), ys[lab == j].mean()) if (lab == j).sum() > 150 else (np.nan, np.nan) for lab in labels
        ]
        pts = np.array(pts)
        if np.isfinite(pts).sum() > 20:
            ax.plot(pts[:, 0], pts[:, 1], "-", color="#ff3fa4", lw=1.2)
            ax.plot(pts[-1:, 0], pts[-1:, 1], "o", color="white", ms=2)
    ax.set_axis_off()
    ax.set_title("head centres over 40 frames (camera pan + sway)", fontsize=8)
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    _save_small(path, rgb, 64)


def main() -> None:
    from dvos_core.synth import SynthConfig, preview
    from dvos_core.synth.toy import toy_project

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        project = toy_project(Path(d) / "docs.dvos", n_heads=16, n_fakes=16, bg_frames=40, bg_size=(400, 400))
        cfg = SynthConfig(n_heads=(35, 35), n_fakes=(35, 35), camera_speed=1.5)
        frames, masks = preview(project, cfg, seed=4, n_frames=30, size=256)
        _save_small(OUT / "synth_frames.png", frames_picture(frames, masks, [0, 10, 20, 29]))
        from dvos_core.synth.clip import simulate_clip
        from dvos_core.synth.generate import _Committed

        bg = project.background("field")
        heads = project.objects.load("head")
        fakes = project.objects.load("fake")
        cfg = SynthConfig(
            n_frames=40,
            height=320,
            width=320,
            n_heads=(25, 25),
            n_fakes=(25, 25),
            camera_speed=1.0,
            fake_on_top_prob=0.0,
        )
        frames, _, info = simulate_clip(heads, fakes, _Committed(bg.frames, bg.n_frames), cfg, seed=2, return_info=True)
        tracks_picture(frames, info, OUT / "synth_tracks.png")


if __name__ == "__main__":
    main()
