"""dvos_napari pieces that need no display: the lazy frame array, the Labels writer, the reader hook."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")


def test_lazy_frames_index_like_numpy(tmp_project):
    from dvos_napari._lazy import LazyFrames

    frames = np.random.default_rng(0).integers(0, 255, (7, 6, 5, 3), dtype=np.uint8)
    v = tmp_project.add_video_array("v", frames)
    calls = []
    lazy = LazyFrames(lambda t: (calls.append(t), v.frames[t])[1], v.n_frames, (6, 5, 3), np.uint8, cache_size=2)
    assert lazy.shape == frames.shape and lazy.ndim == 4 and lazy.dtype == np.uint8
    np.testing.assert_array_equal(lazy[3], frames[3])
    np.testing.assert_array_equal(lazy[-1, 2:4, :, 1], frames[-1, 2:4, :, 1])
    np.testing.assert_array_equal(lazy[1:6:2], frames[1:6:2])
    np.testing.assert_array_equal(lazy[..., 0], frames[..., 0])
    np.testing.assert_array_equal(np.asarray(lazy), frames)
    calls.clear()
    lazy[2], lazy[2]
    assert calls == [2]  # second read came from the cache
    with pytest.raises(IndexError):
        lazy[7]


def test_lazy_frames_only_show_committed_frames(tmp_project):
    from dvos_napari._lazy import LazyFrames

    v = tmp_project.add_video_array("v", np.zeros((4, 8, 8, 3), np.uint8))
    v.frames.resize((10, 8, 8, 3))  # an uncommitted tail, as after an interrupted append
    assert LazyFrames.from_zarr(v.frames, v.n_frames).shape[0] == 4


def test_lazy_frames_can_be_duplicated_as_a_napari_layer(tmp_project):
    """napari's Duplicate Layer deep-copies the layer's data: a LazyFrames (it holds a lock) raised
    "cannot pickle '_thread.lock' object"; the copy reads the same frames with a lock of its own."""
    import copy

    from napari.components import LayerList
    from napari.layers import Image
    from napari.layers._layer_actions import _duplicate_layer

    from dvos_napari._lazy import LazyFrames

    frames = np.random.default_rng(1).integers(0, 255, (4, 6, 5, 3), dtype=np.uint8)
    v = tmp_project.add_video_array("v", frames)
    lazy = LazyFrames.from_zarr(v.frames, v.n_frames)
    lazy[1]  # something cached
    twin = copy.deepcopy(lazy)
    assert twin is not lazy and twin._lock is not lazy._lock and twin._cache is not lazy._cache
    np.testing.assert_array_equal(twin[1], frames[1])
    np.testing.assert_array_equal(twin[2:4], frames[2:4])
    layers = LayerList([Image(lazy, name="v", rgb=True)])
    layers.selection = {layers[0]}
    _duplicate_layer(layers)
    assert [x.name for x in layers] == ["v", "v copy"]
    np.testing.assert_array_equal(np.asarray(layers["v copy"].data[3]), frames[3])


def test_write_labels_stores_negative_labels_as_heads(tmp_project):
    """A head painted with a negative label (an int16 layer, label -5) was stored as an empty 'manual' mask (the
    writer kept values > 0) and counted as saved; every nonzero label is a head, as the layer shows it."""
    from dvos_napari._writer import save_frames, touching_note, write_labels

    v = tmp_project.add_video_array("plot", np.zeros((4, 16, 16, 3), np.uint8))
    data = np.zeros((4, 16, 16), np.int16)
    data[2, 3:8, 3:8] = -5
    write_labels(str(tmp_project.path), data, {"name": "plot masks", "metadata": {}})
    assert v.provenance.tolist() == [0, 0, 1, 0]
    np.testing.assert_array_equal(v.mask(2), (data[2] != 0).astype(np.uint8))
    data[1, 2:6, 2:6] = -3  # heads of labels -3 and 2 that touch merge in the binary mask, and it is said
    data[1, 6:9, 2:6] = 2
    assert save_frames(v, data, [1]) == [1] and v.mask(1).sum() == 28
    assert "2 heads" in touching_note("plot", data, [1])


def test_write_labels_sets_manual_and_corrected(tmp_project):
    from dvos_napari._writer import write_labels

    v = tmp_project.add_video_array("plot", np.zeros((5, 16, 16, 3), np.uint8))
    pred = np.zeros((16, 16), np.float32)
    pred[2:6, 2:6] = 1
    v.set_mask(3, pred.astype(np.uint8), "pseudo")
    data = np.zeros((5, 16, 16), np.uint8)
    data[1, 4:9, 4:9] = 1  # painted from scratch -> manual
    data[3, 2:8, 2:8] = 2  # pseudo-label edited -> corrected
    write_labels(str(tmp_project.path), data, {"name": "plot masks", "metadata": {}})
    names = dict(enumerate(v.provenance))
    assert names[1] == 1 and names[3] == 4 and names[0] == 0
    np.testing.assert_array_equal(v.mask(3), (data[3] > 0).astype(np.uint8))
    with pytest.raises(ValueError, match="which video"):
        write_labels(str(tmp_project.path), data, {"name": "something else", "metadata": {}})
    data[3, 2:3, 2:3] = 0  # a corrected frame edited again stays 'corrected'
    write_labels(str(tmp_project.path), data, {"name": "plot masks", "metadata": {}})
    assert v.provenance[3] == 4 and v.mask(3)[2, 2] == 0


def test_saving_a_predicted_layer_writes_only_the_edited_frames(tmp_project):
    from dvos_napari._layers import mask_buffer
    from dvos_napari._writer import write_labels

    v = tmp_project.add_video_array("plot", np.zeros((6, 16, 16, 3), np.uint8))
    pred_masks, pred_prob, pred_done = v.predictions.arrays(create=True)
    for t in range(5):  # frames 0-4 predicted (mask, probability, done flag, as predict writes them), frame 5 not
        pred_masks[t, 2:5, 2:5] = 1
        pred_prob[t] = pred_masks[t]
        pred_done[t] = 1
    layer = mask_buffer(v, "predicted")
    layer[3, 8:12, 8:12] = 1  # a person fixes frame 3
    layer[5, 1:4, 1:4] = 1  # and paints the unpredicted frame 5
    layer[1] = 0  # and erases every head of frame 1 (its right answer: none; the save skipped it, unsaid)
    write_labels(str(tmp_project.path), layer, {"name": "plot predicted", "metadata": {"dvos_role": "predicted"}})
    assert v.provenance.tolist() == [0, 4, 0, 4, 0, 4]  # untouched predictions are not turned into labels
    np.testing.assert_array_equal(v.mask(3), layer[3])
    assert v.mask(1) is not None and not v.mask(1).any()


def test_a_masks_layer_renamed_to_end_in_predicted_saves_as_masks(tmp_project):
    """The writer read a layer named '... predicted' as an edited prediction whatever its dvos role: a masks layer
    renamed so was compared with the prediction and its paint stored as an empty 'corrected' mask. Its role
    decides; the name only for a layer without one."""
    from napari_helpers import prediction_set

    from dvos_napari._writer import write_labels

    v = tmp_project.add_video_array("plot", np.zeros((4, 16, 16, 3), np.uint8))
    pred = np.zeros((4, 16, 16), np.uint8)
    pred[:, 2:6, 2:6] = 1
    prediction_set(v, "m", pred)
    data = np.zeros((4, 16, 16), np.uint8)
    data[1, 9:13, 9:13] = 1
    meta = {"name": "plot masks (my) predicted", "metadata": {"dvos_video": "plot", "dvos_role": "masks"}}
    assert write_labels(str(tmp_project.path), data, meta) == [str(tmp_project.path)]
    assert v.provenance.tolist() == [0, 1, 0, 0]  # 'manual', only the painted frame
    np.testing.assert_array_equal(v.mask(1), data[1])
    fixed = pred.copy()  # without a role, the name still tells a predicted layer: the prediction edited
    fixed[2, 0, 0] = 1
    write_labels(str(tmp_project.path), fixed, {"name": "plot predicted", "metadata": {}})
    assert v.provenance.tolist() == [0, 1, 4, 0]


def test_write_labels_says_when_it_saved_nothing(tmp_project):
    """A save that wrote no frame returned the project's path, which napari reports as a success: it says why
    nothing was saved and returns no path (napari's writer contract)."""
    from dvos_napari._writer import write_labels

    v = tmp_project.add_video_array("plot", np.zeros((3, 16, 16, 3), np.uint8))
    data = np.zeros((3, 16, 16), np.uint8)
    meta = {"name": "plot masks", "metadata": {}}
    with pytest.warns(UserWarning, match="nothing was saved to video 'plot'.*no painted frame of it differs"):
        assert write_labels(str(tmp_project.path), data, meta) == []
    data[1, 2:5, 2:5] = 1
    assert write_labels(str(tmp_project.path), data, meta) == [str(tmp_project.path)]
    with pytest.warns(UserWarning, match="nothing was saved"):
        assert write_labels(str(tmp_project.path), data, meta) == []  # saved already
    assert v.provenance.tolist() == [0, 1, 0]


def test_sample_data_needs_no_network(monkeypatch):
    import socket

    from dvos_napari._sample_data import make_sample_data

    def no_network(*args, **kwargs):
        raise AssertionError("the sample data tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    (frames, fmeta, fkind), (masks, _mmeta, mkind) = make_sample_data()
    assert fkind == "image" and mkind == "labels" and fmeta["rgb"]
    assert frames.shape[:3] == masks.shape and frames.shape[-1] == 3 and frames.dtype == np.uint8
    assert 0 < masks.mean() < 0.6  # heads are present but do not fill the frame


def test_reader_hook_claims_projects_videos_and_frame_folders_only(tmp_project, video_avi, tmp_path):
    """A folder of frames dropped on napari was offered to dvos (the manifest accepts folders) and then refused."""
    import cv2

    from dvos_napari._reader import get_reader, read_project, read_video

    assert get_reader(str(tmp_project.path)) is read_project
    assert get_reader(str(video_avi)) is read_video
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("no frames")
    assert get_reader(str(tmp_path / "plain")) is None
    assert get_reader(str(tmp_path / "x.png")) is None
    frames = tmp_path / "frames"
    frames.mkdir()
    for k in (1, 2, 10):  # natural order: 1, 2, 10
        cv2.imwrite(str(frames / f"IMG {k}.png"), np.full((8, 12, 3), 20 * k, np.uint8))
    assert get_reader(str(frames)) is read_video
    ((data, meta, kind),) = read_video(str(frames))
    assert (
        kind == "image" and data.shape == (3, 8, 12, 3) and [int(data[t][0, 0, 0]) for t in range(3)] == [20, 40, 200]
    )
    ((data, meta, kind),) = read_video(str(video_avi))
    assert kind == "image" and meta["rgb"] and data.shape[0] == 40 and data.shape[-1] == 3
    assert type(data).__name__ == "LazyFrames"


def test_core_messages_become_panel_words():
    from dvos_napari._errors import plain_words, user_message

    cases = {
        "ValueError: video 'plot1' has no predictions; run `dvos predict` (or dvos_core.infer.predict_video) first": (
            "run Predict (Predict step)"
        ),
        "device 'cuda' requested but CUDA is not available in this torch build; use --device cpu or auto": (
            "choose the device 'cpu' or 'auto'"
        ),
        "pseudo-labelling needs an image (frame) model; x.pt is a 'dvos' model. Train one with "
        "`dvos train --phase image`": "the Train step",
        "p.dvos: video 'half' is an interrupted import (6 of its frames were written); run `dvos add-video p.dvos "
        "FILE --id half` again to replace it, or delete it (`dvos delete p.dvos video half --yes`)": (
            "add the video again under the id 'half' ('Add a video' in the Project step) to replace it, or delete it "
            "(Delete... in the Project step)"
        ),
        "models/a: holds an unfinished run with different settings (lr); pass --no-resume (resume=False) to start "
        "over, or choose another --name": "give the run another model name",
        "the clip is 40 frames long, shorter than the clip length 60; use a longer video or a shorter --clip-length": (
            "a shorter clip length"
        ),
        "no training samples: make one a training video (`dvos split p.dvos train plot1`)": (
            "('set split' in the Project step)"
        ),
        "p.dvos: holds a synthetic set 'synthetic' (2 of 2 clips) that this run cannot continue: train on it "
        "(--synthetic-set synthetic), or give the run a name (--name) so that it makes a set of its own": (
            "train on it (choose it under 'synthetic clips'), or give a run name so that"
        ),
        "--replace cut no heads (3 blobs under --min-area 16 px)": "under 'smallest head (px)' 16 px",
    }
    for raw, expected in cases.items():
        text = plain_words(raw)
        assert expected in text, text
        assert "--" not in text and "`" not in text and "dvos_core" not in text and "Error:" not in text, text
    busy = user_message(
        "p.dvos is being written by process 12 on vm (`dvos predict p.dvos m1 --videos a`, predict_video, since "
        "10:00). Let it finish, then run this again, or queue behind it with --wait (Python: wait=True); reading "
        "the project is not blocked"
    ).text
    assert busy.startswith("p.dvos is being written by process 12 on vm (`dvos predict p.dvos m1 --videos a`")
    assert "then try again" in busy and "wait" not in busy.replace("Wait until", "") and "panel" not in busy
    msg = user_message(KeyError("no video 'x'; videos are ['a']"))
    assert msg.text == "no video 'x'; videos are ['a']" and msg.details.startswith("KeyError")
    assert "please report it" in user_message(TypeError("bad operand")).text
    assert "lower the batch size" in user_message(RuntimeError("CUDA out of memory. Tried ...")).text


def test_workflow_status_marks_done_steps_and_the_next_one(tmp_project):
    from dvos_napari._steps import STEPS, next_step, workflow_status

    status = workflow_status(None)
    assert not any(s.done for s in status.values()) and next_step(status) == "Project"
    v = tmp_project.add_video_array("plot", np.zeros((4, 16, 16, 3), np.uint8), split="train")
    status = workflow_status(tmp_project)
    assert status["Project"].done and not status["Annotate"].done and next_step(status) == "Annotate"
    v.set_mask(1, np.eye(16, dtype=np.uint8), "manual")
    status = workflow_status(tmp_project)
    assert status["Annotate"].done and "1 frame(s) painted" in status["Annotate"].note
    assert next_step(status) == "Extract" and list(status) == list(STEPS)


def test_test_videos_masks_and_unfinished_models_do_not_mark_steps_done(tmp_project):
    """Painted frames of test videos only score, and a run stopped before its first checkpoint left no model to
    predict with: both marked their step done, and the suggested step jumped past what was still to do."""
    from dvos_napari._steps import next_step, workflow_status

    v = tmp_project.add_video_array("exam", np.zeros((4, 16, 16, 3), np.uint8), split="test")
    v.set_mask(1, np.eye(16, dtype=np.uint8), "manual")
    status = workflow_status(tmp_project)
    assert not status["Annotate"].done and next_step(status) == "Annotate"
    assert "(and 1 in test videos, which only score)" in status["Annotate"].note
    d = tmp_project.model_dir("half", create=True)
    (d / "last.pt").write_bytes(b"x")
    status = workflow_status(tmp_project)
    assert not status["Train"].done and "stopped before their first checkpoint: half" in status["Train"].note
    (d / "best.pt").write_bytes(b"x")
    assert workflow_status(tmp_project)["Train"].done


def test_saving_a_predicted_layer_compares_with_the_model_it_shows(tmp_project):
    """A layer showing model 'first' (not the most recent set) writes only the frames edited away from 'first'."""
    from dvos_napari._layers import mask_buffer
    from dvos_napari._writer import write_labels

    v = tmp_project.add_video_array("plot", np.zeros((4, 16, 16, 3), np.uint8))
    for name, (y, x) in (("first", (2, 2)), ("second", (9, 9))):
        p = np.zeros((4, 16, 16), np.float32)
        p[:, y : y + 4, x : x + 4] = 1
        v.predictions[name].start({"kind": "test"}, None)
        v.predictions[name].set_many(range(4), p)
    assert v.predictions.latest().model == "second"
    layer = mask_buffer(v, "predicted", model="first")
    assert layer[0, 3, 3] == 1 and layer[0, 10, 10] == 0
    layer[1, 0, 0] = 1  # a person fixes frame 1 of 'first'
    meta = {"name": "plot predicted", "metadata": {"dvos_role": "predicted", "dvos_model": "first"}}
    write_labels(str(tmp_project.path), layer, meta)
    assert v.provenance.tolist() == [0, 4, 0, 0]  # the untouched frames of 'first' are not labels
    np.testing.assert_array_equal(v.mask(1), layer[1])
    # a frame a person painted is not replaced by saving the predicted layer (File > Save Selected Layer)
    painted = np.zeros((16, 16), np.uint8)
    painted[12:15, 12:15] = 1
    v.set_mask(2, painted, "manual")
    layer[2, 0, 0] = 1
    with pytest.warns(UserWarning, match=r"frames \[2\] hold masks painted by a person"):
        write_labels(str(tmp_project.path), layer, meta)
    assert v.provenance[2] == 1 and np.array_equal(v.mask(2), painted)
