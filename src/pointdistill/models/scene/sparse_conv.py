"""Exact submanifold 3x3x3 sparse convolution in pure PyTorch (the CPE of every block).

A submanifold convolution evaluates a 3D convolution only at occupied cells and reads only occupied cells, so the
set of active sites never grows. Ours needs no spconv build: the neighbour table is found by sorting packed integer
cell keys (scene index included, so scenes never see each other) and one ``searchsorted`` per kernel offset; the
convolution is then, per offset, a gather of the neighbours' features, one matmul with that offset's weight and an
accumulation into the outputs (``index_put_`` with ``accumulate``, several times faster than ``index_add_`` on
CPU). Memory is O(27 N) indices, never O(N^2), and the table is built once per level and shared by all the blocks
of the stage. A custom autograd function keeps only the input and the weight for the backward, which gathers again,
so a convolution stores O(N C) activations instead of one gathered copy per offset.

Points sharing a cell (unsampled input) all read, for a given offset, the *first* point of the neighbouring cell in
sorted order (the lowest point index, as the sort is stable), so each occupied cell contributes once per offset,
as in a dense convolution over the voxel grid.

The weight layout is [27, C_in, C_out] with offset index ``(dx + 1) * 9 + (dy + 1) * 3 + (dz + 1)``: the neighbour
at cell + (dx, dy, dz) meets weight ``(dx, dy, dz)``, which is ``torch.nn.functional.conv3d`` (a cross-correlation)
with weight ``w.view(3, 3, 3, C_in, C_out).permute(4, 3, 0, 1, 2)`` on a dense [C, X, Y, Z] grid.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from pointdistill.models.blocks import INIT_STD

KERNEL_OFFSETS = torch.tensor(list(itertools.product((-1, 0, 1), repeat=3)), dtype=torch.long)
"""[27, 3] offsets (dx, dy, dz) in weight order."""

_COORD_BITS = 17
"""Bits per axis in a packed key: grid coordinates (< 2^16) shifted by one so a -1 neighbour stays non-negative."""


def pack_cells(grid: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """One int64 key per cell: scene, x + 1, y + 1, z + 1 (17 bits each), ordered scene-major."""
    shifted = grid.long() + 1
    return (
        (batch.long() << (3 * _COORD_BITS))
        | (shifted[:, 0] << (2 * _COORD_BITS))
        | (shifted[:, 1] << _COORD_BITS)
        | shifted[:, 2]
    )


@dataclass(frozen=True)
class NeighbourTable:
    """For every kernel offset k: ``rows[k]`` (points whose neighbour cell at that offset is occupied) and
    ``cols[k]`` (that neighbour's point index). At most 27 N indices in all."""

    rows: list[torch.Tensor]
    cols: list[torch.Tensor]
    num_points: int

    def numel(self) -> int:
        return sum(r.numel() + c.numel() for r, c in zip(self.rows, self.cols))

    def dense(self) -> torch.Tensor:
        """[N, 27] neighbour index, N where the neighbour cell is empty (for tests and inspection)."""
        table = torch.full((self.num_points, len(self.rows)), self.num_points, dtype=torch.long)
        for k, (rows, cols) in enumerate(zip(self.rows, self.cols)):
            table[rows.cpu(), k] = cols.cpu()
        return table


@torch.no_grad()
def neighbour_table(grid: torch.Tensor, batch: torch.Tensor) -> NeighbourTable:
    """The 3x3x3 neighbours of every point among the occupied cells of its own scene.

    Adding an offset to a packed key adds a constant to it (the fields never carry), so the queries of one offset
    are the sorted keys plus a constant: already sorted, which keeps ``searchsorted`` cache-friendly.
    """
    keys = pack_cells(grid, batch)
    sorted_keys, perm = torch.sort(keys, stable=True)
    last = max(keys.shape[0] - 1, 0)
    rows, cols = [], []
    for delta in pack_cells(KERNEL_OFFSETS.to(grid.device), torch.zeros(27, dtype=torch.long, device=grid.device)):
        query = sorted_keys + (delta - pack_cells(grid.new_zeros(1, 3), batch.new_zeros(1)))
        position = torch.searchsorted(sorted_keys, query).clamp(max=last)
        hit = sorted_keys[position] == query
        rows.append(perm[hit])
        cols.append(perm[position[hit]])
    return NeighbourTable(rows, cols, keys.shape[0])


class _SubmanifoldConv(torch.autograd.Function):
    """sum over offsets k of ``x[cols_k] @ W_k`` accumulated at ``rows_k``, saving only ``x`` and ``W`` for the
    backward (which gathers again) instead of the 27 gathered copies autograd would keep."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, table: NeighbourTable) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.table = table
        out = x.new_zeros(x.shape[0], weight.shape[2])
        for kernel, rows, cols in zip(weight, table.rows, table.cols):
            out.index_put_((rows,), x[cols] @ kernel, accumulate=True)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        x, weight = ctx.saved_tensors
        table: NeighbourTable = ctx.table
        grad = grad.to(x.dtype)
        grad_x = torch.zeros_like(x) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros_like(weight) if ctx.needs_input_grad[1] else None
        for k, (rows, cols) in enumerate(zip(table.rows, table.cols)):
            upstream = grad[rows]
            if grad_x is not None:
                grad_x.index_put_((cols,), upstream @ weight[k].T, accumulate=True)
            if grad_weight is not None:
                grad_weight[k] = x[cols].T @ upstream
        return grad_x, grad_weight, None


class SubMConv3d(nn.Module):
    """Submanifold 3x3x3 convolution ``C_in -> C_out`` over a :class:`NeighbourTable` (weight layout: module doc)."""

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.weight = nn.Parameter(torch.empty(len(KERNEL_OFFSETS), in_channels, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Truncated normal (std 0.02) weights and zero bias: Pointcept's init of its sparse convolutions."""
        nn.init.trunc_normal_(self.weight, std=INIT_STD)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, table: NeighbourTable) -> torch.Tensor:
        weight = self.weight
        if torch.is_autocast_enabled(x.device.type):
            dtype = torch.get_autocast_dtype(x.device.type)
            x, weight = x.to(dtype), weight.to(dtype)
        else:
            weight = weight.to(x.dtype)
        out = _SubmanifoldConv.apply(x, weight, table)
        return out if self.bias is None else out + self.bias.to(out.dtype)

    def extra_repr(self) -> str:
        fan_in = self.in_channels * len(KERNEL_OFFSETS)
        return f"{self.in_channels}, {self.out_channels}, kernel_size=3, fan_in={fan_in}, bias={self.bias is not None}"

