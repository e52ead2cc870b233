"""Any folder of shapes: meshes (surface-sampled) and point files, labelled by sub-folder when there is one.

Layouts understood (split names: train / val / test):

- ``root/<file>``                      unlabelled, split ``all``
- ``root/<class>/**/<file>``           labelled, split ``all``
- ``root/<split>/<class>/**/<file>``   labelled, one split per folder (``root/<split>/<file>``: unlabelled)
- ``root/<class>/<split>/**/<file>``   labelled (the ModelNet mesh layout under any name)

Loose files beside class folders are not samples (a README.txt must not become one); they are listed in
``info["ignored"]``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from pointdistill.data.base import DatasetSource, LazySplit, Sample
from pointdistill.data.readers.common import make_sample, natural_key
from pointdistill.data.readers.mesh import file_rng, load_mesh, sample_surface
from pointdistill.data.readers.pointfiles import MESH_SUFFIXES, POINT_LOADERS
from pointdistill.errors import DataError

FORMAT = "folder"
SUFFIXES = tuple(POINT_LOADERS) + MESH_SUFFIXES
SPLIT_NAMES = ("train", "val", "test")


def is_shape_file(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES and path.is_file() and not path.name.startswith(".")


def _files(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted((f for f in found if is_shape_file(f)), key=lambda f: natural_key(str(f.relative_to(folder))))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def locate(path: Path) -> Path | None:
    """A folder holding shape files at most three levels down."""
    path = Path(path)
    if not path.is_dir():
        return None
    for depth in range(4):
        pattern = "/".join(["*"] * (depth + 1))
        if any(is_shape_file(f) for f in path.glob(pattern)):
            return path
    return None


def _labelled(groups: dict[str, dict[str, list[Path]]]) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """split -> class -> files  =>  (sorted classes, split -> [(file, label)])."""
    classes = sorted({name for by_class in groups.values() for name in by_class})
    label_of = {name: index for index, name in enumerate(classes)}
    items = {split: [(f, label_of[c]) for c in sorted(by_class) for f in by_class[c]]
             for split, by_class in groups.items()}
    return classes, items


def _scan(root: Path) -> tuple[list[str], dict[str, list[tuple[Path, int]]], list[Path]]:
    """(classes, split -> [(file, label or -1)], ignored loose files)."""
    subdirs = _subdirs(root)
    loose = _files(root, recursive=False)
    if subdirs and all(d.name in SPLIT_NAMES for d in subdirs):
        groups = {d.name: {c.name: files for c in _subdirs(d) if (files := _files(c, True))} for d in subdirs}
        if any(groups.values()):
            classes, items = _labelled(groups)
            ignored = loose + [f for d in subdirs for f in _files(d, recursive=False)]
            return classes, items, ignored
        return [], {d.name: [(f, -1) for f in _files(d, False)] for d in subdirs}, loose
    if subdirs and any((c / s).is_dir() for c in subdirs for s in SPLIT_NAMES):
        by_split: dict[str, dict[str, list[Path]]] = {}
        for class_dir in subdirs:
            for split in SPLIT_NAMES:
                files = _files(class_dir / split, True) if (class_dir / split).is_dir() else []
                if files:
                    by_split.setdefault(split, {})[class_dir.name] = files
        classes, items = _labelled(by_split)
        return classes, items, loose
    by_class = {c.name: _files(c, True) for c in subdirs}
    if any(by_class.values()):
        classes, items = _labelled({"all": {c: f for c, f in by_class.items() if f}})
        return classes, items, loose
    return [], {"all": [(f, -1) for f in loose]}, []


def read_shape_file(path: Path, num_points: int = 1024, seed: int = 0, name: str | None = None) -> dict[str, np.ndarray]:
    """The fields of one point or mesh file: ``points`` (and ``normals`` for a sampled mesh surface).

    Meshes are surface-sampled to ``num_points`` with a generator fixed by ``name`` (default: the file stem) and
    ``seed``, so the same file always gives the same cloud; point files are returned as stored.
    """
    suffix = path.suffix.lower()
    if suffix in POINT_LOADERS:
        return {"points": POINT_LOADERS[suffix](path)}
    vertices, triangles = load_mesh(path)
    if triangles is None:
        return {"points": vertices}
    points, normals = sample_surface(vertices, triangles, num_points, file_rng(name or path.stem, seed), path)
    return {"points": points, "normals": normals}


def _load(item: tuple[Path, int], root: Path, num_classes: int, num_points: int, seed: int) -> Sample:
    path, label = item
    name = path.relative_to(root).with_suffix("").as_posix()
    fields = read_shape_file(path, num_points, seed, name)
    if label >= 0:
        fields["label"] = label
    return make_sample(fields, name, path, num_classes)


def read(path: Path, num_points: int = 1024, seed: int = 0) -> DatasetSource:
    """List the shape files (nothing is read yet); meshes are sampled to ``num_points`` when read, point files
    are returned whole."""
    root = locate(Path(path))
    if root is None:
        raise DataError(path, f"no shape files ({' '.join(SUFFIXES)}) in this folder or 3 levels below")
    if num_points < 1:
        raise DataError(path, f"num_points must be positive, got {num_points}")
    classes, items, ignored = _scan(root)
    load = partial(_load, root=root, num_classes=len(classes), num_points=num_points, seed=seed)
    splits = {split: LazySplit(split_items, load) for split, split_items in items.items() if split_items}
    if not splits:
        raise DataError(root, "no shape files in the class or split folders")
    info = {"num_points": num_points, "seed": seed, "ignored": [str(f.relative_to(root)) for f in ignored]}
    return DatasetSource(FORMAT, root, classes, splits, info=info)
