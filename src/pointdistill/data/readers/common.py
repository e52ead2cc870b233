"""What every reader shares: turning OS and parse failures into DataError, and building validated samples.

Readers never let a ValueError from NumPy or an OSError escape: ``data check`` lists bad files by catching
DataError, so every failure to read a file must become ``DataError(file, problem)``.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from pointdistill.data.base import Sample, validate_label, validate_points
from pointdistill.errors import DataError

FLOAT_FIELDS = ("normals", "color")
"""Per-point float32 [N, 3] fields."""

INT_FIELDS = ("part", "mask", "segment", "instance")
"""Per-point int64 [N] fields."""

SCALAR_FLOAT_FIELDS = ("intensity",)
"""Per-point float32 [N] fields."""

PER_POINT_FIELDS = FLOAT_FIELDS + INT_FIELDS + SCALAR_FLOAT_FIELDS


def require_file(path: Path) -> Path:
    """Return ``path`` if it is a file, else raise a DataError naming it."""
    if not path.is_file():
        raise DataError(path, "file not found" if not path.exists() else "expected a file, found a folder")
    return path


def unreadable(path: Path, kind: str, error: Exception) -> DataError:
    """The DataError for a file its parser rejected: empty, unreadable, or else corrupt or truncated (the parser's
    own words follow), so a damaged download is never mistaken for a file of some other layout."""
    if not os.access(path, os.R_OK):
        return DataError(path, f"cannot read this {kind}: permission denied")
    if path.stat().st_size == 0:
        return DataError(path, f"not a readable {kind}: the file is empty (0 bytes)")
    return DataError(path, f"not a readable {kind}, corrupt or truncated: {error}")


def read_lines(path: Path) -> list[str]:
    """Non-empty, stripped lines of a small text index file (split lists, class names)."""
    require_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read text file: {error}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_table(path: Path, delimiter: str | None = None, min_columns: int = 3) -> np.ndarray:
    """Read a numeric text table (``x y z ...`` per row) as float32 [N, C].

    ``np.loadtxt`` is C-implemented in NumPy >= 1.23 and rejects ragged or non-numeric rows, which is exactly the
    strictness ``data check`` needs.
    """
    require_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below instead
            table = np.loadtxt(path, delimiter=delimiter, dtype=np.float32, ndmin=2, comments="#")
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"not a numeric table: {error}") from None
    if table.size == 0:
        raise DataError(path, "file holds no points (empty cloud)")
    if table.shape[1] < min_columns:
        raise DataError(path, f"expected at least {min_columns} columns per row, got {table.shape[1]}")
    return table


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """Load a .npy array without pickles; truncated or corrupt files raise DataError."""
    require_file(path)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataError(path, f"corrupt or truncated .npy file: {error}") from None


def as_label(value: Any, origin: str | Path) -> int:
    """A class label stored as a scalar or a one-element array (HDF5 ``label`` rows are [1])."""
    array = np.asarray(value)
    if array.size != 1:
        raise DataError(origin, f"expected one label, got an array of shape {list(array.shape)}")
    scalar = array.reshape(-1)[0]
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(scalar) or float(scalar) != int(scalar):
        raise DataError(origin, f"label {scalar!r} is not an integer")
    return int(scalar)


def _owned(array: np.ndarray, dtype: type) -> np.ndarray:
    """A contiguous, writable array owning its memory: memory-mapped or HDF5-backed reads must not leak
    read-only views into transforms that work in place."""
    return np.require(np.asarray(array), dtype=dtype, requirements=["C", "W", "O"])


def make_sample(fields: Mapping[str, Any], name: str, origin: str | Path, num_classes: int) -> Sample:
    """Build a sample dict from raw fields, validating points, label range and per-point field lengths.

    ``num_classes`` = 0 skips the label range check (unlabelled sets, raw ids).
    """
    points = _owned(validate_points(fields["points"], origin), np.float32)
    count = points.shape[0]
    sample: Sample = {"points": points}
    for key, value in fields.items():
        if key == "points":
            continue
        if key == "label":
            sample[key] = validate_label(as_label(value, origin), num_classes, origin)
            continue
        if key not in PER_POINT_FIELDS:
            if isinstance(value, str):
                sample[key] = value
            elif np.ndim(value) <= 1 and np.size(value) == 1:
                sample[key] = as_label(value, origin)
            else:
                sample[key] = np.array(value)
            continue
        array = np.asarray(value)
        rows = array.shape[0] if array.ndim else 0
        if rows != count:
            raise DataError(origin, f"field {key!r} has {rows} rows but the cloud has {count} points")
        if key in FLOAT_FIELDS:
            if array.ndim != 2 or array.shape[1] < 3:
                raise DataError(origin, f"field {key!r} must be [N, 3], got {list(array.shape)}")
            sample[key] = _owned(array[:, :3], np.float32)
        elif array.size != count:
            raise DataError(origin, f"field {key!r} must hold one value per point, got {list(array.shape)}")
        elif key in SCALAR_FLOAT_FIELDS:
            sample[key] = _owned(array.reshape(count), np.float32)
        else:
            sample[key] = _owned(array.reshape(count), np.int64)
    sample["name"] = name
    return sample


def find_root(path: Path, names: Iterable[str], is_root: Callable[[Path], bool]) -> Path | None:
    """The dataset root: ``path`` itself, or one of its children named like the upstream folder.

    Users point at either ``data/modelnet40_normal_resampled`` or ``data``; both must work.
    """
    path = Path(path)
    if not path.is_dir():
        return None
    if is_root(path):
        return path
    for name in names:
        child = path / name
        if child.is_dir() and is_root(child):
            return child
    return None


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> list[object]:
    """Sort ``ply_data_train10`` after ``ply_data_train2``."""
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(text)]
