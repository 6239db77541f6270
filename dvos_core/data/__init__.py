"""Training data over the store: the clip index, the torch dataset and its samplers, augmentations."""

from dvos_core.data.augment import AugmentConfig
from dvos_core.data.clips import DEFAULT_PROVENANCE_WEIGHTS, PHASES, ClipIndex, Sample, config_samples, split_samples
from dvos_core.data.dataset import ClipDataset, ClipSampler, EvalSampler

__all__ = [
    "DEFAULT_PROVENANCE_WEIGHTS",
    "PHASES",
    "AugmentConfig",
    "ClipDataset",
    "ClipIndex",
    "ClipSampler",
    "EvalSampler",
    "Sample",
    "config_samples",
    "split_samples",
]
