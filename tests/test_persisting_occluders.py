"""Occluders that persist: a degraded query's leaves also lie, drifting, over its references."""

import pytest
import torch

from dvos_core.data.context_sample import ContextConfig, context_sample
from dvos_core.data.degrade import DegradeConfig, composite, degrade, occluder, shift_layer
from dvos_core.train import TrainConfig


def _only_occluders(**context) -> ContextConfig:
    cfg = ContextConfig(
        degrade_query_p=1.0,
        degrade_refs_p=0.0,
        empty_refs_p=0.0,
        ref_mask_noise_p=0.0,
        ref_mask_unknown_p=0.0,
        **context,
    )
    cfg.degrade = DegradeConfig(blur_p=0, noise_p=0, exposure_p=0, occlude_p=1.0, occlude_share=(0.2, 0.3))
    return cfg


def _clip(t=4, size=48):
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(t + 1, 3, size, size, generator=g)
    masks = torch.zeros(t + 1, 2, size, size)
    masks[:, 0, 10:30, 12:20] = 1
    masks[:, 1] = 1
    return frames, masks, torch.ones(t + 1, dtype=torch.int8)


def _covered(a, b):
    return (a - b).abs().sum(0) > 1e-6


def test_a_layer_moves_with_clear_pixels_coming_in():
    alpha, texture = torch.rand(20, 30), torch.rand(3, 20, 30)
    a, t = shift_layer((alpha, texture), 3, -5)
    assert torch.equal(a[3:, :25], alpha[:-3, 5:]) and torch.equal(t[:, 3:, :25], texture[:, :-3, 5:])
    assert float(a[:3].abs().sum()) == 0 and float(a[:, 25:].abs().sum()) == 0
    assert float(shift_layer((alpha, texture), 25, 0)[0].sum()) == 0
    x = torch.rand(3, 20, 30)
    assert torch.allclose(composite(x, (torch.zeros(20, 30), texture)), x)


def test_the_occluder_layer_is_what_degrade_drew():
    x = torch.rand(3, 40, 40)
    cfg = DegradeConfig(blur_p=0, noise_p=0, exposure_p=0, occlude_p=1.0)
    plain = degrade(x, torch.Generator().manual_seed(5), cfg)
    y, layer = degrade(x, torch.Generator().manual_seed(5), cfg, with_occluder=True)
    assert torch.equal(plain, y) and torch.allclose(composite(x, layer), y)
    g = torch.Generator().manual_seed(5)
    torch.rand(1, generator=g)  # degrade's draw for occlude_p
    assert torch.equal(occluder(x, g, cfg.occlude_share)[0], layer[0])
    assert degrade(x, torch.Generator(), DegradeConfig(occlude_p=0), with_occluder=True)[1] is None


def test_without_drift_every_reference_is_hidden_where_the_query_is():
    frames, masks, known = _clip()
    frames[:] = frames[-1]  # a still clip: a reference behind the same leaves is the query itself
    cfg = _only_occluders(persist_occluders_p=1.0, occluder_drift=(0, 0))
    s = context_sample(frames, masks, known, cfg, torch.Generator().manual_seed(1))
    hidden = _covered(s["query"], frames[-1])
    assert 0.1 < float(hidden.float().mean()) < 0.9
    for i in range(4):
        assert torch.equal(s["refs"][i], s["query"])
    assert torch.equal(s["ref_masks"][:, 0], masks[:4, 0])  # a head behind a leaf is still a head


def test_with_drift_the_leaves_move_further_on_older_references():
    frames, masks, known = _clip(t=4, size=64)
    cfg = _only_occluders(persist_occluders_p=1.0, occluder_drift=(0.05, 0.05))  # 3.2 px per frame
    s = context_sample(frames, masks, known, cfg, torch.Generator().manual_seed(2), steps=[4, 3, 2, 1])
    hidden = _covered(s["query"], frames[-1]).float()
    overlap = [float((_covered(s["refs"][i], frames[i]).float() * hidden).sum() / hidden.sum()) for i in range(4)]
    assert overlap[3] > overlap[2] > overlap[1] > overlap[0]  # the nearest reference shares most of the leaves
    assert 0 < overlap[0] < 1


def test_erased_reference_masks_lose_what_their_own_leaves_hide():
    frames, masks, known = _clip(t=4, size=64)
    masks[:, 0] = 1  # heads everywhere: each reference mask shows exactly what its leaves left visible
    cfg = _only_occluders(persist_occluders_p=1.0, occluder_drift=(0.05, 0.05), erase_hidden_ref_masks_p=1.0)
    s = context_sample(frames, masks, known, cfg, torch.Generator().manual_seed(2), steps=[4, 3, 2, 1])
    for i in range(4):
        leaf = _covered(s["refs"][i], frames[i])  # where reference i is behind its (drifted) leaves
        erased = s["ref_masks"][i, 0] < 0.5
        assert erased.any() and not bool((erased & ~leaf).any())  # erased only under a leaf
        assert float(erased.sum()) > 0.3 * float(leaf.sum())  # the leaves' cores (alpha > 0.5), not their soft rims
    assert torch.equal(s["ref_masks"][:, 1], masks[:4, 1])  # the masks stay known
    kept = context_sample(
        frames,
        masks,
        known,
        _only_occluders(persist_occluders_p=1.0, occluder_drift=(0.05, 0.05)),
        torch.Generator().manual_seed(2),
        steps=[4, 3, 2, 1],
    )
    assert torch.equal(kept["refs"], s["refs"]) and bool((kept["ref_masks"][:, 0] == 1).all())


def test_off_by_default_references_keep_their_own_pixels():
    frames, masks, known = _clip()
    assert ContextConfig().persist_occluders_p == 0.0
    s = context_sample(frames, masks, known, _only_occluders(), torch.Generator().manual_seed(0))
    assert bool(_covered(s["query"], frames[-1]).any())
    for i in range(4):
        assert not bool(_covered(s["refs"][i], frames[i]).any())


def test_bad_context_settings_are_refused_naming_the_setting():
    def train_cfg(context):
        return TrainConfig(phase="real", video_model="context", augment={"context": context})

    for context, said in (
        ({"persist_occluders_p": "often"}, "persist_occluders_p must be a number"),
        ({"persist_occluders_p": 1.5}, "augment.context.persist_occluders_p is a probability"),
        ({"occluder_drift": [0.2, 0.1]}, "augment.context.occluder_drift must be"),
        ({"degrade": {"occlude_share": [0.1]}}, "occlude_share must be a"),
        ({"degrade": {"noise_p": -0.1}}, "augment.context.degrade.noise_p is a probability"),
    ):
        with pytest.raises(ValueError, match=said):
            train_cfg(context)
    good = train_cfg({"persist_occluders_p": "0.5", "degrade": {"occlude_share": [0.1, 0.2]}}).augment_config()
    assert good.context.persist_occluders_p == 0.5 and good.context.degrade.occlude_share == (0.1, 0.2)
