from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from pointdistill.data.readers import npz
from pointdistill.errors import DataError


def write_dataset(path: Path, compressed: bool = False, **overrides: np.ndarray) -> np.ndarray:
    points = np.random.default_rng(0).normal(size=(4, 32, 3)).astype(np.float16)
    arrays = {
        "classes": np.array(["cat", "dog"]), "train_points": points[:3], "train_labels": np.array([0, 1, 1]),
        "train_names": np.array(["a_1", "b_2", "b_3"]), "test_points": points[3:], "test_labels": np.array([0]),
        "test_names": np.array(["a_9"]),
    }
    arrays.update(overrides)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return points


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_splits_names_and_float32(tmp_path: Path, compressed: bool) -> None:
    points = write_dataset(tmp_path / "set.npz", compressed)
    source = npz.read(tmp_path / "set.npz")
    assert source.classes == ["cat", "dog"] and {k: len(v) for k, v in source.splits.items()} == {"train": 3, "test": 1}
    sample = source.splits["train"][2]
    assert (sample["name"], sample["label"]) == ("b_3", 1)
    assert sample["points"].dtype == np.float32 and sample["points"].flags.writeable
    np.testing.assert_array_equal(sample["points"], points[2].astype(np.float32))
    clone = pickle.loads(pickle.dumps(source.splits["test"]))
    assert clone[0]["name"] == "a_9"


def test_uncompressed_members_are_memory_mapped(tmp_path: Path) -> None:
    write_dataset(tmp_path / "set.npz")
    assert isinstance(npz.member_array(tmp_path / "set.npz", "train_points"), np.memmap)


def test_npz_bad_values(tmp_path: Path) -> None:
    points = np.ones((2, 8, 3), np.float32)
    points[1, 0, 0] = np.inf
    write_dataset(tmp_path / "set.npz", train_points=points, train_labels=np.array([5, 0]),
                  train_names=np.array(["x", "y"]))
    train = npz.read(tmp_path / "set.npz").splits["train"]
    with pytest.raises(DataError, match=r"label 5 out of range \[0, 2\)"):
        train[0]
    with pytest.raises(DataError, match="NaN or infinite") as caught:
        train[1]
    assert caught.value.path.endswith("set.npz:train[1]")


def test_npz_structural_errors(tmp_path: Path) -> None:
    write_dataset(tmp_path / "short.npz", train_labels=np.array([0, 1]))
    with pytest.raises(DataError, match="train_labels has 2 rows"):
        npz.read(tmp_path / "short.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(DataError, match="no '<split>_points' keys"):
        npz.read(tmp_path / "other.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "short.npz").read_bytes()[:300])
    with pytest.raises(DataError, match="not a readable .npz"):
        npz.read(tmp_path / "cut.npz")


def test_shared_modelnet40_npz(shared_data: Path) -> None:
    path = shared_data / "modelnet40_1024_f16.npz"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    source = npz.read(path)
    assert len(source.classes) == 40 and len(source.splits["train"]) == 9843 and len(source.splits["test"]) == 2468
    sample = source.splits["test"][0]
    assert sample["points"].shape == (1024, 3) and source.classes[sample["label"]] == sample["name"].rsplit("_", 1)[0]
