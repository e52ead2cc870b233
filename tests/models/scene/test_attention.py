"""Patch attention: the patch layout of the spec, equality with a per-patch loop, rotary encoding is relative."""

from __future__ import annotations

import pytest
import torch

from pointdistill.models.scene.attention import PatchAttention, patch_layout, rope_angles


def reference_patches(order: torch.Tensor, counts: list[int], size: int) -> list[tuple[list[int], list[int]]]:
    """Per patch: its points (in order) and the ones whose output it keeps, straight from the spec."""
    patches, start = [], 0
    for n in counts:
        sequence = order[start:start + n].tolist()
        if n <= size:
            patches.append((sequence, sequence))
        else:
            count = -(-n // size)
            for j in range(count):
                first = min(j * size, n - size)
                patches.append((sequence[first:first + size], sequence[j * size:first + size]))
        start += n
    return patches


def reference_attention(attn: PatchAttention, x: torch.Tensor, patches: list[tuple[list[int], list[int]]]
                        ) -> torch.Tensor:
    out = torch.empty_like(x)
    heads, dim = attn.num_heads, attn.head_dim
    for points, kept in patches:
        q, k, v = attn.qkv(x[points]).view(len(points), 3, heads, dim).unbind(1)
        weights = torch.einsum("qhd,khd->hqk", q, k).mul(dim**-0.5).softmax(dim=-1)
        result = attn.proj(torch.einsum("hqk,khd->qhd", weights, v).reshape(len(points), -1))
        for point in kept:
            out[point] = result[points.index(point)]
    return out


@pytest.mark.parametrize(("counts", "size"), [([10, 25, 7], 8), ([3, 5], 8), ([16, 8, 9], 8), ([1, 30], 16)])
def test_layout_and_output_match_the_per_patch_reference(counts: list[int], size: int) -> None:
    torch.manual_seed(0)
    total = sum(counts)
    scene_starts = torch.tensor([0, *counts]).cumsum(0)
    order = torch.cat([torch.randperm(n) + scene_starts[i] for i, n in enumerate(counts)])
    layout = patch_layout(order, torch.tensor(counts), size)
    patches = reference_patches(order, counts, size)
    assert layout.index.shape[0] == len(patches)
    kept = sorted(p for _, keep in patches for p in keep)
    assert kept == list(range(total))
    assert (layout.key_mask is None) == all(n >= size for n in counts)
    attn = PatchAttention(16, 2).double()
    x = torch.randn(total, 16, dtype=torch.float64)
    torch.testing.assert_close(attn(x, layout), reference_attention(attn, x, patches))


def test_rotary_encoding_depends_only_on_relative_cells() -> None:
    torch.manual_seed(0)
    attn = PatchAttention(24, 2).double()
    grid = torch.randint(0, 50, (40, 3))
    layout = patch_layout(torch.arange(40), torch.tensor([40]), 16)
    x = torch.randn(40, 24, dtype=torch.float64)
    moved = attn(x, layout, rope_angles(grid + torch.tensor([7, -3, 11]), 12))
    torch.testing.assert_close(attn(x, layout, rope_angles(grid, 12)), moved)
    assert not torch.allclose(attn(x, layout), moved)
