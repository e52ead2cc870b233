"""The one data contract every reader, the synthetic generators and the packed cache share.

A *sample* is a plain dict of NumPy arrays so that it pickles cheaply into data-loader workers:

- ``points``   float32 [N, 3]  xyz (always present)
- ``label``    int             class index into ``DatasetSource.classes`` (labelled object sets)
- ``part``     int64 [N]       per-point part label (ShapeNetPart, synthetic shapes)
- ``normals``  float32 [N, 3]  (when the format has them)
- ``mask``     int64 [N]       ScanObjectNN foreground mask: -1 = background, otherwise the object's points
- ``color``    float32 [N, 3]  scenes, in [0, 1]
- ``segment``  int64 [N]       scene semantic label (-1 = ignore)
- ``instance`` int64 [N]       scene instance id (-1 = none)
- ``name``     str             a stable identifier (file stem or id), used in error messages

A *split* is any object with ``__len__`` and ``__getitem__(i) -> sample``; a *source* groups the splits of one
dataset with its class names. Splits load lazily: reading the index of a million-file folder must not read the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from pointdistill.errors import DataError

Sample = dict[str, Any]

ViewTransform = Callable[[Sample, np.random.Generator], dict[str, np.ndarray]]
"""What a method runs on each sample in the data-loader workers: ``(sample, rng) -> fixed-shape arrays``."""


class PointSplit(Protocol):
    """One split of a dataset: random access to samples."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...


@dataclass
class DatasetSource:
    """A dataset as read from disk: its format name, root, class names and splits."""

    format: str
    root: Path
    classes: list[str]
    splits: dict[str, PointSplit]
    info: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> PointSplit:
        """Return split ``name`` or raise a DataError listing the splits that exist."""
        if name not in self.splits:
            raise DataError(self.root, f"no split {name!r} in this {self.format} dataset (has: {sorted(self.splits)})")
        return self.splits[name]

    @property
    def labelled(self) -> bool:
        return len(self.classes) > 0


class LazySplit:
    """A split backed by a list of items and a loader function ``load(item) -> sample``.

    Readers of one-file-per-shape layouts build one of these from their index files without touching the files.
    """

    def __init__(self, items: Sequence[Any], load: Callable[[Any], Sample]) -> None:
        self.items = list(items)
        self.load = load

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self.items) <= index < len(self.items):
            raise IndexError(index)
        return self.load(self.items[index])


class ArraySplit:
    """A split held as stacked arrays (npz, HDF5, synthetic batches): ``arrays[key][i]`` is sample i's field."""

    def __init__(self, arrays: dict[str, np.ndarray], names: Sequence[str] | None = None, origin: str = "") -> None:
        lengths = {k: len(v) for k, v in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(origin or "<arrays>", f"fields have different lengths: {lengths}")
        self.arrays = arrays
        self.names = list(names) if names is not None else None
        self.origin = origin

    def __len__(self) -> int:
        return len(self.arrays["points"])

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        sample: Sample = {}
        for key, values in self.arrays.items():
            value = values[index]
            if key == "label":
                sample[key] = int(value)
            elif key == "points" or key in ("normals", "color"):
                sample[key] = np.asarray(value, dtype=np.float32)
            else:
                sample[key] = np.asarray(value)
        sample["name"] = self.names[index] if self.names is not None else f"{self.origin}[{index}]"
        return sample


def validate_points(points: np.ndarray, origin: str | Path, min_points: int = 1) -> np.ndarray:
    """Check a cloud is float [N, 3] (extra columns dropped), finite and non-empty; return it as float32.

    Raised errors name ``origin`` (the file) and the problem, so ``data check`` can list bad files by name.
    """
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] < 3:
        raise DataError(origin, f"expected points of shape [N, 3], got {list(points.shape)}")
    points = points[:, :3].astype(np.float32, copy=False)
    if points.shape[0] < min_points:
        raise DataError(origin, f"cloud has {points.shape[0]} points, need at least {min_points}")
    if not np.isfinite(points).all():
        bad = int((~np.isfinite(points)).any(axis=1).sum())
        raise DataError(origin, f"{bad} point(s) have NaN or infinite coordinates")
    return points


def validate_label(label: int, num_classes: int, origin: str | Path) -> int:
    """Check a class label lies in [0, num_classes)."""
    label = int(label)
    if num_classes and not 0 <= label < num_classes:
        raise DataError(origin, f"label {label} out of range [0, {num_classes})")
    return label
