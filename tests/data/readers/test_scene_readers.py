"""Scene layouts: Pointcept folders and raw SemanticKITTI sequences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointdistill.data.readers import pointcept, semantickitti
from pointdistill.errors import DataError


def write_scene(folder: Path, count: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "coord": rng.uniform(0, 5, size=(count, 3)).astype(np.float32),
        "color": rng.integers(0, 256, size=(count, 3)).astype(np.uint8),
        "normal": rng.normal(size=(count, 3)).astype(np.float32),
        "segment": rng.integers(-1, 20, size=count).astype(np.int16),
        "instance": rng.integers(-1, 5, size=count).astype(np.int32),
    }
    folder.mkdir(parents=True)
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    return arrays


def test_pointcept_scene_fields(tmp_path: Path) -> None:
    arrays = write_scene(tmp_path / "train" / "scene0000_00", 100, 0)
    write_scene(tmp_path / "train" / "scene0001_00", 50, 1)
    write_scene(tmp_path / "val" / "scene0002_00", 70, 2)
    source = pointcept.read(tmp_path)
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 2, "val": 1} and source.classes == []
    sample = source.splits["train"][0]
    assert sample["name"] == "train/scene0000_00"
    np.testing.assert_array_equal(sample["points"], arrays["coord"])
    np.testing.assert_allclose(sample["color"], arrays["color"] / 255.0, rtol=1e-6)
    assert sample["color"].max() <= 1 and sample["color"].dtype == np.float32
    np.testing.assert_array_equal(sample["segment"], arrays["segment"])
    assert sample["segment"].dtype == np.int64 and sample["instance"].dtype == np.int64
    assert sample["points"].flags.writeable  # memory-mapped on disk, but samples are private copies


def test_pointcept_bad_scenes(tmp_path: Path) -> None:
    write_scene(tmp_path / "train" / "a", 10, 0)
    np.save(tmp_path / "train" / "a" / "segment.npy", np.arange(9))
    write_scene(tmp_path / "train" / "b", 10, 1)
    np.save(tmp_path / "train" / "b" / "segment.npy", np.full(10, 30))
    write_scene(tmp_path / "train" / "c", 10, 2)
    coord = tmp_path / "train" / "c" / "coord.npy"
    coord.write_bytes(coord.read_bytes()[:-16])
    source = pointcept.read(tmp_path, classes=[str(i) for i in range(20)])
    with pytest.raises(DataError, match="'segment' has 9 rows but the cloud has 10"):
        source.splits["train"][0]
    with pytest.raises(DataError, match=r"segment id 30 out of range \[-1, 20\)"):
        source.splits["train"][1]
    with pytest.raises(DataError, match="corrupt or truncated") as caught:
        source.splits["train"][2]
    assert caught.value.path == str(coord)


def write_kitti(root: Path, sequence: str, scans: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> None:
    folder = root / "sequences" / sequence
    (folder / "velodyne").mkdir(parents=True)
    (folder / "labels").mkdir()
    for stem, (points, labels) in scans.items():
        points.astype(np.float32).tofile(folder / "velodyne" / f"{stem}.bin")
        if labels is not None:
            labels.astype(np.uint32).tofile(folder / "labels" / f"{stem}.label")


def test_semantickitti_splits_labels_and_instances(tmp_path: Path) -> None:
    scan = np.column_stack([np.random.default_rng(0).normal(size=(6, 3)), np.linspace(0, 1, 6)])
    semantic = np.array([0, 10, 252, 40, 81, 52])
    instance = np.array([0, 3, 3, 0, 0, 0])
    write_kitti(tmp_path / "dataset", "00", {"000000": (scan, semantic | (instance << 16)), "000001": (scan, None)})
    write_kitti(tmp_path / "dataset", "08", {"000000": (scan, semantic)})
    write_kitti(tmp_path / "dataset", "11", {"000000": (scan, None)})
    source = semantickitti.read(tmp_path)
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 2, "val": 1, "test": 1}
    assert len(source.classes) == 19 and source.classes[0] == "car" and source.classes[18] == "traffic-sign"
    sample = source.splits["train"][0]
    assert sample["name"] == "00/000000"
    np.testing.assert_allclose(sample["points"], scan[:, :3], rtol=1e-6)
    np.testing.assert_allclose(sample["intensity"], scan[:, 3], rtol=1e-6)
    np.testing.assert_array_equal(sample["segment"], [-1, 0, 0, 8, 18, -1])
    np.testing.assert_array_equal(sample["instance"], [-1, 3, 3, -1, -1, -1])
    assert "segment" not in source.splits["test"][0]
    raw = semantickitti.read(tmp_path / "dataset" / "sequences", learning_map=False)
    np.testing.assert_array_equal(raw.splits["train"][0]["segment"], semantic)
    assert raw.classes == []


def test_semantickitti_bad_files(tmp_path: Path) -> None:
    scan = np.ones((4, 4))
    write_kitti(tmp_path, "00", {"a": (scan, np.array([10, 10, 10])), "b": (scan, np.array([10, 10, 10, 7])),
                                 "c": (scan[:3, :3], None), "d": (scan, None)})
    cut = tmp_path / "sequences" / "00" / "velodyne" / "d.bin"
    cut.write_bytes(cut.read_bytes()[:-2])
    train = semantickitti.read(tmp_path).splits["train"]
    with pytest.raises(DataError, match="3 labels for 4 points"):
        train[0]
    with pytest.raises(DataError, match="semantic id 7 is not a SemanticKITTI class"):
        train[1]
    with pytest.raises(DataError, match="float count is not a multiple of 4"):
        train[2]
    with pytest.raises(DataError, match="size is not a multiple of 4 bytes") as caught:
        train[3]
    assert caught.value.path == str(cut)


def test_pointcept_class_names_from_classes_json(tmp_path: Path) -> None:
    write_scene(tmp_path / "train" / "a", 10, 0)
    (tmp_path / "classes.json").write_text(json.dumps([f"c{i}" for i in range(20)]))
    assert pointcept.read(tmp_path).classes == [f"c{i}" for i in range(20)]
    assert pointcept.read(tmp_path, classes=[str(i) for i in range(20)]).classes[0] == "0"  # given names win
    (tmp_path / "classes.json").write_text(json.dumps([f"c{i}" for i in range(5)]))
    with pytest.raises(DataError, match="out of range"):
        pointcept.read(tmp_path).splits["train"][0]
    (tmp_path / "classes.json").write_text('{"names": 3}')
    with pytest.raises(DataError, match="JSON list of class names") as caught:
        pointcept.read(tmp_path)
    assert caught.value.path == str(tmp_path / "classes.json")
