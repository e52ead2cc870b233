"""ModelNet40/10 ``normal_resampled`` (PointNet++ release): one ``x,y,z,nx,ny,nz`` text file per shape.

The optional ``modelnet40_{split}_8192pts_fps.dat`` caches (pickles written by the PointNet++/Point-BERT code)
are read with the restricted unpickler, never with ``pickle.load``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pointdistill.data.base import DatasetSource, LazySplit, Sample
from pointdistill.data.readers.common import find_root, load_table, make_sample, read_lines
from pointdistill.data.readers.safe_pickle import safe_load_pickle
from pointdistill.errors import DataError

FORMAT = "modelnet40_normal"
UPSTREAM_NAMES = ("modelnet40_normal_resampled", "modelnet10_normal_resampled")
VARIANTS = ("modelnet40", "modelnet10")
SPLITS = ("train", "test")


def _has_variant(path: Path, variant: str) -> bool:
    return (path / f"{variant}_shape_names.txt").is_file()


def locate(path: Path) -> Path | None:
    return find_root(path, UPSTREAM_NAMES, lambda p: any(_has_variant(p, v) for v in VARIANTS))


def _cache_path(root: Path, variant: str, split: str, cache_points: int) -> Path:
    return root / f"{variant}_{split}_{cache_points}pts_fps.dat"


def _load_text(item: tuple[Path, int, str], num_classes: int, num_points: int | None) -> Sample:
    path, label, name = item
    table = load_table(path, delimiter=",", min_columns=3)
    if num_points is not None:
        table = table[:num_points]
    fields: dict[str, Any] = {"points": table[:, :3], "label": label}
    if table.shape[1] >= 6:
        fields["normals"] = table[:, 3:6]
    return make_sample(fields, name, path, num_classes)


def _text_split(root: Path, variant: str, split: str, label_of: dict[str, int], num_points: int | None) -> LazySplit:
    items = []
    for shape_id in read_lines(root / f"{variant}_{split}.txt"):
        class_name = shape_id.rsplit("_", 1)[0]
        if class_name not in label_of:
            raise DataError(root / f"{variant}_{split}.txt", f"id {shape_id!r} names unknown class {class_name!r}")
        items.append((root / class_name / f"{shape_id}.txt", label_of[class_name], shape_id))
    return LazySplit(items, partial(_load_text, num_classes=len(label_of), num_points=num_points))


def read_cache(path: Path) -> tuple[list[np.ndarray], list[int]]:
    """Read a ``*_fps.dat`` cache: a pickled ``[list_of_points_arrays, list_of_labels]`` (safely)."""
    value = safe_load_pickle(path)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise DataError(path, "expected a pickled pair (list of point arrays, list of labels)")
    clouds, labels = value
    if not isinstance(clouds, (list, tuple, np.ndarray)) or not isinstance(labels, (list, tuple, np.ndarray)):
        raise DataError(path, "expected a pickled pair (list of point arrays, list of labels)")
    if len(clouds) != len(labels):
        raise DataError(path, f"{len(clouds)} clouds but {len(labels)} labels")
    return list(clouds), list(labels)


def _load_cached(item: tuple[np.ndarray, Any, str, str], num_classes: int, num_points: int | None) -> Sample:
    cloud, label, name, origin = item
    table = np.asarray(cloud)
    if table.ndim != 2:
        raise DataError(origin, f"expected a cloud of shape [N, C], got {list(table.shape)}")
    if num_points is not None:
        table = table[:num_points]
    fields: dict[str, Any] = {"points": table, "label": label}
    if table.shape[1] >= 6:
        fields["normals"] = table[:, 3:6]
    return make_sample(fields, name, origin, num_classes)


def _cache_split(path: Path, ids: list[str] | None, num_classes: int, num_points: int | None) -> LazySplit:
    """The cache stores no ids; PointNet++ wrote it in split-list order, so the list names the shapes."""
    clouds, labels = read_cache(path)
    if ids is None or len(ids) != len(clouds):
        ids = [f"{path.name}[{i}]" for i in range(len(clouds))]
    items = [(cloud, label, ids[i], f"{path}[{i}]") for i, (cloud, label) in enumerate(zip(clouds, labels))]
    return LazySplit(items, partial(_load_cached, num_classes=num_classes, num_points=num_points))


def read(
    path: Path,
    variant: str | None = None,
    num_points: int | None = None,
    use_cache: bool | None = None,
    cache_points: int = 8192,
) -> DatasetSource:
    """Open ModelNet40 (or ModelNet10 with ``variant="modelnet10"``; default: 40 when its lists exist).

    ``num_points`` keeps the first N points of each file (the PointNet++ convention). ``use_cache`` reads the
    ``*_{cache_points}pts_fps.dat`` caches instead of the text files (loaded whole: they are pickles); ``None``
    uses them only when the per-class text folders are absent.
    """
    root = locate(Path(path))
    if root is None:
        raise DataError(path, "not a modelnet40_normal_resampled layout: expected modelnet40_shape_names.txt")
    if variant is None:
        variant = next(v for v in VARIANTS if _has_variant(root, v))
    if variant not in VARIANTS:
        raise DataError(root, f"unknown ModelNet variant {variant!r} (choose from {list(VARIANTS)})")
    classes = read_lines(root / f"{variant}_shape_names.txt")
    label_of = {name: index for index, name in enumerate(classes)}
    if use_cache is None:
        use_cache = not any((root / name).is_dir() for name in classes) and any(
            _cache_path(root, variant, split, cache_points).is_file() for split in SPLITS)
    splits = {}
    for split in SPLITS:
        if use_cache:
            cache = _cache_path(root, variant, split, cache_points)
            list_file = root / f"{variant}_{split}.txt"
            ids = read_lines(list_file) if list_file.is_file() else None
            if cache.is_file():
                splits[split] = _cache_split(cache, ids, len(classes), num_points)
        elif (root / f"{variant}_{split}.txt").is_file():
            splits[split] = _text_split(root, variant, split, label_of, num_points)
    if not splits:
        wanted = "*_fps.dat caches" if use_cache else f"{variant}_train.txt / {variant}_test.txt"
        raise DataError(root, f"no splits found (expected {wanted})")
    info = {"variant": variant, "num_points": num_points, "cache": bool(use_cache)}
    return DatasetSource(FORMAT, root, classes, splits, info=info)
