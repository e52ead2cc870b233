"""DGCNN (Wang et al. 2019): EdgeConv layers on a k-NN graph rebuilt in feature space at every layer.

Layers 64, 64, 128, 256; their outputs are concatenated (512) and mapped to ``out_dim`` (1024) per point. Tokens are
those per-point features with ``centers`` = the points; ``global_feature`` = concat(max, mean) over points (2048).
The first graph is built on coordinates with the exact :func:`ops.knn`; later graphs in feature space with
:func:`feature_knn`. ``return_hidden`` indexes the four EdgeConv outputs (widths 64, 64, 128, 256).

Memory layout: no [B, N, k, C] edge tensor outlives the slice of centres it is built for. Written plainly, EdgeConv
builds the edges of every point and autograd keeps several of them per layer for backward (the linear output, the
norm's input and output, the activation under the max), 20 times the size of a per-point tensor at k=20. With
dcglr-dgcnn's defaults a training step pushes 32 shapes x (2 global crops of 1024 points + 8 local crops of 256 +
2 half-resolution copies of 512) through the student and the globals through the teacher; measured on 2 CPU cores
(``pretrain --max-steps 2`` on ModelNet10, peak RSS), the plain layer needed 6.8 GiB at batch 8 and 12.6 GiB at
batch 16 (0.72 GiB per shape, so ~24 GiB at the preset's 32: that run was killed by the kernel at 15 GiB, and again
at our 18 GiB cap, still inside its first step). Here :class:`EdgeConv` applies the linear layer per point (split
weight) and :func:`edge_reduce` builds, normalises, activates and max-pools the edges 16 MiB at a time, and again in
backward; what a layer keeps is its input, the two [B, N, C'] projections and its output. Peak RSS is now 2.2 GiB at
batch 8, 2.9 GiB at 16 and 4.6 GiB at 32, dominated by the per-point fusion layer (512 -> 1024 at every point) and
the rest of the step. Recomputing the edges costs less than the plain layer's allocation of its large tensors: one
step took 17.9 -> 10.0 s at batch 8 and 41.8 -> 23.7 s at batch 16, 39 s at batch 32 (same machine, quiet).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pointdistill.models.base import EncoderOutput, PointEncoder
from pointdistill.models.common import make_norm, resolve_hidden
from pointdistill.models.edge_reduce import DEFAULT_EDGE_CHUNK_ELEMENTS, EdgeFunction, Reduction, edge_reduce
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
    """x_i' = max_j LeakyReLU(norm(W [x_j - x_i, x_i])) over the k neighbours j of i.

    Evaluated without the edge tensors of the plain expression: W [x_j - x_i, x_i] = W_d x_j + (W_c - W_d) x_i, so
    the two products are taken once per point ([B, N, C']) and :func:`edge_reduce` builds, normalises, activates
    and max-pools the [B, N, k, C'] edges one slice of centres at a time, in forward and again in backward.
    LayerNorm acts on each edge alone, so slicing does not change it. BatchNorm's batch statistics cover every edge
    of the batch, as in the plain expression: the mean exactly from per-point sums (each point weighted by how often
    it is a neighbour), the variance by a sliced sum of squared deviations; both stay in the autograd graph, and the
    running statistics are updated as :class:`torch.nn.BatchNorm1d` would.
    """

    def __init__(
        self, in_dim: int, out_dim: int, norm: str = "layer", *, chunk_elements: int = DEFAULT_EDGE_CHUNK_ELEMENTS
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(2 * in_dim, out_dim, bias=False)
        self.norm = make_norm(norm, out_dim)
        self.act = nn.LeakyReLU(0.2)
        self.chunk_elements = chunk_elements

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        w_diff, w_centre = self.linear.weight.split(x.shape[-1], dim=1)
        neighbours = F.linear(x, w_diff)
        centres = F.linear(x, w_centre - w_diff, self.linear.bias)
        if isinstance(self.norm, nn.LayerNorm):
            return self._reduce(self._layer_norm_act, neighbours, centres, index, (self.norm.weight, self.norm.bias))
        mean, var = self._batch_norm_statistics(neighbours, centres, index)
        scale = self.norm.weight * torch.rsqrt(var + self.norm.eps)
        return self._reduce(self._batch_norm_act, neighbours, centres, index, (mean, scale, self.norm.bias))

    def _reduce(
        self,
        fn: EdgeFunction,
        neighbours: torch.Tensor,
        centres: torch.Tensor,
        index: torch.Tensor,
        tensors: tuple[torch.Tensor, ...],
        reduction: Reduction = "max",
    ) -> torch.Tensor:
        return edge_reduce(
            fn, neighbours, centres, index, tensors, reduction=reduction, chunk_elements=self.chunk_elements
        )

    def _layer_norm_act(self, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        normed = F.layer_norm(h, self.norm.normalized_shape, weight, bias, self.norm.eps)
        return F.leaky_relu(normed, self.act.negative_slope)

    def _batch_norm_act(
        self, h: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor
    ) -> torch.Tensor:
        normed = ((h.float() - mean) * scale + bias).to(h.dtype)
        return F.leaky_relu(normed, self.act.negative_slope)

    def _batch_norm_statistics(
        self, neighbours: torch.Tensor, centres: torch.Tensor, index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and biased variance over every edge when the norm uses batch statistics (training, or no running
        statistics), else the running ones; updates the running statistics like ``nn.BatchNorm1d`` does."""
        norm = self.norm
        if not (norm.training or norm.running_mean is None):
            return norm.running_mean, norm.running_var
        batch, points, k = index.shape
        edges = batch * points * k
        counts = torch.zeros(batch, neighbours.shape[1], device=index.device)
        counts.scatter_add_(1, index.reshape(batch, -1), torch.ones(1, device=index.device).expand(batch, points * k))
        total = k * centres.float().sum(dim=(0, 1)) + (counts.unsqueeze(-1) * neighbours.float()).sum(dim=(0, 1))
        mean = total / edges
        var = self._reduce(_squared_deviation, neighbours, centres, index, (mean,), reduction="sum") / edges
        if norm.training and norm.track_running_stats:
            with torch.no_grad():
                norm.num_batches_tracked.add_(1)
                factor = 1.0 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum
                norm.running_mean.lerp_(mean, factor)
                norm.running_var.lerp_(var * edges / max(edges - 1, 1), factor)
        return mean, var


def _squared_deviation(h: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    return (h.float() - mean).square()


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
