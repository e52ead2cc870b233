"""Scenes as the scene backbone eats them: voxel-sampled points concatenated over a batch, with offsets.

Pointcept's convention, no padding: ``coord`` [N, 3] and ``feat`` [N, C] of all scenes of a batch one after the
other and ``offset`` [B] the cumulative end of each scene's points. A scene goes through :func:`prepare_scene`:

1. centre it horizontally and put its lowest point at height 0 (Pointcept's ``CenterShift(apply_z=True)``), so
   the augmentations' rotations and scales act about the middle of the floor;
2. training only: augment (:mod:`pointdistill.data.scene_transforms`);
3. voxel-grid sampling (:func:`pointdistill.ops.grid_sample`): training keeps one random point per occupied cell,
   evaluation the first point of each cell and the ``inverse`` that maps every original point to its cell's kept
   point, so predictions reach every original point;
4. training only, with ``max_points``: keep the ``max_points`` points nearest to a random kept point (Pointcept's
   ``SphereCrop``), which caps memory on small machines (evaluation never crops: every point must be predicted);
5. centre horizontally again, and build ``feat`` from the configured channels.

Randomness: sample ``index`` of ``epoch`` uses ``numpy.random.default_rng([seed, epoch, index])``, the per-sample
stream of :mod:`pointdistill.data.loader`, so no two workers share a stream and the batches do not depend on the
number of workers. A bad scene reaches the main process as its DataError (see
:class:`~pointdistill.data.loader.KeyedDataset`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Sequence

import numpy as np
import torch

from pointdistill.data.base import DatasetSource, PointSplit, Sample
from pointdistill.data.loader import EpochSampler, KeyedDataset, ViewLoader, sample_key, seeded_loader
from pointdistill.data.scene_transforms import SceneAugmentConfig, build_scene_augment
from pointdistill.data.transforms import Transform, axis_index
from pointdistill.errors import ConfigError, DataError, PointDistillError, TrainingError
from pointdistill.ops.voxel import grid_sample

CHANNELS: dict[str, tuple[str, int]] = {"color": ("color", 3), "normal": ("normals", 3), "coord": ("points", 3),
                                        "intensity": ("intensity", 1)}
"""Feature channel -> (sample field, width). ``coord`` is the final (augmented, centred) coordinate."""

VOXEL_SIZE = {"indoor": 0.02, "outdoor": 0.05}
"""Pointcept's grid sizes in metres."""


@dataclass(frozen=True)
class SceneDataConfig:
    """How scenes become batches: grid size (m), feature channels, the training crop, the up axis, augmentation.

    ``max_points`` None keeps every voxel-sampled point (Pointcept's ScanNet preset crops at 102,400).
    """

    voxel_size: float = VOXEL_SIZE["indoor"]
    channels: tuple[str, ...] = ("color", "normal")
    max_points: int | None = None
    up: str = "z"
    augment: SceneAugmentConfig = field(default_factory=SceneAugmentConfig)

    def __post_init__(self) -> None:
        if not self.voxel_size > 0:
            raise ConfigError(f"scene voxel_size must be positive, got {self.voxel_size!r}")
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown or not self.channels:
            raise ConfigError(f"scene channels must be a non-empty list among {sorted(CHANNELS)}, got "
                              f"{list(self.channels)!r}")
        if self.max_points is not None and (int(self.max_points) != self.max_points or self.max_points < 1):
            raise ConfigError(f"scene max_points must be a positive integer or null, got {self.max_points!r}")
        try:
            axis_index(self.up)
        except ValueError as error:
            raise ConfigError(f"scene 'up': {error}") from None
        if self.augment.up != self.up:
            raise ConfigError(f"scene up axis {self.up!r} differs from the augmentation's {self.augment.up!r}")

    @property
    def in_channels(self) -> int:
        """Width of ``feat``: what the backbone's stem takes."""
        return sum(CHANNELS[c][1] for c in self.channels)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SceneDataConfig:
        """Build from a config mapping (``augment`` a nested mapping); unknown keys raise ConfigError."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown scene data key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        values = dict(values)
        up = values.get("up", "z")
        values["augment"] = SceneAugmentConfig.from_dict({"up": up, **values.get("augment", {})})
        if "channels" in values:
            values["channels"] = tuple(values["channels"])
        return cls(**values)


@dataclass
class SceneBatch:
    """A batch of scenes, concatenated (no padding).

    - ``coord`` float32 [N, 3], ``feat`` float32 [N, C], ``offset`` int64 [B]: cumulative ends of the scenes;
    - ``index`` int64 [N]: each point's index among its scene's original (pre-sampling) points;
    - ``segment`` int64 [N] or None: semantic label, -1 = ignore;
    - evaluation only: ``inverse`` int64 [M], for every original point of every scene the row of its kept point in
      this batch, ``original_offset`` int64 [B] the cumulative ends of the original points and
      ``original_segment`` int64 [M] (or None) their labels, so ``logits[inverse]`` scores every original point;
    - ``names`` the scenes' names, ``sample_key`` int64 [B] (:func:`pointdistill.data.loader.sample_key`).
    """

    coord: torch.Tensor
    feat: torch.Tensor
    offset: torch.Tensor
    index: torch.Tensor
    names: list[str]
    sample_key: torch.Tensor
    segment: torch.Tensor | None = None
    inverse: torch.Tensor | None = None
    original_offset: torch.Tensor | None = None
    original_segment: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return len(self.offset)

    def batch_index(self) -> torch.Tensor:
        """The scene id [N] of every point."""
        counts = torch.diff(self.offset, prepend=self.offset.new_zeros(1))
        return torch.repeat_interleave(torch.arange(len(counts), device=self.offset.device), counts)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> SceneBatch:
        """A copy with every tensor on ``device``."""
        moved = {item.name: getattr(self, item.name) for item in fields(self)}
        for name, value in moved.items():
            if isinstance(value, torch.Tensor):
                moved[name] = value.to(device, non_blocking=non_blocking)
        return SceneBatch(**moved)


def channel_feature(sample: Sample, channel: str, origin: str) -> np.ndarray:
    """The float32 [N, width] array of feature ``channel`` (a key of :data:`CHANNELS`) of a scene; a DataError
    naming ``origin`` and the channels the scene has when it lacks the field."""
    key, width = CHANNELS[channel]
    value = sample.get(key)
    if not isinstance(value, np.ndarray):
        have = [c for c, (k, _) in CHANNELS.items() if isinstance(sample.get(k), np.ndarray)]
        raise DataError(origin, f"feature channel {channel!r} needs the scene's {key!r}, which it does not have "
                                f"(channels available: {have}); choose other scene channels")
    return value.reshape(len(value), width).astype(np.float32, copy=False)


def centre_points(points: np.ndarray, up: int, floor: bool) -> np.ndarray:
    """Shift the horizontal bounding-box centre to 0 and, with ``floor``, the lowest point to height 0."""
    low, high = points.min(axis=0), points.max(axis=0)
    shift = (low + high) / 2.0
    shift[up] = low[up] if floor else 0.0
    return (points - shift).astype(np.float32)


def sphere_crop(points: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of the ``max_points`` points nearest to a random point (all of them if there are fewer)."""
    if len(points) <= max_points:
        return np.arange(len(points))
    centre = points[rng.integers(len(points))]
    distance = np.einsum("ij,ij->i", points - centre, points - centre)
    return np.sort(np.argpartition(distance, max_points - 1)[:max_points])


def prepare_scene(
    sample: Sample,
    config: SceneDataConfig,
    rng: np.random.Generator,
    train: bool,
    augment: Transform | None = None,
    origin: str = "",
) -> dict[str, Any]:
    """One scene as the arrays of one :class:`SceneBatch` entry (see the module notes for the steps).

    ``augment`` defaults to :func:`build_scene_augment` of ``config.augment`` (pass a prebuilt one to save the
    rebuild per scene); it is used in training only. ``origin`` names the scene in errors.
    """
    origin = origin or str(sample.get("name", "<scene>"))
    for channel in config.channels:
        channel_feature(sample, channel, origin)
    up = axis_index(config.up)
    count = len(sample["points"])
    scene = dict(sample)
    scene["points"] = centre_points(np.asarray(sample["points"], dtype=np.float32), up, floor=True)
    if train:
        scene = (augment or build_scene_augment(config.augment)).apply(scene, rng)
    generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
    kept, inverse = grid_sample(torch.from_numpy(np.ascontiguousarray(scene["points"])), config.voxel_size,
                                mode="random" if train else "first", generator=generator)
    keep = kept.numpy()
    if train and config.max_points is not None:
        keep = keep[sphere_crop(scene["points"][keep], config.max_points, rng)]
    scene["points"] = centre_points(scene["points"][keep], up, floor=False)
    item: dict[str, Any] = {
        "coord": scene["points"],
        "feat": np.concatenate([channel_feature(scene, c, origin)[keep] if c != "coord" else scene["points"]
                                for c in config.channels], axis=1),
        "index": keep.astype(np.int64),
        "name": str(sample.get("name", origin)),
    }
    if isinstance(sample.get("segment"), np.ndarray):
        item["segment"] = np.asarray(sample["segment"], dtype=np.int64)[keep]
    if not train:
        item["inverse"] = inverse.numpy()
        item["original_count"] = count
        if "segment" in item:
            item["original_segment"] = np.asarray(sample["segment"], dtype=np.int64)
    return item


class SceneSplitDataset(KeyedDataset):
    """Base of the scene datasets: each scene becomes an item by :meth:`prepare` from its own stream; a ValueError
    on the way becomes a DataError naming the scene (its path under ``root`` when given), and the item gets the
    scene's ``sample_key``."""

    failure = "cannot prepare the scene"
    """The start of the DataError's problem when :meth:`prepare` fails."""

    def __init__(self, split: PointSplit, seed: int = 0, root: str | None = None) -> None:
        super().__init__(split, seed)
        self.root = root

    def origin(self, sample: Sample, index: int) -> str:
        """How errors name the scene."""
        name = sample.get("name", index)
        return f"{self.root}/{name}" if self.root else str(name)

    def prepare(self, sample: Sample, rng: np.random.Generator, origin: str) -> dict[str, Any]:
        """The item of one scene, all randomness from ``rng``."""
        raise NotImplementedError

    def item(self, epoch: int, index: int) -> dict[str, Any]:
        sample = self.split[index]
        origin = self.origin(sample, index)
        try:
            item = self.prepare(sample, self.stream(epoch, index), origin)
        except ValueError as error:
            raise DataError(origin, f"{self.failure}: {error}") from None
        item["sample_key"] = sample_key(self.seed, epoch, index)
        return item


class SceneDataset(SceneSplitDataset):
    """Scenes of one split as :class:`SceneBatch` entries: ``dataset[(epoch, index)]`` (an int means epoch 0).

    ``train`` augments, samples one random point per voxel and crops to ``config.max_points``; otherwise the
    scene is only voxel-sampled, deterministically, and keeps its ``inverse``. Errors name the scene's path under
    the source's root.
    """

    def __init__(self, source: DatasetSource, split: str, config: SceneDataConfig, train: bool, seed: int = 0) -> None:
        super().__init__(source.split(split), seed, str(source.root))
        self.config = config
        self.train = train
        self.augment = build_scene_augment(config.augment)

    def prepare(self, sample: Sample, rng: np.random.Generator, origin: str) -> dict[str, Any]:
        return prepare_scene(sample, self.config, rng, self.train, self.augment, origin)


def _cat(items: Sequence[dict[str, Any]], key: str, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([item[key] for item in items])).to(dtype)


def _optional(items: Sequence[dict[str, Any]], key: str) -> torch.Tensor | None:
    present = [key in item for item in items]
    if not any(present):
        return None
    if not all(present):
        missing = [item["name"] for item in items if key not in item]
        raise DataError(missing[0], f"has no {key!r} while other scenes of its batch do")
    return _cat(items, key, torch.int64)


def collate_scenes(items: Sequence[dict[str, Any]] | PointDistillError) -> SceneBatch | PointDistillError:
    """Concatenate :func:`prepare_scene` outputs into a :class:`SceneBatch`; ``offset`` = cumulative point counts,
    ``inverse`` shifted by each scene's start so it indexes the batch's rows. A failed batch (an error from
    :meth:`SceneDataset.__getitems__`) passes through for the loader to raise."""
    if isinstance(items, PointDistillError):
        return items
    if not items:
        raise ValueError("cannot collate an empty batch of scenes")
    counts = np.array([len(item["coord"]) for item in items], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    batch = SceneBatch(
        coord=_cat(items, "coord", torch.float32),
        feat=_cat(items, "feat", torch.float32),
        offset=torch.from_numpy(np.cumsum(counts)),
        index=_cat(items, "index", torch.int64),
        names=[item["name"] for item in items],
        sample_key=torch.tensor([int(item.get("sample_key", 0)) for item in items], dtype=torch.int64),
        segment=_optional(items, "segment"),
    )
    if _optional(items, "inverse") is not None:
        original = np.array([item["original_count"] for item in items], dtype=np.int64)
        shift = np.repeat(starts, original)
        batch.inverse = torch.from_numpy(np.concatenate([item["inverse"] for item in items]) + shift)
        batch.original_offset = torch.from_numpy(np.cumsum(original))
        batch.original_segment = _optional(items, "original_segment")
    return batch


def build_scene_loader(
    source: DatasetSource,
    split: str,
    config: SceneDataConfig,
    batch_size: int,
    seed: int,
    train: bool = True,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool | None = None,
) -> ViewLoader:
    """A loader of :class:`SceneBatch` for one rank, on the machinery of :func:`pointdistill.data.loader.build_loader`
    (epoch-keyed sampler, per-sample streams, persistent seeded workers, worker errors raised as themselves).

    Training shuffles and drops the last partial batch; evaluation visits every scene once, in order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    dataset = SceneDataset(source, split, config, train, seed)
    sampler = EpochSampler(len(dataset), seed, rank, world_size, shuffle=train, drop_last=train,
                           batch_size=batch_size)
    if sampler.samples_per_rank < (batch_size if train else 1):
        raise TrainingError(f"split {split!r} has {len(dataset)} scenes: too few for one batch of {batch_size} on "
                            f"each of {world_size} process(es)")
    return seeded_loader(dataset, sampler, batch_size, collate_scenes, seed, rank, num_workers, train, pin_memory)
