"""Patch embedding: a mini-PointNet that turns each centred k-point patch [k, 3] into one token [D].

Two stages, each a shared per-point MLP followed by a max-pool over the patch; the first stage's pooled feature is
concatenated to every point before the second, so each point sees its patch's shape.

- ``standard`` (Point-MAE): 3 -> 128 -> 256, pool, concat -> 512 -> 512 -> D, pool.
- ``light`` (the CPU ``tiny`` preset): 3 -> 64 -> 128, pool, concat -> 256 -> D, pool. The standard embedding
  costs ~394k multiply-adds per point, over 80 % of the tiny ViT; the light one ~57k (see benchmarks/encoder_flops.py).

The norm after the first linear of each stage is per point over channels (:func:`common.make_norm`): LayerNorm by
default, so results never depend on the batch size or the number of patches; ``batch`` pools the statistics over
every point of every patch in the batch.
"""

from __future__ import annotations

import torch
from torch import nn

from pointdistill.models.common import make_norm

PATCH_EMBEDS = ("standard", "light")


class MiniPointNet(nn.Module):
    """[B, G, k, 3] centred patches -> [B, G, embed_dim] tokens.

    ``fuse_hidden`` None makes the second stage a single linear layer (the light variant).
    """

    def __init__(
        self,
        embed_dim: int,
        *,
        hidden_dim: int = 128,
        local_dim: int = 256,
        fuse_hidden: int | None = 512,
        norm: str = "layer",
    ) -> None:
        super().__init__()
        self.local = nn.Sequential(
            nn.Linear(3, hidden_dim), make_norm(norm, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, local_dim)
        )
        if fuse_hidden is None:
            self.fuse = nn.Sequential(nn.Linear(2 * local_dim, embed_dim))
        else:
            self.fuse = nn.Sequential(
                nn.Linear(2 * local_dim, fuse_hidden),
                make_norm(norm, fuse_hidden),
                nn.GELU(),
                nn.Linear(fuse_hidden, embed_dim),
            )

    def forward(self, neighborhoods: torch.Tensor) -> torch.Tensor:
        local = self.local(neighborhoods)
        pooled = local.amax(dim=2, keepdim=True).expand_as(local)
        return self.fuse(torch.cat([pooled, local], dim=-1)).amax(dim=2)


def build_patch_embed(kind: str, embed_dim: int, norm: str = "layer") -> MiniPointNet:
    """The ``standard`` (Point-MAE) or ``light`` mini-PointNet."""
    if kind == "standard":
        return MiniPointNet(embed_dim, hidden_dim=128, local_dim=256, fuse_hidden=512, norm=norm)
    if kind == "light":
        return MiniPointNet(embed_dim, hidden_dim=64, local_dim=128, fuse_hidden=None, norm=norm)
    raise ValueError(f"unknown patch embedding {kind!r}; choose from {', '.join(PATCH_EMBEDS)}")
