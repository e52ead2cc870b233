"""Voxel-grid sampling for scenes: one point (or the mean) per occupied voxel, batched by a per-point batch id."""

from __future__ import annotations

import torch


def voxelize(
    points: torch.Tensor, voxel_size: float, batch: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer grid coordinates [N, 3] and, per point, the index [N] of its occupied voxel among the unique ones.

    Points from different clouds (``batch`` ids) never share a voxel.
    """
    if voxel_size <= 0:
        raise ValueError(f"voxel_size must be positive, got {voxel_size}")
    grid = torch.floor(points.double() / voxel_size).long()
    grid = grid - grid.amin(dim=0, keepdim=True)
    keys = grid if batch is None else torch.cat([batch.long().unsqueeze(1), grid], dim=1)
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    return grid, inverse


def grid_sample(
    points: torch.Tensor,
    voxel_size: float,
    *,
    batch: torch.Tensor | None = None,
    mode: str = "first",
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One representative point per occupied voxel: ``(kept, inverse)``.

    ``kept`` [V] holds the representatives' indices, sorted ascending; ``inverse`` [N] gives, for every point, the
    position in ``kept`` of the representative of its voxel, so ``values[kept][inverse]`` spreads per-voxel results
    (predictions on the sampled cloud) back to every original point. ``mode="first"`` keeps the lowest-index point
    of each voxel (deterministic, for evaluation); ``"random"`` keeps a point drawn with ``generator`` (the
    training-time behaviour of Pointcept's GridSample).
    """
    if points.shape[0] == 0:
        empty = torch.empty(0, dtype=torch.long, device=points.device)
        return empty, empty
    _, voxel = voxelize(points, voxel_size, batch)
    num_voxels = int(voxel.max()) + 1
    if mode == "first":
        priority = torch.arange(points.shape[0], device=points.device, dtype=torch.float64)
    elif mode == "random":
        priority = torch.rand(points.shape[0], generator=generator, dtype=torch.float64).to(points.device)
    else:
        raise ValueError(f"unknown voxel sampling mode {mode!r}; choose first or random")
    best = torch.full((num_voxels,), float("inf"), dtype=torch.float64, device=points.device)
    best = best.scatter_reduce(0, voxel, priority, reduce="amin")
    winners = (priority == best[voxel]).nonzero().squeeze(1)
    representative = torch.full((num_voxels,), points.shape[0], dtype=torch.long, device=points.device)
    representative = representative.scatter_reduce(0, voxel[winners], winners, reduce="amin")
    kept, order = representative.sort()
    rank = torch.empty_like(order)
    rank[order] = torch.arange(num_voxels, device=points.device)
    return kept, rank[voxel]


def voxel_grid_sample(
    points: torch.Tensor,
    voxel_size: float,
    *,
    batch: torch.Tensor | None = None,
    mode: str = "first",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Indices of one representative point per occupied voxel, sorted ascending (:func:`grid_sample` without the
    inverse). For centroids use :func:`voxel_centroids`."""
    return grid_sample(points, voxel_size, batch=batch, mode=mode, generator=generator)[0]


def voxel_centroids(
    points: torch.Tensor, voxel_size: float, batch: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean point [V, 3] of each occupied voxel and the voxel index [N] of every point."""
    _, inverse = voxelize(points, voxel_size, batch)
    num_voxels = int(inverse.max()) + 1
    sums = torch.zeros(num_voxels, 3, dtype=points.dtype, device=points.device).index_add_(0, inverse, points)
    counts = torch.bincount(inverse, minlength=num_voxels).clamp(min=1).unsqueeze(1)
    return sums / counts.to(points.dtype), inverse
