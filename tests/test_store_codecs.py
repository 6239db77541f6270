"""Store codecs: what new arrays are compressed with (docs/store.md, "Codecs"), and that the store reads each array's
codec from its own metadata, so an array written with another codec (an older or newer dvos, or by hand) is read,
appended to and trimmed as it is, keeping its codec."""

import numpy as np
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from dvos_core.store import Project, arrays

OLD = BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")  # the codec every store so far was written with


def _codec(arr: zarr.Array):
    (c,) = arr.compressors
    return c


def _same(a, b) -> bool:
    """Same codec and settings (Blosc's ``typesize`` follows each array's dtype, so it is not compared)."""
    conf = [{k: v for k, v in c.to_dict()["configuration"].items() if k != "typesize"} for c in (a, b)]
    return type(a) is type(b) and conf[0] == conf[1]


def _frames(n: int, k0: int = 0) -> list:
    rng = np.random.default_rng(k0)
    return [rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(n)]


def test_create_takes_explicit_compressors_else_lz4(tmp_path):
    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    assert _same(
        _codec(arrays.create(g, "z", (3, 4, 4), "uint8", compressors=[ZstdCodec(level=3)])), ZstdCodec(level=3)
    )
    assert _same(_codec(arrays.create(g, "f", (3, 4, 4, 3), "uint8")), OLD)


def test_new_store_arrays_use_the_documented_codecs(tmp_project):
    """docs/store.md "Codecs": masks Zstandard level 1; frames, probabilities and the rest Blosc lz4 + bitshuffle."""
    v = tmp_project.create_video("v", 6, 5)
    v.append_frames(_frames(3))
    v.predictions.set(0, np.full((6, 5), 0.7, np.float32))
    g, model = v.group, v.predictions.models()[0]
    for key in ("frames", "provenance", f"predictions/{model}/probability", f"predictions/{model}/done"):
        assert _same(_codec(g[key]), OLD), key
    for key in ("masks", f"predictions/{model}/masks"):
        assert _same(_codec(g[key]), ZstdCodec(level=1)), key


def _video_written_with(project: Project, codec, monkeypatch):
    """A video whose arrays were made with ``codec`` (as another dvos version would have made them)."""
    with monkeypatch.context() as m:
        m.setattr(arrays, "image_codecs", lambda: [codec])
        m.setattr(arrays, "mask_codecs", lambda: [codec])
        v = project.create_video("v", 6, 5)
        v.append_frames(_frames(4))
        v.set_mask(1, np.eye(6, 5, dtype=np.uint8), provenance="manual")
        v.predictions.set(2, np.full((6, 5), 0.25, np.float32))
    return v


def test_arrays_written_with_another_codec_are_read_and_appended_as_they_are(tmp_project, monkeypatch):
    for codec in (OLD, ZstdCodec(level=3)):  # what stores before this change hold; another codec
        if "v" in tmp_project.video_ids():
            tmp_project.delete_video("v")
        _video_written_with(tmp_project, codec, monkeypatch)
        p = Project.open(tmp_project.path)  # a fresh handle, as a later session opens the store
        v = p.video("v")
        first = _frames(4)
        assert np.array_equal(v.read_frames(), np.stack(first))
        assert v.append_frames(_frames(70, k0=1), batch=8) == 70  # grows (several resizes) and trims at the end
        assert v.group["frames"].shape[0] == len(v) == 74
        assert np.array_equal(v.frame(3), first[3]) and np.array_equal(v.frame(73), _frames(70, k0=1)[-1])
        assert np.array_equal(v.mask(1), np.eye(6, 5, dtype=np.uint8))
        v.set_mask(72, np.ones((6, 5), np.uint8), provenance="manual")
        assert np.array_equal(v.mask(72), np.ones((6, 5), np.uint8))
        _, probability = v.predictions.get(2)
        assert np.allclose(probability, 0.25, atol=1e-3)
        for key in ("frames", "masks", "provenance"):  # each array keeps the codec it was written with
            arr = zarr.open_group(str(p.path), mode="r")["videos/v"][key]
            assert _same(_codec(arr), codec), (key, codec)
