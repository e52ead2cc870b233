"""Cross-view distillation cross-entropy (DINO) over a set of (teacher view, student view) pairs.

``H(t, s) = -sum_k t_k log softmax(s / tau_s)_k``, averaged over the batch, then over the selected pairs. All pairs
are computed in one einsum, [I, B, K] x [J, B, K] -> [I, J], outside autocast so a bf16 run still accumulates the
cross-entropy in float32.
"""

from __future__ import annotations

import torch
from torch import nn


class DINOLoss(nn.Module):
    """``forward(teacher_probs [I, B, K], student_logits [J, B, K], exclude_diagonal) -> scalar``.

    ``exclude_diagonal`` drops the pairs ``i == j`` (the same crop seen by teacher and student), as DCGLR's global
    loss does: with I = J = 2 that leaves the two ordered pairs (0, 1) and (1, 0).
    """

    def __init__(self, student_temp: float = 0.1) -> None:
        super().__init__()
        if student_temp <= 0:
            raise ValueError(f"student temperature must be > 0, got {student_temp}")
        self.student_temp = student_temp

    def pair_losses(self, teacher_probs: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
        """[I, J] matrix of batch-mean cross-entropies H(teacher_i, student_j)."""
        if teacher_probs.dim() != 3 or student_logits.dim() != 3:
            raise ValueError("teacher_probs and student_logits must be [views, batch, prototypes]")
        if teacher_probs.shape[1:] != student_logits.shape[1:]:
            raise ValueError(
                f"teacher {list(teacher_probs.shape)} and student {list(student_logits.shape)} "
                "differ in batch or prototype count"
            )
        with torch.autocast(device_type=student_logits.device.type, enabled=False):
            log_probs = torch.log_softmax(student_logits.float() / self.student_temp, dim=-1)
            return -torch.einsum("ibk,jbk->ij", teacher_probs.float(), log_probs) / student_logits.shape[1]

    def forward(
        self, teacher_probs: torch.Tensor, student_logits: torch.Tensor, exclude_diagonal: bool = False
    ) -> torch.Tensor:
        losses = self.pair_losses(teacher_probs, student_logits)
        if not exclude_diagonal:
            return losses.mean()
        keep = ~torch.eye(*losses.shape, dtype=torch.bool, device=losses.device)
        if not keep.any():
            raise ValueError("exclude_diagonal leaves no pair: need more than one view on one side")
        return losses[keep].mean()


def token_cross_entropy(teacher_probs: torch.Tensor, student_logits: torch.Tensor, student_temp: float) -> torch.Tensor:
    """Mean over every token of H(t, s) for per-token targets ``teacher_probs`` [..., K] and ``student_logits``
    [..., K] of the same shape (iBOT/AsymDSD's masked-patch loss), in float32 outside autocast."""
    if teacher_probs.shape != student_logits.shape:
        raise ValueError(f"teacher {list(teacher_probs.shape)} and student {list(student_logits.shape)} differ")
    with torch.autocast(device_type=student_logits.device.type, enabled=False):
        log_probs = torch.log_softmax(student_logits.float() / student_temp, dim=-1)
        return -(teacher_probs.float() * log_probs).sum(-1).mean()
