"""DOS's views of a scene: two overlapping global crops, each augmented on its own and grid-masked.

Per scene (in the data workers, numpy, one stream per sample: :class:`~pointdistill.data.scene_batch.SceneSplitDataset`):

1. centre the scene horizontally with its floor at height 0 and voxel-sample it at the encoder's grid (one random
   point per cell), so the views hold what the encoder would keep anyway;
2. two views, each the nearest U(``view_fraction``) share of the scene's points (at most ``max_points``) to a
   random centre; the second centre is a point of the first view, so the views overlap and the cross-view term has
   matches;
3. every point keeps its pre-augmentation coordinate (``origin``): matching across views happens there, where the
   two views agree; then each view is augmented (:func:`~pointdistill.data.scene_transforms.build_scene_augment`)
   and centred horizontally;
4. masking: the view's occupied cells of ``mask_cell`` metres (on ``origin``) are drawn, a random ``mask_ratio``
   of them masked (never all); ``visible`` marks the points of the rest.

:func:`collate_dos_views` concatenates the views scene-major (scene 0 view 0, scene 0 view 1, scene 1 view 0, ...)
with offsets for the teacher, and builds the student's input as separate tensors holding the visible rows only:
the student is never handed a masked point, its coordinate or its feature, so no later code can leak one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from pointdistill.data.base import PointSplit
from pointdistill.data.loader import EpochSampler, ViewLoader, seeded_loader
from pointdistill.data.scene_batch import SceneSplitDataset, centre_points, channel_feature
from pointdistill.data.scene_transforms import SceneAugmentConfig, build_scene_augment
from pointdistill.data.transforms import Transform, axis_index
from pointdistill.errors import PointDistillError, TrainingError
from pointdistill.ops.voxel import grid_sample

NUM_VIEWS = 2


@dataclass(frozen=True)
class DOSViewConfig:
    """Grid size (the encoder's), feature channels, up axis, augmentation, crop share and cap, mask cell and ratio."""

    voxel_size: float
    channels: tuple[str, ...] = ("color", "normal")
    up: str = "z"
    augment: SceneAugmentConfig = field(default_factory=SceneAugmentConfig)
    view_fraction: tuple[float, float] = (0.4, 1.0)
    max_points: int = 65536
    mask_cell: float = 0.4
    mask_ratio: float = 0.7


def nearest_share(points: np.ndarray, centre: np.ndarray, count: int) -> np.ndarray:
    """Sorted indices of the ``count`` points nearest to ``centre``."""
    if count >= len(points):
        return np.arange(len(points))
    distance = np.einsum("ij,ij->i", points - centre, points - centre)
    return np.sort(np.argpartition(distance, count - 1)[:count])


def grid_mask(origin: np.ndarray, cell: float, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """``visible`` [N] bool: points outside a random ``ratio`` of the occupied ``cell``-metre cells (>= 1 kept)."""
    _, cells = np.unique(np.floor(origin / cell).astype(np.int64), axis=0, return_inverse=True)
    cells = cells.reshape(-1)
    count = int(cells.max()) + 1
    masked = min(count - 1, int(round(ratio * count)))
    hidden = np.zeros(count, dtype=bool)
    hidden[rng.permutation(count)[:masked]] = True
    return ~hidden[cells]


def make_dos_views(
    sample: dict[str, Any], config: DOSViewConfig, rng: np.random.Generator, augment: Transform, origin: str = ""
) -> list[dict[str, np.ndarray]]:
    """The two views of one scene: ``coord`` (augmented), ``feat``, ``origin`` (pre-augmentation) and ``visible``."""
    up = axis_index(config.up)
    scene = {key: value for key, value in sample.items() if isinstance(value, np.ndarray)}
    scene["points"] = centre_points(np.asarray(sample["points"], dtype=np.float32), up, floor=True)
    generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
    kept = grid_sample(torch.from_numpy(scene["points"]), config.voxel_size, mode="random", generator=generator)[0]
    keep = kept.numpy()
    points = scene["points"][keep]
    views: list[dict[str, np.ndarray]] = []
    centre = points[rng.integers(len(points))]
    for view in range(NUM_VIEWS):
        count = min(config.max_points, max(1, int(round(rng.uniform(*config.view_fraction) * len(points)))))
        rows = keep[nearest_share(points, centre, count)]
        crop = {key: value[rows] for key, value in scene.items() if len(value) == len(scene["points"])}
        original = crop["points"].copy()
        crop = augment.apply(crop, rng)
        crop["points"] = centre_points(crop["points"], up, floor=False)
        views.append({
            "coord": crop["points"].astype(np.float32),
            "feat": np.concatenate([channel_feature(crop, c, origin) if c != "coord" else crop["points"]
                                    for c in config.channels], axis=1),
            "origin": original,
            "visible": grid_mask(original, config.mask_cell, config.mask_ratio, rng),
        })
        if view == 0:
            centre = original[rng.integers(len(original))]
    return views


class DOSViewDataset(SceneSplitDataset):
    """``dataset[(epoch, index)]``: the two views of scene ``index`` from the stream ``[seed, epoch, index]``."""

    failure = "cannot make the DOS views"

    def __init__(self, split: PointSplit, config: DOSViewConfig, seed: int = 0) -> None:
        super().__init__(split, seed)
        self.config = config
        self.augment = build_scene_augment(config.augment)

    def prepare(self, sample: dict[str, Any], rng: np.random.Generator, origin: str) -> dict[str, Any]:
        for channel in self.config.channels:
            channel_feature(sample, channel, origin)
        return {"views": make_dos_views(sample, self.config, rng, self.augment, origin)}


def collate_dos_views(items: Sequence[dict[str, Any]] | PointDistillError) -> dict[str, torch.Tensor] | PointDistillError:
    """Concatenate the views of a batch, scene-major, into the teacher's and the student's inputs.

    - ``coord`` [N, 3], ``feat`` [N, C], ``origin`` [N, 3], ``visible`` [N] bool, ``offset`` [2B]: every point of
      every view (the teacher's input);
    - ``student_coord``, ``student_feat``, ``student_offset`` [2B]: the visible points only, in the same order;
      ``student_rows`` [M]: each student point's row in the full views (for matching and tests);
    - ``sample_key`` [B].
    """
    if isinstance(items, PointDistillError):
        return items
    if not items:
        raise ValueError("cannot collate an empty batch of scenes")
    views = [view for item in items for view in item["views"]]
    batch = {key: torch.from_numpy(np.concatenate([view[key] for view in views])) for key in
             ("coord", "feat", "origin", "visible")}
    counts = torch.tensor([len(view["coord"]) for view in views], dtype=torch.int64)
    batch["offset"] = counts.cumsum(0)
    visible = batch["visible"]
    rows = visible.nonzero().squeeze(1)
    batch["student_rows"] = rows
    batch["student_coord"] = batch["coord"][rows]
    batch["student_feat"] = batch["feat"][rows]
    view_of_point = torch.repeat_interleave(torch.arange(len(views)), counts)
    batch["student_offset"] = torch.bincount(view_of_point[rows], minlength=len(views)).cumsum(0)
    batch["sample_key"] = torch.tensor([int(item["sample_key"]) for item in items], dtype=torch.int64)
    return batch


def build_dos_loader(
    split: PointSplit,
    config: DOSViewConfig,
    batch_size: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> ViewLoader:
    """A training loader of DOS view batches for one rank: shuffled, last partial batch dropped, the per-sample
    streams and seeded workers of :func:`pointdistill.data.loader.build_loader`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    dataset = DOSViewDataset(split, config, seed)
    sampler = EpochSampler(len(dataset), seed, rank, world_size, shuffle=True, drop_last=True, batch_size=batch_size)
    if sampler.samples_per_rank < batch_size:
        raise TrainingError(f"{len(dataset)} scenes are too few for one batch of {batch_size} on each of "
                            f"{world_size} process(es)")
    return seeded_loader(dataset, sampler, batch_size, collate_dos_views, seed, rank, num_workers, True, pin_memory)

