"""DGCNN (Wang et al. 2019): EdgeConv layers on a k-NN graph rebuilt in feature space at every layer.

Layers 64, 64, 128, 256; their outputs are concatenated (512) and mapped to ``out_dim`` (1024) per point. Tokens are
those per-point features with ``centers`` = the points; ``global_feature`` = concat(max, mean) over points (2048).
The first graph is built on coordinates with the exact :func:`ops.knn`; later graphs in feature space with
:func:`feature_knn`. ``return_hidden`` indexes the four EdgeConv outputs (widths 64, 64, 128, 256).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from pointdistill.models.base import EncoderOutput, PointEncoder
from pointdistill.models.common import edge_linear, make_norm, resolve_hidden
from pointdistill.ops import knn

DEFAULT_CHUNK_ELEMENTS = 1 << 24


@torch.no_grad()
def feature_knn(x: torch.Tensor, k: int, *, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> torch.Tensor:
    """Indices [B, N, k] of the k nearest rows of ``x`` [B, N, C] to each row (itself included), by L2 distance.

    Uses |a|^2 + |b|^2 - 2ab (one matmul; the explicit difference would be [B, N, N, C]) in float32 with autocast
    off, chunked over query rows so memory stays O(chunk * N). When k > N the extra slots repeat the nearest row.
    """
    batch, n, _ = x.shape
    k_eff = min(k, n)
    with torch.autocast(device_type=x.device.type, enabled=False):
        x = x.float()
        sq = x.square().sum(-1)
        rows = max(1, chunk_elements // max(1, batch * n))
        chunks = []
        for start in range(0, n, rows):
            query = x[:, start : start + rows]
            dist = sq[:, start : start + rows, None] + sq[:, None, :] - 2.0 * (query @ x.transpose(1, 2))
            chunks.append(dist.topk(k_eff, dim=-1, largest=False).indices)
    index = torch.cat(chunks, dim=1)
    if k > k_eff:
        index = torch.cat([index, index[..., :1].expand(-1, -1, k - k_eff)], dim=-1)
    return index


class EdgeConv(nn.Module):
    """x_i' = max_j LeakyReLU(norm(W [x_j - x_i, x_i])) over the k neighbours j of i."""

    def __init__(self, in_dim: int, out_dim: int, norm: str = "layer") -> None:
        super().__init__()
        self.linear = nn.Linear(2 * in_dim, out_dim, bias=False)
        self.norm = make_norm(norm, out_dim)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(edge_linear(self.linear, x, x, index))).amax(dim=2)


class DGCNN(PointEncoder):
    """Dynamic graph CNN; ``token_dim`` = ``out_dim``, ``feature_dim`` = 2 * ``out_dim``."""

    def __init__(
        self,
        *,
        k: int = 20,
        widths: Sequence[int] = (64, 64, 128, 256),
        out_dim: int = 1024,
        norm: str = "layer",
    ) -> None:
        super().__init__()
        self.k = k
        self.token_dim = out_dim
        self.feature_dim = 2 * out_dim
        dims = [3, *widths]
        self.layers = nn.ModuleList(EdgeConv(dims[i], dims[i + 1], norm) for i in range(len(widths)))
        self.fuse = nn.Sequential(
            nn.Linear(sum(widths), out_dim, bias=False), make_norm(norm, out_dim), nn.LeakyReLU(0.2)
        )

    def forward(
        self,
        points: torch.Tensor,
        *,
        num_groups: int | None = None,
        return_hidden: Sequence[int] | None = None,
    ) -> EncoderOutput:
        """``num_groups`` is ignored: every point is a token."""
        wanted = resolve_hidden(return_hidden, len(self.layers), "DGCNN")
        x = points
        features = []
        for index, layer in enumerate(self.layers):
            if index == 0:
                _, graph = knn(points, points, self.k)
            else:
                graph = feature_knn(x, self.k)
            x = layer(x, graph)
            features.append(x)
        tokens = self.fuse(torch.cat(features, dim=-1))
        global_feature = torch.cat([tokens.amax(dim=1), tokens.mean(dim=1)], dim=-1)
        return EncoderOutput(
            tokens=tokens, centers=points, global_feature=global_feature, hidden=[features[i] for i in wanted]
        )
