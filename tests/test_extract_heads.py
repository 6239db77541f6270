"""Head and fake-head extraction on hand-made masks and on scikit-image's real `coins` photograph."""

import numpy as np
import pytest

from dvos_core import Cancelled, CancelToken
from dvos_core.extract import extract_heads, make_fake_heads, sample_frames


def _scene(tmp_project, n_frames=2):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (n_frames, 60, 80, 3), dtype=np.uint8)
    v = tmp_project.add_video_array("scene", frames)
    m = np.zeros((60, 80), np.uint8)
    m[10:13, 10:13] = 1  # 9 px square
    m[0:10, 60:80] = 1  # 200 px at the top-right border
    m[30, 30] = m[31, 31] = m[32, 32] = m[33, 33] = m[34, 34] = 1  # 5-px diagonal: one component with 8-connectivity
    m[50, 5] = m[50, 6] = 1  # 2 px: dropped by min_area=4
    v.set_mask(0, m, "manual")
    return v, m


def _crop_in_frame(frame, rec):
    return frame[rec["y"] : rec["y"] + rec["h"], rec["x"] : rec["x"] + rec["w"]]


def test_components_crops_and_stats(tmp_project):
    v, m = _scene(tmp_project)
    df = extract_heads(tmp_project, min_area=4, fakes_per_head=0, halo_px=0)  # the heads alone
    assert df.attrs["heads"] == 3 and df.attrs["too_small"] == 1 and df.attrs["frames"] == 1
    heads = df[df.kind == "head"].sort_values("area")
    assert heads["area"].tolist() == [5, 9, 200]
    frame = v.frame(0)
    for _, rec in heads.iterrows():
        rgba = tmp_project.objects.get(int(rec["id"]))
        inside = rgba[..., 3] == 255
        assert inside.sum() == rec["area"]  # the crop covers the whole component
        assert set(np.unique(rgba[..., 3])) <= {0, 255}
        assert (rgba[~inside, :3] == 0).all()  # RGB zero outside the object
        assert np.array_equal(rgba[inside, :3], _crop_in_frame(frame, rec)[inside])
        assert (m[rec["y"] : rec["y"] + rec["h"], rec["x"] : rec["x"] + rec["w"]][inside] == 1).all()
        assert rec["h"] <= rec["bbox_h"] + 2 and rec["w"] <= rec["bbox_w"] + 2
        px = _crop_in_frame(frame, rec)[inside].astype(float)
        assert rec["mean_g"] == pytest.approx(px[:, 1].mean())
    sq = heads[heads.area == 9].iloc[0]
    assert (sq["y"], sq["x"], sq["h"], sq["w"]) == (9, 9, 5, 5)  # 3x3 + 1 px margin on each side
    assert not sq["touches_border"] and sq["aspect"] == pytest.approx(1.0)
    border = heads[heads.area == 200].iloc[0]
    assert border["touches_border"] and (border["h"], border["w"]) == (11, 21)  # margin clipped at the edge
    assert heads[heads.area == 5].iloc[0]["eccentricity"] > 0.9  # the diagonal line is elongated


def test_instance_labels_split_touching_heads(tmp_project):
    _v, _m = _scene(tmp_project)
    lab = np.zeros((60, 80), np.int32)
    lab[20:30, 20:25] = 1
    lab[20:30, 25:30] = 2  # touching: one connected component, two instances
    df = extract_heads(tmp_project, frames=[1], labels={("scene", 1): lab}, min_area=4, fakes_per_head=0)
    assert sorted(df["area"].tolist()) == [50, 50]
    with pytest.raises(ValueError, match="no mask"):
        extract_heads(tmp_project, frames=[1], min_area=4)


def test_fake_heads_use_silhouette_and_avoid_heads(tmp_project):
    v, m = _scene(tmp_project)
    df = extract_heads(tmp_project, min_area=4, fakes_per_head=4, seed=1)
    heads, fakes = df[df.kind == "head"], df[df.kind == "fake"]
    assert len(fakes) + df.attrs["fakes_failed"] == 4 * len(heads) and len(fakes) >= 10
    assert set(fakes["source"].astype(int)) <= set(heads["id"])
    frame = v.frame(0)
    for _, f in fakes.iterrows():
        src = tmp_project.objects.get(int(f["source"]))
        rgba = tmp_project.objects.get(int(f["id"]))
        sil = rgba[..., 3] == 255
        assert np.array_equal(sil, src[..., 3] == 255)  # the real head's silhouette
        on_head = m[f["y"] : f["y"] + f["h"], f["x"] : f["x"] + f["w"]] > 0
        field = sil & ~on_head
        assert np.array_equal(rgba[field, :3], _crop_in_frame(frame, f)[field])  # texture from the same frame
        overlap = (m[f["y"] : f["y"] + f["h"], f["x"] : f["x"] + f["w"]][sil] > 0).sum() / sil.sum()
        assert overlap < 0.1 and overlap == pytest.approx(f["overlap"])
    again = extract_heads(tmp_project, min_area=4, fakes_per_head=4, seed=1, replace=True)
    assert again[["y", "x"]].values.tolist() == df[["y", "x"]].values.tolist()  # reproducible for a seed


def test_a_halo_ring_keeps_the_pixels_around_each_object_but_never_a_head_it_does_not_belong_to(tmp_project):
    v, _m = _scene(tmp_project)
    lab = np.zeros((60, 80), np.int32)
    lab[20:30, 20:26] = 1
    lab[20:30, 28:34] = 2  # a neighbour 2 px away: inside the first head's ring
    df = extract_heads(tmp_project, frames=[1], labels={("scene", 1): lab}, min_area=4, fakes_per_head=3, halo_px=3)
    frame = v.frame(1)
    heads = df[df.kind == "head"].sort_values("x")
    first = heads.iloc[0]
    rgba = tmp_project.objects.get(int(first["id"]))
    assert (first["y"], first["x"], first["h"], first["w"]) == (17, 17, 16, 12)  # the box grows by the ring
    a = rgba[..., 3]
    inside, ring = a >= 128, (a > 0) & (a < 128)
    assert inside.sum() == first["area"] == 60 and ring.any()
    assert np.array_equal(rgba[ring, :3], _crop_in_frame(frame, first)[ring])  # the frame's own pixels
    here = lab[17:33, 17:29]
    assert not (ring & (here == 2)).any()  # never the neighbour's pixels
    row = a[8]  # frame row 25: ring 3 px, head (frame columns 20-25), ring 2 px, neighbour
    assert row.tolist() == [43, 85, 127, *[255] * 6, 127, 85, 0]  # full next to the head, fading with distance
    assert a[:3, 5].tolist() == [43, 85, 127] and (a[:3, :3] < 127).all()  # above it too; corners are farther
    fakes = df[df.kind == "fake"]
    assert len(fakes) >= 4
    for _, f in fakes.iterrows():
        fake = tmp_project.objects.get(int(f["id"]))
        src = tmp_project.objects.get(int(f["source"]))[..., 3]
        assert np.array_equal(fake[..., 3] == 255, src >= 128)  # the head's silhouette, without its halo
        ring = (fake[..., 3] > 0) & (fake[..., 3] < 128)
        assert ring.any() and np.array_equal(fake[ring, :3], _crop_in_frame(frame, f)[ring])  # its own surroundings
        assert not lab[f["y"] : f["y"] + f["h"], f["x"] : f["x"] + f["w"]][ring].any()  # never on a head


def test_a_fake_overlapping_a_real_head_a_little_carries_none_of_its_pixels():
    """A fake may lie over real heads by up to a tenth of its area; those head pixels went into the synthetic clips
    unlabelled (fakes never enter the mask): on red heads, 135 of 360 fakes held red pixels. They are painted over
    from the field around them."""
    frame = np.full((60, 60, 3), 100, np.uint8)
    heads = np.zeros((60, 60), bool)
    for y in range(0, 60, 10):
        for x in range(0, 60, 10):
            heads[y : y + 2, x : x + 2] = True  # small heads everywhere: every spot overlaps a little
    frame[heads] = (255, 0, 0)
    sil = np.ones((8, 8), bool)
    fakes, failed = make_fake_heads(frame, heads, sil, 10, np.random.default_rng(0), max_overlap=0.2)
    assert len(fakes) == 10 and failed == 0 and any(rec["overlap"] > 0 for _, rec in fakes)
    for rgba, rec in fakes:
        body = rgba[rgba[..., 3] == 255, :3].astype(int)
        assert (np.abs(body - 100) <= 2).all(), rec  # the field's grey only, no red


def test_fake_search_gives_up_when_no_free_spot():
    frame = np.zeros((20, 20, 3), np.uint8)
    heads = np.ones((20, 20), np.uint8)
    heads[0:2, 0:2] = 0  # the only head-free spot is smaller than the silhouette
    sil = np.ones((6, 6), bool)
    fakes, failed = make_fake_heads(frame, heads, sil, 3, np.random.default_rng(0), max_tries=50)
    assert fakes == [] and failed == 3


def test_rerun_skips_done_frames_and_replace_clears(tmp_project):
    _scene(tmp_project)
    first = extract_heads(tmp_project, min_area=4, fakes_per_head=1)
    n = len(tmp_project.objects)
    second = extract_heads(tmp_project, min_area=4, fakes_per_head=1)
    assert len(second) == 0 and second.attrs["skipped_frames"] == 1 and len(tmp_project.objects) == n
    # no rows, with the columns of a run that cut some (it had none: r.kind.value_counts() failed)
    assert list(second.columns) == list(first.columns) and second.kind.value_counts().empty
    third = extract_heads(tmp_project, min_area=4, fakes_per_head=1, replace=True)
    assert len(tmp_project.objects) == len(third) == len(first)


def test_cancel_keeps_finished_frames(tmp_project):
    v, m = _scene(tmp_project, n_frames=3)
    for t in (1, 2):
        v.set_mask(t, m, "corrected")
    token = CancelToken()

    def progress(done, total, msg):
        if done == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        extract_heads(tmp_project, min_area=4, fakes_per_head=0, progress=progress, cancel=token)
    table = tmp_project.objects.table()
    assert set(table["frame"]) == {0} and len(table) == 3
    rest = extract_heads(tmp_project, min_area=4, fakes_per_head=0)  # resumes with the unfinished frames
    assert sorted(set(rest["frame"])) == [1, 2]


def test_coins_real_image():
    pytest.importorskip("skimage")
    import tempfile

    from skimage import data, filters, measure, morphology

    from dvos_core.store import Project

    img = data.coins()
    mask = morphology.opening(img > filters.threshold_otsu(img), morphology.disk(2))
    expected = [r.area for r in measure.regionprops(measure.label(mask, connectivity=2)) if r.area >= 100]
    with tempfile.TemporaryDirectory() as d:
        p = Project.create(f"{d}/coins.dvos")
        p.add_video_array("coins", np.repeat(img[None, ..., None], 3, axis=3)).set_mask(0, mask, "manual")
        df = extract_heads(p, min_area=100, fakes_per_head=2)
        heads = df[df.kind == "head"]
        assert sorted(heads["area"].tolist()) == sorted(expected) and len(expected) >= 10
        assert (df[df.kind == "fake"]["overlap"] < 0.1).all()
        assert abs(heads["mean_r"] - heads["mean_b"]).max() < 1e-9  # gray photo -> gray heads


def test_sample_frames():
    assert sample_frames(10, interval=3).tolist() == [0, 3, 6, 9]
    assert sample_frames(10, n=5).tolist() == [0, 2, 4, 7, 9]  # 0, 2.25, 4.5, 6.75, 9: first and last included
    assert sample_frames(10, n=1).tolist() == [0]
    a, b = sample_frames(100, n=7, seed=4), sample_frames(100, n=7, seed=4)
    assert np.array_equal(a, b) and len(np.unique(a)) == 7 and np.all(np.diff(a) > 0)
    assert sample_frames(4).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="cannot sample 11"):
        sample_frames(10, n=11)
    with pytest.raises(ValueError, match="not both"):
        sample_frames(10, n=2, interval=2)


def test_test_videos_are_skipped_by_default_and_refused_by_name(tmp_project):
    v, _ = _scene(tmp_project)
    v.set_split("test")
    with pytest.raises(ValueError, match="'scene' is a test video"):
        extract_heads(tmp_project, video_ids=["scene"], fakes_per_head=0)
    assert len(extract_heads(tmp_project, fakes_per_head=0)) == 0  # default: every video but the test ones
    v.set_split("train")
    assert len(extract_heads(tmp_project, fakes_per_head=0)) > 0


def test_frames_without_videos_leave_out_a_bare_field_video(tmp_project):
    """--frames applied to every video: a project holding bare-field footage beside the painted video failed with
    "video 'bare' frame 0 has no mask" unless --videos was given. A video nobody painted is not one it means; named
    with --videos, it is still refused."""
    from dvos_core.extract import backgrounds_from_annotated

    _scene(tmp_project)
    tmp_project.add_video_array("bare", np.zeros((1, 60, 80, 3), np.uint8))  # one frame: --frames 0 only
    df = extract_heads(tmp_project, frames=[0], min_area=4, fakes_per_head=0)
    assert set(df["video"]) == {"scene"} and df.attrs["frames"] == 1
    with pytest.raises(ValueError, match="video 'bare' frame 0 has no mask"):
        extract_heads(tmp_project, video_ids=["bare"], frames=[0], fakes_per_head=0)
    clips = backgrounds_from_annotated(tmp_project, frames=[0], clip_length=2, motion="none")
    assert [b.attrs["source"] for b in clips] == ["scene"]


def _legacy_bank(project):
    """The bank as a dvos from before fake heads left it: heads whose records say nothing of fakes, no fake."""
    bank = project.objects
    old = [
        (px, {k: x for k, x in r.items() if k not in ("id", "offset", "h", "w", "fakes_per_head")})
        for px, r in bank.load()
    ]
    with bank.rebuild() as new:
        new.append(old)
        new.commit()


def test_a_bank_of_heads_cut_before_fakes_is_named_and_one_that_made_none_is_not(tmp_project, capsys):
    """A bank whose heads were cut before dvos made fake heads has no fakes and no record that any were tried:
    synthesis ran without negatives unsaid. It is named (synthesis, extract-objects) with the fix; a bank whose
    extraction asked for fakes and found no spot for any, or asked for none, is not."""
    import warnings

    from dvos_core.cli import main
    from dvos_core.synth.bank import check_training_objects

    def said(project):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            check_training_objects(project)
        return [str(w.message) for w in got if "no fake heads" in str(w.message)]

    _scene(tmp_project)
    extract_heads(tmp_project, min_area=4, fakes_per_head=3, max_overlap=0.0, max_tries=1)  # asked, none made
    assert tmp_project.objects.count("head") == 3 and tmp_project.objects.count("fake") == 0
    assert said(tmp_project) == []
    extract_heads(tmp_project, min_area=4, fakes_per_head=0, replace=True)  # none wanted
    assert said(tmp_project) == []
    _legacy_bank(tmp_project)
    [warning] = said(tmp_project)
    assert "3 of its heads were cut with no record of fakes" in warning
    assert f"dvos extract-objects {tmp_project.path} --replace" in warning and "--fakes-per-head 0" in warning
    assert main(["extract-objects", str(tmp_project.path), "--min-area", "4"]) == 0  # the frame is skipped
    assert "3 of its heads were cut with no record of fakes" in capsys.readouterr().out
    extract_heads(tmp_project, min_area=4, replace=True)  # the fix: heads cut again, with their fakes
    assert tmp_project.objects.count("fake") and said(tmp_project) == []
