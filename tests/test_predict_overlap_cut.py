"""An overlap asked for without a tile size was cut to a quarter of the automatic tile size without a word: the
user now learns it (a warning naming both and the fix), the predictor keeps the overlap asked for, and the
prediction set records the one used."""

import warnings

import numpy as np
import pytest
import torch

from dvos_core.infer import Predictor, predict_video
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


def test_an_explicit_overlap_cut_by_the_automatic_tile_size_is_said_and_recorded_as_used(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("a", np.random.default_rng(0).integers(0, 255, (2, 160, 160, 3), np.uint8))
    torch.manual_seed(0)
    ckpt = save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"), phase="image")
    with pytest.warns(UserWarning, match=r"tile overlap 48 px is more than the automatic tile size of 128 px allows"):
        predict_video(p, "a", ckpt, device="cpu", overlap=48, scales="own")
    assert p.video("a").predictions["img"].attrs["overlap"] == 32
    model = build_model("tiny", "frame").eval()
    with pytest.warns(UserWarning, match=r"tiles overlap by 32 px; pass a tile size \(--tile-size"):
        cut = Predictor(model, {"kind": "frame", "input_size": 64}, "cpu", overlap=48)
    assert (cut.overlap_asked, cut.overlap) == (48, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default, cut as before, and an overlap that fits: nothing to say
        assert Predictor(model, {"kind": "frame", "input_size": 64}, "cpu").overlap == 32
        assert Predictor(model, {"kind": "frame", "input_size": 64}, "cpu", overlap=16).overlap == 16
        assert Predictor(model, {"kind": "frame", "input_size": 64}, "cpu", tile_size=128, overlap=48).overlap == 48


def test_an_explicit_overlap_cut_for_a_context_model_is_said_and_recorded_as_used(tmp_path):
    """A context model's overlap is at most a quarter of the tile: an explicit --overlap cut so (tile size given)
    was recorded in silence; now a warning names the overlap used and the tile size that keeps the one asked for."""
    from dvos_core.infer import predict_array

    p = Project.create(tmp_path / "p.dvos")
    frames = np.random.default_rng(0).integers(0, 255, (2, 160, 160, 3), np.uint8)
    p.add_video_array("a", frames)
    torch.manual_seed(0)
    ckpt = save_checkpoint(p.model_dir("ctx", create=True) / "best.pt", build_model("tiny", "context"), phase="video")
    said = r"tile overlap 96 px is more than a context model's 128 px tiles allow \(at most a quarter of the tile: 32"
    with pytest.warns(UserWarning, match=said) as caught:
        predict_video(p, "a", ckpt, device="cpu", tile_size=128, overlap=96, scales="own")
    assert sum("tile overlap" in str(w.message) for w in caught) == 1  # once per run
    assert p.video("a").predictions["ctx"].attrs["overlap"] == 32
    with pytest.warns(UserWarning, match=r"tiles overlap by 32 px; pass a tile size of 192 or more \(--tile-size"):
        predict_array(ckpt, frames, device="cpu", tile_size=128, overlap=48, scales="own")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default, cut as before, and an overlap that fits: nothing to say
        predict_array(ckpt, frames[:1], device="cpu", tile_size=128, scales="own")
        predict_array(ckpt, frames[:1], device="cpu", tile_size=128, overlap=32, scales="own")


def test_an_explicit_overlap_of_64_is_told_from_the_default():
    """``overlap=64`` given for a context model's 128 px tiles was taken for the default (64) and cut to 32 without a
    word; the default is ``None`` now, so only an overlap asked for is said."""
    model = build_model("tiny", "context").eval()
    info = {"kind": "context", "input_size": 64}
    with pytest.warns(UserWarning, match=r"tile overlap 64 px is more than a context model's 128 px tiles allow"):
        assert Predictor(model, info, "cpu", tile_size=128, overlap=64).overlap == 32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Predictor(model, info, "cpu", tile_size=128).overlap == 32


def test_a_small_tile_size_without_an_overlap_fits_the_default_to_it(tmp_path):
    """``dvos predict --tile-size 64`` failed: "tile overlap must be between 0 and ... 32, got 64" - the default
    overlap, which the user never gave; it is cut to what the tiles allow, and an overlap given is still checked."""
    from dvos_core.cli import main

    model = build_model("tiny", "frame").eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Predictor(model, {"kind": "frame", "input_size": 64}, "cpu", tile_size=64).overlap == 32
    with pytest.raises(ValueError, match="got 64"):
        Predictor(model, {"kind": "frame", "input_size": 64}, "cpu", tile_size=64, overlap=64)
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("a", np.random.default_rng(0).integers(0, 255, (2, 96, 96, 3), np.uint8))
    torch.manual_seed(0)
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"), phase="image")
    assert main(["predict", str(p.path), "img", "--device", "cpu", "--tile-size", "64", "--scales", "own"]) == 0
    assert p.video("a").predictions["img"].attrs["overlap"] == 32
    assert main(["predict", str(p.path), "img", "--device", "cpu", "--tile-size", "64", "--overlap", "64"]) == 2
