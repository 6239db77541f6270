"""Resuming a run whose starting checkpoint is spelt another way (from another working folder, or after the project
was moved) continues it; a run with other settings is refused with a ResumeRefused naming them."""

import dataclasses
import shutil

import pytest
import torch
from conftest import tiny_train_config

from dvos_core.data.toy import make_toy_project
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store.fsops import same_checkpoint
from dvos_core.train import ResumeRefused, TrainConfig, train

torch.set_num_threads(1)


def _config(init_from, **kw):
    return tiny_train_config(**{"phase": "synthetic", "size": 64, "init_from": init_from, **kw})


def test_same_checkpoint_spelt_two_ways(tmp_path, monkeypatch):
    f = tmp_path / "p.dvos" / "models" / "image" / "best.pt"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert same_checkpoint("p.dvos/models/image/best.pt", f)
    assert same_checkpoint("/gone/old.dvos/models/image/best.pt", f)  # the project moved since
    assert not same_checkpoint("/gone/old.dvos/models/other/best.pt", f)
    assert not same_checkpoint("/gone/a/b/best.pt", "/gone/c/b/best.pt")  # not a project's model
    assert not same_checkpoint(None, f)
    copy = tmp_path / "copy of p.dvos" / "models" / "image" / "best.pt"  # a colleague's copy, the original still here
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"x")
    assert same_checkpoint(f, copy)
    copy.write_bytes(b"y")  # trained again in the copy: another checkpoint
    assert not same_checkpoint(f, copy)


def test_a_run_started_from_another_folder_is_continued_not_refused(tmp_path, monkeypatch):
    project = make_toy_project(tmp_path / "toy.dvos", n_clips=4, n_frames=6, size=64, n_videos=1, video_frames=8)
    start = project.model_dir("image", create=True) / "best.pt"
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    monkeypatch.chdir(tmp_path)
    best = train(project, _config("toy.dvos/models/image/best.pt"), "ctx", resume=False)
    before = best.read_bytes()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the same checkpoint, spelt from here
    events = []
    assert train(project, _config(start), "ctx", on_event=events.append) == best
    assert events[-1]["type"] == "done" and "nothing to do" in events[-1]["note"]
    assert best.read_bytes() == before
    with pytest.warns(UserWarning, match="nothing to do"):  # called from Python without on_event: said all the same
        assert train(project, _config(start), "ctx") == best

    moved = shutil.move(str(tmp_path / "toy.dvos"), str(tmp_path / "moved.dvos"))  # the project moved
    from dvos_core.store import Project

    project = Project.open(moved)
    again = train(project, _config(project.model_dir("image") / "best.pt", epochs=2), "ctx")
    assert again.exists()

    changed = r"different settings \(lr: 0\.0001 when it began, now 0\.5\); pass --no-resume"
    with pytest.raises(ResumeRefused, match=changed) as e:
        train(project, _config(project.model_dir("image") / "best.pt", epochs=2, lr=0.5, eta_min=1e-5), "ctx")
    assert e.value.reason.endswith("different settings (lr: 0.0001 when it began, now 0.5)")


def test_a_run_whose_starting_checkpoint_was_trained_again_is_not_continued(tmp_path):
    project = make_toy_project(tmp_path / "toy.dvos", n_clips=4, n_frames=6, size=64, n_videos=1, video_frames=8)
    start = project.model_dir("image", create=True) / "best.pt"
    torch.manual_seed(0)
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    train(project, _config(start), "ctx", resume=False)
    assert train(project, _config(start), "ctx").exists()  # unchanged: kept (nothing to do)

    torch.manual_seed(1)  # the image model trained again under the same name: other weights
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    with pytest.raises(ResumeRefused, match=r"started from .*best\.pt as that file was then; it has changed since"):
        train(project, _config(start), "ctx")


def test_run_all_relabels_videos_labelled_by_an_earlier_version_of_its_image_model(tmp_path):
    from types import SimpleNamespace

    from dvos_core.progress import CancelToken
    from dvos_core.run_all import RunAllConfig, _pseudo_label

    project = make_toy_project(tmp_path / "toy.dvos", n_clips=2, n_frames=4, size=64, n_videos=1, video_frames=6)
    vid = project.video_ids()[0]
    image = project.model_dir("image", create=True) / "best.pt"
    torch.manual_seed(0)
    save_checkpoint(image, build_model("tiny", "frame"), kind="frame", input_size=64)
    logs = []
    run = SimpleNamespace(log=logs.append, cancel=CancelToken())
    cfg = RunAllConfig(device="cpu", pseudo_passes=1)
    _pseudo_label(project, cfg, run, [vid], image, None)
    record = project.video(vid).attrs["pseudo_label"]
    assert record["checkpoint_sha256"] and not any("replaced" in line for line in logs)

    _pseudo_label(project, cfg, run, [vid], image, None)  # the same file: its labels are kept
    assert not any("replaced" in line for line in logs)
    torch.manual_seed(1)
    save_checkpoint(image, build_model("tiny", "frame"), kind="frame", input_size=64)  # trained again
    _pseudo_label(project, cfg, run, [vid], image, None)
    assert any("an earlier version of this run's model made of" in line and vid in line for line in logs)
    assert project.video(vid).attrs["pseudo_label"]["checkpoint_sha256"] != record["checkpoint_sha256"]


def test_a_checkpoint_file_is_hashed_once_per_version(tmp_path, monkeypatch):
    import hashlib
    import os

    from dvos_core.model import checkpoint

    f = tmp_path / "best.pt"
    f.write_bytes(b"a" * 4096)
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(checkpoint.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    first = checkpoint.file_fingerprint(f)
    assert checkpoint.file_fingerprint(tmp_path / "." / "best.pt") == first and len(calls) == 1  # asked again: cached
    f.write_bytes(b"b" * 4096)  # trained again: same size, other bytes, a later modification time
    os.utime(f, ns=(os.stat(f).st_atime_ns, os.stat(f).st_mtime_ns + 1_000_000))
    assert checkpoint.file_fingerprint(f) == real(b"b" * 4096).hexdigest() != first and len(calls) == 2


def test_config_yaml_names_the_projects_own_checkpoint_so_a_copy_starts_from_its_own(tmp_path, monkeypatch):
    """config.yaml records a starting checkpoint of the project as models/NAME/FILE: training from that file in a
    copy of the project (the original still there) starts from the copy's model, not the original's."""
    import yaml

    project = make_toy_project(tmp_path / "toy.dvos", n_clips=4, n_frames=6, size=64, n_videos=1, video_frames=8)
    start = project.model_dir("image", create=True) / "best.pt"
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    train(project, _config(start), "ctx", resume=False)
    recorded = yaml.safe_load((project.model_dir("ctx") / "config.yaml").read_text())["init_from"]
    assert recorded == "models/image/best.pt"

    from dvos_core.store import Project

    shutil.copytree(project.path, tmp_path / "copy.dvos")
    copy = Project.open(tmp_path / "copy.dvos")
    save_checkpoint(copy.model_dir("image") / "best.pt", build_model("tiny", "frame"), kind="frame", input_size=64)
    monkeypatch.chdir(tmp_path)  # the project-relative path is the project's wherever the command runs
    cfg = TrainConfig.from_yaml(copy.model_dir("ctx") / "config.yaml")
    events = []
    train(copy, cfg, "ctx2", on_event=events.append, resume=False)
    note = yaml.safe_load((copy.model_dir("ctx2") / "config.yaml").read_text())["init_from"]
    assert note == "models/image/best.pt"
    from dvos_core.model.checkpoint import read_checkpoint

    init = read_checkpoint(copy.model_dir("ctx2") / "last.pt")["info"]["init"]
    assert init["init_from"] == str(copy.path / "models" / "image" / "best.pt")  # the copy's own, not the original's


def test_init_from_a_model_name(tmp_path, monkeypatch):
    """`dvos train --init-from image` starts from that model's best.pt, as `dvos predict P image` reads it; an unknown
    name lists the project's models."""
    project = make_toy_project(tmp_path / "toy.dvos", n_clips=4, n_frames=6, size=64, n_videos=1, video_frames=8)
    save_checkpoint(
        project.model_dir("image", create=True) / "best.pt", build_model("tiny", "frame"), kind="frame", input_size=64
    )
    monkeypatch.chdir(tmp_path)
    train(project, _config("image"), "ctx", resume=False)
    from dvos_core.model.checkpoint import read_checkpoint

    init = read_checkpoint(project.model_dir("ctx") / "last.pt")["info"]["init"]
    assert init["init_from"] == str(project.path / "models" / "image" / "best.pt")
    with pytest.raises(FileNotFoundError, match=r"no model 'imgae' with best.pt .*models there: \['ctx', 'image'\]"):
        train(project, _config("imgae"), "ctx2", resume=False)


def test_a_run_killed_between_its_two_saves_is_never_mixed_with_an_earlier_run(tmp_path, monkeypatch):
    """`--no-resume` killed after the new best.pt, before last.pt: the old run's last.pt and metrics.json stayed
    beside the new best.pt, and resuming continued the old run under the new one's best. last.pt is now saved
    first, and a resume writes best.pt from it when best.pt is not that epoch of the same run."""
    from dvos_core.model import read_checkpoint
    from dvos_core.train import loop

    p = make_toy_project(tmp_path / "p.dvos", n_clips=3, n_frames=6, size=64, n_videos=0)
    cfg = {k: v for k, v in _config("").to_dict().items() if k != "init_from"}
    old = TrainConfig(**{**cfg, "lr": 1e-9, "eta_min": 1e-10, "epochs": 2})
    train(p, old, "m", resume=False)
    folder = p.model_dir("m")
    (folder / ".last.pt.4242.tmp").write_bytes(b"half a checkpoint")  # a save killed before
    new = TrainConfig(**{**cfg, "lr": 1e-2, "eta_min": 1e-3, "epochs": 2})
    real = loop._Run._save_best

    def killed(self, epoch):
        raise SystemExit("killed")

    monkeypatch.setattr(loop._Run, "_save_best", killed)
    with pytest.raises(SystemExit):
        train(p, new, "m", resume=False)
    monkeypatch.setattr(loop._Run, "_save_best", real)
    assert not (folder / ".last.pt.4242.tmp").exists()
    last = read_checkpoint(folder / "last.pt")["info"]
    assert last["train_config"]["lr"] == 1e-2 and last["train_state"]["epoch"] == 1
    train(p, new, "m", resume=True)  # the new run goes on, its best.pt written first from last.pt
    best, last = (read_checkpoint(folder / f)["info"] for f in ("best.pt", "last.pt"))
    assert best["train_config"]["lr"] == 1e-2 and best["run_id"] == last["train_state"]["run_id"] is not None
    assert last["train_state"]["epoch"] == 2


def test_a_finished_run_whose_best_pt_was_not_saved_says_it_was_written(tmp_path, monkeypatch):
    """The resume wrote best.pt from last.pt, then said "nothing to do (its files are unchanged)"."""
    from dvos_core.train import loop

    p = make_toy_project(tmp_path / "p.dvos", n_clips=3, n_frames=6, size=64, n_videos=0)
    cfg = TrainConfig(**{k: v for k, v in _config("").to_dict().items() if k != "init_from"})
    real = loop._Run._save_best
    monkeypatch.setattr(loop._Run, "_save_best", lambda self, epoch: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        train(p, cfg, "m", resume=False)
    monkeypatch.setattr(loop._Run, "_save_best", real)
    notes = []
    train(p, cfg, "m", resume=True, on_event=lambda e: notes.append(e.to_dict().get("note")))
    assert (p.model_dir("m") / "best.pt").is_file()
    assert any(n and "best.pt or metrics.json was written from last.pt" in n for n in notes), notes
    notes.clear()
    train(p, cfg, "m", resume=True, on_event=lambda e: notes.append(e.to_dict().get("note")))
    assert any(n and "its files are unchanged" in n for n in notes), notes


def test_a_resume_on_changed_data_says_so_and_records_it(tmp_path, capsys):
    """A run stopped, its synthetic clips made again (fewer), then resumed went on with the new data without a word
    (the CLI's start line as a fresh run's, and torch's own scheduler warning), and its checkpoints described only
    the new data. It warns, names the change, and keeps it in the checkpoints' data record."""
    import re

    import numpy as np

    from dvos_core.cli import main
    from dvos_core.data.toy import toy_clip
    from dvos_core.model import read_checkpoint
    from dvos_core.progress import Cancelled, CancelToken
    from dvos_core.train.events import BatchEvent

    p = make_toy_project(tmp_path / "p.dvos", n_clips=4, n_frames=6, size=64, n_videos=0)
    cfg = {k: v for k, v in _config("").to_dict().items() if k != "init_from"}
    run = TrainConfig(**{**cfg, "epochs": 2, "max_steps_per_epoch": 1})  # stopped at its epoch's last step
    token = CancelToken()
    with pytest.raises(Cancelled):
        train(p, run, "m", cancel=token, on_event=lambda e: isinstance(e, BatchEvent) and token.cancel())
    s = p.create_synthetic("more", 2, 6, 64, 64)  # labels added since: another synthetic set
    rng = np.random.default_rng(5)
    for i in range(2):
        s.write_clip(i, *toy_clip(6, 64, 64, rng))
    capsys.readouterr()
    assert main(["train", str(p.path), "--name", "m", "--config", str(p.model_dir("m") / "config.yaml")]) == 0
    err = capsys.readouterr().err  # the command prints warnings as "dvos train: warning: ..."
    assert re.search(r"warning: .*the training data changed since the run began \(train samples \d+ -> \d+", err)
    assert "going on with the run in its folder at epoch 1, step 1" in err and "lr_scheduler.step()" not in err
    data = read_checkpoint(p.model_dir("m") / "best.pt")["info"]["data"]
    assert data["changed_on_resume"][0]["after_epoch"] == 0
    assert any("synthetic_sets" in c for c in data["changed_on_resume"][0]["changes"])


def test_a_resume_after_its_synthetic_set_was_made_again_says_so(tmp_path):
    """The same set deleted and made again with as many clips (other clips, same counts) went unnoticed."""
    import numpy as np

    from dvos_core.data.toy import toy_clip
    from dvos_core.progress import Cancelled, CancelToken
    from dvos_core.train.events import BatchEvent

    p = make_toy_project(tmp_path / "p.dvos", n_clips=4, n_frames=6, size=64, n_videos=0)
    cfg = {k: v for k, v in _config("").to_dict().items() if k != "init_from"}
    run = TrainConfig(**{**cfg, "epochs": 2, "max_steps_per_epoch": 2})
    token = CancelToken()
    with pytest.raises(Cancelled):
        train(p, run, "m", cancel=token, on_event=lambda e: isinstance(e, BatchEvent) and token.cancel())
    p.delete("synthetic", "toy", wait=False)
    s = p.create_synthetic("toy", 4, 6, 64, 64)
    rng = np.random.default_rng(9)
    for i in range(4):
        s.write_clip(i, *toy_clip(6, 64, 64, rng))
    with pytest.warns(
        UserWarning, match=r"the training data changed since the run began \(synthetic set toy made again\)"
    ):
        train(p, run, "m")


def test_a_run_started_from_another_projects_model_continues_from_a_copy_of_that_file(tmp_path):
    """Last season's project archived (moved): the run fine-tuned from its model continues when given a copy of the
    file (known by its bytes), and a run given no starting checkpoint says which one it began from."""
    from dvos_core.store import Project

    last_season = Project.create(tmp_path / "2025.dvos")
    start = last_season.model_dir("image", create=True) / "best.pt"
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    project = make_toy_project(tmp_path / "toy.dvos", n_clips=4, n_frames=6, size=64, n_videos=1, video_frames=8)
    train(project, _config(start), "ft", resume=False)
    copy = tmp_path / "image_2025.pt"
    shutil.copy(start, copy)
    shutil.move(str(tmp_path / "2025.dvos"), str(tmp_path / "archive.dvos"))
    with pytest.raises(
        ResumeRefused,
        match=r"init_from: .* when it began, now none \(a new model\)\) .*names the checkpoint it began from, "
        r".*2025\.dvos/models/"
        r"image/best\.pt, which is not there now \(moved or deleted\?\): give --init-from where that file lies now, "
        r"or a copy of it: it is known",
    ):
        train(project, dataclasses.replace(_config(start, epochs=2), init_from=None), "ft")
    assert train(project, _config(copy, epochs=2), "ft").exists()  # continued, not refused
    torch.manual_seed(5)
    save_checkpoint(copy, build_model("tiny", "frame"), kind="frame", input_size=64)  # other bytes: another model
    with pytest.raises(
        ResumeRefused, match=r"started from .*image_2025\.pt as that file was then; it has changed since"
    ):
        train(project, _config(copy, epochs=3), "ft")


def test_continuing_a_dvos_model_with_another_tau_names_tau(tmp_path):
    project = make_toy_project(tmp_path / "toy.dvos", n_clips=4, n_frames=8, size=64, n_videos=1, video_frames=8)
    start = project.model_dir("image", create=True) / "best.pt"
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    video = train(project, _config(start, tau=2), "dvos2", resume=False)
    with pytest.raises(ValueError, match=r"settings that differ from its model's: tau 3 \(its model: 2\)"):
        train(project, _config(video, tau=3, phase="real"), "dvos3", resume=False)


def test_a_finished_run_killed_before_its_metrics_were_written_writes_them_on_resume(tmp_path, monkeypatch):
    """Killed between best.pt and metrics.json at its last epoch, the run looked finished: the rerun said "nothing
    to do (its files are unchanged)" and metrics.json kept naming an earlier epoch as the best."""
    import json

    from dvos_core.train import loop

    p = make_toy_project(tmp_path / "p.dvos", n_clips=3, n_frames=6, size=64, n_videos=0)
    cfg = TrainConfig(**{**_config("").to_dict(), "init_from": None, "epochs": 2})
    real = loop._Run._write_metrics

    def killed_at_the_end(self):
        if len(self.history) == self.cfg.epochs:
            raise SystemExit("killed")
        return real(self)

    monkeypatch.setattr(loop._Run, "_write_metrics", killed_at_the_end)
    with pytest.raises(SystemExit):
        train(p, cfg, "m", resume=False)
    monkeypatch.setattr(loop._Run, "_write_metrics", real)
    metrics = p.model_dir("m") / "metrics.json"
    assert [h["epoch"] for h in json.loads(metrics.read_text())["history"]] == [1]
    notes = []
    train(p, cfg, "m", resume=True, on_event=lambda e: notes.append(e.to_dict().get("note")))
    held = json.loads(metrics.read_text())
    assert [h["epoch"] for h in held["history"]] == [1, 2]
    best = torch.load(p.model_dir("m") / "best.pt", weights_only=False)["info"]["epoch"]
    assert held["best_epoch"] == best  # what best.pt holds
    assert any(n and "metrics.json was written from last.pt" in n for n in notes), notes


def test_a_runs_own_config_yaml_resumes_it_when_it_started_from_a_checkpoint(tmp_path):
    """config.yaml records the preset the start checkpoint fixed ('tiny'), the run's own record the preset asked for
    (the default 'small'): `--config models/NAME/config.yaml` was refused ("preset: 'small' when it began, now
    'tiny'") though the preset does nothing when a run starts from a checkpoint."""
    from dvos_core.train.loop import settings_refusal

    start = tmp_path / "img.pt"
    start.write_bytes(b"x")
    began = _config(start, preset="small").to_dict()
    assert settings_refusal(tmp_path, _config(start, preset="tiny"), began, False, None) is None
    fresh = {**began, "init_from": None}  # no start checkpoint: the preset is the model
    no_start = _config(start, preset="tiny").replace(init_from=None)
    assert "preset" in settings_refusal(tmp_path, no_start, fresh, False, None)


def test_the_hint_to_give_the_start_model_again_names_it_only_where_it_lies_now(tmp_path):
    """A run refused for want of --init-from was told to give its start file again even once that file was moved or
    deleted: the command it named was refused in turn."""
    from dvos_core.train.loop import settings_refusal

    root = tmp_path / "p.dvos"
    start = root / "models" / "image" / "best.pt"
    start.parent.mkdir(parents=True)
    start.write_bytes(b"x")
    out, now = root / "models" / "ft", dataclasses.replace(_config(start), init_from=None)

    def hint(began, init=None):
        return settings_refusal(out, now, _config(began).to_dict(), False, init)

    assert f"give --init-from {start} again, or a copy of that file" in hint(start)
    # the project moved since the run began: its own model, where it lies now
    moved = hint(tmp_path / "old.dvos" / "models" / "image" / "best.pt", {"in_project": True})
    assert f"give --init-from {start} (where that file lies now), or a copy" in moved
    start.unlink()  # deleted (or moved elsewhere): no command naming it
    gone = hint(start)
    assert f"names the checkpoint it began from, {start}, which is not there now (moved or deleted?)" in gone
    assert "give --init-from where that file lies now, or a copy of it" in gone and " again" not in gone


def test_a_refusal_lists_only_what_differs_once_the_start_checkpoint_gives_preset_and_size(tmp_path):
    """A run begun with --preset tiny --size 64, resumed with --init-from a tiny 64 px checkpoint, was refused listing
    `preset: 'tiny' when it began, now 'small'` and `size: 64 when it began, now None`: the checkpoint fixes both."""
    from dvos_core.train.loop import settings_refusal

    start = tmp_path / "image_2025.pt"
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    began = tiny_train_config(phase="image", size=64).to_dict()
    now = tiny_train_config(phase="image", init_from=start, preset="small")  # preset and size: the defaults
    why = settings_refusal(tmp_path / "image", now, began, False, None)
    assert "init_from: none (a new model) when it began, now " in why, why
    assert why.endswith(f"now {str(start)!r})") and "preset" not in why and "size" not in why and "None" not in why
    assert settings_refusal(tmp_path / "image", now, {**began, "init_from": str(start)}, False, None) is None
    bigger = now.replace(size=128)  # a size given that the run did not begin with still differs
    assert "size: 64 when it began, now 128" in settings_refusal(
        tmp_path, bigger, {**began, "init_from": str(start)}, False, None
    )


def test_a_run_begun_from_a_file_moved_since_resumes_from_a_renamed_copy(tmp_path):
    """The start checkpoint moved and resumed from its copy under another name: the recorded side could not be read
    (size unset, as recorded) while the copy gave its input size (64), so 'size: the start checkpoint's when it
    began, now 64' refused a resume the message itself invited (a copy: known by its bytes)."""
    import hashlib

    from dvos_core.train.loop import settings_refusal

    start = tmp_path / "ck" / "a.pt"
    start.parent.mkdir()
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    began = tiny_train_config(phase="image", init_from=start).to_dict()
    init = {"sha256": hashlib.sha256(start.read_bytes()).hexdigest()}
    copy = start.with_name("b.pt")
    start.rename(copy)
    now = tiny_train_config(phase="image", init_from=copy)
    assert settings_refusal(tmp_path / "models" / "ft", now, began, False, init) is None


def test_a_model_is_never_trained_from_its_own_checkpoint(tmp_path):
    """``--init-from self --name self`` was run: its first epoch overwrote the weights it started from, and every
    later run under that name was refused ("it has changed since")."""
    project = make_toy_project(tmp_path / "toy.dvos", n_clips=4, n_frames=6, size=64, n_videos=1, video_frames=8)
    start = project.model_dir("self", create=True) / "best.pt"
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    before = start.read_bytes()
    for spelt in ("self", str(start), start.parent):
        with pytest.raises(ValueError, match=r"is a checkpoint of 'self', the model this run trains.*--name self_2"):
            train(project, _config(spelt, phase="image"), "self", resume=False)
    assert start.read_bytes() == before and sorted(p.name for p in start.parent.iterdir()) == ["best.pt"]


def test_a_finished_run_whose_best_pt_is_damaged_says_so(tmp_path, monkeypatch):
    """`dvos train` again on a finished run whose best.pt was cut in half said "nothing to do" and named the damaged
    file as its model; it now says best.pt is damaged and to use last.pt (or train again). A best.pt of the last
    epoch is written again from last.pt, as before."""
    from dvos_core.train import loop

    p = make_toy_project(tmp_path / "p.dvos", n_clips=3, n_frames=6, size=64, n_videos=0)
    cfg = TrainConfig(**{k: v for k, v in _config("", epochs=1).to_dict().items() if k != "init_from"})
    best = train(p, cfg, "m", resume=False)
    whole = best.read_bytes()
    best.write_bytes(whole[: len(whole) // 2])
    with monkeypatch.context() as m:
        m.setattr(loop._Run, "_repair_best", lambda self, state: False)  # as when an earlier epoch was the best
        with pytest.raises(ResumeRefused, match=r"best\.pt: damaged, it cannot be read \(.*\).*use .*last\.pt"):
            train(p, cfg, "m")
    events = []
    assert train(p, cfg, "m", on_event=events.append) == best  # the last epoch was the best: written from last.pt
    assert "written from last.pt" in events[-1]["note"]
