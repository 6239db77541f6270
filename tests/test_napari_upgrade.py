"""Opening a project made by an older dvos in the Project step: the panel offers to upgrade it in place (what `dvos
migrate` does) in a job of the step and opens it when that finishes; declined, nothing is changed and the step says
how to upgrade it later."""

from __future__ import annotations

import os

import numpy as np
import pytest
from old_stores import as_older_schema

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture
def schema_3(tmp_path):
    """A project as a dvos of store schema 3 leaves it: one video with a painted frame."""
    from dvos_core.store import Project

    p = Project.create(tmp_path / "old.dvos")
    v = p.add_video_array("plot", np.full((4, 24, 24, 3), 9, np.uint8), split="train")
    v.set_mask(2, np.eye(24, dtype=np.uint8), "manual")
    as_older_schema(p.path, 3)
    return p.path


def test_an_older_project_is_upgraded_when_the_user_agrees_and_then_opened(make_napari_viewer, qtbot, schema_3):
    from napari_helpers import dock, wait_job

    from dvos_core.store import SCHEMA_VERSION, Project

    pr = dock(make_napari_viewer(), "Project")
    asked = []
    job = pr.open_or_upgrade(str(schema_3), ask=lambda path, old: asked.append((path, old)) or True)
    assert asked == [(str(schema_3), 3)]
    assert wait_job(qtbot, job) == "ok"
    qtbot.waitUntil(lambda: pr.state.project is not None, timeout=10_000)
    assert str(pr.state.project.path) == str(schema_3)
    assert Project.open(schema_3).attrs["schema_version"] == SCHEMA_VERSION
    assert np.array_equal(pr.state.project.video("plot").read_masks()[2], np.eye(24, dtype=np.uint8))


def test_a_declined_upgrade_changes_nothing_and_says_how_to_upgrade_later(make_napari_viewer, schema_3):
    from napari_helpers import dock

    pr = dock(make_napari_viewer(), "Project")
    before = (schema_3 / "zarr.json").read_bytes()
    assert pr.open_or_upgrade(str(schema_3), ask=lambda path, old: False) is None
    assert pr.state.project is None and (schema_3 / "zarr.json").read_bytes() == before
    assert f"dvos migrate {schema_3}" in pr.status.text() and "schema 3" in pr.status.text()


def test_a_current_project_opens_without_a_question(make_napari_viewer, tmp_path):
    from napari_helpers import dock

    from dvos_core.store import Project

    path = Project.create(tmp_path / "new.dvos").path
    pr = dock(make_napari_viewer(), "Project")
    project = pr.open_or_upgrade(str(path), ask=lambda path, old: pytest.fail("asked about a current project"))
    assert str(project.path) == str(path) and pr.state.project is project
