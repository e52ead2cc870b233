"""Scene folders in the Pointcept layout: ``root/<split>/<scene>/{coord,color,normal,segment,instance}.npy``.

Used for ScanNet, S3DIS (splits are then the areas) and custom scene sets. Arrays are memory-mapped; colour
(0-255) is scaled to [0, 1]. ``segment`` keeps -1 as ignore. Class names are not part of Pointcept's layout: they
are passed as ``classes``, or read from ``root/classes.json`` (a JSON list of names, as ``pointdistill data synth
scenes`` writes) when present; either way segment ids are then range-checked.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pointdistill.data.base import DatasetSource, LazySplit, Sample
from pointdistill.data.readers.common import load_npy, make_sample
from pointdistill.errors import DataError

FORMAT = "pointcept"
CLASSES_FILE = "classes.json"
FILES = {"points": "coord", "color": "color", "normals": "normal", "segment": "segment", "instance": "instance"}


def _scenes(split_dir: Path) -> list[Path]:
    return sorted(d for d in split_dir.iterdir() if d.is_dir() and (d / "coord.npy").is_file())


def _splits(root: Path) -> dict[str, list[Path]]:
    found = {d.name: _scenes(d) for d in sorted(root.iterdir()) if d.is_dir()}
    return {split: scenes for split, scenes in found.items() if scenes}


def locate(path: Path) -> Path | None:
    path = Path(path)
    return path if path.is_dir() and _splits(path) else None


def _load(scene: Path, root: Path, segment_file: str, classes: Sequence[str]) -> Sample:
    name = scene.relative_to(root).as_posix()
    fields: dict[str, Any] = {}
    for field, stem in {**FILES, "segment": segment_file}.items():
        file = scene / f"{stem}.npy"
        if field == "points" or file.is_file():
            fields[field] = load_npy(file, mmap=True)
    if "color" in fields:
        fields["color"] = np.asarray(fields["color"], dtype=np.float32) / 255.0
    sample = make_sample(fields, name, scene, 0)
    if classes and "segment" in sample:
        segment = sample["segment"]
        bad = (segment < -1) | (segment >= len(classes))
        if bad.any():
            raise DataError(scene / f"{segment_file}.npy",
                            f"segment id {int(segment[bad][0])} out of range [-1, {len(classes)})")
    return sample


def read_classes(file: Path) -> list[str]:
    """The class names of a ``classes.json``: a JSON list of strings."""
    try:
        names = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DataError(file, f"cannot read the class names: {error}") from None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(file, "expected a non-empty JSON list of class names")
    return names


def read(path: Path, segment_file: str = "segment", classes: Sequence[str] = ()) -> DatasetSource:
    """List the scenes of every split folder; ``segment_file`` picks e.g. ``segment200`` for ScanNet200.

    ``classes`` (given) wins over ``root/classes.json`` (found)."""
    root = locate(Path(path))
    if root is None:
        raise DataError(path, "not a Pointcept layout: expected <split>/<scene>/coord.npy")
    if not classes and (root / CLASSES_FILE).is_file():
        classes = read_classes(root / CLASSES_FILE)
    load = partial(_load, root=root, segment_file=segment_file, classes=list(classes))
    splits = {split: LazySplit(scenes, load) for split, scenes in _splits(root).items()}
    return DatasetSource(FORMAT, root, list(classes), splits, info={"segment_file": segment_file})
