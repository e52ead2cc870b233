"""ModelNet in its three upstream layouts: normal_resampled text (+ .dat cache), HDF5, and OFF meshes."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from pointdistill.data.readers import modelnet_h5, modelnet_mesh, modelnet_normal
from pointdistill.data.readers.mesh import read_off
from pointdistill.errors import DataError

CLASSES = ["airplane", "night_stand"]


def write_normal_layout(root: Path, clouds: dict[str, np.ndarray], classes: list[str], variant: str = "modelnet40",
                        splits: dict[str, list[str]] | None = None) -> Path:
    """``<root>/<class>/<id>.txt`` rows x,y,z,nx,ny,nz plus the shape-name and split lists."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{variant}_shape_names.txt").write_text("\n".join(classes) + "\n")
    for shape_id, points in clouds.items():
        folder = root / shape_id.rsplit("_", 1)[0]
        folder.mkdir(exist_ok=True)
        table = np.concatenate([points, points / np.linalg.norm(points, axis=1, keepdims=True)], axis=1)
        np.savetxt(folder / f"{shape_id}.txt", table, fmt="%.6f", delimiter=",")
    splits = splits or {"train": list(clouds)[:-1], "test": list(clouds)[-1:]}
    for split, ids in splits.items():
        (root / f"{variant}_{split}.txt").write_text("\n".join(ids) + "\n")
    return root


@pytest.fixture
def normal_root(tmp_path: Path, cloud: np.ndarray) -> Path:
    clouds = {"airplane_0001": cloud, "night_stand_0001": cloud[:10] * 2, "airplane_0002": cloud[::-1]}
    return write_normal_layout(tmp_path / "modelnet40_normal_resampled", clouds, CLASSES)


def test_normal_resampled_reads_points_normals_labels(normal_root: Path, cloud: np.ndarray) -> None:
    source = modelnet_normal.read(normal_root.parent)  # the parent folder is found too
    assert source.format == "modelnet40_normal" and source.classes == CLASSES
    assert {name: len(split) for name, split in source.splits.items()} == {"train": 2, "test": 1}
    first, second = source.splits["train"][0], source.splits["train"][1]
    np.testing.assert_allclose(first["points"], cloud, atol=1e-5)
    assert first["normals"].shape == (64, 3) and first["points"].dtype == np.float32
    assert (first["name"], first["label"]) == ("airplane_0001", 0)
    assert (second["name"], second["label"], len(second["points"])) == ("night_stand_0001", 1, 10)
    assert len(modelnet_normal.read(normal_root, num_points=5).splits["train"][0]["points"]) == 5


def test_modelnet10_variant_lists(tmp_path: Path, cloud: np.ndarray) -> None:
    root = write_normal_layout(tmp_path / "mn", {"night_stand_0003": cloud}, ["night_stand"], variant="modelnet10",
                               splits={"test": ["night_stand_0003"]})
    source = modelnet_normal.read(root)
    assert source.info["variant"] == "modelnet10" and list(source.splits) == ["test"]
    assert source.splits["test"][0]["label"] == 0


def test_dat_cache_is_read_safely(normal_root: Path, cloud: np.ndarray) -> None:
    clouds = [np.concatenate([cloud, cloud], axis=1), np.concatenate([cloud, cloud], axis=1)[:7]]
    labels = [np.array([0], np.int32), np.array([1], np.int32)]
    (normal_root / "modelnet40_train_8192pts_fps.dat").write_bytes(pickle.dumps([clouds, labels]))
    source = modelnet_normal.read(normal_root, use_cache=True)
    assert source.info["cache"] and list(source.splits) == ["train"]
    sample = source.splits["train"][1]
    assert (sample["name"], sample["label"], sample["points"].shape) == ("night_stand_0001", 1, (7, 3))
    np.testing.assert_array_equal(source.splits["train"][0]["points"], cloud)


def test_dat_cache_with_code_is_refused(normal_root: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("pwned",))

    (normal_root / "modelnet40_test_8192pts_fps.dat").write_bytes(pickle.dumps([[Evil()], [0]]))
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        modelnet_normal.read(normal_root, use_cache=True)


@pytest.mark.parametrize("damage, problem", [
    (lambda f: f.unlink(), "file not found"),
    (lambda f: f.write_text("0.1,0.2,0.3,0,0,1\n0.1,abc,0.3,0,0,1\n"), "not a numeric table"),
    (lambda f: f.write_text("0.1,0.2,0.3,0,0,1\n0.1,0.2\n"), "not a numeric table"),
    (lambda f: f.write_text("0.1,nan,0.3,0,0,1\n"), "NaN or infinite"),
    (lambda f: f.write_text("0.1,inf,0.3,0,0,1\n"), "NaN or infinite"),
    (lambda f: f.write_text(""), "empty cloud"),
])
def test_normal_resampled_bad_files_name_the_file(normal_root: Path, damage, problem: str) -> None:
    bad = normal_root / "airplane" / "airplane_0001.txt"
    damage(bad)
    split = modelnet_normal.read(normal_root).splits["train"]
    with pytest.raises(DataError, match=problem) as caught:
        split[0]
    assert caught.value.path == str(bad)
    assert split[1]["name"] == "night_stand_0001"  # the other files still read


def test_normal_resampled_unknown_class_in_split_list(normal_root: Path) -> None:
    (normal_root / "modelnet40_test.txt").write_text("sofa_0001\n")
    with pytest.raises(DataError, match="unknown class 'sofa'"):
        modelnet_normal.read(normal_root)


def write_h5(path: Path, points: np.ndarray, labels: np.ndarray, **extra: np.ndarray) -> None:
    with h5py.File(path, "w") as handle:
        handle["data"] = points
        handle["label"] = labels
        for key, value in extra.items():
            handle[key] = value


@pytest.fixture
def h5_root(tmp_path: Path, cloud: np.ndarray) -> Path:
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    root.mkdir()
    (root / "shape_names.txt").write_text("a\nb\nc\n")
    stack = np.stack([cloud, cloud * 2, cloud * 3])
    write_h5(root / "ply_data_train0.h5", stack[:2], np.array([[0], [2]], np.uint8))
    write_h5(root / "ply_data_train1.h5", stack[2:], np.array([[1]], np.uint8))
    write_h5(root / "ply_data_test0.h5", stack[:1], np.array([[1]], np.uint8))
    return root


def test_h5_splits_concatenate_files(h5_root: Path, cloud: np.ndarray) -> None:
    source = modelnet_h5.read(h5_root)
    assert source.classes == ["a", "b", "c"]
    train = source.splits["train"]
    assert len(train) == 3 and len(source.splits["test"]) == 1
    assert [train[i]["label"] for i in range(3)] == [0, 2, 1]
    np.testing.assert_array_equal(train[2]["points"], cloud * 3)
    np.testing.assert_array_equal(train[-1]["points"], cloud * 3)
    assert train[2]["name"].endswith("ply_data_train1.h5[0]")
    with pytest.raises(IndexError):
        train[3]


def test_h5_split_survives_pickling_for_workers(h5_root: Path) -> None:
    split = modelnet_h5.read(h5_root).splits["train"]
    split[0]  # opens a handle in this process
    clone = pickle.loads(pickle.dumps(split))
    np.testing.assert_array_equal(clone[1]["points"], split[1]["points"])


def test_h5_bad_files(h5_root: Path, cloud: np.ndarray) -> None:
    write_h5(h5_root / "ply_data_test0.h5", np.stack([cloud, cloud]), np.array([[1], [7]]))
    test = modelnet_h5.read(h5_root).splits["test"]
    assert test[0]["label"] == 1
    with pytest.raises(DataError, match=r"label 7 out of range \[0, 3\)"):
        test[1]
    test.close()  # the split keeps its file open between reads
    nan_cloud = cloud.copy()
    nan_cloud[3, 1] = np.nan
    write_h5(h5_root / "ply_data_test0.h5", nan_cloud[None], np.array([[1]]))
    with pytest.raises(DataError, match="NaN"):
        modelnet_h5.read(h5_root).splits["test"][0]
    with h5py.File(h5_root / "ply_data_test0.h5", "w") as handle:
        handle["data"] = cloud[None]
    with pytest.raises(DataError, match="no key 'label'") as caught:
        modelnet_h5.read(h5_root)
    assert caught.value.path.endswith("ply_data_test0.h5")
    (h5_root / "ply_data_test0.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    with pytest.raises(DataError, match="not a readable HDF5"):
        modelnet_h5.read(h5_root)


GLUED_CUBE = """OFF8 12 0
-1 -1 -1
1 -1 -1
1 1 -1
-1 1 -1
-1 -1 1
1 -1 1
1 1 1
-1 1 1
3 0 2 1
3 0 3 2
3 4 5 6
3 4 6 7
3 0 1 5
3 0 5 4
3 2 3 7
3 2 7 6
3 1 2 6
3 1 6 5
3 0 4 7
3 0 7 3
"""

QUAD_SQUARE = """# a comment line
OFF

4 1 0   # counts
0 0 0
2 0 0
2 2 0

0 2 0
4 0 1 2 3
"""


def test_off_parser_handles_glued_header_comments_and_polygons(tmp_path: Path) -> None:
    (tmp_path / "cube.off").write_text(GLUED_CUBE)
    vertices, faces = read_off(tmp_path / "cube.off")
    assert vertices.shape == (8, 3) and faces.shape == (12, 3)
    (tmp_path / "square.off").write_text(QUAD_SQUARE)
    vertices, faces = read_off(tmp_path / "square.off")
    assert vertices.shape == (4, 3)
    np.testing.assert_array_equal(faces, [[0, 1, 2], [0, 2, 3]])


@pytest.mark.parametrize("text, problem", [
    ("OFF\n8 12 0\n0 0 0\n", "truncated OFF"),
    ("PLY\n", "not an OFF file"),
    ("OFF\n3 1 0\n0 0 0\n1 x 0\n0 1 0\n3 0 1 2\n", "non-numeric"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 9\n", "outside"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 nan 0\n3 0 1 2\n", "NaN"),
    ("OFF\n3 1 0\n0 0 0\n0 0 0\n0 0 0\n3 0 1 2\n", "zero surface area"),
    ("OFF\n0 0 0\n", "at least 1"),
])
def test_mesh_reader_bad_off_files(tmp_path: Path, text: str, problem: str) -> None:
    folder = tmp_path / "ModelNet10" / "chair" / "test"
    folder.mkdir(parents=True)
    (folder / "chair_0001.off").write_text(text)
    split = modelnet_mesh.read(tmp_path).splits["test"]
    with pytest.raises(DataError, match=problem) as caught:
        split[0]
    assert caught.value.path == str(folder / "chair_0001.off")


def test_mesh_layout_samples_the_surface_deterministically(tmp_path: Path) -> None:
    root = tmp_path / "ModelNet40"
    for class_name, split in (("box", "train"), ("box", "test"), ("cube", "train")):
        (root / class_name / split).mkdir(parents=True)
        (root / class_name / split / f"{class_name}_0001.off").write_text(GLUED_CUBE)
    source = modelnet_mesh.read(root, num_points=500, seed=3)
    assert source.classes == ["box", "cube"]
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 2, "test": 1}
    sample = source.splits["train"][1]
    assert sample["points"].shape == (500, 3) and sample["label"] == 1 and sample["name"] == "cube_0001"
    # On the cube's surface: one coordinate is +-1 for every point, and the normal points along it.
    on_face = np.isclose(np.abs(sample["points"]), 1, atol=1e-5)
    assert on_face.any(axis=1).all()
    np.testing.assert_allclose(np.abs(sample["normals"]).sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(sample["points"], source.splits["train"][1]["points"])
    other_seed = modelnet_mesh.read(root, num_points=500, seed=4).splits["train"][1]["points"]
    assert not np.allclose(other_seed, sample["points"])
    # Area-weighted: the 6 faces have equal area, so each gets about 1/6 of the points.
    counts = np.bincount(np.argmax(np.abs(sample["points"]), axis=1), minlength=3)
    assert counts.min() > 100
