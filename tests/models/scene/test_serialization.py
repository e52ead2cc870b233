"""Curve codes against a slow bit-by-bit reference, locality, and the Hilbert curve's defining property."""

from __future__ import annotations

import pytest
import torch

from pointdistill.models.scene.serialization import (
    ORDERS,
    batch_depth,
    encode,
    hilbert_code,
    scene_sequence,
    serialize,
)


def reference_z(x: int, y: int, z: int, depth: int) -> int:
    code = 0
    for bit in range(depth):
        code |= ((x >> bit) & 1) << (3 * bit + 2) | ((y >> bit) & 1) << (3 * bit + 1) | ((z >> bit) & 1) << (3 * bit)
    return code


def reference_hilbert(point: list[int], depth: int) -> int:
    """Skilling's AxestoTranspose on one point, then the transpose read out bit by bit (x most significant)."""
    axes = list(point)
    top = 1 << (depth - 1)
    q = top
    while q > 1:
        p = q - 1
        for i in range(3):
            if axes[i] & q:
                axes[0] ^= p
            else:
                t = (axes[0] ^ axes[i]) & p
                axes[0] ^= t
                axes[i] ^= t
        q >>= 1
    for i in range(1, 3):
        axes[i] ^= axes[i - 1]
    t, q = 0, top
    while q > 1:
        if axes[2] & q:
            t ^= q - 1
        q >>= 1
    axes = [a ^ t for a in axes]
    code = 0
    for bit in range(depth - 1, -1, -1):
        for a in axes:
            code = (code << 1) | ((a >> bit) & 1)
    return code


def reference_code(grid: torch.Tensor, batch: torch.Tensor, order: str) -> list[int]:
    depth = max(1, int(grid.max()).bit_length())
    scene_depth = {s: max(1, int(grid[batch == s].max()).bit_length()) for s in batch.unique().tolist()}
    codes = []
    for (x, y, z), scene in zip(grid.tolist(), batch.tolist()):
        if order.endswith("-trans"):
            x, y = y, x
        if order.startswith("z"):
            curve = reference_z(x, y, z, depth)
        else:
            curve = reference_hilbert([x, y, z], scene_depth[scene])
        codes.append((scene << (3 * depth)) | curve)
    return codes


@pytest.mark.parametrize("order", ORDERS)
def test_codes_equal_the_bit_by_bit_reference(order: str) -> None:
    generator = torch.Generator().manual_seed(1)
    small = torch.randint(0, 5, (40, 3), generator=generator)
    large = torch.randint(0, 9, (60, 3), generator=generator)  # another depth: each scene has its own curve
    grid = torch.cat([small, large])
    batch = torch.cat([torch.zeros(40), torch.ones(60)]).long()
    point_depth = torch.tensor([3] * 40 + [4] * 60)
    code = encode(grid, batch, order, batch_depth(grid), point_depth)
    assert code.tolist() == reference_code(grid, batch, order)
    assert serialize(grid, batch, 2, (order,)).code[0].tolist() == reference_code(grid, batch, order)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_hilbert_visits_a_full_cube_once_in_unit_steps(depth: int) -> None:
    side = 1 << depth
    grid = torch.stack(torch.meshgrid(*[torch.arange(side)] * 3, indexing="ij"), dim=-1).reshape(-1, 3)
    code = hilbert_code(grid, depth)
    assert torch.equal(code.sort().values, torch.arange(side**3))
    path = grid[code.argsort()]
    assert torch.equal((path[1:] - path[:-1]).abs().sum(dim=1), torch.ones(side**3 - 1, dtype=torch.long))


@pytest.mark.parametrize("order", ORDERS)
def test_curve_orders_keep_neighbours_close(order: str) -> None:
    generator = torch.Generator().manual_seed(0)
    grid = torch.randint(0, 64, (3000, 3), generator=generator)
    grid[:, 2] = grid[:, 0] // 4  # a slanted surface, like a scene
    batch = torch.zeros(3000, dtype=torch.long)
    serial = serialize(grid, batch, 1, (order,))

    def mean_step(sequence: torch.Tensor) -> float:
        path = grid[sequence].float()
        return (path[1:] - path[:-1]).abs().sum(dim=1).mean().item()

    assert mean_step(serial.order[0]) < 0.2 * mean_step(torch.randperm(3000, generator=generator))


def test_orders_are_permutations_with_inverses_and_scenes_stay_contiguous() -> None:
    grid = torch.randint(0, 20, (500, 3))
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor([100, 150, 250]))
    serial = serialize(grid, batch, 3)
    for order, inverse in zip(serial.order, serial.inverse):
        assert torch.equal(order.sort().values, torch.arange(500))
        assert torch.equal(order[inverse], torch.arange(500))
        assert torch.equal(batch[order], batch)


def test_depth_limit_is_enforced() -> None:
    with pytest.raises(ValueError, match="bits"):
        batch_depth(torch.tensor([[1 << 16, 0, 0]]))


def test_each_scene_can_follow_its_own_order() -> None:
    generator = torch.Generator().manual_seed(4)
    sizes = (40, 25, 33)
    grid = torch.cat([torch.randint(0, 2 ** (3 + i), (n, 3), generator=generator) for i, n in enumerate(sizes)])
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    choice = torch.tensor([2, 0, 3])
    mixed = scene_sequence(grid, batch, 3, ORDERS, choice)
    start = 0
    for scene, n in enumerate(sizes):
        alone = serialize(grid, batch, 3, (ORDERS[int(choice[scene])],)).order[0]
        expected = alone[(batch[alone] == scene)]
        assert torch.equal(mixed[start : start + n], expected)
        start += n
