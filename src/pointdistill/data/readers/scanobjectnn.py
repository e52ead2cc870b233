"""ScanObjectNN (``h5_files/``): variants OBJ_BG, OBJ_ONLY and PB_T50_RS, each a training and a test HDF5 file.

Files hold ``data`` [n, 2048, 3], ``label`` [n] and ``mask`` [n, 2048] (-1 = background), exposed as the
sample's ``mask``.
"""

from __future__ import annotations

from pathlib import Path

from pointdistill.data.base import DatasetSource
from pointdistill.data.readers.chunked import ChunkedSplit
from pointdistill.data.readers.hdf5 import h5_chunk
from pointdistill.errors import DataError

FORMAT = "scanobjectnn"
CLASSES = ["bag", "bin", "box", "cabinet", "chair", "desk", "display", "door", "shelf", "table", "bed", "pillow",
           "sink", "sofa", "toilet"]
VARIANTS = {
    "obj_bg": ("main_split", "objectdataset"),
    "obj_only": ("main_split_nobg", "objectdataset"),
    "pb_t50_rs": ("main_split", "objectdataset_augmentedrot_scale75"),
}
"""variant -> (folder, file stem without the ``training_``/``test_`` prefix)."""
SPLIT_PREFIXES = {"train": "training", "test": "test"}
FIELDS = {"points": "data", "label": "label"}
OPTIONAL_FIELDS = {"mask": "mask"}


def _files(folder: Path, stem: str) -> dict[str, Path]:
    return {split: folder / f"{prefix}_{stem}.h5" for split, prefix in SPLIT_PREFIXES.items()
            if (folder / f"{prefix}_{stem}.h5").is_file()}


def _variant_files(root: Path, variant: str) -> dict[str, Path]:
    folder, stem = VARIANTS[variant]
    return _files(root / folder, stem)


def _candidates(path: Path) -> list[tuple[Path, str]]:
    """(h5_files root, variant) pairs found at ``path``, most specific first.

    ``path`` may be ``h5_files`` (or its parent), a variant folder (``main_split``, ``main_split_nobg``), or one
    of the .h5 files; the folder and file names decide the variant.
    """
    path = Path(path)
    if path.is_file():
        for variant, (folder, stem) in VARIANTS.items():
            if path.parent.name == folder and path.name in {f"{p}_{stem}.h5" for p in SPLIT_PREFIXES.values()}:
                return [(path.parent.parent, variant)]
        return []
    if not path.is_dir():
        return []
    if path.name in ("main_split", "main_split_nobg"):
        return [(path.parent, v) for v, (folder, _) in VARIANTS.items()
                if folder == path.name and _variant_files(path.parent, v)]
    for root in (path, path / "h5_files"):
        found = [(root, v) for v in VARIANTS if root.is_dir() and _variant_files(root, v)]
        if found:
            return found
    return []


def locate(path: Path) -> Path | None:
    found = _candidates(path)
    return found[0][0] if found else None


def read(path: Path, variant: str | None = None) -> DatasetSource:
    """Open one variant: ``variant`` if given, else the one the folder or file names (OBJ_BG when ambiguous)."""
    if variant is not None and variant.lower() not in VARIANTS:
        raise DataError(path, f"unknown ScanObjectNN variant {variant!r} (choose from {list(VARIANTS)})")
    found = _candidates(Path(path))
    if not found:
        raise DataError(path, "not a ScanObjectNN layout: expected h5_files/main_split*/{training,test}_*.h5")
    root = found[0][0]
    chosen = variant.lower() if variant is not None else found[0][1]
    files = _variant_files(root, chosen)
    if not files:
        folder, stem = VARIANTS[chosen]
        raise DataError(root / folder, f"variant {chosen} needs training_{stem}.h5 / test_{stem}.h5 here")
    splits = {split: ChunkedSplit([h5_chunk(file, FIELDS, OPTIONAL_FIELDS)], len(CLASSES))
              for split, file in files.items()}
    info = {"variant": chosen, "files": {split: str(file.relative_to(root)) for split, file in files.items()}}
    return DatasetSource(FORMAT, root, list(CLASSES), splits, info=info)
