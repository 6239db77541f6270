"""How an object crop in the object bank encodes a head and its halo (shared by extraction and synthesis; no imports,
so the command line can show the defaults cheaply).

A crop is (h, w, 4) uint8 RGBA. Alpha >= 128 is the object itself (extraction writes 255), alpha 0 is nothing, and
alpha 1..127 is the object's halo: a ring of the frame's own pixels around it, with opacity alpha / 127, that
synthesis pastes with the object (a head's real edge: blur, glow, shadow, awns) but never labels.
"""

OBJECT_ALPHA_MIN = 128  # alpha from which a pixel belongs to the object
HALO_ALPHA_MAX = 127  # alpha of the halo at full opacity
# width of the halo cut with each head by default (px): a painted outline sits inside the object's visible edge, and
# heads cut without it taught the image model to paint real heads too large or too small (docs/benchmarks.md,
# Accuracy, "Heads cut with their edge")
HALO_PX = 6
