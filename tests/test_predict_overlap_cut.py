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
