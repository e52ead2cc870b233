"""The synthetic data as a :class:`~pointdistill.data.base.DatasetSource` whose samples are made on access.

Sample ``i`` of split ``s`` is a pure function of ``(seed, s, i)``: its random stream is seeded from that triple
(train and test use different stream keys, so their shapes are disjoint), nothing is generated up front, and
data-loader workers produce samples in parallel without sharing a random state. Labels cycle through the classes
(``label = i % num_classes``) so every split is balanced. Scan ``i`` is a scan of the very object of shape ``i``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pointdistill.data.base import DatasetSource, LazySplit, Sample
from pointdistill.data.synthetic.scans import scan_mesh
from pointdistill.data.synthetic.scenes import SCENE_CLASSES, generate_scene
from pointdistill.data.synthetic.shapes import (
    CLASSES,
    NUM_PARTS,
    PART_NAMES,
    build_shape,
    global_part_names,
    part_offset,
    sample_shape,
)
from pointdistill.errors import ConfigError

KINDS = ("shapes", "scans", "scenes")
DEFAULT_POINTS: dict[str, int | None] = {"shapes": 1024, "scans": 2048, "scenes": None}
SPLITS = ("train", "test")
_SPLIT_KEY = {"train": 0, "test": 1}
_STREAM_SHAPE, _STREAM_SCAN, _STREAM_SCENE = 0, 1, 2


def sample_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The random stream of one sample: independent of every other (seed, split, index, stream)."""
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_KEY[split], index, stream]))


def generate(kind: str, seed: int, split: str, index: int, num_points: int | None = None) -> Sample:
    """Sample ``index`` of ``split``; ``num_points`` None means the kind's default (scenes: by surface density)."""
    if kind not in KINDS or split not in _SPLIT_KEY:
        raise ConfigError(f"no synthetic {kind!r} split {split!r} (kinds: {', '.join(KINDS)}; splits: train, test)")
    n = DEFAULT_POINTS[kind] if num_points is None else num_points
    if kind == "scenes":
        sample = generate_scene(sample_rng(seed, split, index, _STREAM_SCENE), n)
        sample["name"] = f"scene_{split}_{index:06d}"
        return sample
    label = index % len(CLASSES)
    shape_rng = sample_rng(seed, split, index, _STREAM_SHAPE)
    name = f"{CLASSES[label]}_{split}_{index:06d}"
    if kind == "shapes":
        points, part = sample_shape(label, shape_rng, n)
        return {"points": points, "label": label, "part": part, "name": name}
    scan = scan_mesh(build_shape(label, shape_rng), label, sample_rng(seed, split, index, _STREAM_SCAN), n)
    return {"points": scan.points, "label": label, "mask": scan.mask, "name": f"scan_{name}"}


class SampleMaker:
    """``index -> sample`` for one split: a small picklable callable, so the lazy split can go to worker processes."""

    def __init__(self, kind: str, seed: int, split: str, num_points: int | None) -> None:
        self.kind, self.seed, self.split, self.num_points = kind, seed, split, num_points

    def __call__(self, index: int) -> Sample:
        return generate(self.kind, self.seed, self.split, index, self.num_points)


def split_sizes(count: int, test_fraction: float) -> dict[str, int]:
    """Train/test sizes: ``round(count * test_fraction)`` test samples, at least one in each split when possible."""
    test = int(round(count * test_fraction))
    if test_fraction > 0 and count >= 2:
        test = min(max(test, 1), count - 1)
    return {"train": count - test, "test": test}


def _check(kind: str, count: int, seed: int, num_points: int | None, test_fraction: float) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown synthetic kind {kind!r} (choose from {', '.join(KINDS)})")
    if int(count) != count or count < 1:
        raise ConfigError(f"synthetic count must be a positive integer, got {count!r}")
    if int(seed) != seed or seed < 0:
        raise ConfigError(f"synthetic seed must be a non-negative integer, got {seed!r}")
    if num_points is not None and (int(num_points) != num_points or num_points < 1):
        raise ConfigError(f"synthetic num_points must be a positive integer, got {num_points!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"synthetic test_fraction must lie in [0, 1), got {test_fraction!r}")


def _info(kind: str, seed: int, num_points: int | None, sizes: dict[str, int]) -> dict[str, Any]:
    points = DEFAULT_POINTS[kind] if num_points is None else num_points
    info: dict[str, Any] = {"kind": kind, "seed": seed, "num_points": points, "sizes": sizes}
    if kind == "scenes":
        info.update(units="m", up_axis="z", ignore_index=-1, instance_none=-1)
    else:
        info.update(
            up_axis="y",
            part_names=PART_NAMES,
            part_offsets={c: part_offset(c) for c in CLASSES},
            num_parts=NUM_PARTS,
            global_part_names=global_part_names(),
        )
    if kind == "scans":
        info["mask"] = "-1 = background, otherwise the class index of the scanned object"
    return info


def synthetic_source(
    kind: str = "shapes",
    count: int = 4096,
    seed: int = 0,
    num_points: int | None = None,
    test_fraction: float = 0.25,
) -> DatasetSource:
    """The embedded procedural dataset: ``count`` samples split into ``train`` and ``test``, generated lazily.

    ``kind`` is ``shapes`` (clean clouds with part labels, default 1024 points), ``scans`` (partial scans with
    background, default 2048 points) or ``scenes`` (rooms, 20k-60k points by surface density unless
    ``num_points`` is given). ``classes`` are the object classes, or the semantic classes for scenes.
    """
    _check(kind, count, seed, num_points, test_fraction)
    sizes = split_sizes(int(count), test_fraction)
    seed = int(seed)
    splits = {split: LazySplit(range(sizes[split]), SampleMaker(kind, seed, split, num_points)) for split in SPLITS}
    classes = list(SCENE_CLASSES) if kind == "scenes" else list(CLASSES)
    info = _info(kind, seed, num_points, sizes)
    return DatasetSource("synthetic", Path(f"synthetic:{kind}"), classes, splits, info)
