"""A prediction set whose own ``zarr.json`` is damaged is named, with the fix, by the commands that read
predictions (``dvos evaluate`` said "video 'bikes' has no predictions; run dvos predict", as if it had none), as
``dvos info`` and ``dvos check`` name it."""

import numpy as np
import pytest

from dvos_core.store import Project
from dvos_core.store.schema import DamagedStoreError


def _project(tmp_path, sets=("img",)):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("bikes", np.zeros((3, 8, 8, 3), np.uint8), split="train")
    for t in range(3):
        v.set_mask(t, np.eye(8, dtype=np.uint8), "manual")
    for name in sets:
        v.predictions[name].start({"kind": "image"}, name)
        v.predictions[name].set_many(range(3), np.eye(8, dtype=np.float32)[None].repeat(3, 0))
    return p


@pytest.mark.parametrize("model", [None, "img"])
def test_evaluate_and_export_name_a_set_whose_zarr_json_is_damaged(tmp_path, model):
    from dvos_core.evaluate import evaluate
    from dvos_core.io.masks import export_masks

    p = _project(tmp_path)
    meta = p.path / "videos/bikes/predictions/img/zarr.json"
    meta.unlink()
    ro = Project.open(p.path, "r")
    fix = r"delete these predictions \(`dvos delete .* predictions img --videos bikes --yes`\)"
    with pytest.raises(DamagedStoreError, match=f"{meta}: the metadata file .*{fix}"):
        evaluate(ro, split="train", save=False, model=model)
    with pytest.raises(DamagedStoreError, match=f"{meta}: the metadata file .*{fix}"):
        export_masks(ro, "bikes", tmp_path / "out", which="predictions", model=model)


def test_a_damaged_set_beside_a_readable_one_leaves_the_readable_one_in_use(tmp_path):
    from dvos_core.evaluate import evaluate
    from dvos_core.io.masks import export_masks

    p = _project(tmp_path, ("img", "ctx"))
    (p.path / "videos/bikes/predictions/ctx/zarr.json").unlink()
    ro = Project.open(p.path, "r")
    assert evaluate(ro, split="train", save=False, min_area=1).overall["prediction_sets"] == {"bikes": "img"}
    assert len(export_masks(ro, "bikes", tmp_path / "out", which="predictions")) == 3
