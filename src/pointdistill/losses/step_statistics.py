"""Teacher-side statistics that follow the optimiser step, not the micro-batch.

A running statistic of the teacher (DINO's centre, prototype usage, Sinkhorn marginals kept across steps) must see
the same data whether a step's global batch arrives in one piece, in ``accumulate`` micro-batches or split over
processes. So a :class:`StepStatistics` only *adds* each micro-batch's sufficient statistics to a pending sum
while the step runs (every micro-batch reads the statistic as it stood at the start of the step), and
:meth:`~StepStatistics.commit` folds the step in once: one all-reduce of the pending sum over all processes, then
the subclass's update. ``Method.commit_statistics`` calls ``commit`` on every such module once per optimiser step.
"""

from __future__ import annotations

import torch
from torch import nn

from pointdistill.utils.distributed import all_reduce_


class StepStatistics(nn.Module):
    """Pending sum of ``size`` values (a non-persistent buffer: it is empty whenever a checkpoint is written)."""

    pending: torch.Tensor

    def __init__(self, size: int) -> None:
        super().__init__()
        self.register_buffer("pending", torch.zeros(size, dtype=torch.float64), persistent=False)

    @torch.no_grad()
    def accumulate(self, values: torch.Tensor) -> None:
        """Add one micro-batch's sufficient statistics (a flat tensor of ``size`` values) to the step's sum."""
        self.pending += values.detach().reshape(-1).to(self.pending.dtype)

    @torch.no_grad()
    def commit(self) -> None:
        """Sum the step's statistics over all processes (one collective) and apply them; then start afresh."""
        total = all_reduce_(self.pending.clone())
        self.pending.zero_()
        self.apply_step(total)

    def apply_step(self, total: torch.Tensor) -> None:
        """Fold one optimiser step's global sum into the statistic."""
        raise NotImplementedError
