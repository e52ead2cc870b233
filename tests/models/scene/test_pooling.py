"""Grid pooling: parent cells contain their children, the max equals a loop, one winner gets the gradient."""

from __future__ import annotations

import torch

from pointdistill.models.scene.pooling import GridPooling, pool_cells, segment_max, unpool
from pointdistill.models.scene.structure import SceneLevel


def two_scenes() -> SceneLevel:
    generator = torch.Generator().manual_seed(0)
    grid = torch.randint(0, 7, (120, 3), generator=generator)
    batch = torch.cat([torch.zeros(50), torch.ones(70)]).long()
    coord = (grid.double() + torch.rand(120, 3, generator=generator, dtype=torch.float64)) * 0.1
    return SceneLevel(coord, grid, batch, torch.tensor([50, 120]))


def test_every_child_maps_to_the_parent_cell_containing_it() -> None:
    torch.manual_seed(0)
    level = two_scenes()
    _, coarse, parent = GridPooling(4, 8)(torch.randn(120, 4), level)
    assert torch.equal(coarse.grid[parent], level.grid // 2)
    assert torch.equal(coarse.batch[parent], level.batch)
    cells = {(b, *g) for b, g in zip(level.batch.tolist(), (level.grid // 2).tolist())}
    assert coarse.num_points == len(cells)
    assert coarse.offset.tolist() == [int((coarse.batch == 0).sum()), coarse.num_points]
    assert torch.equal(coarse.batch, coarse.batch.sort().values)
    for cell in range(coarse.num_points):
        torch.testing.assert_close(coarse.coord[cell], level.coord[parent == cell].mean(dim=0))
    unpooled = unpool(torch.arange(coarse.num_points), parent)
    assert torch.equal(unpooled, parent)


def test_pooled_feature_is_the_cell_max_of_the_projection() -> None:
    torch.manual_seed(0)
    level = two_scenes()
    pool = GridPooling(4, 8)
    x = torch.randn(120, 4)
    feat, coarse, parent = pool(x, level)
    projected = pool.proj(x)
    expected = torch.stack([projected[parent == cell].max(dim=0).values for cell in range(coarse.num_points)])
    torch.testing.assert_close(feat, pool.act(pool.norm(expected)))


def test_the_max_sends_its_gradient_to_exactly_one_winner_per_cell() -> None:
    x = torch.tensor([[1.0, 5.0], [3.0, 5.0], [3.0, 0.0], [2.0, 2.0]], requires_grad=True)
    segment = torch.tensor([0, 0, 0, 1])
    out = segment_max(x, segment, 2)
    assert out.tolist() == [[3.0, 5.0], [2.0, 2.0]]
    out.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]


def test_cells_of_different_scenes_never_merge() -> None:
    grid = torch.tensor([[0, 0, 0], [1, 1, 1], [0, 0, 0]])
    parent, cells = pool_cells(grid, torch.tensor([0, 0, 1]))
    assert cells == 2 and parent.tolist() == [0, 0, 1]
