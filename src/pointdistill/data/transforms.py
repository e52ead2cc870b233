"""Per-sample augmentations in NumPy, run in data-loader workers.

Each transform is a small picklable class called as ``transform(sample, rng)``. It works on the sample dict of
:mod:`pointdistill.data.base` so that per-point fields (``part``, ``mask``, ``normals``, ...) stay aligned with
``points`` when points are reordered or resampled, and geometric fields (``normals``) follow rotations and scales.
A bare ``[N, 3]`` array is accepted too and an array is returned, which keeps one-liners short in tests and views.

The geometric transforms also take a stack of clouds ``[..., N, 3]`` and then draw independent parameters for each
cloud: the multi-crop views augment all crops of one kind in one call instead of one call per crop.

All randomness comes from the ``rng`` argument (a ``numpy.random.Generator``), never from global state, so a
sample's augmentation is a pure function of its stream (see :mod:`pointdistill.data.loader`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pointdistill.data.base import Sample

AXES = {"x": 0, "y": 1, "z": 2}


def axis_index(axis: str) -> int:
    """0, 1 or 2 for ``"x"``, ``"y"``, ``"z"`` (case-insensitive), with a clear error otherwise."""
    try:
        return AXES[axis.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"axis must be one of 'x', 'y', 'z', got {axis!r}") from None


def per_point_keys(sample: Sample) -> list[str]:
    """Keys of the sample's per-point arrays: every array whose first dimension is the number of points.

    Found by shape rather than by a fixed list so that a field a reader adds later is resampled along with the
    points instead of silently falling out of alignment.
    """
    n = len(sample["points"])
    return [k for k, v in sample.items() if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n]


def select_points(sample: Sample, index: np.ndarray) -> Sample:
    """A copy of ``sample`` with every per-point field indexed by ``index`` (scalars and names kept)."""
    out = dict(sample)
    for key in per_point_keys(sample):
        out[key] = sample[key][index]
    return out


class Transform:
    """Base class: subclasses implement :meth:`apply` on a sample dict; ``__call__`` also accepts an array."""

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        raise NotImplementedError

    def __call__(self, data: Sample | np.ndarray, rng: np.random.Generator) -> Any:
        if isinstance(data, np.ndarray):
            return self.apply({"points": data}, rng)["points"]
        return self.apply(data, rng)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Compose(Transform):
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for transform in self.transforms:
            sample = transform.apply(sample, rng)
        return sample


def _batch_shape(sample: Sample) -> tuple[int, ...]:
    """Leading dimensions of a stack of clouds ``[..., N, 3]`` (``()`` for one cloud)."""
    return sample["points"].shape[:-2]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.where(norm > 0, norm, 1.0)).astype(np.float32, copy=False)


def linear_map(sample: Sample, matrix: np.ndarray) -> Sample:
    """Apply ``p -> matrix @ p`` (``matrix`` [..., 3, 3], one per cloud) to the points and the inverse-transpose
    map to the normals (renormalised).

    Normals must stay perpendicular to the surface: under a non-orthogonal map (anisotropic scale) they transform
    with the inverse transpose, not with the matrix itself.
    """
    out = dict(sample)
    out["points"] = sample["points"].astype(np.float32, copy=False) @ np.swapaxes(matrix, -1, -2).astype(np.float32)
    normals = sample.get("normals")
    if isinstance(normals, np.ndarray):
        out["normals"] = _unit(normals @ np.linalg.inv(matrix))
    return out


class Normalize(Transform):
    """Centre on the centroid and scale so the farthest point lies on the unit sphere (the datasets' convention).

    A cloud whose points all coincide is only centred: there is no scale to divide by.
    """

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        out = dict(sample)
        out["points"] = unit_sphere(sample["points"])
        return out


def unit_sphere(points: np.ndarray) -> np.ndarray:
    """Clouds ``[..., N, 3]`` centred on their centroids and scaled to radius 1 (float32)."""
    centred = points - points.mean(axis=-2, keepdims=True)
    radius = np.sqrt(np.einsum("...i,...i->...", centred, centred).max(axis=-1, keepdims=True))[..., None]
    return (centred / np.where(radius > 0, radius, 1.0)).astype(np.float32, copy=False)


def up_axis_matrix(source: str, target: str) -> np.ndarray:
    """The proper rotation (det +1, entries in {-1, 0, 1}) taking the ``source`` up axis onto ``target``.

    A quarter turn about ``source x target`` (Rodrigues with sin=1, cos=0: R = I + K + K^2), so y-up -> z-up maps
    (x, y, z) to (x, -z, y) and the reverse conversion is the transpose. A reflection would mirror shapes (and flip
    chirality), which a conversion of conventions must never do.
    """
    s, t = axis_index(source), axis_index(target)
    if s == t:
        return np.eye(3)
    axis = np.cross(np.eye(3)[s], np.eye(3)[t])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + k + k @ k


class UpAxis(Transform):
    """Convert between up-axis conventions (e.g. the y-up files to a z-up model), exactly and deterministically."""

    def __init__(self, source: str = "y", target: str = "z") -> None:
        self.source = source
        self.target = target
        self.matrix = up_axis_matrix(source, target)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        return linear_map(sample, self.matrix)


def rotation_about(axis: int, angle: float | np.ndarray) -> np.ndarray:
    """Right-handed rotation matrices [..., 3, 3] by ``angle`` radians (any shape) about coordinate axis ``axis``."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    i, j = (axis + 1) % 3, (axis + 2) % 3
    matrix = np.zeros(angle.shape + (3, 3))
    matrix[..., axis, axis] = 1.0
    matrix[..., i, i], matrix[..., i, j], matrix[..., j, i], matrix[..., j, j] = c, -s, s, c
    return matrix


class RotateUp(Transform):
    """Rotate about the up axis by an angle drawn from U(-angle_range/2, angle_range/2).

    ``angle_range=2*pi`` gives a uniformly random heading; a small range gives a wobble around the canonical pose.
    """

    def __init__(self, angle_range: float = 2 * np.pi, up: str = "y") -> None:
        self.angle_range = float(angle_range)
        self.up = up
        self.axis = axis_index(up)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        angle = rng.uniform(-0.5, 0.5, size=_batch_shape(sample)) * self.angle_range
        return linear_map(sample, rotation_about(self.axis, angle))


class RandomScale(Transform):
    """Scale by factors from U(low, high): one per axis (anisotropic) or one for all axes."""

    def __init__(self, low: float = 0.8, high: float = 1.2, anisotropic: bool = True) -> None:
        if not 0 < low <= high:
            raise ValueError(f"scale range must satisfy 0 < low <= high, got ({low}, {high})")
        self.low = float(low)
        self.high = float(high)
        self.anisotropic = anisotropic

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        size = _batch_shape(sample) + (3 if self.anisotropic else 1,)
        factors = rng.uniform(self.low, self.high, size=size).astype(np.float32)[..., None, :]
        out = dict(sample)
        out["points"] = sample["points"] * factors
        normals = sample.get("normals")
        if isinstance(normals, np.ndarray):
            out["normals"] = _unit(normals / factors)
        return out


class RandomTranslate(Transform):
    """Shift the whole cloud by an offset from U(-max_shift, max_shift) per axis."""

    def __init__(self, max_shift: float = 0.2) -> None:
        self.max_shift = float(max_shift)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        out = dict(sample)
        shift = rng.uniform(-self.max_shift, self.max_shift, size=_batch_shape(sample) + (1, 3))
        out["points"] = sample["points"] + shift.astype(np.float32)
        return out


class Jitter(Transform):
    """Add per-point Gaussian noise N(0, sigma^2) clipped to [-clip, clip], so no point is thrown far away."""

    def __init__(self, sigma: float = 0.01, clip: float = 0.05) -> None:
        if sigma < 0 or clip < 0:
            raise ValueError(f"jitter sigma and clip must be non-negative, got sigma={sigma}, clip={clip}")
        self.sigma = float(sigma)
        self.clip = float(clip)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        points = sample["points"]
        noise = rng.standard_normal(size=points.shape, dtype=np.float32)
        noise *= self.sigma
        np.clip(noise, -self.clip, self.clip, out=noise)
        out = dict(sample)
        out["points"] = points + noise
        return out


def resample_index(n: int, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``num_points`` points drawn from ``n``: without replacement when ``n >= num_points``; otherwise
    every point once (in random order) plus random repeats, so no point of a small cloud is lost."""
    if n < 1:
        raise ValueError("cannot resample an empty cloud")
    if n >= num_points:
        return rng.permutation(n)[:num_points]
    extra = rng.integers(0, n, size=num_points - n)
    return np.concatenate([rng.permutation(n), extra])


class Resample(Transform):
    """Draw a fixed number of points (and their per-point fields) so that samples stack into a batch."""

    def __init__(self, num_points: int) -> None:
        if num_points < 1:
            raise ValueError(f"num_points must be positive, got {num_points}")
        self.num_points = int(num_points)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if sample["points"].ndim != 2:
            raise ValueError(f"Resample takes one cloud [N, 3], got {list(sample['points'].shape)}")
        return select_points(sample, resample_index(len(sample["points"]), self.num_points, rng))
