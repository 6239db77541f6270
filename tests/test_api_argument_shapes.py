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
