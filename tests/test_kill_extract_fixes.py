"""Extraction killed or stopped half-way, then run again: `extract-objects --replace` and
`extract-backgrounds --from-annotated --replace` never leave old and new objects or clips side by side, a rerun of
`extract-backgrounds SOURCE` cuts only the clips still missing, and a resumed `--from-annotated` run makes the
clips an uninterrupted one makes."""

import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest

from dvos_core import Cancelled, CancelToken
from dvos_core.cli import main
from dvos_core.extract import backgrounds_from_annotated, extract_backgrounds, extract_heads
from dvos_core.store import Project

PAINTED = (0, 2, 4)


def _painted(project, vid="v", n=6):
    """A 40x48 video of ``n`` noise frames; frames 0, 2 and 4 painted with two small square heads."""
    rng = np.random.default_rng(1)
    v = project.add_video_array(vid, rng.integers(0, 256, (n, 40, 48, 3), dtype=np.uint8))
    for t in PAINTED:
        m = np.zeros((40, 48), np.uint8)
        m[5:13, 5:13] = m[20:30, 25 + t : 33 + t] = 1
        v.set_mask(t, m, "manual")
    return v


def _killed(project, call: str, target: str, at: int) -> None:
    """Run ``call`` (Python, with ``p`` the project) in a child process that is SIGKILLed (a power cut: no cleanup
    runs) on the ``at``-th call of ``target`` (``module:function`` or ``module:Class.method``)."""
    module, name = target.split(":")
    script = textwrap.dedent(
        f"""
        import os, signal
        import {module} as m
        from dvos_core.store import Project
        from dvos_core.extract import *
        *path, attr = {name!r}.split(".")
        owner = m
        for part in path:
            owner = getattr(owner, part)
        orig, n = getattr(owner, attr), [0]
        def hit(*a, **k):
            n[0] += 1
            if n[0] >= {at}:
                os.kill(os.getpid(), signal.SIGKILL)
            return orig(*a, **k)
        setattr(owner, attr, hit)
        p = Project.open({str(project.path)!r})
        {call}
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr  # it was killed, not finished nor failed


def test_killed_replace_of_the_objects_keeps_the_old_bank_alone(tmp_project):
    _painted(tmp_project)
    extract_heads(tmp_project, min_area=10, fakes_per_head=1)
    before = tmp_project.objects.table()
    _killed(
        tmp_project,
        "extract_heads(p, min_area=10, fakes_per_head=1, seed=3, replace=True)",
        "dvos_core.extract.heads:frame_objects",
        at=3,  # two frames' new objects were made
    )
    after = Project.open(tmp_project.path, "r").objects
    assert after.table().equals(before)  # not the old bank plus the new objects of two frames
    again = extract_heads(Project.open(tmp_project.path), min_area=10, fakes_per_head=1)
    assert again.attrs["skipped_frames"] == len(PAINTED) and len(Project.open(tmp_project.path).objects) == len(before)
    # and --replace, run to its end, makes one new bank (the leftover of the killed one overwritten)
    new = extract_heads(Project.open(tmp_project.path), min_area=10, fakes_per_head=1, seed=3, replace=True)
    bank = Project.open(tmp_project.path, "r").objects
    table = bank.table()
    assert len(table) == len(new) == len(before) and set(table["id"]).isdisjoint(before["id"])
    heads = table[table.kind == "head"].groupby(["video", "frame"]).size().to_dict()
    assert heads == {("v", t): 2 for t in PAINTED}
    for r in table.to_dict("records"):
        assert bank.get(r["id"]).shape == (r["h"], r["w"], 4) and bank.record(r["id"])["id"] == r["id"]
    assert bank.frames_with("head") == {("v", t) for t in PAINTED}


def test_a_stopped_replace_of_the_objects_leaves_no_trace_and_ids_go_on(tmp_project):
    _painted(tmp_project)
    first = extract_heads(tmp_project, min_area=10, fakes_per_head=1)
    token = CancelToken()

    def progress(done, total, msg=""):
        if done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        extract_heads(tmp_project, min_area=10, fakes_per_head=1, replace=True, progress=progress, cancel=token)
    assert tmp_project.objects.table().equals(first.reindex(columns=tmp_project.objects.table().columns))
    new = extract_heads(tmp_project, min_area=10, fakes_per_head=1, replace=True)
    assert min(new["id"]) > max(first["id"])  # ids are never handed out twice
    assert len(tmp_project.objects) == len(first)


def _clips_per_frame(project) -> Counter:
    return Counter(a.get("frame") for a in Project.open(project.path, "r").inpainted_clips().values())


@pytest.mark.parametrize(
    "target",
    [
        "dvos_core.extract.annotated_backgrounds:inpaint_heads",  # while the new clips are made
        "dvos_core.store.sequence:FrameSequence.mark_complete",  # while old and new clips are swapped
    ],
)
def test_killed_replace_of_inpainted_clips_never_leaves_two_clips_of_a_frame(tmp_project, target):
    _painted(tmp_project)
    backgrounds_from_annotated(tmp_project, clip_length=2, motion="none")
    _killed(tmp_project, "backgrounds_from_annotated(p, clip_length=2, motion='none', replace=True)", target, at=2)
    after = _clips_per_frame(tmp_project)
    assert all(n == 1 for n in after.values()), after  # the old clip and a new one of the same frame: drawn twice
    backgrounds_from_annotated(Project.open(tmp_project.path), clip_length=2, motion="none")
    assert _clips_per_frame(tmp_project) == dict.fromkeys(PAINTED, 1)


def test_rerun_of_a_stopped_cut_cuts_only_the_missing_clips(tmp_project, capsys):
    rng = np.random.default_rng(0)
    tmp_project.add_video_array("bare", rng.integers(0, 256, (12, 24, 32, 3), dtype=np.uint8))
    token = CancelToken()

    def progress(done, total, msg=""):
        if done >= 3:  # the first clip (3 frames) is in
            token.cancel()

    with pytest.raises(Cancelled):
        extract_backgrounds(tmp_project, "bare", clip_length=3, bg_prefix="kb", progress=progress, cancel=token)
    assert tmp_project.background_ids() == ["kb_000"]
    clips = extract_backgrounds(tmp_project, "bare", clip_length=3, bg_prefix="kb")
    assert [c.name for c in clips] == ["kb_001", "kb_002", "kb_003"] and clips.kept == ["kb_000"]
    starts = [tmp_project.background(b).attrs["start"] for b in tmp_project.background_ids()]
    assert sorted(starts) == [0, 3, 6, 9]  # each start once: not [0, 0, 3, 6, 9]
    # the command line says what it kept, and cuts nothing more
    assert main(["extract-backgrounds", str(tmp_project.path), "bare", "--clip-length", "3", "--prefix", "kb"]) == 0
    out = capsys.readouterr().out
    assert "no new clips" in out and "kb_000, kb_001, kb_002, kb_003" in out and "dvos delete" in out
    assert len(tmp_project.background_ids()) == 4
    # other settings are other clips
    other = extract_backgrounds(tmp_project, "bare", clip_length=4, bg_prefix="kb")
    assert len(other) == 3 and other.kept == []


def test_a_resumed_run_inpaints_the_clips_an_uninterrupted_run_makes(tmp_path):
    def project(name):
        p = Project.create(tmp_path / f"{name}.dvos")
        _painted(p)
        return p

    kw = {"clip_length": 3, "motion": "default", "seed": 4}
    ref = project("ref")
    backgrounds_from_annotated(ref, **kw)
    p = project("resumed")
    token = CancelToken()

    def progress(done, total, msg=""):
        if done >= 4:  # one clip (1 + 3 steps) is in
            token.cancel()

    with pytest.raises(Cancelled):
        backgrounds_from_annotated(p, progress=progress, cancel=token, **kw)
    assert len(p.inpainted_clips()) == 1
    backgrounds_from_annotated(p, **kw)

    def by_frame(proj):
        return {a["frame"]: proj.background(b).read_frames() for b, a in proj.inpainted_clips().items()}

    a, b = by_frame(ref), by_frame(p)
    assert sorted(a) == sorted(b) == list(PAINTED)
    for t in PAINTED:
        assert np.array_equal(a[t], b[t]), t
    # and choosing one frame alone gives that frame the clip it has in a run over all of them
    q = project("one")
    backgrounds_from_annotated(q, frames=[PAINTED[-1]], **kw)
    assert np.array_equal(by_frame(q)[PAINTED[-1]], a[PAINTED[-1]])


def test_a_resumed_extraction_makes_the_fakes_an_uninterrupted_one_makes(tmp_path):
    def project(name):
        p = Project.create(tmp_path / f"{name}.dvos")
        _painted(p)
        return p

    def fakes(proj):
        return [(rec["frame"], rec["source"], rgba.tobytes()) for rgba, rec in proj.objects.load("fake")]

    kw = {"min_area": 10, "fakes_per_head": 2, "seed": 3}
    ref = project("ref")
    extract_heads(ref, **kw)
    p = project("resumed")
    token = CancelToken()

    def progress(done, total, msg=""):
        if done == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        extract_heads(p, progress=progress, cancel=token, **kw)
    rest = extract_heads(p, **kw)
    assert sorted(set(rest["frame"])) == list(PAINTED[1:])
    assert fakes(p) == fakes(ref)  # the same fakes, with the same ids
    q = project("one")  # a frame extracted alone gets the fakes it gets among the others
    extract_heads(q, frames=[PAINTED[-1]], **kw)
    assert [f[2] for f in fakes(q)] == [f[2] for f in fakes(ref) if f[0] == PAINTED[-1]]


def test_a_kill_between_a_frames_heads_and_its_fakes_keeps_neither_and_a_rerun_makes_both(tmp_path):
    # a frame's heads were committed in one append and its fakes in a second: a kill in between left the frame with
    # heads and no fakes, and every rerun skipped it as extracted (its fakes were never made)
    kw = {"min_area": 10, "fakes_per_head": 2, "seed": 3}

    def project(name):
        p = Project.create(tmp_path / f"{name}.dvos")
        _painted(p)
        return p

    def objects(proj):
        return [
            ({k: v for k, v in rec.items() if k != "video_created"}, rgba.tobytes())
            for rgba, rec in Project.open(proj.path, "r").objects.load()
        ]

    ref = project("ref")
    extract_heads(ref, **kw)
    per_frame = Counter((r["frame"], r["kind"]) for r, _ in objects(ref))
    assert all(per_frame[(t, "fake")] for t in PAINTED)
    p = project("killed")
    _killed(
        p,
        "extract_heads(p, min_area=10, fakes_per_head=2, seed=3)",
        "dvos_core.extract.heads:make_fake_heads",
        at=3,  # the first frame's two heads made their fakes; killed making the second frame's first head's fakes
    )
    left = Counter((r["frame"], r["kind"]) for r, _ in objects(p))
    assert set(left) == {(PAINTED[0], "head"), (PAINTED[0], "fake")}  # not the second frame's heads alone
    rest = extract_heads(Project.open(p.path), **kw)
    assert rest.attrs["skipped_frames"] == 1 and sorted(set(rest["frame"])) == list(PAINTED[1:])
    assert objects(p) == objects(ref)  # every frame's fakes, the same objects with the same ids


def test_an_append_names_its_own_earlier_objects_by_position(tmp_project):
    from dvos_core.store.objects import ItemRef

    bank = tmp_project.objects
    crop = np.full((2, 3, 4), 255, np.uint8)
    bank.append([(crop, {"kind": "head"})])
    rows = bank.append([(crop, {"kind": "head"}), (crop, {"kind": "fake", "source": ItemRef(0), "area": 6})])
    assert [r["id"] for r in rows] == [1, 2] and rows[1]["source"] == 1
    assert bank.table().set_index("id").loc[2, "source"] == 1
    for bad in (ItemRef(1), ItemRef(-1)):  # itself, or no object of the append: refused, nothing committed
        with pytest.raises(ValueError, match="names no earlier object"):
            bank.append([(crop, {"kind": "head"}), (crop, {"kind": "fake", "source": bad})])
    assert len(bank) == 3 and bank.count("fake") == 1
    with bank.rebuild() as new:  # the same in a rebuilt bank (--replace)
        rows = new.append([(crop, {"kind": "head"}), (crop, {"kind": "fake", "source": ItemRef(0)})])
        new.commit()
    assert rows[1]["source"] == rows[0]["id"] == 3
    assert bank.table()["source"].tolist()[1] == 3
