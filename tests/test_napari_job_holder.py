"""The writer lock's holder and its refusals in the right words (run with xvfb-run): a step's job is recorded under
its step's name, so a `dvos` command refused meanwhile reads "napari (dvos panel: the Predict step's Predict)", not a
module path; and the lock's command-line advice (--wait) reaches the panel in its own words wherever it appears."""

from __future__ import annotations

import os
import socket
import time

import pytest

pytest.importorskip("napari")

STEP = "the Test step's Hold"


def hold_writer_lock(path, progress=None, cancel=None):
    """A job that holds the project's writer lock until cancelled (the child resolves it by this module's name)."""
    from dvos_core.progress import check
    from dvos_core.store import Project

    with Project.open(path).writing(operation="hold"):
        while True:
            check(cancel)
            time.sleep(0.05)


def test_a_step_job_holding_the_lock_is_named_after_its_step(qtbot, tmp_project, monkeypatch):
    from dvos_core.store.lock import HOLDER_NAME, StoreBusyError, writer_lock
    from dvos_napari._errors import STEP_JOBS, user_message
    from dvos_napari._workers import Job

    target = f"{__name__}:hold_writer_lock"
    monkeypatch.setitem(STEP_JOBS, target, STEP)
    job = Job(target, str(tmp_project.path), label="hold").start()
    try:
        holder = os.path.join(str(tmp_project.path), HOLDER_NAME)
        qtbot.waitUntil(lambda: os.path.exists(holder) or job.status is not None, timeout=60_000)
        assert job.status is None, job.message
        with pytest.raises(StoreBusyError) as refused:  # what `dvos ...` in a terminal is told
            writer_lock(tmp_project.path).acquire(wait=False)
        said = str(refused.value)
        assert f"(`napari (dvos panel: {STEP})`, hold, since" in said, said
        assert "dvos-job" not in said and "hold_writer_lock" not in said, said
        # the panel itself still names the step as its own job (not "another napari window")
        text = user_message(refused.value).text
        assert text.startswith(f"{STEP} is writing {tmp_project.path}: wait until it finishes"), text
    finally:
        job.cancel()
        qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)


def test_the_locks_command_line_advice_inside_a_longer_text_is_in_the_panels_words():
    from dvos_napari._errors import plain_words

    raw = (
        f"could not import the masks: p.dvos is being written by process 12 on {socket.gethostname()} "
        "(`dvos pseudo-label p.dvos image --videos v1`, pseudo-label, since 10:00). Let it finish, then run this "
        "again, or queue behind it with --wait (Python: wait=True); reading the project is not blocked"
    )
    text = plain_words(raw)
    assert "wait=True" not in text and "'wait' option" not in text and "--wait" not in text, text
    assert "Wait until it finishes (or stop it), then try again" in text, text
    assert "(`dvos pseudo-label p.dvos image --videos v1`, pseudo-label, since 10:00)" in text, text  # as typed
