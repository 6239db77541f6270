"""Training runs going on in a project now, and the refusal of what would pull their data from under them.

A training run reads the project's frames, masks and clips all along without the writer lock (from a sample list
fixed at its start); it holds its model folder's training lock instead (:func:`~dvos_core.store.lock.training_holder`).
"""

from __future__ import annotations

from pathlib import Path

from dvos_core.store.lock import StoreBusyError, training_holder


def trainings(path: Path) -> list[tuple[str, str]]:
    """(model name, who) of every training run going on in the project at ``path`` now."""
    models = path / "models"
    folders = sorted(p for p in models.iterdir() if p.is_dir()) if models.is_dir() else []
    return [(f.name, holder) for f in folders if (holder := training_holder(f)) is not None]


def refuse_while_training(path, what: str, then: str) -> None:
    """Raise StoreBusyError, naming the run and the fix, while a training run goes on in the project at ``path``: it
    reads the project's frames, masks and clips all along without the writer lock, from a sample list fixed at its
    start, so what it may read (``what``, e.g. "video 'v'") must not be deleted or cleared under it; ``then`` is what
    to do once it has stopped ("delete the video")."""
    busy = trainings(Path(path))
    if busy:
        model, holder = busy[0]
        raise StoreBusyError(
            f"{path}: model {model!r} is being trained by {holder} and may be reading {what}; stop that training "
            f"first (it saves last.pt), then {then}"
        )
