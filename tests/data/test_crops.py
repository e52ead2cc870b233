"""DCGLR nearest-fraction crops and AsymDSD oriented-box crops keep exactly the points their definitions say."""

from __future__ import annotations

import numpy as np
import pytest

from pointdistill.data.crops import (
    box_axis_scales,
    box_crop,
    crop_size,
    nearest_fraction_crop,
    random_rotation,
)


def cloud(n: int = 500, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, 3)).astype(np.float32)


def test_crop_size_rounds_and_clamps():
    assert crop_size(1024, 0.7) == 717
    assert crop_size(10, 0.01) == 1
    assert crop_size(10, 1.0) == 10
    with pytest.raises(ValueError, match="ratio"):
        crop_size(10, 0.0)
    with pytest.raises(ValueError, match="ratio"):
        crop_size(10, 1.5)


@pytest.mark.parametrize("ratio", [0.05, 0.2, 0.5, 0.7, 1.0])
def test_nearest_crop_keeps_exactly_the_nearest_fraction_to_its_seed(ratio):
    points = cloud()
    index = nearest_fraction_crop(points, ratio, np.random.default_rng(1))
    assert len(index) == round(ratio * len(points))
    assert np.all(np.diff(index) > 0), "sorted and unique"
    seed = points[np.random.default_rng(1).integers(len(points))]
    distance = np.linalg.norm(points - seed, axis=1)
    assert seed.tolist() in points[index].tolist()
    outside = np.setdiff1d(np.arange(len(points)), index)
    if len(outside):
        assert distance[index].max() <= distance[outside].min()


def test_nearest_crop_is_a_ball_around_one_of_its_points():
    """Implementation-free check: some kept point sees all kept points no farther than any dropped one."""
    points = cloud(300, seed=4)
    index = nearest_fraction_crop(points, 0.3, np.random.default_rng(9))
    outside = np.setdiff1d(np.arange(len(points)), index)
    dist = np.linalg.norm(points[index][:, None] - points[None], axis=-1)
    assert np.any(dist[:, index].max(axis=1) <= dist[:, outside].min(axis=1))


def test_random_rotation_is_orthonormal_and_proper():
    rotation = random_rotation(np.random.default_rng(0))
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)


def test_box_axis_scales_follow_the_aspect_ratio():
    for seed in range(20):
        scales = np.sort(box_axis_scales(np.random.default_rng(seed), (0.33, 3.0)))
        assert 1.0 in scales
        assert scales[0] * scales[2] == pytest.approx(1.0)
        assert 1 / np.sqrt(3.0) - 1e-9 <= scales[0] and scales[2] <= np.sqrt(3.0) + 1e-9


@pytest.mark.parametrize("scale", [0.05, 0.4, 1.0])
def test_box_crop_keeps_the_smallest_anisotropic_linf_distances(scale):
    points = cloud()
    index = box_crop(points, scale, np.random.default_rng(2))
    assert len(index) == round(scale * len(points))
    assert np.all(np.diff(index) > 0)
    replay = np.random.default_rng(2)
    seed = points[replay.integers(len(points))]
    frame = random_rotation(replay)
    scales = box_axis_scales(replay)
    distance = np.abs(((points - seed) @ frame) * scales).max(axis=1)
    outside = np.setdiff1d(np.arange(len(points)), index)
    if len(outside):
        assert distance[index].max() <= distance[outside].min() + 1e-6


def test_box_crops_vary_in_shape_and_are_local():
    points = cloud(2000)
    extents = []
    for seed in range(10):
        crop = points[box_crop(points, 0.1, np.random.default_rng(seed))]
        extents.append(np.sort(np.ptp(crop, axis=0)))
        assert np.ptp(crop, axis=0).max() < np.ptp(points, axis=0).max()
    ratios = [e[2] / e[0] for e in extents]
    assert max(ratios) > 1.5 * min(ratios), "aspect ratio and orientation should vary between crops"


def test_crops_reject_bad_input():
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        nearest_fraction_crop(np.zeros((0, 3), dtype=np.float32), 0.5, np.random.default_rng())
    with pytest.raises(ValueError, match="aspect"):
        box_crop(cloud(), 0.5, np.random.default_rng(), aspect_range=(2.0, 1.0))
