"""`dvos predict` of a paper (dvos) model trained at --size 32 failed whenever --image-model was given ("tile
overlap must be in [0, tile size 64), got 64"), though neither tile size nor overlap was set: the image model's
predictor was given the main model's tile size explicitly, so the default overlap, shrunk for a small model's
automatic tile size only, stayed 64. Both predictors now tile alike."""

import numpy as np
import torch

from dvos_core.cli import main as dvos
from dvos_core.infer.predict import _predictors
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


def test_a_small_paper_model_predicts_with_an_image_model(tmp_path, capsys):
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), np.uint8))
    torch.manual_seed(0)
    main = save_checkpoint(p.model_dir("vid", create=True) / "best.pt", build_model("tiny", "dvos", input_size=32))
    image = save_checkpoint(
        p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame", input_size=32), phase="image"
    )
    predictor, first = _predictors(main, image, "cpu", None, 64)
    assert (first.tile_size, first.overlap) == (predictor.tile_size, predictor.overlap) == (64, 16)
    capsys.readouterr()
    assert dvos(["predict", str(p.path), "vid", "--image-model", "img", "--videos", "v", "--device", "cpu"]) == 0
    assert "predicted 4 frames" in capsys.readouterr().out
    assert p.video("v").predictions["vid"].attrs["first_frames"] == "image model"
