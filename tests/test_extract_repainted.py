"""`extract-objects --replace --videos` replaces those videos' objects alone (it deleted every other video's, unsaid);
a frame repainted since it was extracted is cut again (it was skipped forever), its inpainted background clip made
again, and the training note counts it."""

import numpy as np
import pytest

from dvos_core import Cancelled, CancelToken
from dvos_core.extract import backgrounds_from_annotated, extract_heads
from dvos_core.store.check import check_project


def _mask(shape, boxes):
    m = np.zeros(shape, np.uint8)
    for y, x, h, w in boxes:
        m[y : y + h, x : x + w] = 1
    return m


def _two_videos(project, frames=2):
    rng = np.random.default_rng(0)
    for k, name in enumerate(("a", "b")):
        v = project.add_video_array(name, rng.integers(0, 256, (frames, 48, 64, 3), dtype=np.uint8))
        for t in range(frames):
            v.set_mask(t, _mask((48, 64), [(5 + 3 * t, 5 + k, 6, 7), (30, 40 - t, 8, 6)]), "manual")
    return project


def _objects(project, video):
    bank = project.objects
    return {
        int(r["id"]): (r, bank.get(int(r["id"])).copy()) for r in bank.table().to_dict("records") if r["video"] == video
    }


def _same(before, after):
    assert sorted(before) == sorted(after)
    for i, (rec, px) in before.items():
        assert {k: v for k, v in after[i][0].items() if v == v} == {k: v for k, v in rec.items() if v == v}
        assert np.array_equal(after[i][1], px)


def test_replace_of_one_video_keeps_every_other_videos_objects(tmp_project):
    p = _two_videos(tmp_project)
    extract_heads(p, min_area=4, fakes_per_head=2)
    b_before, a_before = _objects(p, "b"), _objects(p, "a")
    assert b_before and a_before
    out = extract_heads(p, video_ids=["a"], min_area=4, fakes_per_head=2, replace=True, seed=3)
    bank = p.objects
    _same(b_before, _objects(p, "b"))  # ids, records and pixels as they were
    a_after = _objects(p, "a")
    assert set(a_after) == set(out["id"]) and not set(a_after) & set(a_before)  # a's cut again, new ids
    assert len(bank) == len(b_before) + len(a_after)
    assert bank.count("head") + bank.count("fake") == len(bank)
    assert bank.frames_with("head") == {(v, t) for v in "ab" for t in (0, 1)}
    assert bank.video_counts("b") == {k: sum(r["kind"] == k for r, _ in b_before.values()) for k in ("head", "fake")}
    for i in b_before:  # the id index finds the kept objects, at their old pixels
        assert bank.record(i)["id"] == i
    assert check_project(p, models=False) == []
    more = p.video("b")
    more.set_mask(1, _mask((48, 64), [(20, 20, 9, 9)]), "manual")  # a later plain add overwrites none of them
    extract_heads(p, video_ids=["b"], min_area=4, fakes_per_head=0)
    assert all(np.array_equal(bank.get(i), px) for i, (rec, px) in b_before.items() if rec["frame"] == 0)
    assert check_project(p, models=False) == []
    # without --videos, --replace still starts the whole bank afresh
    whole = extract_heads(p, min_area=4, fakes_per_head=0, replace=True)
    assert len(p.objects) == len(whole) and not set(whole["id"]) & set(b_before)


def test_replace_of_one_video_with_frames_keeps_its_other_frames(tmp_project):
    p = _two_videos(tmp_project)
    extract_heads(p, min_area=4, fakes_per_head=0)
    keep = {i for i, (r, _) in _objects(p, "a").items() if r["frame"] == 1}
    extract_heads(p, video_ids=["a"], frames=[0], min_area=4, fakes_per_head=0, replace=True)
    a = _objects(p, "a")
    assert keep <= set(a) and {r["frame"] for r, _ in a.values()} == {0, 1}


def test_a_cancelled_replace_of_one_video_keeps_the_old_bank_whole(tmp_project):
    p = _two_videos(tmp_project)
    extract_heads(p, min_area=4, fakes_per_head=1)
    attrs = dict(p.objects.group.attrs)
    before = {v: _objects(p, v) for v in "ab"}
    token = CancelToken()

    def progress(done, total, msg):
        if done == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        extract_heads(p, video_ids=["a"], min_area=4, replace=True, progress=progress, cancel=token)
    assert dict(p.objects.group.attrs) == attrs
    for v in "ab":
        _same(before[v], _objects(p, v))


def test_a_repainted_frame_is_cut_again_and_an_unchanged_one_skipped(tmp_project, capsys):
    from dvos_core.cli import main

    p = _two_videos(tmp_project)
    extract_heads(p, min_area=4, fakes_per_head=1)
    keep = {i for i, (r, _) in _objects(p, "a").items() if r["frame"] == 1}
    keep |= set(_objects(p, "b"))
    v = p.video("a")
    v.set_mask(0, _mask((48, 64), [(20, 10, 10, 10), (2, 50, 5, 5), (40, 2, 5, 9)]), "manual")  # heads moved
    assert main(["extract-objects", str(p.path), "--min-area", "4", "--fakes-per-head", "1"]) == 0
    out = capsys.readouterr().out
    assert (
        "3 heads" in out and "1 repainted frames cut again" in out and "3 frames extracted before and unchanged" in out
    )
    table = p.objects.table()
    heads0 = table[(table.video == "a") & (table.frame == 0) & (table.kind == "head")]
    assert sorted(heads0["area"]) == [25, 45, 100]  # the new mask's heads, the old ones gone
    assert keep <= set(table["id"])  # the other frames' objects untouched
    again = extract_heads(p, min_area=4, fakes_per_head=1)
    assert len(again) == 0 and again.attrs["recut_frames"] == 0 and again.attrs["skipped_frames"] == 4


def test_objects_without_a_mask_fingerprint_count_as_unchanged(tmp_project, capsys):
    from dvos_core.cli import main

    p = _two_videos(tmp_project, frames=1)
    extract_heads(p, video_ids=["a"], min_area=4, fakes_per_head=0)
    bank = p.objects
    old = [
        (px, {k: x for k, x in r.items() if k not in ("id", "offset", "h", "w", "mask_sha")}) for px, r in bank.load()
    ]
    with bank.rebuild() as new:  # the bank as an older dvos left it: no mask_sha
        new.append(old)
        new.commit()
    p.video("a").set_mask(0, _mask((48, 64), [(20, 10, 10, 10)]), "manual")
    again = extract_heads(p, video_ids=["a"], min_area=4, fakes_per_head=0)
    assert len(again) == 0 and again.attrs["skipped_frames"] == 1 and again.attrs["recut_frames"] == 0
    assert again.attrs["unfingerprinted_frames"] == 1
    assert main(["extract-objects", str(p.path), "--videos", "a", "--min-area", "4"]) == 0
    out = capsys.readouterr().out
    assert "1 of the frames skipped were cut before dvos recorded the mask" in out
    assert f"dvos extract-objects {p.path} --replace --videos a" in out and "and unchanged" not in out
    lab = _mask((48, 64), [(2, 2, 4, 4)]).astype(np.int32)  # a frame cut from a label map: known, not unfingerprinted
    extract_heads(p, video_ids=["b"], labels={("b", 0): lab}, min_area=4, fakes_per_head=0)
    later = extract_heads(p, video_ids=["b"], labels={("b", 0): lab}, min_area=4, fakes_per_head=0)
    assert later.attrs["skipped_frames"] == 1 and later.attrs["unfingerprinted_frames"] == 0


def test_a_kill_between_removing_and_cutting_a_repainted_frame_leaves_it_for_the_rerun(tmp_project, monkeypatch):
    import dvos_core.extract.heads as heads

    p = _two_videos(tmp_project, frames=1)
    extract_heads(p, min_area=4, fakes_per_head=0)
    p.video("a").set_mask(0, _mask((48, 64), [(20, 10, 10, 10)]), "manual")

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(heads, "frame_objects", killed)
    with pytest.raises(KeyboardInterrupt):
        extract_heads(p, min_area=4, fakes_per_head=0)
    monkeypatch.undo()
    assert ("a", 0) not in p.objects.frames_with("head") and ("b", 0) in p.objects.frames_with("head")
    rerun = extract_heads(p, min_area=4, fakes_per_head=0)
    assert list(rerun["area"]) == [100] and rerun.attrs["recut_frames"] == 0


def test_a_repainted_frame_gets_its_inpainted_clip_made_again(tmp_project, capsys):
    from dvos_core.cli import main

    p = _two_videos(tmp_project, frames=3)
    first = backgrounds_from_annotated(p, ["a"], clip_length=2, motion="none")
    assert len(first) == 3 and all(c.attrs["mask_sha"] for c in first)
    assert len(backgrounds_from_annotated(p, ["a"], clip_length=2, motion="none")) == 0
    old = {int(c.attrs["frame"]): c.name for c in first}
    p.video("a").set_mask(1, _mask((48, 64), [(20, 10, 10, 10)]), "manual")
    args = ["extract-backgrounds", str(p.path), "--from-annotated", "--videos", "a", "--clip-length", "2"]
    assert main([*args, "--motion", "none"]) == 0
    clips = p.inpainted_clips()
    now = next(b for b, a in clips.items() if a["frame"] == 1)
    assert (
        f"1 of them made again for frames repainted since their clips were made (their old clips deleted): video 'a' "
        f"frame 1 (now {now})" in capsys.readouterr().out
    )
    assert sorted(int(a["frame"]) for a in clips.values()) == [0, 1, 2]  # one clip per frame, still
    assert old[1] not in clips and old[0] in clips and old[2] in clips
    assert len(backgrounds_from_annotated(p, ["a"], clip_length=2, motion="none")) == 0


def test_a_rebuild_keeps_objects_only_before_it_appends(tmp_project):
    p = _two_videos(tmp_project, frames=1)
    extract_heads(p, min_area=4, fakes_per_head=0)
    bank = p.objects
    rows = bank.table().to_dict("records")
    with bank.rebuild() as new:
        new.append([(np.full((2, 2, 4), 255, np.uint8), {"kind": "head"})])
        with pytest.raises(RuntimeError, match="before append"):
            new.keep_where(lambda r: True)
    assert len(p.objects) == len(rows)  # never committed: the old bank stands


def test_training_again_counts_a_repainted_frame_as_new(tmp_path):
    """Training again under a model's name said nothing of a painted frame repainted since (it counted painted
    frames, not what they hold): the run's data summary records each human mask's fingerprint and compares them."""
    from dvos_core.data.toy import make_toy_project
    from dvos_core.train import TrainConfig, train

    project = make_toy_project(tmp_path / "toy.dvos", n_clips=2, n_frames=6, size=64, n_videos=1, video_frames=8)
    video = project.video(project.video_ids()[0])
    painted = np.flatnonzero(np.isin(video.provenance, (1, 4)))
    assert len(painted)
    cfg = TrainConfig(phase="image", preset="tiny", epochs=1, batch_size=2, size=64, max_steps_per_epoch=1, seed=1)
    train(project, cfg, "img", resume=False)
    t = int(painted[0])
    mask = video.mask(t).copy()
    mask[:8, :8] = 1 - mask[:8, :8]
    video.set_mask(t, mask, "manual")
    events = []
    train(project, cfg, "img", on_event=events.append)
    note = events[-1]["note"]
    assert "1 frame(s) were painted or corrected since it trained (1 of them repainted)" in note, note


def test_the_objects_of_a_frame_cleared_since_it_was_cut_are_removed(tmp_project, capsys):
    """A frame painted by mistake, cut, then cleared (Clear frame, `dvos clear-masks`) kept its heads and fakes in
    the bank for ever: synthesis pasted heads from a mask the user withdrew, and no command said so."""
    from dvos_core.cli import main

    project = _two_videos(tmp_project)
    extract_heads(project, min_area=4, fakes_per_head=1)
    assert {(r["video"], r["frame"]) for r in project.objects.table().to_dict("records")} == {
        ("a", 0),
        ("a", 1),
        ("b", 0),
        ("b", 1),
    }
    b_before = _objects(project, "b")
    project.video("a").clear_mask(1)
    assert main(["extract-objects", str(project.path), "--min-area", "4", "--fakes-per-head", "1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "the objects of 1 frame(s) removed, their masks no longer a person's" in out
    assert "'a' frame 1 (cleared since)" in out
    rows = project.objects.table().to_dict("records")
    assert {(r["video"], r["frame"]) for r in rows} == {("a", 0), ("b", 0), ("b", 1)}
    _same(b_before, _objects(project, "b"))  # the other video's objects as they were
    assert extract_heads(project, video_ids=["b"], min_area=4, fakes_per_head=1).attrs["withdrawn_frames"] == 0
    assert not check_project(project)


def test_a_frame_repainted_to_cover_everything_loses_its_old_clip(tmp_project, capsys):
    """A frame repainted so that its heads cover the whole frame is skipped (no field to fill from); its clip, made
    from the old mask (field around the old heads, where the new mask marks heads), was kept for synthesis, and the
    command said "every annotated frame already has one, of its mask as painted now"."""
    from dvos_core.cli import main

    p = _two_videos(tmp_project, frames=2)
    first = backgrounds_from_annotated(p, ["a"], clip_length=2, motion="none")
    old = {int(c.attrs["frame"]): c.name for c in first}
    p.video("a").set_mask(1, np.ones((48, 64), np.uint8), "manual")
    args = ["extract-backgrounds", str(p.path), "--from-annotated", "--videos", "a", "--clip-length", "2"]
    assert main([*args, "--motion", "none"]) == 0
    said = capsys.readouterr()
    assert "1 old clip(s) of repainted or cleared frames deleted" in said.out
    assert f"clip(s) {old[1]} of video 'a' frame 1 were deleted" in " ".join(said.err.split())
    assert sorted(p.inpainted_clips()) == [old[0]]


def test_a_frame_cleared_since_its_clip_was_made_loses_its_clip(tmp_project, capsys):
    """A painted frame cleared after its inpainted clip was made kept that clip for ever (only its objects went):
    synthesis drew field around heads the user withdrew. The next run deletes it, naming it, and keeps the clips of
    the other frames, of the other video and the bare-field clips."""
    from dvos_core.cli import main

    p = _two_videos(tmp_project, frames=3)
    first = backgrounds_from_annotated(p, clip_length=2, motion="none")
    old = {(c.attrs["source"], int(c.attrs["frame"])): c.name for c in first}
    bare = p.create_background("bare_bg_000", 48, 64, source="field.mp4")
    bare.append_frames(iter(np.zeros((2, 48, 64, 3), np.uint8)), n_total=2)
    bare.mark_complete()
    p.video("a").clear_mask(1)
    # --frames of other frames leaves it alone
    assert len(backgrounds_from_annotated(p, frames=[0, 2], clip_length=2, motion="none")) == 0
    assert old[("a", 1)] in p.inpainted_clips()
    args = ["extract-backgrounds", str(p.path), "--from-annotated", "--clip-length", "2", "--motion", "none"]
    assert main(args) == 0
    said = capsys.readouterr()
    assert "no new clips; 1 old clip(s) of repainted or cleared frames deleted" in said.out
    assert f"clip(s) {old[('a', 1)]} of video 'a' frame 1 were deleted" in " ".join(said.err.split())
    assert sorted(p.inpainted_clips()) == sorted(b for k, b in old.items() if k != ("a", 1))
    assert "bare_bg_000" in p.background_ids()
    # every painted frame cleared: the clips go, not an error that there is nothing to make clips from
    for t in (0, 2):
        p.video("a").clear_mask(t)
    gone = backgrounds_from_annotated(p, ["a"], clip_length=2, motion="none")
    assert len(gone) == 0 and sorted(gone.dropped) == [old[("a", 0)], old[("a", 2)]]
    assert sorted(p.inpainted_clips()) == sorted(b for k, b in old.items() if k[0] == "b")
    with pytest.raises(ValueError, match="no annotated frames"):
        backgrounds_from_annotated(p, ["a"], clip_length=2, motion="none")
    # a painted frame whose mask is replaced by a pseudo-label loses its clip too, and --frames cannot make one
    # from the pseudo-label (clips, as heads, come from a person's masks alone)
    p.video("b").set_mask(0, _mask((48, 64), [(1, 1, 4, 4)]), "pseudo", overwrite=True)
    assert backgrounds_from_annotated(p, ["b"], clip_length=2, motion="none").dropped == [old[("b", 0)]]
    with pytest.raises(ValueError, match="frame 0 holds a pseudo-label, not a mask a person painted or corrected"):
        backgrounds_from_annotated(p, ["b"], frames=[0], clip_length=2, motion="none")
    assert old[("b", 0)] not in p.inpainted_clips()


def test_the_remade_clips_are_named_by_their_frames_and_the_ids_they_have_now(tmp_project, capsys):
    """The message of clips made again listed the old clips' ids as deleted, but a remade clip takes the first free
    id, which may be one just deleted (frame 1's new clip took frame 0's old id): the user read that frame 0's clip
    was gone and could not tell which frames were remade. It names each remade clip's video and frame and its id
    as stored now."""
    import re

    from dvos_core.cli import main

    p = _two_videos(tmp_project, frames=3)
    first = backgrounds_from_annotated(p, ["a"], clip_length=2, motion="none")
    old = {int(c.attrs["frame"]): c.name for c in first}
    for t in (0, 1):
        p.video("a").set_mask(t, _mask((48, 64), [(20, 10 + 5 * t, 10, 10)]), "manual")
    args = ["extract-backgrounds", str(p.path), "--from-annotated", "--videos", "a", "--clip-length", "2"]
    assert main([*args, "--motion", "none"]) == 0
    out = capsys.readouterr().out
    clips = p.inpainted_clips()
    assert old[0] in clips and clips[old[0]]["frame"] == 1  # the slot freed by frame 0's old clip, reused
    said = re.findall(r"video 'a' frame (\d+) \(now (\w+)\)", out)
    assert "2 of them made again" in out and sorted(int(t) for t, _ in said) == [0, 1]
    assert all(clips[b]["frame"] == int(t) and clips[b]["source"] == "a" for t, b in said)


def test_frames_with_a_models_mask_are_refused_and_what_was_cut_from_a_painted_one_goes_with_why(tmp_project, capsys):
    """`extract-objects --frames 9` cut heads from a frame holding a pseudo-label, and the next plain run deleted
    them, saying the frame was "painted before and cleared since" (it was neither); `extract-backgrounds
    --from-annotated --frames 9` made a clip from it that a plain run kept. Heads and clips come from a person's
    masks alone: --frames naming a frame with a model's mask is refused, naming the frame, its mask and the fixes,
    and a painted frame whose mask a pseudo-label replaced since loses its objects and its clip, each message
    saying why."""
    from dvos_core.cli import main

    p = _two_videos(tmp_project, frames=3)
    p.video("a").set_mask(2, _mask((48, 64), [(20, 20, 6, 6)]), "pseudo", overwrite=True)
    for args, what in (
        (["extract-objects", str(p.path), "--frames", "2", "--min-area", "4"], "heads are cut"),
        (["extract-backgrounds", str(p.path), "--from-annotated", "--frames", "2"], "background clips are inpainted"),
    ):
        assert main(args) != 0
        said = " ".join(capsys.readouterr().err.split())
        assert f"video 'a' frame 2 holds a pseudo-label, not a mask a person painted or corrected, and {what}" in said
        assert "Annotate step (Save frame)" in said and "Review step (Save correction)" in said
        assert f"dvos import-masks {p.path} a SOURCE --provenance corrected" in said
    assert len(p.objects) == 0 and not p.inpainted_clips()
    # a painted frame cut (heads and a clip), then its mask replaced by a pseudo-label: both go, saying why
    extract_heads(p, min_area=4, fakes_per_head=1)
    backgrounds_from_annotated(p, clip_length=2, motion="none")
    clip = {(c["source"], int(c["frame"])): b for b, c in p.inpainted_clips().items()}[("b", 1)]
    p.video("b").set_mask(1, _mask((48, 64), [(1, 1, 4, 4)]), "pseudo", overwrite=True)
    p.video("a").clear_mask(0)
    assert main(["extract-objects", str(p.path), "--min-area", "4", "--fakes-per-head", "1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "the objects of 2 frame(s) removed, their masks no longer a person's" in out
    assert "'a' frame 0 (cleared since), 'b' frame 1 (now a pseudo-label)" in out
    assert {(r["video"], r["frame"]) for r in p.objects.table().to_dict("records")} == {("a", 1), ("b", 0), ("b", 2)}
    assert main(["extract-backgrounds", str(p.path), "--from-annotated", "--clip-length", "2", "--motion", "none"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"clip(s) {clip} of video 'b' frame 1 were deleted: the frame now holds a pseudo-label, not a mask a" in err
    assert "of video 'a' frame 0 were deleted: the frame was cleared since" in err
    assert sorted((c["source"], int(c["frame"])) for c in p.inpainted_clips().values()) == [
        ("a", 1),
        ("b", 0),
        ("b", 2),
    ]
