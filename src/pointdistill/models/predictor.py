"""AsymDSD's predictor: masked queries that read the visible context by cross-attention only.

The student encoder sees only the visible patches (plus CLS). For each masked patch the predictor builds a query
from a learned mask token and the student's position embedding of that patch's centre, and lets it attend to the
encoder output (the memory). There is no self-attention among the queries, so a query never learns anything about
another masked patch (its position included): the prediction of one masked patch depends only on the memory and on
its own position ("no shape leakage"). That also makes every query's output independent of how many masked patches
a view has.

Widths: one shared ``Linear(dim -> width)`` maps the mask token, the query positions and the memory into the
predictor's width, and ``Linear(width -> dim)`` maps the result back to the encoder width, where the student's patch
head reads it. The position is re-added before every block, as in the encoder.
"""

from __future__ import annotations

import torch
from torch import nn

from pointdistill.models.blocks import CrossAttentionBlock, init_weights
from pointdistill.models.common import make_norm


class MaskedPredictor(nn.Module):
    """``forward(memory [R, T, dim], query_pos [R, Q, dim]) -> predictions [R, Q, dim]``.

    ``width``/``depth``/``num_heads``: the cross-attention stack (AsymDSD S: 192/6/3, B: 384/6/6); ``norm`` and
    ``bias`` configure every block and the final norm (AsymDSD: RMSNorm, no bias); the two projections keep their
    bias, as in the reference.
    """

    def __init__(
        self,
        dim: int,
        width: int = 192,
        depth: int = 6,
        num_heads: int = 3,
        *,
        mlp_ratio: float = 4.0,
        norm: str = "rms",
        bias: bool = False,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"predictor depth must be >= 1, got {depth}")
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.embed = nn.Linear(dim, width)
        self.blocks = nn.ModuleList(
            CrossAttentionBlock(
                width, num_heads, mlp_ratio=mlp_ratio, norm=norm, bias=bias, norm_memory=False, drop_path=drop_path
            )
            for _ in range(depth)
        )
        self.norm = make_norm(norm, width)
        self.project = nn.Linear(width, dim)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, memory: torch.Tensor, query_pos: torch.Tensor) -> torch.Tensor:
        if memory.dim() != 3 or query_pos.dim() != 3 or memory.shape[0] != query_pos.shape[0]:
            raise ValueError(
                f"memory [R, T, D] and query_pos [R, Q, D] must share R, got {list(memory.shape)} and "
                f"{list(query_pos.shape)}"
            )
        memory = self.embed(memory)
        pos = self.embed(query_pos)
        x = self.embed(self.mask_token.to(query_pos.dtype)).expand_as(pos)
        for block in self.blocks:
            x = block(x + pos, memory)
        return self.project(self.norm(x))
