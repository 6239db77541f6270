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


def test_the_mask_prior_moves_each_reference_mask_by_its_offset_in_full_resolution_pixels(monkeypatch):
    """The finest fused level sees the frame 2**level times smaller, so an offset of one step there is 2**level full
    pixels: a reference mask given all its weight at offset (0, +1) lands that many pixels along in the prior's
    input (a scale of 1 would move it one pixel)."""
    import torch

    from dvos_core.model import build_model
    from dvos_core.model.fusion import MASK_CHANNELS

    model = build_model("tiny", "context").eval()
    level = min(model.fusion_levels)
    fusion = model.fusions[str(level)]
    step = fusion.offsets.index((0, 1))

    def one_offset(query_skip, ref_skips, masks, valid):
        b, t = ref_skips.shape[:2]
        h, w = query_skip.shape[-2:]
        weights = torch.zeros(b, t, len(fusion.offsets), h, w)
        weights[:, 0, step] = 1.0
        return query_skip, torch.zeros(b, MASK_CHANNELS + 1, h, w), weights

    monkeypatch.setattr(fusion, "forward", one_offset)
    seen = []
    model.mask_prior.register_forward_hook(lambda mod, args, out: seen.append(args[0][:, -MASK_CHANNELS:]))
    masks = torch.zeros(1, 1, MASK_CHANNELS, 64, 64)
    masks[..., 20:30, 20:30] = 1.0
    with torch.no_grad():
        model(torch.zeros(1, 3, 64, 64), torch.zeros(1, 1, 3, 64, 64), masks, torch.ones(1, 1))
    sharp = seen[0][0, 0]
    cols = torch.nonzero(sharp.sum(0) > 0).flatten()
    rows = torch.nonzero(sharp.sum(1) > 0).flatten()
    shift = 2**level
    assert rows.tolist() == list(range(20, 30))  # no move across
    assert abs(int(cols[0]) - 20) == shift and int(cols[-1]) - int(cols[0]) == 9
