from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from pointdistill.data.readers import fewshot
from pointdistill.errors import DataError


def write_fold(root: Path, way: int, shot: int, fold: int, orig: list[int], queries: int = 2) -> None:
    rng = np.random.default_rng(fold)
    folder = root / f"{way}way_{shot}shot"
    folder.mkdir(parents=True, exist_ok=True)
    episode = {
        split: [(rng.normal(size=(16, 3)).astype(np.float32), np.int64(label), orig[label])
                for label in range(way) for _ in range(count)]
        for split, count in (("train", shot), ("test", queries))
    }
    (folder / f"{fold}.pkl").write_bytes(pickle.dumps(episode))


@pytest.fixture
def fewshot_root(tmp_path: Path) -> Path:
    root = tmp_path / "ModelNetFewshot"
    write_fold(root, 5, 10, 0, [0, 8, 33, 7, 39])
    write_fold(root, 5, 10, 1, [1, 2, 3, 4, 5])
    write_fold(root, 10, 20, 0, list(range(10, 20)))
    return root


def test_listing_and_one_fold(fewshot_root: Path) -> None:
    assert fewshot.list_fewshot_folds(fewshot_root.parent) == [(5, 10, 0), (5, 10, 1), (10, 20, 0)]
    source = fewshot.read_fewshot_fold(fewshot_root, way=5, shot=10, fold=0)
    assert source.classes == ["airplane", "chair", "table", "car", "xbox"]
    assert len(source.splits["train"]) == 50 and len(source.splits["test"]) == 10
    sample = source.splits["train"][12]
    assert (sample["label"], sample["orig_label"]) == (1, 8)
    assert sample["points"].shape == (16, 3) and sample["name"] == "5way_10shot/0/train/12"


def test_all_folds_source_uses_modelnet40_labels(fewshot_root: Path) -> None:
    source = fewshot.read(fewshot_root)
    assert len(source.classes) == 40 and "10way_20shot/0/test" in source.splits
    sample = source.splits["5way_10shot/0/train"][45]
    assert (sample["label"], sample["fewshot_label"]) == (39, 4)
    assert list(fewshot.read(fewshot_root, way=10).splits) == ["10way_20shot/0/train", "10way_20shot/0/test"]
    assert fewshot.read(fewshot_root, way=5, shot=10, fold=1).info == {"way": 5, "shot": 10, "fold": 1}
    one_file = fewshot.read(fewshot_root / "10way_20shot" / "0.pkl")
    assert one_file.info == {"way": 10, "shot": 20, "fold": 0} and len(one_file.splits["train"]) == 200


def test_missing_fold_and_bad_records(fewshot_root: Path) -> None:
    with pytest.raises(DataError, match="fold not found"):
        fewshot.read_fewshot_fold(fewshot_root, 5, 20, 0)
    path = fewshot_root / "5way_10shot" / "1.pkl"
    path.write_bytes(pickle.dumps({"train": [(np.ones((4, 3)), 7, 1)], "test": [(np.ones((0, 3)), 0, 1)]}))
    source = fewshot.read(fewshot_root, way=5, shot=10, fold=1)
    with pytest.raises(DataError, match=r"label 7 out of range \[0, 5\)"):
        source.splits["train"][0]
    with pytest.raises(DataError, match="0 points"):
        source.splits["test"][0]
    path.write_bytes(pickle.dumps({"train": [(np.ones((4, 3)), 0, 1)]}))
    with pytest.raises(DataError, match="'train' and 'test'"):
        fewshot.read_fewshot_fold(fewshot_root, 5, 10, 1)
