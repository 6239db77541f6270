"""Trainer: a tiny model learns, resume after a cancel or a crash equals an uninterrupted run, image phase + init
chain, TrainProcess stop, CPU DDP with two gloo processes that stay in lock-step."""

import json
import os
import socket

import pytest
import torch

from dvos_core.data.toy import make_toy_project
from dvos_core.model import load_checkpoint, read_checkpoint
from dvos_core.progress import Cancelled, CancelToken
from dvos_core.train import TrainConfig, TrainProcess, train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_toy_project(
        tmp_path_factory.mktemp("t") / "toy.dvos", n_clips=8, n_frames=8, size=64, n_videos=2, video_frames=12, seed=1
    )


def tiny_config(**kw):
    base = {
        "phase": "synthetic",
        "preset": "tiny",
        "epochs": 2,
        "batch_size": 4,
        "size": 64,
        "lr": 3e-3,
        "eta_min": 1e-4,
        "max_steps_per_epoch": 3,
        "seed": 7,
        "num_workers": 0,
    }
    base.update(kw)
    return TrainConfig(**base)


def test_tiny_model_learns_the_toy_clips(project):
    events = []
    best = train(project, tiny_config(epochs=3, max_steps_per_epoch=12), "learn", on_event=events.append, resume=False)
    epochs = [e for e in events if e["type"] == "epoch"]
    assert events[0]["type"] == "start" and events[0]["steps_per_epoch"] == 12 and events[-1]["type"] == "done"
    assert len([e for e in events if e["type"] == "batch"]) == 36
    # all-background prediction scores ~0 per frame (every toy frame has objects); a trained model far more
    assert epochs[-1]["val_dice"] > 0.6
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert epochs[0]["lr"] > epochs[-1]["lr"]
    _model, info = load_checkpoint(best)
    assert info["kind"] == "dvos" and info["phase"] == "synthetic" and info["data"]["train"]["samples"] > 0
    assert len(info["metrics"]) == info["epoch"]
    hist = json.loads((best.parent / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert (best.parent / "config.yaml").exists() and (best.parent / "last.pt").exists()


@pytest.fixture(scope="module")
def straight(project):
    """An uninterrupted 2-epoch run that the interrupted runs must reproduce exactly."""
    train(project, tiny_config(), "straight", resume=False)
    return read_checkpoint(project.model_dir("straight") / "last.pt")


def assert_same_state(a, b):
    """Two last.pt payloads hold the same weights, optimizer, scheduler, RNG and metrics (timings aside)."""
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    sa, sb = a["info"]["train_state"], b["info"]["train_state"]
    assert sa["optimizer"]["param_groups"] == sb["optimizer"]["param_groups"]
    assert sa["optimizer"]["state"].keys() == sb["optimizer"]["state"].keys()
    for pid, st in sa["optimizer"]["state"].items():
        for key, v in st.items():
            assert torch.equal(v, sb["optimizer"]["state"][pid][key]), (pid, key)
    assert sa["scheduler"] == sb["scheduler"]
    assert torch.equal(sa["rng"]["torch"], sb["rng"]["torch"])
    assert (sa["epoch"], sa["step"], sa["global_step"], sa["best_epoch"]) == (
        sb["epoch"],
        sb["step"],
        sb["global_step"],
        sb["best_epoch"],
    )
    assert a["info"]["metrics"] == [
        dict(m, time_s=m2["time_s"]) for m, m2 in zip(b["info"]["metrics"], a["info"]["metrics"])
    ]


def cancel_mid_epoch_two(project, cfg, name):
    """Start a run of ``cfg`` named ``name`` and Cancel it after the first step of its second epoch."""
    token = CancelToken()

    def stop_mid_epoch_two(e):
        if e["type"] == "batch" and e["epoch"] == 2 and e["step"] == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        train(project, cfg, name, cancel=token, on_event=stop_mid_epoch_two, resume=False)


def test_resume_after_cancel_matches_uninterrupted_run(project, straight):
    cfg = tiny_config()
    cancel_mid_epoch_two(project, cfg, "interrupted")
    state = read_checkpoint(project.model_dir("interrupted") / "last.pt")["info"]["train_state"]
    assert (state["epoch"], state["step"]) == (1, 1)
    train(project, cfg, "interrupted", resume=True)
    assert_same_state(straight, read_checkpoint(project.model_dir("interrupted") / "last.pt"))
    with pytest.raises(ValueError, match="different settings"):
        train(project, tiny_config(lr=1e-3), "straight", resume=True)


def test_an_interrupt_in_a_notebook_stops_like_a_cancel_and_resumes(project, straight):
    """A notebook's "Interrupt kernel" (SIGINT) raised KeyboardInterrupt wherever the run was: a first epoch lost
    its folder, a later one went back to its last epoch. Now the first one stops the run at its next safe point, as
    a cancel does (last.pt at the step), and is raised as KeyboardInterrupt; the resumed run equals a straight one."""
    import signal

    cfg = tiny_config()

    def interrupt_mid_epoch_two(e):
        if e["type"] == "batch" and e["epoch"] == 2 and e["step"] == 1:
            signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own, as in a notebook's cell
    try:
        with pytest.raises(KeyboardInterrupt, match="saved its last.pt"):
            train(project, cfg, "by_interrupt", on_event=interrupt_mid_epoch_two, resume=False)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    state = read_checkpoint(project.model_dir("by_interrupt") / "last.pt")["info"]["train_state"]
    assert (state["epoch"], state["step"]) == (1, 1)
    train(project, cfg, "by_interrupt", resume=True)
    assert_same_state(straight, read_checkpoint(project.model_dir("by_interrupt") / "last.pt"))


def test_resume_after_a_crash_matches_uninterrupted_run(project, straight):
    """A run that dies mid-epoch without saving (like a kill) resumes from the last epoch's last.pt."""
    cfg = tiny_config()

    def die_mid_epoch_two(e):
        if e["type"] == "batch" and e["epoch"] == 2 and e["step"] == 2:
            raise RuntimeError("simulated kill")

    with pytest.raises(RuntimeError, match="simulated kill"):
        train(project, cfg, "crashed", on_event=die_mid_epoch_two, resume=False)
    state = read_checkpoint(project.model_dir("crashed") / "last.pt")["info"]["train_state"]
    assert (state["epoch"], state["step"]) == (1, 0)  # the two steps of epoch 2 were lost
    train(project, cfg, "crashed", resume=True)
    assert_same_state(straight, read_checkpoint(project.model_dir("crashed") / "last.pt"))


def test_image_phase_then_video_init(project):
    frame_ckpt = train(project, tiny_config(phase="image", epochs=1, max_steps_per_epoch=2), "img", resume=False)
    m, info = load_checkpoint(frame_ckpt)
    assert info["kind"] == "frame" and m.tau == 0
    events = []
    train(
        project,
        tiny_config(epochs=1, max_steps_per_epoch=1, init_from=str(frame_ckpt)),
        "p1",
        on_event=events.append,
        resume=False,
    )
    p1 = read_checkpoint(project.model_dir("p1") / "last.pt")
    assert p1["info"]["init"]["loaded"] == len(m.state_dict()) and p1["info"]["init"]["missing"] > 0
    p2 = train(
        project,
        tiny_config(phase="real", epochs=1, max_steps_per_epoch=1, init_from=str(project.model_dir("p1") / "last.pt")),
        "p2",
        resume=False,
    )
    assert load_checkpoint(p2)[1]["phase"] == "real"


def test_a_context_model_option_is_trained_kept_by_the_next_phase_and_not_changed_there(project):
    frame_ckpt = train(project, tiny_config(phase="image", epochs=1, max_steps_per_epoch=2), "img_px", resume=False)
    video = {"video_model": "context", "epochs": 1, "max_steps_per_epoch": 2, "batch_size": 2}
    p1_config = tiny_config(**video, init_from=str(frame_ckpt), model={"input_fusion": True})
    p1 = train(project, p1_config, "px1", resume=False)
    model, _ = load_checkpoint(p1)
    assert model.config.input_fusion and model.ref_input.weight.abs().sum() > 0  # trained from zero
    # the next phase continues the checkpoint's model as it is, without restating the option
    p2 = train(project, tiny_config(**video, phase="real", init_from=str(p1)), "px2", resume=False)
    assert load_checkpoint(p2)[0].config.input_fusion
    # but a setting that would drop (or add) a part is refused with the fix, not torch's missing-key error
    with pytest.raises(ValueError, match=r"ref_input.*model settings it was trained with"):
        train(project, tiny_config(**video, phase="real", init_from=str(p1), model={"input_fusion": False}), "px3")
    with pytest.raises(
        ValueError, match=r"fusions: 0 tensor\(s\) it lacks, 0 it has beyond them, [1-9][0-9]* of another shape"
    ):
        train(project, tiny_config(**video, phase="real", init_from=str(p1), model={"fusion_dim": 8}), "px4")
    # the video model left out (the paper's, by default) with a context checkpoint: the fix is --video-model context
    paper = {**video, "video_model": "dvos"}
    with pytest.raises(ValueError, match=r"'context' model cannot initialise a 'dvos' model; .*--video-model context"):
        train(project, tiny_config(**paper, phase="real", init_from=str(p1)), "px5")


def test_a_model_setting_that_resizes_the_shared_parts_is_refused_when_one_kind_starts_from_the_other(project):
    """A video model started from an image model used to train with the image tensors of another shape silently left
    out (55 of 165 loaded); an image model started from a video model failed with torch's size-mismatch error."""
    short = {"epochs": 1, "max_steps_per_epoch": 1, "batch_size": 2}
    img = train(project, tiny_config(phase="image", **short), "img_kinds", resume=False)
    wider = {"widths": [16, 16, 16, 32, 32], "dropout": 0.2}
    fix = r"widths \[16, 16, 16, 32, 32\] \(its model: \[8, 8, 8, 16, 16\]\).*settings it was trained with"
    with pytest.raises(ValueError, match=r"encoder.* of another shape.*" + fix + r".*--phase image"):
        train(project, tiny_config(video_model="context", init_from=str(img), model=wider, **short), "ctx_w")
    assert not (project.model_dir("ctx_w") / "best.pt").exists()
    ctx = train(project, tiny_config(video_model="context", init_from=str(img), **short), "ctx_kinds", resume=False)
    with pytest.raises(ValueError, match=r"encoder.* of another shape.*" + fix + r".*leave out --init-from"):
        train(project, tiny_config(phase="image", init_from=str(ctx), model=wider, **short), "img_w")
    assert not (project.model_dir("img_w") / "best.pt").exists()


def test_the_share_of_degraded_queries_is_matched_to_the_footage_unless_the_config_fixes_it(project):
    from dvos_core.data.degradation_match import matched_query_share, measure_degradation, project_footage

    frame_ckpt = train(project, tiny_config(phase="image", epochs=1, max_steps_per_epoch=2), "img_dq", resume=False)
    video = {"video_model": "context", "epochs": 1, "max_steps_per_epoch": 2, "batch_size": 2}
    events = []
    config = tiny_config(**video, init_from=str(frame_ckpt))
    matched = train(project, config, "dq_matched", resume=False, on_event=events.append)
    recorded = read_checkpoint(matched)["info"]["data"]["degraded_queries"]
    measured = measure_degradation(project_footage(project))
    assert measured.pairs > 0 and recorded["matched_to"] == measured.to_dict()
    assert recorded["share"] == matched_query_share(measured)
    assert events[0]["type"] == "start" and events[0]["matched_degraded_queries"] == recorded["share"]  # shown
    fixed = {"augment": {"context": {"degrade_query_p": 0.5}}}
    events.clear()
    kept = train(project, tiny_config(**video, **fixed, init_from=str(frame_ckpt)), "dq_fixed", on_event=events.append)
    assert "degraded_queries" not in read_checkpoint(kept)["info"]["data"]  # the config's 0.5 is used as it is
    assert events[0]["matched_degraded_queries"] is None


def test_a_resumed_run_keeps_the_share_of_degraded_queries_it_started_with(project, monkeypatch):
    import dvos_core.data.degradation_match as dm

    frame_ckpt = train(project, tiny_config(phase="image", epochs=1, max_steps_per_epoch=2), "img_dr", resume=False)
    cfg = tiny_config(video_model="context", batch_size=2, max_steps_per_epoch=2, init_from=str(frame_ckpt))
    cancel_mid_epoch_two(project, cfg, "dq_resumed")
    started = read_checkpoint(project.model_dir("dq_resumed") / "last.pt")["info"]["data"]["degraded_queries"]
    monkeypatch.setattr(dm, "matched_query_share", lambda measured: 0.55)  # as if the footage had changed since
    done = train(project, cfg, "dq_resumed", resume=True)
    assert started["share"] != 0.55
    assert read_checkpoint(done)["info"]["data"]["degraded_queries"] == started
    fresh = train(project, cfg, "dq_fresh", resume=False)
    assert read_checkpoint(fresh)["info"]["data"]["degraded_queries"]["share"] == 0.55


def test_loader_workers_live_for_the_whole_run(project, tmp_path, monkeypatch):
    from dvos_core.data import ClipDataset

    log = tmp_path / "pids.txt"
    real = ClipDataset.__getitem__

    def getitem(self, i):
        if self.train:  # the training loader's items (validation has its own short-lived loader)
            with open(log, "a") as f:  # the worker processes are forked: they write here too
                f.write(f"{os.getpid()}\n")
        return real(self, i)

    monkeypatch.setattr(ClipDataset, "__getitem__", getitem)
    train(
        project,
        tiny_config(phase="image", epochs=3, max_steps_per_epoch=2, num_workers=1, val_fraction=0),
        "w",
        resume=False,
    )
    pids = log.read_text().split()
    assert len(pids) >= 3 * 2 * 4 and len(set(pids) - {str(os.getpid())}) == 1  # one worker, not one per epoch


def test_train_process_stop(project):
    proc = TrainProcess(project.path, tiny_config(epochs=50, max_steps_per_epoch=50), "bg", resume=False).start()
    events = []
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(e["type"] == "batch" for e in events):
        events += proc.poll()
        assert not any(e["type"] == "error" for e in events), events
        time.sleep(0.1)
    proc.stop()
    assert proc.join(60) == 0
    events += proc.poll()
    assert events[0]["type"] == "start" and events[-1]["type"] == "cancelled"
    assert (project.model_dir("bg") / "last.pt").exists() and not proc.is_alive()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, project_path, cfg_dict, out_dir):
    """One torchrun-like rank; records its learning rates and a weight fingerprint after every optimizer step."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    events, lrs, fingerprints = [], [], []
    sched_step, opt_step = torch.optim.lr_scheduler.CosineAnnealingLR.step, torch.optim.AdamW.step

    def recording_sched_step(self, *a, **kw):
        sched_step(self, *a, **kw)
        lrs.append(self.optimizer.param_groups[0]["lr"])

    def recording_opt_step(self, *a, **kw):
        out = opt_step(self, *a, **kw)
        fingerprints.append(float(sum(p.detach().double().sum() for g in self.param_groups for p in g["params"])))
        return out

    torch.optim.lr_scheduler.CosineAnnealingLR.step = recording_sched_step
    torch.optim.AdamW.step = recording_opt_step
    train(project_path, TrainConfig.from_dict(cfg_dict), "ddp", on_event=events.append, resume=False)
    torch.save(
        {"events": len(events), "lrs": lrs, "fingerprints": fingerprints}, os.path.join(out_dir, f"rank{rank}.pt")
    )


@pytest.mark.slow
def test_ddp_two_cpu_processes(project, tmp_path):
    cfg = tiny_config(epochs=2, max_steps_per_epoch=2, batch_size=2)
    torch.multiprocessing.spawn(
        _ddp_worker, args=(2, _free_port(), str(project.path), cfg.to_dict(), str(tmp_path)), nprocs=2, join=True
    )
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert r0["events"] > 0 and r1["events"] == 0  # only rank 0 reports and writes
    # every rank steps its scheduler (initial lr + one step per epoch) and the ranks stay in lock-step
    assert len(r1["lrs"]) == 3 and r0["lrs"] == r1["lrs"] and r1["lrs"][-1] == pytest.approx(cfg.eta_min)
    assert len(r0["fingerprints"]) == 4 and r0["fingerprints"] == r1["fingerprints"]
    ck = read_checkpoint(project.model_dir("ddp") / "last.pt")
    assert ck["info"]["epoch"] == 2 and len(ck["info"]["metrics"]) == 2
    saved = float(sum(v.double().sum() for v in ck["state_dict"].values()))
    assert saved == pytest.approx(r1["fingerprints"][-1], rel=1e-12)
    lr_after = ck["info"]["train_state"]["optimizer"]["param_groups"][0]["lr"]
    assert lr_after == pytest.approx(cfg.eta_min)  # the cosine reached its end


@pytest.mark.slow
def test_ddp_with_an_unused_head(project, tmp_path):
    """frame_weight 0 leaves the frame head without gradients; DDP must still run (unused-parameter detection)."""
    cfg = tiny_config(epochs=1, max_steps_per_epoch=2, batch_size=2, frame_weight=0.0)
    torch.multiprocessing.spawn(
        _ddp_worker, args=(2, _free_port(), str(project.path), cfg.to_dict(), str(tmp_path)), nprocs=2, join=True
    )
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert len(r0["fingerprints"]) == 2 and r0["fingerprints"] == r1["fingerprints"]


def test_selection_rule():
    cfg = tiny_config(phase="real", init_from="img/best.pt")
    assert cfg.selection({"pseudo": 3, "predicted": 1})[0] == "last"  # model-made labels only: the last epoch
    assert cfg.selection({"pseudo": 3, "manual": 1})[0] == "val"  # one painted frame is enough to validate
    synthetic = tiny_config(phase="synthetic", init_from="img/best.pt")
    assert synthetic.selection({"synthetic": 36})[0] == "last"  # synthetic clips score the synthetic domain
    assert "synthetic clip" in synthetic.selection({"synthetic": 36})[1]
    assert synthetic.selection({"synthetic": 36, "corrected": 1})[0] == "val"  # a corrected frame validates
    assert tiny_config(phase="synthetic").selection({"synthetic": 36})[0] == "val"  # from scratch
    assert cfg.selection({})[0] == "val"  # no validation: the training loss decides, as before
    assert tiny_config(phase="real").selection({"pseudo": 3})[0] == "val"  # from scratch: nothing to be near
    assert cfg.replace(select_by="val").selection({"pseudo": 3})[0] == "val"
    assert tiny_config(select_by="last").selection({"manual": 3})[0] == "last"
    with pytest.raises(ValueError, match="select_by must be one of"):
        tiny_config(select_by="best").validate()


def test_pseudo_labelled_validation_keeps_the_last_epoch(tmp_path, monkeypatch):
    """A fine-tuning run validated on pseudo-labels (or synthetic clips) only keeps its last epoch as best.pt
    (``select_by: auto``); told to use validation it keeps the epoch validation scored best (here the first: scores
    made to fall)."""
    from dvos_core.train import loop

    project = make_toy_project(tmp_path / "p.dvos", n_clips=2, n_frames=6, size=64, n_videos=2, video_frames=12)
    val = project.video(project.video_ids()[1])  # the toy's val-split video
    for t in val.labelled_frames():
        val.set_mask(int(t), val.mask(int(t)), "pseudo", overwrite=True)
    image = train(project, tiny_config(phase="image", epochs=1, max_steps_per_epoch=2), "img", resume=False)
    validate = loop._Run._validate

    def falling(self, epoch):  # the real validation, its Dice then lowered epoch by epoch
        out = validate(self, epoch)
        falling.calls += 1
        return {**out, "val_dice": 0.9 - 0.1 * falling.calls}

    monkeypatch.setattr(loop._Run, "_validate", falling)
    runs = {}
    for select in ("auto", "val"):
        falling.calls = 0
        cfg = tiny_config(phase="real", epochs=3, max_steps_per_epoch=1, init_from=str(image), select_by=select)
        train(project, cfg, f"ft_{select}", resume=False)
        runs[select] = json.loads((project.model_dir(f"ft_{select}") / "metrics.json").read_text())
        assert runs[select]["history"][0]["val_frames"] > 0  # it did validate, on the pseudo-labelled frames
    assert runs["auto"]["selection"]["by"] == "last" and runs["auto"]["best_epoch"] == 3
    assert runs["val"]["selection"]["by"] == "val" and runs["val"]["best_epoch"] == 1
    best, last = (read_checkpoint(project.model_dir("ft_auto") / f)["state_dict"] for f in ("best.pt", "last.pt"))
    assert all(torch.equal(best[k], last[k]) for k in best)
    assert load_checkpoint(project.model_dir("ft_auto") / "best.pt")[1]["data"]["selection"]["by"] == "last"
    first = read_checkpoint(project.model_dir("ft_val") / "best.pt")
    assert first["info"]["epoch"] == 1
    falling.calls = 0  # a synthetic phase from the image model validates on synthetic clips: the last epoch too
    cfg = tiny_config(phase="synthetic", epochs=2, max_steps_per_epoch=1, init_from=str(image))
    train(project, cfg, "syn", resume=False)
    syn = json.loads((project.model_dir("syn") / "metrics.json").read_text())
    assert syn["history"][0]["val_frames"] > 0 and syn["best_epoch"] == 2
    assert syn["selection"]["by"] == "last" and "synthetic clip" in syn["selection"]["why"]


def test_loader_workers_compute_with_one_thread(project, tmp_path, monkeypatch):
    """The parent trains with 2 threads (torch and OpenCV); each loader worker with 1 of each, so workers x threads
    do not oversubscribe the cores (OpenCV would keep the parent's count in a forked worker)."""
    import cv2
    import torch

    from dvos_core.data import ClipDataset

    log = tmp_path / "threads.txt"
    real = ClipDataset.__getitem__

    def getitem(self, i):
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {torch.get_num_threads()} {cv2.getNumThreads()}\n")
        return real(self, i)

    monkeypatch.setattr(ClipDataset, "__getitem__", getitem)
    cfg = tiny_config(phase="image", epochs=1, max_steps_per_epoch=2, num_workers=1, val_fraction=0)
    train(project, cfg, "t", resume=False, threads=2)
    rows = [line.split() for line in log.read_text().splitlines()]
    workers = {(t, c) for pid, t, c in rows if pid != str(os.getpid())}
    assert rows and workers == {("1", "1")}
