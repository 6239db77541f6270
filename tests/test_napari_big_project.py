"""The panel on a project that has grown for a season: a refresh after a store change reads again only what changed
(no video's masks or prediction flags when nothing changed, one video after another program wrote one mask), the
models' config.yaml files are not parsed again at every refresh, and the model pickers offer the newest model first.
Counted with wrappers, not timed."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

pytest.importorskip("napari")
from napari_helpers import age_files as _age

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _season(project, n_videos: int = 4, sets=("img", "ctx")):
    """Small videos with painted frames, each but the last predicted by ``sets``."""
    from napari_helpers import prediction_set

    rng = np.random.default_rng(0)
    for i in range(n_videos):
        v = project.add_video_array(f"plot{i}", rng.integers(0, 255, (5, 32, 32, 3), dtype=np.uint8), split="train")
        v.set_mask(0, np.ones((32, 32), np.uint8), "manual")
        if i < n_videos - 1:
            for name in sets:
                prediction_set(v, name, np.zeros((5, 32, 32)))
    return project


class _Counter:
    """Counts the calls of a wrapped function."""

    def __init__(self, fn):
        self.fn, self.calls, self.names = fn, 0, set()

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.names.add(getattr(args[0], "name", None) if args else None)
        return self.fn(*args, **kwargs)


@pytest.fixture
def counted(monkeypatch):
    """Wrappers counting the reads of videos' mask provenance and prediction-set lists."""
    from dvos_core.store.predictions import Predictions
    from dvos_core.store.sequence import Video

    reads = {"provenance": _Counter(Video.provenance_counts), "sets": _Counter(Predictions.models)}
    monkeypatch.setattr(Video, "provenance_counts", lambda self: reads["provenance"](self))
    monkeypatch.setattr(Predictions, "models", lambda self: reads["sets"](self))
    return reads


def _panel(make_napari_viewer, project):
    from napari_helpers import PANEL, dock

    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    panel.state.set_project(project)
    return viewer, panel


def _table(page) -> dict:
    return {page.table.item(r, 0).text(): page.table.item(r, 3).text() for r in range(page.table.rowCount())}


def test_a_store_change_reads_no_video_again_when_its_files_did_not_change(make_napari_viewer, tmp_project, counted):
    project = _season(tmp_project)
    _age(project.path)
    _viewer, panel = _panel(make_napari_viewer, project)
    for name in ("Review", "Predict", "Train"):
        panel.step(name)
    counted["provenance"].calls = counted["sets"].calls = 0
    panel.state.notify_store_changed()  # every step refreshes: the Project table, the step ticks, Review's models
    assert counted["provenance"].calls == 0 and counted["sets"].calls == 0
    assert _table(panel.step("Project"))["plot0"] == "1 manual"
    assert panel.status["Predict"].note == "0 pseudo-labelled, 15 predicted frame(s)"  # 3 videos x 5 frames
    review = panel.step("Review")
    assert [review.compare_list.item(i).text() for i in range(review.compare_list.count())] == ["img", "ctx"]


def test_another_programs_write_reads_only_the_video_it_changed(make_napari_viewer, tmp_project, counted):
    from dvos_core.store import Project

    project = _season(tmp_project)
    _age(project.path)
    _viewer, panel = _panel(make_napari_viewer, project)
    page = panel.step("Project")
    counted["provenance"].calls, counted["provenance"].names = 0, set()
    other = Project.open(project.path)  # as the dvos command line would, with its own handle
    other.video("plot2").set_mask(3, np.ones((32, 32), np.uint8), "manual")
    assert page.check_store()
    # plot2 only, once for every step (it was every video, once for the table and once for the step ticks)
    assert counted["provenance"].names == {"plot2"} and counted["provenance"].calls == 1
    assert _table(page) == {"plot0": "1 manual", "plot1": "1 manual", "plot2": "2 manual", "plot3": "1 manual"}
    assert panel.status["Annotate"].note.startswith("5 frame(s)")
    # a second write at once (its files keep the time stamp of the first): seen too
    other.video("plot2").set_mask(4, np.ones((32, 32), np.uint8), "corrected")
    panel.state.notify_store_changed()
    assert _table(page)["plot2"] == "2 manual, 1 corrected"
    other.delete("video", "plot1")
    panel.state.notify_store_changed()
    assert sorted(_table(page)) == ["plot0", "plot2", "plot3"]


def test_the_cached_summary_is_the_projects_summary(tmp_project):
    from napari_helpers import prediction_set

    from dvos_napari._summary import SummaryCache

    project = _season(tmp_project, n_videos=3)
    cache = SummaryCache()
    assert cache.summary(project) == project.summary() and cache.reads == 3  # just written: not kept
    _age(project.path)
    assert cache.summary(project) == project.summary() and cache.reads == 6
    assert cache.summary(project) == project.summary() and cache.reads == 6  # nothing read again
    v = project.video("plot0")
    v.set_split("val")
    prediction_set(project.video("plot2"), "late", np.ones((5, 32, 32)))
    project.delete_predictions("img", ["plot1"])
    assert cache.summary(project) == project.summary()
    assert cache.reads == 9  # the three videos changed


def test_background_clips_are_not_opened_again_while_their_files_are_unchanged(tmp_project, monkeypatch):
    """A season's hundreds of background clips were each opened again at every refresh of the steps (0.45 s per
    refresh with 300 clips): the cache keeps each clip's row while its zarr.json is unchanged."""
    from dvos_core.store import Project
    from dvos_napari._summary import SummaryCache

    frame = np.zeros((16, 16, 3), np.uint8)
    for i in range(4):
        bg = tmp_project.create_background(f"bg{i}", 16, 16)
        bg.append_frames([frame] * (i + 1))
        bg.mark_complete()
    opened = []
    real = Project.background
    monkeypatch.setattr(Project, "background", lambda self, b: opened.append(b) or real(self, b))
    cache = SummaryCache()
    _age(tmp_project.path)
    assert cache.summary(tmp_project) == tmp_project.summary() and len(opened) == 4 + 4  # cache + direct
    opened.clear()
    assert cache.summary(tmp_project)["backgrounds"] == {"bg0": 1, "bg1": 2, "bg2": 3, "bg3": 4} and opened == []
    tmp_project.background("bg1").append_frames([frame] * 2)  # written now: read again, until it settles
    tmp_project.delete("background", "bg3")
    opened.clear()
    assert cache.summary(tmp_project)["backgrounds"] == {"bg0": 1, "bg1": 4, "bg2": 3} and opened == ["bg1"]


def test_model_pickers_offer_the_newest_model_first(make_napari_viewer, tmp_project):
    from dvos_core.train.config import TrainConfig

    tmp_project.add_video_array("v", np.zeros((3, 32, 32, 3), np.uint8), split="train")
    then = time.time() - 60
    # trained in this order: the image model, the synthetic phase, then the real phase (its name sorts first)
    for k, (name, phase) in enumerate((("img", "image"), ("synthetic", "synthetic"), ("real", "real"))):
        d = tmp_project.model_dir(name, create=True)
        (d / "best.pt").write_bytes(b"not read here")
        TrainConfig(phase=phase).to_yaml(d / "config.yaml")
        for f in (d / "best.pt", d / "config.yaml"):
            os.utime(f, (then + k, then + k))
    _viewer, panel = _panel(make_napari_viewer, tmp_project)
    predict, train = panel.step("Predict"), panel.step("Train")
    assert predict.checkpoint.currentText() == "real"  # the model just trained, not the last name alphabetically
    assert [predict.checkpoint.itemText(i) for i in range(predict.checkpoint.count())] == ["real", "synthetic", "img"]
    assert [train.init_from.itemText(i) for i in range(1, train.init_from.count())] == ["real", "synthetic", "img"]


def test_model_pickers_parse_no_config_yaml_again_while_it_is_unchanged(make_napari_viewer, tmp_project, monkeypatch):
    import yaml

    from dvos_core.train.config import TrainConfig

    for name in ("img", "ctx"):
        d = tmp_project.model_dir(name, create=True)
        (d / "best.pt").write_bytes(b"not read here")
        TrainConfig(phase="image" if name == "img" else "real").to_yaml(d / "config.yaml")
    _age(tmp_project.path)
    _viewer, panel = _panel(make_napari_viewer, tmp_project)
    predict = panel.step("Predict")
    panel.step("Train")
    loads = _Counter(yaml.safe_load)
    monkeypatch.setattr(yaml, "safe_load", loads)
    panel.state.notify_store_changed()
    assert loads.calls == 0
    assert predict._models["ctx"].kind == "dvos"
    TrainConfig(phase="real", video_model="context").to_yaml(tmp_project.model_dir("ctx") / "config.yaml")
    panel.state.notify_store_changed()  # changed: read again
    assert loads.calls >= 1 and predict._models["ctx"].kind == "context"


def test_train_starts_the_video_model_from_the_newest_image_model(make_napari_viewer, tmp_project):
    """The user guide: the synthetic phase starts "from the newest image model" (it was the one whose name sorts
    last: an older ``image_v2`` over the ``image_v10`` trained after it)."""
    from dvos_core.train.config import TrainConfig

    then = time.time() - 60
    for k, name in enumerate(("image_v2", "image_v10")):  # image_v10 trained last
        d = tmp_project.model_dir(name, create=True)
        (d / "best.pt").write_bytes(b"not read here")
        TrainConfig(phase="image").to_yaml(d / "config.yaml")
        os.utime(d / "best.pt", (then + k, then + k))
    _viewer, panel = _panel(make_napari_viewer, tmp_project)
    train = panel.step("Train")
    assert train.form.values()["phase"] == "synthetic"
    assert train.init_from.currentText() == "image_v10"


def test_one_look_reads_the_summary_once_for_every_step(tmp_project, monkeypatch):
    """Every step refreshing after one change takes the summary read by the first (no file looked at again); a
    look started inside it (a step that wrote) reads again."""
    import dvos_napari._summary as summary

    project = _season(tmp_project, n_videos=3)
    _age(project.path)
    looked = _Counter(summary.video_signature)
    monkeypatch.setattr(summary, "video_signature", looked)
    cache = summary.SummaryCache()
    with cache.one_look():
        first, counts = cache.summary(project), {}
        first["videos"][0]["split"] = "changed by its caller"
        assert cache.summary(project, counts) == project.summary() and looked.calls == 3
        assert counts == {"plot0": 5, "plot1": 5, "plot2": 0}
        project.video("plot1").set_split("val")  # written, and said so: a look of its own
        with cache.one_look():
            assert cache.summary(project)["videos"][1]["split"] == "val" and looked.calls == 6
        assert cache.summary(project)["videos"][1]["split"] == "val" and looked.calls == 9
    cache.summary(project)
    cache.summary(project)
    assert looked.calls == 15  # outside a look every summary looks at the files


def test_a_summary_read_in_a_worker_thread_is_adopted_without_reading_again(tmp_project):
    import threading

    from dvos_napari._summary import SummaryCache, read_summary

    project = _season(tmp_project, n_videos=3)
    _age(project.path)
    project.video("plot0").set_mask(1, np.ones((32, 32), np.uint8), "manual")  # plot0 written just now
    read, steps = {}, []
    worker = threading.Thread(
        target=lambda: read.update(cache=read_summary(project, progress=lambda *a: steps.append(a[:2])))
    )
    worker.start()
    worker.join()
    assert steps == [(1, 3), (2, 3), (3, 3)] and read["cache"].reads == 3
    cache = SummaryCache()
    cache.adopt(read["cache"])
    assert cache.summary(project) == project.summary()
    assert cache.reads == 1  # plot0 only: its files had not settled, so its row read then is not trusted
