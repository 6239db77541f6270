"""The evaluation's numbers checked against independent implementations (numpy, scipy, scikit-image; no dvos metric
code): Dice/IoU per frame and per video (frame-weighted), boundary F (tolerance, image border, empty masks), head
counts (4/8-connectivity), temporal instability after a known camera shift, the two baselines, and the report files
of ``dvos evaluate``; plus the inputs that used to give silently wrong numbers (probability maps, mixed models,
``--gt none``, a model named like a baseline)."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from dvos_core.cli import main as dvos
from dvos_core.evaluate import boundary_f, compare_models, count_objects, dice, evaluate, iou
from dvos_core.evaluate.metrics import head_parts
from dvos_core.store import Project

DY, DX = 2, 6  # the camera's pan per frame: frame t shows the world at (row 20 + DY t, column 10 + DX t)
H, W = 64, 96


# ---- independent references ---------------------------------------------------------------------------------------
def ref_dice_iou(p, g):
    p, g = np.asarray(p) != 0, np.asarray(g) != 0
    inter, union = np.logical_and(p, g).sum(), np.logical_or(p, g).sum()
    return (2 * inter + 1) / (p.sum() + g.sum() + 1), (inter + 1) / (union + 1)


def ref_boundary(m):
    """Foreground pixels with a 4-neighbour in the background; outside the image counts as foreground."""
    m = np.pad(np.asarray(m) != 0, 1, constant_values=True)
    inner = m[1:-1, 1:-1]
    bg_near = ~m[:-2, 1:-1] | ~m[2:, 1:-1] | ~m[1:-1, :-2] | ~m[1:-1, 2:]
    return inner & bg_near


def ref_boundary_f(p, g, tol):
    bp, bg = np.argwhere(ref_boundary(p)), np.argwhere(ref_boundary(g))
    if len(bp) == 0 and len(bg) == 0:
        return 1.0 if (np.asarray(p) != 0).any() == (np.asarray(g) != 0).any() else 0.0
    if len(bp) == 0 or len(bg) == 0:
        return 0.0
    prec = np.mean(cKDTree(bg).query(bp)[0] <= tol + 1e-9)
    rec = np.mean(cKDTree(bp).query(bg)[0] <= tol + 1e-9)
    return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


def ref_count(m, min_area, connectivity=8):
    from skimage import measure

    lab = measure.label(np.asarray(m) != 0, connectivity=1 if connectivity == 4 else 2)
    return int(sum(r.area >= min_area for r in measure.regionprops(lab)))


def ref_instability(prev, cur):
    """1 - IoU(+1) of cur and prev moved by the known pan, over the pixels both frames show (1 px margin, as the
    frame's warp leaves its last row/column out)."""
    warped = np.zeros_like(prev, bool)
    warped[: H - DY, : W - DX] = prev[DY:, DX:] != 0
    valid = np.zeros(prev.shape, bool)
    valid[: H - DY - 1, : W - DX - 1] = True
    a, b = (cur != 0) & valid, warped & valid
    return 1 - (np.sum(a & b) + 1) / (np.sum(a | b) + 1)


# ---- per-frame metrics --------------------------------------------------------------------------------------------
def random_masks(rng, n=20, shape=(40, 48)):
    for _ in range(n):
        m = np.zeros(shape, np.uint8)
        for _ in range(rng.integers(0, 5)):
            y, x = rng.integers(-4, shape[0]), rng.integers(-4, shape[1])  # some touch or cross the border
            m[max(y, 0) : y + rng.integers(1, 12), max(x, 0) : x + rng.integers(1, 12)] = rng.integers(1, 4)
        yield m


def test_dice_iou_boundary_and_counts_match_independent_references():
    rng = np.random.default_rng(3)
    pairs = list(zip(random_masks(rng), random_masks(rng)))
    z, full = np.zeros((40, 48), np.uint8), np.ones((40, 48), np.uint8)
    dot = z.copy()
    dot[0, 0] = 7  # a single-pixel head with a label id > 1, in the corner
    pairs += [(z, z), (full, full), (z, full), (full, z), (dot, dot), (dot, z), (z, dot), (pairs[0][0] * 255, dot)]
    for p, g in pairs:
        d, j = ref_dice_iou(p, g)
        assert dice(p, g) == pytest.approx(d) and iou(p, g) == pytest.approx(j)
        assert dice(p.astype(bool), g.astype(np.float32)) == pytest.approx(d)  # bool and 0/1 floats are masks
        for tol in (0, 1, 2, 2.5):
            assert boundary_f(p, g, tol) == pytest.approx(ref_boundary_f(p, g, tol))
        for conn in (4, 8):
            assert count_objects(g, 1, conn) == ref_count(g, 1, conn)
        assert count_objects(g, 16) == ref_count(g, 16)
    diag = z.copy()
    diag[3, 3] = diag[4, 4] = 1
    assert (count_objects(diag, connectivity=4), count_objects(diag, connectivity=8)) == (2, 1)
    assert dice(z, z) == 1 and dice(z, z, smooth=0) == 1 and iou(z, z, smooth=0) == 1


def test_probability_maps_and_nan_are_refused_not_counted_as_foreground():
    g = np.zeros((32, 32), np.uint8)
    g[10:20, 10:20] = 1
    prob = g * np.float32(0.9)
    prob[0:5, 0:5] = 0.1  # faint: below 0.5, so background once thresholded
    assert dice(prob >= 0.5, g, smooth=0) == 1.0
    with pytest.raises(ValueError, match=r"pred holds values between 0 and 1.*pred >= 0.5"):
        dice(prob, g)  # was 0.889: the faint corner counted as foreground
    with pytest.raises(ValueError, match="gt holds values between 0 and 1"):
        boundary_f(g, prob)
    with pytest.raises(ValueError, match="mask holds values between 0 and 1"):
        count_objects(prob)
    nan = g.astype(np.float64)
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        iou(nan, g)
    with pytest.raises(ValueError, match="threshold it first"):
        dice(np.where(g > 0, 0.5, 0.0), g)  # 0.5 exactly is a probability too: threshold it (>= 0.5 keeps it)
    assert dice(np.where(g > 0, 255.0, 0.0), g, smooth=0) == 1.0  # a 0/255 float mask is a mask


def test_head_parts_counts_the_same_foreground_as_count_objects():
    m = np.zeros((20, 20), np.int8)
    m[2:6, 2:6] = -1  # a label map whose ids are not all positive
    m[10:14, 10:14] = 2
    labels, info = head_parts(m)
    assert len(info) == count_objects(m) == ref_count(m, 1) == 2  # head_parts saw only the positive one
    assert np.array_equal(labels > 0, m != 0)


# ---- a tiny project: two test videos of different lengths, panned by a known camera -------------------------------
def world(seed):
    rng = np.random.default_rng(seed)
    tex = ndimage.gaussian_filter(rng.random((160, 200)), 2)
    tex = ((tex - tex.min()) / np.ptp(tex) * 200).astype(np.uint8)
    mask = np.zeros(tex.shape, np.uint8)
    for _ in range(30):
        y, x, r = rng.integers(0, 160), rng.integers(0, 200), rng.integers(3, 7)
        yy, xx = np.ogrid[:160, :200]
        mask[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = 1
    tex = np.where(mask > 0, 240, tex).astype(np.uint8)
    return np.repeat(tex[..., None], 3, 2), mask


def clip(seed, n):
    tex, mask = world(seed)
    frames = np.stack([tex[20 + DY * t : 20 + DY * t + H, 10 + DX * t : 10 + DX * t + W] for t in range(n)])
    masks = np.stack([mask[20 + DY * t : 20 + DY * t + H, 10 + DX * t : 10 + DX * t + W] for t in range(n)])
    return frames, masks


@pytest.fixture()
def project(tmp_path):
    rng = np.random.default_rng(5)
    p = Project.create(tmp_path / "m.dvos")
    truth, preds = {}, {}
    for name, n, labelled in (("long", 6, (0, 1, 2, 4, 5)), ("short", 3, (0, 1, 2))):
        frames, masks = clip({"long": 1, "short": 2}[name], n)
        masks[-1, :, :] = 0  # the last frame painted empty: truth with no heads, still scored
        v = p.add_video_array(name, frames, split="test")
        for t in labelled:
            v.set_mask(t, masks[t], "manual")
        noisy = np.roll(masks, 1, axis=2).astype(np.float32) * 0.75  # 1 px off, probability 0.75
        noisy[:, 30:34, 40:44] = rng.choice([0.0, 0.5], (n, 4, 4))  # specks; 0.5 exactly is foreground
        v.predictions["noisy"].start({"kind": "test"}, None)
        v.predictions["noisy"].set_many(range(n), noisy)
        truth[name], preds[name] = {t: masks[t] for t in labelled}, noisy >= 0.5
    return p, truth, preds


def test_evaluate_files_and_table_match_independent_numbers(project, capsys):
    p, truth, preds = project
    assert dvos(["evaluate", str(p.path), "--model", "noisy", "--name", "r", "--worst", "3"]) == 0
    printed = capsys.readouterr().out
    folder = p.path / "reports" / "r"
    frames = pd.read_csv(folder / "frames.csv")
    assert list(frames.columns[:9]) == [
        "video", "frame", "dice", "iou", "boundary_f", "count_pred", "count_gt", "count_error", "gt_provenance",
    ]  # fmt: skip
    expect = []
    for vid in ("long", "short"):
        for t, g in truth[vid].items():
            d, j = ref_dice_iou(preds[vid][t], g)
            cp, cg = ref_count(preds[vid][t], 16), ref_count(g, 16)
            expect.append((vid, t, d, j, ref_boundary_f(preds[vid][t], g, 2), cp, cg, abs(cp - cg)))
    assert [(r.video, r.frame) for r in frames.itertuples()] == [e[:2] for e in expect]  # frame 3 of long: unlabelled
    got = frames[["dice", "iou", "boundary_f", "count_pred", "count_gt", "count_error"]].to_numpy()
    assert np.allclose(got, [e[2:] for e in expect])
    videos = pd.read_csv(folder / "videos.csv").set_index("video")
    overall = json.loads((folder / "overall.json").read_text())
    per_video = {v: np.mean([e[2] for e in expect if e[0] == v]) for v in ("long", "short")}
    assert videos.loc["long", "n_frames"] == 5 and videos.loc["short", "n_frames"] == 3
    assert videos.loc["long", "dice"] == pytest.approx(per_video["long"])
    assert overall["dice"] == pytest.approx(np.mean([e[2] for e in expect]))  # frame-weighted = mean of frames
    assert overall["video_mean_dice"] == pytest.approx(np.mean(list(per_video.values())))
    assert overall["iou"] == pytest.approx(np.mean([e[3] for e in expect]))
    inter = sum(np.sum(preds["long"][t] & (g != 0)) for t, g in truth["long"].items())
    n_p = sum(preds["long"][t].sum() for t in truth["long"])
    n_g = sum((g != 0).sum() for g in truth["long"].values())
    assert videos.loc["long", "dice_pooled"] == pytest.approx((2 * inter + 1) / (n_p + n_g + 1))
    last = printed.strip().splitlines()[-2].split()  # "All (frame-weighted)  8  Dice IoU BF |dN|"
    assert last[2:4] == ["8", f"{overall['dice']:.3f}"]
    worst = sorted(x.name for x in (folder / "worst").iterdir())
    order = sorted(expect, key=lambda e: e[2])[:3]
    assert [w.split("_f")[0] for w in worst] == [f"{k:02d}_{e[0]}" for k, e in enumerate(order, 1)]
    assert [float(w.rsplit("dice", 1)[1][:-4]) for w in worst] == [round(e[2], 3) for e in order]


def test_compare_baselines_and_instability_match_independent_numbers(project):
    p, truth, preds = project
    cmp = compare_models(p, ["noisy"], save=False)
    t = cmp.table.set_index("model")
    rows = {"noisy": [], "previous_true_mask": [], "all_foreground": []}
    unsteady = {"noisy": [], "ground_truth": [], "all_foreground": []}
    for vid in ("long", "short"):
        g = truth[vid]
        for k in g:
            rows["noisy"].append((preds[vid][k], g[k]))
            rows["all_foreground"].append((np.ones_like(g[k]), g[k]))
            if k - 1 in g:
                rows["previous_true_mask"].append((g[k - 1], g[k]))
                unsteady["noisy"].append(ref_instability(preds[vid][k - 1], preds[vid][k]))
                unsteady["ground_truth"].append(ref_instability(g[k - 1], g[k]))
                unsteady["all_foreground"].append(ref_instability(np.ones((H, W)), np.ones((H, W))))
    for m, pairs in rows.items():
        assert t.loc[m, "n_frames"] == len(pairs)
        assert t.loc[m, "dice"] == pytest.approx(np.mean([ref_dice_iou(a, b)[0] for a, b in pairs]))
        assert t.loc[m, "boundary_f"] == pytest.approx(np.mean([ref_boundary_f(a, b, 2) for a, b in pairs]))
        rel = [abs(ref_count(a, 16) - ref_count(b, 16)) / max(ref_count(b, 16), 1) for a, b in pairs]
        assert t.loc[m, "count_error"] == pytest.approx(np.mean(rel))
    # the earlier mask is moved onto the later frame by the camera's pan: the truth is steady once aligned (0 on
    # the pairs of painted heads, about 1 where the next frame was painted empty; unaligned, the pan alone gives more)
    assert sorted(np.round(unsteady["ground_truth"], 1)) == [0, 0, 0, 1, 1]
    assert cmp.info["ground_truth_instability"] == pytest.approx(np.mean(unsteady["ground_truth"]), abs=0.02)
    assert t.loc["noisy", "instability"] == pytest.approx(np.mean(unsteady["noisy"]), abs=0.02)
    assert t.loc["all_foreground", "instability"] == 0


# ---- inputs that gave silently wrong numbers ----------------------------------------------------------------------
def test_evaluate_refuses_to_mix_models_across_videos(project):
    p, _, _ = project
    short = p.video("short")
    short.predictions["other"].start({"kind": "test"}, None)  # now short's most recent set, long's is still noisy
    short.predictions["other"].set_many(range(2), np.zeros((2, H, W), np.float32))  # and a partial one
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"different models \(long: noisy, short: other\).*--model NAME"):
            evaluate(p, save=False)  # was one "All" score of noisy on long and other on short
    assert not [w for w in said if "fewer ground-truth frames" in str(w.message)]  # nothing was scored
    assert evaluate(p, model="noisy", save=False).overall["prediction_sets"] == {"long": "noisy", "short": "noisy"}
    assert evaluate(p, video_ids=["short"], save=False).overall["prediction_sets"] == {"short": "other"}


def test_frames_without_a_mask_are_never_ground_truth(project):
    p, _, _ = project
    with pytest.raises(ValueError, match=r"'none' \(--gt\) marks frames without a mask"):
        evaluate(p, video_ids=["long"], model="noisy", gt_provenances=("none",), save=False)  # scored frame 3
    with pytest.raises(ValueError, match="'none'"):
        compare_models(p, ["noisy"], video_ids=["long"], gt_provenances=("manual", "none"), save=False)
    rep = evaluate(p, model="noisy", gt_provenances="manual", save=False)  # one name alone
    assert rep.overall["gt_provenances"] == ["manual"] and rep.overall["n_frames"] == 8


def test_bad_tolerance_names_the_option_before_anything_is_scored(project):
    p, _, _ = project
    reports = p.path / "reports"
    for bad in (-1, float("nan"), "2px"):
        with pytest.raises(ValueError, match=r"tolerance must be >= 0 pixels \(--tolerance"):
            evaluate(p, model="noisy", tolerance=bad, name="bad")
        with pytest.raises(ValueError, match=r"--tolerance"):
            compare_models(p, ["noisy"], tolerance=bad, name="bad")
    assert not (reports / "bad").exists()


def test_a_model_named_like_a_baseline_is_refused_not_replaced_by_it(project):
    p, _, _ = project
    for name in ("long", "short"):
        v = p.video(name)
        # a perfect model, by an unlucky name, in a set an earlier dvos made (start() refuses the name now)
        v.predictions["all_foreground"].set_many(range(v.n_frames), v.read_masks().astype(np.float32))
    with pytest.raises(ValueError, match=r"\['all_foreground'\] have the name of a row the comparison adds"):
        compare_models(p, ["all_foreground", "noisy"], save=False)  # its Dice was the baseline's (0.1, not 1)
    assert evaluate(p, model="all_foreground", save=False).overall["dice"] == 1.0


def test_a_set_cannot_take_the_name_of_a_comparison_row(project):
    """`dvos smooth --name all_foreground` (and predict's --name) were accepted, and every later plain `dvos
    evaluate` then refused the project's comparison, its message naming the wrong command."""
    from dvos_core.evaluate.compare import BASELINES
    from dvos_core.infer.smooth import smooth_predictions
    from dvos_core.store.predictions import RESERVED_NAMES

    p, _, _ = project
    assert set(RESERVED_NAMES) == {*BASELINES, "ground_truth"}
    v = p.video("long")
    for name in RESERVED_NAMES:
        with pytest.raises(ValueError, match=rf"cannot be named '{name}'.*choose another name \(--name"):
            smooth_predictions(p, "long", "noisy", name=name, follow_sway=False)
        assert name not in v.predictions.models()  # nothing written
    assert smooth_predictions(p, "long", "noisy", name="noisy_calm", follow_sway=False) == v.n_frames


def test_a_video_without_ground_truth_is_refused_by_the_comparison_as_by_evaluate(project):
    """A test video nobody painted was silently left out of a comparison of models (its table then stood for the
    other videos only, while comparison.json listed it), where scoring one model refused it."""
    p, _, _ = project
    frames = p.video("long").read_frames(0, 3)
    bare = p.add_video_array("bare", frames, split=p.video("long").split)
    bare.predictions["noisy"].set_many(range(3), np.zeros((3, *frames.shape[1:3]), np.float32))
    for call in (lambda: compare_models(p, ["noisy"], save=False), lambda: evaluate(p, model="noisy", save=False)):
        with pytest.raises(ValueError, match=r"video 'bare' has no ground-truth masks .*leave it out \(--videos\)"):
            call()
    kept = compare_models(p, ["noisy"], video_ids=["long", "short"], save=False)
    assert kept.info["videos"] == ["long", "short"]


def test_a_video_named_twice_is_scored_once(project):
    p, _, _ = project
    once = compare_models(p, ["noisy"], video_ids=["long", "short"], save=False).table.set_index("model")
    twice = compare_models(p, ["noisy"], video_ids=["long", "short", "long"], save=False).table.set_index("model")
    assert twice.loc["noisy", "n_frames"] == once.loc["noisy", "n_frames"] == 8  # was 13: long weighed double
    assert twice.loc["noisy", "dice"] == once.loc["noisy", "dice"]
    assert evaluate(p, ["short", "short"], model="noisy", save=False).overall["videos"] == ["short"]


def test_scoring_a_test_video_the_model_trained_on_warns(tmp_path):
    """A video made a test video after a model trained on it: `dvos evaluate` scored the model there as if it had
    never seen it, though its checkpoint lists the video among its training data."""
    from dvos_core.model import build_model, save_checkpoint
    from dvos_core.store import Project

    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("plot", np.zeros((3, 16, 16, 3), np.uint8), split="test")
    for t in range(3):
        v.set_mask(t, np.eye(16, dtype=np.uint8), "manual")
    ck = p.model_dir("m", create=True) / "best.pt"
    save_checkpoint(ck, build_model("tiny", "frame"), data={"train": {"videos": ["plot"]}})
    s = v.predictions["m"]
    s.start({"kind": "image", "checkpoint": str(ck)}, "f")
    s.set_many(range(3), np.eye(16, dtype=np.float32)[None].repeat(3, 0))
    with pytest.warns(UserWarning, match=r"'m' was trained on the test video\(s\) plot"):
        evaluate(p, model="m", save=False)
    with pytest.warns(UserWarning, match=r"'m' was trained on the test video\(s\) plot"):
        compare_models(p, ["m"], save=False)
    save_checkpoint(ck, build_model("tiny", "frame"), data={"train": {"videos": ["other"]}})
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        evaluate(p, model="m", save=False)
    assert not [w for w in said if "was trained on the test video" in str(w.message)]
