"""Space-filling-curve serialisation of voxelised scenes: z-order (Morton) and Hilbert codes, four orders.

Sorting the points of a scene by a curve code puts points that are close in space close in the sequence, so a patch
of K consecutive points is a compact piece of the scene: that is what makes patch attention local without any
neighbour search. The four orders of PTv3 / Sonata are ``z``, ``z-trans`` (x and y swapped), ``hilbert`` and
``hilbert-trans``; blocks cycle through them so that patch borders fall in different places from block to block.

Codes are ``(scene << 3 * depth) | curve``, depth = bit length of the largest grid coordinate of the batch (at most
16, so 48 curve bits and 15 bits of scene index fit an int64). Sorting by that code groups the scenes in batch order
and orders every scene by its curve. The z-order puts bit i of x at 3i+2, y at 3i+1 and z at 3i. The Hilbert code is
Skilling's transform ("Programming the Hilbert curve", 2004) on whole integer tensors: a loop over the bits and the
three axes, never over points.

In training every scene of a batch may follow its own order (:func:`scene_sequence`): the codes of all orders share
the packing, so a code of one order in one scene and of another order in the next still sort scene by scene.

One refinement over Pointcept: the Hilbert curve of each scene is taken at that *scene's own* depth. A Hilbert curve
of depth d+1 restricted to its first octant is the depth-d curve with permuted axes, so a batch-wide depth would
make a scene's order (and therefore its patches and features) depend on the other scenes of its batch. The z-order
does not have that problem (leading zero bits change nothing), and the packing above still uses the batch depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ORDERS = ("z", "z-trans", "hilbert", "hilbert-trans")
"""The serialisation orders, in the order an unshuffled (evaluation) encoder uses them."""

MAX_DEPTH = 16
"""Bits per axis: 3 x 16 curve bits plus the scene index must fit a signed 64-bit code."""


@dataclass(frozen=True)
class Serialization:
    """One entry per order: ``code`` [N] int64, ``order`` [N] (argsort of the code: sequence position -> point) and
    ``inverse`` [N] (point -> sequence position)."""

    names: tuple[str, ...]
    code: list[torch.Tensor]
    order: list[torch.Tensor]
    inverse: list[torch.Tensor]


def bit_length(values: torch.Tensor) -> torch.Tensor:
    """Elementwise number of bits of non-negative integers (0 -> 0), vectorised."""
    powers = torch.ones(1, dtype=torch.long, device=values.device) << torch.arange(
        MAX_DEPTH + 1, device=values.device
    )
    return (values.long().unsqueeze(-1) >= powers).sum(-1)


def _interleave(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, depth: int) -> torch.Tensor:
    """Bit i of x -> 3i+2, of y -> 3i+1, of z -> 3i (the z-order layout, also the Hilbert transpose layout)."""
    code = torch.zeros_like(x)
    for bit in range(depth):
        code |= ((x >> bit) & 1) << (3 * bit + 2)
        code |= ((y >> bit) & 1) << (3 * bit + 1)
        code |= ((z >> bit) & 1) << (3 * bit)
    return code


def z_order_code(grid: torch.Tensor, depth: int) -> torch.Tensor:
    """Morton code [N] of non-negative integer grid coordinates [N, 3] with ``depth`` bits per axis."""
    grid = grid.long()
    return _interleave(grid[:, 0], grid[:, 1], grid[:, 2], depth)


def hilbert_code(grid: torch.Tensor, depth: int, point_depth: torch.Tensor | None = None) -> torch.Tensor:
    """Hilbert index [N] of grid coordinates [N, 3] by Skilling's axes-to-transpose algorithm, then bit interleaving.

    ``point_depth`` [N] (each point's own curve depth, <= ``depth``) runs the curve of that depth for that point:
    the levels above it are skipped, which is exactly the shallower curve because those bits are zero.
    """
    axes = [grid[:, i].long().clone() for i in range(3)]
    levels = torch.full_like(axes[0], depth) if point_depth is None else point_depth.long()
    for bit in range(depth - 1, 0, -1):
        high, low = 1 << bit, (1 << bit) - 1
        active = levels > bit
        for i in range(3):
            on = (axes[i] & high) != 0
            axes[0] = torch.where(active & on, axes[0] ^ low, axes[0])
            if i:
                swap = torch.where(active & ~on, (axes[0] ^ axes[i]) & low, 0)
                axes[0] = axes[0] ^ swap
                axes[i] = axes[i] ^ swap
    axes[1] = axes[1] ^ axes[0]
    axes[2] = axes[2] ^ axes[1]
    flips = torch.zeros_like(axes[0])
    for bit in range(depth - 1, 0, -1):
        flips = torch.where((axes[2] >> bit) & 1 == 1, flips ^ ((1 << bit) - 1), flips)
    return _interleave(axes[0] ^ flips, axes[1] ^ flips, axes[2] ^ flips, depth)


def batch_depth(grid: torch.Tensor) -> int:
    """Bits per axis for the whole batch: bit length of the largest coordinate (at least 1, at most 16)."""
    if grid.numel() and int(grid.min()) < 0:
        raise ValueError("grid coordinates must be non-negative")
    largest = int(grid.max()) if grid.numel() else 0
    depth = max(1, largest.bit_length())
    if depth > MAX_DEPTH:
        raise ValueError(f"grid coordinate {largest} needs {depth} bits per axis; at most {MAX_DEPTH} fit a code")
    return depth


def scene_depths(grid: torch.Tensor, batch: torch.Tensor, num_scenes: int) -> torch.Tensor:
    """Curve depth [num_scenes] of every scene: bit length of its largest grid coordinate (at least 1)."""
    largest = torch.zeros(num_scenes, dtype=torch.long, device=grid.device)
    largest = largest.scatter_reduce(0, batch, grid.long().amax(dim=1), reduce="amax")
    return bit_length(largest).clamp(min=1)


def encode(
    grid: torch.Tensor, batch: torch.Tensor, order: str, depth: int, point_depth: torch.Tensor | None = None
) -> torch.Tensor:
    """Code [N] = (scene << 3 * depth) | curve code of ``order`` (see :data:`ORDERS`)."""
    if order not in ORDERS:
        raise ValueError(f"unknown serialisation order {order!r}; choose from {list(ORDERS)}")
    if order.endswith("-trans"):
        grid = grid[:, [1, 0, 2]]
    if order.startswith("z"):
        curve = z_order_code(grid, depth)
    else:
        curve = hilbert_code(grid, depth, point_depth)
    return (batch.long() << (3 * depth)) | curve


@torch.no_grad()
def serialize(
    grid: torch.Tensor, batch: torch.Tensor, num_scenes: int, orders: tuple[str, ...] = ORDERS
) -> Serialization:
    """Codes, sort orders and inverse permutations of every requested order (no gradient: indices only)."""
    depth = batch_depth(grid)
    point_depth = scene_depths(grid, batch, num_scenes)[batch]
    codes, sorts, inverses = [], [], []
    positions = torch.arange(grid.shape[0], device=grid.device)
    for name in orders:
        code = encode(grid, batch, name, depth, point_depth)
        order = torch.argsort(code, stable=True)
        inverse = torch.empty_like(order).scatter_(0, order, positions)
        codes.append(code)
        sorts.append(order)
        inverses.append(inverse)
    return Serialization(tuple(orders), codes, sorts, inverses)


@torch.no_grad()
def scene_sequence(
    grid: torch.Tensor, batch: torch.Tensor, num_scenes: int, orders: tuple[str, ...], choice: torch.Tensor
) -> torch.Tensor:
    """Sort order [N] (sequence position -> point) when scene s follows ``orders[choice[s]]`` (``choice``
    [num_scenes]): each point's code is computed once, in its scene's order, so this costs one order's codes."""
    depth = batch_depth(grid)
    point_depth = scene_depths(grid, batch, num_scenes)[batch]
    pick = choice.to(batch.device)[batch]
    code = torch.empty_like(batch, dtype=torch.long)
    for index in torch.unique(choice).tolist():
        rows = (pick == index).nonzero().squeeze(1)
        code[rows] = encode(grid[rows], batch[rows], orders[index], depth, point_depth[rows])
    return torch.argsort(code, stable=True)
