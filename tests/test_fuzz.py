"""Property-based fuzzing (hypothesis) of what users feed dvos: video/image files, mask files, config files and ids.

Every failure must be a clear error of the ValueError family (``StoreError`` and ``ConfigError`` are ValueErrors)
whose message names the input, and must leave the store's bytes exactly as they were. Kept fast: 25 examples each
(``DVOS_FUZZ_EXAMPLES=500`` for a deeper run).
"""

import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import coded_frame, store_digest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from dvos_core.io import import_masks, import_video
from dvos_core.store import Project, check_id
from dvos_core.synth import SynthConfig
from dvos_core.train import TrainConfig

FUZZ = settings(
    max_examples=int(os.environ.get("DVOS_FUZZ_EXAMPLES", "25")),  # raise it for a deeper local run
    deadline=timedelta(seconds=20),  # generous: the machine may be busy; a hang still fails
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="dvos-fuzz-"))
    project = Project.create(d / "fuzz.dvos")
    project.add_video_array("base", np.stack([coded_frame(k, (12, 16)) for k in range(3)]))
    yield d, project
    shutil.rmtree(d, ignore_errors=True)


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _check_failure(error: Exception, names, project, before) -> None:
    """A failure is a ValueError naming one of ``names`` and the store is unchanged."""
    assert isinstance(error, ValueError), f"{type(error).__name__}: {error}"
    assert any(str(n) in str(error) for n in names), f"message does not name the input {names}: {error}"
    assert store_digest(project.path) == before, f"the store changed after: {error}"


def _try_import(project, path, names):
    before = store_digest(project.path)
    try:
        video = import_video(project, path, video_id="fz")
    except Exception as e:
        _check_failure(e, names, project, before)
        return
    try:
        frames = video.read_frames()
        assert video.import_complete and len(frames) >= 1 and frames.shape[-1] == 3 and frames.dtype == np.uint8
    finally:
        project.delete_video("fz")


# ---- video and image readers --------------------------------------------------------------------------------------
def _valid_bytes(kind: str) -> bytes:
    import cv2
    import tifffile

    d = Path(tempfile.mkdtemp())
    try:
        if kind == "tif":
            tifffile.imwrite(d / "x.tif", np.stack([coded_frame(k, (12, 16)) for k in range(3)]), photometric="rgb")
            return (d / "x.tif").read_bytes()
        ok, buf = cv2.imencode(".png", coded_frame(1, (12, 16)))
        assert ok
        return buf.tobytes()
    finally:
        shutil.rmtree(d)


@FUZZ
@given(
    suffix=st.sampled_from([".tif", ".tiff", ".mp4", ".avi", ".png"]),
    base=st.sampled_from(["tif", "png", "random"]),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6),
    noise=st.binary(max_size=300),
)
def test_damaged_files_give_clear_errors(workdir, suffix, base, cut, flips, noise):
    d, project = workdir
    raw = bytearray(noise if base == "random" else _valid_bytes(base))
    raw = raw[: int(len(raw) * cut)] if base != "random" else raw
    for pos, value in flips:
        if raw:
            raw[int(pos * (len(raw) - 1))] = value
    folder = _fresh(d / "in")
    if suffix == ".png":  # images are read as folders of frames
        path = folder / "frames"
        path.mkdir()
        (path / "f000.png").write_bytes(bytes(raw))
    else:
        path = folder / f"clip{suffix}"
        path.write_bytes(bytes(raw))
    _try_import(project, path, [path, path.name])


_DTYPES = st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64, np.bool_])


@FUZZ
@given(
    a=arrays(_DTYPES, array_shapes(min_dims=1, max_dims=5, min_side=1, max_side=7)),
    kw=st.sampled_from([{}, {"photometric": "minisblack"}, {"photometric": "rgb"}, {"imagej": True}]),
)
def test_tiff_arrays_of_any_shape_and_type(workdir, a, kw):
    import tifffile

    d, project = workdir
    path = _fresh(d / "in") / "stack.tif"
    try:
        tifffile.imwrite(path, a, **kw)
    except Exception:
        assume(False)  # tifffile cannot write this combination: nothing to read
    _try_import(project, path, [path])


@FUZZ
@given(
    images=st.lists(
        arrays(
            st.sampled_from([np.uint8, np.uint16]), st.sampled_from([(6, 7), (6, 7, 3), (6, 7, 4), (7, 6), (6, 7, 2)])
        ),
        min_size=1,
        max_size=3,
    )
)
def test_image_folders_of_any_content(workdir, images):
    import cv2

    d, project = workdir
    folder = _fresh(d / "in") / "frames"
    folder.mkdir()
    for k, img in enumerate(images):
        try:
            ok = cv2.imwrite(str(folder / f"f{k}.png"), img)
        except cv2.error:
            ok = False
        assume(ok)
    _try_import(project, folder, [folder])


# ---- mask import --------------------------------------------------------------------------------------------------
@FUZZ
@given(
    masks=st.lists(
        st.tuples(
            st.tuples(
                arrays(
                    np.uint8,
                    st.sampled_from([(12, 16), (12, 16, 1), (12, 16, 3), (16, 12), (2, 12, 16)]),
                    elements=st.integers(0, 3) | st.sampled_from([0, 255]),
                ),
                st.sampled_from([np.uint8, np.uint16, np.bool_, np.int32, np.float32]),
            ).map(lambda pair: pair[0].astype(pair[1])),
            st.one_of(st.integers(-2, 5).map(lambda t: f"m_{t:03d}" if t >= 0 else f"m-{-t}"), st.just("mask")),
            st.sampled_from([".png", ".tif"]),
        ),
        min_size=1,
        max_size=3,
    ),
    provenance=st.sampled_from(["manual", "pseudo", "corrected"]),
    labels=st.booleans(),
)
def test_mask_import_of_any_files(workdir, masks, provenance, labels):
    import cv2
    import tifffile

    d, project = workdir
    folder = _fresh(d / "masks")
    names = {}
    for a, stem, suffix in masks:
        p = folder / f"{stem}{suffix}"
        if p.name in names:
            continue
        if suffix == ".png":
            try:
                ok = a.dtype in (np.uint8, np.uint16) and cv2.imwrite(str(p), a)
            except cv2.error:
                ok = False
            assume(ok)
        else:
            tifffile.imwrite(p, a)
        names[p.name] = p
    before = store_digest(project.path)
    video = project.video("base")
    old = video.provenance.copy()
    try:
        written = import_masks(project, "base", folder, provenance=provenance, allow_labels=labels)
    except Exception as e:
        _check_failure(e, [folder, *names.values()], project, before)
        return
    assert set(written) <= {0, 1, 2} and all(video.mask(t) is not None for t in written)
    video.clear_masks()  # next example starts from no masks
    assert (video.provenance == 0).all() or old.any()


# ---- config files -------------------------------------------------------------------------------------------------
_SPECIAL = st.sampled_from(["1e-4", "3E-2", ".nan", "nan", "-inf", "1_000", "true", "", " 7 ", "0x10", "1e400"])
_SCALARS = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=8) | _SPECIAL
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
)


def _config_keys(cls):
    import dataclasses

    return st.sampled_from([f.name for f in dataclasses.fields(cls)]) | st.text(max_size=6)


@FUZZ
@given(
    which=st.sampled_from([TrainConfig, SynthConfig]),
    data=st.data(),
)
def test_config_files_of_any_content(workdir, which, data):
    import math

    d, _ = workdir
    path = _fresh(d / "cfg") / "config.yaml"
    if data.draw(st.booleans()):
        mapping = data.draw(st.dictionaries(_config_keys(which), _VALUES, max_size=4))
        path.write_text(yaml.safe_dump(mapping))
    else:
        path.write_text(data.draw(st.text(max_size=60)))
    try:
        cfg = which.from_yaml(path)
    except Exception as e:
        assert isinstance(e, ValueError), f"{type(e).__name__}: {e}"
        assert str(path) in str(e), f"message does not name the file: {e}"
        return
    for name, value in cfg.to_dict().items():  # whatever loaded is typed and finite
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, float):
                assert math.isfinite(v), name


# ---- ids ----------------------------------------------------------------------------------------------------------
@FUZZ
@given(name=st.text(min_size=0, max_size=140) | st.sampled_from(["zarr.json", "a\n", "ok", "x" * 128, "NUL", "v.1"]))
def test_ids(workdir, name):
    _, project = workdir
    before = store_digest(project.path)
    try:
        check_id(name, "video id")
    except ValueError as e:
        assert repr(name) in str(e)
        with pytest.raises(ValueError, match="invalid video id"):
            project.create_video(name, 4, 4)
        assert store_digest(project.path) == before
        return
    assert "\n" not in name and "/" not in name and name.lower() != "zarr.json" and 1 <= len(name) <= 128
    if name != "base":
        project.create_video(name, 4, 4)
        assert name in project.video_ids()
        project.delete_video(name)
    assert store_digest(project.path) == before
