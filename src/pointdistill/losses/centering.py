"""DINO centering: subtract a running mean of the teacher logits before sharpening.

Centering stops one prototype from dominating (it pushes towards uniform targets) while the low teacher temperature
pushes towards one-hot targets; together they avoid both collapses. The centre is an EMA of the mean teacher logit
over the *global* batch, all-reduced, so that every process uses the same centre.
"""

from __future__ import annotations

import torch
from torch import nn

from pointdistill.losses.distributed import all_reduce_


class Centering(nn.Module):
    """Buffer ``center`` [1, dim]; ``probs`` sharpens centred logits, ``update`` moves the centre."""

    center: torch.Tensor

    def __init__(self, dim: int, momentum: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"center momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum
        self.register_buffer("center", torch.zeros(1, dim))

    def probs(self, teacher_logits: torch.Tensor, temp: float) -> torch.Tensor:
        """``softmax((logits - center) / temp)`` over the last dim, in float32."""
        return torch.softmax((teacher_logits.float() - self.center) / temp, dim=-1)

    @torch.no_grad()
    def update(self, teacher_logits: torch.Tensor) -> None:
        """``c <- q * c + (1 - q) * mean`` with the mean over all rows of all processes (one all-reduce)."""
        flat = teacher_logits.detach().float().reshape(-1, teacher_logits.shape[-1])
        packed = torch.cat([flat.sum(0), flat.new_tensor([flat.shape[0]])])
        all_reduce_(packed)
        mean = packed[:-1] / packed[-1].clamp(min=1.0)
        self.center.mul_(self.momentum).add_(mean.unsqueeze(0), alpha=1.0 - self.momentum)
