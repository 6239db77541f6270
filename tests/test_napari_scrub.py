"""A long, large video in the dvos panel: what scrubbing, switching videos and showing predictions hold in memory.

The viewer tests run under a real X server (``xvfb-run -a -s "-screen 0 1280x1024x24"``).
"""

from __future__ import annotations

import gc
import os
import weakref

import numpy as np
import pytest
from napari_helpers import prediction_set, wait_loaded

pytest.importorskip("napari")
needs_display = pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")


def _project(tmp_path, n=6, size=32):
    from dvos_core.store import Project

    p = Project.create(tmp_path / "p.dvos")
    rng = np.random.default_rng(0)
    a = p.add_video_array("a", rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8))
    a.set_mask(1, np.eye(size, dtype=np.uint8), "manual")
    prediction_set(a, "m", np.tile(np.eye(size, dtype=np.float32), (n, 1, 1)))
    p.add_video_array("b", rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8))
    return p


@pytest.mark.gui
@needs_display
def test_switching_videos_frees_the_mask_buffers_of_the_video_left(make_napari_viewer, qtbot, tmp_path):
    """napari keeps every worker it ran (its task list holds each one's quit method, hence its arguments and its
    finished callbacks): a mask read must not pin its (T,H,W) buffer or its layer there, or each visit to a long
    video leaves two full-length buffers (1.2 GB temporary files at 600x1080x1920) behind."""
    from dvos_napari._state import get_state

    p = _project(tmp_path)
    viewer = make_napari_viewer()
    state = get_state(viewer)
    state.open_project(p.path)
    state.select_video("a")
    wait_loaded(qtbot, state)
    assert viewer.layers["a masks"].data[1].any() and viewer.layers["a predicted"].data.any()
    buffers = [weakref.ref(viewer.layers[name].data) for name in ("a masks", "a predicted")]
    predicted = viewer.layers["a predicted"]
    state.select_video("b")
    wait_loaded(qtbot, state)
    qtbot.wait(50)
    gc.collect()
    assert [ref() is None for ref in buffers] == [True, True]  # (the canvas's slice of a hidden layer held one)
    # the predicted layer is set aside for the next predictions shown (a removal costs napari a garbage collection):
    # hidden, and blank, its buffer freed
    assert predicted in viewer.layers and not predicted.visible and predicted.data.strides == (0, 0, 0)


@pytest.mark.gui
@needs_display
def test_the_3d_view_of_a_video_too_large_for_it_is_refused_before_reading(make_napari_viewer, monkeypatch, tmp_path):
    """napari's 3D view asks the lazy frames for every frame at once: 600 frames of 1080x1920 is 3.7 GB (7 GB while
    they were stacked), 15 s and more of a frozen window, or out of memory. Above the limit it is refused, naming the
    video and the way back to 2D, before a frame is read (the masks layers above are not read either); 2D goes on
    working, and a small video still shows in 3D."""
    from dvos_napari import _lazy
    from dvos_napari._state import get_state

    p = _project(tmp_path, n=8)
    viewer = make_napari_viewer()
    state = get_state(viewer)
    state.open_project(p.path)
    state.select_video("a")
    image = viewer.layers["a"]
    image.data._cache.clear()
    reads: list[int] = []
    get = image.data._get
    image.data._get = lambda t: (reads.append(int(t)), get(t))[1]
    monkeypatch.setattr(_lazy, "MAX_READ_BYTES", 4 * 32 * 32 * 3)  # 4 frames of this video
    with pytest.raises(_lazy.TooLargeRead, match=r"8 frames of video 'a'.*back to 2D"):
        viewer.dims.ndisplay = 3
    assert reads == [] and viewer.layers["a masks"]._slice.image.raw.ndim == 2
    viewer.dims.ndisplay = 2
    viewer.dims.set_current_step(0, 5)
    assert reads[-1] == 5 and len(reads) <= 3, reads  # back in 2D: a frame at a time
    np.testing.assert_array_equal(image._slice.image.raw, p.video("a").frames[5])
    monkeypatch.setattr(_lazy, "MAX_READ_BYTES", 1 << 30)
    viewer.dims.ndisplay = 3
    assert image._slice.image.raw.shape[0] == 8


def test_a_request_for_too_many_frames_is_refused_before_reading(monkeypatch):
    """The lazy frames themselves refuse a slice above the limit (napari's 3D view of a video opened by the reader,
    with no dvos step open), naming the video and the way back to 2D; code asking for the whole array gets it."""
    from dvos_napari import _lazy

    reads: list[int] = []
    lazy = _lazy.LazyFrames(lambda t: (reads.append(t), np.full((4, 5, 3), t, np.uint8))[1], 8, (4, 5, 3), np.uint8)
    lazy.name = "video 'plot1'"
    monkeypatch.setattr(_lazy, "MAX_READ_BYTES", 4 * 4 * 5 * 3)
    with pytest.raises(_lazy.TooLargeRead, match=r"8 frames of video 'plot1'.*back to 2D"):
        lazy[:]
    assert reads == []
    assert lazy[2:6].shape == (4, 4, 5, 3) and reads == [2, 3, 4, 5]  # within the limit: read
    assert np.asarray(lazy).shape == (8, 4, 5, 3)


def test_reading_many_frames_holds_them_once():
    """``np.asarray`` of a lazy video (the Project step's 'add layer' of a video opened in napari) used to gather the
    frames in a list and stack them: twice the video in memory (7.4 GB for 600 frames of 1080x1920). The frames go
    straight into the result."""
    import tracemalloc

    from dvos_napari._lazy import LazyFrames

    n, shape = 60, (40, 50, 3)
    lazy = LazyFrames(lambda t: np.full(shape, t % 251, np.uint8), n, shape, np.uint8, cache_size=2)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = np.asarray(lazy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == (n, *shape) and [int(f[0, 0, 0]) for f in out] == list(range(n))
    assert lazy[5:9][:, 0, 0, 0].tolist() == [5, 6, 7, 8] and lazy[[3, 1]][:, 0, 0, 0].tolist() == [3, 1]
    assert lazy[7:3].shape == (0, *shape) and lazy[::20, :2].shape == (3, 2, 50, 3)
    assert peak < 1.3 * out.nbytes, (peak, out.nbytes)


def test_adding_a_lazy_layer_as_a_video_reads_one_frame_at_a_time(tmp_path):
    """The Project step's "add layer" of a video opened with File > Open (a lazy layer) stored it through
    ``np.asarray``: the whole video in memory at once (3.7 GB for 600 HD frames). Frames are read one by one now, and
    a grey float layer is still made RGB uint8."""
    from dvos_core.store import Project
    from dvos_napari._lazy import LazyFrames
    from dvos_napari.docks.project import add_layer_frames

    rng = np.random.default_rng(1)
    clip = rng.integers(0, 255, (7, 12, 16, 3), dtype=np.uint8)
    asked = []

    def get(t):
        asked.append(t)
        return clip[t]

    class NeverWhole(LazyFrames):
        def __array__(self, dtype=None, copy=None):
            pytest.fail("the whole video was read at once")

    lazy = NeverWhole(get, 7, (12, 16, 3), np.uint8)
    p = Project.create(tmp_path / "p.dvos")
    video = add_layer_frames(p, "v", lazy, True, "v", "train", {})
    np.testing.assert_array_equal(video.read_frames(), clip)
    assert sorted(set(asked)) == list(range(7))
    grey = rng.random((3, 12, 16)).astype(np.float32)
    g = add_layer_frames(p, "g", grey, False, "g", "train", {})
    assert g.read_frames().dtype == np.uint8 and g.read_frames().shape == (3, 12, 16, 3)


@pytest.mark.gui
@needs_display
def test_a_finished_job_frees_what_it_was_given(make_napari_viewer, qtbot, tmp_path):
    """napari keeps every worker it ran, and with a thread job its arguments: after "add layer" the layer's frames
    (a whole video, for an in-memory layer) stayed pinned after the layer was deleted."""
    from napari_helpers import dock, wait_job

    from dvos_core.store import Project

    viewer = make_napari_viewer()
    prj = dock(viewer, "Project")
    prj.state.set_project(Project.create(tmp_path / "p.dvos"))
    frames = np.random.default_rng(0).integers(0, 255, (4, 24, 32, 3), dtype=np.uint8)
    layer = viewer.add_image(frames, name="clip", rgb=True)
    held = weakref.ref(layer.data)
    del frames
    job = prj.add_layer(layer, split="train")
    wait_job(qtbot, job)
    # stored under its own name: the layer made way for the stored video's (no two layers named 'clip')
    assert not any(x is layer for x in viewer.layers)
    assert [x.name for x in viewer.layers] == ["clip", "clip masks"]
    del layer
    qtbot.wait(50)
    gc.collect()
    assert held() is None
    assert prj.state.project.video("clip").n_frames == 4
