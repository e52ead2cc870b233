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
    """``forward(x [B, D]) -> scalar``; needs B >= 2. ``eps`` guards log(0) for duplicate embeddings."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[0] < 2:
            raise ValueError(f"KoLeo needs embeddings [B >= 2, D], got {list(x.shape)}")
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = F.normalize(x.float(), dim=-1, eps=self.eps)
            with torch.no_grad():
                # On the unit sphere the nearest neighbour is the largest dot product.
                similarity = x @ x.T
                similarity.fill_diagonal_(-2.0)
                nearest = similarity.argmax(dim=1)
            distance = (x - x[nearest]).norm(dim=-1)
            return -torch.log(distance + self.eps).mean()
