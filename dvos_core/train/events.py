"""Typed training events: what ``train`` reports through ``on_event`` (to the CLI, a child-process parent, a dock).

Each event is a small frozen dataclass whose ``type`` is an :class:`EventType`; :data:`TERMINAL` is the one list of
events after which a run sends nothing more. ``event.to_dict()`` is the JSON form (``dvos train --json``), and
``event["field"]`` / ``event.get("field")`` read a field by name, as for the plain dicts events used to be.

>>> def on_event(e):
...     if e.type is EventType.EPOCH:
...         print(e.epoch, e.val_dice)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar


class EventType(str, Enum):  # noqa: UP042 (StrEnum would change what str() of a member gives)
    """The kinds of training events (a ``str`` enum: ``EventType.DONE == "done"``)."""

    START = "start"
    BATCH = "batch"
    EPOCH = "epoch"
    DONE = "done"
    CANCELLED = "cancelled"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


TERMINAL = frozenset({EventType.DONE, EventType.CANCELLED, EventType.ERROR})


@dataclass(frozen=True)
class TrainEvent:
    """Base of every training event."""

    type: ClassVar[EventType]

    @property
    def terminal(self) -> bool:
        """True for the last event of a run (done, cancelled or error)."""
        return self.type in TERMINAL

    def to_dict(self) -> dict:
        """Plain JSON-safe dict with a ``"type"`` key; :class:`BatchEvent` loss parts are flattened into it."""
        d = {"type": self.type.value}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "parts":
                d.update(v)
            else:
                d[f.name] = v
        return d

    def __getitem__(self, key: str) -> Any:
        d = self.to_dict()
        if key not in d:
            raise KeyError(f"{type(self).__name__} event has no field {key!r}; it has {sorted(d)}")
        return d[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    @staticmethod
    def from_dict(d: dict) -> TrainEvent:
        """The event a ``to_dict()`` came from (unknown keys of a batch event become loss parts)."""
        cls = EVENT_CLASSES[EventType(d["type"])]
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        if "parts" in names:
            kwargs["parts"] = {k: v for k, v in d.items() if k not in names and k != "type"}
        return cls(**kwargs)


@dataclass(frozen=True)
class StartEvent(TrainEvent):
    """The run is set up: data indexed, model built, about to train from ``start_epoch`` (1-based)."""

    type: ClassVar[EventType] = EventType.START
    total_epochs: int
    steps_per_epoch: int
    device: str
    start_epoch: int = 1
    train_samples: int = 0
    val_samples: int = 0
    world_size: int = 1
    amp_bf16: bool = False
    params: int = 0
    # the context model's share of degraded training queries when the trainer matched it to the footage (None: the
    # config fixed it, or another model)
    matched_degraded_queries: float | None = None
    # the preset of the model trained: the config's, or that of the init_from checkpoint, which fixes the model
    preset: str = ""
    resumed: bool = False  # a resumed run: it goes on at step start_step of start_epoch (0: the epoch's start)
    start_step: int = 0


@dataclass(frozen=True)
class BatchEvent(TrainEvent):
    """One optimizer step done: ``step`` steps of ``epoch`` (both from 1); ``parts`` holds the loss terms."""

    type: ClassVar[EventType] = EventType.BATCH
    epoch: int
    step: int
    loss: float
    parts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EpochEvent(TrainEvent):
    """An epoch and its validation are done; ``best`` when it became ``best.pt``."""

    type: ClassVar[EventType] = EventType.EPOCH
    epoch: int
    train_loss: float
    val_loss: float | None = None
    val_dice: float | None = None
    lr: float = 0.0
    best: bool = False


@dataclass(frozen=True)
class DoneEvent(TrainEvent):
    """The run finished; ``best`` is the path of ``best.pt``; ``note`` says why nothing was trained, when so (a
    resumed run that already had the epochs asked), or which prediction sets an earlier version of the model made
    (out of date now), and ``new_labels`` counts the frames painted or corrected since such a run read its data,
    frames repainted since included (which it has not learnt from as they are now); ``kept``: nothing was trained
    (the run already had the epochs asked)."""

    type: ClassVar[EventType] = EventType.DONE
    best: str
    note: str = ""
    new_labels: int = 0
    kept: bool = False


@dataclass(frozen=True)
class CancelledEvent(TrainEvent):
    """The run stopped on request after saving ``last`` (resume continues at ``epoch``/``step``)."""

    type: ClassVar[EventType] = EventType.CANCELLED
    last: str
    epoch: int
    step: int


@dataclass(frozen=True)
class ErrorEvent(TrainEvent):
    """The run failed (sent by a child-process runner; ``train`` itself raises)."""

    type: ClassVar[EventType] = EventType.ERROR
    message: str
    traceback: str = ""


EVENT_CLASSES: dict[EventType, type[TrainEvent]] = {
    cls.type: cls for cls in (StartEvent, BatchEvent, EpochEvent, DoneEvent, CancelledEvent, ErrorEvent)
}
