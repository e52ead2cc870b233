"""ShapeNet-55 (pretraining) and ShapeNetPart (part segmentation) upstream layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointdistill.data.readers import shapenet55, shapenetpart
from pointdistill.errors import DataError


@pytest.fixture
def shapenet_root(tmp_path: Path, cloud: np.ndarray) -> Path:
    root = tmp_path / "ShapeNet55-34"
    (root / "shapenet_pc").mkdir(parents=True)
    (root / "ShapeNet-55").mkdir()
    files = ["03001627-aaa.npy", "02691156-bbb.npy", "99999999-ccc.npy", "02691156-ddd.npy"]
    for index, name in enumerate(files):
        np.save(root / "shapenet_pc" / name, cloud + index)
    (root / "ShapeNet-55" / "train.txt").write_text("\n".join(files[:3]) + "\n")
    (root / "ShapeNet-55" / "test.txt").write_text(files[3] + "\n")
    return root


def test_shapenet55_labels_from_synsets(shapenet_root: Path, cloud: np.ndarray) -> None:
    source = shapenet55.read(shapenet_root.parent)
    assert source.classes == ["airplane", "chair", "99999999"]  # sorted synsets, unknown id kept as is
    assert source.info["synsets"] == ["02691156", "03001627", "99999999"]
    train = source.splits["train"]
    assert [train[i]["label"] for i in range(3)] == [1, 0, 2]
    assert train[0]["name"] == "03001627-aaa"
    np.testing.assert_array_equal(source.splits["test"][0]["points"], cloud + 3)


def test_shapenet55_bad_files(shapenet_root: Path) -> None:
    pc = shapenet_root / "shapenet_pc"
    (pc / "02691156-ddd.npy").write_bytes((pc / "02691156-ddd.npy").read_bytes()[:200])
    (pc / "03001627-aaa.npy").unlink()
    np.save(pc / "02691156-bbb.npy", np.zeros((0, 3), np.float32))
    source = shapenet55.read(shapenet_root)
    with pytest.raises(DataError, match="file not found"):
        source.splits["train"][0]
    with pytest.raises(DataError, match="0 points"):
        source.splits["train"][1]
    with pytest.raises(DataError, match="corrupt or truncated") as caught:
        source.splits["test"][0]
    assert caught.value.path == str(pc / "02691156-ddd.npy")


def test_seg_classes_table_is_the_standard_one() -> None:
    table = shapenetpart.standard_seg_classes()
    assert len(table) == 16 and sum(len(ids) for ids in table.values()) == 50
    assert table["Airplane"] == [0, 1, 2, 3] and table["Motorbike"] == [30, 31, 32, 33, 34, 35]
    assert table["Table"] == [47, 48, 49]


@pytest.fixture
def part_root(tmp_path: Path, cloud: np.ndarray) -> Path:
    root = tmp_path / "shapenetcore_partanno_segmentation_benchmark_v0_normal"
    (root / "train_test_split").mkdir(parents=True)
    (root / "synsetoffset2category.txt").write_text("Airplane\t02691156\nTable\t04379243\n")
    for synset, shape_id, parts in (("02691156", "p1", [0, 3]), ("04379243", "t1", [47, 49])):
        (root / synset).mkdir()
        part = np.resize(parts, len(cloud))
        normals = cloud / np.linalg.norm(cloud, axis=1, keepdims=True)
        np.savetxt(root / synset / f"{shape_id}.txt", np.column_stack([cloud, normals, part]), fmt="%.6f")
    lists = {"train": ["shape_data/04379243/t1", "shape_data/02691156/p1"], "val": [],
             "test": ["shape_data/02691156/p1", "shape_data/03001627/unlisted"]}
    for split, entries in lists.items():
        (root / "train_test_split" / f"shuffled_{split}_file_list.json").write_text(json.dumps(entries))
    return root


def test_shapenetpart_sample_fields(part_root: Path, cloud: np.ndarray) -> None:
    source = shapenetpart.read(part_root.parent)
    assert source.classes == ["Airplane", "Table"]
    assert source.info["seg_classes"] == {"Airplane": [0, 1, 2, 3], "Table": [47, 48, 49]}
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 2, "val": 0, "test": 1}
    table = source.splits["train"][0]
    assert table["label"] == 1 and table["name"] == "04379243/t1"
    assert table["part"].dtype == np.int64 and set(table["part"].tolist()) == {47, 49}
    np.testing.assert_allclose(table["points"], cloud, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(table["normals"], axis=1), 1, atol=1e-4)


def test_shapenetpart_bad_rows_and_parts(part_root: Path, cloud: np.ndarray) -> None:
    bad = part_root / "02691156" / "p1.txt"
    np.savetxt(bad, np.column_stack([cloud, cloud, np.full(len(cloud), 47)]), fmt="%.6f")
    split = shapenetpart.read(part_root).splits["test"]
    with pytest.raises(DataError, match=r"part id 47 out of range \[0, 3\]"):
        split[0]
    bad.write_text("0 0 0 0 0 1\n")
    with pytest.raises(DataError, match="at least 7 columns"):
        split[0]
    (part_root / "train_test_split" / "shuffled_val_file_list.json").write_text("{not json")
    with pytest.raises(DataError, match="not a JSON file list"):
        shapenetpart.read(part_root)
