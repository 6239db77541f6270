"""Synthetic video engine: cut-and-paste heads on bare-field clips with smooth camera and head motion.

``simulate_clip`` renders one clip, ``preview`` one short clip from a project, ``generate`` a whole (parallel,
resumable) synthetic set in the project store. See docs/synthesis.md.
"""

from dvos_core.synth.clip import simulate_clip
from dvos_core.synth.config import SynthConfig
from dvos_core.synth.generate import clip_seed, generate
from dvos_core.synth.motion import max_step_px
from dvos_core.synth.preview import preview, save_preview

__all__ = ["SynthConfig", "clip_seed", "generate", "max_step_px", "preview", "save_preview", "simulate_clip"]
