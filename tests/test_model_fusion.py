"""The context model's local lookup: the in-place correlation and aggregation ops give the same values and gradients
as the plain loop of elementwise products under autograd, and pass a numerical gradient check."""

import torch
import torch.nn.functional as F

from dvos_core.model.fusion import LocalAggregate, LocalCorrelation, ReferenceFusion, window_offsets, window_shift


def plain_attend(fusion: ReferenceFusion, query, refs, masks, valid):
    """The lookup written as a plain loop over the window offsets (what the ops replace)."""
    b, t, c, h, w = refs.shape
    r = fusion.radius
    q = F.normalize(fusion.query(query), dim=1)
    flat = refs.reshape(b * t, c, h, w)
    k = F.pad(F.normalize(fusion.key(flat), dim=1).view(b, t, fusion.dim, h, w), (r, r, r, r))
    v = F.pad(fusion.value(flat).view(b, t, fusion.dim, h, w), (r, r, r, r))
    m = F.pad(masks, (r, r, r, r))
    inside = F.pad(torch.ones(1, 1, h, w, dtype=query.dtype), (r, r, r, r))
    scores = []
    for dy, dx in window_offsets(r):
        s = (q[:, None] * window_shift(k, dy, dx, r)).sum(2) * fusion.log_scale.exp()
        scores.append(
            s.masked_fill((valid <= 0).view(b, t, 1, 1) | (window_shift(inside, dy, dx, r)[:, 0] <= 0), -1e30)
        )
    null = fusion.null.view(1, 1, 1, 1).expand(b, 1, h, w)
    weights = torch.softmax(torch.cat([torch.stack(scores, 2).flatten(1, 2), null], 1), dim=1)
    per_offset = weights[:, :-1].view(b, t, -1, 1, h, w)
    wv = sum((per_offset[:, :, i] * window_shift(v, dy, dx, r)).sum(1) for i, (dy, dx) in enumerate(window_offsets(r)))
    wm = sum((per_offset[:, :, i] * window_shift(m, dy, dx, r)).sum(1) for i, (dy, dx) in enumerate(window_offsets(r)))
    return wv, wm, 1 - weights[:, -1:], per_offset[:, :, :, 0]


def test_the_ops_pass_a_numerical_gradient_check():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 5, 6, dtype=torch.double, generator=g).requires_grad_()
    keys = torch.randn(2, 2, 3, 7, 8, dtype=torch.double, generator=g).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: LocalCorrelation.apply(a, b, 1), (q, keys))
    weights = torch.rand(2, 2, 9, 5, 6, dtype=torch.double, generator=g).requires_grad_()
    x = torch.randn(2, 2, 3, 7, 8, dtype=torch.double, generator=g).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: LocalAggregate.apply(a, b, 1), (weights, x))


def test_the_lookup_equals_the_plain_loop_values_and_gradients():
    torch.manual_seed(0)
    fusion = ReferenceFusion(8, dim=6, radius=2)
    q = torch.randn(2, 8, 9, 11, requires_grad=True)
    refs = torch.randn(2, 3, 8, 9, 11, requires_grad=True)
    masks = torch.rand(2, 3, 2, 9, 11)
    valid = torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])  # an empty slot is never attended
    weights = [
        torch.randn(o.shape, generator=torch.Generator().manual_seed(i))
        for i, o in enumerate(plain_attend(fusion, q, refs, masks, valid))
    ]
    results = []
    for attend in (plain_attend, ReferenceFusion.attend):
        fusion.zero_grad()
        q.grad = refs.grad = None
        out = attend(fusion, q, refs, masks, valid)
        sum((o * w).sum() for o, w in zip(out, weights)).backward()
        grads = [q.grad.clone(), refs.grad.clone()] + [
            p.grad.clone() for p in fusion.parameters() if p.grad is not None
        ]
        results.append(([o.detach() for o in out], grads))
    (plain_out, plain_grads), (out, grads) = results
    assert float(out[3][0, 0].abs().max()) == 0.0  # the empty slot got no weight
    for a, b in zip(plain_out, out):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert len(grads) == len(plain_grads) >= 5  # query, refs and the lookup's own weights all get gradients
    for a, b in zip(plain_grads, grads):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
