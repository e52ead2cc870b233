"""Reductions over the global batch, no-ops in a single process.

Teacher-target statistics (the centre, Sinkhorn marginals) must be taken over the *global* batch: with per-process
statistics the targets would depend on how the batch is sharded. These helpers are only used on tensors that need no
gradient (teacher outputs), so the collectives need not be autograd-aware.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_reduce_(tensor: torch.Tensor) -> torch.Tensor:
    """In-place SUM across processes; returns ``tensor`` for chaining."""
    if is_distributed():
        dist.all_reduce(tensor)
    return tensor


def all_gather_stack(tensor: torch.Tensor) -> torch.Tensor:
    """[world_size, *tensor.shape]: every process's ``tensor`` (all the same shape), rank order."""
    if not is_distributed():
        return tensor.unsqueeze(0)
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.stack(parts)
