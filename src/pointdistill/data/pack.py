"""Pack any source into memory-mapped .npy shards (the ``packed`` format) for fast, shared, pickle-free loading.

Reading 50k small files (or parsing text, sampling meshes) every epoch is the bottleneck of object pretraining;
a packed copy is read by memory maps that every data-loader worker shares. Writes go to a temporary folder that
is renamed into place at the end, so an interrupted pack never leaves a half-written dataset behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pointdistill.data.base import DatasetSource, PointSplit, Sample
from pointdistill.data.readers.common import FLOAT_FIELDS, INT_FIELDS, SCALAR_FLOAT_FIELDS
from pointdistill.data.readers.packed import INDEX_NAME, PACKED_FORMAT, VERSION
from pointdistill.errors import DataError

POINT_DTYPES = ("float16", "float32")


def file_stem(split: str) -> str:
    """Split names may hold '/' (few-shot folds: ``5way_10shot/0/train``); shard file names must not."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", split)


def _field_specs(sample: Sample, float_dtype: str, origin: str) -> dict[str, dict[str, Any]]:
    """How each field of the first sample is stored: dtype and whether it has one row per point."""
    count = len(sample["points"])
    specs: dict[str, dict[str, Any]] = {"points": {"dtype": float_dtype, "per_point": True, "shape": [3]}}
    for key, value in sample.items():
        if key in ("points", "name"):
            continue
        if key in FLOAT_FIELDS:
            specs[key] = {"dtype": float_dtype, "per_point": True, "shape": [3]}
        elif key in SCALAR_FLOAT_FIELDS:
            specs[key] = {"dtype": float_dtype, "per_point": True, "shape": []}
        elif key in INT_FIELDS:
            specs[key] = {"dtype": "int32", "per_point": True, "shape": []}
        elif isinstance(value, (int, np.integer)):
            specs[key] = {"dtype": "int64", "per_point": False, "shape": []}
        elif isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == count:
            specs[key] = {"dtype": value.dtype.str, "per_point": True, "shape": list(value.shape[1:])}
        else:
            raise DataError(origin, f"cannot pack field {key!r} of type {type(value).__name__}")
    return specs


def _resample(sample: Sample, num_points: int, rng: np.random.Generator) -> Sample:
    """Exactly ``num_points`` rows, the same rows for every per-point field (repeats only if the cloud is smaller)."""
    count = len(sample["points"])
    if count >= num_points:
        rows = np.sort(rng.choice(count, num_points, replace=False))
    else:
        rows = np.concatenate([np.arange(count), rng.choice(count, num_points - count, replace=True)])
    return {key: value[rows] if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == count else value
            for key, value in sample.items()}


class _ShardWriter:
    """Buffers up to ``shard_size`` samples of one split, then writes each field with open_memmap."""

    def __init__(self, folder: Path, split: str, specs: dict[str, dict[str, Any]]) -> None:
        self.folder = folder
        self.split = split
        self.specs = specs
        self.buffer: list[Sample] = []
        self.shards: list[dict[str, Any]] = []
        self.written = 0

    def add(self, sample: Sample) -> None:
        if set(sample) - {"name"} != set(self.specs):
            raise DataError(sample.get("name", "?"), f"fields {sorted(sample)} differ from the split's first "
                                                     f"sample {sorted(self.specs)}; cannot pack mixed samples")
        self.buffer.append(sample)

    def flush(self) -> None:
        if not self.buffer:
            return
        prefix = f"{file_stem(self.split)}-{len(self.shards):05d}"
        lengths = np.array([len(s["points"]) for s in self.buffer], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        files = {"offsets": f"{prefix}-offsets.npy", "name": f"{prefix}-name.npy"}
        self._write(files["offsets"], offsets)
        self._write(files["name"], np.array([str(s["name"]) for s in self.buffer]))
        for field, spec in self.specs.items():
            files[field] = f"{prefix}-{field}.npy"
            rows = int(offsets[-1]) if spec["per_point"] else len(self.buffer)
            target = np.lib.format.open_memmap(self.folder / files[field], mode="w+", dtype=np.dtype(spec["dtype"]),
                                               shape=(rows, *spec["shape"]))
            if spec["per_point"]:
                target[:] = np.concatenate([sample[field] for sample in self.buffer])
            else:
                target[:] = [sample[field] for sample in self.buffer]
            target.flush()
            del target
        self.shards.append({"start": self.written, "count": len(self.buffer), "points": int(offsets[-1]),
                            "files": files})
        self.written += len(self.buffer)
        self.buffer = []

    def _write(self, name: str, array: np.ndarray) -> None:
        target = np.lib.format.open_memmap(self.folder / name, mode="w+", dtype=array.dtype, shape=array.shape)
        target[...] = array
        target.flush()
        del target


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    kept = {}
    for key, value in info.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[str(key)] = value
    return kept


def _pack_split(
    split: PointSplit, name: str, folder: Path, float_dtype: str, num_points: int | None, shard_size: int, seed: int,
    skip_bad: bool, skipped: list[dict[str, str]], progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    writer: _ShardWriter | None = None
    for index in range(len(split)):
        try:
            sample = split[index]
        except DataError as error:
            if not skip_bad:
                raise
            skipped.append({"split": name, "file": error.path, "problem": error.problem})
            continue
        finally:
            if progress is not None:
                progress(1)
        if num_points is not None:
            key = zlib.crc32(f"{name}/{index}".encode())
            sample = _resample(sample, num_points, np.random.default_rng([seed, key]))
        if writer is None:
            writer = _ShardWriter(folder, name, _field_specs(sample, float_dtype, str(sample["name"])))
        writer.add(sample)
        if len(writer.buffer) >= shard_size:
            writer.flush()
    if writer is None:
        return {"count": 0, "fields": {}, "shards": []}
    writer.flush()
    return {"count": writer.written, "fields": writer.specs, "shards": writer.shards}


def pack_dataset(
    source: DatasetSource,
    out_dir: str | Path,
    num_points: int | None = None,
    shard_size: int = 1024,
    dtype: str = "float16",
    seed: int = 0,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write every split of ``source`` to ``out_dir``; return it. Open the result with format ``packed``.

    ``num_points`` resamples each cloud to exactly N points (deterministic per sample and ``seed``); ``None``
    keeps every point (clouds of any length). ``dtype`` is the storage type of float fields (float16 halves the
    size; coordinates of unit-sphere clouds keep ~3 significant digits). A bad sample aborts the pack unless
    ``skip_bad``, in which case it is listed under ``skipped`` in index.json. ``progress(n)`` is called after
    each sample (for a progress bar).
    """
    out_dir = Path(out_dir)
    if dtype not in POINT_DTYPES:
        raise DataError(out_dir, f"dtype must be one of {list(POINT_DTYPES)}, got {dtype!r}")
    if shard_size < 1 or (num_points is not None and num_points < 1):
        raise DataError(out_dir, "shard_size and num_points must be positive")
    if out_dir.exists() and not overwrite:
        raise DataError(out_dir, "output already exists (pass overwrite=True / remove it first)")
    stems = [file_stem(name) for name in source.splits]
    if len(set(stems)) != len(stems):
        raise DataError(out_dir, f"split names {sorted(source.splits)} collide once made file-safe")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        skipped: list[dict[str, str]] = []
        splits = {name: _pack_split(split, name, staging, dtype, num_points, shard_size, seed, skip_bad, skipped,
                                    progress)
                  for name, split in source.splits.items()}
        index = {
            "format": PACKED_FORMAT, "version": VERSION, "source_format": source.format, "source": str(source.root),
            "classes": list(source.classes), "dtype": dtype, "num_points": num_points, "seed": seed,
            "splits": splits, "skipped": skipped, "info": _jsonable(source.info),
        }
        (staging / INDEX_NAME).write_text(json.dumps(index, indent=1), encoding="utf-8")
        _replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _replace(staging: Path, out_dir: Path) -> None:
    """Rename the finished folder into place; an existing one (overwrite) is moved aside first, then deleted."""
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        out_dir.rename(old)
        staging.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out_dir)
