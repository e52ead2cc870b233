"""Patchify: centres come from FPS, neighbourhoods from k-NN, expressed relative to the centre."""

from __future__ import annotations

import torch

from pointdistill.ops import farthest_point_sample, gather_points, group_patches, knn


def test_patches_are_centred_knn_neighbourhoods_of_fps_centres() -> None:
    points = torch.rand(3, 256, 3)
    patches = group_patches(points, 16, 8)
    assert patches.neighborhoods.shape == (3, 16, 8, 3)
    centres = gather_points(points, farthest_point_sample(points, 16))
    assert torch.equal(patches.centers, centres)
    _, idx = knn(centres, points, 8)
    assert torch.equal(patches.index, idx)
    assert torch.allclose(patches.neighborhoods + centres.unsqueeze(2), gather_points(points, idx))
    assert torch.allclose(patches.neighborhoods[:, :, 0], torch.zeros(3, 16, 3))


def test_gradients_flow_to_coordinates() -> None:
    points = torch.rand(1, 64, 3, requires_grad=True)
    group_patches(points, 4, 8).neighborhoods.square().sum().backward()
    assert points.grad is not None and points.grad.abs().sum() > 0


def test_too_few_points_for_the_groups_is_rejected() -> None:
    try:
        group_patches(torch.rand(1, 10, 3), 16, 4)
    except ValueError as exc:
        assert "fewer than the 16 groups" in str(exc)
    else:
        raise AssertionError("expected a ValueError")
