"""A whole dataset in one .npz: ``classes``, ``<split>_points`` [M, N, 3], ``<split>_labels``, ``<split>_names``.

Members stored uncompressed (``np.savez``) are memory-mapped straight out of the zip, so opening a 60 MB archive
reads a few header bytes and workers share the page cache; compressed members are loaded on first access.
Everything is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import struct
import zipfile
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from pointdistill.data.base import DatasetSource
from pointdistill.data.readers.chunked import Chunk, ChunkedSplit
from pointdistill.data.readers.common import require_file, unreadable
from pointdistill.errors import DataError

FORMAT = "npz"
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_POINTS_SUFFIX = "_points"


OPTIONAL_FIELDS = (("label", "labels"), ("name", "names"), ("normals", "normals"), ("part", "parts"), ("mask", "mask"))


def _read_header(stream: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream)
    raise ValueError(f"unsupported .npy format version {version}")


def _members(path: Path) -> dict[str, zipfile.ZipInfo]:
    require_file(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return {info.filename[:-4]: info for info in archive.infolist() if info.filename.endswith(".npy")}
    except (zipfile.BadZipFile, OSError) as error:
        raise unreadable(path, ".npz archive", error) from None


def member_shape(path: Path, key: str) -> tuple[int, ...]:
    """Shape of one member, from its .npy header only."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as stream:
            return tuple(_read_header(stream)[0])
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as error:
        raise DataError(path, f"corrupt member {key!r}: {error}") from None


def member_array(path: Path, key: str) -> np.ndarray:
    """Member ``key``: memory-mapped when stored uncompressed, else loaded (never unpickled)."""
    info = _members(path).get(key)
    if info is None:
        raise DataError(path, f"archive has no key {key!r}")
    try:
        if info.compress_type == zipfile.ZIP_STORED:
            with path.open("rb") as raw:
                raw.seek(info.header_offset)
                signature, name_length, extra_length = _LOCAL_HEADER.unpack(raw.read(_LOCAL_HEADER.size))
                if signature != b"PK\x03\x04":
                    raise ValueError("bad zip local header")
                raw.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
                shape, fortran, dtype = _read_header(raw)
                offset = raw.tell()
            if dtype.hasobject:
                raise ValueError("object arrays are not allowed")
            if offset + int(np.prod(shape)) * dtype.itemsize > path.stat().st_size:
                raise ValueError("member is truncated")
            return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
        with np.load(path, allow_pickle=False) as archive:
            return archive[key]
    except (ValueError, OSError, EOFError, struct.error, zipfile.BadZipFile) as error:
        raise DataError(path, f"corrupt member {key!r}: {error}") from None


class NpzRows:
    """One split's members, opened once per process."""

    def __init__(self, path: Path, keys: dict[str, str]) -> None:
        self.columns = {field: member_array(path, key) for field, key in keys.items()}

    def row(self, index: int) -> dict[str, Any]:
        return {field: column[index] for field, column in self.columns.items()}


def locate(path: Path) -> Path | None:
    path = Path(path)
    if path.is_file() and path.suffix == ".npz":
        try:
            return path if any(key.endswith(_POINTS_SUFFIX) for key in _members(path)) else None
        except DataError:
            return None
    return None


def read(path: Path) -> DatasetSource:
    """Open every ``<split>_points`` member as a split; only headers (and the class names) are read now."""
    path = Path(path)
    members = _members(path)
    split_names = [key[: -len(_POINTS_SUFFIX)] for key in members if key.endswith(_POINTS_SUFFIX)]
    if not split_names:
        raise DataError(path, f"not a dataset .npz: no '<split>_points' keys (keys: {sorted(members)})")
    if "classes" in members:
        classes = [str(name) for name in member_array(path, "classes").tolist()]
    else:
        classes = []
    splits = {}
    for split in split_names:
        shape = member_shape(path, f"{split}_points")
        if len(shape) != 3 or shape[2] < 3:
            raise DataError(path, f"{split}_points must be [M, N, 3], got {list(shape)}")
        keys = {"points": f"{split}_points"}
        for field, suffix in OPTIONAL_FIELDS:
            key = f"{split}_{suffix}"
            if key in members:
                if member_shape(path, key)[:1] != shape[:1]:
                    raise DataError(path, f"{key} has {member_shape(path, key)[0]} rows, {split}_points {shape[0]}")
                keys[field] = key
        if "label" in keys and not classes:
            raise DataError(path, f"{split}_labels present but no 'classes' key naming the classes")
        chunk = Chunk(origin=f"{path}:{split}", length=shape[0], open=partial(NpzRows, path, keys))
        splits[split] = ChunkedSplit([chunk], len(classes))
    return DatasetSource(FORMAT, path, classes, splits, info={})
