"""Nearest neighbour within a radius between two point sets split into segments, in O(N) memory.

DOS matches every student point to the teacher's nearest point (same view, other view) within a radius. A full
distance matrix is O(N^2); instead the reference points are sorted by their cell of a grid whose cell is the radius,
so every neighbour within the radius lies in one of the 27 cells around a query's cell. Candidates are gathered cell
range by cell range (``searchsorted`` on the sorted cell keys) for ``chunk`` queries at a time, which bounds memory
by the chunk and the local density, never by N.
"""

from __future__ import annotations

import torch

_OFFSETS = torch.stack(torch.meshgrid(*([torch.arange(-1, 2)] * 3), indexing="ij"), dim=-1).reshape(-1, 3)


def nearest_within(
    query: torch.Tensor,
    query_segment: torch.Tensor,
    reference: torch.Tensor,
    reference_segment: torch.Tensor,
    radius: float,
    chunk: int = 8192,
) -> torch.Tensor:
    """For each query point [M, 3] the index [M] of the nearest reference point [N, 3] of the same segment within
    ``radius`` (ties: the lowest index), or -1 where there is none."""
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    result = torch.full((len(query),), -1, dtype=torch.long, device=query.device)
    if len(query) == 0 or len(reference) == 0:
        return result
    low = torch.minimum(query.amin(0), reference.amin(0))
    q_cell = torch.floor((query - low) / radius).long() + 1
    r_cell = torch.floor((reference - low) / radius).long() + 1
    extent = int(torch.maximum(q_cell.amax(), r_cell.amax())) + 2

    def key(cell: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
        return ((segment.long() * extent + cell[:, 0]) * extent + cell[:, 1]) * extent + cell[:, 2]

    sorted_keys, order = key(r_cell, reference_segment).sort()
    offsets = _OFFSETS.to(query.device)
    for start in range(0, len(query), chunk):
        cells = q_cell[start : start + chunk, None, :] + offsets  # [c, 27, 3]
        segments = query_segment[start : start + chunk, None].expand(-1, len(offsets))
        keys = key(cells.reshape(-1, 3), segments.reshape(-1))
        first = torch.searchsorted(sorted_keys, keys, side="left")
        counts = torch.searchsorted(sorted_keys, keys, side="right") - first
        owner = torch.repeat_interleave(torch.arange(len(keys), device=query.device), counts)
        run_start = torch.cumsum(counts, 0) - counts
        candidate = order[first[owner] + torch.arange(len(owner), device=query.device) - run_start[owner]]
        asker = owner // len(offsets) + start
        distance = (query[asker] - reference[candidate]).square().sum(1)
        best = torch.full((len(query),), float("inf"), dtype=distance.dtype, device=query.device)
        best = best.scatter_reduce(0, asker, distance, reduce="amin")
        winner = (distance == best[asker]) & (distance <= radius * radius)
        result.scatter_reduce_(0, asker[winner], candidate[winner], reduce="amin", include_self=False)
    return result
