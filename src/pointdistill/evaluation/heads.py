"""Task heads for the supervised protocols, and the encoder + head models they train end to end.

- :class:`ClassificationHead` / :class:`Classifier`: the Point-MAE fine-tuning head (MLP with BatchNorm, GELU and
  dropout) on the pooled final tokens (:func:`pointdistill.models.base.pooled_features`).
- :class:`PartSegmenter`: intermediate block outputs of the encoder, upsampled to every point by 3-NN
  inverse-distance interpolation (:func:`interpolate_features`), joined with pooled global features and a
  category-label embedding, then a per-point MLP (1x1 convolutions) predicting part ids (Point-MAE's part
  segmentation model).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from pointdistill.models.base import PointEncoder, pooled_features
from pointdistill.ops.gather import gather_points
from pointdistill.ops.knn import knn


class ClassificationHead(nn.Module):
    """``in_dim -> hidden[0] -> ... -> num_classes``; every hidden layer is Linear, BatchNorm1d, GELU, Dropout."""

    def __init__(self, in_dim: int, num_classes: int, hidden: Sequence[int] = (256, 256), dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.GELU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.mlp = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)


class Classifier(nn.Module):
    """Encoder, pooling of its final tokens (CLS skipped when the encoder has none), classification head."""

    def __init__(
        self,
        encoder: PointEncoder,
        head: ClassificationHead,
        pooling: Sequence[str] = ("cls", "mean", "max"),
        num_groups: int | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.pooling = tuple(pooling)
        self.num_groups = num_groups

    def features(self, points: torch.Tensor) -> torch.Tensor:
        """Pooled encoder features [B, F] of clouds [B, N, 3]."""
        return pooled_features(self.encoder(points, num_groups=self.num_groups), self.pooling)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(points))


def interpolate_features(
    query: torch.Tensor, centers: torch.Tensor, features: torch.Tensor, k: int = 3, eps: float = 1e-8
) -> torch.Tensor:
    """Features [B, N, C] at ``query`` [B, N, 3] from ``features`` [B, T, C] sitting at ``centers`` [B, T, 3].

    Weights are inverse squared distances of the k nearest centres, normalised to sum to 1 (PointNet++ feature
    propagation). A query that coincides with a centre takes that centre's feature exactly rather than through a
    1/eps weight, so upsampling at the centres themselves is the identity.
    """
    k = min(k, centers.shape[1])
    with torch.no_grad():
        dist, index = knn(query, centers, k)
        weight = 1.0 / (dist + eps)
        exact = dist[..., :1] == 0
        one_hot = torch.zeros_like(weight)
        one_hot[..., 0] = 1.0
        weight = torch.where(exact, one_hot, weight)
        weight = weight / weight.sum(dim=-1, keepdim=True)
    neighbours = gather_points(features, index)
    return (neighbours * weight.to(neighbours.dtype).unsqueeze(-1)).sum(dim=2)


def _conv_stack(widths: Sequence[int], dropout_after_first: float = 0.0) -> nn.Sequential:
    """1x1 Conv1d + BatchNorm1d + ReLU for each consecutive pair of ``widths`` (per-point MLP on [B, C, N])."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers += [nn.Conv1d(a, b, 1, bias=False), nn.BatchNorm1d(b), nn.ReLU()]
        if i == 0 and dropout_after_first > 0:
            layers.append(nn.Dropout(dropout_after_first))
    return nn.Sequential(*layers)


class PartSegmenter(nn.Module):
    """Per-point part logits from an encoder's intermediate blocks.

    Each point's own coordinates are concatenated to its interpolated features before the propagation MLP (as in
    PointNet++ feature propagation and Point-MAE), so a part boundary can run through a patch.

    ``level_dims`` are the widths of the hidden outputs of ``blocks`` (known from a dry forward, so any encoder
    works, including ones whose levels differ in width). Each level gets its own LayerNorm: raw block outputs are
    pre-norm residual streams whose scale grows with depth (Point-MAE passes them through the encoder's final norm,
    which the ViT's ``hidden_norm`` already does; on normalised levels this is only a learnt affine). Tokens already
    per point (``T == N``: PointNet, DGCNN) skip interpolation.
    """

    def __init__(
        self,
        encoder: PointEncoder,
        blocks: Sequence[int],
        level_dims: Sequence[int],
        num_categories: int,
        num_parts: int,
        *,
        label_dim: int = 64,
        propagation_dims: Sequence[int] = (1024,),
        hidden: Sequence[int] = (512, 256, 128),
        dropout: float = 0.5,
        num_groups: int | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.blocks = list(blocks)
        self.num_groups = num_groups
        self.num_categories = num_categories
        self.level_norms = nn.ModuleList(nn.LayerNorm(d) for d in level_dims)
        stacked = sum(level_dims)
        self.propagation = _conv_stack([3 + stacked, *propagation_dims])
        point_dim = propagation_dims[-1] if propagation_dims else 3 + stacked
        self.label_embedding = nn.Sequential(
            nn.Linear(num_categories, label_dim, bias=False), nn.BatchNorm1d(label_dim), nn.LeakyReLU(0.2)
        )
        self.mlp = _conv_stack([point_dim + 2 * stacked + label_dim, *hidden], dropout_after_first=dropout)
        self.classifier = nn.Conv1d(hidden[-1] if hidden else point_dim + 2 * stacked + label_dim, num_parts, 1)

    def forward(self, points: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """Logits [B, N, num_parts] for clouds ``points`` [B, N, 3] of categories ``category`` [B] (long)."""
        output = self.encoder(points, num_groups=self.num_groups, return_hidden=self.blocks)
        levels = torch.cat([norm(h) for norm, h in zip(self.level_norms, output.hidden)], dim=-1)
        if levels.shape[1] == points.shape[1]:
            per_point = levels
        else:
            per_point = interpolate_features(points, output.centers, levels)
        per_point = self.propagation(torch.cat([points, per_point.to(points.dtype)], dim=-1).transpose(1, 2))
        n = points.shape[1]
        pooled = torch.cat([levels.amax(dim=1), levels.mean(dim=1)], dim=-1)
        one_hot = nn.functional.one_hot(category, self.num_categories).to(pooled.dtype)
        global_feature = torch.cat([pooled, self.label_embedding(one_hot)], dim=-1)
        joined = torch.cat([per_point, global_feature.unsqueeze(-1).expand(-1, -1, n).to(per_point.dtype)], dim=1)
        return self.classifier(self.mlp(joined)).transpose(1, 2)
