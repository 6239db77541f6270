"""pseudo_label: writes pseudo masks with quality, protects human masks, flags / drops low-quality frames."""

import numpy as np
import pytest
import torch
from stub_models import BrightIsHead

from dvos_core.infer import pseudo_label
from dvos_core.infer.quality import flicker, quality_score, uncertainty
from dvos_core.model import build_model
from dvos_core.store import Project

torch.set_num_threads(1)


def _video(n=6, h=32, w=40, jump_at=None):
    frames = np.full((n, h, w, 3), 30, np.uint8)
    for t in range(n):
        y = 20 if t == jump_at else 4 + t // 2
        frames[t, y : y + 8, 6:16] = 230
    return frames


def test_quality_definitions():
    p = np.stack([np.ones((4, 4)), np.zeros((4, 4))])
    assert uncertainty(p) == pytest.approx(1.0)
    assert uncertainty(np.stack([np.full((4, 4), 0.9)] * 3)) == pytest.approx(0.0, abs=1e-9)
    assert uncertainty(np.zeros((2, 4, 4))) == 0.0
    a = np.zeros((6, 6), np.uint8)
    a[:3] = 1
    assert flicker(a, a, a) == pytest.approx(0.0)
    assert flicker(a, 1 - a) == pytest.approx(1 - 1 / 37)
    assert np.isnan(flicker(a))
    assert quality_score(0.2, 0.5) == pytest.approx(0.4) and quality_score(0.2, float("nan")) == pytest.approx(0.8)


def test_pseudo_label_protects_manual_and_writes_quality(tmp_path):
    p = Project.create(tmp_path / "q.dvos")
    v = p.add_video_array("v", _video(jump_at=4))
    manual = np.zeros((32, 40), np.uint8)
    manual[0:2] = 1
    v.set_mask(2, manual, "manual")
    df = pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=2, batch_size=4)
    v = p.video("v")
    assert df["status"].tolist() == ["written", "written", "protected", "written", "written", "written"]
    assert np.array_equal(v.mask(2), manual)
    assert v.provenance_counts()["pseudo"] == 5
    m0 = v.mask(0)
    assert m0[4:12, 6:16].all() and m0.sum() == 80
    q = v.quality
    assert np.allclose(q[[0, 1, 3, 4, 5]], df["quality"].to_numpy()[[0, 1, 3, 4, 5]])
    assert df.loc[4, "quality"] < df.loc[0, "quality"]  # the frame whose head jumps flickers
    assert (df["uncertainty"].dropna() == 0).all()  # flip TTA of a flip-equivariant model agrees
    assert p.video("v").attrs["pseudo_label"]["uncertainty_from"] == "flips"
    record = p.video("v").attrs["pseudo_label"]
    again = pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1)
    assert (again["status"] != "written").all()  # existing pseudo masks kept unless overwrite
    # a run that labelled nothing left the record of the run that made the labels (it rewrote it: a new date and
    # n_passes 1, and a resumed training then warned that the pseudo-labels had been made again)
    assert p.video("v").attrs["pseudo_label"] == record


def test_threshold_flags_or_drops(tmp_path):
    p = Project.create(tmp_path / "d.dvos")
    p.add_video_array("v", _video(jump_at=4))
    df = pseudo_label(p, ["v"], (BrightIsHead(), {}), device="cpu", n_passes=1, quality_threshold=0.5)
    low = df[df.below_threshold]
    assert 4 in low["frame"].tolist() and len(low) < len(df)
    assert p.video("v").provenance_counts()["pseudo"] == 6  # flagged frames keep their mask
    df2 = pseudo_label(
        p, ["v"], (BrightIsHead(), {}), device="cpu", n_passes=1, quality_threshold=0.5, overwrite=True, drop_below=True
    )
    v = p.video("v")
    dropped = df2[df2.status == "dropped"]["frame"].tolist()
    assert dropped == low["frame"].tolist()
    assert all(v.mask(t) is None for t in dropped)
    assert v.provenance_counts()["pseudo"] == 6 - len(dropped)


def test_relabelling_makes_a_deleted_quality_file_again_and_scores_every_label(tmp_path):
    """The fix a missing quality file names (pseudo-label --overwrite): each score written into it was refused (one
    score would have made the file again with every other score unknown), so it makes the file again first."""
    from dvos_core.store import DamagedStoreError

    p = Project.create(tmp_path / "r.dvos")
    p.add_video_array("v", _video(jump_at=4))
    pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1)
    (p.path / "videos/v/quality/c/0").unlink()
    with pytest.raises(DamagedStoreError, match="quality/c/0 is missing"):
        _ = p.video("v").quality
    with pytest.warns(UserWarning, match="quality scores of frames 0-5 were missing"):
        df = pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, overwrite=True)
    q = p.video("v").quality
    assert np.isfinite(q).all() and np.allclose(q, df["quality"].to_numpy())


def test_flagged_frames_are_left_out_of_training(tmp_path):
    from dvos_core.data.clips import split_samples

    p = Project.create(tmp_path / "tr.dvos")
    p.add_video_array("v", _video(n=8, jump_at=4))
    df = pseudo_label(p, ["v"], (BrightIsHead(), {}), device="cpu", n_passes=1, quality_threshold=0.5)
    flagged = set(df[df.below_threshold]["frame"])
    assert flagged and len(flagged) < 8

    def train_frames(quality_min):
        train, val = split_samples(p, 0, 1, "image", synthetic_sets=[], pseudo_quality_min=quality_min, val_fraction=0)
        return {s.t for s in train + val}

    assert train_frames(None) == set(range(8))
    assert train_frames(0.5) == set(range(8)) - flagged


def test_cancel_keeps_finished_frames_and_progress_counts(tmp_path):
    from dvos_core.progress import Cancelled, CancelToken

    p = Project.create(tmp_path / "c.dvos")
    p.add_video_array("v", _video(n=8))
    token, seen = CancelToken(), []

    def progress(done, total, msg):
        seen.append((done, total))
        if done >= 4:
            token.cancel()

    with pytest.raises(Cancelled):
        pseudo_label(
            p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, batch_size=4, progress=progress, cancel=token
        )
    v = p.video("v")
    assert seen == [(4, 8)]
    # the finished batch but its last frame, held back for its flicker against frame 4 (none of the next batch)
    assert v.labelled_frames(["pseudo"]).tolist() == [0, 1, 2]
    assert np.isfinite(v.quality[:3]).all() and np.isnan(v.quality[3])
    df = pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, batch_size=4)
    assert df["status"].tolist() == ["kept"] * 3 + ["written"] * 5


def test_a_cancelled_then_resumed_labelling_equals_an_uninterrupted_one(tmp_path):
    """A cancel wrote the frame held back for its flicker with its earlier neighbour only, and the resumed run kept
    that score: the finished set's quality differed from an uninterrupted run's (which --drop-below and
    pseudo_quality_min act on)."""
    from dvos_core.progress import Cancelled, CancelToken

    def label(project, **kw):
        return pseudo_label(project, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, batch_size=2, **kw)

    whole, stopped = Project.create(tmp_path / "w.dvos"), Project.create(tmp_path / "s.dvos")
    for p in (whole, stopped):
        p.add_video_array("v", _video(n=8))
    label(whole)
    token = CancelToken()

    def progress(done, total, msg):
        if done >= 4:
            token.cancel()

    with pytest.raises(Cancelled):
        label(stopped, progress=progress, cancel=token)
    df = label(stopped)
    assert df["status"].tolist() == ["kept"] * 3 + ["written"] * 5  # the finished frames are not labelled again
    a, b = whole.video("v"), stopped.video("v")
    assert np.array_equal(a.read_masks(), b.read_masks())
    assert np.array_equal(a.provenance, b.provenance)
    assert np.array_equal(a.quality, b.quality)


def test_a_stopped_relabelling_is_recorded_as_such(tmp_path):
    """A relabelling cancelled part-way left a mix of two models' labels under a record naming the earlier run as
    finished; a run keeping labels then kept the mix without a word, and run-all took it for its own finished run."""
    import warnings

    from dvos_core.progress import Cancelled, CancelToken

    p = Project.create(tmp_path / "r.dvos")
    p.add_video_array("v", _video(n=8))
    pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, batch_size=4)
    record = p.video("v").attrs["pseudo_label"]
    assert record["complete"] is True and record["overwrite"] is False
    token = CancelToken()

    def progress(done, total, msg):
        if done >= 4:
            token.cancel()

    with pytest.raises(Cancelled):
        pseudo_label(
            p, "v", (BrightIsHead(), {}), n_passes=1, batch_size=4, overwrite=True, progress=progress, cancel=token
        )
    record = p.video("v").attrs["pseudo_label"]
    assert record["complete"] is False and record["overwrite"] is True
    with pytest.warns(UserWarning, match=r"v: the last pseudo-labelling .* was stopped, so its labels are a mix"):
        pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, batch_size=4)
    pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, batch_size=4, overwrite=True)
    assert p.video("v").attrs["pseudo_label"]["complete"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, batch_size=4)


def test_run_all_relabels_what_its_own_stopped_relabelling_left_mixed(tmp_path, monkeypatch):
    import dvos_core.infer as infer
    from dvos_core.model import save_checkpoint
    from dvos_core.run_all import RunAllConfig, _pseudo_label

    p = Project.create(tmp_path / "a.dvos")
    for vid in ("mixed", "mine", "passes", "fresh"):
        p.add_video_array(vid, _video(n=4))
    for vid in ("mixed", "mine", "passes"):  # each holds a pseudo-label of the stopped run
        p.video(vid).set_mask(0, np.ones((32, 40), np.uint8), "pseudo", quality=1.0)
    image = p.model_dir("image", create=True) / "best.pt"
    save_checkpoint(image, build_model("tiny", "frame"))
    common = {"checkpoint": str(image), "checkpoint_sha256": None, "complete": False, "zooms": [1.0]}
    common.update(blend_with=[], quality_threshold=None, drop_below=False)
    cfg = RunAllConfig(pseudo_passes=1)
    p.video("mixed").update_attrs(pseudo_label={**common, "n_passes": 1, "overwrite": True})
    p.video("mine").update_attrs(pseudo_label={**common, "n_passes": 1, "overwrite": False})
    p.video("passes").update_attrs(pseudo_label={**common, "n_passes": 2, "overwrite": False})
    calls, lines = [], []
    monkeypatch.setattr(
        infer, "pseudo_label", lambda project, group, ckpt, **kw: calls.append((group, kw["overwrite"]))
    )

    class Run:
        cancel = None

        def log(self, text):
            lines.append(text)

    _pseudo_label(p, cfg, Run(), ["mixed", "mine", "passes", "fresh"], image, None)
    # its own stopped labelling is finished, a video without labels is labelled (nothing to replace); a stopped
    # relabelling (older labels in the frames it did not reach) and one with other passes are done again whole
    assert calls == [(["mine", "fresh"], False), (["mixed", "passes"], True)]
    said = [ln for ln in lines if "stopped part-way" in ln]
    assert len(said) == 2 and "of mine by this run's model stopped part-way: it is finished" in said[0], lines
    assert "of mixed, passes by this run's model stopped part-way (replacing older labels, or with other" in said[1]
    assert not any("replaced" in ln for ln in lines), lines


def test_run_all_finishes_its_own_stopped_labelling_as_an_uninterrupted_one(tmp_path, monkeypatch):
    """run-all labelled a video again whole after its own first labelling of it stopped (it ran as a relabelling,
    which cannot be resumed): now the frames it labelled are kept, and the result is an uninterrupted run's."""
    import dvos_core.infer as infer
    from dvos_core.model import save_checkpoint
    from dvos_core.progress import Cancelled, CancelToken
    from dvos_core.run_all import RunAllConfig, _pseudo_label

    torch.manual_seed(0)
    model, label = build_model("tiny", "frame"), infer.pseudo_label
    projects = [Project.create(tmp_path / f"{name}.dvos") for name in ("whole", "stopped")]
    for p in projects:
        p.add_video_array("v", _video(n=8))
        save_checkpoint(p.model_dir("image", create=True) / "best.pt", model, phase="image")
    token, stop, runs = CancelToken(), [False], []

    def stop_after_4(done, total, msg):
        if done >= 4:
            token.cancel()

    def labelling(project, group, ckpt, **kw):
        if stop[0]:
            stop[0] = False
            kw.update(progress=stop_after_4, cancel=token)
        runs.append(kw["overwrite"])
        df = label(project, group, ckpt, **kw, batch_size=2)
        runs.append(df["status"].tolist())
        return df

    monkeypatch.setattr(infer, "pseudo_label", labelling)

    class Run:
        cancel = None

        def log(self, text):
            pass

    cfg = RunAllConfig(pseudo_passes=1, device="cpu")
    whole, stopped = projects
    _pseudo_label(whole, cfg, Run(), ["v"], whole.model_dir("image") / "best.pt", None)
    runs.clear()
    stop[0] = True
    with pytest.raises(Cancelled):
        _pseudo_label(stopped, cfg, Run(), ["v"], stopped.model_dir("image") / "best.pt", None)
    _pseudo_label(stopped, cfg, Run(), ["v"], stopped.model_dir("image") / "best.pt", None)
    assert runs == [False, False, ["kept"] * 3 + ["written"] * 5]  # a labelling, stopped; then its frames kept
    a, b = (p.video("v") for p in projects)
    assert np.array_equal(a.read_masks(), b.read_masks())
    assert np.array_equal(a.provenance, b.provenance)
    assert np.array_equal(a.quality, b.quality)
    assert b.attrs["pseudo_label"]["complete"] is True


def test_tiny_framenet_and_wrong_kind(tmp_path):
    p = Project.create(tmp_path / "t.dvos")
    p.add_video_array("v", _video(n=3, h=70, w=40))
    df = pseudo_label(p, ["v"], (build_model("tiny", "frame"), {"input_size": 32}), device="cpu", n_passes=3)
    assert df["quality"].between(0, 1).all() and df["uncertainty"].between(0, 1).all()
    with pytest.raises(ValueError, match="image \\(frame\\) model"):
        pseudo_label(p, ["v"], (build_model("tiny", "dvos"), {}), device="cpu")


def test_a_context_model_relabels_the_frames_in_order_and_lends_the_painted_mask(tmp_path):
    """A context model's checkpoint relabels a video frame by frame in order: a reference's mask is this run's label
    of it, or the painted mask of a painted frame (never relabelled); pseudo masks are kept unless ``overwrite``."""
    from test_model_context import _fused_model

    from dvos_core.infer.context import ContextPredictor, run_context
    from dvos_core.infer.engine import Predictor

    model = _fused_model()
    frames = np.random.default_rng(3).integers(0, 255, (6, 64, 64, 3), dtype=np.uint8)
    painted = np.zeros((64, 64), np.uint8)
    painted[8:40, 10:50] = 1
    p = Project.create(tmp_path / "c.dvos")
    v = p.add_video_array("v", frames)
    v.set_mask(0, painted, "manual")
    for t in range(1, 6):
        v.set_mask(t, np.zeros((64, 64), np.uint8), "pseudo")  # the image model's labels, say
    assert (pseudo_label(p, "v", (model, {}), device="cpu")["status"][1:] == "kept").all()
    df = pseudo_label(p, "v", (model, {}), device="cpu", overwrite=True)
    assert df["status"].tolist() == ["protected"] + ["written"] * 5
    assert df["uncertainty"][1:].between(0, 1).all() and df["quality"][1:].between(0, 1).all()
    assert p.video("v").attrs["pseudo_label"]["uncertainty_from"] == "query alone"

    pr = Predictor(model, {}, "cpu")

    def labels(known):
        ctx = ContextPredictor(pr.net, pr.device, pr.tile_size, pr.overlap, pr.amp)
        out = {}
        run_context(ctx, lambda a, b: frames[a:b], range(1, 6), lambda t, q: out.__setitem__(t, q >= 0.5), known)
        return out

    expected = labels(lambda k: painted if k == 0 else None)
    v = p.video("v")
    assert np.array_equal(v.mask(0), painted) and v.provenance_counts()["pseudo"] == 5
    assert all(np.array_equal(v.mask(t), expected[t]) for t in range(1, 6))
    assert not np.array_equal(labels(lambda k: None)[1], expected[1])  # frame 1 read the painted mask of frame 0


class DarkIsHead(BrightIsHead):
    """The opposite stand-in: pixels darker than mid-grey are heads."""

    def forward(self, x):
        return {"mask": -20 * x[:, :1] + 0 * self.p, "frame": x}


def test_blended_image_models_vote_and_their_disagreement_is_the_uncertainty(tmp_path):
    p = Project.create(tmp_path / "b.dvos")
    p.add_video_array("v", _video(n=4))
    same = pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, blend_with=[(BrightIsHead(), {})])
    alone = p.video("v").mask(0).copy()
    assert alone[4:12, 6:16].all() and alone.sum() == 80 and (same["uncertainty"] == 0).all()
    both = pseudo_label(
        p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, overwrite=True, blend_with=[(DarkIsHead(), {})]
    )
    # each pixel gets one vote for and one against: the mean is 0.5, labelled foreground, the spread is maximal
    assert p.video("v").mask(0).all() and np.allclose(both["uncertainty"], 1.0)
    assert p.video("v").attrs["pseudo_label"]["uncertainty_from"] == "models"
    with pytest.raises(ValueError, match="only image \\(frame\\) models"):
        pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", blend_with=[(build_model("tiny", "dvos"), {})])


def test_a_blended_context_label_is_the_mean_and_lends_itself_to_the_next_frames(tmp_path):
    """Relabelling with a context model blended with an image model: each label is the mean of the two models'
    probabilities, and it is that blended mask (not the context model's own) that the next frames read."""
    from test_model_context import _fused_model

    from dvos_core.infer.context import ContextPredictor, run_context
    from dvos_core.infer.engine import Predictor
    from dvos_core.infer.window import FeatureCache

    model = _fused_model()
    frames = np.random.default_rng(5).integers(0, 255, (5, 64, 64, 3), dtype=np.uint8)
    p = Project.create(tmp_path / "cb.dvos")
    p.add_video_array("v", frames)
    pseudo_label(p, "v", (model, {}), device="cpu", n_passes=1, blend_with=[(BrightIsHead(), {})])

    image = Predictor(BrightIsHead(), {}, "cpu")
    bright = {t: image.predict_windows({t: frames[t]}, [[t]], FeatureCache())[0] for t in range(5)}
    pr = Predictor(model, {}, "cpu")

    def labels(blend: bool):
        ctx = ContextPredictor(pr.net, pr.device, pr.tile_size, pr.overlap, pr.amp)
        out = {}

        def sink(t, q):
            out[t] = (q + bright[t]) / 2 if blend else q
            return out[t] if blend else None

        run_context(ctx, lambda a, b: frames[a:b], range(5), sink)
        return {t: q >= 0.5 for t, q in out.items()}

    expected, own = labels(True), labels(False)
    v = p.video("v")
    assert all(np.array_equal(v.mask(t), expected[t]) for t in range(5))
    assert p.video("v").attrs["pseudo_label"]["blend_with"] == ["<in-memory model>"]
    # the blend changed the labels, and a later frame read the blended masks of its references
    assert any(not np.array_equal(expected[t], own[t]) for t in range(5))


def test_an_image_models_extra_passes_are_flipped_from_the_start():
    """The image model has no skip diffusion: its "stochastic" second pass repeated the first on every video's first
    batch before the flips took over (a wasted pass); the paper's model does sample it."""
    from dvos_core.infer.engine import Predictor

    assert not Predictor(build_model("tiny", "frame"), device="cpu").stochastic_capable
    assert Predictor(build_model("tiny", "dvos"), device="cpu").stochastic_capable


def test_a_stopped_relabelling_is_finished_where_it_stopped_as_an_uninterrupted_one(tmp_path, monkeypatch):
    """A relabelling (overwrite) stopped part-way was done again whole by the next one - and by run-all - since the
    store cannot tell its labels from the older ones: it now records how far it got, and the next relabelling with
    the same checkpoint file and settings keeps those frames; other settings relabel every frame."""
    import dvos_core.infer as infer
    from dvos_core.model import save_checkpoint
    from dvos_core.progress import Cancelled, CancelToken
    from dvos_core.run_all import RunAllConfig, _pseudo_label

    projects = [Project.create(tmp_path / f"{name}.dvos") for name in ("whole", "stopped", "other")]
    torch.manual_seed(0)
    old, new = build_model("tiny", "frame"), build_model("tiny", "frame")
    for p in projects:
        p.add_video_array("v", _video(n=8))
        save_checkpoint(p.model_dir("old", create=True) / "best.pt", old, phase="image")
        save_checkpoint(p.model_dir("image", create=True) / "best.pt", new, phase="image")
        pseudo_label(p, "v", "old", device="cpu", n_passes=1)  # the older labels the relabelling replaces
    token = CancelToken()

    def stop_after_4(done, total, msg):
        if done >= 4:
            token.cancel()

    def relabel(p, **kw):
        kw = {"device": "cpu", "n_passes": 1, "batch_size": 2, "overwrite": True, **kw}
        return pseudo_label(p, "v", "image", **kw)["status"].tolist()

    whole, stopped, other = projects
    assert relabel(whole) == ["written"] * 8
    for p in (stopped, other):
        with pytest.raises(Cancelled):
            relabel(p, progress=stop_after_4, cancel=token)
        token = CancelToken()
        record = p.video("v").attrs["pseudo_label"]
        assert record["complete"] is False and record["relabelled_through"] == 3  # frame 3 held for its flicker
    from dvos_core.store.notes import stopped_pseudo_note
    from dvos_core.store.project import _video_summary

    note = stopped_pseudo_note(other.path, "v", _video_summary(other.video("v"))["pseudo_label_stopped"])
    assert "stopped at frame 3" in note and "--overwrite` (it keeps the frames relabelled)" in note, note
    assert relabel(stopped) == ["kept"] * 3 + ["written"] * 5
    a, b = whole.video("v"), stopped.video("v")
    assert np.array_equal(a.read_masks(), b.read_masks()) and np.array_equal(a.provenance, b.provenance)
    assert np.array_equal(a.quality, b.quality)
    assert "relabelled_through" not in b.attrs["pseudo_label"] and b.attrs["pseudo_label"]["complete"] is True
    assert relabel(other, n_passes=2) == ["written"] * 8  # other settings: every frame labelled again

    # run-all says it finishes its own stopped relabelling, and does
    p = Project.create(tmp_path / "run_all.dvos")
    p.add_video_array("v", _video(n=8))
    save_checkpoint(p.model_dir("old", create=True) / "best.pt", old, phase="image")
    save_checkpoint(p.model_dir("image", create=True) / "best.pt", new, phase="image")
    pseudo_label(p, "v", "old", device="cpu", n_passes=1)
    with pytest.raises(Cancelled):
        relabel(p, progress=stop_after_4, cancel=token)
    lines, runs, label = [], [], infer.pseudo_label

    def labelling(project, group, ckpt, **kw):
        runs.append(label(project, group, ckpt, **kw, batch_size=2)["status"].tolist())

    monkeypatch.setattr(infer, "pseudo_label", labelling)

    class Run:
        cancel = None

        def log(self, text):
            lines.append(text)

    _pseudo_label(p, RunAllConfig(pseudo_passes=1, device="cpu"), Run(), ["v"], p.model_dir("image") / "best.pt", None)
    assert runs == [["kept"] * 3 + ["written"] * 5], runs
    assert any(
        "the relabelling of v from frame 3 by this run's model stopped part-way: it is finished" in ln for ln in lines
    ), lines


def test_drop_below_without_overwrite_drops_kept_pseudo_labels_under_the_threshold(tmp_path):
    """`dvos pseudo-label --drop-below --quality-threshold Q` on a video labelled before (no --overwrite) kept every
    pseudo-label, those under Q included, and said 'kept N, below threshold M': nothing cleared, silently. Kept
    pseudo-labels under the threshold are now dropped (by their recorded quality); a painted mask never is."""
    p = Project.create(tmp_path / "k.dvos")
    v = p.add_video_array("v", _video(jump_at=4))
    first = pseudo_label(p, ["v"], (BrightIsHead(), {}), device="cpu", n_passes=1, quality_threshold=0.5)
    low = first[first.below_threshold]["frame"].tolist()
    assert 4 in low
    manual = np.zeros((32, 40), np.uint8)
    manual[0:2] = 1
    v.set_mask(low[0], manual, "manual")  # a person painted one of them since
    again = pseudo_label(
        p, ["v"], (BrightIsHead(), {}), device="cpu", n_passes=1, quality_threshold=0.5, drop_below=True
    )
    dropped = again[again.status == "dropped"]["frame"].tolist()
    assert dropped == low[1:]
    v = p.video("v")
    assert all(v.mask(t) is None for t in dropped) and np.array_equal(v.mask(low[0]), manual)
    assert v.provenance_counts()["pseudo"] == 6 - len(low)
    assert np.allclose(v.quality[dropped], first.set_index("frame").loc[dropped, "quality"])  # their scores stay
