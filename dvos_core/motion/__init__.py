"""Camera and local motion of videos (OpenCV/NumPy only): global similarity motion per frame pair, residual local
motion, per-video summaries, synthesis motion matched to the footage, and motion-aligned mask comparison.

See docs/synthesis.md (motion matching) and docs/evaluation.md (motion-compensated quality, instability).
"""

from dvos_core.motion.global_motion import (
    GlobalMotion,
    MotionParams,
    PairMotion,
    estimate_global_motion,
    estimate_pair,
)
from dvos_core.motion.instability import instability_per_pair, temporal_instability
from dvos_core.motion.local_motion import residual_flow, residual_motion
from dvos_core.motion.matching import (
    MotionMatch,
    check_config_motion,
    compare_motion,
    config_motion,
    match_motion,
    measure_clips,
    overrides_from_motion,
)
from dvos_core.motion.summary import measure_videos, motion_summary, summarise
from dvos_core.motion.transforms import (
    compose,
    decompose,
    invert,
    similarity_matrix,
    valid_region,
    warp_to,
)

__all__ = [
    "GlobalMotion",
    "MotionMatch",
    "MotionParams",
    "PairMotion",
    "check_config_motion",
    "compare_motion",
    "compose",
    "config_motion",
    "decompose",
    "estimate_global_motion",
    "estimate_pair",
    "instability_per_pair",
    "invert",
    "match_motion",
    "measure_clips",
    "measure_videos",
    "motion_summary",
    "overrides_from_motion",
    "residual_flow",
    "residual_motion",
    "similarity_matrix",
    "summarise",
    "temporal_instability",
    "valid_region",
    "warp_to",
]
