"""Point Cloud Transformer (Guo et al. 2021), the full variant with neighbour embedding.

- Input embedding: per-point MLP 3 -> 64 -> 64.
- Two sample-and-group layers: FPS to 2G then G points, k = ``group_size`` nearest neighbours of each, the
  edge feature [f_j - f_i, f_i] through a two-layer MLP (128 then 256 wide) and max-pooled over the neighbours.
  G defaults to N // 4 (1024 points -> 512 -> 256, the paper's counts); ``num_groups`` overrides it.
- Two per-token layers 256 -> 256, then four offset-attention layers; their outputs (4 x 256) are concatenated with
  the grouped features (256) and fused to ``out_dim`` (1024) per token, as in the authors' code.

Tokens are the G fused features at the sampled centres; ``global_feature`` = concat(max, mean) (2048).
``return_hidden`` indexes the four offset-attention outputs (256 wide).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from pointdistill.models.base import EncoderOutput, PointEncoder
from pointdistill.models.common import edge_linear, make_norm, resolve_hidden
from pointdistill.ops import farthest_point_sample, gather_points, knn


def _lbr(in_dim: int, out_dim: int, norm: str) -> nn.Sequential:
    """Linear (no bias), norm, ReLU: PCT's "LBR" unit."""
    return nn.Sequential(nn.Linear(in_dim, out_dim, bias=False), make_norm(norm, out_dim), nn.ReLU())


class SampleAndGroup(nn.Module):
    """FPS centres, k-NN neighbourhoods, edge MLP, max over the neighbourhood."""

    def __init__(self, in_dim: int, out_dim: int, k: int, norm: str = "layer") -> None:
        super().__init__()
        self.k = k
        self.edge = nn.Linear(2 * in_dim, out_dim, bias=False)
        self.norm = make_norm(norm, out_dim)
        self.act = nn.ReLU()
        self.mlp = _lbr(out_dim, out_dim, norm)

    def forward(
        self, xyz: torch.Tensor, features: torch.Tensor, num_samples: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampled centres [B, S, 3] and their features [B, S, out_dim]."""
        with torch.no_grad():
            centre_idx = farthest_point_sample(xyz, num_samples)
            centres = gather_points(xyz, centre_idx)
            _, neighbours = knn(centres, xyz, self.k)
        edges = edge_linear(self.edge, features, gather_points(features, centre_idx), neighbours)
        return centres, self.mlp(self.act(self.norm(edges))).amax(dim=2)


class OffsetAttention(nn.Module):
    """x + LBR(x - SA(x)), where SA uses shared query/key weights, a softmax over keys and then an L1
    normalisation over queries (PCT's offset attention)."""

    def __init__(self, dim: int, norm: str = "layer") -> None:
        super().__init__()
        self.qk = nn.Linear(dim, dim // 4, bias=False)
        self.v = nn.Linear(dim, dim)
        self.trans = _lbr(dim, dim, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qk = self.qk(x)
        value = self.v(x)
        attn = (qk @ qk.transpose(1, 2)).float().softmax(dim=-1)
        attn = attn / (1e-9 + attn.sum(dim=1, keepdim=True))
        attended = attn.transpose(1, 2).to(value.dtype) @ value
        return x + self.trans(x - attended)


class PCT(PointEncoder):
    """Point Cloud Transformer; ``token_dim`` = ``out_dim``, ``feature_dim`` = 2 * ``out_dim``."""

    def __init__(
        self, *, group_size: int = 32, out_dim: int = 1024, norm: str = "layer", num_attention: int = 4
    ) -> None:
        super().__init__()
        self.token_dim = out_dim
        self.feature_dim = 2 * out_dim
        self.input_embed = nn.Sequential(_lbr(3, 64, norm), _lbr(64, 64, norm))
        self.group1 = SampleAndGroup(64, 128, group_size, norm)
        self.group2 = SampleAndGroup(128, 256, group_size, norm)
        self.pre = nn.Sequential(_lbr(256, 256, norm), _lbr(256, 256, norm))
        self.attention = nn.ModuleList(OffsetAttention(256, norm) for _ in range(num_attention))
        self.fuse = nn.Sequential(
            nn.Linear(256 * (num_attention + 1), out_dim, bias=False), make_norm(norm, out_dim), nn.LeakyReLU(0.2)
        )

    def forward(
        self,
        points: torch.Tensor,
        *,
        num_groups: int | None = None,
        return_hidden: Sequence[int] | None = None,
    ) -> EncoderOutput:
        """``num_groups`` = the number of output tokens G (default N // 4); the first grouping keeps min(N, 2G)."""
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be [B, N, 3], got {list(points.shape)}")
        n = points.shape[1]
        groups = max(1, n // 4) if num_groups is None else num_groups
        if not 1 <= groups <= n:
            raise ValueError(f"num_groups must be in [1, {n}] for {n} points, got {groups}")
        wanted = resolve_hidden(return_hidden, len(self.attention), "PCT")
        xyz1, features = self.group1(points, self.input_embed(points), min(n, 2 * groups))
        centres, grouped = self.group2(xyz1, features, groups)
        x = self.pre(grouped)
        states = []
        for layer in self.attention:
            x = layer(x)
            states.append(x)
        tokens = self.fuse(torch.cat([*states, grouped], dim=-1))
        global_feature = torch.cat([tokens.amax(dim=1), tokens.mean(dim=1)], dim=-1)
        return EncoderOutput(
            tokens=tokens, centers=centres, global_feature=global_feature, hidden=[states[i] for i in wanted]
        )
