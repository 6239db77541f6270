"""`SynthConfig`: every parameter of the synthetic video engine, with its default and meaning, in one place.

Lengths are in output pixels, times in frames, angles in degrees. Ranges are ``(low, high)`` tuples drawn uniformly
once per clip or once per object (never per frame: per-frame randomness would make the motion flicker).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dvos_core.config_io import coerce_fields, dataclass_from_dict, load_config
from dvos_core.shell import quote

MAX_FEATHER = 2.5  # px; wider soft edges would blur heads into the field
MAX_OBJECT_SCALE = 4.0  # pasted objects at most this many times their cut size
MAX_OBJECTS = 5000  # heads (and fakes) per frame at most
BORDER_HEADS = ("auto", "skip", "use")  # SynthConfig.border_heads: heads cut by their frame's edge
MIN_WHOLE_HEADS = 10  # border_heads "auto" skips heads cut by their frame's edge while this many whole heads remain


def _doc(default: Any, doc: str):
    """A dataclass field with a default and a one-line description (kept in the field metadata)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass
class SynthConfig:
    """Parameters of one synthetic clip (see docs/synthesis.md for pictures of their effect)."""

    # ---- clip -------------------------------------------------------------------------------------------------
    n_frames: int = _doc(60, "frames per clip")
    height: int = _doc(512, "output height in pixels")
    width: int = _doc(512, "output width in pixels")
    allow_upscale: bool = _doc(
        False,
        "if a background clip is smaller than the output, upscale it instead of "
        "raising ValueError (upscaling blurs the background relative to the heads)",
    )

    # ---- density and layering ---------------------------------------------------------------------------------
    n_heads: tuple = _doc((10, 100), "real heads visible per frame, drawn once per clip (inclusive range)")
    n_fakes: tuple = _doc((10, 100), "fake heads (head-shaped background texture) per frame, drawn once per clip")
    fake_on_top_prob: float = _doc(
        0.2,
        "probability that a fake head is layered above the real heads (it then "
        "hides them, and the mask loses those pixels); the rest lie below",
    )
    placement_tries: int = _doc(
        6,
        "candidate positions per object; the one overlapping existing real heads "
        "least is kept (1 = uniform random placement)",
    )
    object_scale: tuple = _doc((0.85, 1.15), "size factor applied to each pasted object, drawn once per object")
    border_heads: str = _doc(
        "auto",
        "heads cut by the edge of the frame they were painted in (one side a straight cut, not the head's outline) "
        "and the fake heads made from them: 'skip' leaves them out, 'use' pastes them anywhere, 'auto' skips them "
        "while at least 10 whole heads remain (heads the output frame's own edge cuts are made anyway)",
    )
    min_visible_area: int = _doc(
        20,
        "visible pixels for a real head to count as present in a frame (used for "
        "per-frame head counts in the clip info, the mask is always exact)",
    )

    # ---- camera (applied to background and heads together) ----------------------------------------------------
    camera_speed: float = _doc(1.5, "maximum steady pan speed per axis in px/frame (drawn once per clip)")
    camera_speed_min: float = _doc(
        0.0,
        "minimum steady pan speed in px/frame; when > 0 the pan speed is drawn in [camera_speed_min, "
        "camera_speed] in a random direction instead of per axis (dvos synth --match-motion sets both)",
    )
    camera_shake_px: float = _doc(3.0, "amplitude of the smooth camera wobble around the pan, in pixels")
    camera_rotation_deg: float = _doc(1.5, "amplitude of the smooth camera roll, in degrees (oscillates)")
    camera_zoom: float = _doc(0.03, "amplitude of the smooth zoom as a fraction (0.03 = +-3 %)")
    camera_period: tuple = _doc((30.0, 90.0), "period range of the camera wobble/roll/zoom, in frames")

    # ---- per-head motion (temporally smooth: sums of low-frequency sinusoids) --------------------------------
    sway_px: float = _doc(3.0, "amplitude of each head's sway (wind) around its position, in pixels")
    sway_period: tuple = _doc((12.0, 40.0), "period range of head sway, rotation and deformation, in frames")
    wind_coherence: float = _doc(
        0.5, "share of the sway common to all heads of a clip (a gust moves neighbours together); 0 = independent heads"
    )
    drift_speed: float = _doc(0.3, "maximum steady drift of a head per axis in px/frame (leaning plants)")
    rotation_deg: float = _doc(6.0, "amplitude of each head's oscillating rotation, in degrees (not a spin)")
    initial_rotation_deg: float = _doc(180.0, "each object's orientation is drawn uniformly in +-this, in degrees")
    scale_jitter: float = _doc(0.04, "amplitude of each head's smooth size oscillation as a fraction")
    elastic_px: float = _doc(
        1.0,
        "amplitude of each head's smooth elastic deformation, in crop pixels "
        "(0 disables it and makes rendering faster)",
    )
    elastic_wavelength: float = _doc(24.0, "spatial wavelength of the elastic deformation, in crop pixels")

    # ---- appearance -------------------------------------------------------------------------------------------
    head_brightness: float = _doc(0.12, "per-head brightness factor range +-this (constant over the clip)")
    head_colour: float = _doc(0.06, "per-head, per-channel colour gain range +-this (constant over the clip)")
    fake_brightness: float = _doc(0.2, "per-fake brightness factor range +-this")
    fake_colour: float = _doc(0.12, "per-fake, per-channel colour gain range +-this")
    edge_feather_px: float = _doc(
        0.7,
        "Gaussian softening of object edges in crop pixels; the mask keeps the "
        "alpha >= 0.5 set. 0 = hard binary paste (nearest-neighbour warps)",
    )

    # ---------------------------------------------------------------------------------------------------------
    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the bad field and the fix (types and finite numbers: dvos_core.config_io)."""
        coerce_fields(self)
        if self.n_frames < 1 or self.height < 16 or self.width < 16:
            raise ValueError(
                f"SynthConfig: n_frames must be >= 1 and height/width >= 16, got n_frames="
                f"{self.n_frames}, height={self.height}, width={self.width}"
            )
        for name in ("n_heads", "n_fakes", "object_scale", "camera_period", "sway_period"):
            lo, hi = getattr(self, name)
            if lo > hi or lo < 0:
                raise ValueError(
                    f"SynthConfig.{name}={getattr(self, name)} must be a (low, high) range with 0 <= low <= high"
                )
        if self.n_heads[1] < 1:
            raise ValueError("SynthConfig.n_heads must allow at least one real head, e.g. (10, 100)")
        if min(self.camera_period[0], self.sway_period[0]) < 2:
            raise ValueError("SynthConfig: motion periods must be >= 2 frames (shorter is flicker, not motion)")
        if self.object_scale[0] <= 0:
            raise ValueError("SynthConfig.object_scale must be positive, e.g. (0.85, 1.15)")
        if self.object_scale[1] > MAX_OBJECT_SCALE:
            raise ValueError(
                f"SynthConfig.object_scale={self.object_scale} pastes objects up to {self.object_scale[1]:g} times "
                f"their cut size; at most {MAX_OBJECT_SCALE:g}, e.g. (0.85, 1.15)"
            )
        for name in ("n_heads", "n_fakes"):
            if getattr(self, name)[1] > MAX_OBJECTS:
                raise ValueError(f"SynthConfig.{name}={getattr(self, name)}: at most {MAX_OBJECTS} per frame")
        if not 0 <= self.fake_on_top_prob <= 1 or not 0 <= self.wind_coherence <= 1:
            raise ValueError("SynthConfig.fake_on_top_prob and wind_coherence must lie in [0, 1]")
        if self.border_heads not in BORDER_HEADS:
            raise ValueError(
                f"SynthConfig.border_heads must be one of {', '.join(BORDER_HEADS)}, got {self.border_heads!r}"
            )
        if self.placement_tries < 1:
            raise ValueError("SynthConfig.placement_tries must be >= 1")
        for name in (
            "camera_speed",
            "camera_shake_px",
            "camera_rotation_deg",
            "camera_zoom",
            "sway_px",
            "drift_speed",
            "rotation_deg",
            "scale_jitter",
            "elastic_px",
            "edge_feather_px",
            "head_brightness",
            "head_colour",
            "fake_brightness",
            "fake_colour",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"SynthConfig.{name} must be >= 0, got {getattr(self, name)}")
        limit = max(self.height, self.width)  # consecutive frames must overlap
        for name in ("camera_speed", "drift_speed"):
            if getattr(self, name) > limit:
                raise ValueError(
                    f"SynthConfig.{name}={getattr(self, name):g} px/frame moves more than a whole "
                    f"{self.height}x{self.width} frame between frames; at most {limit:g}: lower {name} or make the "
                    f"frames larger (height and width: dvos synth --size, dvos run-all's synth_size); dvos synth "
                    f"--match-motion sets camera_speed to what the frame can show"
                )
        if self.camera_zoom >= 0.5 or self.scale_jitter >= 0.5:
            raise ValueError("SynthConfig.camera_zoom and scale_jitter must be < 0.5 (fractions)")
        if self.edge_feather_px > MAX_FEATHER:
            raise ValueError(f"SynthConfig.edge_feather_px must be <= {MAX_FEATHER} px, got {self.edge_feather_px}")
        if self.elastic_wavelength <= 0:
            raise ValueError("SynthConfig.elastic_wavelength must be > 0")
        if not 0 <= self.camera_speed_min <= self.camera_speed:
            raise ValueError(
                f"SynthConfig.camera_speed_min must lie in [0, camera_speed={self.camera_speed}], "
                f"got {self.camera_speed_min}"
            )

    # ---- serialisation ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON/YAML-safe dict (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict | None) -> SynthConfig:
        """Build from a (possibly partial) dict; unknown keys raise ValueError listing the valid ones."""
        return dataclass_from_dict(
            cls, dict(d or {}), "synthesis parameter(s)", f"valid names are {sorted(f.name for f in fields(cls))}"
        )

    def replace(self, **changes) -> SynthConfig:
        return dataclasses.replace(self, **changes)

    def to_yaml(self, path=None) -> str:
        """YAML text with each parameter's description as a comment; written to ``path`` if given."""
        lines = ["# dvos synthetic video parameters (dvos synth --config THIS_FILE)"]
        for f in fields(self):
            v = getattr(self, f.name)
            lines.append(f"# {f.metadata.get('doc', '')}")
            lines.append(f"{f.name}: {json.dumps(list(v) if isinstance(v, tuple) else v)}")
        text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, path) -> SynthConfig:
        """Load a config file; errors name the file and the field."""
        return load_config(
            cls, path, "synthesis config", f"write a template with `dvos synth --write-config {quote(path)}`"
        )

    @staticmethod
    def describe() -> dict:
        """{field name: one-line description} for help texts and GUIs."""
        return {f.name: f.metadata.get("doc", "") for f in fields(SynthConfig)}


def synth_config(config) -> SynthConfig:
    """``config`` as a validated :class:`SynthConfig`: None is the defaults, a dict (e.g. read from a YAML file
    written by `dvos synth --write-config`) is read with :meth:`SynthConfig.from_dict`."""
    if config is None:
        config = SynthConfig()
    elif isinstance(config, dict):
        config = SynthConfig.from_dict(config)
    elif not isinstance(config, SynthConfig):
        raise TypeError(
            f"config must be a SynthConfig (or a dict of its fields, or None for the defaults), got "
            f"{type(config).__name__}"
        )
    config.validate()
    return config
