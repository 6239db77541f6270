"""How long a job still needs: the estimate behind the command line's bar and the panel's progress bar."""

from __future__ import annotations

import io
import os

import pytest

from dvos_core.progress import TimeLeft, duration_words, time_left_words


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_time_left_from_the_rate_since_the_range_began():
    clock = Clock()
    est = TimeLeft(min_elapsed=5, clock=clock)
    assert est.update(40, 100) is None  # a resumed run: its first report starts the measure
    clock.now += 4
    assert est.update(44, 100) is None  # under 5 s of progress: not yet
    clock.now += 6
    assert est.update(50, 100) == pytest.approx(50 * 10 / 10)  # 10 steps in 10 s, 50 left
    clock.now += 1
    assert est.update(2, 8) is None  # a new range (the next stage): measured again
    clock.now += 10
    assert est.update(6, 8) == pytest.approx(2 * 10 / 4)
    assert est.update(0, 0) is None


def test_a_slow_start_and_a_change_of_pace_are_not_taken_for_the_pace():
    """Prediction of 30 frames: 6 s of start-up, then 1 s a frame - the bar said 'about 3-4 min left' of a 37 s job
    (the start-up counted as the pace); and frames that get cheaper (4K first, then HD) kept the slow pace."""
    clock = Clock()
    est = TimeLeft(min_elapsed=5, clock=clock)
    est.update(0, 30)
    clock.now += 7  # start-up and the first frame
    est.update(1, 30)
    for done in range(2, 9):
        clock.now += 1
        left = est.update(done, 30)
    assert left == pytest.approx(30 - 8, rel=0.15)  # 22 frames of 1 s (the average since the start says 39 s)

    clock = Clock()
    est = TimeLeft(min_elapsed=5, clock=clock)
    est.update(0, 40)
    for done in range(1, 11):  # 10 frames of 9 s, then 1 s each
        clock.now += 9
        est.update(done, 40)
    for done in range(11, 31):
        clock.now += 1
        left = est.update(done, 40)
    assert left == pytest.approx(10, rel=0.2)  # (the average since the start says 37 s)
    clock.now += 30  # nothing done for 30 s: slower, still an estimate
    assert 30 < est.update(30, 40) < 60


def test_a_step_reported_several_times_counts_from_when_it_began():
    """Tiled prediction reports 'tile j/m' at the frame's count: the estimate left out most of a step's time (2/3 of
    the time left, measured over 3 steps)."""
    clock = Clock()
    est = TimeLeft(min_elapsed=5, clock=clock)
    est.update(0, 20)
    for done in range(20):
        for tile in range(1, 13):  # 30 s a frame, a report every 2.5 s
            clock.now = 100 + done * 30 + tile * 2.5
            est.update(done, 20)
        left = est.update(done + 1, 20)
        if done + 1 >= 3:
            assert left == pytest.approx((20 - done - 1) * 30, rel=0.02), done


def test_words():
    assert duration_words(0.2) == "1 s" and duration_words(59.2) == "1 min" and duration_words(42) == "42 s"
    assert duration_words(61) == "2 min" and duration_words(3600 + 5 * 60) == "1 h 05 min"
    assert time_left_words(None) == "" and time_left_words(150) == "about 3 min left"


def test_terminal_bar_says_the_time_left():
    from dvos_core.cli._common import TerminalProgress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    clock = Clock()
    out = Tty()
    bar = TerminalProgress(stream=out, min_interval=0)
    bar._time_left = TimeLeft(min_elapsed=5, clock=clock)
    bar(0, 10, "training")
    clock.now += 20
    bar(4, 10, "training")
    assert "4/10 (about 30 s left) training" in out.getvalue()
    bar(10, 10, "training")
    assert out.getvalue().rstrip().endswith("10/10 training")


def test_a_long_message_on_a_terminal_keeps_its_end(monkeypatch):
    """On a terminal the line was cut at 150 characters: with a stage name and the time left, the frame, pass and
    tile at the end of a pseudo-labelling message were lost. It fits the terminal, losing the message's middle."""
    import shutil

    from dvos_core.cli._common import TerminalProgress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=None: os.terminal_size((100, 24)))
    out = Tty()
    bar = TerminalProgress(stream=out, min_interval=0, percent=True)
    stage = "[4/8] pseudo-label the training videos with the image model: field_train_plot_12: frames 4-7"
    bar(3250, 8000, f"{stage} pass 1/3, tile 3/12")
    line = out.getvalue().lstrip("\r")
    assert len(line) == 99 and line.rstrip().endswith("frames 4-7 pass 1/3, tile 3/12") and "..." in line
    assert line.startswith("[############                  ] 40% [4/8] pseudo-label")


def test_piped_stage_progress_names_the_stage_running_and_moves_within_it():
    """`dvos run-all > run.log`: a progress line under the stage line "[4/8] ..." said "3/8" (stages done) and
    stood still through the stage; now it says how far the whole run is and which stage it is in."""
    from dvos_core.cli._common import TerminalProgress
    from dvos_core.run_all import Stages

    out, lines = io.StringIO(), []
    run = Stages(8, TerminalProgress(stream=out, min_interval=0, percent=True), None, lines.append)
    for name in ("a", "b", "c"):
        run.stage(name)
    work = run.stage("pseudo-label")
    work(1, 4, "frame 0")
    work(2, 4, "frame 1")
    shown = out.getvalue().splitlines()
    assert lines[-1].startswith("[4/8] pseudo-label")
    assert shown[-2].endswith("] 40% [4/8] pseudo-label: frame 0")  # 3 stages and a quarter of the fourth
    assert shown[-1].endswith("] 43% [4/8] pseudo-label: frame 1")
    assert not any("] 3/8 " in line for line in shown)  # the count of stages done is not shown


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_panel_bar_says_the_time_left(qtbot):
    pytest.importorskip("napari")
    from dvos_napari._widgets import JobBar

    clock = Clock()
    jb = JobBar()
    qtbot.addWidget(jb)
    jb._time_left = TimeLeft(min_elapsed=5, clock=clock)
    jb._on_progress(0, 100, "")
    assert jb.bar.format() == "%p%"
    clock.now += 60
    jb._on_progress(20, 100, "")
    assert jb.bar.format() == "%p% - about 4 min left"
    jb._on_finished("ok")
    assert jb.bar.format() == "%p%"


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_train_step_says_how_long_the_run_still_needs(make_napari_viewer):
    """The Train step hides the job bar: its epoch bar says the time left, over the steps of the whole run."""
    pytest.importorskip("napari")
    from napari_helpers import dock

    from dvos_core.train.events import BatchEvent, StartEvent

    viewer = make_napari_viewer()
    tr = dock(viewer, "Train")
    tr._on_event(StartEvent(total_epochs=3, steps_per_epoch=10, device="cpu", start_epoch=2, params=5))
    clock = Clock()
    tr._time_left = TimeLeft(min_elapsed=5, clock=clock)
    tr._on_event(BatchEvent(epoch=2, step=1, loss=0.5))
    assert tr.epoch_bar.format() == "epoch %v / %m"
    clock.now += 40  # 4 steps in 40 s; 15 of the run's 30 steps left after step 5 of epoch 2
    tr._on_event(BatchEvent(epoch=2, step=5, loss=0.4))
    assert tr.epoch_bar.format() == "epoch %v / %m - about 3 min left"


def test_a_prefix_is_not_said_twice():
    """The panel's prediction prefixed each video's messages with its name, and the core's messages start with it:
    "field_train: field_train: frame 7"."""
    from dvos_core.progress import Steps

    said = []
    sub = Steps(lambda d, t, m: said.append(m), start=0, span=10, total=20, prefix="plot: ")
    sub(1, 2, "plot: frame 7")
    sub(2, 2, "frame 8")
    assert said == ["plot: frame 7", "plot: frame 8"]


def test_a_count_without_a_total_shows_no_zero_before_a_message_that_counts_itself():
    """`dvos extract-backgrounds P --from-annotated` with nothing left to do printed "0 0 background clips from
    annotated frames": the bar's count of nothing in front of a message holding its own count."""
    from dvos_core.cli._common import TerminalProgress

    out = io.StringIO()
    bar = TerminalProgress(stream=out, min_interval=0)
    bar(0, 0, "0 background clips from annotated frames")
    bar(3, 0, "frames read")
    assert out.getvalue().splitlines() == ["0 background clips from annotated frames", "3 frames read"]


def test_a_narrow_terminal_gives_the_message_the_room_the_bar_took(monkeypatch):
    """At 40 columns the 30-character bar left "[#####...] 3/24 fi" of a line: the bar narrows, the message shows."""
    import shutil

    from dvos_core.cli._common import TerminalProgress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=None: os.terminal_size((40, 24)))
    out = Tty()
    TerminalProgress(stream=out, min_interval=0)(3, 24, "field_train: frame 3")
    line = out.getvalue().lstrip("\r")
    assert line.startswith("[#       ] 3/24 ") and "field_train: frame 3" in line and len(line) == 40
