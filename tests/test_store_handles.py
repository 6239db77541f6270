"""Two handles on one video see each other's attribute changes (Zarr caches attributes per handle)."""

import numpy as np

from dvos_core.store import Project


def test_attrs_are_fresh_across_handles(tmp_path):
    p = Project.create(tmp_path / "x.dvos")
    a = p.add_video_array("clip", np.zeros((2, 32, 32, 3), np.uint8))
    b = Project.open(tmp_path / "x.dvos").video("clip")
    a.update_attrs(fps=12.5)
    a.set_tags(stage="flowering")
    assert b.attrs["fps"] == 12.5
    assert b.tags == {"stage": "flowering"}
    a.append_frames(np.ones((3, 32, 32, 3), np.uint8))
    b.refresh()
    assert b.n_frames == 5
