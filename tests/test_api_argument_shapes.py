"""Arguments given in a neighbouring shape from Python: one model's name where a list is expected is that model,
not its letters; a mask array handed to the file importer says which call writes arrays."""

import numpy as np
import pytest

from dvos_core.evaluate import compare_models
from dvos_core.io import import_masks
from dvos_core.store import Project


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "field.dvos")
    v = p.add_video_array("a", np.zeros((3, 16, 16, 3), np.uint8), split="test")
    masks = np.zeros((3, 16, 16), np.float32)
    masks[:, 4:9, 4:9] = 1
    for t in range(3):
        v.set_mask(t, masks[t].astype(np.uint8), "manual")
    v.predictions["img"].start({"kind": "test"}, None)
    v.predictions["img"].set_many(range(3), masks)
    return p


def test_compare_models_takes_one_models_name(project):
    table = compare_models(project, "img", save=False).table
    assert "img" in set(table["model"]) and table.loc[table["model"] == "img", "dice"].iloc[0] == 1


def test_import_masks_with_an_array_names_set_mask(project):
    with pytest.raises(TypeError, match=r"set_mask\(t, mask, provenance\)"):
        import_masks(project, "a", np.zeros((3, 16, 16), np.uint8))


@pytest.mark.parametrize("shape", [(2, 16, 19), (1, 16, 16), (16, 16)])
def test_prediction_masks_of_another_shape_are_refused_before_any_write(project, shape):
    """``set_many(masks=...)`` checked the probabilities' shape only: wider masks were cropped unsaid, fewer frames
    failed inside zarr, one mask for two frames with an IndexError, each after the probabilities were written."""
    v = Project.open(project.path, mode="r+").video("a")
    s = v.predictions["other"]
    s.start({"kind": "test"}, None)
    with pytest.raises(ValueError, match=r"masks for a have shape .*expected \(2, 16, 16\).*Nothing was written"):
        s.set_many([0, 1], np.full((2, 16, 16), 0.75, np.float32), masks=np.ones(shape, np.uint8))
    assert len(s.frames()) == 0
    arrays = s.arrays()
    assert arrays is None or not np.any(arrays[1][:2])  # no probability written either
