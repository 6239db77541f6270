"""The accuracy benchmark's oracles: the propagation ceiling (the best aligned earlier mask per frame, never below a
frame's own) and the degradation ceiling (where the degraded footage's leaves are, and what undoing them gives);
the occluded condition's lingering leaves."""

import sys

import numpy as np
import pytest
import scipy.ndimage as ndi
from motion_clips import camera_clip, fast_pan, paint_heads, texture
from script_modules import load_script

from dvos_core.evaluate.metrics import frame_scores


def _bench():
    return load_script("benchmarks/accuracy_bench.py")


def test_the_ceiling_carries_a_good_earlier_mask_onto_a_missed_frame():
    world, wmask, _ = paint_heads(texture(), 120, seed=3)
    frames, gt, _ = camera_clip(world, fast_pan(5, seed=1), size=(128, 160), world_mask=wmask)
    pred = gt.copy()
    pred[3] = 0  # the model missed every head of frame 3 (a blurred frame, say)
    pred[4] = np.roll(gt[4], 6, axis=1)  # and misplaced those of frame 4
    ceiling = _bench().propagation_ceiling(pred, gt, frames, window=3)
    own = [frame_scores(p, g)["dice"] for p, g in zip(pred, gt)]
    best = [frame_scores(p, g)["dice"] for p, g in zip(ceiling, gt)]
    assert all(b >= o - 1e-9 for b, o in zip(best, own))
    assert own[3] < 0.01 and best[3] > 0.8  # frame 2's mask, aligned by the camera motion, covers most of frame 3
    assert best[4] > own[4] + 0.2
    assert np.array_equal(ceiling[0], pred[0])  # nothing earlier to carry


def test_the_leaves_cover_is_where_the_degraded_frames_are_hidden():
    bench = _bench()
    accuracy_data = sys.modules["accuracy_data"]  # loaded by the benchmark from its folder

    frames = np.full((10, 96, 96, 3), 255, np.uint8)  # white: leaves (dark green) are the only dark things
    degraded, cover = accuracy_data.degrade_video(frames, np.random.default_rng(4))
    assert cover.shape == frames.shape[:3] and cover.min() >= 0 and cover.max() <= 1
    assert (cover > 0.7).sum() > 500  # some leaves crossed (each 80-100% opaque)
    brightness = degraded.mean(-1)
    assert np.median(brightness[cover > 0.7]) < 100  # under a leaf: mostly the leaf
    far = np.stack([ndi.binary_dilation(c > 0.01, iterations=12) for c in cover])
    assert np.median(brightness[~far]) > 110  # away from leaves (and their blur): the frame, at most dimmed

    gt = np.zeros((2, 8, 8), np.uint8)
    gt[:, 2:6, 2:6] = 1
    pred = np.zeros_like(gt)  # the model saw nothing
    occ = np.zeros(gt.shape, np.float32)
    occ[0, :, :4] = 1.0  # a leaf covers the left half of frame 0
    fixed = bench.degradation_ceiling(pred, gt, occ)
    assert fixed[0, 2:6, 2:4].all() and not fixed[0, :, 4:].any() and not fixed[1].any()


def test_the_occluded_condition_adds_lingering_leaves_to_the_degraded_footage():
    _bench()
    accuracy_data = sys.modules["accuracy_data"]

    frames = np.full((12, 96, 96, 3), 255, np.uint8)
    _, light = accuracy_data.degrade_video(frames, np.random.default_rng(4))
    _, same = accuracy_data.degrade_video(frames, np.random.default_rng(4), lingering=0)
    assert np.array_equal(same, light)  # the degraded condition is unchanged by the new leaves
    _, heavy = accuracy_data.degrade_video(frames, np.random.default_rng(4), lingering=4)
    assert (heavy > 0.5).mean() > 2 * (light > 0.5).mean()

    # lingering leaves hide the same pixels for several frames in a row
    def held_three_frames(cover):
        hidden = cover > 0.5
        return (hidden[:-2] & hidden[1:-1] & hidden[2:]).mean()

    assert held_three_frames(heavy) > 2 * held_three_frames(light) + 0.01

    scene = accuracy_data.Scene("s", np.full((256, 512, 3), 128, np.uint8), np.zeros((256, 512), np.uint8))
    occluded = accuracy_data.make_set(scene, "slow", "occluded", 4, 6, 64, seed=0)
    assert occluded["test_undegraded"][1].shape == (6, 64, 64)
    assert "test_undegraded" not in accuracy_data.make_set(scene, "slow", "clean", 4, 6, 64, seed=0)
    with pytest.raises(ValueError, match="condition"):
        accuracy_data.make_set(scene, "slow", "foggy", 4, 6, 64, seed=0)


def test_seen_before_follows_the_camera_to_what_a_leaf_hid():
    _bench()
    accuracy_data = sys.modules["accuracy_data"]
    masks = np.ones((3, 32, 32), np.uint8)
    still = [np.array([[1.0, 0, 0], [0, 1.0, 0]])] * 3
    cover = np.zeros((3, 32, 32), np.float32)
    cover[:, 8:16, 8:16] = 1  # a leaf that never moves, on a still camera: nothing it hides was ever seen
    assert accuracy_data.seen_before(masks, cover, still, 2) == 0.0
    pan = [np.array([[1.0, 0, 4.0 * t], [0, 1.0, 0]]) for t in range(3)]  # the camera pans 4 px per frame
    assert accuracy_data.seen_before(masks, cover, pan, 1) == 0.5  # 4 of the leaf's 8 columns were in view
    assert accuracy_data.seen_before(masks, cover, pan, 2) == 1.0
    cover[1] = 1  # frame 1 is all leaf: frame 0 shows all of it but the small leaf; frame 1 shows frame 2 nothing
    assert accuracy_data.seen_before(masks, cover, still, 1) == (32 * 32 - 64) / (32 * 32 + 64)


def test_behind_leaves_scores_only_the_hidden_pixels():
    bench = _bench()
    gt = np.zeros((2, 8, 8), np.uint8)
    gt[:, :4] = 1  # objects in the top half
    cover = np.zeros((2, 8, 8), np.float32)
    cover[:, :, :2] = 1.0  # a leaf over the two left columns: 8 object and 8 background pixels per frame
    cover[:, :, 2] = 0.4  # thin edge of a leaf: not hidden
    pred = np.zeros_like(gt)
    pred[0, :4, :2] = 1  # frame 0 finds every hidden object pixel, frame 1 none
    pred[1, 4:6, :2] = 1  # frame 1 calls 4 hidden background pixels object
    pred[:, 6:, 2:] = 1  # visible background called object: not counted here
    assert bench.behind_leaves(pred, gt, cover) == {"hidden_recall": 0.5, "hidden_false_positive": 0.25}


def test_the_seeds_table_pairs_each_model_with_the_control_of_its_own_seed():
    bench = _bench()

    def run(seed, ft, ctx):
        scores = {"image_ft": {"dice": ft, "instability": 0.1}, "context": {"dice": ctx, "instability": 0.1}}
        return {"set": "nuclei-slow-degraded", "seed": seed, "scores": scores}

    # the context model is below the control on average but above it on every seed: only pairing shows that
    table = bench.seeds_table([run(0, 0.70, 0.72), run(1, 0.90, 0.91), run(2, 0.80, 0.83)])
    row = [c.strip() for c in table.splitlines()[-1].strip("|").split("|")]
    assert row[:2] == ["nuclei-slow-degraded", "3"]
    assert row[2:4] == ["0.800 ± 0.100", "0.820 ± 0.095"]
    assert row[4] == "+0.020 [+0.010, +0.030]"


def test_the_ablation_columns_switch_off_one_part_of_the_stored_context_model(tmp_path):
    from test_model_context import _fused_model

    from dvos_core.infer import predict_array
    from dvos_core.model import load_checkpoint, save_checkpoint

    model = _fused_model()  # a lookup, a prior and reference pixels that do something
    ck = {"context": str(save_checkpoint(tmp_path / "c.pt", model))}
    frames, _, _ = camera_clip(texture(size=512), fast_pan(4, seed=1), size=(64, 64))
    names = ["context", "context_no_lookup", "context_no_prior", "context_no_pixels"]
    out = _bench().predict_all(ck, frames, names)
    assert all(out[n].shape == (5, 64, 64) for n in names)
    for name in names[1:]:
        assert not np.allclose(out[name], out["context"], atol=1e-3), name
    stored, info = load_checkpoint(ck["context"])
    assert np.array_equal(out["context_no_prior"], predict_array((stored.switch_off("prior"), info), frames))
    assert np.array_equal(out["context_no_pixels"], predict_array((stored.switch_off("pixels"), info), frames))


def test_a_variant_is_parsed_merged_into_the_training_settings_and_given_its_own_column():
    import argparse

    bench = _bench()
    name, extra = bench.parse_variant('aw2={"anchor_weight": 2, "augment": {"context": {"occlude_p": 1}}}')
    assert name == "aw2" and bench.store_name("context@aw2") == "variant_aw2"
    assert bench.is_variant("context@aw2") and not bench.is_variant("context_query_only")
    base = {"augment": {"context": {"degrade_query_p": 0.7}}}
    kw = bench.merged(base, extra)  # nested settings merged key by key, the base left as it was
    assert kw == {"anchor_weight": 2, "augment": {"context": {"degrade_query_p": 0.7, "occlude_p": 1}}}
    assert base == {"augment": {"context": {"degrade_query_p": 0.7}}}
    s = bench.Settings(degrade_p=0.4)  # the benchmark's own share of degraded queries, unless the variant sets it
    assert bench.context_settings(s, extra)["augment"]["context"] == {"degrade_query_p": 0.4, "occlude_p": 1}
    own = {"augment": {"context": {"degrade_query_p": 0.1}}}
    assert bench.context_settings(s, own) == own and bench.context_settings(s) == {
        "augment": {"context": {"degrade_query_p": 0.4}}
    }
    for bad in ("aw2", "aw2={anchor_weight: 2}", "a w=[1]", "x=[1]"):
        with pytest.raises(argparse.ArgumentTypeError, match="--variant"):
            bench.parse_variant(bad)
    cell = {"dice": 0.8, "instability": 0.1}
    run = {"set": "nuclei-slow-degraded", "seed": 0, "scores": {"context": cell, "context@aw2": cell}}
    run["scores"]["ground_truth"] = {"instability": 0.05}
    assert "context@aw2" in bench.markdown_table([run]).splitlines()[0]


def test_hard_hits_degrade_one_frame_in_three_and_leave_the_others_as_they_were():
    _bench()
    accuracy_data = sys.modules["accuracy_data"]
    frames = texture(size=64)[None].repeat(9, 0)
    out, hit = accuracy_data.hard_hits(frames, seed=1)
    assert hit.tolist() == [t % 3 == 2 for t in range(9)] and out.shape == frames.shape and out.dtype == np.uint8
    assert np.array_equal(out[~hit], frames[~hit])  # the neighbours are as they were
    assert all(out[t].mean() < 0.6 * frames[t].mean() for t in np.flatnonzero(hit))  # darker
    dimmed = np.clip(np.round(frames[2].astype(np.float32) * 0.45), 0, 255)
    streaked, _ = accuracy_data.hard_hits(frames, seed=1, noise=0.0)
    still, _ = accuracy_data.hard_hits(frames, seed=1, noise=0.0, streak_px=0)
    assert np.abs(still[2] - dimmed).max() <= 1  # without streak and noise: dimmed only
    assert np.abs(streaked[2] - dimmed).mean() > 5  # the streak smears the texture
    again, _ = accuracy_data.hard_hits(frames, seed=1)
    assert np.array_equal(again, out)  # the same seed hits the same way


def test_the_hit_table_compares_each_model_on_the_hard_hit_frames():
    bench = _bench()

    def cell(dice, hit):
        return {"dice": dice, "instability": 0.1, "hit_dice": hit}

    scores = {"image_ft": cell(0.9, 0.80), "context": cell(0.9, 0.84), "context_query_only": cell(0.9, 0.81)}
    table = bench.hit_table([{"set": "conifer-fast-degraded", "seed": 0, "scores": scores}])
    head, _, row = (line.strip("|").split("|") for line in table.splitlines())
    head, row = [h.strip() for h in head], [c.strip() for c in row]
    got = dict(zip(head, row))
    assert got["image_ft"] == "0.800" and got["context"] == "0.840"
    assert got["context − image_ft"] == "+0.040" and got["context − context_query_only"] == "+0.030"
    assert "(hit 0.840)" in bench._line({"scores": scores}, ["context"])
    gt = np.zeros((3, 8, 8), np.uint8)
    gt[:, 2:6, 2:6] = 1
    pred = gt.copy()
    pred[1, 2:4] = 0  # half of the object missed on frame 1 only
    missed = frame_scores(pred[1], gt[1])["dice"]
    assert missed < 0.7 and bench.hit_dice(pred, gt, np.array([False, True, False])) == round(missed, 4)
    assert bench.hit_dice(pred, gt, np.array([True, False, True])) == 1.0


def test_the_target_table_says_whether_the_oracles_reach_the_control_plus_the_margin():
    bench = _bench()

    def run(name, seed, ft, ctx, degradation, propagation):
        cells = {"image_ft": ft, "context": ctx, "degradation_ceiling": degradation, "propagation_ceiling": propagation}
        return {"set": name, "seed": seed, "scores": {m: {"dice": d, "instability": 0.1} for m, d in cells.items()}}

    table = bench.target_table(
        [
            run("conifer-fast-degraded", 1, 0.92, 0.93, 0.94, 0.935),  # the better oracle 0.94 < 0.95: out of reach
            run("conifer-fast-degraded", 0, 0.80, 0.81, 0.82, 0.83),  # 0.83 = 0.80 + 0.03: in reach
            {"set": "conifer-fast-clean", "seed": 0, "scores": {"image_ft": {"dice": 0.9}}},  # no oracle: no row
        ]
    )
    lines = table.splitlines()
    head = [h.strip() for h in lines[0].strip("|").split("|")]
    rows = [dict(zip(head, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]
    assert [(r["set"], r["seed"]) for r in rows] == [("conifer-fast-degraded", "0"), ("conifer-fast-degraded", "1")]
    assert rows[0]["target"] == "0.830" and rows[0]["oracles reach the target"] == "yes"
    assert rows[1]["context − image_ft"] == "+0.010" and rows[1]["oracles reach the target"] == "no"
    assert rows[1]["image_ft_smoothed"] == "–"


def test_match_gives_the_context_model_and_the_control_the_share_matched_to_the_training_video():
    import argparse

    from dvos_core.data.degradation_match import matched_query_share, measure_degradation

    bench = _bench()
    world, _, _ = paint_heads(texture(size=512, dark=True), 40, seed=1)
    steady, _, _ = camera_clip(world, fast_pan(7, seed=3, speed=(2, 4)), size=(96, 96))
    flicker = steady.astype(np.float32)
    flicker[1::2] *= 0.55  # every other frame dimmed: exposure flicker
    flicker = flicker.astype(np.uint8)
    logged = []
    for frames in (steady, flicker):
        s = bench.matched_share(bench.Settings(degrade_p="match"), frames, logged.append)
        assert s.degrade_p == matched_query_share(measure_degradation([frames]))
        assert bench.control_augment(s) == {"degrade_p": s.degrade_p}
        assert bench.context_settings(s)["augment"]["context"]["degrade_query_p"] == s.degrade_p
    assert [line.split(":")[1].split()[0] for line in logged] == ["0.35", "0.7"]
    fixed = bench.Settings(degrade_p=0.5)
    assert bench.matched_share(fixed, flicker, logged.append) is fixed  # a number is kept as it is
    assert bench._share_or_match("match") == "match" and bench._share_or_match("0.2") == 0.2
    for bad in ("1.5", "auto"):
        with pytest.raises(argparse.ArgumentTypeError, match="'match'"):
            bench._share_or_match(bad)


def test_reuse_trains_only_the_variants_a_kept_project_lacks(tmp_path, monkeypatch):
    from dvos_core.store import Project

    bench = _bench()
    path = tmp_path / "set.dvos"
    project = Project.create(path)
    for name in ("image", "variant_kept"):
        project.model_dir(name).mkdir(parents=True, exist_ok=True)
        (project.model_dir(name) / "best.pt").write_bytes(b"x")
    trained = []

    def train(project, s, image_ck, name, kind, extra):
        trained.append((name, kind, extra, str(image_ck)))
        return "new.pt"

    monkeypatch.setattr(bench, "train_video_model", train)
    s = bench.Settings(variants=(("kept", {"anchor_weight": 2}), ("new", {"anchor_weight": 3})))
    columns = []
    ck = bench.add_variants(path, {"image": "img.pt"}, s, lambda m: None, columns)
    assert columns == ["context@new"]  # what run_set times as training
    assert ck["context@kept"] == str(project.model_dir("variant_kept") / "best.pt")  # kept: reused as it is
    assert ck["context@new"] == "new.pt" and ck["image"] == "img.pt"
    assert trained == [("context@new", "context", {"anchor_weight": 3}, str(project.model_dir("image") / "best.pt"))]


def test_the_first_phase_columns_score_the_checkpoints_the_first_phase_left(tmp_path):
    """``context_synthetic`` and ``image_ft_synthetic`` are the kept first-phase checkpoints, not the finished models:
    what tells whether the second (pseudo-labelled) phase helped."""
    from dvos_core.store import Project

    bench = _bench()
    path = tmp_path / "set.dvos"
    project = Project.create(path)
    frames = np.random.default_rng(0).integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    project.add_video_array("test", frames, split="test")
    names = ("image", "image_ft", "image_ft_synthetic", "context", "context_synthetic")
    models = ["image", "image_ft", "context", "context_query_only", *bench.FIRST_PHASE]
    for name in names[:-1]:
        project.model_dir(name).mkdir(parents=True, exist_ok=True)
        (project.model_dir(name) / "best.pt").write_bytes(b"x")
    assert bench.stored_checkpoints(path, frames, models) is None  # the context model's first phase is missing
    project.model_dir("context_synthetic").mkdir(parents=True)
    (project.model_dir("context_synthetic") / "best.pt").write_bytes(b"x")
    ck = bench.stored_checkpoints(path, frames, models)
    assert {m: ck[m] for m in names} == {m: str(project.model_dir(m) / "best.pt") for m in names}


def test_relabelled_columns_train_on_a_copy_of_the_video_labelled_by_the_first_phase(tmp_path, monkeypatch):
    """The relabelled columns' second phases read a copy of the training video pseudo-labelled by the context model's
    first phase; the training video keeps the image model's labels; what the project holds is reused."""
    from test_model_context import _fused_model

    from dvos_core.model import build_model, save_checkpoint
    from dvos_core.store import Project

    bench = _bench()
    s = bench.Settings(seed_frames=(0, 3))
    frames = np.random.default_rng(1).integers(0, 255, (6, 64, 64, 3), dtype=np.uint8)
    path = tmp_path / "set.dvos"
    project = Project.create(path)
    v = project.add_video_array("train", frames, split="train")
    painted = np.zeros((64, 64), np.uint8)
    painted[10:30, 10:30] = 1
    for t in range(6):
        v.set_mask(
            t, painted if t in s.seed_frames else np.zeros((64, 64), np.uint8), "manual" if t in (0, 3) else "pseudo"
        )
    for name in ("context_synthetic", "image_ft_synthetic"):
        project.model_dir(name).mkdir(parents=True, exist_ok=True)
        save_checkpoint(project.model_dir(name) / "best.pt", _fused_model())
    project.model_dir("image").mkdir(parents=True, exist_ok=True)
    save_checkpoint(project.model_dir("image") / "best.pt", build_model("tiny", "frame"))
    calls = []

    def train(project, name, phase, s, steps, **kw):
        calls.append((name, phase, kw["init_from"], kw["video_ids"], kw.get("video_model")))
        project.model_dir(name).mkdir(parents=True, exist_ok=True)
        (project.model_dir(name) / "best.pt").write_bytes(b"x")
        return project.model_dir(name) / "best.pt"

    monkeypatch.setattr(bench, "_train", train)
    models = ["context", "context_relabelled", "image_ft_relabelled", "context_blended"]
    ck = bench.add_relabelled(path, {"context": "c.pt"}, s, models, lambda m: None)
    first = {m: str(project.model_dir(m) / "best.pt") for m in ("context_synthetic", "image_ft_synthetic")}
    assert calls == [
        ("context_relabelled", "real", first["context_synthetic"], [bench.RELABELLED_VIDEO], "context"),
        ("image_ft_relabelled", "image", first["image_ft_synthetic"], [bench.RELABELLED_VIDEO], None),
        ("context_blended", "real", first["context_synthetic"], [bench.BLENDED_VIDEO], "context"),
    ]
    blended = project.video(bench.BLENDED_VIDEO)
    assert blended.attrs["pseudo_label"]["blend_with"] == [str(project.model_dir("image") / "best.pt")]
    assert project.video(bench.RELABELLED_VIDEO).attrs["pseudo_label"]["blend_with"] == []
    assert blended.provenance_counts()["manual"] == 2 and blended.provenance_counts()["pseudo"] == 4
    assert ck["context"] == "c.pt" and ck["context_relabelled"].endswith("context_relabelled/best.pt")
    copy, train_video = project.video(bench.RELABELLED_VIDEO), project.video("train")
    assert copy.provenance_counts()["manual"] == 2 and copy.provenance_counts()["pseudo"] == 4
    assert np.array_equal(copy.mask(3), painted) and copy.attrs["pseudo_label"]["checkpoint"].endswith("best.pt")
    assert any(copy.mask(t).any() for t in (1, 2, 4, 5))  # the first phase's labels, not the stored empty ones
    assert not any(train_video.mask(t).any() for t in (1, 2, 4, 5))  # the other models' labels are untouched
    again = bench.add_relabelled(path, {}, s, models, lambda m: None)
    assert len(calls) == 3 and again["image_ft_relabelled"] == ck["image_ft_relabelled"]  # reused
    gt = np.stack([painted] * 6)
    dice = bench.label_dice(path, gt)  # the stored empty labels score next to nothing against the painted truth
    assert dice["image"] < 0.01 and dice["context_synthetic"] > dice["image"]
