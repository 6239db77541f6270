"""Fix commands in messages quote project paths and names (dvos_core.shell.quote), so a project in a folder with a
space still pastes as one argument: they were printed bare, e.g. `dvos split /tmp/my fields/p.dvos train VIDEO`."""

import shlex
from types import SimpleNamespace

import numpy as np
import pytest

from dvos_core.store import Project


@pytest.fixture
def spaced(tmp_path):
    return Project.create(tmp_path / "my fields" / "p.dvos")


def test_run_all_check_quotes_the_project(spaced):
    from dvos_core.run_all import RunAllConfig, check_project

    with pytest.raises(ValueError) as e:
        check_project(spaced, RunAllConfig(predict=["nope"]))
    assert f"dvos add-video {shlex.quote(str(spaced.path))} FILE" in str(e.value), str(e.value)
    v = spaced.add_video_array("plot1", np.zeros((2, 8, 8, 3), np.uint8))
    v.set_mask(0, np.ones((8, 8), np.uint8), "manual")
    spaced.set_split(["plot1"], "val")
    with pytest.raises(ValueError) as e:
        check_project(spaced, RunAllConfig())
    assert f"`dvos split {shlex.quote(str(spaced.path))} train VIDEO`" in str(e.value), str(e.value)


def test_resized_video_note_quotes_the_project(spaced):
    from dvos_core.io.masks import _resized_note

    video = SimpleNamespace(name="plot1", attrs={"preprocessing": {"height": 20}})
    note = _resized_note(spaced, video)
    assert f"`dvos delete {shlex.quote(str(spaced.path))} video plot1 --yes`" in note, note


def test_reference_weights_already_dvos_quotes_the_file(tmp_path):
    from dvos_core.model import build_model, save_checkpoint
    from dvos_core.model.reference import CheckpointError, load_reference_state_dict

    path = save_checkpoint(tmp_path / "my models" / "best.pt", build_model("tiny", "frame"))
    with pytest.raises(CheckpointError) as e:
        load_reference_state_dict(path)
    assert f"dvos import-weights {shlex.quote(str(path))} --project PROJECT" in str(e.value), str(e.value)


def test_napari_deleted_video_message_quotes_the_project(spaced):
    """napari: the video shown was deleted by another program; the example command names the project quoted."""
    pytest.importorskip("napari")
    from dvos_napari._state import DvosState

    state = object.__new__(DvosState)  # no viewer: require_video reads the project and the video id only
    state.project, state.video_id = spaced, "plot1"
    with pytest.raises(ValueError) as e:
        state.require_video()
    assert f"`dvos delete {shlex.quote(str(spaced.path))} video plot1 --yes`" in str(e.value), str(e.value)
