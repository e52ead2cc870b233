"""Crops of one cloud for multi-crop self-distillation: which points a view keeps.

Both crops return *indices* into the cloud (sorted ascending, so the crop keeps the cloud's point order and can
index any per-point field), pick a random seed point, rank every point by a distance to it in one vectorised pass
and keep the ``n`` nearest with ``argpartition`` (O(N), no sort of the whole cloud, no loop over points).
"""

from __future__ import annotations

import numpy as np


def crop_size(num_points: int, ratio: float) -> int:
    """Number of points a crop of ``ratio`` keeps from ``num_points``: round(ratio * N), at least 1, at most N."""
    if not 0 < ratio <= 1:
        raise ValueError(f"crop ratio must lie in (0, 1], got {ratio}")
    return int(min(num_points, max(1, round(ratio * num_points))))


def _nearest(distance: np.ndarray, count: int) -> np.ndarray:
    """Sorted indices of the ``count`` smallest entries of ``distance``."""
    if count >= len(distance):
        return np.arange(len(distance))
    return np.sort(np.argpartition(distance, count - 1)[:count])


def _check_points(points: np.ndarray) -> None:
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(f"expected a non-empty cloud of shape [N, 3], got {list(points.shape)}")


def nearest_fraction_crop(points: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """DCGLR crop: indices of the fraction ``ratio`` of points nearest (Euclidean) to a random seed point.

    The result is a ball around the seed that grows until it holds round(ratio * N) points, so a crop's size in
    points is fixed whatever the local density.
    """
    _check_points(points)
    seed = points[rng.integers(len(points))]
    diff = points - seed
    return _nearest(np.einsum("ij,ij->i", diff, diff), crop_size(len(points), ratio))


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix drawn uniformly from SO(3) (normalised Gaussian quaternion)."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def box_axis_scales(rng: np.random.Generator, aspect_range: tuple[float, float] = (0.33, 3.0)) -> np.ndarray:
    """AsymDSD per-axis scales [1, 1/sqrt(a), sqrt(a)] in random order, a ~ U(aspect_range).

    The scales multiply the offsets, so a box's half-extent along an axis is proportional to 1/scale.
    """
    low, high = aspect_range
    if not 0 < low <= high:
        raise ValueError(f"aspect range must satisfy 0 < low <= high, got {aspect_range}")
    aspect = rng.uniform(low, high)
    return rng.permutation(np.array([1.0, 1.0 / np.sqrt(aspect), np.sqrt(aspect)]))


def box_crop(
    points: np.ndarray,
    scale: float,
    rng: np.random.Generator,
    aspect_range: tuple[float, float] = (0.33, 3.0),
    min_points: int = 0,
) -> np.ndarray:
    """AsymDSD crop: indices of the n = max(round(scale * N), ``min_points``) points (at most N) inside the smallest
    randomly oriented box around a random seed point, the box's proportions given by :func:`box_axis_scales`.

    ``min_points`` is the reference's floor: it passes the view's point count, so a crop never holds fewer distinct
    points than the view it is resampled to (on a cloud of N = view size points that makes every crop the whole
    cloud).

    The distance is the anisotropic L-infinity norm max_k |s_k * (R^T (p - seed))_k| in the rotated frame; keeping
    the n smallest is the same as growing the box until it holds n points. Unlike the ball of
    :func:`nearest_fraction_crop`, the crop can be a slab or a bar, which varies the views' shapes.
    """
    _check_points(points)
    seed = points[rng.integers(len(points))]
    frame = random_rotation(rng)
    scales = box_axis_scales(rng, aspect_range)
    local = (points - seed) @ (frame * scales).astype(points.dtype, copy=False)
    count = min(len(points), max(crop_size(len(points), scale), min_points))
    return _nearest(np.abs(local).max(axis=1), count)

