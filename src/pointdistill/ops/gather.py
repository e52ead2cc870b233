"""Indexing helpers shared by the geometry ops."""

from __future__ import annotations

import torch


def gather_points(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Pick rows of ``values`` [B, N, C] with ``index`` [B, *S] (long), giving [B, *S, C].

    One ``torch.gather`` on a flattened index, so any index shape works without a loop over the batch.
    """
    batch, _, channels = values.shape
    flat = index.reshape(batch, -1, 1).expand(-1, -1, channels)
    return values.gather(1, flat).reshape(*index.shape, channels)


def valid_mask(lengths: torch.Tensor | None, batch: int, n: int, device: torch.device) -> torch.Tensor | None:
    """[B, N] bool mask of real (non-padding) points for a padded batch, or None when nothing is padded."""
    if lengths is None:
        return None
    lengths = lengths.to(device)
    return torch.arange(n, device=device).unsqueeze(0) < lengths.unsqueeze(1)
