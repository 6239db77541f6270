"""Losses: differentiable soft Dice, SSIM properties, validation Dice."""

import torch

from dvos_core.train.losses import LossWeights, dvos_loss, frame_dice, soft_dice_loss, ssim

torch.set_num_threads(1)


def test_soft_dice_has_gradient_and_orders_predictions():
    g = torch.zeros(2, 1, 16, 16)
    g[:, :, 4:12, 4:12] = 1
    logits = torch.zeros(2, 1, 16, 16, requires_grad=True)
    loss = soft_dice_loss(logits, g)
    loss.backward()
    assert logits.grad.abs().sum() > 0
    good = soft_dice_loss((g * 2 - 1) * 10, g)
    bad = soft_dice_loss(-(g * 2 - 1) * 10, g)
    assert good < 0.05 < 0.9 < bad


def test_ssim_identity_noise_and_gradient():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    assert abs(float(ssim(x, x)) - 1) < 1e-5
    noisy = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    assert float(ssim(x, noisy)) < 0.9
    assert float(ssim(x, torch.rand_like(x))) < float(ssim(x, noisy))
    y = noisy.clone().requires_grad_(True)
    (1 - ssim(x, y)).backward()
    assert y.grad.abs().sum() > 0


def test_frame_dice_and_total_loss():
    g = torch.zeros(3, 1, 8, 8)
    g[0, :, :4] = 1
    g[1, :, :4] = 1
    logits = (g * 2 - 1) * 5
    logits[1] = -5  # predicts nothing where there is something
    d = frame_dice(logits, g)
    assert torch.allclose(d[0], torch.tensor(1.0)) and d[1] < 0.05 and torch.allclose(d[2], torch.tensor(1.0))
    out = {"mask": logits.requires_grad_(True), "frame": torch.zeros(3, 3, 8, 8, requires_grad=True)}
    total, parts = dvos_loss(out, g, torch.zeros(3, 3, 8, 8), LossWeights())
    total.backward()
    assert set(parts) >= {"bce", "dice", "mse", "ssim", "loss"} and abs(parts["mse"]) < 1e-9
    only_mask, p2 = dvos_loss(out, g, torch.zeros(3, 3, 8, 8), LossWeights(frame=0))
    assert "mse" not in p2 and float(only_mask.detach()) < float(total.detach()) + 1e-6
