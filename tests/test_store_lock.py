"""The store's writer lock: one writing process at a time, a clear error naming the holder or a wait, readers never
blocked, locks of killed processes never stale, re-entrant within a process."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from dvos_core.store import Project, StoreError
from dvos_core.store.lock import HOLDER_NAME, StoreBusyError, writer_lock

HOLDER = textwrap.dedent("""
    import sys
    from dvos_core.store import Project
    p = Project.open(sys.argv[1])
    with p.writing(operation="test holder"):
        print("holding", flush=True)
        sys.stdin.read()  # until the test closes our stdin
""")


def _env():
    return {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _start(script, *args):
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    line = proc.stdout.readline()
    assert line.strip() == "holding", proc.stderr.read()
    return proc


def _frames(n, hw=(8, 10)):
    return np.stack([np.full((*hw, 3), 10 * k, np.uint8) for k in range(n)])


def _crop():
    return np.full((3, 4, 4), 9, np.uint8)


def test_second_writer_gets_an_error_naming_the_holder_and_readers_are_not_blocked(tmp_project):
    tmp_project.add_video_array("v", _frames(3))
    holder = _start(HOLDER, tmp_project.path)
    try:
        with pytest.raises(
            StoreBusyError, match=rf"test.dvos is being written by process {holder.pid} on .*test holder"
        ):
            tmp_project.objects.add([(_crop(), {"kind": "head"})])
        with pytest.raises(StoreBusyError, match="--wait"):
            tmp_project.video("v").set_mask(0, np.ones((8, 10), np.uint8))
        t0 = time.monotonic()
        with pytest.raises(StoreBusyError, match="after waiting 0.3 s"):
            tmp_project.delete_video("v", wait=0.3)
        assert time.monotonic() - t0 >= 0.3
        ro = Project.open(tmp_project.path, mode="r")  # reading is never blocked
        assert ro.summary()["videos"][0]["frames"] == 3 and ro.video("v").read_frames().shape == (3, 8, 10, 3)
        assert len(tmp_project.objects) == 0 and tmp_project.video("v").mask(0) is None
    finally:
        holder.communicate("")
    tmp_project.objects.add([(_crop(), {"kind": "head"})])  # free again
    assert len(tmp_project.objects) == 1
    assert not (tmp_project.path / HOLDER_NAME).exists()


def test_a_waiting_writer_goes_ahead_when_the_holder_finishes(tmp_project):
    import inspect

    from dvos_core.io import import_masks

    holder = _start(HOLDER, tmp_project.path)
    threading.Timer(0.5, holder.communicate, args=("",)).start()
    t0 = time.monotonic()
    with tmp_project.writing(wait=True):
        waited = time.monotonic() - t0
        tmp_project.objects.add([(_crop(), {"kind": "head"})])
    assert waited >= 0.4 and len(tmp_project.objects) == 1
    assert "wait" in inspect.signature(import_masks).parameters  # every @writes_store function takes wait=


def test_lock_of_a_killed_process_is_not_stale(tmp_project):
    holder = _start(HOLDER, tmp_project.path)
    assert f'"pid": {holder.pid}' in (tmp_project.path / HOLDER_NAME).read_text()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    tmp_project.objects.add([(_crop(), {"kind": "head"})])  # no wait needed: the OS dropped the lock
    assert len(tmp_project.objects) == 1


def test_lock_is_reentrant_within_the_process_and_across_its_threads(tmp_project):
    errors = []

    def worker():
        try:
            tmp_project.objects.add([(_crop(), {"kind": "fake"})])
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(e)

    with tmp_project.writing(), tmp_project.writing():
        tmp_project.objects.add([(_crop(), {"kind": "head"})])
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert writer_lock(tmp_project.path).held
    assert not errors and tmp_project.objects.count("head") == 1 and tmp_project.objects.count("fake") == 1
    assert not writer_lock(tmp_project.path).held


def test_read_only_handles_cannot_write(tmp_project):
    ro = Project.open(tmp_project.path, mode="r")
    with pytest.raises(StoreError, match="opened read-only"):
        ro.writing()
    with pytest.raises(StoreError, match="read-only"):
        ro.objects.add([(_crop(), {"kind": "head"})])


IMPORT_SLOWLY = textwrap.dedent("""
    import sys, time
    from dvos_core.store import Project
    from dvos_core.io import import_video
    p = Project.open(sys.argv[1])
    told = []
    def progress(done, total, msg):
        if not told:
            told.append(1)
            print("holding", flush=True)
        time.sleep(0.05)
    v = import_video(p, sys.argv[2], video_id="plot", batch=1, progress=progress)
    print(len(v), v.import_complete, flush=True)
""")


def test_second_import_of_the_same_id_does_not_delete_a_running_import(tmp_project, video_avi):
    from dvos_core.io import import_video

    first = _start(IMPORT_SLOWLY, tmp_project.path, video_avi)
    try:
        assert not tmp_project.video("plot").import_complete  # it is running
        with pytest.raises(StoreBusyError, match=f"process {first.pid}.*import_video"):
            import_video(tmp_project, video_avi, video_id="plot")
        with pytest.raises(ValueError, match="'plot' already exists"):
            import_video(tmp_project, video_avi, video_id="plot", wait=True)  # queued behind it
    finally:
        out, err = first.communicate()
    assert first.returncode == 0, err
    assert out.split() == ["40", "True"]
    v = tmp_project.video("plot")
    assert v.import_complete and len(v) == 40


def _labelled_project(path, n_frames=6):
    from dvos_core.demo import FieldSpec, render_field

    frames, gt = render_field(FieldSpec(n_frames=n_frames, height=64, width=64, n_heads=6), seed=3)
    p = Project.create(path)
    v = p.add_video_array("plot", frames, split="train")
    for t in range(n_frames):
        v.set_mask(t, gt[t], "manual")
    return p


def test_two_extract_objects_at_once_lose_no_heads(tmp_path):
    from dvos_core.extract import extract_heads

    reference = _labelled_project(tmp_path / "ref.dvos")
    expected = extract_heads(reference, fakes_per_head=1).attrs["heads"]
    assert expected > 0
    p = _labelled_project(tmp_path / "two.dvos")
    cmd = [sys.executable, "-m", "dvos_core.cli", "extract-objects", str(p.path), "--fakes-per-head", "1"]
    runs = [
        subprocess.Popen(cmd + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        for extra in ([], ["--wait"], [])
    ]
    results = [(r.wait(), r.stderr.read()) for r in runs]
    assert results[1][0] == 0, results[1][1]  # the waiting one always finishes
    for rc, err in results:
        assert rc == 0 or (rc == 2 and "is being written by" in err), err  # (its holder may not have named itself yet)
    bank = Project.open(p.path, mode="r").objects
    table = bank.table()
    heads = table[table["kind"] == "head"]
    assert len(heads) == expected  # every head once: none lost, none doubled
    assert len(table) == len(bank) and sorted(table["id"]) == list(range(len(table)))


def test_ranks_of_a_torchrun_job_write_under_rank_0s_lock(tmp_project):
    script = (
        "import sys, numpy as np\n"
        "from dvos_core.store import Project\n"
        "Project.open(sys.argv[1]).objects.add([(np.full((3, 4, 4), 9, np.uint8), {'kind': 'head'})])\n"
    )
    with tmp_project.writing():  # rank 0 of the job holds it
        for env, ok in (({"WORLD_SIZE": "2", "RANK": "1"}, True), ({}, False)):
            r = subprocess.run(
                [sys.executable, "-c", script, str(tmp_project.path)],
                capture_output=True,
                text=True,
                env={**_env(), **env},
            )
            assert (r.returncode == 0) == ok, r.stderr
            assert ok or "is being written by process" in r.stderr
    assert len(tmp_project.objects) == 1


def test_every_writing_function_takes_the_project_or_its_path(tmp_path):
    """import_video, import_masks, extract_heads, extract_backgrounds and pseudo_label failed with a raw
    AttributeError ('str' object has no attribute 'video_ids') on a path, where generate, train and predict took
    one: each opens it now, as the others do."""
    import cv2
    from stub_models import BrightIsHead

    from dvos_core.extract import extract_heads
    from dvos_core.infer import pseudo_label
    from dvos_core.io import import_masks, import_video
    from dvos_core.store import Project

    frames = np.full((4, 32, 40, 3), 30, np.uint8)
    frames[:, 8:20, 10:22] = 220
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, f in enumerate(frames):
        cv2.imwrite(str(folder / f"f{t:03d}.png"), f)
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((32, 40), np.uint8)
    m[8:20, 10:22] = 255
    cv2.imwrite(str(masks / "v_000000.png"), m)
    path = str(Project.create(tmp_path / "p.dvos").path)
    assert import_video(path, folder, video_id="v").name == "v"
    import_masks(path, "v", masks)
    assert extract_heads(path, ["v"], fakes_per_head=0).attrs["heads"] == 1
    pseudo_label(tmp_path / "p.dvos", "v", (BrightIsHead(), {}), device="cpu", n_passes=1)
    counts = Project.open(path, "r").video("v").provenance_counts()
    assert (counts["manual"], counts["pseudo"]) == (1, 3)


def test_the_holder_of_python_m_dvos_core_cli_reads_as_dvos(monkeypatch):
    """``python -m dvos_core.cli predict ...`` (and torchrun -m) has the package's __main__.py as argv[0]: the lock
    message named the holder `__main__.py predict ...`."""
    from pathlib import Path

    import dvos_core.cli
    from dvos_core.store.lock import process_record

    main_py = str(Path(dvos_core.cli.__file__).with_name("__main__.py"))
    monkeypatch.setattr(sys, "argv", [main_py, "predict", "p.dvos", "image"])
    assert process_record("predict")["command"] == "dvos predict p.dvos image"
    monkeypatch.setattr(sys, "argv", ["/usr/bin/dvos", "train", "p.dvos"])
    assert process_record()["command"] == "dvos train p.dvos"
    monkeypatch.setattr(sys, "argv", ["/x/other/__main__.py", "a"])
    assert process_record()["command"] == "python -m other a"
    monkeypatch.setattr(sys, "argv", ["/usr/bin/dvos", "train", "my field's $x.dvos"])  # pasted as it is shown
    assert process_record()["command"] == """dvos train 'my field'"'"'s $x.dvos'"""
