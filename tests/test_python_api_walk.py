"""dvos_core used from a notebook, step by step as the package docstring lists the steps: what a data scientist met
(found by walking the Python API on tiny data)."""

import numpy as np
import pytest

from dvos_core.progress import Cancelled, CancelToken
from dvos_core.store import NotInStoreError, Project
from dvos_core.synth import SynthConfig, generate, preview
from dvos_core.synth.toy import toy_project

H = W = 32


@pytest.fixture
def with_model(tmp_path):
    """A project with one train video of 4 frames and a tiny image model saved as ``models/img/best.pt``."""
    from dvos_core.model import build_model, save_checkpoint

    p = Project.create(tmp_path / "p.dvos")
    rng = np.random.default_rng(0)
    p.add_video_array("v", rng.integers(0, 255, (4, H, W, 3), dtype=np.uint8), split="train")
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"), input_size=32)
    return p


# ---- a model is named as on the command line --------------------------------------------------------------------
def test_predict_and_pseudo_label_take_the_name_of_a_model_of_the_project(with_model):
    """``predict_video(project, "v", "img")`` read "img" as a file in the working folder ("no checkpoint file here;
    train one with `dvos train`") although the project holds the model; pseudo_label and blend_with the same."""
    from dvos_core.infer import predict_video, pseudo_label

    p = with_model
    assert predict_video(p, "v", "img", device="cpu") == 4
    preds = p.video("v").predictions["img"]
    assert len(preds.frames()) == 4 and preds.attrs["checkpoint"] == str(p.model_dir("img") / "best.pt")
    rows = pseudo_label(p, "v", "img", device="cpu", n_passes=1, blend_with="img")  # one model, not its letters
    assert rows["status"].tolist() == ["written"] * 4
    record = p.video("v").attrs["pseudo_label"]
    assert record["checkpoint"] == record["blend_with"][0] == str(p.model_dir("img") / "best.pt")
    with pytest.raises(FileNotFoundError, match=r"no model 'imgg' .*models there: \['img'\]"):
        predict_video(p, "v", "imgg", device="cpu")
    with pytest.raises(FileNotFoundError, match=r"no model 'imgg' .*models there: \['img'\]"):
        pseudo_label(p, ["v"], "imgg", device="cpu")


def test_a_model_name_without_its_project_says_how_to_pass_the_file(with_model):
    from dvos_core.infer import load_model, predict_array
    from dvos_core.model import CheckpointError

    for call in (lambda: load_model("img"), lambda: predict_array("img", np.zeros((2, H, W, 3), np.uint8))):
        with pytest.raises(CheckpointError, match=r"known only within its project.*model_dir\('img'\) / 'best.pt'"):
            call()


def test_copying_predictions_of_a_model_that_made_none_says_so(with_model):
    """``predictions_to_labels(video, model="imgg")`` returned 0 - nothing copied, no word why."""
    from dvos_core.infer import predict_video, predictions_to_labels

    p = with_model
    predict_video(p, "v", "img", device="cpu")
    with pytest.raises(NotInStoreError, match=r"video 'v' has no predictions of 'imgg'; it has predictions of \['img'"):
        predictions_to_labels(p.video("v"), model="imgg")
    assert predictions_to_labels(p.video("v"), model="img") == 4


def test_reading_an_unknown_prediction_set_names_the_models_not_a_failing_predict(with_model):
    """A set no model of the project can make used to suggest `dvos predict P imgg`, which fails (no such model)."""
    p = with_model
    with pytest.raises(NotInStoreError) as e:
        p.video("v").predictions["imgg"].read("masks", 0)
    assert "has no model 'imgg' either; its models: img" in str(e.value) and "dvos predict" not in str(e.value)
    with pytest.raises(NotInStoreError, match=r"make them with `dvos predict .* img --videos v`"):  # a model: predict
        p.video("v").predictions["img"].read("masks", 0)


# ---- synthesis ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_project(tmp_path_factory.mktemp("walk") / "p.dvos", n_heads=4, n_fakes=4, bg_frames=4, bg_size=(72, 72))


def test_generate_and_preview_take_the_settings_as_a_dict(toy):
    """A config read from YAML (a dict) was an ``AttributeError: 'dict' object has no attribute 'validate'``."""
    from dvos_core.synth import simulate_clip

    settings = {"n_frames": 3, "height": 48, "width": 48, "n_heads": [2, 3], "n_fakes": [1, 2]}
    sset = generate(toy, "from_dict", 1, config=settings, backend="serial")
    assert sset.attrs["config"] == SynthConfig.from_dict(settings).to_dict()
    frames, masks = preview(toy, settings, n_frames=2, size=48)
    assert frames.shape == (2, 48, 48, 3) and masks.shape == (2, 48, 48)
    heads = toy.objects.load("head")
    background = toy.background(toy.background_ids()[0]).frames
    assert simulate_clip(heads, [], background, settings)[0].shape == (3, 48, 48, 3)
    with pytest.raises(TypeError, match="config must be a SynthConfig"):
        generate(toy, "bad", 1, config="synth.yaml")


def test_a_fraction_of_a_clip_is_refused(toy):
    """``n_clips=2.5`` made 2 clips without a word."""
    with pytest.raises(ValueError, match="n_clips must be a whole number, got 2.5"):
        generate(toy, "half", 2.5, config=SynthConfig(n_frames=2, height=32, width=32))
    assert "half" not in toy.synthetic_ids()


def test_a_preview_larger_than_the_backgrounds_names_its_size_argument(toy):
    """preview's default size (512) is larger than small background clips; the message pointed at the config's
    height and width, which preview replaces by ``size``."""
    with pytest.raises(ValueError, match=r"at least 512x512 px .*72x72.*preview\(size=\) from Python"):
        preview(toy, SynthConfig(), n_frames=2)


# ---- density matching ----------------------------------------------------------------------------------------------
def _peaked(probes):
    """A coverage that falls again above 6 heads per frame (large fakes on top hiding the heads), recording the head
    counts it is asked for."""

    def coverage(heads, fakes, cfg, n_clips=16, seed=0, cancel=None):
        n = cfg.n_heads[0]
        probes.append(n)
        return float(0.9 * (1 - np.exp(-n / 3)) * np.exp(-max(0, n - 6) / 10))

    return coverage


def test_density_steps_do_not_climb_where_more_heads_cover_less(monkeypatch):
    """The proportional steps went from 55 heads (too little cover) to 5000 heads per frame, each step rendering
    slower (minutes at 64x64 with large conifer crowns): match_density seemed to hang."""
    from dvos_core.synth import density

    probes = []
    monkeypatch.setattr(density, "synthetic_coverage", _peaked(probes))
    n = density.heads_for_coverage([], [], SynthConfig(), target=0.7, fake_ratio=1.0)
    cover = _peaked([])(None, None, SynthConfig(n_heads=(round(n),) * 2))
    assert abs(cover - 0.7) < 0.1, (n, cover, probes)
    assert max(probes) <= 4 * 55, probes


def test_density_matching_stops_at_a_cancel_inside_a_measurement(monkeypatch, toy):
    """The cancel was only looked at between the two ends of the range: a measurement ran to its end first."""
    import dvos_core.synth.clip as clip
    from dvos_core.synth.density import match_density

    token, calls = CancelToken(), []
    real = clip.simulate_clip

    def counting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            token.cancel()  # as a Cancel button would, from another thread
        return real(*args, **kwargs)

    v = toy.add_video_array("painted", np.zeros((2, 72, 72, 3), np.uint8), split="train")
    m = np.zeros((72, 72), np.uint8)
    m[10:40, 20:35] = 1
    v.set_mask(0, m)
    monkeypatch.setattr(clip, "simulate_clip", counting)
    with pytest.raises(Cancelled):
        match_density(toy, ["painted"], SynthConfig(n_frames=2, height=48, width=48), cancel=token)
    assert len(calls) == 3


def test_the_core_functions_take_a_project_or_its_path(tmp_path):
    """evaluate, compare_models, track_heads, predict_video, smooth_predictions, export_masks and
    write_overlay_video given a project's path raised AttributeError: 'str' object has no attribute 'video'."""
    from stub_models import BrightIsHead

    from dvos_core.evaluate import compare_models, evaluate, track_heads
    from dvos_core.infer import predict_video, smooth_predictions
    from dvos_core.io import export_masks, write_overlay_video

    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), np.uint8), split="test")
    m = np.zeros((32, 32), np.uint8)
    m[4:12, 4:12] = 1
    for t in range(4):
        v.set_mask(t, m, "manual")
    path = str(p.path)
    assert predict_video(path, "v", (BrightIsHead(), {}), device="cpu", name="b") == 4
    assert smooth_predictions(path, "v", "b") == 4
    assert evaluate(path, "v", model="b").overall["n_frames"] == 4
    assert "b" in set(compare_models(path, ["b"], save=False).table["model"])
    assert track_heads(path, "v").n_heads >= 1
    assert len(export_masks(path, "v", tmp_path / "masks")) >= 4
    write_overlay_video(path, "v", tmp_path / "overlay.mp4")
    assert (tmp_path / "overlay.mp4").stat().st_size > 0
