"""The batch structure of the scene encoder: concatenated scenes with cumulative offsets, no padding.

A :class:`SceneLevel` is one resolution of a batch: coordinates, integer grid cells, the scene of every point and the
index structures every block of a stage shares. Those are built lazily and cached on the level, because the blocks
of a stage reuse them: the serialisation (once per level), the sparse-convolution neighbour table (once per level,
shared by every block's CPE), the patch layout (once per order) and the rotary angles. Features are not stored here:
they flow through the blocks as a plain [N, C] tensor, so autograd sees ordinary tensor code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import torch

from pointdistill.models.scene.serialization import ORDERS, Serialization, scene_sequence, serialize

T = TypeVar("T")


def offset_to_counts(offset: torch.Tensor) -> torch.Tensor:
    """Points per scene [B] from cumulative end indices [B]."""
    return torch.diff(offset.long(), prepend=offset.new_zeros(1).long())


def offset_to_batch(offset: torch.Tensor) -> torch.Tensor:
    """Scene index [N] of every point from cumulative end indices [B]."""
    counts = offset_to_counts(offset)
    return torch.repeat_interleave(torch.arange(counts.shape[0], device=offset.device), counts)


def batch_to_offset(batch: torch.Tensor, num_scenes: int) -> torch.Tensor:
    """Cumulative end indices [B] of a scene-sorted index [N] (empty scenes keep their place)."""
    return torch.bincount(batch, minlength=num_scenes).cumsum(0)


def check_offset(offset: torch.Tensor, num_points: int) -> None:
    """Refuse offsets that are not a non-decreasing 1-D sequence ending at ``num_points``."""
    if offset.dim() != 1 or offset.numel() == 0:
        raise ValueError(f"offset must be a non-empty 1-D tensor of cumulative ends, got shape {list(offset.shape)}")
    if bool((offset_to_counts(offset) < 0).any()) or int(offset[-1]) != num_points:
        raise ValueError(f"offset must be non-decreasing and end at the number of points ({num_points})")


def grid_from_coord(coord: torch.Tensor, batch: torch.Tensor, num_scenes: int, grid_size: float) -> torch.Tensor:
    """floor((coord - min of the point's scene) / grid_size) [N, 3] int64.

    The minimum is per scene, not over the whole batch, so a scene gets the same cells (and hence the same pooling
    cells and curve codes) whatever it is batched with.
    """
    low = torch.full((num_scenes, 3), float("inf"), dtype=coord.dtype, device=coord.device)
    low = low.scatter_reduce(0, batch.unsqueeze(1).expand(-1, 3), coord, reduce="amin")
    return torch.floor((coord - low[batch]) / grid_size).long()


@dataclass
class SceneLevel:
    """One resolution of a batch of scenes (see the module docstring). ``orders`` lists the serialisation orders;
    block i of the level takes slot ``i % len(orders)``: order ``orders[slot]`` in every scene when ``choice`` is
    None, else ``orders[choice[s, slot]]`` in scene s (``choice`` [num_scenes, len(orders)]: each scene's own
    shuffle, drawn in training)."""

    coord: torch.Tensor
    grid: torch.Tensor
    batch: torch.Tensor
    offset: torch.Tensor
    orders: tuple[str, ...] = ORDERS
    choice: torch.Tensor | None = None
    cache: dict[object, Any] = field(default_factory=dict, repr=False)

    @property
    def num_points(self) -> int:
        return self.coord.shape[0]

    @property
    def num_scenes(self) -> int:
        return self.offset.shape[0]

    @property
    def counts(self) -> torch.Tensor:
        return offset_to_counts(self.offset)

    def cached(self, key: object, build: Callable[[], T]) -> T:
        """The value stored under ``key``, built by ``build()`` on first use."""
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]

    @property
    def serialization(self) -> Serialization:
        """All orders of this level (codes, sort orders, inverses)."""
        return self.cached("serialization", lambda: serialize(self.grid, self.batch, self.num_scenes, self.orders))

    def sequence(self, slot: int) -> torch.Tensor:
        """Sort order [N] of ``slot``, computed only for the slots some block uses (a one-block stage needs one
        curve, not four)."""
        if self.choice is not None:
            return self.cached(("sequence", slot), lambda: scene_sequence(
                self.grid, self.batch, self.num_scenes, self.orders, self.choice[:, slot]))
        name = self.orders[slot]
        return self.cached(
            ("sequence", slot), lambda: serialize(self.grid, self.batch, self.num_scenes, (name,)).order[0]
        )
