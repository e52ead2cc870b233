"""Farthest point sampling against a plain NumPy reference written independently of the torch code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointdistill.ops import farthest_point_sample


def reference_fps(points: np.ndarray, n: int, start: int = 0) -> list[int]:
    chosen = [start]
    dist = np.full(len(points), np.inf)
    for _ in range(n - 1):
        dist = np.minimum(dist, ((points - points[chosen[-1]]) ** 2).sum(1))
        chosen.append(int(np.argmax(dist)))
    return chosen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_on_random_clouds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(3, 500, 3)).astype(np.float32)
    got = farthest_point_sample(torch.from_numpy(points), 40)
    for b in range(3):
        assert got[b].tolist() == reference_fps(points[b].astype(np.float64), 40)


def test_adversarial_grid_ties_are_deterministic() -> None:
    grid = np.stack(np.meshgrid(*[np.arange(4.0)] * 3, indexing="ij"), -1).reshape(-1, 3).astype(np.float32)
    a = farthest_point_sample(torch.from_numpy(grid)[None], 16)
    b = farthest_point_sample(torch.from_numpy(grid)[None], 16)
    assert torch.equal(a, b)
    assert a[0].tolist() == reference_fps(grid.astype(np.float64), 16)
    assert len(set(a[0].tolist())) == 16


def test_duplicates_and_more_samples_than_distinct_points() -> None:
    points = torch.tensor([[[0.0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 0, 0]]])
    idx = farthest_point_sample(points, 4)[0].tolist()
    assert idx[:2] == [0, 2]
    assert set(idx) <= {0, 1, 2, 3}


def test_padded_batch_never_picks_padding_while_real_points_remain() -> None:
    rng = np.random.default_rng(0)
    points = torch.from_numpy(rng.normal(size=(2, 100, 3)).astype(np.float32))
    points[1, 60:] = 1000.0
    lengths = torch.tensor([100, 60])
    idx = farthest_point_sample(points, 30, lengths=lengths)
    assert (idx[1] < 60).all()
    assert idx[1].tolist() == reference_fps(points[1, :60].double().numpy(), 30)
    assert idx[0].tolist() == reference_fps(points[0].double().numpy(), 30)


def test_random_start_follows_generator() -> None:
    points = torch.rand(2, 200, 3)
    a = farthest_point_sample(points, 8, random_start=True, generator=torch.Generator().manual_seed(3))
    b = farthest_point_sample(points, 8, random_start=True, generator=torch.Generator().manual_seed(3))
    c = farthest_point_sample(points, 8, random_start=True, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_empty_cloud_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        farthest_point_sample(torch.zeros(1, 0, 3), 4)
