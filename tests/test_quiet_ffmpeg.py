"""A damaged video file gets dvos's one-line error, without FFmpeg's and OpenCV's own log lines around it (unless
the user asks for them with DVOS_DEBUG=1)."""

import os
import subprocess
import sys

import cv2
import numpy as np


def _truncated_mp4(tmp_path):
    path = tmp_path / "cut.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for k in range(20):
        w.write(np.full((48, 64, 3), k * 10, np.uint8))
    w.release()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # a recording cut off: no moov atom
    return path


def _add(tmp_path, video, **env):
    subprocess.run([sys.executable, "-m", "dvos_core.cli", "new", str(tmp_path / "p.dvos")], check=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCV_", "DVOS_DEBUG"))}
    cmd = [sys.executable, "-m", "dvos_core.cli", "add-video", str(tmp_path / "p.dvos"), str(video)]
    return subprocess.run(cmd, capture_output=True, text=True, env={**clean, **env})


def test_a_damaged_video_gets_one_error_without_ffmpegs_log_lines(tmp_path):
    r = _add(tmp_path, _truncated_mp4(tmp_path))
    assert r.returncode == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "cannot open this video" in lines[0], r.stderr


def test_dvos_debug_keeps_them(tmp_path):
    r = _add(tmp_path, _truncated_mp4(tmp_path), DVOS_DEBUG="1")
    assert r.returncode == 2 and "moov atom not found" in r.stderr


def test_opencv_before_4_13_is_quieted_through_its_own_call(monkeypatch):
    """``cv2.utils.logging`` came with OpenCV 4.13: on 4.8-4.12 (which the dependency range allows) every video
    read stopped with an AttributeError; those versions have ``cv2.setLogLevel``."""
    from dvos_core.io.readers import quiet_opencv_video

    for name in ("OPENCV_LOG_LEVEL", "DVOS_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    set_to = []
    monkeypatch.setattr(cv2, "utils", type("utils", (), {})(), raising=False)  # no logging module
    monkeypatch.setattr(cv2, "setLogLevel", set_to.append, raising=False)
    assert quiet_opencv_video() is cv2 and set_to == [2]


def test_dvos_debug_0_is_off_for_the_log_lines_as_for_the_traceback(tmp_path):
    """`DVOS_DEBUG=0` let FFmpeg's lines through (any value counted) while the traceback took it as off."""
    r = _add(tmp_path, _truncated_mp4(tmp_path), DVOS_DEBUG="0")
    assert r.returncode == 2 and "moov atom not found" not in r.stderr and "Traceback" not in r.stderr
