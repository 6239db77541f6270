"""generate()/preview(): store round trip, resume after a kill, worker-count independence, cancel, errors, CLI.

A set's clips depend on its seed and its name: results of two runs are compared for sets of one name (``by_hand``
renders a set's clips from their derived seeds)."""

import numpy as np
import pytest

from dvos_core.progress import Cancelled, CancelToken
from dvos_core.store import Project, StoreError
from dvos_core.synth import SynthConfig, clip_seed, generate, preview, simulate_clip
from dvos_core.synth.generate import set_seed_key
from dvos_core.synth.toy import toy_project

CFG = SynthConfig(n_frames=4, height=80, width=80, n_heads=(3, 8), n_fakes=(3, 8))


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    return toy_project(
        tmp_path_factory.mktemp("synth") / "p.dvos", n_heads=5, n_fakes=5, bg_frames=6, bg_size=(110, 120)
    )


def read_all(s):
    return [s.read_clip(i) for i in range(s.n_clips)]


def same(a, b):
    return all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))


def by_hand(proj, name, n=3, seed=5, key=True):
    """Clips 0..n-1 of a set ``name`` made with ``seed``, rendered by hand from their derived seeds (the toy project
    has one background clip); ``key=False``: as a set of an earlier dvos (no name in the seed)."""
    heads, fakes = proj.objects.load("head"), proj.objects.load("fake")
    frames = proj.background("field").read_frames()
    k = set_seed_key(name) if key else None
    return [simulate_clip(heads, fakes, frames, CFG, seed=clip_seed(seed, i, k)) for i in range(n)]


@pytest.fixture(scope="module")
def reference(proj):
    s = generate(proj, "ref", 3, CFG, seed=5, backend="serial")
    return read_all(s)


def test_generate_writes_done_clips_with_provenance_and_config(proj, reference):
    s = proj.synthetic("ref")
    assert s.done().tolist() == [0, 1, 2]
    assert s.attrs["provenance"] == "synthetic" and s.split == "train"
    assert SynthConfig.from_dict(s.attrs["config"]) == CFG and s.attrs["seed"] == 5
    frames, masks = reference[0]
    assert frames.shape == (4, 80, 80, 3) and masks.shape == (4, 80, 80) and set(np.unique(masks)) <= {0, 1}
    assert masks.any() and not np.array_equal(reference[0][0], reference[1][0])


def test_clip_matches_simulate_clip_with_its_derived_seed(proj, reference):
    # clip i depends on (seed, set name, i) only: re-render the clips by hand from the same inputs
    assert proj.synthetic("ref").attrs["seed_key"] == set_seed_key("ref")
    assert same(reference, by_hand(proj, "ref"))


def test_sets_of_other_names_with_the_same_seed_hold_other_clips(proj, reference, tmp_path):
    """Clip i's seed came from (seed, i) alone: a second set (more clips under a new --name, a --split val set) made
    with the default seed copied the first one's clips, and validation measured training data."""
    other = generate(proj, "other", 3, CFG, seed=5, backend="serial", split="val")
    assert not any(np.array_equal(a[0], b[0]) for a in read_all(other) for b in reference)
    # reproducible: the same name, seed and config in another project give the same clips
    again = toy_project(tmp_path / "again.dvos", n_heads=5, n_fakes=5, bg_frames=6, bg_size=(110, 120))
    assert same(read_all(generate(again, "ref", 3, CFG, seed=5, backend="serial")), reference)


def test_a_set_of_an_earlier_dvos_resumes_with_its_own_seeds(proj):
    """A set started before the name entered the seed (no ``seed_key`` recorded) makes its missing clips as its
    first ones were made, from (seed, i)."""
    s = generate(proj, "older", 3, CFG, seed=5, backend="serial")
    del s.group.attrs["seed_key"]
    s.group["done"][1] = 0
    generate(proj, "older", 3, CFG, seed=5, backend="serial")
    assert same(read_all(proj.synthetic("older"))[1:2], by_hand(proj, "older", n=2, key=False)[1:2])


def test_resume_after_kill_renders_only_missing_clips(proj, reference):
    s = generate(proj, "resume", 3, CFG, seed=5, backend="serial")
    # simulate a kill during clip 1 (half-written, not done) and tag clip 0 to see it is not redone
    s.group["done"][1] = 0
    s.group["frames"][1, 0] = 0
    s.group["frames"][0, 0, 0, 0] = (1, 2, 3)
    msgs = []
    generate(proj, "resume", 3, CFG, seed=5, backend="serial", progress=lambda d, t, m: msgs.append((d, t, m)))
    assert msgs[0] == (2, 3, "resume: 1 clips to render") and msgs[-1][:2] == (3, 3)
    got = read_all(s)
    assert got[0][0][0, 0, 0].tolist() == [1, 2, 3]  # clip 0 untouched
    assert same(got[1:], by_hand(proj, "resume")[1:])  # clip 1 identical to a fresh run


def test_set_killed_while_being_created_is_started_afresh(proj, reference):
    # a kill between creating the group and recording its settings leaves a set with no config and no done clip
    proj.root["synthetic"].create_group("half")
    s = generate(proj, "half", 3, CFG, seed=5, backend="serial")
    assert s.attrs["seed"] == 5 and same(read_all(s), by_hand(proj, "half"))
    # a set whose settings were recorded is never silently replaced
    with pytest.raises(StoreError, match="different seed"):
        generate(proj, "half", 3, CFG, seed=6, backend="serial")


def test_two_worker_processes_equal_serial(proj, reference):
    s = generate(proj, "par", 3, CFG, seed=5, workers=2, backend="process")
    assert same(read_all(s), by_hand(proj, "par"))


def test_dask_backend_equals_serial(proj, reference):
    pytest.importorskip("dask")
    s = generate(proj, "dask", 3, CFG, seed=5, workers=2, backend="dask")
    assert same(read_all(s), by_hand(proj, "dask"))


def test_dask_distributed_client_equals_serial(proj, reference):
    """The cluster path: an active distributed client (here an in-process local cluster) runs the clips."""
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None):
        s = generate(proj, "cluster", 3, CFG, seed=5, backend="dask")
    assert same(read_all(s), by_hand(proj, "cluster"))


def test_cancel_keeps_finished_clips_and_resume_completes(proj, reference):
    token = CancelToken()

    def progress(done, total, msg):
        if done >= 1:
            token.cancel()

    with pytest.raises(Cancelled):
        generate(proj, "cancel", 3, CFG, seed=5, backend="serial", progress=progress, cancel=token)
    s = proj.synthetic("cancel")
    assert 1 <= len(s.done()) < 3
    generate(proj, "cancel", 3, CFG, seed=5, backend="serial")
    assert same(read_all(s), by_hand(proj, "cancel"))


def test_resume_with_other_settings_is_refused(proj, reference):
    with pytest.raises(StoreError, match="different config.*n_frames"):
        generate(proj, "ref", 3, CFG.replace(n_frames=5), seed=5, backend="serial")
    with pytest.raises(StoreError, match="different seed"):
        generate(proj, "ref", 3, CFG, seed=6, backend="serial")
    with pytest.raises(StoreError, match="different n_clips .*a set does not grow.*another set .* new --name"):
        generate(proj, "ref", 5, CFG, seed=5, backend="serial")
    # a split nothing trains on is refused (training skipped such a set silently); asked again, the split changes
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'val', 'test'\)"):
        generate(proj, "ref", 3, CFG, seed=5, backend="serial", split="validation")
    before = proj.synthetic("ref").read_clip(0)
    assert generate(proj, "ref", 3, CFG, seed=5, backend="serial", split="val").split == "val"
    assert proj.synthetic("ref").split == "val"
    assert all(np.array_equal(a, b) for a, b in zip(before, proj.synthetic("ref").read_clip(0)))  # data kept


def test_missing_inputs_are_clear_errors(tmp_path):
    p = Project.create(tmp_path / "empty.dvos")
    with pytest.raises(ValueError, match="no real heads"):
        generate(p, "x", 1, CFG, backend="serial")
    with pytest.raises(ValueError, match="no real heads"):
        preview(p, CFG, n_frames=2, size=64)
    p.objects.add([(np.full((10, 6, 4), 255, np.uint8), {"kind": "head"})])
    with pytest.raises(ValueError, match="no background clips"):
        generate(p, "x", 1, CFG, backend="serial")
    bg = p.create_background("small", 50, 50)
    bg.append_frames(np.zeros((2, 50, 50, 3), np.uint8))
    with pytest.raises(ValueError, match="at least 80x80"):
        generate(p, "x", 1, CFG, backend="serial")
    with pytest.raises(ValueError, match="backend"):
        generate(p, "x", 1, CFG, backend="threads")
    assert p.synthetic_ids() == []  # nothing half-created


def test_preview_is_a_short_clip_from_the_store(proj):
    frames, masks = preview(proj, CFG, seed=1, n_frames=5, size=96)
    assert frames.shape == (5, 96, 96, 3) and masks.shape == (5, 96, 96) and masks.any()
    again = preview(str(proj.path), CFG, seed=1, n_frames=5, size=96)
    assert np.array_equal(frames, again[0])


def test_cli_synth_preview_generate_and_config(proj, tmp_path, capsys):
    from dvos_core.cli import main

    cfg_file = tmp_path / "s.yaml"
    assert main(["synth", "--write-config", str(cfg_file)]) == 0
    text = cfg_file.read_text().replace("n_frames: 60", "n_frames: 3")
    cfg_file.write_text(text)
    png = tmp_path / "look.png"
    assert main(["synth", str(proj.path), "--preview", str(png), "--size", "64", "--frames", "3"]) == 0
    assert png.stat().st_size > 1000
    assert (
        main(
            [
                "synth",
                str(proj.path),
                "--name",
                "cli",
                "--clips",
                "2",
                "--size",
                "64",
                "--config",
                str(cfg_file),
                "--backend",
                "serial",
            ]
        )
        == 0
    )
    s = Project.open(proj.path).synthetic("cli")
    assert len(s.done()) == 2 and s.n_frames == 3
    assert main(["synth", str(proj.path), "--name", "cli2"]) == 2  # --clips missing: clear error, no traceback
    # an unsupported preview file is refused before anything is read or rendered
    assert main(["synth", str(tmp_path / "nowhere.dvos"), "--preview", str(tmp_path / "look.gif")]) == 2
    assert "must end in .mp4" in capsys.readouterr().err and not (tmp_path / "look.gif").exists()
    (tmp_path / "typo.yaml").write_text("n_heads: 5\n")
    assert main(["synth", str(proj.path), "--preview", str(png), "--config", str(tmp_path / "typo.yaml")]) == 2


def test_cancel_stops_worker_processes_cleanly(proj, reference):
    token = CancelToken()
    with pytest.raises(Cancelled):
        generate(
            proj,
            "pcancel",
            8,
            CFG,
            seed=5,
            workers=2,
            backend="process",
            progress=lambda d, t, m: token.cancel() if d >= 1 else None,
            cancel=token,
        )
    s = proj.synthetic("pcancel")
    assert 1 <= len(s.done()) < 8
    generate(proj, "pcancel", 8, CFG, seed=5, backend="serial")
    assert same(read_all(s)[:3], by_hand(proj, "pcancel"))  # clip i depends on (seed, name, i), not the set size


def test_a_set_whose_background_clips_were_cut_again_is_not_resumed(tmp_path):
    """Clips deleted and cut again under the same ids and lengths, from other frames: the resume mixed two datasets
    unsaid (only the ids and frame counts were recorded). A set recorded without the clips' uids still resumes."""
    p = toy_project(tmp_path / "p.dvos", n_heads=5, n_fakes=5, bg_frames=6, bg_size=(110, 120))
    token = CancelToken()

    def stop_after_first(done, total, msg):
        if done >= 1:
            token.cancel()

    with pytest.raises(Cancelled):
        generate(p, "mix", 3, CFG, seed=5, backend="serial", progress=stop_after_first, cancel=token)
    older = dict(p.synthetic("mix").attrs["inputs"])
    p.delete_background("field")
    bg = p.create_background("field", 110, 120, source="toy")
    bg.append_frames(np.full((6, 110, 120, 3), 90, np.uint8))  # the same id and length, other frames
    with pytest.raises(StoreError, match="background clips changed since synthetic set 'mix'"):
        generate(p, "mix", 3, CFG, seed=5, backend="serial")
    del older["background_uids"]  # a set started by an earlier dvos: compared as it was recorded
    p.synthetic("mix").group.attrs["inputs"] = older
    assert generate(p, "mix", 3, CFG, seed=5, backend="serial").done().tolist() == [0, 1, 2]


def test_background_clips_of_a_test_video_are_left_out_of_synthesis(tmp_path):
    """Clips inpainted from a video that later became a test video kept feeding every synthetic clip: its frames
    reached training. Making it a test video names them; synthesis leaves them out."""
    p = toy_project(tmp_path / "p.dvos", n_heads=5, n_fakes=5, bg_frames=6, bg_size=(110, 120))
    p.add_video_array("plot", np.zeros((2, 110, 120, 3), np.uint8))
    bg = p.create_background("plot_inp_000", 110, 120, source="plot", video_created=p.video("plot").attrs["created"])
    bg.append_frames(np.zeros((6, 110, 120, 3), np.uint8))
    with pytest.warns(UserWarning, match=r"background clip\(s\) plot_inp_000 were cut or inpainted from the new test"):
        p.set_split("plot", "test")
    with pytest.warns(UserWarning, match=r"1 background clip\(s\) \(plot_inp_000\).*test video\(s\) plot"):
        s = generate(p, "s", 2, CFG, seed=1, backend="serial")
    assert s.attrs["inputs"]["backgrounds"] == {"field": 6}
    p.delete_background("field")
    with pytest.raises(ValueError, match="every background clip was made from a test video"):
        generate(p, "t", 2, CFG, seed=1, backend="serial")


def test_a_worker_ends_when_its_parent_is_killed(tmp_path):
    """A generate killed outright (SIGKILL) left its pool's workers rendering clips without the writer lock, then
    waiting for ever. A worker now ends once its parent is gone."""
    import os
    import signal
    import subprocess
    import sys
    import time

    ready = tmp_path / "ready"
    worker = (
        "import os, time\n"
        "from dvos_core.synth.generate import _exit_with_parent\n"
        "_exit_with_parent(os.getppid(), 0.1)\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "time.sleep(60)\n"
    )
    parent = (
        "import subprocess, sys, time\n"
        f"w = subprocess.Popen([sys.executable, '-c', {worker!r}])\n"
        "print(w.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, env=env)
    pid = int(p.stdout.readline())
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:  # the worker watches its parent from now on
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    assert ready.exists()
    p.wait()

    def running() -> bool:
        try:
            with open(f"/proc/{pid}/status") as f:
                return "\nState:\tZ" not in f.read()  # a zombie has ended (nobody reaped it yet)
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 20
    while running() and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = running()
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive


def test_a_finished_set_asked_for_again_after_its_inputs_changed_is_not_called_a_resume(tmp_path):
    """`dvos synth` run again on a complete set whose objects changed since said "resuming would mix two datasets",
    where nothing was left to resume."""
    p = toy_project(tmp_path / "p.dvos", n_heads=5, n_fakes=5, bg_frames=6, bg_size=(110, 120))
    finished = generate(p, "done", 1, CFG, seed=5, backend="serial")
    p.objects.add([(np.full((6, 4, 4), 255, np.uint8), {"kind": "head", "source": "toy"})])
    with pytest.raises(StoreError, match="synthetic set 'done' is complete, made from the objects"):
        generate(p, "done", 1, CFG, seed=5, backend="serial")
    assert finished.done().tolist() == [0]


def test_a_set_whose_clips_show_no_head_is_named(proj, monkeypatch):
    """`dvos synth --size 128` on a bank of large fakes wrote a set whose every mask was empty and reported "4/4
    clips"; only training said, later, that every label was empty."""
    import importlib
    import warnings

    clip = importlib.import_module("dvos_core.synth.clip")  # where generate takes simulate_clip from, at each clip

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        generate(proj, "heads_shown", 2, CFG, seed=1, backend="serial")
    assert not [w for w in seen if "shows a head pixel" in str(w.message)]
    real = clip.simulate_clip

    def covered(*args, **kwargs):  # the heads hidden under the fakes drawn over them
        frames, masks = real(*args, **kwargs)
        return frames, np.zeros_like(masks)

    monkeypatch.setattr(clip, "simulate_clip", covered)
    with pytest.warns(UserWarning, match=r"'covered': none of its 2 clips shows a head pixel.*80x80 px.*--preview"):
        generate(proj, "covered", 2, CFG, seed=1, backend="serial")


def test_a_worker_of_a_cancelled_run_ends_its_queued_clips_before_loading_the_bank(tmp_path):
    """Cancel with workers took up to 19 s under load: each queued clip's worker loaded the project's object bank
    first and only then looked at the stop event."""
    import importlib
    import multiprocessing as mp

    gen = importlib.import_module("dvos_core.synth.generate")  # the module (the package exports its function)

    stop = mp.get_context("spawn").Event()
    stop.set()
    gen._worker_init(str(tmp_path / "no-such.dvos"), "s", stop)  # no project there: loading it would fail otherwise
    try:
        with pytest.raises(Cancelled):
            gen._worker_clip(0)
        assert "ctx" not in gen._WORKER
    finally:
        gen._WORKER.clear()


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"workers": 0}, r"workers must be at least 1.*got 0"),
        ({"workers": -1}, r"workers must be at least 1.*got -1"),
        ({"seed": "abc"}, r"seed must be a whole number, got 'abc'"),
        ({"seed": 1.5}, r"seed must be a whole number"),
    ],
)
def test_workers_below_one_and_seeds_that_are_not_numbers_are_refused_before_a_set_is_made(proj, kw, match):
    """workers=0 or -1 rendered in one process unsaid; seed='abc' failed with int()'s bare message."""
    with pytest.raises(ValueError, match=match):
        generate(proj, "badargs", 1, CFG, backend="process", **kw)
    assert "badargs" not in proj.synthetic_ids()
