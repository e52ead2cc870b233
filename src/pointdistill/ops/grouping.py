"""Patchify: FPS centres, k-NN neighbourhoods, each expressed relative to its centre (Point-MAE / Point-BERT)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pointdistill.ops.fps import farthest_point_sample
from pointdistill.ops.gather import gather_points
from pointdistill.ops.knn import knn


@dataclass
class Patches:
    """``neighborhoods`` [B, G, k, 3] centred points, ``centers`` [B, G, 3], ``index`` [B, G, k] into the cloud."""

    neighborhoods: torch.Tensor
    centers: torch.Tensor
    index: torch.Tensor


def group_patches(
    points: torch.Tensor,
    num_groups: int,
    group_size: int,
    *,
    lengths: torch.Tensor | None = None,
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> Patches:
    """Split clouds [B, N, 3] into ``num_groups`` patches of ``group_size`` points around FPS centres.

    Runs without gradients: patch membership is a discrete choice; gradients still flow into the
    neighbourhood coordinates through the final gather.
    """
    if points.shape[1] < num_groups:
        raise ValueError(f"cloud has {points.shape[1]} points, fewer than the {num_groups} groups requested")
    with torch.no_grad():
        center_idx = farthest_point_sample(
            points, num_groups, lengths=lengths, random_start=random_start, generator=generator
        )
        centers = gather_points(points, center_idx)
        _, index = knn(centers, points, group_size, ref_lengths=lengths)
    neighborhoods = gather_points(points, index) - centers.unsqueeze(2)
    return Patches(neighborhoods=neighborhoods, centers=centers, index=index)
