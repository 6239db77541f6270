"""Models prediction cannot use, and models it must leave as it found them: a model whose weights a diverged
training run blew up predicts NaN, and the error says so and names the fix (it said the probabilities were "not in
[0, 1]: divide a 0/255 image by 255", advice for imported probability maps); a file of random bytes is refused
without torch's advice to load it unsafely; a model passed as an object keeps its training mode."""

import numpy as np
import pytest
import torch

from dvos_core.infer import predict_array
from dvos_core.model import build_model

torch.set_num_threads(1)


def _nan_model(kind: str = "frame"):
    """A tiny model whose every weight is NaN, as a diverged training run leaves it."""
    model = build_model("tiny", kind).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    return model


def _project_with_nan_model(tmp_path, **video_attrs):
    """A project with a 3-frame video ``v`` and the image model ``nan`` of :func:`_nan_model`."""
    from dvos_core.model import save_checkpoint
    from dvos_core.store import Project

    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", np.zeros((3, 32, 32, 3), np.uint8), **video_attrs)
    save_checkpoint(p.model_dir("nan", create=True) / "best.pt", _nan_model(), kind="frame", input_size=32)
    return p


@pytest.mark.parametrize("kind", ["frame", "dvos", "context"])
def test_a_model_that_outputs_nan_is_named_as_broken(kind):
    model = _nan_model(kind)
    frames = np.zeros((3, 64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match=r"model's output is NaN: its weights are broken.*lower --lr"):
        predict_array(model, frames, device="cpu", threads=1)


def test_a_file_of_random_bytes_is_refused_without_advice_to_load_it_unsafely(tmp_path):
    """torch's refusal advised loading the file with weights_only=False (running any code it holds); dvos quoted it."""
    from dvos_core.model.checkpoint import CheckpointError, read_checkpoint

    f = tmp_path / "best.pt"
    f.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(f)
    text = str(e.value)
    assert str(f) in text and "corrupt or not a dvos checkpoint" in text and "weights_only" not in text


def test_a_model_passed_as_an_object_comes_back_in_its_training_mode():
    """predict_array left the caller's model in eval mode (a look at the predictions of a model being trained turned
    its dropout off and froze its norm statistics for the rest of its training)."""
    model = build_model("tiny", "frame").train()
    predict_array(model, np.zeros((1, 32, 32, 3), np.uint8), device="cpu", threads=1)
    assert model.training
    model.eval()
    predict_array((model, {"kind": "frame"}), np.zeros((1, 32, 32, 3), np.uint8), device="cpu", threads=1)
    assert not model.training


def test_a_broken_model_leaves_no_empty_prediction_set_to_finish(tmp_path):
    """The set it started stayed, empty, and `dvos info` offered to finish it with the same broken model."""
    from dvos_core.infer import predict_video

    p = _project_with_nan_model(tmp_path)
    with pytest.raises(ValueError, match="model's output is NaN"):
        predict_video(p, "v", "nan", device="cpu", threads=1)
    assert p.video("v").predictions.models() == []


def test_a_broken_model_leaves_no_stopped_pseudo_labelling_to_finish(tmp_path):
    """It left a 'stopped' record that `dvos info` offered to finish with the same broken model."""
    from dvos_core.infer import pseudo_label

    p = _project_with_nan_model(tmp_path, split="train")
    with pytest.raises(ValueError, match="model's output is NaN"):
        pseudo_label(p, ["v"], "nan", device="cpu", threads=1)
    assert not p.video("v").attrs.get("pseudo_label") and not p.video("v").provenance.any()
