"""Zipf-Sinkhorn (DOS): teacher softmaps whose prototype usage follows a power law.

Per view (a contiguous segment of points), in float32 and without gradient: ``F = exp(logits / temp)``,
``Q = F / sum F``; then ``iterations`` times scale every point's row to ``1 / N`` and every prototype's column to
``w_k = k^-alpha / sum_j j^-alpha``; finally renormalise every column to sum to 1 over the view's points, so that
column k is the teacher softmap of prototype k. A prototype of high rank (large ``w_k``) must spread its mass over
many points, so its softmap is broad; a tail prototype's softmap is peaked. ``alpha = 0`` gives uniform ``w_k``:
ordinary Sinkhorn-Knopp.

The iterations run in log space over all views at once (segment log-sum-exp), so no logit range can overflow and
no Python loop runs over views or points.

Options (the paper leaves them open): ``rank`` ``index`` gives prototype k the k-th prior weight (the prototypes
are free to organise around the fixed prior); ``usage`` ranks prototypes by an exponential moving average of their
share of the teacher's unbalanced mass ``F / sum F`` within each view (most used first), summed over the views of
the whole global batch and folded in once per optimiser step (:class:`PrototypeUsage`), so every view weighs the
same however the step is split. ``support`` ``view`` balances within each view; ``batch`` balances over all views
of the global batch together (one segment; the prototype totals are all-gathered over processes in every
iteration), while the final softmaps stay per view. Accumulated micro-batches are balanced one at a time: a
Sinkhorn over the whole step would need every micro-batch's teacher logits at once, so with ``batch`` support (and
only then) an accumulated step is not exactly one large batch.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from pointdistill.losses.segments import segment_counts, segment_logsumexp
from pointdistill.losses.step_statistics import StepStatistics
from pointdistill.utils.distributed import all_gather_stack, all_reduce_


def zipf_prior(num_prototypes: int, alpha: float) -> torch.Tensor:
    """``w_k = k^-alpha / sum_j j^-alpha`` for ranks k = 1..K (float64, sums to 1)."""
    ranks = torch.arange(1, num_prototypes + 1, dtype=torch.float64)
    weights = ranks.pow(-float(alpha))
    return weights / weights.sum()


class PrototypeUsage(StepStatistics):
    """EMA of each prototype's share of the teacher mass, folded in once per optimiser step (all processes)."""

    usage: torch.Tensor

    def __init__(self, num_prototypes: int, momentum: float) -> None:
        super().__init__(num_prototypes)
        self.momentum = momentum
        self.register_buffer("usage", torch.full((num_prototypes,), 1.0 / num_prototypes, dtype=torch.float64))

    def apply_step(self, total: torch.Tensor) -> None:
        if total.sum() > 0:
            self.usage.mul_(self.momentum).add_(total / total.sum(), alpha=1.0 - self.momentum)

    def ranks(self) -> torch.Tensor:
        """1-based rank of every prototype [K], the most used first (ties by index)."""
        order = torch.argsort(-self.usage, stable=True)
        ranks = torch.empty_like(order)
        ranks[order] = torch.arange(1, len(order) + 1, device=order.device)
        return ranks


class ZipfSinkhorn(nn.Module):
    """``forward(logits [N, K], segment [N], num_segments, temp, alpha=None) -> softmaps [N, K]``; every column
    sums to 1 over each segment's rows. :meth:`plan` is the balanced matrix before that final renormalisation."""

    def __init__(
        self,
        num_prototypes: int,
        alpha: float = 1.3,
        iterations: int = 3,
        rank: Literal["index", "usage"] = "index",
        support: Literal["view", "batch"] = "view",
        usage_momentum: float = 0.9,
    ) -> None:
        super().__init__()
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if rank not in ("index", "usage"):
            raise ValueError(f"rank must be index or usage, got {rank!r}")
        if support not in ("view", "batch"):
            raise ValueError(f"support must be view or batch, got {support!r}")
        self.alpha = float(alpha)
        self.iterations = iterations
        self.support = support
        self.register_buffer("log_prior", zipf_prior(num_prototypes, alpha).log().float(), persistent=False)
        self.usage = PrototypeUsage(num_prototypes, usage_momentum) if rank == "usage" else None

    def log_weights(self, alpha: float | None = None) -> torch.Tensor:
        """``log w_k`` per prototype [K] under the current ranking, for exponent ``alpha`` (default: the configured
        one; another value serves a warm-up of the exponent)."""
        log_prior = self.log_prior
        if alpha is not None and float(alpha) != self.alpha:
            log_prior = zipf_prior(len(log_prior), alpha).log().float().to(log_prior.device)
        if self.usage is None:
            return log_prior
        return log_prior[self.usage.ranks().to(log_prior.device) - 1]

    def column_logsumexp(self, log_q: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
        """log of every prototype's total per segment [num_segments, K]; with ``batch`` support over the points of
        every process."""
        totals = segment_logsumexp(log_q, segment, num_segments)
        if self.support == "batch":
            totals = torch.logsumexp(all_gather_stack(totals), dim=0)
        return totals

    @torch.no_grad()
    def plan(
        self, logits: torch.Tensor, segment: torch.Tensor, num_segments: int, temp: float, alpha: float | None = None
    ) -> torch.Tensor:
        """The balanced matrix Q [N, K] after the iterations: every column of a segment sums to ``w_k`` (the last
        scaling), every row to ``1 / N_segment`` up to the iterations' convergence. The first scaling is the rows',
        so the normalisation ``F / sum F`` changes the plan by nothing; it makes each view's usage sum to 1.
        ``alpha`` overrides the prior's exponent for this call."""
        log_q = logits.detach().float() / temp
        log_q = log_q - torch.logsumexp(segment_logsumexp(log_q, segment, num_segments), dim=1)[segment].unsqueeze(1)
        if self.usage is not None:
            self.usage.accumulate(log_q.exp().sum(dim=0))
        counts = segment_counts(segment, num_segments).double()
        if self.support == "batch":
            segment, num_segments = torch.zeros_like(segment), 1
            counts = all_reduce_(counts.sum(dim=0, keepdim=True))
        log_rows = -counts.clamp(min=1).log().float()[segment].unsqueeze(1)
        log_w = self.log_weights(alpha).to(log_q.device)
        for _ in range(self.iterations):
            log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) + log_rows
            log_q = log_q - self.column_logsumexp(log_q, segment, num_segments)[segment] + log_w
        return log_q.exp()

    @torch.no_grad()
    def forward(
        self, logits: torch.Tensor, segment: torch.Tensor, num_segments: int, temp: float, alpha: float | None = None
    ) -> torch.Tensor:
        q = self.plan(logits, segment, num_segments, temp, alpha)
        totals = torch.zeros(num_segments, q.shape[1], dtype=q.dtype, device=q.device).index_add_(0, segment, q)
        return q / totals.clamp(min=torch.finfo(q.dtype).tiny)[segment]
