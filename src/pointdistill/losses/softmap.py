"""DOS's distillation losses over the points of a view.

Softmaps: for each prototype k a distribution over the view's (matched, visible) points,
``S_S(i, k) = exp(cos(z_i, q_k) / tau_S) / sum_j exp(cos(z_j, q_k) / tau_S)``, and the per-view loss
``(1/K) sum_k CE(S_T(:, k), S_S(:, k))`` against the teacher's softmaps (Zipf-Sinkhorn). A softmap asks *where* in
the view a prototype is relevant, not *which* prototype a point belongs to, so it is the per-point softmax
transposed.

Clustering (the ablation "per-point clustering targets"): per point a distribution over prototypes, the teacher's
from ordinary Sinkhorn, the loss the mean over the view's points of ``CE(t_i, s_i)``.

Both return one loss per view [V], leaving the weighting of views and terms to the method.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pointdistill.losses.segments import segment_counts, segment_log_softmax


class SoftmapLoss(nn.Module):
    """``forward(targets [N, K], student_logits [N, K], segment [N], num_segments) -> loss per view [V]``.

    ``targets`` are the teacher softmaps (every column sums to 1 within a segment); the student's logits are cosines,
    divided by ``student_temp`` and soft-maxed over the segment's points per prototype. Empty segments give 0.
    """

    def __init__(self, student_temp: float = 0.1) -> None:
        super().__init__()
        self.student_temp = student_temp

    def forward(
        self, targets: torch.Tensor, student_logits: torch.Tensor, segment: torch.Tensor, num_segments: int
    ) -> torch.Tensor:
        log_s = segment_log_softmax(student_logits.float() / self.student_temp, segment, num_segments)
        per_point = -(targets * log_s).sum(dim=1)  # [N]: sum over prototypes of this point's cross-entropy terms
        total = per_point.new_zeros(num_segments).index_add(0, segment, per_point)
        return total / targets.shape[1]


class ClusterLoss(nn.Module):
    """``forward(targets [N, K], student_logits [N, K], segment [N], num_segments) -> loss per view [V]``: the mean
    over a view's points of the cross-entropy between the teacher's per-point distribution over prototypes and the
    student's softmax(logits / ``student_temp``). Empty segments give 0."""

    def __init__(self, student_temp: float = 0.1) -> None:
        super().__init__()
        self.student_temp = student_temp

    def forward(
        self, targets: torch.Tensor, student_logits: torch.Tensor, segment: torch.Tensor, num_segments: int
    ) -> torch.Tensor:
        per_point = -(targets * F.log_softmax(student_logits.float() / self.student_temp, dim=1)).sum(dim=1)
        total = per_point.new_zeros(num_segments).index_add(0, segment, per_point)
        return total / segment_counts(segment, num_segments).clamp(min=1)
