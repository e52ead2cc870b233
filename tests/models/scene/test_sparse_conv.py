"""The pure-PyTorch submanifold convolution is a dense conv3d evaluated at occupied cells, per scene, in O(27 N)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pointdistill.models.scene.sparse_conv import SubMConv3d, neighbour_table


def dense_reference(conv: SubMConv3d, grid: torch.Tensor, x: torch.Tensor, side: int) -> torch.Tensor:
    """conv3d (padding 1) on the zero-filled dense grid, read at the occupied cells."""
    volume = torch.zeros(1, x.shape[1], side, side, side, dtype=x.dtype)
    volume[0, :, grid[:, 0], grid[:, 1], grid[:, 2]] = x.T
    weight = conv.weight.view(3, 3, 3, conv.in_channels, conv.out_channels).permute(4, 3, 0, 1, 2)
    out = F.conv3d(volume, weight, conv.bias, padding=1)
    return out[0, :, grid[:, 0], grid[:, 1], grid[:, 2]].T


def occupied_cells(count: int, side: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    flat = torch.randperm(side**3, generator=generator)[:count]
    return torch.stack([flat // side**2, flat // side % side, flat % side], dim=1)


def test_equals_dense_conv3d_on_occupied_cells_and_scenes_do_not_mix() -> None:
    torch.manual_seed(0)
    side, in_channels, out_channels = 6, 4, 5
    conv = SubMConv3d(in_channels, out_channels).double()
    torch.nn.init.normal_(conv.bias)
    grids = [occupied_cells(90, side, 1), occupied_cells(70, side, 2)]  # overlapping cells, different scenes
    feats = [torch.randn(90, in_channels, dtype=torch.float64), torch.randn(70, in_channels, dtype=torch.float64)]
    grid, x = torch.cat(grids), torch.cat(feats).requires_grad_()
    batch = torch.cat([torch.zeros(90), torch.ones(70)]).long()
    out = conv(x, neighbour_table(grid, batch))
    expected = torch.cat([dense_reference(conv, g, f, side) for g, f in zip(grids, x.split([90, 70]))])
    torch.testing.assert_close(out, expected)
    upstream = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, conv.weight), upstream)
    expected_grads = torch.autograd.grad(expected, (x, conv.weight), upstream)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)


def test_points_sharing_a_cell_read_the_first_point_of_the_neighbour_cell() -> None:
    grid = torch.tensor([[0, 0, 0], [1, 0, 0], [1, 0, 0], [0, 0, 0]])
    table = neighbour_table(grid, torch.zeros(4, dtype=torch.long)).dense()
    centre, plus_x, minus_x = 13, 22, 4  # offsets (0,0,0), (1,0,0), (-1,0,0)
    assert table[:, centre].tolist() == [0, 1, 1, 0]
    assert table[:, plus_x].tolist() == [1, 4, 4, 1]
    assert table[:, minus_x].tolist() == [4, 0, 0, 4]


def test_neighbour_table_memory_is_linear_in_the_points() -> None:
    sizes = {}
    for side in (20, 40):
        grid = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), torch.arange(2), indexing="ij"), -1)
        grid = grid.reshape(-1, 3)
        table = neighbour_table(grid, torch.zeros(grid.shape[0], dtype=torch.long))
        assert table.numel() <= 2 * 27 * grid.shape[0]
        assert all(rows.numel() <= grid.shape[0] for rows in table.rows)
        sizes[grid.shape[0]] = table.numel()
    (small, small_size), (large, large_size) = sorted(sizes.items())
    assert large_size / small_size < 1.1 * large / small
