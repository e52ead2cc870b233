"""Mini-PointNet patch embeddings: shapes, symmetry, batch independence, cost of the two variants."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from pointdistill.models.patch_embed import MiniPointNet, build_patch_embed


@pytest.mark.parametrize("kind", ["standard", "light", "asymdsd"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 16), (2, 64)])
def test_shapes_for_any_batch_and_patch_count(kind: str, shape: tuple[int, int]) -> None:
    embed = build_patch_embed(kind, 48)
    patches = torch.randn(*shape, 32, 3)
    assert embed(patches).shape == (*shape, 48)


@pytest.mark.parametrize("kind", ["standard", "light", "asymdsd"])
def test_token_ignores_point_order_within_a_patch(kind: str) -> None:
    torch.manual_seed(0)
    embed = build_patch_embed(kind, 32)
    patches = torch.randn(2, 5, 32, 3)
    shuffled = patches[:, :, torch.randperm(32)]
    torch.testing.assert_close(embed(shuffled), embed(patches), atol=1e-5, rtol=1e-5)


def test_layer_norm_embedding_does_not_depend_on_the_batch() -> None:
    torch.manual_seed(0)
    embed = build_patch_embed("standard", 32, norm="layer")
    patches = torch.randn(3, 4, 32, 3)
    torch.testing.assert_close(embed(patches[:1]), embed(patches)[:1], atol=1e-5, rtol=1e-5)


def test_batch_norm_embedding_trains_on_a_single_patch() -> None:
    embed = build_patch_embed("standard", 32, norm="batch").train()
    out = embed(torch.randn(1, 1, 32, 3))
    out.sum().backward()
    assert out.shape == (1, 1, 32)
    assert embed.local[1].running_mean.abs().sum() > 0


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="standard, light"):
        build_patch_embed("huge", 32)


def _flops(kind: str, dim: int, points: int) -> int:
    embed = build_patch_embed(kind, dim)
    with FlopCounterMode(display=False) as counter:
        embed(torch.randn(1, points // 32, 32, 3))
    return counter.get_total_flops()


def test_light_embedding_is_about_eight_times_cheaper() -> None:
    dim, points = 192, 1024
    patches = points // 32
    standard, light = _flops("standard", dim, points), _flops("light", dim, points)
    # The fuse's first linear runs its point half on every point and its pooled half once per patch.
    assert standard == 2 * (points * (3 * 128 + 128 * 256 + 256 * 512 + 512 * dim) + patches * 256 * 512)
    assert light == 2 * (points * (3 * 64 + 64 * 128 + 128 * dim) + patches * 128 * dim)
    assert standard > 7 * light


def concatenating_forward(embed: MiniPointNet, patches: torch.Tensor) -> torch.Tensor:
    """The textbook forward: the pooled feature copied to every point and concatenated before the fuse."""
    local = embed.local(patches)
    pooled = local.amax(dim=2, keepdim=True).expand_as(local)
    parts = [pooled, local] if embed.pooled_first else [local, pooled]
    return embed.fuse(torch.cat(parts, dim=-1)).amax(dim=2)


@pytest.mark.parametrize("kind", ["standard", "light", "asymdsd"])
def test_split_fuse_is_the_concatenating_embedding(kind: str) -> None:
    torch.manual_seed(0)
    embed = build_patch_embed(kind, 48)
    patches = torch.randn(2, 6, 32, 3)
    split = embed(patches)
    split.square().sum().backward()
    split_grads = [p.grad.clone() for p in embed.parameters()]
    embed.zero_grad()
    reference = concatenating_forward(embed, patches)
    reference.square().sum().backward()
    torch.testing.assert_close(split, reference, atol=1e-5, rtol=1e-5)
    for ours, theirs in zip(split_grads, (p.grad for p in embed.parameters())):
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
