"""KoLeo regulariser (Sablayrolles et al. 2019; DINOv2): spread embeddings uniformly over the sphere.

``-mean_i log(min_{j != i} ||x_i - x_j||)`` of L2-normalised embeddings within a batch: the Kozachenko-Leonenko
differential-entropy estimator up to constants, so minimising it maximises the entropy of the embedding
distribution and counters partial collapse.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KoLeoLoss(nn.Module):
    """``forward(x [B, D] or [B, S, D]) -> scalar``; needs B >= 2. ``eps`` guards log(0) for duplicate embeddings
    (and the normalisation of a zero vector).

    With ``[B, S, D]`` each of the S *slots* (e.g. AsymDSD's 9 student views of a shape) is its own batch: the
    nearest neighbour of sample b in slot s is sought among the other samples in slot s only, and the loss is the
    mean over all B * S embeddings.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (2, 3) or x.shape[0] < 2:
            raise ValueError(f"KoLeo needs embeddings [B >= 2, D] or [B >= 2, S, D], got {list(x.shape)}")
        slots = x if x.dim() == 3 else x.unsqueeze(1)
        with torch.autocast(device_type=x.device.type, enabled=False):
            slots = F.normalize(slots.float(), dim=-1, eps=self.eps).transpose(0, 1)  # [S, B, D]
            with torch.no_grad():
                # On the unit sphere the nearest neighbour is the largest dot product.
                similarity = slots @ slots.transpose(1, 2)
                similarity.diagonal(dim1=1, dim2=2).fill_(-2.0)
                nearest = similarity.argmax(dim=2)
            neighbours = slots.gather(1, nearest.unsqueeze(-1).expand_as(slots))
            distance = (slots - neighbours).norm(dim=-1)
            return -torch.log(distance + self.eps).mean()
