"""Inference: sliding-window video prediction with tiling, pseudo-labelling with quality scores, temporal smoothing
of predictions. Each name below is imported from its module on first use, so smoothing (numpy and OpenCV) does not
load torch; prediction and pseudo-labelling do."""

from __future__ import annotations

import importlib

# name -> the module of this package that defines it
_WHERE = {
    "Predictor": "engine",
    "load_model": "engine",
    "resolve_checkpoint_path": "engine",
    "predict_array": "predict",
    "predict_video": "predict",
    "prediction_name": "predict",
    "predictions_to_labels": "predict",
    "PredictionSetReplaced": "predict",
    "replaced_sets": "predict",
    "sharing_models": "predict",
    "pseudo_label": "pseudo",
    "flicker": "quality",
    "quality_score": "quality",
    "uncertainty": "quality",
    "smooth_array": "smooth",
    "smooth_predictions": "smooth",
    "smoothed_name": "smooth",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
