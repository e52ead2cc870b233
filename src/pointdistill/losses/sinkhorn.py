"""Sinkhorn-Knopp teacher targets (SwAV, DINOv2): an alternative to centering.

Instead of subtracting a running centre, the teacher's ``exp(logits / temp)`` matrix is rescaled so that over the
global batch every prototype receives the same total mass and every sample a distribution summing to one,
alternating the two normalisations a few times (default 3), prototypes first. The iterations run in log space, so
no logit range can overflow or underflow ``exp`` into NaNs, and the per-prototype sums are taken over all processes
(one all-gather of a [K] vector per iteration). Constant factors (1/K, 1/B) of the textbook version cancel in the
next normalisation, so they are left out; the result is identical.
"""

from __future__ import annotations

import torch
from torch import nn

from pointdistill.utils.distributed import all_gather_stack


class SinkhornKnopp(nn.Module):
    """``forward(teacher_logits [..., K], temp) -> probs [..., K]`` (all leading dims are samples)."""

    def __init__(self, num_iterations: int = 3) -> None:
        super().__init__()
        if num_iterations < 1:
            raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")
        self.num_iterations = num_iterations

    @torch.no_grad()
    def forward(self, teacher_logits: torch.Tensor, temp: float) -> torch.Tensor:
        shape = teacher_logits.shape
        log_q = teacher_logits.detach().float().reshape(-1, shape[-1]) / temp  # [B, K]
        for _ in range(self.num_iterations):
            per_process = torch.logsumexp(log_q, dim=0)  # [K] prototype mass on this process
            log_q = log_q - torch.logsumexp(all_gather_stack(per_process), dim=0)  # every prototype: mass 1
            log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True)  # every sample: mass 1
        return log_q.exp().reshape(shape)
