"""Voxel-grid sampling: one point per occupied voxel, against a dictionary-based reference."""

from __future__ import annotations

import numpy as np
import torch

from pointdistill.ops import grid_sample, voxel_centroids, voxel_grid_sample, voxelize


def reference_first_per_voxel(points: np.ndarray, size: float, batch: np.ndarray | None = None) -> list[int]:
    seen: dict[tuple, int] = {}
    for i, p in enumerate(points):
        key = tuple(np.floor(p / size).astype(int)) + ((int(batch[i]),) if batch is not None else ())
        seen.setdefault(key, i)
    return sorted(seen.values())


def test_first_mode_matches_reference() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 2, size=(2000, 3))
    got = voxel_grid_sample(torch.from_numpy(points), 0.25)
    assert got.tolist() == reference_first_per_voxel(points, 0.25)


def test_batches_never_share_a_voxel() -> None:
    points = torch.zeros(6, 3)
    batch = torch.tensor([0, 0, 1, 1, 2, 2])
    assert voxel_grid_sample(points, 1.0, batch=batch).tolist() == [0, 2, 4]


def test_random_mode_picks_one_point_per_voxel_deterministically() -> None:
    points = torch.rand(500, 3)
    a = voxel_grid_sample(points, 0.2, mode="random", generator=torch.Generator().manual_seed(0))
    b = voxel_grid_sample(points, 0.2, mode="random", generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    _, inverse = voxelize(points, 0.2)
    assert sorted(inverse[a].tolist()) == list(range(int(inverse.max()) + 1))


def test_centroids_average_each_voxel() -> None:
    points = torch.tensor([[0.1, 0.1, 0.1], [0.3, 0.3, 0.3], [1.5, 0.0, 0.0]])
    centroids, inverse = voxel_centroids(points, 1.0)
    assert inverse[0] == inverse[1] != inverse[2]
    assert torch.allclose(centroids[inverse[0]], torch.tensor([0.2, 0.2, 0.2]))


def test_grid_sample_keeps_one_point_per_cell_and_inverse_maps_into_the_own_cell() -> None:
    rng = np.random.default_rng(3)
    points = torch.from_numpy(rng.uniform(0, 1, size=(3000, 3)))
    cells = torch.floor(points / 0.1).long()
    for mode in ("first", "random"):
        kept, inverse = grid_sample(points, 0.1, mode=mode, generator=torch.Generator().manual_seed(0))
        assert torch.equal(kept, kept.sort().values)
        assert len(torch.unique(cells[kept], dim=0)) == len(kept) == len(torch.unique(cells, dim=0))
        assert inverse.shape == (3000,) and int(inverse.max()) < len(kept)
        assert torch.equal(cells[kept][inverse], cells)  # every point's representative lies in its own cell
        assert torch.equal(inverse[kept], torch.arange(len(kept)))  # a kept point represents itself
    first, _ = grid_sample(points, 0.1, mode="first")
    assert first.tolist() == reference_first_per_voxel(points.numpy(), 0.1)
    draws = {tuple(grid_sample(points, 0.1, mode="random", generator=torch.Generator().manual_seed(s))[0].tolist())
             for s in range(3)}
    assert len(draws) == 3
