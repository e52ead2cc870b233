"""Scene augmentations (metres, an explicit up axis), composed from one :class:`SceneAugmentConfig`.

The defaults are Pointcept's ScanNet recipe (``configs/scannet/semseg-pt-v3m1-0-base.py`` and
``pointcept/datasets/transform.py``, which Sonata's pretraining configs share): rotation about the up axis by
U(-pi, pi) with probability 0.5, tilts about each horizontal axis by U(-pi/64, pi/64) with probability 0.5 each
(Pointcept's ``angle`` is in units of pi), isotropic scale U(0.9, 1.1), an independent flip of each horizontal axis
with probability 0.5, jitter N(0, 0.005^2) clipped at 0.02, elastic distortion at granularities 0.2 / 0.8 m with
magnitudes 0.4 / 1.6 (probability 0.95), and colour translation (ratio 0.05) and colour jitter (std 0.05), each with
probability 0.95. Pointcept's random point dropout and chromatic auto-contrast are left out.

Rotations, tilts and scales act about the origin: the scene dataset first centres each scene horizontally and puts
its lowest point at height 0 (Pointcept's ``CenterShift(apply_z=True)``). Colours are in [0, 1] as the readers
return them. Every draw comes from the ``rng`` passed in, so a scene's augmentation is a function of its stream.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from pointdistill.data.base import Sample
from pointdistill.data.transforms import Compose, Jitter, Transform, axis_index, linear_map, rotation_about
from pointdistill.errors import ConfigError


def horizontal_axes(up: str) -> tuple[int, int]:
    """The two coordinate axes perpendicular to ``up``."""
    index = axis_index(up)
    return tuple(a for a in range(3) if a != index)  # type: ignore[return-value]


class RotateAboutUp(Transform):
    """With probability ``p``, rotate about the up axis by U(-max_angle, max_angle) radians (heights unchanged)."""

    def __init__(self, max_angle: float = np.pi, p: float = 0.5, up: str = "z") -> None:
        self.max_angle, self.p, self.up = float(max_angle), float(p), up
        self.axis = axis_index(up)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        return linear_map(sample, rotation_about(self.axis, rng.uniform(-self.max_angle, self.max_angle)))


class Tilt(Transform):
    """Small rotations about each horizontal axis, U(-max_angle, max_angle), each applied with probability ``p``
    (a scanner is never quite level)."""

    def __init__(self, max_angle: float = np.pi / 64, p: float = 0.5, up: str = "z") -> None:
        self.max_angle, self.p, self.up = float(max_angle), float(p), up
        self.axes = horizontal_axes(up)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        matrix = np.eye(3)
        for axis in self.axes:
            angle = rng.uniform(-self.max_angle, self.max_angle)
            if rng.random() < self.p:
                matrix = rotation_about(axis, angle) @ matrix
        return linear_map(sample, matrix)


class SceneScale(Transform):
    """Scale about the origin by U(low, high): one factor (isotropic, Pointcept's default) or one per axis."""

    def __init__(self, low: float = 0.9, high: float = 1.1, anisotropic: bool = False) -> None:
        if not 0 < low <= high:
            raise ConfigError(f"scene scale range must satisfy 0 < low <= high, got ({low}, {high})")
        self.low, self.high, self.anisotropic = float(low), float(high), anisotropic

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        factors = rng.uniform(self.low, self.high, size=3 if self.anisotropic else 1)
        return linear_map(sample, np.diag(np.broadcast_to(factors, (3,))))


class HorizontalFlip(Transform):
    """Mirror each horizontal axis independently with probability ``p`` (never the up axis: floors stay down)."""

    def __init__(self, p: float = 0.5, up: str = "z") -> None:
        self.p, self.up = float(p), up
        self.axes = horizontal_axes(up)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        signs = np.ones(3)
        signs[list(self.axes)] = np.where(rng.random(2) < self.p, -1.0, 1.0)
        return linear_map(sample, np.diag(signs))


def _box_blur(noise: np.ndarray, axis: int) -> np.ndarray:
    """Mean of each cell and its two neighbours along ``axis``, zero beyond the border (a [1/3, 1/3, 1/3] kernel)."""
    moved = np.moveaxis(noise, axis, 0)
    padded = np.pad(moved, [(1, 1)] + [(0, 0)] * (noise.ndim - 1))
    return np.moveaxis((padded[:-2] + padded[1:-1] + padded[2:]) / 3.0, 0, axis)


def _trilinear(grid: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Values of ``grid`` [X, Y, Z, C] at continuous cell positions [N, 3], interpolated from the 8 corners."""
    upper = np.array(grid.shape[:3]) - 1
    position = np.clip(position, 0.0, upper)
    low = np.minimum(np.floor(position).astype(np.int64), np.maximum(upper - 1, 0))
    frac = position - low
    out = np.zeros((len(position), grid.shape[3]))
    for corner in range(8):
        bits = np.array([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1])
        index = np.minimum(low + bits, upper)
        weight = np.prod(np.where(bits, frac, 1.0 - frac), axis=1)
        out += weight[:, None] * grid[index[:, 0], index[:, 1], index[:, 2]]
    return out


def elastic_displacement(
    points: np.ndarray, granularity: float, magnitude: float, rng: np.random.Generator
) -> np.ndarray:
    """A smooth random displacement [N, 3] of every point: Gaussian noise on a grid of ``granularity`` metres,
    blurred twice by a 3-cell box filter along each axis, trilinearly interpolated at the points, times
    ``magnitude``. Nearby points move together, so surfaces bend without tearing."""
    low = points.min(axis=0)
    dims = ((points.max(axis=0) - low) // granularity).astype(np.int64) + 3
    noise = rng.standard_normal((*dims, 3))
    for _ in range(2):
        for axis in range(3):
            noise = _box_blur(noise, axis)
    return _trilinear(noise, (points - low) / granularity + 1.0) * magnitude


class ElasticDistortion(Transform):
    """With probability ``p``, add the elastic displacements of every ``(granularity, magnitude)`` pair in turn."""

    def __init__(self, params: tuple[tuple[float, float], ...] = ((0.2, 0.4), (0.8, 1.6)), p: float = 0.95) -> None:
        for granularity, magnitude in params:
            if granularity <= 0 or magnitude < 0:
                raise ConfigError(f"elastic distortion needs granularity > 0 and magnitude >= 0, got {params}")
        self.params = tuple((float(g), float(m)) for g, m in params)
        self.p = float(p)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if not self.params or rng.random() >= self.p:
            return sample
        points = sample["points"].astype(np.float64)
        for granularity, magnitude in self.params:
            points = points + elastic_displacement(points, granularity, magnitude, rng)
        out = dict(sample)
        out["points"] = points.astype(np.float32)
        return out


class ColorShift(Transform):
    """With probability ``p``, add one offset U(-ratio, ratio) per channel to every colour (lighting), clipped to
    [0, 1]; Pointcept's ChromaticTranslation. Samples without colour pass through."""

    def __init__(self, ratio: float = 0.05, p: float = 0.95) -> None:
        self.ratio, self.p = float(ratio), float(p)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        shift = rng.uniform(-self.ratio, self.ratio, size=3)
        if "color" not in sample or rng.random() >= self.p:
            return sample
        out = dict(sample)
        out["color"] = np.clip(sample["color"] + shift, 0.0, 1.0).astype(np.float32)
        return out


class ColorJitter(Transform):
    """With probability ``p``, add per-point noise N(0, std^2) to the colours, clipped to [0, 1]; Pointcept's
    ChromaticJitter (its std is in units of 255)."""

    def __init__(self, std: float = 0.05, p: float = 0.95) -> None:
        self.std, self.p = float(std), float(p)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if "color" not in sample or rng.random() >= self.p:
            return sample
        noise = rng.standard_normal(sample["color"].shape) * self.std
        out = dict(sample)
        out["color"] = np.clip(sample["color"] + noise, 0.0, 1.0).astype(np.float32)
        return out


@dataclass(frozen=True)
class SceneAugmentConfig:
    """The knobs of :func:`build_scene_augment`; the defaults are Pointcept's ScanNet recipe (module notes).

    Angles in radians, lengths in metres, colours in [0, 1]; a probability of 0 (or an empty ``elastic``) turns
    that step off. ``up`` names the up axis of the data: ``"z"`` for Pointcept layouts and the synthetic rooms.
    """

    up: str = "z"
    rotate: float = np.pi
    rotate_p: float = 0.5
    tilt: float = np.pi / 64
    tilt_p: float = 0.5
    scale: tuple[float, float] = (0.9, 1.1)
    anisotropic_scale: bool = False
    flip_p: float = 0.5
    jitter_sigma: float = 0.005
    jitter_clip: float = 0.02
    elastic: tuple[tuple[float, float], ...] = ((0.2, 0.4), (0.8, 1.6))
    elastic_p: float = 0.95
    color_shift: float = 0.05
    color_jitter: float = 0.05
    color_p: float = 0.95

    def __post_init__(self) -> None:
        try:
            axis_index(self.up)
        except ValueError as error:
            raise ConfigError(f"scene augment 'up': {error}") from None
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.endswith("_p") and not 0.0 <= value <= 1.0:
                raise ConfigError(f"scene augment {item.name!r} is a probability, got {value!r}")
        for name in ("rotate", "tilt", "jitter_sigma", "jitter_clip", "color_shift", "color_jitter"):
            if getattr(self, name) < 0:
                raise ConfigError(f"scene augment {name!r} must be non-negative, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SceneAugmentConfig:
        """Build from a config mapping; an unknown key is a ConfigError naming it and the known keys."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown scene augment key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        values = dict(values)
        if "scale" in values:
            values["scale"] = tuple(values["scale"])
        if "elastic" in values:
            values["elastic"] = tuple(tuple(pair) for pair in values["elastic"])
        return cls(**values)


def build_scene_augment(config: SceneAugmentConfig | None = None) -> Compose:
    """The training augmentation of one scene, in Pointcept's order (geometry, jitter, elastic, colour)."""
    config = config or SceneAugmentConfig()
    return Compose([
        RotateAboutUp(config.rotate, config.rotate_p, config.up),
        Tilt(config.tilt, config.tilt_p, config.up),
        SceneScale(*config.scale, anisotropic=config.anisotropic_scale),
        HorizontalFlip(config.flip_p, config.up),
        Jitter(config.jitter_sigma, config.jitter_clip),
        ElasticDistortion(config.elastic, config.elastic_p),
        ColorShift(config.color_shift, config.color_p),
        ColorJitter(config.color_jitter, config.color_p),
    ])
