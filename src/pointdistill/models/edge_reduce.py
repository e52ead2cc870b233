"""Reductions over the k-NN edges of a point cloud without keeping the [B, N, k, C] edge tensor.

An edge (i, j) of centre i and neighbour j = ``index[b, i, s]`` carries ``h_ij = neighbours[b, j] + centres[b, i]``
(the split form of a linear layer on [x_j - x_i, x_i], see :func:`pointdistill.models.common.edge_linear`). A
per-edge function ``fn(h, *tensors)`` (norm + activation, say) is applied and reduced: ``max`` over the k neighbours
of each centre ([B, N, C]) or ``sum`` over every edge ([C], for batch statistics).

Why a custom autograd function: autograd would keep several [B, N, k, C] tensors per layer for backward (the gather,
the sum, the norm's input and output, the activation), which for DGCNN at k=20 is 20 times the size of everything
else. Here the edges are built for a slice of centres at a time, reduced, and dropped; backward rebuilds each slice
and pulls its gradient back into one [B, N, C] buffer per input. Only the inputs and the reduced output are kept.
The values and gradients are those of the plain expression (same operations per slice; every reduction is over the
k neighbours of one centre, or a sum that is merely split into partial sums), at the price of evaluating ``fn``
twice.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

EdgeFunction = Callable[..., torch.Tensor]
Reduction = Literal["max", "sum"]

DEFAULT_EDGE_CHUNK_ELEMENTS = 1 << 22
"""Elements of one slice's [B, n, k, C] edge tensor (16 MiB in fp32): large enough that the per-slice overhead is
negligible, small enough that a handful of such temporaries stay far below the layer's [B, N, C] tensors."""


def _slices(points: int, per_point: int, chunk_elements: int) -> list[slice]:
    step = max(1, chunk_elements // max(1, per_point))
    return [slice(start, min(start + step, points)) for start in range(0, points, step)]


def _flat_rows(index: torch.Tensor, points: int) -> torch.Tensor:
    """``index`` [B, M, k] as rows of the [B * N, C] flattened point tensor: one ``index_select`` then gathers a
    slice of edges, about twice as fast on CPU as ``gather`` with an expanded index."""
    offsets = torch.arange(index.shape[0], device=index.device).view(-1, 1, 1) * points
    return index + offsets


def _gather(values: torch.Tensor, rows: torch.Tensor, s: slice) -> torch.Tensor:
    channels = values.shape[-1]
    chunk = rows[:, s]
    return values.reshape(-1, channels).index_select(0, chunk.reshape(-1)).view(*chunk.shape, channels)


def _edges(neighbours: torch.Tensor, centres: torch.Tensor, rows: torch.Tensor, s: slice) -> torch.Tensor:
    return _gather(neighbours, rows, s) + centres[:, s].unsqueeze(2)


def _reduce(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    return values.amax(dim=2) if reduction == "max" else values.sum(dim=(0, 1, 2))


@torch.no_grad()
def _grad_values(values: torch.Tensor, grad_out: torch.Tensor, s: slice, reduction: Reduction) -> torch.Tensor:
    """Gradient of the reduction with respect to the per-edge values of slice ``s``.

    For ``max`` it is what ``amax``'s own backward gives (the gradient split evenly among tied maxima), written as
    one mask and one select: autograd's version converts and divides the whole [B, n, k, C] mask several times,
    which took half of this function's backward time.
    """
    if reduction == "sum":
        return grad_out.expand_as(values)
    mask = values == values.amax(dim=2, keepdim=True)
    share = grad_out[:, s] / mask.sum(dim=2)
    return torch.where(mask, share.unsqueeze(2), 0.0)


class _ChunkedEdgeReduce(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx,
        fn: EdgeFunction,
        reduction: Reduction,
        chunk_elements: int,
        neighbours: torch.Tensor,
        centres: torch.Tensor,
        index: torch.Tensor,
        *tensors: torch.Tensor,
    ) -> torch.Tensor:
        batch, _, channels = neighbours.shape
        slices = _slices(index.shape[1], batch * index.shape[2] * channels, chunk_elements)
        rows = _flat_rows(index, neighbours.shape[1])
        parts = [_reduce(fn(_edges(neighbours, centres, rows, s), *tensors), reduction) for s in slices]
        ctx.save_for_backward(neighbours, centres, index, *tensors)
        ctx.fn, ctx.reduction, ctx.slices = fn, reduction, slices
        device = neighbours.device.type
        ctx.autocast = (device, torch.get_autocast_dtype(device), torch.is_autocast_enabled(device))
        return torch.cat(parts, dim=1) if reduction == "max" else torch.stack(parts).sum(dim=0)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        neighbours, centres, index, *tensors = ctx.saved_tensors
        wants = ctx.needs_input_grad
        batch, _, channels = neighbours.shape
        grad_neighbours = torch.zeros_like(neighbours) if wants[3] else None
        grad_centres = torch.zeros_like(centres) if wants[4] else None
        grad_tensors: list[torch.Tensor | None] = [None] * len(tensors)
        device, dtype, enabled = ctx.autocast
        rows = _flat_rows(index, neighbours.shape[1])
        for s in ctx.slices:
            gathered = _gather(neighbours, rows, s).requires_grad_()
            centre = centres[:, s].detach().requires_grad_()
            leaves = [t.detach().requires_grad_(wants[6 + i]) for i, t in enumerate(tensors)]
            with torch.enable_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
                values = ctx.fn(gathered + centre.unsqueeze(2), *leaves)
            inputs = [gathered, centre, *(leaf for leaf in leaves if leaf.requires_grad)]
            grads = torch.autograd.grad(values, inputs, _grad_values(values, grad_out, s, ctx.reduction))
            if grad_neighbours is not None:
                flat = index[:, s].reshape(batch, -1, 1).expand(-1, -1, channels)
                grad_neighbours.scatter_add_(1, flat, grads[0].reshape(batch, -1, channels))
            if grad_centres is not None:
                grad_centres[:, s] = grads[1]
            tensor_grads = iter(grads[2:])
            for i, leaf in enumerate(leaves):
                if leaf.requires_grad:
                    grad = next(tensor_grads)
                    grad_tensors[i] = grad if grad_tensors[i] is None else grad_tensors[i] + grad
        return None, None, None, grad_neighbours, grad_centres, None, *grad_tensors


def edge_reduce(
    fn: EdgeFunction,
    neighbours: torch.Tensor,
    centres: torch.Tensor,
    index: torch.Tensor,
    tensors: tuple[torch.Tensor, ...] = (),
    *,
    reduction: Reduction = "max",
    chunk_elements: int = DEFAULT_EDGE_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """``reduce(fn(neighbours[index] + centres[:, :, None], *tensors))`` for ``neighbours`` and ``centres``
    [B, N, C] and ``index`` [B, N, k], slice by slice of centres.

    ``reduction="max"``: amax over the k neighbours, [B, N, C']; ``"sum"``: sum over every edge, [C'] (``fn`` must
    keep the channel layout then). ``fn`` must act on each edge independently (it sees a slice of centres) and be
    deterministic; ``tensors`` are the tensors it reads that need gradients (pass parameters and statistics here, not
    through a closure, or they get none). Differentiable once.
    """
    return _ChunkedEdgeReduce.apply(fn, reduction, chunk_elements, neighbours, centres, index, *tensors)
