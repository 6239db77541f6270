"""The overlay video: every frame written, heads outlined (specks left out), never a half-written file."""

import cv2
import numpy as np
import pytest

from dvos_core.io import write_overlay_video
from dvos_core.io.overlay_video import OUTLINE_RGB, draw_overlay
from dvos_core.progress import Cancelled, CancelToken


def _orange(img_bgr: np.ndarray) -> np.ndarray:
    """Where a decoded (BGR) frame shows the outline colour (codecs blur it a little)."""
    b, g, r = (img_bgr[..., i].astype(int) for i in range(3))
    return (r > 180) & (g > 80) & (g < 200) & (b < 90)


def _read_all(path):
    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(f)


@pytest.fixture
def video(tmp_project):
    frames = np.full((7, 45, 61, 3), 40, np.uint8)  # dark grey: no orange anywhere but the outlines
    return tmp_project.add_video_array("plot", frames)


def test_draw_overlay_outlines_heads_and_leaves_specks_out():
    frame = np.full((120, 160, 3), 40, np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    mask[40:80, 30:70] = 1  # a head
    mask[100, 140] = 1  # a speck below min_area
    out = draw_overlay(frame, mask, "plot  frame 0  heads 1", min_area=16)
    orange = np.all(out == OUTLINE_RGB, axis=-1) | (
        (out[..., 0] > 180) & (out[..., 1] > 80) & (out[..., 1] < 200) & (out[..., 2] < 90)
    )
    assert orange[40:80, 30].any() and orange[40, 30:70].any()  # the head's edge
    assert not orange[50:70, 40:60].any()  # not its inside
    assert not orange[95:106, 135:146].any()  # the speck is not outlined
    assert (out[:10, :40] != 40).any()  # the text band
    assert np.array_equal(draw_overlay(frame, None, "x")[60:, :], frame[60:, :])  # no mask: the frame itself


def test_labels_and_predictions_make_whole_videos(tmp_project, video, tmp_path):
    m = np.zeros((45, 61), np.uint8)
    m[10:30, 15:40] = 1
    video.set_mask(2, m, "manual")
    done = write_overlay_video(tmp_project, "plot", tmp_path / "labels.mp4")  # the stored masks, as the command
    assert done["frames"] == 7 and done["with_masks"] == 1 and done["fps"] == 10.0
    assert done["size"] == [360, 488]  # 45 x 61 enlarged 8 times so that its text reads
    frames = _read_all(tmp_path / "labels.mp4")
    assert len(frames) == 7 and frames[0].shape == (360, 488, 3)
    assert _orange(frames[2]).sum() > 200 and _orange(frames[3]).sum() == 0  # only frame 2 has a mask
    with pytest.raises(ValueError, match="has no predictions yet; predict it first"):
        write_overlay_video(tmp_project, "plot", tmp_path / "p.mp4", which="predictions")
    p = np.zeros((45, 61), np.float32)
    p[5:20, 5:20] = 0.9
    video.predictions["image"].start({"kind": "test"}, None)
    video.predictions["image"].set(4, p)
    done = write_overlay_video(tmp_project, "plot", tmp_path / "p.avi", which="predictions", fps=5)
    assert done["with_masks"] == 1 and done["masks"] == "predictions of 'image'" and done["fps"] == 5
    frames = _read_all(tmp_path / "p.avi")
    assert len(frames) == 7 and _orange(frames[4]).sum() > 100 and _orange(frames[2]).sum() == 0
    with pytest.raises(ValueError, match=r"no predictions by 'dvos' \(its predictions: \['image'\]\)"):
        write_overlay_video(tmp_project, "plot", tmp_path / "q.mp4", which="predictions", model="dvos")
    for fps in (0, -5, float("inf"), float("nan"), 1e-6, 1e5):  # inf hung the writer, the rest failed late
        with pytest.raises(ValueError, match="fps must be between 0.01 and 1000 frames per second"):
            write_overlay_video(tmp_project, "plot", tmp_path / "q.mp4", which="labels", fps=fps)
    with pytest.raises(ValueError, match=r"\.mp4 or \.avi"):
        write_overlay_video(tmp_project, "plot", tmp_path / "q.gif", which="labels")
    assert not (tmp_path / "p.mp4").exists() and not (tmp_path / "q.mp4").exists()


def test_a_stopped_export_leaves_no_file_and_keeps_an_earlier_one(tmp_project, video, tmp_path):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "v.mp4"
    target.write_bytes(b"an earlier export")
    token = CancelToken()

    def stop_after_first_chunk(done, total, msg):
        token.cancel()

    tmp_project.add_video_array("long", np.full((40, 32, 32, 3), 40, np.uint8))
    with pytest.raises(Cancelled):
        write_overlay_video(tmp_project, "long", target, which="labels", progress=stop_after_first_chunk, cancel=token)
    assert target.read_bytes() == b"an earlier export" and [p.name for p in target.parent.iterdir()] == ["v.mp4"]


def test_the_command_line_writes_it(tmp_project, video, tmp_path, capsys):
    from dvos_core.cli import main

    m = np.zeros((45, 61), np.uint8)
    m[10:30, 15:40] = 1
    video.set_mask(0, m, "manual")
    out = tmp_path / "sub" / "plot.mp4"
    assert main(["export-video", str(tmp_project.path), "plot", str(out), "--fps", "12"]) == 0
    assert "wrote 7 frames (1 with stored masks) at 12 fps" in capsys.readouterr().out
    assert len(_read_all(out)) == 7
    assert main(["export-video", str(tmp_project.path), "plot", str(out), "--model", "image"]) == 2
    assert "add --predictions" in capsys.readouterr().err


def test_odd_and_thin_videos_come_out_at_the_size_said(tmp_project, tmp_path):
    """Odd sides get a one-pixel edge (the size returned is the size written); a thin strip is enlarged only up to
    a long side the codec takes."""
    tmp_project.add_video_array("odd", np.full((3, 361, 363, 3), 40, np.uint8))
    done = write_overlay_video(tmp_project, "odd", tmp_path / "o.mp4", which="labels")
    assert done["size"] == [362, 364] and _read_all(tmp_path / "o.mp4")[0].shape == (362, 364, 3)
    tmp_project.add_video_array("strip", np.full((2, 7, 200, 3), 40, np.uint8))
    done = write_overlay_video(tmp_project, "strip", tmp_path / "s.mp4", which="labels")
    assert done["size"] == [140, 4000] and len(_read_all(tmp_path / "s.mp4")) == 2


def test_never_written_into_the_project_over_footage_or_onto_a_folder(tmp_project, tmp_path):
    """An export path inside the project (its metadata), equal to a video's source footage, or naming a folder is
    refused before any work; a recorded frame rate the writers cannot take falls back to 10."""
    from dvos_core.io import import_video

    source = tmp_path / "plot.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(4):
        writer.write(np.full((48, 64, 3), 40 + 10 * i, np.uint8))
    writer.release()
    import_video(tmp_project, source, "plot")
    before = source.read_bytes()
    meta = tmp_project.path / "zarr.json"
    kept = meta.read_bytes()
    with pytest.raises(ValueError, match="lies inside the project folder"):
        write_overlay_video(tmp_project, "plot", meta.with_suffix(".mp4"), which="labels")
    with pytest.raises(ValueError, match="is the file video 'plot' was imported from"):
        write_overlay_video(tmp_project, "plot", source, which="labels")
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(ValueError, match="is a folder; give a file name"):
        write_overlay_video(tmp_project, "plot", tmp_path / "dir.mp4", which="labels")
    (tmp_path / "file").write_text("x")
    with pytest.raises(PermissionError, match="cannot create the output folder, .*file is a file"):
        write_overlay_video(tmp_project, "plot", tmp_path / "file" / "v.mp4", which="labels")
    assert source.read_bytes() == before and meta.read_bytes() == kept
    assert not list(tmp_project.path.glob("*.mp4"))
    tmp_project.video("plot").update_attrs(fps=-5.0)  # e.g. a bad --fps recorded before it was checked
    done = write_overlay_video(tmp_project, "plot", tmp_path / "ok.mp4", which="labels")
    assert done["fps"] == 10.0 and len(_read_all(tmp_path / "ok.mp4")) == 4


def test_a_cancelled_export_says_no_video_was_written(tmp_project, tmp_path, monkeypatch, capsys):
    """Ctrl+C during `dvos export-video` said "everything committed before the cancel is kept", where nothing of the
    video is kept (the partial file is removed)."""
    import dvos_core.io as dio
    from dvos_core.cli import main

    tmp_project.add_video_array("plot", np.zeros((2, 16, 16, 3), np.uint8))

    def stopped(*args, **kwargs):
        raise Cancelled("cancelled by user")

    monkeypatch.setattr(dio, "write_overlay_video", stopped)
    out = tmp_path / "o.mp4"
    assert main(["export-video", str(tmp_project.path), "plot", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"no video was written to {out}" in err and "committed before the cancel is kept" not in err
