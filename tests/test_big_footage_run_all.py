"""`dvos run-all` on frames large enough that a CPU takes seconds each: the note about `--scales trained` comes
before the first stage that segments frames (pseudo-labelling, not only prediction), once; counting the heads at
the end says how far it got, frame by frame."""

import pytest

from dvos_core import prediction_options
from dvos_core.demo.pipeline import build_demo_project
from dvos_core.run_all import RunAllConfig, run_all

TINY = {"preset": "tiny", "epochs": 1, "max_steps_per_epoch": 1, "batch_size": 2, "size": 64, "device": "cpu"}


@pytest.fixture
def project(tmp_path):
    return build_demo_project(tmp_path / "p.dvos", size=96)


def test_scale_note_before_pseudo_labelling_and_head_counting_progress(project, monkeypatch):
    monkeypatch.setattr(prediction_options, "LARGE_FRAME_PIXELS", 96 * 96)  # the demo's 96 px frames count as large
    lines, seen = [], []
    cfg = RunAllConfig(synth_clips=2, synth_frames=6, train=dict(TINY), pseudo_passes=1, device="cpu")
    run_all(project.path, cfg, log=lines.append, progress=lambda d, t, m: seen.append((d, t, m)))
    notes = [i for i, ln in enumerate(lines) if "--scales trained" in ln]
    stage = {ln.split("]")[0] + "]": i for i, ln in enumerate(lines) if ln.startswith("[")}
    assert len(notes) == 1, "\n".join(lines)  # once, not again before the predictions
    assert stage["[4/8]"] < notes[0] < stage["[5/8]"] and "pseudo-label" in lines[stage["[4/8]"]]
    n = project.video("field_test").n_frames
    counting = [(d, m) for d, t, m in seen if "counting different heads" in m]
    assert [m.rsplit(" ", 1)[1] for _, m in counting] == [f"{k}/{n}" for k in range(1, n + 1)]
    assert all(m.startswith("[8/8] evaluate on the test videos: field_test: counting") for _, m in counting)
    assert [d for d, _ in counting] == sorted(d for d, _ in counting) and counting[-1][0] == 8000  # the stage's end


def test_stage_lines_are_flushed_as_they_are_logged(project, monkeypatch):
    """With ``dvos run-all P > run.log 2>&1`` stdout is block-buffered: unflushed, the stage lines came long after
    the progress lines of their stages (stderr)."""
    import io
    import sys

    from dvos_core.progress import Cancelled, CancelToken

    class Out(io.StringIO):
        def __init__(self):
            super().__init__()
            self.events = []

        def write(self, text):
            self.events.append(("write", text))
            return super().write(text)

        def flush(self):
            self.events.append(("flush", None))

    out, token = Out(), CancelToken()
    monkeypatch.setattr(sys, "stdout", out)
    cfg = RunAllConfig(synth_clips=2, synth_frames=6, train=dict(TINY), pseudo_passes=1, device="cpu")
    with pytest.raises(Cancelled):  # stopped right after the first stage line
        run_all(project.path, cfg, progress=lambda d, t, m: token.cancel(), cancel=token)
    first = next(i for i, (kind, text) in enumerate(out.events) if kind == "write" and text.startswith("[1/8]"))
    assert ("flush", None) in out.events[first:], out.events
