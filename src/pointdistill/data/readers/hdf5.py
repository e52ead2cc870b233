"""HDF5 chunks: datasets are checked (keys, lengths) when a reader opens, rows are read one at a time later."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Mapping

import h5py

from pointdistill.data.readers.chunked import Chunk
from pointdistill.data.readers.common import require_file, unreadable
from pointdistill.errors import DataError


def _open_file(path: Path) -> h5py.File:
    require_file(path)
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise unreadable(path, "HDF5 file", error) from None


def h5_chunk(path: Path, required: Mapping[str, str], optional: Mapping[str, str] | None = None) -> Chunk:
    """A chunk over ``path``; ``required``/``optional`` map sample fields to HDF5 keys.

    Missing required keys and datasets of different lengths raise DataError now, so a broken file is reported
    when the dataset is opened rather than on the first sample.
    """
    with _open_file(path) as handle:
        missing = [key for key in required.values() if key not in handle]
        if missing:
            raise DataError(path, f"HDF5 file has no key {missing[0]!r} (keys: {sorted(handle.keys())})")
        keys = dict(required)
        keys.update({field: key for field, key in (optional or {}).items() if key in handle})
        lengths = {}
        for key in keys.values():
            node = handle[key]
            if not isinstance(node, h5py.Dataset) or node.ndim == 0:
                raise DataError(path, f"HDF5 key {key!r} is not an array")
            lengths[key] = node.shape[0]
    if len(set(lengths.values())) > 1:
        raise DataError(path, f"HDF5 datasets have different lengths: {lengths}")
    return Chunk(origin=str(path), length=next(iter(lengths.values())), open=partial(H5Rows, path, keys))


def h5_keys(path: Path) -> list[str]:
    with _open_file(path) as handle:
        return sorted(handle.keys())


def h5_read(path: Path, key: str) -> Any:
    """Read one whole (small) dataset, e.g. the labels of a single-file split."""
    with _open_file(path) as handle:
        if key not in handle:
            raise DataError(path, f"HDF5 file has no key {key!r}")
        return handle[key][()]


class H5Rows:
    """An open HDF5 file (one per process, see ChunkedSplit) serving one sample's fields per call."""

    def __init__(self, path: Path, keys: Mapping[str, str]) -> None:
        self.handle = _open_file(path)
        self.datasets = {field: self.handle[key] for field, key in keys.items()}

    def row(self, index: int) -> dict[str, Any]:
        return {field: dataset[index] for field, dataset in self.datasets.items()}

    def close(self) -> None:
        self.handle.close()
