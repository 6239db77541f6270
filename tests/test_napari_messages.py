"""The core's messages in the panel's words: the writer lock's holder named as the step whose job holds it, options
the panel does not have never named."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

pytest.importorskip("napari")

BUSY = (
    "p.dvos is being written by process {pid} on {host} (`dvos-job dvos_core.synth:generate`, generate, since "
    "10:00). Let it finish, then run this again, or queue behind it with --wait (Python: wait=True); reading the "
    "project is not blocked"
)


class _Child:
    """A stand-in of a job of this napari running in a child process."""

    def __init__(self, pid):
        self.pid = pid

    def is_alive(self):
        return True


def test_a_busy_project_names_the_step_whose_job_writes_it_and_no_paint_unless_paint_was_saved(monkeypatch):
    from dvos_core.store.lock import StoreBusyError
    from dvos_napari import _errors
    from dvos_napari._errors import user_message
    from dvos_napari._writer import save_frames

    child = _Child(os.getpid() + 100000)
    monkeypatch.setattr(_errors, "STEP_CHILDREN", {child}, raising=False)
    raw = BUSY.format(pid=child.pid, host=socket.gethostname())
    text = user_message(StoreBusyError(raw), error_type="StoreBusyError").text
    assert text.startswith("the Synthesize step's Generate is writing p.dvos: wait until it finishes"), text
    assert "dvos-job" not in text and "painted" not in text and "--" not in text, text

    other = user_message(raw.replace(str(child.pid), "1"), error_type="StoreBusyError").text  # another napari's
    assert other.startswith("the Synthesize step's Generate of another napari window (process 1 on "), other
    assert "dvos-job" not in other and "painted" not in other, other

    class Video:  # a save of painted frames refused by the lock
        provenance = np.zeros(4, np.uint8)

        def set_mask(self, *args, **kwargs):
            raise StoreBusyError(raw)

    with pytest.raises(StoreBusyError) as caught:
        save_frames(Video(), np.ones((4, 8, 8), np.uint8), [1])
    painted = user_message(caught.value).text
    assert painted.startswith("the Synthesize step's Generate is writing p.dvos"), painted
    assert painted.endswith("what you painted stays unsaved in its layer, nothing is lost"), painted

    terminal = user_message(
        "p.dvos is being written by process 12 on vm (`dvos predict p.dvos m1`, predict_video, since 10:00). Let it "
        "finish, then run this again"
    ).text
    assert terminal.startswith("p.dvos is being written by process 12 on vm (`dvos predict p.dvos m1`"), terminal
    assert "painted" not in terminal, terminal
