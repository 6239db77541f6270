"""Cancel points inside a training step, so that Stop does not wait for a slow CPU step to finish.

:func:`cancel_points` hooks the model's convolutions: a cancel requested while a batch is in the forward or the
backward pass raises :class:`~dvos_core.progress.Cancelled` at the next convolution (or its gradient). Nothing has
been applied to the weights or the optimizer at that point, so the trainer can save its state as it was before the
step and a resumed run repeats the step exactly.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from dvos_core.progress import CancelToken


@contextmanager
def cancel_points(model: torch.nn.Module, cancel: CancelToken | None):
    """Within the ``with`` block, check ``cancel`` before every convolution of ``model`` and before every gradient
    through a convolution's output; without a token nothing is hooked."""
    if cancel is None:
        yield
        return

    def check_grad(grad):
        cancel.check()
        return grad

    def before(_module, _inputs):
        cancel.check()

    def after(_module, _inputs, output):
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(check_grad)

    handles = []
    for m in model.modules():
        if isinstance(m, torch.nn.modules.conv._ConvNd):
            handles.append(m.register_forward_pre_hook(before))
            handles.append(m.register_forward_hook(after))
    try:
        yield
    finally:
        for h in handles:
            h.remove()
