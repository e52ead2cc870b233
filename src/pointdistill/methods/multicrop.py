"""Backbone + projection head over several groups of crops, each group batched through the encoder in one call, and
the view-major layout the multi-crop methods share (:func:`view_major`).

Crops of one size (all global crops, all local crops, ...) share one encoder call, since a transformer's token count
and an FPS patchifier's group count depend on the number of points; the head, which sees fixed-size feature vectors,
then runs once over every group together.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from pointdistill.errors import TrainingError
from pointdistill.models.base import PointEncoder
from pointdistill.models.heads import ProjectionHead
from pointdistill.models.stochastic import sample_keys


class MultiCropNetwork(nn.Module):
    """``forward([points_a [Ba, Na, 3], points_b [Bb, Nb, 3], ...]) -> [logits_a [Ba, K], logits_b [Bb, K], ...]``."""

    def __init__(self, encoder: PointEncoder, head: ProjectionHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(
        self, groups: Sequence[torch.Tensor], keys: Sequence[torch.Tensor | None] | None = None
    ) -> list[torch.Tensor]:
        """``keys`` (one [rows] tensor per group, or None) make the encoder's stochastic layers draw per sample."""
        if not groups:
            raise ValueError("MultiCropNetwork needs at least one group of crops")
        keys = list(keys) if keys is not None else [None] * len(groups)
        features = []
        for points, group_keys in zip(groups, keys):
            with sample_keys(group_keys):
                features.append(self.encoder(points).global_feature)
        logits = self.head(torch.cat(features))
        return list(logits.split([f.shape[0] for f in features]))


def view_major(views: torch.Tensor) -> torch.Tensor:
    """[B, V, N, 3] (as collated) -> [V * B, N, 3], so that logits reshape to [V, B, K]."""
    if views.dim() != 4 or views.shape[-1] != 3:
        raise TrainingError(f"expected views shaped [batch, views, points, 3], got {list(views.shape)}")
    return views.transpose(0, 1).reshape(-1, views.shape[2], 3)
