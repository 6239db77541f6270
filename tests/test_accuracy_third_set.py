"""The accuracy benchmark's third kind of real image (``benchmarks/accuracy_data.py``: ``load_zurich``, the
``zurich-*`` sets): a satellite image with the buildings of its hand-made ground truth."""

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import tifffile
from script_modules import load_script


def _data():
    return load_script("benchmarks/accuracy_data.py")


def test_the_zurich_scene_is_the_buildings_in_natural_colours_cut_to_the_built_up_rows(tmp_path):
    ad = _data()
    rows = ad.ZURICH_ROWS + 20
    raw = np.zeros((rows, 40, 4), np.uint16)  # bands B, G, R, NIR
    raw[..., 0] = 100
    raw[..., 1] = 500
    raw[..., 2] = np.linspace(0, 4000, 40, dtype=np.uint16)[None, :]  # red grows to the right
    raw[..., 3] = 3000
    gt = np.full((rows, 40, 3), 255, np.uint8)  # unlabelled
    gt[10:20, 5:15] = ad.ZURICH_BUILDING_RGB
    gt[30:40, 5:15] = (0, 125, 0)  # trees: not buildings
    gt[-10:, 20:30] = ad.ZURICH_BUILDING_RGB  # a building below the kept rows
    tifffile.imwrite(tmp_path / ad.ZURICH_FILES[0], raw)
    tifffile.imwrite(tmp_path / ad.ZURICH_FILES[1], gt)

    scene = ad.load_zurich(tmp_path)["zurich"]
    assert scene.image.shape == (ad.ZURICH_ROWS, 40, 3) and scene.image.dtype == np.uint8
    assert scene.mask.shape == (ad.ZURICH_ROWS, 40)
    expected = np.zeros((ad.ZURICH_ROWS, 40), np.uint8)
    expected[10:20, 5:15] = 1
    assert np.array_equal(scene.mask, expected)
    red = scene.image[0, :, 0].astype(int)
    assert red[0] == 0 and red[-1] == 255 and np.all(np.diff(red) >= 0)  # the R band, stretched, in channel 0


def test_the_zurich_scene_says_how_to_fetch_it_when_absent(tmp_path):
    with pytest.raises(FileNotFoundError, match="fetch_testdata.sh"):
        _data().load_zurich(tmp_path)


def test_the_zurich_sets_are_filmed_like_the_others():
    ad = _data()
    for name in ad.THIRD_SETS:
        scene, speed, condition = name.split("-")
        assert scene == "zurich" and speed in ad.SPEEDS and condition in ad.CONDITIONS
    root = Path(os.environ.get("DVOS_TESTDATA", ".cache/testdata"))
    if not all((root / n).exists() for n in ad.ZURICH_FILES):
        pytest.skip(f"zurich test data absent: run tests/fetch_testdata.sh (looked in {root})")
    scene = ad.load_zurich(root)["zurich"]
    assert ndi.label(scene.mask)[1] > 100  # many small objects
    assert 0.05 < scene.mask.mean() < 0.3
    data = ad.make_set(scene, "fast", "degraded", 4, 4, 128, seed=0)
    frames, masks = data["test"]
    assert frames.shape == (4, 128, 128, 3) and masks.shape == (4, 128, 128)
    assert all(m.any() for m in masks)  # every frame sees buildings
