"""Training events and stop: a cancel during the backward pass ends the step at once (the step is not applied),
and a resumed run still equals an uninterrupted one; typed events round-trip through their dict form; the
`--print-config` comments are the help in the fields' metadata."""

from __future__ import annotations

import pytest
import torch
from test_train_loop import assert_same_state, tiny_config

import dvos_core.train.loop as loop
from dvos_core.data.toy import make_toy_project
from dvos_core.model import read_checkpoint
from dvos_core.progress import Cancelled, CancelToken
from dvos_core.train import train
from dvos_core.train.events import TERMINAL, BatchEvent, CancelledEvent, EventType, StartEvent, TrainEvent

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_toy_project(
        tmp_path_factory.mktemp("t") / "toy.dvos", n_clips=8, n_frames=8, size=64, n_videos=2, video_frames=12, seed=1
    )


def test_cancel_during_backward_stops_inside_the_step_and_resumes_exactly(project, monkeypatch):
    cfg = tiny_config()
    train(project, cfg, "straight", resume=False)
    straight = read_checkpoint(project.model_dir("straight") / "last.pt")

    token, calls = CancelToken(), []
    real_loss = loop.dvos_loss

    def loss_that_stops_in_step_two(*args, **kwargs):
        loss, parts = real_loss(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:  # step 2 of epoch 1: Stop is pressed as its backward pass begins
            loss.register_hook(lambda grad: token.cancel())
        return loss, parts

    monkeypatch.setattr(loop, "dvos_loss", loss_that_stops_in_step_two)
    events = []
    with pytest.raises(Cancelled):
        train(project, cfg, "stopped", cancel=token, on_event=events.append, resume=False)
    assert [type(e) for e in events] == [StartEvent, BatchEvent, CancelledEvent]
    assert (events[-1].epoch, events[-1].step) == (1, 1)  # step 2 was never applied
    state = read_checkpoint(project.model_dir("stopped") / "last.pt")["info"]["train_state"]
    assert (state["epoch"], state["step"], state["global_step"]) == (0, 1, 1)

    monkeypatch.setattr(loop, "dvos_loss", real_loss)
    train(project, cfg, "stopped", resume=True)
    assert_same_state(straight, read_checkpoint(project.model_dir("stopped") / "last.pt"))


def test_events_are_typed_and_round_trip_as_dicts():
    b = BatchEvent(epoch=2, step=3, loss=0.5, parts={"bce": 0.2, "dice": 0.3})
    d = b.to_dict()
    assert d == {"type": "batch", "epoch": 2, "step": 3, "loss": 0.5, "bce": 0.2, "dice": 0.3}
    assert TrainEvent.from_dict(d) == b
    assert b["type"] == "batch" and b["bce"] == 0.2 and b.get("missing", 7) == 7
    with pytest.raises(KeyError, match="has no field 'val_dice'"):
        b["val_dice"]
    assert not b.terminal and CancelledEvent("last.pt", 1, 1).terminal
    assert {EventType.DONE, EventType.CANCELLED, EventType.ERROR} == TERMINAL


def test_print_config_comments_are_the_field_help():
    import dataclasses

    import yaml

    from dvos_core.train import TrainConfig

    text = TrainConfig().to_yaml(comments=True)
    lines = text.splitlines()
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata.get("doc"), f"TrainConfig.{f.name} has no help"
        key = next(i for i, line in enumerate(lines) if line.startswith(f"{f.name}:"))
        assert lines[key - 1] == f"# {f.metadata['doc']}"
    assert TrainConfig.from_dict(yaml.safe_load(text)) == TrainConfig()
