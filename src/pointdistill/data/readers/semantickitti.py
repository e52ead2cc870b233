"""SemanticKITTI raw layout: ``sequences/XX/velodyne/*.bin`` (float32 x, y, z, intensity) and
``sequences/XX/labels/*.label`` (uint32: low 16 bits semantic id, high 16 bits instance id).

Splits follow the official sequence split. By default ``segment`` is the standard 19-class learning map
(``semantic-kitti.yaml``), unlabelled/outlier -> -1; ``learning_map=False`` keeps the raw semantic ids.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from pointdistill.data.base import DatasetSource, LazySplit, Sample
from pointdistill.data.readers.common import find_root, make_sample, require_file
from pointdistill.errors import DataError

FORMAT = "semantickitti"
UPSTREAM_NAMES = ("dataset",)
SEQUENCE_SPLITS = {
    "train": ["00", "01", "02", "03", "04", "05", "06", "07", "09", "10"],
    "val": ["08"],
    "test": [f"{i:02d}" for i in range(11, 22)],
}
CLASSES = ["car", "bicycle", "motorcycle", "truck", "other-vehicle", "person", "bicyclist", "motorcyclist", "road",
           "parking", "sidewalk", "other-ground", "building", "fence", "vegetation", "trunk", "terrain", "pole",
           "traffic-sign"]
LEARNING_MAP = {
    0: -1, 1: -1, 10: 0, 11: 1, 13: 4, 15: 2, 16: 4, 18: 3, 20: 4, 30: 5, 31: 6, 32: 7, 40: 8, 44: 9, 48: 10, 49: 11,
    50: 12, 51: 13, 52: -1, 60: 8, 70: 14, 71: 15, 72: 16, 80: 17, 81: 18, 99: -1, 252: 0, 253: 6, 254: 5, 255: 7,
    256: 4, 257: 4, 258: 3, 259: 4,
}
"""Raw semantic id -> training class (index into CLASSES), -1 = ignored; moving classes fold into static ones."""

_LOOKUP = np.full(1 << 16, -2, dtype=np.int64)
for _raw, _mapped in LEARNING_MAP.items():
    _LOOKUP[_raw] = _mapped


def _sequences(root: Path) -> list[str]:
    folder = root / "sequences"
    if not folder.is_dir():
        return []
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and (d / "velodyne").is_dir())


def locate(path: Path) -> Path | None:
    path = Path(path)
    if path.name == "sequences" and _sequences(path.parent):
        return path.parent
    return find_root(path, UPSTREAM_NAMES, lambda p: bool(_sequences(p)))


def _read_raw(path: Path, dtype: type, what: str) -> np.ndarray:
    require_file(path)
    try:
        data = np.fromfile(path, dtype=dtype)
    except (OSError, ValueError) as error:
        raise DataError(path, f"cannot read {what}: {error}") from None
    if path.stat().st_size % np.dtype(dtype).itemsize:
        raise DataError(path, f"truncated {what}: size is not a multiple of {np.dtype(dtype).itemsize} bytes")
    return data


def _load(scan: Path, learning_map: bool) -> Sample:
    values = _read_raw(scan, np.float32, "velodyne scan")
    if values.size % 4:
        raise DataError(scan, "truncated velodyne scan: float count is not a multiple of 4 (x, y, z, intensity)")
    values = values.reshape(-1, 4)
    fields = {"points": values[:, :3], "intensity": values[:, 3]}
    label_file = scan.parent.parent / "labels" / f"{scan.stem}.label"
    if label_file.is_file():
        raw = _read_raw(label_file, np.uint32, "label file")
        if raw.size != len(values):
            raise DataError(label_file, f"{raw.size} labels for {len(values)} points")
        semantic = (raw & 0xFFFF).astype(np.int64)
        if learning_map:
            mapped = _LOOKUP[semantic]
            unknown = semantic[mapped == -2]
            if unknown.size:
                raise DataError(label_file, f"semantic id {int(unknown[0])} is not a SemanticKITTI class")
            semantic = mapped
        instance = (raw >> 16).astype(np.int64)
        fields["segment"] = semantic
        fields["instance"] = np.where(instance == 0, -1, instance)
    name = f"{scan.parent.parent.name}/{scan.stem}"
    return make_sample(fields, name, scan, 0)


def read(path: Path, learning_map: bool = True) -> DatasetSource:
    """List the scans of the sequences present, grouped by the official split; scans are read on access."""
    root = locate(Path(path))
    if root is None:
        raise DataError(path, "not a SemanticKITTI layout: expected sequences/<XX>/velodyne/*.bin")
    present = set(_sequences(root))
    load = partial(_load, learning_map=learning_map)
    splits = {}
    for split, sequences in SEQUENCE_SPLITS.items():
        scans = [scan for seq in sequences if seq in present
                 for scan in sorted((root / "sequences" / seq / "velodyne").glob("*.bin"))]
        if scans:
            splits[split] = LazySplit(scans, load)
    if not splits:
        raise DataError(root / "sequences", "no scans in the official sequences 00-21")
    info = {"learning_map": learning_map, "sequences": sorted(present)}
    return DatasetSource(FORMAT, root, list(CLASSES) if learning_map else [], splits, info=info)
