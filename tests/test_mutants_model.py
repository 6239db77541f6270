"""Small tests that catch plausible bugs in the model's helpers (moving image-model weights, normalisation, reference
fusion, the context model's mask prior) that the other model tests let through."""

import torch


def test_frame_weights_go_into_the_video_model_by_name_and_shape():
    from dvos_core.model.transfer import init_from_frame_model

    target = torch.nn.Linear(2, 3)
    state = {"weight": torch.ones(3, 2), "bias": torch.ones(4), "extra": torch.zeros(1)}
    out = init_from_frame_model(target, state)
    assert out["loaded"] == 1  # the weight; the bias has another shape, "extra" is no tensor of the target
    assert out["unexpected"] == ["extra"] and out["mismatched"] == ["bias: (4,) vs (3,)"]
    assert torch.equal(target.weight, torch.ones(3, 2))
