"""Choices of prediction settings (and of the number format, which training shares) that the CLI and the napari docks
offer, importable without torch (the core checks values against the same tuples)."""

# Defaults shared by the core functions, the commands and the notes that rebuild a command to finish a stopped run
# (dvos_core.store.notes): a rebuilt command leaves out an option at its default.
THRESHOLD = 0.5  # probability above which a predicted pixel is head in the stored masks
PSEUDO_PASSES = 4  # an image model's forward passes per frame when pseudo-labelling (their spread: the uncertainty)
SMOOTH_BEFORE = 4  # earlier frames in a smoothing window
SMOOTH_AFTER = 0  # later frames in a smoothing window

# Where a context model's predicted frame gets the reference mask it lends the frames after it: "chained" (default)
# - the model's prediction of that frame, made with its own references (a head hidden for several frames can be
# carried through); "independent" - its prediction of that frame alone, decoded in the same pass (its mistakes are
# not carried forward; about a quarter more time). Measured against each other in docs/video_model.md.
REFERENCE_MASKS = ("chained", "independent")


def check_reference_masks(value: str) -> None:
    """A ValueError naming the choices unless ``value`` is one of :data:`REFERENCE_MASKS`."""
    if value not in REFERENCE_MASKS:
        raise ValueError(f"reference_masks must be one of {REFERENCE_MASKS}, got {value!r}")


# Number format of prediction, pseudo-labelling and training (TrainConfig.precision): "auto" (default) - bfloat16 on
# CUDA GPUs that have it, float32 everywhere else, the CPU included (its optimised float32 path matches the plain one
# within 1e-4); "fp32" - float32 everywhere; "bf16" - bfloat16 autocast, also on a CPU with native bfloat16
# instructions (AVX512-BF16 or AMX): faster there, probabilities within a few hundredths of float32 (measured in
# docs/benchmarks.md, "bfloat16 on a CPU" and "bfloat16 training on a CPU").
PRECISIONS = ("auto", "fp32", "bf16")


def check_threshold(threshold) -> None:
    """Refuse a mask threshold outside (0, 1) (a prediction's, a smoothing's)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")


def check_batch_size(value) -> int:
    """``value`` as the number of frames (or tiles) a prediction step takes: a whole number >= 1 (0 or -5 ran as 1
    on a CPU, unsaid)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"--batch-size (batch_size=) must be a whole number >= 1, got {value!r}")
    return value


def check_precision(value: str) -> None:
    """A ValueError naming the choices unless ``value`` is one of :data:`PRECISIONS`."""
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {value!r}")


# At which scales a model segments a frame (see dvos_core.infer.scales): "own" - the frame's own resolution;
# "trained" - shrunk to the scale the model was trained and validated at (the training size over the validation
# crop, e.g. 128 / 512 px: much faster on large frames, coarser edges); "both" - the two averaged; "auto" (default) -
# both where the two scales are far apart (the trained scale at most AUTO_MAX_ZOOM of the frame's own), else own.
SCALES = ("auto", "own", "trained", "both")
AUTO_MAX_ZOOM = 0.6


def check_scales(value: str) -> None:
    """A ValueError naming the choices unless ``value`` is one of :data:`SCALES`."""
    if value not in SCALES:
        raise ValueError(f"scales must be one of {SCALES}, got {value!r}")


LARGE_FRAME_PIXELS = 900_000  # frames from 1280x720 up: a CPU takes seconds per frame at their own scale (720p: 7 s)


def scale_hint(shapes, device_type: str, scales: str, how: str) -> str | None:
    """A note for frames large enough that a CPU takes long at their own scale (``shapes``: (H, W) of the videos;
    ``how``: how to ask for the trained scale, e.g. "--scales trained"), unless ``scales`` already avoids it."""
    big = [tuple(s) for s in shapes if s[0] * s[1] >= LARGE_FRAME_PIXELS]
    if device_type != "cpu" or scales == "trained" or not big:
        return None
    h, w = max(big, key=lambda s: s[0] * s[1])
    return (
        f"note: frames of {w}x{h} px on a CPU take seconds each at their own scale; {how} segments them at the "
        f"scale the model was trained at instead, about 10 times faster (coarser edges)"
    )
