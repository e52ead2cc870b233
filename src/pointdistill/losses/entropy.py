"""Collapse detectors for teacher targets, logged every step.

- target entropy: mean over samples of H(p_b). Near 0 with a low marginal entropy -> one-hot collapse (every sample
  the same prototype); near log K -> uniform collapse (targets carry no information).
- batch-marginal entropy: H(mean_b p_b). Healthy training keeps it high (many prototypes used) while the per-sample
  entropy is low (confident targets).
"""

from __future__ import annotations

import torch


def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy in nats along ``dim`` (0 log 0 = 0)."""
    probs = probs.float()
    return -(probs * torch.log(probs.clamp(min=torch.finfo(probs.dtype).tiny))).sum(dim=dim)


@torch.no_grad()
def target_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Mean per-sample entropy of targets ``probs`` [..., K]."""
    return entropy(probs).mean()


@torch.no_grad()
def marginal_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of the mean target over all samples of ``probs`` [..., K] (this process's batch)."""
    return entropy(probs.reshape(-1, probs.shape[-1]).float().mean(dim=0))
