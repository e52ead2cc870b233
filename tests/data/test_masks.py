"""Patch masks (random, block, inverse block) and DOS scene block masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointdistill.data.masks import (
    block_mask,
    block_union,
    indices_to_mask,
    inverse_block_mask,
    masked_count,
    random_mask,
    scene_block_mask,
)


def centers(batch: int = 8, groups: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, groups, 3, generator=torch.Generator().manual_seed(seed))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_partition(visible: torch.Tensor, masked: torch.Tensor, groups: int) -> None:
    """Rows sorted, disjoint and together all patches."""
    assert torch.all(visible[:, 1:] > visible[:, :-1])
    assert torch.all(masked[:, 1:] > masked[:, :-1])
    both = torch.cat([visible, masked], dim=1).sort(dim=1).values
    assert torch.equal(both, torch.arange(groups).expand_as(both))


def mean_pairwise_distance(points: torch.Tensor, index: torch.Tensor, repeats: int) -> float:
    chosen = points.repeat_interleave(repeats, 0).gather(1, index.unsqueeze(-1).expand(-1, -1, 3))
    return torch.cdist(chosen, chosen).mean().item()


def mean_neighbour_distance(points: torch.Tensor, index: torch.Tensor, repeats: int) -> float:
    """Mean distance from each chosen centre to the nearest other chosen centre."""
    chosen = points.repeat_interleave(repeats, 0).gather(1, index.unsqueeze(-1).expand(-1, -1, 3))
    dist = torch.cdist(chosen, chosen) + torch.eye(chosen.shape[1]) * 1e9
    return dist.min(dim=-1).values.mean().item()


def test_masked_count_matches_the_paper():
    assert masked_count(64, 0.7) == 45
    assert masked_count(16, 0.7) == 11
    with pytest.raises(ValueError, match="ratio"):
        masked_count(64, 1.0)


def test_inverse_block_mask_gives_19_visible_and_45_masked_for_64_patches():
    visible, masked = inverse_block_mask(centers(), ratio=0.7, block_fraction=0.1, num_masks=4, generator=gen())
    assert visible.shape == (32, 19) and masked.shape == (32, 45)
    assert visible.dtype == torch.long
    assert_partition(visible, masked, 64)


def test_inverse_block_masks_of_one_sample_are_independent():
    visible, _ = inverse_block_mask(centers(1), num_masks=4, generator=gen())
    assert len({tuple(row.tolist()) for row in visible}) == 4


def test_inverse_block_visible_sets_are_spatially_compact():
    points = centers(64, seed=3)
    visible, _ = inverse_block_mask(points, num_masks=2, generator=gen(1))
    random_visible, _ = random_mask(64 * 2, 64, 0.7, gen(1))
    assert mean_neighbour_distance(points, visible, 2) < 0.8 * mean_neighbour_distance(points, random_visible, 2)
    assert mean_pairwise_distance(points, visible, 2) < mean_pairwise_distance(points, random_visible, 2)


def test_inverse_block_mask_is_generator_deterministic():
    first = inverse_block_mask(centers(), generator=gen(7))
    again = inverse_block_mask(centers(), generator=gen(7))
    other = inverse_block_mask(centers(), generator=gen(8))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_single_block_mask_masks_the_nearest_patches_of_one_centre():
    points = centers(4, seed=5)
    visible, masked = block_mask(points, ratio=0.6, generator=gen(2))
    assert masked.shape == (4, 38) and visible.shape == (4, 26)
    assert_partition(visible, masked, 64)
    for b in range(4):
        dist = torch.cdist(points[b], points[b])
        inner, outer = dist[:, masked[b]].max(dim=1).values, dist[:, visible[b]].min(dim=1).values
        assert bool((inner <= outer)[masked[b]].any()), "masked set must be the k nearest of one of its centres"


def test_multi_block_mask_counts_and_compactness():
    points = centers(32, seed=6)
    visible, masked = block_mask(points, ratio=0.5, block_fraction=0.1, num_masks=2, generator=gen(3))
    assert masked.shape == (64, 32) and visible.shape == (64, 32)
    assert_partition(visible, masked, 64)
    random_visible, random_masked = random_mask(64, 64, 0.5, gen(3))
    assert mean_pairwise_distance(points, masked, 2) < mean_pairwise_distance(points, random_masked, 2)


def test_random_mask_counts_and_determinism():
    visible, masked = random_mask(5, 64, 0.6, gen(4))
    assert visible.shape == (5, 26) and masked.shape == (5, 38)
    assert_partition(visible, masked, 64)
    assert torch.equal(random_mask(5, 64, 0.6, gen(4))[0], visible)


def test_indices_to_mask_marks_the_listed_patches():
    mask = indices_to_mask(torch.tensor([[0, 2], [1, 3]]), 4)
    assert mask.tolist() == [[True, False, True, False], [False, True, False, True]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_masks_match_across_devices_with_a_cpu_generator():
    points = centers()
    cpu = inverse_block_mask(points, generator=gen(9))
    cuda = inverse_block_mask(points.cuda(), generator=gen(9))
    assert cuda[0].is_cuda
    assert torch.equal(cpu[0], cuda[0].cpu()) and torch.equal(cpu[1], cuda[1].cpu())


def scene(n: int = 20000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 4, size=(n, 3)).astype(np.float32)


def test_scene_block_mask_hides_close_to_the_ratio_in_whole_blocks():
    coords = scene()
    visible = scene_block_mask(coords, ratio=0.7, block_size=0.4, rng=np.random.default_rng(0), random_offset=False)
    assert visible.dtype == bool and visible.shape == (len(coords),)
    assert 1 - visible.mean() == pytest.approx(0.7, abs=0.02)
    blocks = np.floor(coords / 0.4).astype(np.int64)
    _, block_id = np.unique(blocks, axis=0, return_inverse=True)
    per_block = np.bincount(block_id.ravel(), weights=visible)
    sizes = np.bincount(block_id.ravel())
    assert np.all((per_block == 0) | (per_block == sizes)), "blocks are masked whole"


def test_scene_block_mask_with_a_torch_generator_returns_a_tensor():
    coords = torch.from_numpy(scene(5000))
    visible = scene_block_mask(coords, rng=gen(1))
    assert visible.dtype == torch.bool and visible.shape == (5000,)
    assert torch.equal(visible, scene_block_mask(coords, rng=gen(1)))
    assert not torch.equal(visible, scene_block_mask(coords, rng=gen(2)))


def test_scene_block_mask_keeps_at_least_one_block():
    coords = scene(100) * 0.01
    visible = scene_block_mask(coords, ratio=0.95, block_size=1.0, rng=np.random.default_rng(0), random_offset=False)
    assert visible.all()


def test_keyed_inverse_block_masks_follow_the_key_not_the_batch_position() -> None:
    points = centers(batch=4)
    keys = torch.arange(16, dtype=torch.int64) * 1_000_003 + 7
    visible, masked = inverse_block_mask(points, num_masks=4, num_blocks=4, keys=keys)
    swapped = torch.cat([points[2:], points[:2]])
    swapped_keys = torch.cat([keys[8:], keys[:8]])
    visible2, masked2 = inverse_block_mask(swapped, num_masks=4, num_blocks=4, keys=swapped_keys)
    assert torch.equal(torch.cat([visible2[8:], visible2[:8]]), visible)
    assert torch.equal(torch.cat([masked2[8:], masked2[:8]]), masked)
    assert not torch.equal(visible[0], visible[1]), "masks of one sample must differ"


def test_every_view_has_the_same_visible_count_inside_the_block_union_unless_topped_up() -> None:
    """The AsymDSD trimming rule: the union of 4 blocks of 6 is cut at random to 19 visible patches, and only when
    blocks overlap so much that the union is smaller is it topped up (then the whole union is visible)."""
    points = centers(batch=64, seed=3)
    keys = torch.arange(256, dtype=torch.int64) * 7919 + 1
    visible, masked = inverse_block_mask(points, ratio=0.7, block_fraction=0.1, num_masks=4, num_blocks=4, keys=keys)
    assert visible.shape == (256, 19) and masked.shape == (256, 45)
    assert_partition(visible, masked, 64)
    union = block_union(points, 6, 4, 4, keys=keys)
    chosen = indices_to_mask(visible, 64)
    large = union.sum(1) >= 19
    assert large.any() and (~large).any(), "the test needs both trimmed and topped-up rows"
    assert torch.all(~chosen[large] | union[large]), "a trimmed view showed a patch outside its blocks"
    assert torch.all(chosen[~large] | ~union[~large]), "a topped-up view hid a patch of its blocks"
    trimmed = union[large].sum(1) > 19
    assert trimmed.any()
    # The trim is random, not positional: across views with the same union size the dropped members vary.
    dropped = (union & ~chosen)[large][trimmed]
    assert dropped.float().mean(0).max() < 1.0
