"""PointNet (Qi et al. 2017) without the input/feature transform nets: a shared per-point MLP and a max-pool.

Widths 64, 64, 64, 128, ``out_dim`` (1024), each linear followed by the norm and ReLU. Tokens are the per-point
``out_dim`` features with ``centers`` = the points; ``global_feature`` is their max over points.
``return_hidden`` indexes the five layer outputs.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from pointdistill.models.base import EncoderOutput, PointEncoder
from pointdistill.models.common import make_norm, resolve_hidden


class PointNet(PointEncoder):
    """Shared MLP + max-pool; ``token_dim`` = ``feature_dim`` = ``out_dim``."""

    def __init__(self, *, widths: Sequence[int] = (64, 64, 64, 128), out_dim: int = 1024, norm: str = "layer") -> None:
        super().__init__()
        self.token_dim = self.feature_dim = out_dim
        dims = [3, *widths, out_dim]
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Linear(dims[i], dims[i + 1]), make_norm(norm, dims[i + 1]), nn.ReLU())
            for i in range(len(dims) - 1)
        )

    def forward(
        self,
        points: torch.Tensor,
        *,
        num_groups: int | None = None,
        return_hidden: Sequence[int] | None = None,
    ) -> EncoderOutput:
        """``num_groups`` is ignored: every point is a token."""
        wanted = resolve_hidden(return_hidden, len(self.layers), "PointNet")
        x = points
        states = []
        for layer in self.layers:
            x = layer(x)
            states.append(x)
        return EncoderOutput(
            tokens=x, centers=points, global_feature=x.amax(dim=1), hidden=[states[i] for i in wanted]
        )
