from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from pointdistill.data.check import check_dataset
from pointdistill.errors import DataError

CLOUD = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)


@pytest.fixture
def broken_modelnet(tmp_path: Path) -> Path:
    """Six shapes listed: one fine, one missing, four damaged in different ways."""
    root = tmp_path / "modelnet40_normal_resampled"
    (root / "cup").mkdir(parents=True)
    (root / "modelnet40_shape_names.txt").write_text("cup\n")
    ids = [f"cup_{i:04d}" for i in range(1, 7)]
    (root / "modelnet40_train.txt").write_text("\n".join(ids[:4]) + "\n")
    (root / "modelnet40_test.txt").write_text("\n".join(ids[4:]) + "\n")
    good = "\n".join(",".join(f"{v:.4f}" for v in row) for row in np.hstack([CLOUD, CLOUD]))
    (root / "cup" / "cup_0001.txt").write_text(good)
    (root / "cup" / "cup_0003.txt").write_text(good + "\n1,2,three,0,0,1")
    (root / "cup" / "cup_0004.txt").write_text("nan,0,0,0,0,1\n")
    (root / "cup" / "cup_0005.txt").write_text("")
    (root / "cup" / "cup_0006.txt").write_text(good)
    return root


def test_check_lists_every_bad_file_and_keeps_going(broken_modelnet: Path) -> None:
    report = check_dataset(broken_modelnet)
    assert report.format == "modelnet40_normal" and not report.ok
    assert report.counts == {"train": 4, "test": 2} and report.bad == {"train": 3, "test": 1}
    problems = {Path(file).name: problem for file, problem in report.problems}
    assert set(problems) == {"cup_0002.txt", "cup_0003.txt", "cup_0004.txt", "cup_0005.txt"}
    assert "file not found" in problems["cup_0002.txt"]
    assert "not a numeric table" in problems["cup_0003.txt"]
    assert "NaN" in problems["cup_0004.txt"] and "empty" in problems["cup_0005.txt"]
    assert report.to_dict()["problems"][0].keys() == {"file", "problem"}


def test_check_clean_dataset_and_progress(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", CLOUD)
    np.save(tmp_path / "b.npy", CLOUD)
    ticks = []
    report = check_dataset(tmp_path, progress=ticks.append)
    assert report.ok and report.checked == 2 and ticks == [1, 1]


def test_check_labels_out_of_range_and_unopenable_files(tmp_path: Path) -> None:
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    root.mkdir()
    (root / "shape_names.txt").write_text("a\nb\n")
    with h5py.File(root / "ply_data_train0.h5", "w") as handle:
        handle["data"] = np.stack([CLOUD, CLOUD, CLOUD])
        handle["label"] = np.array([[0], [2], [1]])
    report = check_dataset(root)
    assert report.problems == [(f"{root / 'ply_data_train0.h5'}[1]", "label 2 out of range [0, 2)")]
    with h5py.File(root / "ply_data_test0.h5", "w") as handle:
        handle["data"] = CLOUD[None]
    report = check_dataset(root, format="modelnet_h5")
    assert not report.ok and report.counts == {}
    assert report.problems[0][0].endswith("ply_data_test0.h5") and "no key 'label'" in report.problems[0][1]


def test_check_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        check_dataset(tmp_path / "nope")
