"""Layout detection for every format, explicit override, and the errors users see."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

import pointdistill.data.synthetic as synthetic_package
from pointdistill.data.base import DatasetSource
from pointdistill.data.registry import FORMATS, detect_format, open_dataset
from pointdistill.errors import DataError

CLOUD = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)


def _h5(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle[key] = value


def make_shapenet55(root: Path) -> Path:
    (root / "ShapeNet55-34" / "shapenet_pc").mkdir(parents=True)
    (root / "ShapeNet55-34" / "ShapeNet-55").mkdir()
    np.save(root / "ShapeNet55-34" / "shapenet_pc" / "02691156-x.npy", CLOUD)
    (root / "ShapeNet55-34" / "ShapeNet-55" / "train.txt").write_text("02691156-x.npy\n")
    return root


def make_modelnet40_normal(root: Path) -> Path:
    (root / "airplane").mkdir(parents=True)
    (root / "modelnet40_shape_names.txt").write_text("airplane\n")
    (root / "modelnet40_train.txt").write_text("airplane_0001\n")
    np.savetxt(root / "airplane" / "airplane_0001.txt", np.hstack([CLOUD, CLOUD]), delimiter=",")
    return root


def make_modelnet_h5(root: Path) -> Path:
    _h5(root / "ply_data_train0.h5", data=CLOUD[None], label=np.array([[0]]))
    return root


def make_modelnet_mesh(root: Path) -> Path:
    (root / "ModelNet10" / "chair" / "train").mkdir(parents=True)
    (root / "ModelNet10" / "chair" / "train" / "chair_0001.off").write_text(
        "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    return root


def make_scanobjectnn(root: Path) -> Path:
    _h5(root / "h5_files" / "main_split" / "training_objectdataset.h5", data=CLOUD[None], label=np.array([2]),
        mask=np.zeros((1, 32)))
    return root


def make_shapenetpart(root: Path) -> Path:
    (root / "train_test_split").mkdir(parents=True)
    (root / "synsetoffset2category.txt").write_text("Mug 03797390\n")
    (root / "03797390").mkdir()
    np.savetxt(root / "03797390" / "m.txt", np.hstack([CLOUD, CLOUD, np.full((32, 1), 36)]))
    (root / "train_test_split" / "shuffled_train_file_list.json").write_text(json.dumps(["shape_data/03797390/m"]))
    return root


def make_fewshot(root: Path) -> Path:
    (root / "5way_10shot").mkdir(parents=True)
    (root / "5way_10shot" / "0.pkl").write_bytes(pickle.dumps({"train": [(CLOUD, 0, 3)], "test": [(CLOUD, 0, 3)]}))
    return root


def make_folder(root: Path) -> Path:
    (root / "lamp").mkdir(parents=True)
    np.save(root / "lamp" / "l.npy", CLOUD)
    return root


def make_npz(root: Path) -> Path:
    root.mkdir(parents=True)
    np.savez(root / "set.npz", classes=np.array(["a"]), train_points=CLOUD[None], train_labels=np.array([0]))
    return root / "set.npz"


def make_pointcept(root: Path) -> Path:
    (root / "train" / "scene0").mkdir(parents=True)
    np.save(root / "train" / "scene0" / "coord.npy", CLOUD)
    return root


def make_semantickitti(root: Path) -> Path:
    (root / "dataset" / "sequences" / "08" / "velodyne").mkdir(parents=True)
    np.hstack([CLOUD, CLOUD[:, :1]]).tofile(root / "dataset" / "sequences" / "08" / "velodyne" / "000000.bin")
    return root


def make_packed(root: Path) -> Path:
    from pointdistill.data.pack import pack_dataset

    return pack_dataset(open_dataset(make_folder(root / "src")), root / "packed")


MAKERS = {
    "shapenet55": make_shapenet55, "modelnet40_normal": make_modelnet40_normal, "modelnet_h5": make_modelnet_h5,
    "modelnet_mesh": make_modelnet_mesh, "scanobjectnn": make_scanobjectnn, "shapenetpart": make_shapenetpart,
    "modelnet_fewshot": make_fewshot, "folder": make_folder, "npz": make_npz, "pointcept": make_pointcept,
    "semantickitti": make_semantickitti, "packed": make_packed,
}


def test_every_format_has_a_layout_test() -> None:
    assert set(MAKERS) == set(FORMATS)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_layout_is_detected_and_opens(tmp_path: Path, name: str) -> None:
    path = MAKERS[name](tmp_path / "data")
    assert detect_format(path) == name
    source = open_dataset(path)
    assert isinstance(source, DatasetSource) and source.format == name
    split = next(split for split in source.splits.values() if len(split))
    sample = split[0]
    assert sample["points"].dtype == np.float32 and sample["points"].shape[1] == 3
    assert ("label" in sample) == source.labelled or name == "semantickitti"


def test_explicit_format_overrides_detection(tmp_path: Path) -> None:
    root = make_modelnet40_normal(tmp_path / "mn")
    source = open_dataset(root, format="folder")  # the .txt files are point files too
    assert source.format == "folder" and source.classes == ["airplane"]
    with pytest.raises(DataError, match="not a ModelNet HDF5 layout"):
        open_dataset(root, format="modelnet_h5")


def test_missing_unknown_and_bad_option_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder") as caught:
        open_dataset(tmp_path / "absent")
    assert caught.value.path == str(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="unrecognised dataset layout; readable formats: .*modelnet_h5.*shapenet55"):
        open_dataset(tmp_path / "empty")
    root = make_folder(tmp_path / "f")
    with pytest.raises(DataError, match="unknown format 'modelnet99'"):
        open_dataset(root, format="modelnet99")
    with pytest.raises(DataError, match="format folder takes no option 'variant'"):
        open_dataset(root, variant="obj_bg")


def test_damaged_single_file_datasets_are_reported_as_such(tmp_path: Path) -> None:
    """A zero-byte .h5 or a truncated .npz is a damaged file of a known format, not an unknown layout."""
    (tmp_path / "zero.h5").write_bytes(b"")
    full = make_npz(tmp_path / "npz")
    (tmp_path / "cut.npz").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    np.savez(tmp_path / "cloud.npz", points=CLOUD)
    cases = [("zero.h5", "the file is empty"), ("cut.npz", "corrupt or truncated"), ("cloud.npz", "no '<split>_points'")]
    for name, problem in cases:
        with pytest.raises(DataError, match=problem) as caught:
            open_dataset(tmp_path / name)
        assert caught.value.path == str(tmp_path / name) and "unrecognised" not in str(caught.value)


def test_synthetic_spec_is_delegated(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake(kind: str, **options: object) -> DatasetSource:
        calls.append((kind, options))
        return DatasetSource("synthetic", Path("."), [], {})

    monkeypatch.setattr(synthetic_package, "synthetic_source", fake)
    assert open_dataset("synthetic:scans", count=8, seed=1, num_points=64).format == "synthetic"
    assert calls == [("scans", {"count": 8, "seed": 1, "num_points": 64})]
    with pytest.raises(DataError, match="unknown synthetic kind 'trees'"):
        open_dataset("synthetic:trees")


def test_real_synthetic_shapes() -> None:
    source = open_dataset("synthetic:shapes", count=8, seed=0, num_points=128)
    assert sum(len(split) for split in source.splits.values()) == 8  # count is the total over train and test
    assert source.split("train")[0]["points"].shape == (128, 3)


def test_shared_data_is_detected() -> None:
    shared = Path(os.environ.get("POINTDISTILL_SHARED_DATA", Path(__file__).parents[2] / ".." / "shared" / "data"))
    if not (shared / "meshes").is_dir():
        pytest.skip("shared data not found")
    assert detect_format(shared / "meshes") == "folder"
    assert detect_format(shared / "modelnet10_1024_f16.npz") == "npz"
