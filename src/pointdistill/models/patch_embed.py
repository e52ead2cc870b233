"""Patch embedding: a mini-PointNet that turns each centred k-point patch [k, 3] into one token [D].

Two stages, each a shared per-point MLP followed by a max-pool over the patch; the first stage's pooled feature is
concatenated to every point before the second, so each point sees its patch's shape (computed without building
the concatenation: see :meth:`MiniPointNet.forward`).

- ``standard`` (Point-MAE): 3 -> 128 -> 256, pool, concat -> 512 -> 512 -> D, pool.
- ``light`` (the CPU ``tiny`` preset): 3 -> 64 -> 128, pool, concat -> 256 -> D, pool. At D = 192 the standard
  embedding costs ~263k multiply-adds per point, the light one ~33k (see benchmarks/encoder_flops.py); built with
  the concatenation they cost ~394k and ~57k.
- ``asymdsd`` (AsymDSD's, ``asymdsd/layers/tokenization.py`` and ``configs/ssrl/``): for D < 768 (its S) the
  standard sizes, with no bias on a linear that a norm follows and ``bias`` on each stage's last linear
  (``MemEfficientPointMaxEmbedding``); for D >= 768 (its B and L) the wider 3 -> 256 -> 512 -> 1024, pool,
  concat -> 2048 -> 2048 -> D, with a bias on every linear whatever ``bias`` says, because the reference's
  ``VarMemEfficientPointMaxEmbedding`` never passes its bias flag on. Both concatenate [point, pooled] (Point-MAE
  concatenates [pooled, point]), so ported weights keep their column order.

The norm after every hidden linear is per point over channels (:func:`common.make_norm`): LayerNorm by default, so
results never depend on the batch size or the number of patches; ``batch`` pools the statistics over every point of
every patch in the batch; ``rms`` is AsymDSD's RMSNorm. ``bias=False`` drops every bias the layout allows to drop.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from pointdistill.models.common import make_norm

PATCH_EMBEDS = ("standard", "light", "asymdsd")

WIDE_FROM = 768
"""Widths from which ``asymdsd`` uses the reference's wide (B/L) layout."""


def point_mlp(dims: Sequence[int], norm: str, *, hidden_bias: bool, out_bias: bool) -> nn.Sequential:
    """Per-point MLP through ``dims``: every hidden linear is followed by a norm and GELU, the last one by nothing.

    Module indices are Linear, norm, GELU, Linear, ... (``0``, ``1``, ``2``, ``3``, ...), the layout the saved
    weights of every embedding use.
    """
    layers: list[nn.Module] = []
    for width_in, width_out in zip(dims[:-2], dims[1:-1]):
        layers += [nn.Linear(width_in, width_out, bias=hidden_bias), make_norm(norm, width_out), nn.GELU()]
    layers.append(nn.Linear(dims[-2], dims[-1], bias=out_bias))
    return nn.Sequential(*layers)


class MiniPointNet(nn.Module):
    """[B, G, k, 3] centred patches -> [B, G, embed_dim] tokens.

    ``local_dims`` run from 3 to the first stage's width C; ``fuse_dims`` from 2C to D. ``pooled_first`` orders the
    concatenation [pooled, point] (Point-MAE) or [point, pooled] (AsymDSD).
    """

    def __init__(
        self,
        local_dims: Sequence[int],
        fuse_dims: Sequence[int],
        *,
        norm: str = "layer",
        hidden_bias: bool = True,
        out_bias: bool = True,
        pooled_first: bool = True,
    ) -> None:
        super().__init__()
        if local_dims[0] != 3 or fuse_dims[0] != 2 * local_dims[-1]:
            raise ValueError(f"stages {list(local_dims)} and {list(fuse_dims)} do not chain (3 -> C, 2C -> D)")
        self.pooled_first = pooled_first
        self.local = point_mlp(local_dims, norm, hidden_bias=hidden_bias, out_bias=out_bias)
        self.fuse = point_mlp(fuse_dims, norm, hidden_bias=hidden_bias, out_bias=out_bias)

    def forward(self, neighborhoods: torch.Tensor) -> torch.Tensor:
        local = self.local(neighborhoods)
        pooled = local.amax(dim=2, keepdim=True)
        # The fuse's first linear on [pooled, point] is split by columns: the pooled half is applied once per patch
        # and broadcast over its k points instead of on k copies, which halves that layer's work (the largest of
        # the embedding) and never materialises the concatenation. Same function and weights as on the concat.
        first = self.fuse[0]
        width = local.shape[-1]
        pooled_weight, point_weight = first.weight[:, :width], first.weight[:, width:]
        if not self.pooled_first:
            pooled_weight, point_weight = point_weight, pooled_weight
        hidden = F.linear(local, point_weight) + F.linear(pooled, pooled_weight, first.bias)
        return self.fuse[1:](hidden).amax(dim=2)


def build_patch_embed(kind: str, embed_dim: int, norm: str = "layer", *, bias: bool = True) -> MiniPointNet:
    """The ``standard`` (Point-MAE), ``light`` or ``asymdsd`` mini-PointNet for width ``embed_dim``."""
    if kind == "standard":
        return MiniPointNet((3, 128, 256), (512, 512, embed_dim), norm=norm, hidden_bias=bias, out_bias=bias)
    if kind == "light":
        return MiniPointNet((3, 64, 128), (256, embed_dim), norm=norm, hidden_bias=bias, out_bias=bias)
    if kind == "asymdsd" and embed_dim >= WIDE_FROM:
        return MiniPointNet((3, 256, 512, 1024), (2048, 2048, embed_dim), norm=norm, pooled_first=False)
    if kind == "asymdsd":
        return MiniPointNet(
            (3, 128, 256), (512, 512, embed_dim), norm=norm, hidden_bias=False, out_bias=bias, pooled_first=False
        )
    raise ValueError(f"unknown patch embedding {kind!r}; choose from {', '.join(PATCH_EMBEDS)}")
