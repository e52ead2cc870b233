"""Small pieces shared by several encoders: channel-last normalisation, edge features, ``return_hidden`` indices."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pointdistill.ops import gather_points

NORMS = ("layer", "batch")
"""Norms of the point-wise MLPs (``encoder.norm``)."""

BLOCK_NORMS = ("layer", "rms")
"""Norms of the transformer blocks and the final norm (``encoder.block_norm``)."""

RMS_EPS = 1e-5
"""AsymDSD's RMSNorm epsilon (its ``asymdsd/layers/normalization.py`` default); torch's own default is the dtype's
machine epsilon, which would make weights ported from the reference compute a slightly different function."""


class BatchNormLast(nn.BatchNorm1d):
    """BatchNorm over the last dimension of a [..., C] tensor, statistics pooled over every leading position.

    Every point of every patch (or cloud) in the batch counts as one sample, so even B=1 has plenty of them.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def make_norm(kind: str, channels: int) -> nn.Module:
    """``layer`` -> LayerNorm over the channels of each point; ``batch`` -> :class:`BatchNormLast`; ``rms`` ->
    RMSNorm (scale only, no shift) with AsymDSD's epsilon."""
    if kind == "layer":
        return nn.LayerNorm(channels)
    if kind == "batch":
        return BatchNormLast(channels)
    if kind == "rms":
        return nn.RMSNorm(channels, eps=RMS_EPS)
    raise ValueError(f"unknown norm {kind!r}; choose layer, batch or rms")


def edge_linear(linear: nn.Linear, source: torch.Tensor, centres: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``linear([x_j - x_i, x_i])`` for every centre i [B, M, C] and its neighbours j = ``index`` [B, M, k] in
    ``source`` [B, N, C], giving [B, M, k, out].

    ``linear`` has ``2C`` inputs laid out as [difference, centre]. Because it is linear,
    W [x_j - x_i, x_i] = W_d x_j + (W_c - W_d) x_i: both products are taken once per point and only then gathered,
    which is the same function as DGCNN's EdgeConv / PCT's neighbour embedding for k times fewer multiply-adds.
    """
    channels = source.shape[-1]
    w_diff, w_centre = linear.weight.split(channels, dim=1)
    neighbours = F.linear(source, w_diff)
    centre = F.linear(centres, w_centre - w_diff, linear.bias)
    return gather_points(neighbours, index) + centre.unsqueeze(2)


def resolve_hidden(return_hidden: Sequence[int] | None, depth: int, owner: str) -> list[int]:
    """Normalise requested layer indices (negative ones count from the end) and check they exist."""
    if return_hidden is None:
        return []
    resolved = []
    for index in return_hidden:
        if not -depth <= index < depth:
            raise ValueError(f"{owner}: return_hidden index {index} out of range for {depth} layers")
        resolved.append(index % depth)
    return resolved
