"""Training: configuration, losses, the training loop (single process or torchrun DDP), a child-process runner."""

from dvos_core.progress import Cancelled, CancelToken
from dvos_core.train.config import TrainConfig
from dvos_core.train.loop import ResumeRefused, train
from dvos_core.train.losses import LossWeights, dvos_loss, frame_dice, soft_dice_loss, ssim
from dvos_core.train.subprocess import TrainProcess

__all__ = [
    "CancelToken",
    "Cancelled",
    "LossWeights",
    "ResumeRefused",
    "TrainConfig",
    "TrainProcess",
    "dvos_loss",
    "frame_dice",
    "soft_dice_loss",
    "ssim",
    "train",
]
