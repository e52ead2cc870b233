"""Lovasz-softmax loss (Berman et al. 2018): a convex surrogate of 1 - IoU per class, averaged over the classes.

Sonata's scene linear probe adds it to the cross-entropy. For each class present in the target, the points'
errors ``|[target == c] - p_c|`` are sorted in decreasing order and weighted by the gradient of the Lovasz
extension of the Jaccard loss at that ordering. All classes are sorted at once (one ``sort`` over a [P, C] error
matrix), so the cost is O(P C log P) with no loop over points or classes.
"""

from __future__ import annotations

import torch
from torch import nn


def lovasz_softmax(probabilities: torch.Tensor, target: torch.Tensor, ignore_index: int = -1) -> torch.Tensor:
    """Mean over the classes present in ``target`` of the Lovasz hinge of their IoU; ``probabilities`` [P, C]
    (softmax outputs), ``target`` [P] class ids, ``ignore_index`` points left out. Zero when no point counts."""
    keep = target != ignore_index
    probabilities, target = probabilities[keep], target[keep]
    if target.numel() == 0:
        return probabilities.sum() * 0.0
    classes = probabilities.shape[1]
    foreground = nn.functional.one_hot(target, classes).to(probabilities.dtype)
    errors = (foreground - probabilities).abs()
    errors_sorted, order = torch.sort(errors, dim=0, descending=True)
    fg_sorted = foreground.gather(0, order)
    positives = fg_sorted.sum(dim=0, keepdim=True)
    intersection = positives - fg_sorted.cumsum(dim=0)
    union = positives + (1.0 - fg_sorted).cumsum(dim=0)
    jaccard = 1.0 - intersection / union
    gradient = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]], dim=0)
    per_class = (errors_sorted * gradient).sum(dim=0)
    present = positives.squeeze(0) > 0
    return per_class[present].mean()


class LovaszSoftmax(nn.Module):
    """:func:`lovasz_softmax` of ``softmax(logits)``."""

    def __init__(self, ignore_index: int = -1) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return lovasz_softmax(logits.float().softmax(dim=1), target, self.ignore_index)
