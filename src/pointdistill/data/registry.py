"""Open any supported dataset by path: detect its layout, or use the format the user names.

Each reader module exposes ``FORMAT``, ``locate(path) -> root | None`` (does this path hold my layout?) and
``read(path, **options) -> DatasetSource``. Detection asks them in ``_DETECTION_ORDER``: specific layouts first
(named index files), the catch-all ``folder`` last.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from pointdistill.data.base import DatasetSource
from pointdistill.data.readers import (
    fewshot,
    folder,
    modelnet_h5,
    modelnet_mesh,
    modelnet_normal,
    npz,
    packed,
    pointcept,
    scanobjectnn,
    semantickitti,
    shapenet55,
    shapenetpart,
)
from pointdistill.errors import DataError

_DETECTION_ORDER: tuple[ModuleType, ...] = (
    packed, shapenet55, shapenetpart, modelnet_normal, scanobjectnn, modelnet_h5, fewshot, semantickitti,
    pointcept, modelnet_mesh, npz, folder,
)
FORMATS: dict[str, Callable[..., DatasetSource]] = {module.FORMAT: module.read for module in _DETECTION_ORDER}
"""Format name -> reader ``read(path, **options)``."""

_FILE_READERS: dict[str, ModuleType] = {".npz": npz, ".h5": modelnet_h5, ".hdf5": modelnet_h5}
"""Readers that open a file of this suffix on its own. When detection fails for such a file, reading it says why
(corrupt, truncated, empty, missing keys), which helps more than "unrecognised layout"."""

SYNTHETIC_PREFIX = "synthetic:"
SYNTHETIC_KINDS = ("shapes", "scans", "scenes")


def _formats_line() -> str:
    return ", ".join(sorted(FORMATS)) + f", {SYNTHETIC_PREFIX}{{{'|'.join(SYNTHETIC_KINDS)}}}"


def detect_format(path: str | Path) -> str:
    """The format whose layout ``path`` holds; DataError if the path is missing or no reader recognises it."""
    if str(path).startswith(SYNTHETIC_PREFIX):
        return "synthetic"
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(path, "no such file or folder")
    for module in _DETECTION_ORDER:
        if module.locate(path) is not None:
            return module.FORMAT
    raise _unrecognised(path)


def _unrecognised(path: Path) -> DataError:
    """Why no reader recognised ``path``: the problem its suffix's reader finds in it, else the readable formats."""
    reader = _FILE_READERS.get(path.suffix.lower()) if path.is_file() else None
    if reader is not None:
        try:
            reader.read(path)
        except DataError as error:
            return error
    return DataError(path, f"unrecognised dataset layout; readable formats: {_formats_line()}")


def _open_synthetic(spec: str, options: dict[str, Any]) -> DatasetSource:
    kind = spec[len(SYNTHETIC_PREFIX):]
    if kind not in SYNTHETIC_KINDS:
        raise DataError(spec, f"unknown synthetic kind {kind!r} (choose from {list(SYNTHETIC_KINDS)})")
    from pointdistill.data.synthetic import synthetic_source

    return synthetic_source(kind, **options)


def _check_options(name: str, reader: Callable[..., DatasetSource], options: dict[str, Any], path: Path) -> None:
    """Unknown reader options are a user error: name the ones this format takes."""
    accepted = [p for p in inspect.signature(reader).parameters if p != "path"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DataError(path, f"format {name} takes no option {unknown[0]!r} (options: {accepted or 'none'})")


def open_dataset(path: str | Path, format: str = "auto", **reader_options: Any) -> DatasetSource:
    """Open the dataset at ``path`` (a folder, a .npz/.h5 file, or ``synthetic:<kind>``).

    ``format="auto"`` detects the layout; a format name from :data:`FORMATS` forces a reader. ``reader_options``
    go to that reader (e.g. ``variant="pb_t50_rs"`` for ScanObjectNN, ``num_points=2048`` for meshes).
    """
    if str(path).startswith(SYNTHETIC_PREFIX):
        return _open_synthetic(str(path), reader_options)
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(path, "no such file or folder")
    name = detect_format(path) if format == "auto" else format
    if name not in FORMATS:
        raise DataError(path, f"unknown format {format!r}; readable formats: auto, {_formats_line()}")
    reader = FORMATS[name]
    _check_options(name, reader, reader_options, path)
    return reader(path, **reader_options)
