"""Clip index, splits, provenance weights, dataset items, samplers and augmentations on a tiny toy store."""

import pickle

import numpy as np
import pytest
import torch

from dvos_core.data import AugmentConfig, ClipDataset, ClipIndex, ClipSampler, EvalSampler
from dvos_core.data.augment import blur, colour, patch_diffusion, spatial_train
from dvos_core.data.toy import make_toy_project, toy_clip

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_toy_project(
        tmp_path_factory.mktemp("d") / "toy.dvos", n_clips=4, n_frames=6, size=64, n_videos=2, video_frames=10
    )


def test_synthetic_index_split_and_reference_clamping(project):
    project.synthetic("toy").set_split("train")
    tr = ClipIndex.from_project(project, tau=4, delta=2, phase="synthetic", val_fraction=0.25, seed=1)
    va = ClipIndex.from_project(project, tau=4, delta=2, phase="synthetic", split="val", val_fraction=0.25, seed=1)
    assert len(tr) + len(va) == 4 * 6 and len(va) == 6
    assert not set(tr.sources()) & set(va.sources())  # held out by source (whole clips)
    assert tr.reference_times(3) == [0, 0, 0, 1] and tr.reference_times(9) == [1, 3, 5, 7]


def test_real_index_uses_video_splits_provenance_and_quality(project):
    v0 = project.video("video0")
    v0.set_mask(1, np.zeros((64, 64), np.uint8), "pseudo", quality=0.2)
    v0.set_mask(3, np.zeros((64, 64), np.uint8), "pseudo", quality=0.9)
    tr = ClipIndex.from_project(project, 4, 1, "real")
    assert {s.source for s in tr.samples} == {"video0"}  # video1 is in the val split
    va = ClipIndex.from_project(project, 4, 1, "real", split="val")
    assert {s.source for s in va.samples} == {"video1"}
    w = {s.t: s.weight for s in tr.samples}
    assert w[0] == 3.0 and w[1] == 1.0 and w[3] == 1.0
    filtered = ClipIndex.from_project(project, 4, 1, "real", pseudo_quality_min=0.5)
    assert {s.t for s in filtered.samples} == {0, 2, 3, 4, 6, 8}
    manual_only = ClipIndex.from_project(
        project, 4, 1, "real", provenances=["manual"], provenance_weights={"manual": 5}
    )
    assert {s.weight for s in manual_only.samples} == {5.0}
    assert tr.summary()["provenance"] == {"manual": 5, "pseudo": 2}


def test_single_source_is_split_in_time(tmp_path):
    p = make_toy_project(tmp_path / "one.dvos", n_clips=1, n_frames=10, size=32, n_videos=0)
    tr = ClipIndex.from_project(p, 2, 1, "synthetic", val_fraction=0.2)
    va = ClipIndex.from_project(p, 2, 1, "synthetic", split="val", val_fraction=0.2)
    assert [s.t for s in va.samples] == [8, 9] and max(s.t for s in tr.samples) == 7
    # validation clips never reach back into the training frames: their references start at frame 8
    ds = ClipDataset(p.path, va, 32, train=False)
    store = p.synthetic("toy").group["frames"]
    for s in va.samples:
        frames, _ = ds.read_clip(s)
        assert all(np.array_equal(frames[i], store[0, 8]) for i in range(2))
        assert np.array_equal(frames[2], store[0, s.t])
    assert ClipDataset(p.path, tr, 32, train=False).read_clip(tr[0])[0].shape == (3, 32, 32, 3)
    assert tr.summary()["sources"] == va.summary()["sources"] == ["toy/0"]


def test_few_sources_are_each_split_in_time(tmp_path):
    p = make_toy_project(tmp_path / "few.dvos", n_clips=3, n_frames=10, size=32, n_videos=0)
    tr = ClipIndex.from_project(p, 2, 1, "synthetic", val_fraction=0.1)  # 3 sources < 1 / 0.1: none held out whole
    va = ClipIndex.from_project(p, 2, 1, "synthetic", split="val", val_fraction=0.1)
    assert set(tr.sources()) == set(va.sources()) == {"toy/0", "toy/1", "toy/2"}
    assert sorted((s.key, s.t, s.start) for s in va.samples) == [("toy/0", 9, 9), ("toy/1", 9, 9), ("toy/2", 9, 9)]
    assert all(s.t <= 8 for s in tr.samples) and len(tr) == 3 * 9


def test_a_lone_painted_video_is_never_held_out_whole(tmp_path):
    # 12 synthetic clips and one painted video: 13 sources >= 1 / 0.1, but only the clips are held out whole
    p = make_toy_project(tmp_path / "mix.dvos", n_clips=12, n_frames=4, size=32, n_videos=1, video_frames=6)
    for seed in range(12):
        tr = ClipIndex.from_project(p, 0, 1, "image", val_fraction=0.1, seed=seed)
        va = ClipIndex.from_project(p, 0, 1, "image", split="val", val_fraction=0.1, seed=seed)
        assert sorted(s.t for s in tr.samples if s.source == "video0") == [0, 2, 4]  # every painted frame trains
        assert va.sources() and all(k.startswith("toy/") for k in va.sources()) and len(va.sources()) == 1
    # too few of either kind to hold one out whole: every source's last frames validate, as before
    few = make_toy_project(tmp_path / "few.dvos", n_clips=3, n_frames=4, size=32, n_videos=1, video_frames=6)
    va = ClipIndex.from_project(few, 0, 1, "image", split="val", val_fraction=0.1)
    assert set(va.sources()) == {"toy/0", "toy/1", "toy/2", "video0"}


def test_real_share_sets_the_share_of_draws_for_real_frames(tmp_path):
    from dvos_core.data.clips import with_real_share

    p = make_toy_project(tmp_path / "share.dvos", n_clips=10, n_frames=4, size=32, n_videos=1, video_frames=6)
    plain = ClipIndex.from_project(p, 0, 1, "image", val_fraction=0)  # 40 synthetic frames (w 1), 3 painted (w 3)
    real = lambda idx: sum(s.weight for s in idx.samples if s.kind == "video") / idx.weights.sum()  # noqa: E731
    assert real(plain) == pytest.approx(9 / 49)
    for share in (0.25, 0.5, 0.8):
        idx = ClipIndex.from_project(p, 0, 1, "image", val_fraction=0, real_share=share)
        assert real(idx) == pytest.approx(share) and idx.weights.sum() == pytest.approx(49)
        assert [s.t for s in idx.samples] == [s.t for s in plain.samples]  # the same samples, reweighted
        draws = ClipSampler(idx, num_samples=4000, seed=1)
        draws.set_epoch(0)
        picked = [idx[i].kind for i, _ in draws]
        assert abs(picked.count("video") / len(picked) - share) < 0.04
    # provenance weights still rank frames within a kind
    p.video("video0").set_mask(1, np.zeros((32, 32), np.uint8), "pseudo")
    idx = ClipIndex.from_project(p, 0, 1, "image", val_fraction=0, real_share=0.5)
    w = {s.t: s.weight for s in idx.samples if s.kind == "video"}
    assert w[0] == pytest.approx(3 * w[1]) and real(idx) == pytest.approx(0.5)
    # one kind only (synthetic phase, or real frames alone): nothing to share
    syn = ClipIndex.from_project(p, 0, 1, "synthetic", val_fraction=0, real_share=0.5)
    assert set(syn.weights) == {1.0}
    assert with_real_share(plain.samples, None) == plain.samples
    with pytest.raises(ValueError, match="between 0 and 1"):
        with_real_share(plain.samples, 1.0)
    # validation is not reweighted
    val = ClipIndex.from_project(p, 0, 1, "image", split="val", val_fraction=0.1, real_share=0.5)
    assert set(val.weights) == {1.0}


def test_missing_data_raises(tmp_path):
    p = make_toy_project(tmp_path / "e.dvos", n_clips=0, n_frames=4, size=32, n_videos=0)
    with pytest.raises(ValueError, match="no training samples"):
        ClipIndex.from_project(p, 4, 1, "synthetic")


def test_dataset_items_are_deterministic_per_seed_and_picklable(project):
    idx = ClipIndex.from_project(project, 4, 1, "synthetic", val_fraction=0)
    ds = ClipDataset(project.path, idx, 64, train=True)
    a, b, c = ds[(2, 7)], ds[(2, 7)], ds[(2, 8)]
    assert a["frames"].shape == (4, 3, 64, 64) and a["target"].shape == (3, 64, 64) and a["mask"].shape == (1, 64, 64)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["frames"], c["frames"])
    assert set(torch.unique(a["mask"]).tolist()) <= {0.0, 1.0}
    ds2 = pickle.loads(pickle.dumps(ds))
    assert torch.equal(ds2[(2, 7)]["frames"], a["frames"])
    ev = ClipDataset(project.path, idx, 32, train=False)[0]
    # eval: no augmentation, the target is the resized clean query frame
    assert ev["frames"].shape == (4, 3, 32, 32)
    img = ClipDataset(project.path, idx, 64, train=True, kind="frame")[(0, 1)]
    assert img["frames"].shape == (3, 64, 64)


def test_sampler_is_weighted_deterministic_and_sharded():
    from dvos_core.data.clips import Sample

    samples = [Sample("video", "v", -1, t, 1, 9.0 if t == 0 else 1.0) for t in range(10)]
    idx = ClipIndex(samples, 4, 1)
    s = ClipSampler(idx, num_samples=2000, seed=3)
    s.set_epoch(0)
    draws = [i for i, _ in s]
    assert 0.4 < draws.count(0) / len(draws) < 0.6  # weight 9 of 18
    assert draws == [i for i, _ in s]
    s.set_epoch(1)
    assert draws != [i for i, _ in s]
    r0, r1 = ClipSampler(idx, 10, seed=3, rank=0, world_size=2), ClipSampler(idx, 10, seed=3, rank=1, world_size=2)
    seeds0, seeds1 = {sd for _, sd in r0}, {sd for _, sd in r1}
    assert len(r0) == len(r1) == 5 and not seeds0 & seeds1
    ev = [list(EvalSampler(5, r, 2)) for r in range(2)]
    assert sorted(ev[0] + ev[1]) == list(range(5))


def test_augmentations():
    g = torch.Generator().manual_seed(0)
    frames, masks = toy_clip(5, 96, 128, np.random.default_rng(0))
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    m = torch.from_numpy(masks).float()[:, None]
    cfg = AugmentConfig(crop_min=48, crop_max=96)
    xs, ms = spatial_train(x, m, 64, cfg, g)
    assert xs.shape == (5, 3, 64, 64) and ms.shape == (5, 1, 64, 64)
    # the same transform for all frames: with a static scene, every output frame would be identical
    static = x[:1].expand(5, -1, -1, -1).clone()
    ys, _ = spatial_train(static, m, 64, cfg, torch.Generator().manual_seed(5))
    assert torch.allclose(ys[0], ys[4])
    col = colour(x, AugmentConfig(jitter_p=1.0), torch.Generator().manual_seed(1))
    assert col.shape == x.shape and col.min() >= 0 and col.max() <= 1 and not torch.allclose(col[0], x[0])
    assert torch.equal(blur(x, AugmentConfig(blur_p=0.0), torch.Generator().manual_seed(3)), x)
    bl = blur(x, AugmentConfig(blur_p=1.0), torch.Generator().manual_seed(3))
    detail = lambda t: (t[..., 1:, :] - t[..., :-1, :]).abs().mean()  # noqa: E731
    assert bl.shape == x.shape and detail(bl) < 0.8 * detail(x)  # every frame blurred: less fine detail
    pd = patch_diffusion(x, AugmentConfig(patch_diffusion_p=0.5, patch_size=32), torch.Generator().manual_seed(2))
    changed = (pd != x).view(5, 3, 3, 32, 4, 32).any(dim=(1, 3, 5))
    assert 0 < changed.float().mean() < 1  # some tiles diffused, others untouched


def test_dataset_opens_each_array_once_per_process_and_drops_handles_when_pickled(project, monkeypatch):
    import zarr

    opened = []
    getitem = zarr.Group.__getitem__

    def counting(self, key):
        item = getitem(self, key)
        if isinstance(item, zarr.Array):
            opened.append((self.path, key))
        return item

    monkeypatch.setattr(zarr.Group, "__getitem__", counting)
    for phase in ("real", "synthetic"):
        idx = ClipIndex.from_project(project, 4, 1, phase, val_fraction=0)
        ds = ClipDataset(project.path, idx, 32, train=False)
        opened.clear()  # building the index reads provenance; count the dataset's reads only
        first = [ds.read_clip_masks(idx[i]) for i in range(len(idx))]
        n_sources = len(set(idx.sources()))
        # before: frames, masks (and provenance) re-opened for every clip read
        assert 0 < len(opened) <= 3 * n_sources < len(idx), (phase, opened, len(idx))
        ds2 = pickle.loads(pickle.dumps(ds))  # what a DataLoader worker gets: no handles, opened lazily there
        assert ds2._arrays == {} and ds2._project is None
        again = [ds2.read_clip_masks(idx[i]) for i in range(len(idx))]
        assert all(np.array_equal(x, y) for a, b in zip(first, again) for x, y in zip(a, b))
        ds2._pid = -1  # as in a forked worker: its own handles, not the parent's
        before = ds2._arrays.copy()
        ds2.read_clip(idx[0])
        assert ds2._arrays and all(ds2._arrays[k] is not before.get(k) for k in ds2._arrays)


def test_augment_probabilities_and_crop_ranges_are_checked_naming_the_setting():
    from dvos_core.train import TrainConfig

    for bad, said in (
        ({"blur_p": 1.5}, "augment.blur_p is a probability"),
        ({"patch_diffusion_p": -0.2}, "augment.patch_diffusion_p is a probability"),
        ({"hflip": 2}, "augment.hflip is a probability"),
        ({"crop_min": 512, "crop_max": 256}, "crop_min..crop_max"),
        ({"max_aspect": 0.5}, "max_aspect must be >= 1"),
    ):
        with pytest.raises(ValueError, match=said):
            AugmentConfig(**bad)
        with pytest.raises(ValueError, match=said):  # the same check through a training config
            TrainConfig(phase="image", augment=bad)
    ok = AugmentConfig(blur_p="0.25", hflip=0, crop_min=64, crop_max=64)
    assert ok.blur_p == 0.25 and ok.crop_min == ok.crop_max == 64
