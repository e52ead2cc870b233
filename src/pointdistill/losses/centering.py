"""DINO centering: subtract a running mean of the teacher logits before sharpening.

Centering stops one prototype from dominating (it pushes towards uniform targets) while the low teacher temperature
pushes towards one-hot targets; together they avoid both collapses. The centre is an EMA of the mean teacher logit
over the *global* batch of one optimiser step: micro-batches and processes only add their sums
(:class:`~pointdistill.losses.step_statistics.StepStatistics`), and the centre moves once per step, so
``batch_size=8`` and ``batch_size=4 accumulate=2`` (or two processes of 4) produce the same centres.
"""

from __future__ import annotations

import torch

from pointdistill.losses.step_statistics import StepStatistics


class Centering(StepStatistics):
    """Buffer ``center`` [1, dim]; ``probs`` sharpens centred logits, ``observe`` records a micro-batch's logits,
    ``commit`` (once per optimiser step) moves the centre to ``q * c + (1 - q) * mean`` of everything observed."""

    center: torch.Tensor

    def __init__(self, dim: int, momentum: float = 0.9) -> None:
        super().__init__(dim + 1)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"center momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum
        self.register_buffer("center", torch.zeros(1, dim))

    def probs(self, teacher_logits: torch.Tensor, temp: float) -> torch.Tensor:
        """``softmax((logits - center) / temp)`` over the last dim, in float32."""
        return torch.softmax((teacher_logits.float() - self.center) / temp, dim=-1)

    @torch.no_grad()
    def observe(self, teacher_logits: torch.Tensor) -> None:
        """Add the sum and the count of the rows of ``teacher_logits`` [..., dim] to this step's statistics."""
        flat = teacher_logits.detach().float().reshape(-1, teacher_logits.shape[-1])
        self.accumulate(torch.cat([flat.sum(0), flat.new_tensor([flat.shape[0]])]))

    def apply_step(self, total: torch.Tensor) -> None:
        count = total[-1]
        if count <= 0:
            return
        mean = (total[:-1] / count).to(self.center.dtype)
        self.center.mul_(self.momentum).add_(mean.unsqueeze(0), alpha=1.0 - self.momentum)
