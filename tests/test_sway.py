"""Following the heads' own sway (dvos_core.motion.sway), as smoothing does."""

import cv2
import numpy as np
import pytest
from motion_clips import texture

from dvos_core.motion.sway import flow_image, follow, sway_flow


def iou(a, b) -> float:
    a, b = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    return (a & b).sum() / max(1, (a | b).sum())


def swaying_pair(shift=5, size=128, seed=3):
    """(frame t, its neighbour, mask t, mask of the neighbour): bright discs on a dark real texture; in the
    neighbour every disc sits ``shift`` px to one side, alternately left and right (no camera motion)."""
    world = texture(size=size * 2, dark=True)[size // 2 : size // 2 + size, size // 2 : size // 2 + size]
    centres = np.random.default_rng(seed).uniform(16, size - 16, (14, 2))
    frames, masks = [], []
    for move in (0, shift):
        f, m = world.copy(), np.zeros((size, size), np.uint8)
        for i, (x, y) in enumerate(centres):
            dx = move if i % 2 else -move
            cv2.circle(f, (int(x + dx), int(y)), 7, (230, 200, 60), -1)
            cv2.circle(m, (int(x + dx), int(y)), 7, 1, -1)
        frames.append(f)
        masks.append(m)
    return frames[0], frames[1], masks[0], masks[1]


def test_a_swaying_neighbours_mask_is_moved_onto_frame_t():
    cur, nb, m_cur, m_nb = swaying_pair()
    flow = sway_flow(cur, nb)
    moved = follow(m_nb.astype(np.float32), flow, border="constant")
    assert iou(m_nb, m_cur) < 0.45  # in place, the heads hardly overlap
    assert iou(moved, m_cur) > 0.7


def test_the_empty_border_of_an_aligned_neighbour_is_filled_with_frame_t():
    cur = texture(size=256, dark=True)[40:168, 40:168].copy()
    nb = cur.copy()
    nb[:, :30] = 0  # the camera alignment could not fill this band
    cover = np.ones(cur.shape[:2], np.float32)
    cover[:, :30] = 0
    flow = sway_flow(cur, nb, cover)
    assert np.linalg.norm(flow, axis=-1).mean() < 0.05  # nothing moved, so nothing is followed


def test_flow_to_an_unrelated_picture_is_not_trusted():
    cur = texture(size=256, dark=True)[40:168, 40:168]
    other = texture("coffee", size=256, dark=True)[40:168, 40:168]
    raw = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(flow_image(cur), flow_image(other), None)
    kept = sway_flow(cur, other)
    assert np.linalg.norm(raw, axis=-1).mean() > 3  # DIS answers anyway
    assert np.linalg.norm(kept, axis=-1).mean() < 0.1 * np.linalg.norm(raw, axis=-1).mean()


def test_sway_flow_refuses_images_of_two_shapes():
    with pytest.raises(ValueError, match="one shape"):
        sway_flow(np.zeros((32, 32), np.uint8), np.zeros((32, 40), np.uint8))


def test_a_large_frame_gets_its_flow_from_a_shrunk_copy_in_its_own_pixels(monkeypatch):
    from dvos_core.motion import sway

    cur, nb, m_cur, m_nb = swaying_pair()
    big = [cv2.resize(x, (1920, 1080), interpolation=cv2.INTER_LINEAR) for x in (cur, nb)]
    m_big = [cv2.resize(m, (1920, 1080), interpolation=cv2.INTER_NEAREST) for m in (m_cur, m_nb)]
    sizes = []
    calc = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    class Spy:  # records the size the flow is computed at
        def calc(self, a, b, flow):
            sizes.append(a.shape)
            return calc.calc(a, b, flow)

    monkeypatch.setattr(sway.cv2, "DISOpticalFlow_create", lambda preset: Spy())
    flow = sway_flow(*big)
    assert flow.shape == (1080, 1920, 2) and sizes == [(540, 960)] * 2  # shrunk to MAX_FLOW_SIDE
    moved = follow(m_big[1].astype(np.float32), flow, border="constant")
    assert iou(m_big[1], m_big[0]) < 0.45
    assert iou(moved, m_big[0]) > 0.6  # the flow is in the frame's own pixels (the discs sway by 75 px here)
