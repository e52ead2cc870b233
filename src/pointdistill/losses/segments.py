"""Reductions over contiguous point segments (one segment per view), vectorised with scatter ops.

Scene batches concatenate the points of many views; a per-view softmax over points is a softmax within each segment.
These helpers do it for all segments at once, so no code loops over views or points.
"""

from __future__ import annotations

import torch


def segment_logsumexp(x: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """``log sum exp`` of the rows of ``x`` [N, K] within each segment: [num_segments, K] (-inf where empty).

    The per-segment maximum is subtracted first, so no value can overflow ``exp``.
    """
    shape = (num_segments, x.shape[1])
    index = segment.unsqueeze(1).expand_as(x)
    peak = x.new_full(shape, float("-inf")).scatter_reduce(0, index, x.detach(), reduce="amax", include_self=True)
    safe_peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    total = x.new_zeros(shape).index_add(0, segment, (x - safe_peak[segment]).exp())
    return total.log() + safe_peak


def segment_log_softmax(x: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Log-softmax of every column of ``x`` [N, K] over the rows of its segment (each column's exp sums to 1 per
    segment): a distribution over a view's points per prototype."""
    return x - segment_logsumexp(x, segment, num_segments)[segment]


def segment_counts(segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Rows per segment [num_segments] (int64)."""
    return torch.bincount(segment, minlength=num_segments)
