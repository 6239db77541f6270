"""Small hand-computed cases for the metrics and the head tracks that a plausible one-token bug would change
(written by hand-made mutation testing: each test failed with such a bug and passes on the code)."""

import numpy as np
import pytest

from dvos_core.evaluate import boundary_f, boundary_precision_recall, weighted_overall
from dvos_core.evaluate.head_tracks import link_heads
from dvos_core.evaluate.metrics import head_parts


def _still(a, b):
    return np.eye(2, 3)


def _frames(n, h, w):
    return [np.full((h, w, 3), 90, np.uint8)] * n


# ---------------------------------------------------------------- metrics


def test_one_side_without_boundary_scores_zero_for_the_side_with_pixels():
    """A full prediction (no boundary pixel) against a square: the prediction has nothing to match (precision 1,
    by the documented convention) and misses the square's whole boundary (recall 0); and the other way round."""
    gt = np.zeros((10, 10), bool)
    gt[3:7, 3:7] = True
    full = np.ones_like(gt)
    assert boundary_precision_recall(full, gt) == (1.0, 0.0)
    assert boundary_precision_recall(gt, full) == (0.0, 1.0)


def test_boundary_f_default_tolerance_is_two_pixels():
    """The documented default tolerance is 2 px: a square shifted by 2 px has every boundary pixel within 2 px."""
    gt = np.zeros((20, 20), bool)
    gt[5:12, 5:12] = True
    pred = np.roll(gt, 2, axis=1)
    assert boundary_f(pred, gt) == 1.0
    assert boundary_f(pred, gt, tolerance=1) < 1.0


def test_weighted_overall_refuses_negative_frame_counts():
    with pytest.raises(ValueError, match="non-negative"):
        weighted_overall([0.5, 0.9], [-1, 3])


def test_head_parts_keeps_a_part_of_exactly_min_area_and_gives_centroid_y_then_x():
    m = np.zeros((20, 30), np.uint8)
    m[2:4, 20:30] = 1  # 20 px, centroid y 2.5, x 24.5
    m[10:13, 1:3] = 1  # 6 px, centroid y 11, x 1.5
    labels, info = head_parts(m, min_area=20)
    assert info.shape == (1, 3)
    assert info[0].tolist() == [20, 2.5, 24.5]
    assert labels.max() == 1 and np.count_nonzero(labels) == 20
    assert head_parts(m, min_area=6)[1].shape == (2, 3)


# ---------------------------------------------------------------- head tracks


def test_median_frames_per_head_is_the_median_of_the_counted_tracks():
    """Three still heads seen in 2, 2 and 5 frames (min_frames 2): the median is 2 (the mean would be 3)."""
    masks = []
    for t in range(5):
        m = np.zeros((40, 60), np.uint8)
        m[5:12, 5:12] = 1  # in every frame
        if t < 2:
            m[25:32, 5:12] = 1
        if t >= 3:
            m[25:32, 40:47] = 1
        masks.append(m)
    tracks = link_heads(zip(_frames(5, 40, 60), masks), 5, align=_still)
    assert sorted(tracks.lengths().values()) == [2, 2, 5]
    s = tracks.summary()
    assert s["heads"] == 3 and s["median_frames_per_head"] == 2.0


def test_track_rows_hold_centroid_y_then_x():
    m = np.zeros((40, 60), np.uint8)
    m[10:15, 30:40] = 1  # centroid y 12, x 34.5
    tracks = link_heads(zip(_frames(2, 40, 60), [m, m]), 2, align=_still)
    assert tracks.napari_tracks().tolist() == [[1, 0, 12.0, 34.5], [1, 1, 12.0, 34.5]]


def test_a_head_that_shrinks_inside_its_last_place_keeps_its_track():
    """Overlap is shared pixels over the SMALLER of the two: a 20x20 head partly hidden to 4x5 inside its old place
    overlaps it fully (1.0), although 20 px of the 576 px grown old place is only 0.03."""
    big = np.zeros((40, 40), np.uint8)
    big[10:30, 10:30] = 1
    small = np.zeros_like(big)
    small[15:19, 15:20] = 1
    tracks = link_heads(zip(_frames(2, 40, 40), [big, small]), 2, align=_still)
    assert tracks.n_heads == 1 and list(tracks.lengths().values()) == [2]


def test_an_overlap_of_exactly_min_overlap_links():
    """'at least min_overlap': 10 px heads sharing 5 px link at min_overlap=0.5 (and do not at 0.6)."""
    a = np.zeros((20, 30), np.uint8)
    a[5, 5:15] = 1
    b = np.zeros_like(a)
    b[5, 10:20] = 1
    kw = {"min_area": 1, "grow_px": 0, "align": _still}
    assert link_heads(zip(_frames(2, 20, 30), [a, b]), 2, min_overlap=0.5, **kw).n_heads == 1
    assert link_heads(zip(_frames(2, 20, 30), [a, b]), 2, min_overlap=0.6, **kw).n_heads == 0


def test_a_head_that_splits_gives_its_track_to_one_part_only():
    """One head in frame 0, two parts inside its place from frame 1 on: a track is one head, never two in a frame."""
    one = np.zeros((40, 40), np.uint8)
    one[10:30, 10:20] = 1
    two = np.zeros_like(one)
    two[10:18, 10:20] = two[22:30, 10:20] = 1
    tracks = link_heads(zip(_frames(3, 40, 40), [one, two, two]), 3, align=_still)
    rows = tracks.rows[:, :2].astype(int)
    assert len({tuple(r) for r in rows.tolist()}) == len(rows)  # no (track, frame) twice
    assert sorted(tracks.lengths().values()) == [2, 3] and tracks.n_heads == 2


def test_a_thin_head_beside_a_wider_one_keeps_its_own_track():
    """The carried heads are grown only into the background: a 1 px wide head 1 px from its neighbour is not
    swallowed by the neighbour's grown place (which would hand the neighbour's track to it)."""
    m = np.zeros((40, 40), np.uint8)
    m[10:30, 13] = 1  # thin head
    m[10:30, 15:21] = 1  # its neighbour, one background column between them
    tracks = link_heads(zip(_frames(4, 40, 40), [m] * 4), 4, align=_still)
    assert tracks.n_heads == 2 and sorted(tracks.lengths().values()) == [4, 4]


def test_a_new_head_in_the_old_place_of_a_moved_head_gets_a_new_track():
    """A head's old place gives way once it is seen elsewhere: a new head appearing where it was does not take
    its track."""
    masks = []
    for t, x in enumerate((10, 16, 22, 22)):
        m = np.zeros((30, 50), np.uint8)
        m[10:21, x : x + 10] = 1
        if t >= 2:
            m[10:21, 8:14] = 1  # a new head where the moving one was at frame 0
        masks.append(m)
    tracks = link_heads(zip(_frames(4, 30, 50), masks), 4, align=_still)
    rows = tracks.rows
    mover = rows[(rows[:, 1] == 0)][0, 0]
    right_at_3 = rows[(rows[:, 1] == 3) & (rows[:, 3] > 20)][0, 0]
    assert mover == right_at_3
    assert sorted(tracks.lengths().values()) == [2, 4]


def test_grow_px_reaches_exactly_grow_px_pixels():
    """A 6 px wide head jumping so that one column of its new place lies 2 px beyond its old place: linked with
    grow_px=2, not with grow_px=1."""
    a = np.zeros((30, 40), np.uint8)
    a[5:25, 10:16] = 1
    b = np.zeros_like(a)
    b[5:25, 17:23] = 1  # column 17 is 2 px right of the old right edge (15)
    kw = {"min_overlap": 0.1, "align": _still}
    assert link_heads(zip(_frames(2, 30, 40), [a, b]), 2, grow_px=2, **kw).n_heads == 1
    assert link_heads(zip(_frames(2, 30, 40), [a, b]), 2, grow_px=1, **kw).n_heads == 0


def test_csv_holds_only_the_counted_tracks(tmp_path):
    m = np.zeros((30, 40), np.uint8)
    m[5:10, 5:10] = 1
    speck = m.copy()
    speck[20:25, 30:35] = 1  # seen in one frame only: not counted
    tracks = link_heads(zip(_frames(2, 30, 40), [m, speck]), 2, align=_still)
    lines = tracks.to_csv(tmp_path / "t.csv").read_text().splitlines()
    assert lines[1:] == ["1,0,7.0,7.0,25", "1,1,7.0,7.0,25"]


def test_grow_px_above_the_limit_is_refused():
    from dvos_core.evaluate.head_tracks import MAX_GROW_PX

    with pytest.raises(ValueError, match="grow_px must be at most"):
        link_heads(iter(()), 0, grow_px=MAX_GROW_PX + 1)


# ---------------------------------------------------------------- per-video and overall tables


def _frame_rows(rows):
    import pandas as pd

    from dvos_core.evaluate.summary import FRAME_COLUMNS

    return (
        pd.DataFrame(
            [
                dict(zip(["video", "frame", "dice", "iou", "boundary_f", "count_error", "inter", "pp", "gp"], r))
                for r in rows
            ]
        )
        .rename(columns={"inter": "intersection", "pp": "pred_pixels", "gp": "gt_pixels"})
        .reindex(columns=FRAME_COLUMNS)
    )


def test_per_video_table_means_and_pooled_scores_by_hand():
    from dvos_core.evaluate.summary import summarise_overall, summarise_videos

    df = _frame_rows(
        [
            # video, frame, dice, iou, bf, |dN|, intersection, pred px, gt px
            ("a", 0, 0.2, 0.1, 0.0, 0, 4, 10, 6),
            ("a", 1, 0.4, 0.3, 0.2, 0, 2, 5, 9),
            ("a", 2, 0.9, 0.8, 1.0, 6, 0, 0, 0),
            ("b", 0, 1.0, 1.0, 0.5, 3, 5, 5, 5),
        ]
    )
    v = summarise_videos(df).set_index("video")
    assert v.loc["a", "boundary_f"] == pytest.approx(0.4)  # mean of 0, 0.2, 1 (the median would be 0.2)
    assert v.loc["a", "mean_count_error"] == pytest.approx(2.0)  # mean of 0, 0, 6
    # pooled over the video's frames: |P∩G| = 6, |P| = 15, |G| = 15
    assert v.loc["a", "dice_pooled"] == pytest.approx((2 * 6 + 1) / (15 + 15 + 1))
    assert v.loc["a", "iou_pooled"] == pytest.approx((6 + 1) / (15 + 15 - 6 + 1))
    o = summarise_overall(df, summarise_videos(df))
    assert o["n_frames"] == 4 and o["n_videos"] == 2
    assert o["iou"] == pytest.approx((0.1 + 0.3 + 0.8 + 1.0) / 4)  # frame-weighted
    assert o["video_mean_iou"] == pytest.approx((0.4 + 1.0) / 2)  # unweighted mean of the videos' IoU
    assert o["video_mean_dice"] == pytest.approx((0.5 + 1.0) / 2)
    assert o["mean_count_error"] == pytest.approx((0 + 0 + 6 + 3) / 4)


def test_evaluate_refuses_a_boolean_worst_k_before_reading_the_project():
    from dvos_core.evaluate.summary import evaluate

    with pytest.raises(ValueError, match="worst_k"):
        evaluate(None, worst_k=True)


def test_evaluate_records_the_tolerance_and_min_area_it_scored_with(tmp_project):
    from dvos_core.evaluate.summary import evaluate

    v = tmp_project.add_video_array("v", np.full((2, 24, 24, 3), 90, np.uint8), split="test")
    gt = np.zeros((24, 24), np.uint8)
    gt[4:12, 4:12] = 1
    v.set_mask(0, gt, "manual")
    v.predictions["m"].start({"kind": "test"}, None)
    v.predictions["m"].set(0, np.roll(gt, 3, axis=1).astype(np.float32))  # 3 px off
    rep = evaluate(tmp_project, ["v"], tolerance=3, min_area=5, save=False)
    assert rep.overall["tolerance_px"] == 3 and rep.overall["min_area_px"] == 5
    assert rep.frames["boundary_f"].iloc[0] == 1.0  # every boundary pixel within 3 px
    assert evaluate(tmp_project, ["v"], tolerance=2, save=False).frames["boundary_f"].iloc[0] < 1.0


# ---------------------------------------------------------------- model comparison


def test_best_model_is_never_a_baseline():
    import pandas as pd

    from dvos_core.evaluate.compare import COLUMNS, ModelComparison

    table = pd.DataFrame(
        [
            ("a", 3, 0.6, 0.5, 0.5, 0.1, 0.1),
            ("b", 3, 0.7, 0.6, 0.5, 0.1, 0.1),
            ("previous_true_mask", 2, 0.9, 0.8, 0.9, 0.0, 0.0),
            ("all_foreground", 3, 0.95, 0.9, 0.9, 0.0, 0.0),
        ],
        columns=COLUMNS,
    )
    cmp = ModelComparison(table, None)
    assert cmp.best() == "b" and cmp.best("iou") == "b"


def test_best_model_by_count_error_or_instability_is_the_lowest():
    """best(by=) sorted every column highest first: by count error or instability it named the worst model."""
    import pandas as pd

    from dvos_core.evaluate.compare import COLUMNS, ModelComparison

    table = pd.DataFrame(
        [
            ("good", 5, 0.9, 0.8, 0.8, 0.125, 0.229),
            ("bad", 5, 0.6, 0.5, 0.5, 0.417, 0.512),
            ("sparse", 5, 0.7, 0.6, 0.6, 0.3, float("nan")),  # instability NaN: sparse labels
            ("previous_true_mask", 4, 0.5, 0.4, 0.4, 0.0, 0.0),
        ],
        columns=COLUMNS,
    )
    cmp = ModelComparison(table, None)
    assert cmp.best("count_error") == "good" and cmp.best("instability") == "good" and cmp.best() == "good"
    with pytest.raises(ValueError, match="one of dice, iou, boundary_f, count_error, instability"):
        cmp.best("n_frames")


def _compare_project(project):
    v = project.add_video_array("v", np.full((3, 24, 24, 3), 90, np.uint8), split="test")
    gt = np.zeros((24, 24), np.uint8)
    gt[4:12, 4:12] = 1
    for t in range(3):
        v.set_mask(t, gt, "manual")
    v.predictions["m"].start({"kind": "test"}, None)
    v.predictions["m"].set_many([0, 1], np.stack([gt, gt]).astype(np.float32))  # 2 of the 3 truth frames
    return v


def test_compare_warns_when_a_model_misses_even_one_ground_truth_frame(tmp_project):
    from dvos_core.evaluate.compare import compare_models

    _compare_project(tmp_project)
    with pytest.warns(UserWarning, match="fewer ground-truth frames"):
        cmp = compare_models(tmp_project, ["m"], save=False)
    assert cmp.info["partial"] == {"m": {"v": [2, 3]}}


def test_compare_scores_a_model_named_twice_once(tmp_project):
    from dvos_core.evaluate.compare import compare_models

    _compare_project(tmp_project)
    with pytest.warns(UserWarning):
        cmp = compare_models(tmp_project, ["m", "m"], save=False)
    assert cmp.table["model"].tolist() == ["m", "previous_true_mask", "all_foreground"]
    assert cmp.table.set_index("model").loc["m", "n_frames"] == 2
    assert (cmp.frames["model"] == "m").sum() == 2
