"""DVOS models: DVOSNet (video), FrameNet (image), presets, checkpoints, normalisation and device selection."""

from dvos_core.model.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint, unwrap
from dvos_core.model.device import describe_device, select_device, supports_bf16
from dvos_core.model.factory import build_model
from dvos_core.model.normalize import MEAN, STD, denormalize, from_model_frame, normalize_float, to_model_input
from dvos_core.model.presets import PRESETS, ModelConfig, get_config, list_presets
from dvos_core.model.transfer import init_from_frame_model
from dvos_core.model.unet import DVOSNet, FrameNet

__all__ = [
    "MEAN",
    "PRESETS",
    "STD",
    "CheckpointError",
    "DVOSNet",
    "FrameNet",
    "ModelConfig",
    "build_model",
    "denormalize",
    "describe_device",
    "from_model_frame",
    "get_config",
    "init_from_frame_model",
    "list_presets",
    "load_checkpoint",
    "normalize_float",
    "read_checkpoint",
    "save_checkpoint",
    "select_device",
    "supports_bf16",
    "to_model_input",
    "unwrap",
]
