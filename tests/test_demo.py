"""A shortened `dvos demo`: the whole loop runs and the DVOS model learns (beats trivial baselines)."""

import pytest

from dvos_core.cli.demo_cmd import format_result
from dvos_core.demo.pipeline import DemoConfig, run_demo
from dvos_core.progress import Cancelled, CancelToken
from dvos_core.store import Project


@pytest.mark.slow
def test_quick_demo_learns(tmp_path):
    """Every stage of `dvos demo --quick`, at a fifth of its training and smaller clips (34 s instead of 160 s; it
    scored 0.867 against 0.39 for painting every pixel): both models learn well above the baselines."""
    import dataclasses

    cfg = dataclasses.replace(
        DemoConfig.quick(), size=128, synth_clips=6, image_epochs=2, synth_epochs=1, real_epochs=1, steps_per_epoch=10
    )
    seen, lines = [], []
    res = run_demo(tmp_path, cfg, progress=lambda d, t, m: seen.append((d, t)), log=lines.append)
    assert seen[-1][0] == seen[-1][1]  # progress reached the end
    assert all(d <= t for d, t in seen)
    stages = [ln.split("]")[0].strip("[").split("/") for ln in lines if ln.startswith("[")]
    assert stages[-1][0] == stages[-1][1] and len(stages) == int(stages[-1][1])  # [9/9]: every stage counted
    dice = float(res.overall["dice"])
    best_baseline = max(res.baselines.values())
    assert dice > best_baseline + 0.15, (dice, res.baselines)
    assert 0 <= res.baselines["all_background"] < 0.05 < res.baselines["all_foreground"] < 0.6
    assert res.references["image_model_test"] > best_baseline + 0.15, res.references
    assert res.references["pseudo_labels_field_train"] > 0.5, res.references
    assert list(res.videos["video"]) == ["field_test"]
    text = format_result(res)
    assert "field_test" in text and f"{res.videos['dice'].iloc[0]:.3f}" in text
    # the absolute head-count error is named as such, not as the comparison table's relative count_error
    miscounted = f"heads miscounted per frame {res.overall['mean_count_error']:.2f}"
    assert "mean_count_error" not in text and miscounted in text
    p = Project.open(res.project)
    assert {"image", "context_synthetic", "context"} <= set(p.model_names())
    assert p.video("field_train").provenance_counts()["pseudo"] > 0
    test = p.video("field_test")
    assert test.predictions.models() == ["image", "context"]
    assert all(len(test.predictions[m].frames()) == test.n_frames for m in ("image", "context"))
    table = res.comparison.set_index("model")
    assert list(table.index) == ["image", "context", "previous_true_mask", "all_foreground"]
    assert table.loc["context", "dice"] == pytest.approx(dice, abs=1e-6)
    assert "previous_true_mask" in text


def test_demo_cancel_stops_cleanly(tmp_path):
    token = CancelToken()

    def progress(done, total, msg):
        if done >= 1:  # cancel right after the project is built
            token.cancel()

    with pytest.raises(Cancelled):
        run_demo(tmp_path, DemoConfig.quick(), progress=progress, cancel=token, log=lambda s: None)
    p = Project.open(tmp_path / "demo.dvos")  # the store is intact and readable
    assert p.video("seed").provenance_counts()["manual"] == 3


def test_relabel_runs_the_first_phase_over_the_field_video_before_the_second(monkeypatch):
    """``DemoConfig.relabel``: the context model's first-phase checkpoint relabels the field video (overwriting the
    image model's pseudo-labels) before the second phase trains; off by default."""
    import dvos_core.infer as infer
    from dvos_core import run_all

    calls = []
    monkeypatch.setattr(run_all, "_train", lambda project, config, name, *a: calls.append(("train", name)) or name)
    monkeypatch.setattr(
        infer, "pseudo_label", lambda *a, **kw: calls.append(("label", a[1], a[2], kw["overwrite"], kw["blend_with"]))
    )
    run = run_all.Stages(9, None, None, lambda s: None)
    plan = {"train": ["field_train"], "painted": []}  # (no painted video: the stub project is never read)

    def video_model(cfg):
        configs = lambda phase, init, kind: None  # noqa: E731 - the stub _train ignores it
        return run_all._video_model(None, cfg.run_all_config(), run, "context", "img.pt", "synthetic", plan, configs)

    assert video_model(DemoConfig.quick()) == "context"
    assert calls == [("train", "context_synthetic"), ("train", "context")]  # off by default
    calls.clear()
    cfg = DemoConfig(**{**DemoConfig.quick().__dict__, "relabel": True})  # the old switch: the first phase alone
    assert cfg.relabel == "first_phase"
    video_model(cfg)
    assert calls == [
        ("train", "context_synthetic"),
        ("label", ["field_train"], "context_synthetic", True, []),
        ("train", "context"),
    ]
    calls.clear()
    cfg.relabel = "blend"  # the first phase and the image model, one vote each
    video_model(cfg)
    assert calls[1] == ("label", ["field_train"], "context_synthetic", True, ["img.pt"])


def test_demo_num_workers_reaches_every_training_phase(monkeypatch, tmp_path, capsys):
    """`dvos demo --num-workers N` sets the data-loader workers of each phase's training config (default: automatic)."""
    from dvos_core.cli import main
    from dvos_core.demo import pipeline

    seen = []

    def fake_run_demo(out, cfg, **kw):
        seen.append(cfg)
        raise SystemExit(0)

    monkeypatch.setattr(pipeline, "run_demo", fake_run_demo)
    for argv, want in ((["--num-workers", "0"], 0), ([], None)):
        with pytest.raises(SystemExit):
            main(["demo", "--quick", "--device", "cpu", "--out", str(tmp_path), *argv])
        cfg = seen[-1]
        assert [cfg.train_config(ph).num_workers for ph in ("image", "synthetic", "real")] == [want] * 3
    with pytest.raises(ValueError, match="num_workers"):
        DemoConfig(num_workers=-1).train_config()
    # a bad value stops the command before the demo starts, with the setting named
    n = len(seen)
    assert main(["demo", "--quick", "--device", "cpu", "--out", str(tmp_path), "--num-workers", "-1"]) == 2
    assert len(seen) == n
    assert "num_workers must be >= 0" in capsys.readouterr().err


def test_demo_stage_lines_say_how_long_the_run_has_taken():
    from dvos_core.run_all import Stages

    lines = []
    run = Stages(2, None, None, lines.append)
    run.stage("first")
    run.stage("second")
    assert lines == ["[1/2] first  (0 s in)", "[2/2] second  (0 s in)"]
