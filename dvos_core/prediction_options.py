"""Choices of prediction settings that the CLI and the napari docks offer, importable without torch (the core checks
values against the same tuples)."""

# Where a context model's predicted frame gets the reference mask it lends the frames after it: "chained" (default)
# - the model's prediction of that frame, made with its own references (a head hidden for several frames can be
# carried through); "independent" - its prediction of that frame alone, decoded in the same pass (its mistakes are
# not carried forward; about a quarter more time). Measured against each other in docs/video_model.md.
REFERENCE_MASKS = ("chained", "independent")


def check_reference_masks(value: str) -> None:
    """A ValueError naming the choices unless ``value`` is one of :data:`REFERENCE_MASKS`."""
    if value not in REFERENCE_MASKS:
        raise ValueError(f"reference_masks must be one of {REFERENCE_MASKS}, got {value!r}")
