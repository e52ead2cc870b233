from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from pointdistill.data.readers import scanobjectnn
from pointdistill.errors import DataError


def write_variant(folder: Path, stem: str, scale: float, labels: list[int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(stem))
    for prefix in ("training", "test"):
        with h5py.File(folder / f"{prefix}_{stem}.h5", "w") as handle:
            handle["data"] = (rng.normal(size=(len(labels), 32, 3)) * scale).astype(np.float32)
            handle["label"] = np.array(labels, dtype=np.int64)
            mask = np.zeros((len(labels), 32), dtype=np.float32)
            mask[:, :8] = -1
            handle["mask"] = mask


@pytest.fixture
def h5_files(tmp_path: Path) -> Path:
    root = tmp_path / "h5_files"
    write_variant(root / "main_split", "objectdataset", 1.0, [0, 14])
    write_variant(root / "main_split_nobg", "objectdataset", 2.0, [3])
    write_variant(root / "main_split", "objectdataset_augmentedrot_scale75", 3.0, [5, 6, 7])
    return root


def test_default_variant_is_obj_bg_with_mask(h5_files: Path) -> None:
    source = scanobjectnn.read(h5_files.parent)
    assert source.info["variant"] == "obj_bg" and len(source.classes) == 15
    assert source.classes[0] == "bag" and source.classes[14] == "toilet"
    sample = source.splits["train"][1]
    assert sample["label"] == 14 and sample["points"].shape == (32, 3)
    assert sample["mask"].dtype == np.int64 and (sample["mask"][:8] == -1).all() and (sample["mask"][8:] == 0).all()


@pytest.mark.parametrize("variant, count", [("obj_bg", 2), ("obj_only", 1), ("pb_t50_rs", 3)])
def test_variant_argument(h5_files: Path, variant: str, count: int) -> None:
    source = scanobjectnn.read(h5_files, variant=variant)
    assert source.info["variant"] == variant
    assert len(source.splits["train"]) == count == len(source.splits["test"])


def test_variant_detected_from_folder_or_file(h5_files: Path) -> None:
    assert scanobjectnn.read(h5_files / "main_split_nobg").info["variant"] == "obj_only"
    pb_file = h5_files / "main_split" / "test_objectdataset_augmentedrot_scale75.h5"
    assert scanobjectnn.read(pb_file).info["variant"] == "pb_t50_rs"
    with pytest.raises(DataError, match="unknown ScanObjectNN variant"):
        scanobjectnn.read(h5_files, variant="hardest")


def test_bad_label_and_missing_key(h5_files: Path) -> None:
    path = h5_files / "main_split_nobg" / "test_objectdataset.h5"
    with h5py.File(path, "a") as handle:
        del handle["label"]
        handle["label"] = np.array([15])
    with pytest.raises(DataError, match=r"label 15 out of range \[0, 15\)"):
        scanobjectnn.read(h5_files, variant="obj_only").splits["test"][0]
    with h5py.File(path, "a") as handle:
        del handle["data"]
    with pytest.raises(DataError, match="no key 'data'") as caught:
        scanobjectnn.read(h5_files, variant="obj_only")
    assert caught.value.path == str(path)
