"""Grid pooling (stride 2) between stages, and the parent index that unpools and up-casts.

Pooling merges the points of every 2x2x2 block of cells of one scene into one point: features are projected
(Linear C_in -> C_out), reduced by a channel-wise max over the cell, then LayerNorm -> GELU; the coordinate is the
mean of the cell's points and the new grid cell is ``grid // 2``. The max sends its gradient to exactly one winner
per cell and channel (the lowest point index among ties), as a segment max does, instead of splitting it between
tied points. Each child keeps the index of its parent cell (``parent``), so unpooling is a plain gather.

The coarse points come out sorted by (scene, cell), so the scenes stay contiguous and the new offsets are the
cumulative cell counts per scene.
"""

from __future__ import annotations

import torch
from torch import nn

from pointdistill.models.scene.sparse_conv import pack_cells
from pointdistill.models.scene.structure import SceneLevel, batch_to_offset

POOL_STRIDE = 2


@torch.no_grad()
def pool_cells(grid: torch.Tensor, batch: torch.Tensor, stride: int = POOL_STRIDE) -> tuple[torch.Tensor, torch.Tensor]:
    """Parent index [N] of every point among the unique (scene, grid // stride) cells, and the number of cells."""
    keys = pack_cells(torch.div(grid, stride, rounding_mode="floor"), batch)
    _, parent = torch.unique(keys, sorted=True, return_inverse=True)
    return parent, int(parent.max()) + 1 if parent.numel() else 0


def segment_max(x: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Channel-wise max of ``x`` [N, C] over the points of every segment: [S, C], gradient to one winner each."""
    with torch.no_grad():
        index = segment.unsqueeze(1).expand_as(x)
        best = x.new_full((num_segments, x.shape[1]), float("-inf")).scatter_reduce(0, index, x, reduce="amax")
        rows = torch.arange(x.shape[0], device=x.device).unsqueeze(1).expand_as(x)
        candidate = torch.where(x == best[segment], rows, x.shape[0])
        winner = torch.full_like(best, x.shape[0], dtype=torch.long).scatter_reduce(
            0, index, candidate, reduce="amin"
        )
    channels = torch.arange(x.shape[1], device=x.device)
    return x.reshape(-1)[winner * x.shape[1] + channels]


def segment_mean(x: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Mean of ``x`` [N, D] over the points of every segment: [S, D]."""
    sums = x.new_zeros(num_segments, x.shape[1]).index_put_((segment,), x, accumulate=True)
    counts = torch.bincount(segment, minlength=num_segments).clamp(min=1).unsqueeze(1)
    return sums / counts.to(x.dtype)


def unpool(coarse: torch.Tensor, parent: torch.Tensor) -> torch.Tensor:
    """Every child's copy of its parent's row: [N_fine, C] from [N_coarse, C]."""
    return coarse[parent]


class GridPooling(nn.Module):
    """Linear -> cell max -> LayerNorm -> GELU; returns the coarse features, the coarse level and ``parent``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = POOL_STRIDE) -> None:
        super().__init__()
        self.stride = stride
        self.proj = nn.Linear(in_channels, out_channels)
        self.norm = nn.LayerNorm(out_channels)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, level: SceneLevel) -> tuple[torch.Tensor, SceneLevel, torch.Tensor]:
        parent, cells = pool_cells(level.grid, level.batch, self.stride)
        feat = self.act(self.norm(segment_max(self.proj(x), parent, cells)))
        with torch.no_grad():
            coarse_batch = level.batch.new_zeros(cells).scatter_(0, parent, level.batch)
            coarse_grid = level.grid.new_zeros(cells, 3).scatter_(
                0, parent.unsqueeze(1).expand(-1, 3), torch.div(level.grid, self.stride, rounding_mode="floor")
            )
        coarse = SceneLevel(
            coord=segment_mean(level.coord, parent, cells),
            grid=coarse_grid,
            batch=coarse_batch,
            offset=batch_to_offset(coarse_batch, level.num_scenes),
        )
        return feat, coarse, parent
