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


def test_the_reference_pixels_average_only_the_real_references():
    from types import SimpleNamespace

    from dvos_core.model.context import ContextNet

    net = SimpleNamespace(ref_input=lambda x: x)  # the conv left out: what it is given
    query = torch.zeros(1, 3, 2, 2)
    refs = torch.stack([torch.full((3, 2, 2), 2.0), torch.full((3, 2, 2), 100.0)])[None]  # (1, 2, 3, 2, 2)
    out = ContextNet._reference_pixels(net, query, refs, torch.tensor([[1.0, 0.0]]))  # the second slot is empty
    assert torch.allclose(out[:, :3], torch.full((1, 3, 2, 2), 2.0)) and torch.all(out[:, 3] == 1)
    out = ContextNet._reference_pixels(net, query + 5, refs, torch.tensor([[0.0, 0.0]]))  # no reference at all
    assert torch.all(out == 0)
