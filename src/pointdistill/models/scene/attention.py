"""Patch attention over a serialisation order, with an optional rotary 3D position encoding.

In the current order every scene is cut into patches of K consecutive points and attention runs inside each patch
(``F.scaled_dot_product_attention``). A scene of n <= K points is one patch. A longer scene has ceil(n / K)
patches starting at 0, K, 2K, ..., except the last, which is the scene's last K points: it overlaps the one before,
and of a point that lands in two patches only the output of the earlier patch is kept. So every patch but a small
scene's is exactly K real points and attention needs no mask at all unless some scene is smaller than K; those
patches are padded (with copies of a real point) and masked on the key side.

The layout (:class:`PatchLayout`) is pure index arithmetic over all patches at once, built once per level and
order and shared by every block that uses that order. When every scene is smaller than K, K shrinks to the largest
scene, which changes only the padding.

Rotary encoding (``position="rope"`` in the encoder, instead of the CPE): the head dimension's pairs are dealt
round-robin to the x, y and z axes and rotated by angle ``grid_coordinate * base^(-j / pairs_of_that_axis)`` for the
j-th pair of an axis. Grid coordinates are integers of the level, so the angles depend only on relative cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

ROPE_BASE = 100.0
"""Frequency base of the rotary encoding: wavelengths from one cell to ~100 cells, the span of a 1024-point patch."""


@dataclass(frozen=True)
class PatchLayout:
    """``index`` [P, K]: the point at every patch slot (padding slots repeat a real point); ``key_mask`` [P, 1, 1, K]
    True at real slots, None when no slot is padding; ``owner`` [N]: flat slot (p * K + t) whose output a point
    keeps."""

    index: torch.Tensor
    key_mask: torch.Tensor | None
    owner: torch.Tensor

    @property
    def patch_size(self) -> int:
        return self.index.shape[1]


@torch.no_grad()
def patch_layout(order: torch.Tensor, counts: torch.Tensor, patch_size: int) -> PatchLayout:
    """Patches of ``patch_size`` consecutive points of the sequence ``order`` [N] (scenes contiguous, ``counts``
    points each), as described in the module docstring."""
    if patch_size < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    device = order.device
    counts = counts.long()
    size = max(1, min(patch_size, int(counts.max()) if counts.numel() else 1))
    starts = torch.cumsum(counts, 0) - counts
    per_scene = torch.div(counts + size - 1, size, rounding_mode="floor")
    scene = torch.repeat_interleave(torch.arange(counts.shape[0], device=device), per_scene)
    first_patch = torch.cumsum(per_scene, 0) - per_scene
    patch = torch.arange(scene.shape[0], device=device) - first_patch[scene]
    n = counts[scene]
    start = torch.minimum(patch * size, (n - size).clamp(min=0))
    local = start.unsqueeze(1) + torch.arange(size, device=device)
    real = local < n.unsqueeze(1)
    position = starts[scene].unsqueeze(1) + torch.where(real, local, 0)
    index = order[position]
    owned = real & (local >= (patch * size).unsqueeze(1))
    slots = owned.flatten().nonzero().squeeze(1)
    owner = torch.empty(order.shape[0], dtype=torch.long, device=device)
    owner[index.flatten()[slots]] = slots
    key_mask = None if bool(real.all()) else real[:, None, None, :]
    return PatchLayout(index, key_mask, owner)


def rope_angles(grid: torch.Tensor, head_dim: int, base: float = ROPE_BASE) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [N, head_dim // 2] of the rotary angles of every point (pairs dealt round-robin to x, y, z)."""
    if head_dim % 2:
        raise ValueError(f"rotary position encoding needs an even head dimension, got {head_dim}")
    pairs = head_dim // 2
    pair = torch.arange(pairs, device=grid.device)
    axis, rank = pair % 3, torch.div(pair, 3, rounding_mode="floor")
    per_axis = torch.bincount(axis, minlength=3).clamp(min=1).to(torch.float32)
    frequency = base ** (-rank.to(torch.float32) / per_axis[axis])
    angle = grid[:, axis].to(torch.float32) * frequency
    return angle.cos(), angle.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the (even, odd) channel pairs of ``x`` [N, H, d] by the angles ``cos``/``sin`` [N, d // 2]."""
    even, odd = x[..., 0::2], x[..., 1::2]
    cos, sin = cos.unsqueeze(1).to(x.dtype), sin.unsqueeze(1).to(x.dtype)
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class PatchAttention(nn.Module):
    """Multi-head self-attention inside the patches of a :class:`PatchLayout`, on points [N, C] -> [N, C]."""

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, layout: PatchLayout, rope: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        points, dim = x.shape
        q, k, v = self.qkv(x).view(points, 3, self.num_heads, self.head_dim).unbind(1)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        patches, size = layout.index.shape
        q, k, v = (t[layout.index].transpose(1, 2) for t in (q, k, v))  # [P, H, K, d]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=layout.key_mask)
        out = out.transpose(1, 2).reshape(patches * size, dim)
        return self.proj(out[layout.owner])
