"""ModelNet40 HDF5 (PointNet release ``modelnet40_ply_hdf5_2048``): ``ply_data_{train,test}{i}.h5``.

Each file holds ``data`` [n, 2048, 3] and ``label`` [n, 1] (``normal`` when present is exposed too). A split
is the concatenation of its numbered files, read row by row on access. A single ``.h5`` file with ``data`` and
``label`` can also be opened on its own (split named from the file: train/test, else ``all``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pointdistill.data.base import DatasetSource
from pointdistill.data.readers.chunked import ChunkedSplit
from pointdistill.data.readers.common import find_root, natural_key, read_lines
from pointdistill.data.readers.hdf5 import h5_chunk, h5_keys, h5_read
from pointdistill.errors import DataError

FORMAT = "modelnet_h5"
UPSTREAM_NAMES = ("modelnet40_ply_hdf5_2048",)
_FILE = re.compile(r"^ply_data_(?P<split>[a-z]+)\d*\.h5$")
FIELDS = {"points": "data", "label": "label"}
OPTIONAL_FIELDS = {"normals": "normal"}


def _split_files(path: Path) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for file in sorted(path.glob("ply_data_*.h5"), key=lambda p: natural_key(p.name)):
        match = _FILE.match(file.name)
        if match:
            files.setdefault(match["split"], []).append(file)
    return files


def locate(path: Path) -> Path | None:
    """The folder of ``ply_data_*.h5`` files, or a single HDF5 file holding a ``data`` array."""
    path = Path(path)
    if path.is_file():
        if _FILE.match(path.name):
            return path.parent
        if path.suffix.lower() in (".h5", ".hdf5"):
            try:
                return path if "data" in h5_keys(path) else None
            except DataError:
                return None
        return None
    return find_root(path, UPSTREAM_NAMES, lambda p: bool(_split_files(p)))


def _classes(folder: Path, label_files: list[Path]) -> list[str]:
    names = folder / "shape_names.txt"
    if names.is_file():
        return read_lines(names)
    top = max(int(np.max(h5_read(file, "label"), initial=-1)) for file in label_files)
    return [str(index) for index in range(top + 1)]


def read(path: Path) -> DatasetSource:
    """Open the folder (or one file); class names come from ``shape_names.txt`` (label ids when absent)."""
    path = Path(path)
    if path.is_file() and not _FILE.match(path.name):
        split = next((s for s in ("train", "test") if s in path.stem.lower()), "all")
        files = {split: [path]}
        root = path.parent
    else:
        found = locate(path)
        if found is None:
            raise DataError(path, "not a ModelNet HDF5 layout: expected ply_data_{train,test}<i>.h5 files")
        root = found
        files = _split_files(root)
    classes = _classes(root, [file for group in files.values() for file in group])
    splits = {
        split: ChunkedSplit([h5_chunk(file, FIELDS, OPTIONAL_FIELDS) for file in group], len(classes))
        for split, group in files.items()
    }
    info = {"files": {split: [file.name for file in group] for split, group in files.items()}}
    return DatasetSource(FORMAT, root, classes, splits, info=info)
