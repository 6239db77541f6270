"""dvos_core.jobs: a core call in a child process reports progress and events, returns its result, stops on cancel,
keeps the error's type and traceback, ends on kill, takes store handles by path and needs no main guard."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import slow_to_import

from dvos_core.jobs import Event, JobError, JobProcess, Outcome, Progress, Warned
from dvos_core.progress import Cancelled, CancelToken


# ---- targets (module level: the child imports them from this file) -----------------------------------------------
def add_up(n, progress=None, cancel=None, on_event=None):
    total = 0
    for i in range(n):
        cancel.check()
        total += i
        if on_event is not None:
            on_event({"i": i})
        progress(i + 1, n, f"item {i}")
    return {"sum": total, "pid": os.getpid()}


def wait_for_cancel(progress=None, cancel=None):
    progress(0, 1, "waiting")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        cancel.check()
        time.sleep(0.01)
    return "never cancelled"


def ignore_cancel(progress=None, cancel=None):
    progress(0, 1, "busy")
    time.sleep(60)


def fail(progress=None, cancel=None):
    raise ValueError("frame 7 of plot1.mp4 is damaged")


def paint_frame(video, t, progress=None, cancel=None):
    video.set_mask(t, np.eye(video.shape[1], dtype=np.uint8), "manual")
    return video


def warn_some(progress=None, cancel=None):
    import warnings

    warnings.warn("footage stored dark", UserWarning, stacklevel=1)
    warnings.warn("old option", DeprecationWarning, stacklevel=1)
    with warnings.catch_warnings(record=True):  # caught by the job itself: neither shown nor sent
        warnings.simplefilter("always")
        warnings.warn("handled inside", UserWarning, stacklevel=1)
    warnings.warn("labels of two models", RuntimeWarning, stacklevel=1)
    warnings.warn("a subclass", FutureWarning, stacklevel=1)
    return 1


def wait_outcome(job, timeout=60.0) -> list:
    got, deadline = [], time.monotonic() + timeout
    while job.outcome is None and time.monotonic() < deadline:
        got += job.poll()
        time.sleep(0.02)
    assert job.outcome is not None, "the job did not finish"
    return got


# ---- tests -------------------------------------------------------------------------------------------------------
def test_result_progress_and_events_come_back_in_order():
    job = JobProcess(add_up, 5, events="on_event").start()
    got = wait_outcome(job)
    assert job.join(10) == 0
    assert got[-1] == job.outcome and job.outcome.ok
    assert job.outcome.result["sum"] == 10 and job.outcome.result["pid"] not in (os.getpid(), None)
    assert [m.value["i"] for m in got if isinstance(m, Event)] == [0, 1, 2, 3, 4]
    progress = [m for m in got if isinstance(m, Progress)]
    assert progress and progress[-1] == Progress(5, 5, "item 4")  # the last report is never throttled away


def test_cancel_stops_the_child_cleanly():
    job = JobProcess(wait_for_cancel).start()
    deadline = time.monotonic() + 60
    while not any(isinstance(m, Progress) for m in job.poll()) and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    job.cancel()
    wait_outcome(job)
    assert job.outcome.status == "cancelled" and time.monotonic() - t0 < 5
    assert job.join(10) == 0


def test_the_child_cancels_when_its_parent_goes_away():
    job = JobProcess(wait_for_cancel).start()
    job._proc.stdin.close()  # what the operating system does when the parent process dies
    wait_outcome(job)
    assert job.outcome.status == "cancelled"


def test_kill_ends_a_child_that_ignores_cancel():
    job = JobProcess(ignore_cancel).start()
    deadline = time.monotonic() + 60
    while not job.poll() and time.monotonic() < deadline:
        time.sleep(0.02)
    job.cancel()
    time.sleep(0.3)
    assert job.is_alive()
    job.kill()
    wait_outcome(job)
    assert job.outcome.status == "killed" and not job.is_alive()


def test_an_error_keeps_its_type_message_and_traceback():
    job = JobProcess(fail)
    with pytest.raises(JobError, match="frame 7 of plot1.mp4 is damaged") as info:
        job.run()
    assert info.value.error_type == "ValueError" and "in fail" in info.value.details
    assert job.outcome == Outcome("error", None, job.outcome.message, "ValueError", job.outcome.traceback)


def test_run_passes_progress_and_cancel():
    seen = []
    assert JobProcess(add_up, 3).run(progress=lambda d, t, m: seen.append((d, t)))["sum"] == 3
    assert seen[-1] == (3, 3)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        JobProcess(wait_for_cancel).run(cancel=token)


def test_store_handles_travel_by_path(tmp_project):
    v = tmp_project.add_video_array("plot1", np.zeros((4, 8, 8, 3), np.uint8))
    back = JobProcess(paint_frame, v, 2).run()
    assert type(back).__name__ == "Video" and back.name == "plot1"
    np.testing.assert_array_equal(v.mask(2), np.eye(8, dtype=np.uint8))  # written by the child into the same store


def test_only_importable_functions_can_be_sent():
    with pytest.raises(ValueError, match="top level of an importable module"):
        JobProcess(lambda: 1)
    with pytest.raises(ValueError, match="package.module:function"):
        JobProcess("add_up")


def test_a_script_without_a_main_guard_can_start_jobs(tmp_project, tmp_path):
    """A plain script (no ``if __name__ == '__main__'``) can run jobs, e.g. start training (``TrainProcess`` is a
    ``JobProcess``): the child never runs the script again, as a multiprocessing 'spawn' child would."""
    script = tmp_path / "no_guard.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from dvos_core.jobs import JobProcess

            print("script body runs")
            project = JobProcess("dvos_core.store:Project.open", {str(tmp_project.path)!r},
                                 progress_arg=None, cancel_arg=None).run()
            print("opened in a child:", project.path.name)
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("script body runs") == 1  # the child did not execute the script again
    assert f"opened in a child: {tmp_project.path.name}" in out.stdout


def report_threads(threads=1, progress=None, cancel=None):
    return threads, os.environ.get("OMP_NUM_THREADS"), os.environ.get("DVOS_THREADS")


def test_threads_reach_the_child_and_its_threads_argument():
    assert JobProcess(report_threads, threads=3).run() == (3, "3", "3")
    assert JobProcess(report_threads, threads=2, progress_arg=None, cancel_arg=None).run()[0] == 2


def test_a_warm_spare_child_runs_the_next_job(tmp_project):
    from dvos_core import jobs

    jobs.keep_warm(preload=("dvos_core.store",))
    try:
        spare = jobs._warm["spare"]
        assert spare is not None and spare.proc.poll() is None
        job = JobProcess("dvos_core.store:Project.open", str(tmp_project.path), progress_arg=None, cancel_arg=None)
        assert job.start().pid == spare.proc.pid  # the waiting spare took the job
        assert job.run().path == tmp_project.path
        assert jobs._warm["spare"] is not None and jobs._warm["spare"] is not spare  # and a new one waits
    finally:
        jobs.stop_warm()
    assert jobs._warm["spare"] is None


def test_the_childs_user_warnings_come_back_as_messages(capfd):
    """A GUI showed nothing of a job's warnings (they went to the child's stderr only): each UserWarning now also
    comes back as a Warned message, in order, before the outcome; stderr still shows it."""
    job = JobProcess(warn_some).start()
    got = wait_outcome(job)
    assert job.outcome.ok
    assert [m for m in got if isinstance(m, Warned)] == [Warned("footage stored dark", "UserWarning")]
    assert "footage stored dark" in capfd.readouterr().err


def test_a_cancel_while_the_target_still_imports_ends_the_job_at_once(tmp_path, monkeypatch):
    """Importing a job's modules takes seconds (torch): a cancel meanwhile stops it then, and the target never runs."""
    from dvos_core import jobs

    jobs.stop_warm()  # a spare child started earlier would not see this test's module
    target = slow_to_import(tmp_path, "slow_to_import", monkeypatch)
    out = tmp_path / "ran.txt"
    job = JobProcess(target, str(out)).start()
    time.sleep(0.5)
    t0 = time.monotonic()
    job.cancel()
    wait_outcome(job)
    assert job.outcome.status == "cancelled" and "nothing was done" in job.outcome.message
    assert time.monotonic() - t0 < 4 and job.join(10) == 0
    assert not out.exists()
