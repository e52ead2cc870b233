"""Geometry ops in pure PyTorch: batched, one code path for CPU and GPU, deterministic."""

from pointdistill.ops.fps import farthest_point_sample
from pointdistill.ops.gather import gather_points
from pointdistill.ops.grouping import Patches, group_patches
from pointdistill.ops.knn import ball_query, knn
from pointdistill.ops.voxel import grid_sample, voxel_centroids, voxel_grid_sample, voxelize

__all__ = [
    "Patches",
    "ball_query",
    "farthest_point_sample",
    "gather_points",
    "grid_sample",
    "group_patches",
    "knn",
    "voxel_centroids",
    "voxel_grid_sample",
    "voxelize",
]
