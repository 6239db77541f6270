"""Inference: sliding-window video prediction with tiling, pseudo-labelling with quality scores, temporal smoothing
of predictions (imports torch)."""

from dvos_core.infer.engine import Predictor, load_model, resolve_checkpoint_path
from dvos_core.infer.predict import predict_array, predict_video, prediction_name, predictions_to_labels
from dvos_core.infer.pseudo import pseudo_label
from dvos_core.infer.quality import flicker, quality_score, uncertainty
from dvos_core.infer.smooth import smooth_array, smooth_predictions, smoothed_name

__all__ = [
    "Predictor",
    "flicker",
    "load_model",
    "predict_array",
    "predict_video",
    "prediction_name",
    "predictions_to_labels",
    "pseudo_label",
    "quality_score",
    "resolve_checkpoint_path",
    "smooth_array",
    "smooth_predictions",
    "smoothed_name",
    "uncertainty",
]
