"""Metric correctness against hand-computed values, a real image (scikit-image coins) and the paper's Table 2."""

import numpy as np
import pytest
from scipy import ndimage

from dvos_core.evaluate import boundary_f, boundary_precision_recall, count_objects, dice, iou, weighted_overall


def test_dice_iou_hand_computed():
    gt = np.zeros((4, 4), np.uint8)
    gt[0:2, 0:2] = 1  # 4 px
    pred = np.zeros((4, 4), bool)
    pred[0:2, 1:3] = True  # 4 px, 2 overlap
    assert dice(pred, gt) == pytest.approx((2 * 2 + 1) / (4 + 4 + 1))
    assert iou(pred, gt) == pytest.approx((2 + 1) / (6 + 1))
    assert dice(pred, gt, smooth=0) == pytest.approx(0.5)
    assert iou(pred, gt, smooth=0) == pytest.approx(1 / 3)


def test_empty_conventions():
    z = np.zeros((5, 5), np.uint8)
    one = z.copy()
    one[2, 2] = 1
    assert dice(z, z) == 1.0 and iou(z, z) == 1.0
    assert dice(z, z, smooth=0) == 1.0
    assert dice(one, z) == pytest.approx(1 / 2)  # (0+1)/(1+0+1)
    assert dice(one, z, smooth=0) == 0.0


def test_shape_mismatch_is_clear():
    with pytest.raises(ValueError, match="different shapes"):
        dice(np.zeros((3, 3)), np.zeros((3, 4)))


@pytest.fixture(scope="module")
def coins_gt():
    from skimage import data, filters

    img = data.coins()
    gt = img > filters.threshold_otsu(img)
    return np.pad(gt, 8)  # keep shifted copies inside the image


def test_coins_dice_iou_against_counts(coins_gt):
    gt = coins_gt
    pred = np.roll(ndimage.binary_erosion(gt, iterations=2), (2, -3), axis=(0, 1))
    inter = int(np.logical_and(pred, gt).sum())
    p, g = int(pred.sum()), int(gt.sum())
    d, j = dice(pred, gt), iou(pred, gt)
    assert d == pytest.approx((2 * inter + 1) / (p + g + 1))
    assert j == pytest.approx((inter + 1) / (p + g - inter + 1))
    assert 0.3 < d < 0.99
    d0, j0 = dice(pred, gt, smooth=0), iou(pred, gt, smooth=0)
    assert j0 == pytest.approx(d0 / (2 - d0), rel=1e-12)  # exact identity without smoothing
    assert j == pytest.approx(d / (2 - d), abs=1e-4)  # smoothing is negligible on large masks


def test_boundary_f_identical_and_shifted(coins_gt):
    gt = coins_gt
    assert boundary_f(gt, gt, tolerance=2) == 1.0
    shifted = np.roll(gt, 3, axis=1)
    bf2 = boundary_f(shifted, gt, tolerance=2)
    assert bf2 < 0.9
    assert boundary_f(shifted, gt, tolerance=3) > 0.99  # every boundary pixel moved exactly 3 px
    assert boundary_f(shifted, gt, tolerance=1) <= bf2


def test_boundary_f_matches_an_independent_reference_on_coins(coins_gt):
    """skimage inner boundaries + KD-tree nearest distances give the same precision/recall as boundary_f."""
    from scipy.spatial import cKDTree
    from skimage.segmentation import find_boundaries

    gt = coins_gt
    pred = np.roll(ndimage.binary_dilation(gt, iterations=1), (1, 2), axis=(0, 1))
    bp = np.argwhere(find_boundaries(pred, connectivity=1, mode="inner"))
    bg = np.argwhere(find_boundaries(gt, connectivity=1, mode="inner"))
    for tol in (1.0, 2.0):
        precision = float((cKDTree(bg).query(bp)[0] <= tol).mean())
        recall = float((cKDTree(bp).query(bg)[0] <= tol).mean())
        assert boundary_precision_recall(pred, gt, tol) == pytest.approx((precision, recall), abs=1e-12)
        assert boundary_f(pred, gt, tol) == pytest.approx(2 * precision * recall / (precision + recall))
    assert 0.2 < boundary_f(pred, gt, 1.0) < boundary_f(pred, gt, 2.0) < 1.0


def test_boundary_hand_example():
    gt = np.zeros((20, 20), bool)
    gt[5:15, 5:15] = True  # boundary: 36 px ring
    pred = np.zeros_like(gt)
    pred[5:15, 5:15] = True
    pred[1:3, 1:3] = True  # a 4-px false blob > 2 px away: 4 extra boundary pixels
    prec, rec = boundary_precision_recall(pred, gt, tolerance=2)
    assert rec == 1.0
    assert prec == pytest.approx(36 / 40)
    empty = np.zeros_like(gt)
    assert boundary_f(empty, empty) == 1.0 and boundary_f(empty, gt) == 0.0
    full = np.ones_like(gt)  # no boundary either, but the opposite of an empty frame
    assert boundary_f(full, empty) == 0.0 and boundary_f(empty, full) == 0.0 and boundary_f(full, full) == 1.0
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        boundary_f(gt, gt, tolerance=-1)


def test_count_objects_connectivity_and_area():
    m = np.zeros((10, 10), np.uint8)
    m[1:3, 1:3] = 1
    m[3, 3] = 1  # touches the first square diagonally
    m[6:9, 6:9] = 1
    assert count_objects(m, connectivity=8) == 2
    assert count_objects(m, connectivity=4) == 3
    assert count_objects(m, min_area=2, connectivity=4) == 2
    assert count_objects(np.zeros((4, 4))) == 0


def test_coins_count(coins_gt):
    from skimage import measure

    n_ref = int(measure.label(coins_gt, connectivity=2).max())
    assert count_objects(coins_gt) == n_ref
    big = sum(1 for r in measure.regionprops(measure.label(coins_gt, connectivity=2)) if r.area >= 100)
    assert count_objects(coins_gt, min_area=100) == big


def test_weighted_overall_equals_pooled_frame_mean():
    rng = np.random.default_rng(1)
    per_frame = [rng.random(n) for n in (3, 10, 1)]
    vals = [f.mean() for f in per_frame]
    counts = [len(f) for f in per_frame]
    assert weighted_overall(vals, counts) == pytest.approx(np.concatenate(per_frame).mean())
    with pytest.raises(ValueError):
        weighted_overall([0.5, 0.6], [1])
    with pytest.raises(ValueError):
        weighted_overall([0.5], [0])


# ---- Table 2 of the paper: "All" is frame-weighted ---------------------------------------------------------------
TABLE2_VIDEOS = np.array(
    [
        [0.160, 0.281, 0.219, 0.204, 0.314],  # VM_Synt Dice
        [0.099, 0.174, 0.130, 0.117, 0.207],  # VM_Synt IoU
        [0.480, 0.710, 0.825, 0.821, 0.820],  # VM_Pseu Dice
        [0.330, 0.571, 0.705, 0.699, 0.712],  # VM_Pseu IoU
        [0.731, 0.845, 0.932, 0.918, 0.934],  # XM_Pseu Dice
        [0.579, 0.736, 0.873, 0.848, 0.878],  # XM_Pseu IoU
    ]
)
TABLE2_ALL = np.array([0.244, 0.150, 0.679, 0.542, 0.835, 0.726])
TOL = 0.0015  # per-video and All values are each rounded to 3 decimals


def _min_max_deviation_shares():
    """Non-negative shares (sum 1) minimising the largest |A w - All| (a linear programme)."""
    from scipy.optimize import linprog

    a, b = TABLE2_VIDEOS, TABLE2_ALL
    n = a.shape[1]
    c = np.r_[np.zeros(n), 1.0]
    a_ub = np.block([[a, -np.ones((len(b), 1))], [-a, -np.ones((len(b), 1))]])
    res = linprog(
        c, A_ub=a_ub, b_ub=np.r_[b, -b], A_eq=np.r_[np.ones(n), 0.0][None], b_eq=[1.0], bounds=[(0, None)] * (n + 1)
    )
    assert res.success
    return res.x[:n], res.x[n]


def test_table2_all_column_is_frame_weighted():
    shares, worst = _min_max_deviation_shares()
    assert worst <= TOL
    assert np.all(shares >= -1e-12) and shares.sum() == pytest.approx(1.0)
    for row, expected in zip(TABLE2_VIDEOS, TABLE2_ALL):  # the same shares reproduce every row
        assert weighted_overall(row, shares) == pytest.approx(expected, abs=TOL)
    plain = TABLE2_VIDEOS.mean(axis=1)  # the unweighted mean over the five videos does not
    assert np.max(np.abs(plain - TABLE2_ALL)) > 5 * TOL
    assert np.all(np.abs(plain - TABLE2_ALL) > TOL)
    # Video 2 dominates and Video 1 is next (documented in docs/evaluation.md).
    assert shares[1] > 0.45 and 0.2 < shares[0] < 0.28


PTEST_FRAMES = 34_777  # the paper's P_test frame count (section 3.3.2)


def test_table2_all_from_integer_frame_counts():
    """Whole frame counts summing to the paper's 34,777 test frames reproduce every "All" value."""
    shares, _ = _min_max_deviation_shares()
    exact = shares * PTEST_FRAMES
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact)[: PTEST_FRAMES - counts.sum()]] += 1  # largest remainders
    assert counts.sum() == PTEST_FRAMES and counts.min() > 0
    for row, expected in zip(TABLE2_VIDEOS, TABLE2_ALL):
        assert weighted_overall(row, counts) == pytest.approx(expected, abs=TOL)
    assert counts.argmax() == 1 and 7000 < counts[0] < 9000  # Video 2 is the longest, Video 1 next


def test_table2_shares_from_nnls_agree():
    from scipy.optimize import nnls

    a = np.vstack([TABLE2_VIDEOS, 100 * np.ones(5)])  # heavily weighted sum-to-one row
    w, _ = nnls(a, np.r_[TABLE2_ALL, 100.0])
    assert np.max(np.abs(TABLE2_VIDEOS @ w - TABLE2_ALL)) <= TOL


def test_temporal_instability_refuses_probability_maps_and_nan_as_the_metrics_do():
    """A flickering probability sequence (0.4 / 0.2 everywhere) read as all-foreground masks and scored 0.0."""
    from dvos_core.motion import temporal_instability

    still = np.tile(np.eye(2, 3), (3, 1, 1))
    flicker = np.stack([np.full((8, 8), p, np.float32) for p in (0.4, 0.2, 0.4, 0.2)])
    with pytest.raises(ValueError, match=r"pred_masks\[0\] holds values between 0 and 1 .*threshold it first"):
        temporal_instability(flicker, matrices=still)
    nan = (flicker >= 0.3).astype(np.float32)
    nan[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"pred_masks\[2\] holds NaN"):
        temporal_instability(nan, matrices=still)
    assert temporal_instability(flicker >= 0.3, matrices=still) == pytest.approx(1.0, abs=0.02)  # thresholded


def test_temporal_instability_refuses_frames_of_another_length():
    """6 masks with 3 frames said 'need 5 pair matrices of shape (2, 3) for 6 masks, got (2, 2, 3)': matrices the
    user never passed."""
    from dvos_core.motion import temporal_instability

    frames = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="got 3 frames for 6 masks: pass the frames the masks belong to"):
        temporal_instability(np.zeros((6, 32, 32), np.uint8), frames=frames)
