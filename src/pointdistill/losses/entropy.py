"""Collapse detectors for teacher targets, logged every step.

- target entropy: mean over samples of H(p_b). Near 0 with a low marginal entropy -> one-hot collapse (every sample
  the same prototype); near log K -> uniform collapse (targets carry no information).
- batch-marginal entropy: H(mean_b p_b). Healthy training keeps it high (many prototypes used) while the per-sample
  entropy is low (confident targets).

Scene methods assign every point to prototypes and sum over many batches (:func:`assignment_statistics`), and DOS's
softmaps are distributions over a view's points per prototype (:func:`segment_column_entropy`).
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


@torch.no_grad()
def assignment_statistics(logits: torch.Tensor, temp: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-point entropy [N] and summed assignment [K] of ``softmax(logits / temp)`` over prototypes: the sums
    behind the mean per-point entropy and the usage entropy H(mean assignment), which add up over batches."""
    log_p = torch.log_softmax(logits.detach().float() / temp, dim=-1)
    p = log_p.exp()
    return -(p * log_p).sum(dim=-1), p.sum(dim=0)


@torch.no_grad()
def segment_column_entropy(probs: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Entropy [num_segments, K] of every column of ``probs`` [N, K] over the rows of each segment (each column a
    distribution over a segment's rows, as a DOS softmap over a view's points)."""
    probs = probs.float()
    terms = -(probs * torch.log(probs.clamp(min=torch.finfo(probs.dtype).tiny)))
    return terms.new_zeros(num_segments, probs.shape[1]).index_add_(0, segment, terms)
