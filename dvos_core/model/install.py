"""Models put into a project's ``models/NAME`` by other means than training it there: weights converted from the
authors' DVOS code (`dvos import-weights FILE --kind video --project P`) and a dvos model copied from another project,
e.g. last season's (`dvos import-weights OLD.dvos/models/image/best.pt --project NEW.dvos --name NAME`).

Both are written as a training run writes its model: under the project's writer lock and the model's training lock
(a `dvos train --name NAME` cannot write the same folder meanwhile), staged in the folder and moved into place, so
that a stop leaves the old model or the new one whole; an existing model is replaced only when asked (``overwrite``),
whole (no old last.pt for `dvos train` to resume).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dvos_core.shell import user_path

STAGED = ".best.pt.import."  # the checkpoint an import writes in the model folder before it becomes best.pt
EXTRAS = ("config.yaml", "metrics.json")  # what a copied model keeps of its training run besides best.pt


@dataclass
class InstalledModel:
    best: Path  # the model's best.pt in the project
    removed: list = field(default_factory=list)  # files of the model it replaced, other than best.pt
    copied: list = field(default_factory=list)  # files copied beside best.pt (a copied model's config.yaml, ...)
    sha256: str = ""  # of best.pt: what predictions made with it record
    kind: str = ""  # frame (an image model), dvos or context (a video model); "" where not read
    # how far the training run of a copied model got when it was stopped before its last epoch ("after 3 of 10
    # epoch(s)"; :func:`dvos_core.store.notes.training_progress`); "" for a finished run or one that records none
    unfinished: str = ""


def install_model(
    project,
    name: str,
    write: Callable[[Path], object],
    overwrite: bool = False,
    operation: str | None = None,
    extras: dict | None = None,
) -> InstalledModel:
    """Make model ``name`` of ``project`` (a Project) the checkpoint ``write(path)`` writes at ``path`` (a staged file
    in the model folder), with ``extras`` ({file name: text}) beside it. A folder holding a model is refused unless
    ``overwrite``, which replaces it whole; the folder an import made is removed again when it fails. ``write`` may
    return the SHA-256 (a str) of what it wrote, when it has checked it already; otherwise best.pt is hashed."""
    from dvos_core.train.loop import LOCK_FILES, training_lock

    folder = project.model_dir(name)  # checks the name
    made = not folder.is_dir()
    extras = dict(extras or {})
    try:
        with project.writing(operation=operation or f"import-weights {name}"), training_lock(project, name):
            for p in folder.iterdir():  # a killed import's or training's half-written files (both locks are ours)
                if p.is_file() and p.name.startswith(".") and (".import." in p.name or p.name.endswith(".tmp")):
                    p.unlink(missing_ok=True)
            old = sorted(p.name for p in folder.iterdir() if p.name not in LOCK_FILES)
            if old and not overwrite:
                raise FileExistsError(
                    f"{folder} already holds a model ({', '.join(old)}); pass --overwrite to replace it whole, or "
                    f"choose another --name"
                )
            staged = folder / f"{STAGED}{os.getpid()}"
            beside = {n: folder / f".{n}.import.{os.getpid()}" for n in extras}
            try:
                written = write(staged)
                for n, text in extras.items():
                    beside[n].write_text(text, encoding="utf-8")
                replace_model_folder(folder, staged, beside)
            except BaseException:
                for p in (staged, *beside.values()):
                    p.unlink(missing_ok=True)
                raise
    except BaseException:
        if made and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # the folder this import made
        raise
    from dvos_core.model.checkpoint import file_fingerprint

    best = folder / "best.pt"
    removed = [n for n in old if n != "best.pt" and n not in extras]
    sha = written if isinstance(written, str) else file_fingerprint(best)
    return InstalledModel(best, removed, sorted(extras), sha)


def replace_model_folder(folder: Path, staged: Path, extras: dict | None = None) -> None:
    """Make ``staged`` (a checkpoint written inside ``folder``) the folder's only model, with ``extras`` ({final
    name: staged file in the folder}) beside it: everything else in it - the old run's last.pt (which `dvos train`
    would resume from), config.yaml, metrics.json - is removed first, then ``staged`` becomes best.pt, then the
    extras take their names. A stop before best.pt is replaced leaves the old best.pt alone: a whole model either
    way."""
    import shutil

    from dvos_core.store.fsops import durable_replace
    from dvos_core.train.loop import LOCK_FILES

    extras = dict(extras or {})
    keep = {staged, *extras.values()}
    for p in sorted(folder.iterdir()):
        if p in keep or p.name == "best.pt" or p.name in LOCK_FILES:  # (a training lock held by the caller)
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    durable_replace(staged, folder / "best.pt")
    for n, p in extras.items():
        durable_replace(p, folder / n)


def copy_model(project, source, name: str | None = None, overwrite: bool = False) -> InstalledModel:
    """Copy the dvos model ``source`` into ``project`` (a Project or its path) as model ``name``, so that the project
    holds it itself (`dvos predict PROJECT NAME`, `dvos train --init-from NAME`), e.g. last season's model into this
    season's project. ``source``: a checkpoint (``OLD.dvos/models/image/best.pt``) or a model folder (its best.pt).
    best.pt is copied byte for byte (the same SHA-256, which predictions record), with the training run's
    config.yaml and metrics.json when the source is a model's best.pt (the record of how it was trained: config.yaml
    gets a first line saying where it was copied from, and a starting checkpoint it names inside the old project is
    named by its full path). A last.pt is not copied: `dvos train --name NAME` would resume another project's run;
    fine-tune the copy under a new name instead. ``name`` defaults to the source's model name. A model of that name
    is refused unless ``overwrite`` (replaced whole). A model whose training run stopped before its last epoch
    (:func:`unfinished_run`) is copied with a warning saying how far it got and how to finish it
    (``InstalledModel.unfinished``)."""
    import shutil

    from dvos_core.model.checkpoint import CheckpointError, file_fingerprint, folder_checkpoint, load_checkpoint
    from dvos_core.store import Project
    from dvos_core.store.fsops import durable_replace
    from dvos_core.store.schema import safe_id

    project = project if isinstance(project, Project) else Project.open(project)
    src = user_path(source)
    if src.is_dir():  # a model folder: its best.pt (a project or its models folder: its models are listed)
        src = folder_checkpoint(src)
    # a dvos checkpoint that builds and loads (reference weights: the error says how to convert; a file whose model
    # or weights were edited is refused here, not by the first prediction)
    kind = load_checkpoint(src)[1]["kind"]
    run_folder = src.name == "best.pt"
    if name is None:
        name = src.parent.name if src.name in ("best.pt", "last.pt") else safe_id(src.stem)
    target = project.model_dir(name) / "best.pt"
    if target.is_file() and target.resolve() == src.resolve():
        raise ValueError(f"{src} is model {name!r} of this project itself; copy it under another --name")
    sha = file_fingerprint(src)
    extras = {}
    if run_folder:
        for n in EXTRAS:
            if (src.parent / n).is_file():
                extras[n] = (src.parent / n).read_text(encoding="utf-8")
        if "config.yaml" in extras:
            extras["config.yaml"] = _copied_config(extras["config.yaml"], src, sha)

    def write(staged: Path) -> None:
        tmp = staged.with_name(staged.name + ".tmp")
        try:
            shutil.copyfile(src, tmp)
            durable_replace(tmp, staged)
        finally:
            tmp.unlink(missing_ok=True)
        if file_fingerprint(staged) != sha:  # changed while it was copied (a training run saving it)
            raise CheckpointError(
                f"{src}: changed while it was copied (still training?); copy it again when it is done"
            )
        return sha  # checked: install_model need not hash best.pt again

    stopped = unfinished_run(src)
    done = install_model(project, name, write, overwrite, operation=f"import-weights {name} (copy)", extras=extras)
    done.kind = kind
    if stopped is not None:
        from dvos_core.user_warnings import warn_user

        done.unfinished = stopped[0]
        warn_user(_unfinished_message(src, name, *stopped))
    return done


def unfinished_run(checkpoint) -> tuple[str, str] | None:
    """How far the training run of ``checkpoint`` got, when it stopped before its last epoch: ``(progress, last)``
    with ``progress`` as "after 3 of 10 epoch(s) and 40 step(s)" and ``last`` the last.pt that says so; None for a
    finished run, or a checkpoint that records no training state (imported weights). A best.pt is judged by the
    last.pt beside it (the run's training state), a last.pt by itself; only their headers are read."""
    from dvos_core.checkpoint_header import read_checkpoint_header
    from dvos_core.store.notes import training_progress

    checkpoint = Path(checkpoint)
    last = checkpoint if checkpoint.name != "best.pt" else checkpoint.with_name("last.pt")
    info = (read_checkpoint_header(last) or {}).get("info")
    state = info.get("train_state") if isinstance(info, dict) else None
    if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
        return None
    saved = info.get("train_config") if isinstance(info.get("train_config"), dict) else {}
    planned = saved.get("epochs")
    finished = state.get("finished")
    if finished is None:  # a last.pt of a dvos before the flag: all the epochs it was started with
        finished = isinstance(planned, int) and 0 < planned <= state["epoch"]
    return None if finished else (training_progress(state, saved), str(last))


def _unfinished_message(src: Path, name: str, progress: str, last: str) -> str:
    """The warning of a copied model whose training run was stopped before its last epoch, with how to finish it."""
    import shlex

    from dvos_core.store.fsops import group_attrs
    from dvos_core.store.schema import STORE_FORMAT

    folder = src.resolve().parent
    home = folder.parent.parent
    if folder.parent.name == "models" and group_attrs(home).get("format") == STORE_FORMAT:
        q = shlex.quote
        finish = (
            f"finish it in its project (`dvos train {q(str(home))} --name {q(folder.name)} --config "
            f"{q(str(folder / 'config.yaml'))}`) and copy it again with --overwrite"
        )
    else:
        finish = "finish its training and copy it again with --overwrite"
    what = "its best epoch so far" if src.name == "best.pt" else f"{src.name}, the state it stopped in"
    return (
        f"{folder}: its training run is unfinished (stopped {progress}; {Path(last).name} says so): model {name!r} "
        f"is a copy of {what}; {finish}, or keep it as it is"
    )


def _copied_config(text: str, src: Path, sha: str) -> str:
    """A copied model's config.yaml: a first comment line naming the file it was copied from, and its ``init_from``
    by its full path when it named a checkpoint of the old project (``models/NAME/FILE``, which in the new project
    would name another model)."""
    import yaml

    old_project = src.resolve().parent.parent.parent  # OLD.dvos of OLD.dvos/models/NAME/best.pt

    def absolute(m: re.Match) -> str:
        try:
            value = yaml.safe_load(m.group(1))
        except yaml.YAMLError:
            return m.group(0)
        if isinstance(value, str) and not Path(value).is_absolute() and Path(value).parts[:1] == ("models",):
            return yaml.safe_dump({"init_from": str(old_project / value)}, default_flow_style=False).rstrip()
        return m.group(0)

    text = re.sub(r"(?m)^init_from: (.*)$", absolute, text)
    return f"# copied from {src.resolve()} (sha256 {sha}) by dvos import-weights\n{text}"
