"""DOS's distillation losses over the points of a view.

Softmaps: for each prototype k a distribution over the view's (matched, visible) points,
``S_S(i, k) = exp(cos(z_i, q_k) / tau_S) / sum_j exp(cos(z_j, q_k) / tau_S)``, and the per-view loss
``(1/K) sum_k CE(S_T(:, k), S_S(:, k))`` against the teacher's softmaps (Zipf-Sinkhorn). A softmap asks *where* in
the view a prototype is relevant, not *which* prototype a point belongs to, so it is the per-point softmax
transposed.

Clustering (the ablation "per-point clustering targets"): per point a distribution over prototypes, the teacher's
from ordinary Sinkhorn, the loss the mean over the view's points of ``CE(t_i, s_i)``.

Both return one loss per view [V], leaving the weighting of views and terms to the method; they share
:class:`ViewCrossEntropy`'s forward and differ only in the student's distribution and the divisor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pointdistill.losses.segments import segment_counts, segment_log_softmax


class ViewCrossEntropy(nn.Module):
    """The skeleton both losses share: ``forward(targets [N, K], student_logits [N, K], segment [N], num_segments)
    -> loss per view [V]`` = the sum over a view's points of ``-sum_k targets * log q`` with the student's
    ``log q`` of ``logits / student_temp`` (:meth:`student_log_probs`), divided by :meth:`normaliser`. Empty segments
    give 0."""

    def __init__(self, student_temp: float = 0.1) -> None:
        super().__init__()
        self.student_temp = student_temp

    def student_log_probs(self, scaled: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
        """The student's log-distribution [N, K] from its tempered logits."""
        raise NotImplementedError

    def normaliser(self, targets: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor | int:
        """What each view's summed cross-entropy is divided by ([V] or a number)."""
        raise NotImplementedError

    def forward(
        self, targets: torch.Tensor, student_logits: torch.Tensor, segment: torch.Tensor, num_segments: int
    ) -> torch.Tensor:
        log_q = self.student_log_probs(student_logits.float() / self.student_temp, segment, num_segments)
        per_point = -(targets * log_q).sum(dim=1)  # [N]: this point's cross-entropy terms over the prototypes
        total = per_point.new_zeros(num_segments).index_add(0, segment, per_point)
        return total / self.normaliser(targets, segment, num_segments)


class SoftmapLoss(ViewCrossEntropy):
    """Per view ``(1/K) sum_k CE(S_T(:, k), S_S(:, k))``: ``targets`` are the teacher softmaps (every column sums to
    1 within a segment); the student's logits are cosines, divided by ``student_temp`` and soft-maxed over the
    segment's points per prototype."""

    def student_log_probs(self, scaled: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
        return segment_log_softmax(scaled, segment, num_segments)

    def normaliser(self, targets: torch.Tensor, segment: torch.Tensor, num_segments: int) -> int:
        return targets.shape[1]


class ClusterLoss(ViewCrossEntropy):
    """Per view the mean over its points of the cross-entropy between the teacher's per-point distribution over
    prototypes and the student's softmax(logits / ``student_temp``) over prototypes."""

    def student_log_probs(self, scaled: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
        return F.log_softmax(scaled, dim=1)

    def normaliser(self, targets: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
        return segment_counts(segment, num_segments).clamp(min=1)
