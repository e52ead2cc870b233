"""The packed cache written by :func:`pointdistill.data.pack.pack_dataset`: memory-mapped .npy shards.

Layout (all plain .npy, no pickles)::

    index.json                          format, version, classes, splits -> shards, fields -> dtype
    <split>-<k>-<field>.npy             per-point fields flat [total_points, ...]; per-sample fields [count]
    <split>-<k>-offsets.npy             int64 [count + 1]: sample i is rows offsets[i]:offsets[i+1]
    <split>-<k>-name.npy                unicode [count]

Shards are opened with ``mmap_mode="r"`` on first access in each process: opening reads only index.json, and
data-loader workers share the page cache instead of each holding a copy.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np


from pointdistill.data.base import DatasetSource
from pointdistill.data.readers.chunked import Chunk, ChunkedSplit
from pointdistill.data.readers.common import load_npy, require_file
from pointdistill.errors import DataError

FORMAT = "packed"
INDEX_NAME = "index.json"
PACKED_FORMAT = "pointdistill-packed"
VERSION = 1


def locate(path: Path) -> Path | None:
    path = Path(path)
    root = path.parent if path.name == INDEX_NAME else path
    index = root / INDEX_NAME
    if not index.is_file():
        return None
    try:
        return root if json.loads(index.read_text(encoding="utf-8")).get("format") == PACKED_FORMAT else None
    except (OSError, ValueError, AttributeError):
        return None


class PackedRows:
    """One shard's memory maps; per-point fields are sliced by the offsets."""

    def __init__(self, root: Path, shard: dict[str, Any], fields: dict[str, dict[str, Any]]) -> None:
        files = shard["files"]
        self.offsets = load_npy(root / files["offsets"]).tolist()  # small: count + 1 ints
        self.names = load_npy(root / files["name"]).tolist()
        # Plain ndarray views of the maps: slicing np.memmap objects costs more than reading the rows.
        self.columns = {field: np.asarray(load_npy(root / files[field], mmap=True)) for field in fields}
        self.per_point = {field: spec["per_point"] for field, spec in fields.items()}
        if len(self.offsets) != shard["count"] + 1 or len(self.names) != shard["count"]:
            raise DataError(root / files["offsets"], "shard does not match index.json (sample count)")
        for field, column in self.columns.items():
            expected = shard["points"] if self.per_point[field] else shard["count"]
            if len(column) != expected:
                raise DataError(root / files[field], f"shard has {len(column)} rows, index.json says {expected}")

    def row(self, index: int) -> dict[str, Any]:
        start, stop = self.offsets[index], self.offsets[index + 1]
        fields: dict[str, Any] = {"name": self.names[index]}
        for field, column in self.columns.items():
            fields[field] = column[start:stop] if self.per_point[field] else column[index]
        return fields


def read_index(root: Path) -> dict[str, Any]:
    path = require_file(root / INDEX_NAME)
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(path, f"not a readable index: {error}") from None
    if not isinstance(index, dict) or index.get("format") != PACKED_FORMAT:
        raise DataError(path, f"not a packed dataset index (format must be {PACKED_FORMAT!r})")
    if index.get("version") != VERSION:
        raise DataError(path, f"packed format version {index.get('version')} is not supported (expected {VERSION})")
    return index


def read(path: Path) -> DatasetSource:
    """Open the index; check every shard file exists (a stat, not a read)."""
    root = locate(Path(path))
    if root is None:
        raise DataError(path, f"not a packed dataset: expected {INDEX_NAME} written by 'pointdistill data pack'")
    index = read_index(root)
    classes = list(index["classes"])
    splits = {}
    try:
        for split, spec in index["splits"].items():
            chunks = []
            for number, shard in enumerate(spec["shards"]):
                for file in shard["files"].values():
                    require_file(root / file)
                chunks.append(Chunk(origin=f"{root}:{split}/{number}", length=int(shard["count"]),
                                    open=partial(PackedRows, root, shard, spec["fields"])))
            splits[split] = ChunkedSplit(chunks, len(classes))
    except (KeyError, TypeError, AttributeError) as error:
        raise DataError(root / INDEX_NAME, f"malformed index: missing or bad entry {error}") from None
    info = dict(index.get("info", {}))
    info.update({"source_format": index.get("source_format"), "num_points": index.get("num_points"),
                 "dtype": index.get("dtype")})
    return DatasetSource(FORMAT, root, classes, splits, info=info)
