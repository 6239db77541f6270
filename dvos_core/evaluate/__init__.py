"""Evaluation: Dice / IoU / boundary F / head counts, frame-weighted summaries, report files and plots; heads
followed from frame to frame (the number of different heads in a video)."""

from dvos_core.evaluate.compare import ModelComparison, compare_models
from dvos_core.evaluate.head_tracks import HeadTracks, link_heads, track_heads
from dvos_core.evaluate.metrics import (
    boundary,
    boundary_f,
    boundary_precision_recall,
    count_objects,
    dice,
    frame_scores,
    iou,
    weighted_overall,
)
from dvos_core.evaluate.summary import EvaluationReport, evaluate, scored_frames

__all__ = [
    "EvaluationReport",
    "HeadTracks",
    "ModelComparison",
    "boundary",
    "boundary_f",
    "boundary_precision_recall",
    "compare_models",
    "count_objects",
    "dice",
    "evaluate",
    "frame_scores",
    "iou",
    "link_heads",
    "scored_frames",
    "track_heads",
    "weighted_overall",
]
