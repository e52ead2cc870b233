"""Exact k-nearest neighbours and ball query, chunked so memory stays O(chunk * N), never O(N * N)."""

from __future__ import annotations

from typing import Iterator

import torch

from pointdistill.ops.gather import valid_mask

DEFAULT_CHUNK_ELEMENTS = 1 << 24


def _chunk_rows(batch: int, n: int, chunk_elements: int) -> int:
    """Query rows per chunk so that each [B, rows, N] distance block holds about ``chunk_elements`` values."""
    return max(1, chunk_elements // max(1, batch * n))


def _sq_distances(query: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Exact squared distances [B, M, N]: the explicit difference, not the |a|^2+|b|^2-2ab shortcut whose rounding
    reorders near-ties and breaks agreement with a brute-force reference."""
    ref_t = ref.transpose(1, 2)
    dist = (query[..., 0:1] - ref_t[:, 0:1]).square()
    dist += (query[..., 1:2] - ref_t[:, 1:2]).square()
    dist += (query[..., 2:3] - ref_t[:, 2:3]).square()
    return dist


def _sort_keys(dist: torch.Tensor) -> torch.Tensor:
    """int64 keys ordering by (distance, index): non-negative float32 bit patterns sort like the floats, and the
    index in the low 32 bits breaks ties towards the lower index, exactly and on any device."""
    n = dist.shape[-1]
    bits = dist.contiguous().view(torch.int32).to(torch.int64)
    return (bits << 32) | torch.arange(n, device=dist.device, dtype=torch.int64)


def _distance_blocks(
    query: torch.Tensor, ref: torch.Tensor, ref_lengths: torch.Tensor | None, chunk_elements: int
) -> Iterator[torch.Tensor]:
    """Float32 squared distances [B, rows, N] from consecutive row chunks of ``query`` to ``ref``, padding points
    (index >= ``ref_lengths[b]``) at +inf: the one chunk loop both searches run, so memory stays O(chunk * N)."""
    batch, n = ref.shape[0], ref.shape[1]
    query, ref = query.float(), ref.float()
    mask = valid_mask(ref_lengths, batch, n, ref.device)
    rows = _chunk_rows(batch, n, chunk_elements)
    for start in range(0, query.shape[1], rows):
        dist = _sq_distances(query[:, start : start + rows], ref)
        yield dist if mask is None else dist.masked_fill(~mask.unsqueeze(1), float("inf"))


def knn(
    query: torch.Tensor,
    ref: torch.Tensor,
    k: int,
    *,
    ref_lengths: torch.Tensor | None = None,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances and indices [B, M, k] of the k nearest ``ref`` [B, N, 3] points to each ``query`` [B, M, 3].

    Sorted by distance, ties broken by the lower index. Padding points (index >= ``ref_lengths[b]``) are never
    returned while real ones remain. When k exceeds the number of real points, the extra slots repeat the nearest
    neighbour (for max-pooled patches a repeat changes nothing, unlike a padding point).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = ref.shape[1]
    if n == 0:
        raise ValueError("cannot search neighbours in an empty cloud")
    k_eff = min(k, n)
    dists, idxs = [], []
    for d in _distance_blocks(query, ref, ref_lengths, chunk_elements):
        keys = _sort_keys(d).topk(k_eff, dim=-1, largest=False).values
        idx = (keys & 0xFFFFFFFF).long()
        dists.append(d.gather(-1, idx))
        idxs.append(idx)
    dist, idx = torch.cat(dists, 1), torch.cat(idxs, 1)
    invalid = ~torch.isfinite(dist)
    if ref_lengths is not None and invalid.any():
        idx = torch.where(invalid, idx[..., :1].expand_as(idx), idx)
        dist = torch.where(invalid, dist[..., :1].expand_as(dist), dist)
    if k > k_eff:
        pad = k - k_eff
        idx = torch.cat([idx, idx[..., :1].expand(-1, -1, pad)], -1)
        dist = torch.cat([dist, dist[..., :1].expand(-1, -1, pad)], -1)
    return dist, idx


def ball_query(
    query: torch.Tensor,
    ref: torch.Tensor,
    radius: float,
    k: int,
    *,
    ref_lengths: torch.Tensor | None = None,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """Indices [B, M, k] of up to k ``ref`` points within ``radius`` of each query, in index order (PointNet++).

    Slots beyond the points found repeat the first point found. A query with no point in its ball gets its nearest
    point instead (PointNet++ would silently return index 0, an arbitrary point).
    """
    n = ref.shape[1]
    if n == 0:
        raise ValueError("cannot search neighbours in an empty cloud")
    k_eff = min(k, n)
    order = torch.arange(n, device=ref.device)
    out = []
    for d in _distance_blocks(query, ref, ref_lengths, chunk_elements):
        inside = d <= radius * radius
        rank = torch.where(inside, order, n)
        idx = rank.topk(k_eff, dim=-1, largest=False).values
        nearest = d.argmin(dim=-1, keepdim=True)
        first = torch.where(idx[..., :1] == n, nearest, idx[..., :1])
        out.append(torch.where(idx == n, first.expand_as(idx), idx))
    idx = torch.cat(out, 1)
    if k > k_eff:
        idx = torch.cat([idx, idx[..., :1].expand(-1, -1, k - k_eff)], -1)
    return idx
