"""ModelNet10/40 meshes (Princeton release): ``ModelNet40/<class>/{train,test}/<class>_XXXX.off``.

Each mesh is surface-sampled when its sample is requested, with a generator fixed by (file, seed), so a shape
gives the same points every time it is read.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from pointdistill.data.base import DatasetSource, LazySplit, Sample
from pointdistill.data.readers.common import find_root, make_sample
from pointdistill.data.readers.mesh import file_rng, read_off, sample_surface
from pointdistill.errors import DataError

FORMAT = "modelnet_mesh"
UPSTREAM_NAMES = ("ModelNet40", "ModelNet10")
SPLITS = ("train", "test")


def _class_dirs(path: Path) -> list[Path]:
    return sorted(d for d in path.iterdir()
                  if d.is_dir() and any(next((d / split).glob("*.off"), None) for split in SPLITS))


def locate(path: Path) -> Path | None:
    return find_root(path, UPSTREAM_NAMES, lambda p: bool(_class_dirs(p)))


def _load(item: tuple[Path, int], num_classes: int, num_points: int, seed: int) -> Sample:
    path, label = item
    vertices, triangles = read_off(path)
    points, normals = sample_surface(vertices, triangles, num_points, file_rng(path.stem, seed), path)
    return make_sample({"points": points, "normals": normals, "label": label}, path.stem, path, num_classes)


def read(path: Path, num_points: int = 1024, seed: int = 0) -> DatasetSource:
    """List the .off files per class and split; nothing is parsed until a sample is read."""
    if num_points < 1:
        raise DataError(path, f"num_points must be positive, got {num_points}")
    root = locate(Path(path))
    if root is None:
        raise DataError(path, "not a ModelNet mesh layout: expected <class>/{train,test}/*.off folders")
    class_dirs = _class_dirs(root)
    classes = [d.name for d in class_dirs]
    load = partial(_load, num_classes=len(classes), num_points=num_points, seed=seed)
    splits = {}
    for split in SPLITS:
        items = [(file, label) for label, d in enumerate(class_dirs) for file in sorted((d / split).glob("*.off"))]
        if items:
            splits[split] = LazySplit(items, load)
    if not splits:
        raise DataError(root, "no .off files in any <class>/train or <class>/test folder")
    return DatasetSource(FORMAT, root, classes, splits, info={"num_points": num_points, "seed": seed})
