"""Temporally smooth motion: sums of low-frequency sinusoids with analytic bounds on the per-frame step.

A signal ``x(t) = A * sum_k w_k sin(2 pi t / P_k + phi_k)`` with ``sum_k w_k = 1`` never exceeds ``A`` in magnitude
and never changes by more than ``2 pi A / P_min`` between frames, whatever the random draw: the bounds below are
guarantees, not expectations. That is what the original simulator lacked (monotonic spins, per-frame jitter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_COMPONENTS = 3


def smooth_signal(
    rng: np.random.Generator, n_frames: int, amplitude: float, period_range, size=(), n_components: int = N_COMPONENTS
) -> np.ndarray:
    """Smooth random signal(s) of shape ``(n_frames, *size)`` with ``|x| <= amplitude``.

    Periods are drawn uniformly in ``period_range`` (frames), phases uniformly, weights positive and summing to one.
    """
    size = tuple(np.atleast_1d(size).astype(int)) if size != () else ()
    shape = size + (n_components,)
    lo, hi = period_range
    periods = rng.uniform(lo, hi, shape)
    phases = rng.uniform(0.0, 2 * np.pi, shape)
    weights = rng.uniform(0.5, 1.0, shape)
    weights /= weights.sum(axis=-1, keepdims=True)
    t = np.arange(n_frames, dtype=np.float64).reshape((n_frames,) + (1,) * len(shape))
    x = (weights * np.sin(2 * np.pi * t / periods + phases)).sum(axis=-1)
    return amplitude * x


def signal_step_bound(amplitude: float, period_range) -> float:
    """Largest possible frame-to-frame change of :func:`smooth_signal` (|dx/dt| <= 2 pi A / P_min)."""
    return 2 * np.pi * amplitude / period_range[0]


@dataclass
class CameraPath:
    """World-to-image camera motion of one clip: centre offset (T,2) xy relative to the start, roll (T,) in
    radians and zoom (T,) as a factor."""

    centre: np.ndarray
    roll: np.ndarray
    zoom: np.ndarray

    def matrices(self, centre0, height: int, width: int) -> np.ndarray:
        """(T,3,3) world-to-image matrices: image = zoom * R(roll) @ (world - centre0 - centre(t)) + image centre."""
        T = len(self.roll)
        c, s = np.cos(self.roll) * self.zoom, np.sin(self.roll) * self.zoom
        cam = self.centre + np.asarray(centre0, dtype=np.float64)
        m = np.zeros((T, 3, 3))
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
        m[:, 0, 2] = (width - 1) / 2 - (c * cam[:, 0] - s * cam[:, 1])
        m[:, 1, 2] = (height - 1) / 2 - (s * cam[:, 0] + c * cam[:, 1])
        m[:, 2, 2] = 1.0
        return m


def camera_path(rng: np.random.Generator, cfg) -> CameraPath:
    """A steady pan (speed drawn once per clip) plus smooth wobble, roll and zoom.

    The pan is drawn per axis in +-camera_speed, or, with ``camera_speed_min > 0``, as a speed in
    [camera_speed_min, camera_speed] in a uniformly random direction.
    """
    T = cfg.n_frames
    lo = getattr(cfg, "camera_speed_min", 0.0)
    if lo > 0:
        speed, angle = rng.uniform(lo, cfg.camera_speed), rng.uniform(0.0, 2 * np.pi)
        velocity = speed * np.array([np.cos(angle), np.sin(angle)])
    else:
        velocity = rng.uniform(-cfg.camera_speed, cfg.camera_speed, 2)
    t = np.arange(T, dtype=np.float64)[:, None]
    centre = velocity * t + smooth_signal(rng, T, cfg.camera_shake_px, cfg.camera_period, size=(2,))
    centre -= centre[0]
    roll = np.deg2rad(smooth_signal(rng, T, cfg.camera_rotation_deg, cfg.camera_period))
    zoom = 1.0 + smooth_signal(rng, T, cfg.camera_zoom, cfg.camera_period)
    return CameraPath(centre, roll, zoom)


def camera_step_bound(cfg, radius: float) -> float:
    """Largest per-frame image displacement the camera alone causes at ``radius`` px from the image centre."""
    pan = math.hypot(cfg.camera_speed, cfg.camera_speed)
    shake = math.sqrt(2) * signal_step_bound(cfg.camera_shake_px, cfg.camera_period)
    turn = signal_step_bound(np.deg2rad(cfg.camera_rotation_deg), cfg.camera_period)
    zoom = signal_step_bound(cfg.camera_zoom, cfg.camera_period)
    # image = z R (w - c): the world step moves by at most z_max * |dc|; roll and zoom move a point at radius r by
    # at most r * (|d roll| + |dz| / z_min)
    return (1 + cfg.camera_zoom) * (pan + shake) + radius * (turn + zoom / (1 - cfg.camera_zoom))


def head_world_step_bound(cfg) -> float:
    """Largest per-frame world displacement of a head's centre (drift + sway)."""
    return math.sqrt(2) * (cfg.drift_speed + signal_step_bound(cfg.sway_px, cfg.sway_period))


def max_step_px(cfg) -> float:
    """Largest frame-to-frame displacement of a head's centre in the output frames (px), for any seed.

    Rotation, scale and elastic motion about the head's own centre do not move its centre, so this bounds tracked
    centres up to the elastic amplitude.
    """
    radius = math.hypot(cfg.height, cfg.width) / 2
    return (1 + cfg.camera_zoom) * head_world_step_bound(cfg) + camera_step_bound(cfg, radius)


@dataclass
class HeadMotion:
    """Per-object motion in world coordinates: positions (T,N,2) before wrapping, angle (T,N) radians, scale
    (T,N) and elastic coefficients (T,N,K)."""

    position: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    elastic: np.ndarray


def head_motion(
    rng: np.random.Generator, cfg, start: np.ndarray, base_angle: np.ndarray, base_scale: np.ndarray, n_elastic: int = 2
) -> HeadMotion:
    """Drift + wind sway (shared gust and own sway), oscillating rotation, scale jitter and elastic coefficients."""
    T, N = cfg.n_frames, len(start)
    t = np.arange(T, dtype=np.float64)[:, None, None]
    drift = rng.uniform(-cfg.drift_speed, cfg.drift_speed, (N, 2))
    gust = smooth_signal(rng, T, cfg.sway_px, cfg.sway_period, size=(2,))[:, None, :]
    own = smooth_signal(rng, T, cfg.sway_px, cfg.sway_period, size=(N, 2))
    sway = cfg.wind_coherence * gust + (1 - cfg.wind_coherence) * own
    position = start[None] + drift[None] * t + sway
    angle = base_angle[None] + np.deg2rad(smooth_signal(rng, T, cfg.rotation_deg, cfg.sway_period, size=(N,)))
    scale = base_scale[None] * (1 + smooth_signal(rng, T, cfg.scale_jitter, cfg.sway_period, size=(N,)))
    elastic = smooth_signal(rng, T, cfg.elastic_px / n_elastic, cfg.sway_period, size=(N, n_elastic))
    return HeadMotion(position, angle, scale, elastic)


def wrap(position: np.ndarray, low, high) -> np.ndarray:
    """Wrap positions into the box [low, high) (per axis): a head leaving one side re-enters on the other.

    The box is chosen larger than every camera view by the largest object radius, so wrapping only ever happens
    while a head is out of sight.
    """
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    return low + np.mod(position - low, high - low)
