"""Real ModelNet shapes written into the upstream layouts, detected and read back unchanged."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from pointdistill.data.registry import detect_format, open_dataset


def test_normal_resampled_and_dat_cache_round_trip(tmp_path: Path, real_shapes) -> None:
    root = tmp_path / "modelnet40_normal_resampled"
    root.mkdir()
    (root / "modelnet40_shape_names.txt").write_text("\n".join(real_shapes.classes) + "\n")
    for points, name in zip(real_shapes.points, real_shapes.names):
        (root / name.rsplit("_", 1)[0]).mkdir(exist_ok=True)
        normals = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-6)
        np.savetxt(root / name.rsplit("_", 1)[0] / f"{name}.txt", np.hstack([points, normals]), fmt="%.6f",
                   delimiter=",")
    (root / "modelnet40_train.txt").write_text("\n".join(real_shapes.names[:3]) + "\n")
    (root / "modelnet40_test.txt").write_text("\n".join(real_shapes.names[3:]) + "\n")
    assert detect_format(tmp_path) == "modelnet40_normal"
    source = open_dataset(tmp_path)
    read = [source.splits[s][i] for s in ("train", "test") for i in range(len(source.splits[s]))]
    assert [r["name"] for r in read] == real_shapes.names
    assert [r["label"] for r in read] == real_shapes.labels.tolist()
    np.testing.assert_allclose(np.stack([r["points"] for r in read]), real_shapes.points, atol=1e-6)

    clouds = [np.hstack([p, p]) for p in real_shapes.points[:3]]
    labels = [np.array([label], np.int32) for label in real_shapes.labels[:3]]
    (root / "modelnet40_train_8192pts_fps.dat").write_bytes(pickle.dumps([clouds, labels]))
    cached = open_dataset(root, use_cache=True).splits["train"]
    for index in range(3):
        np.testing.assert_array_equal(cached[index]["points"], real_shapes.points[index])
        assert cached[index]["name"] == real_shapes.names[index]


def test_h5_layout_round_trip(tmp_path: Path, real_shapes) -> None:
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    root.mkdir()
    (root / "shape_names.txt").write_text("\n".join(real_shapes.classes) + "\n")
    for index, (start, stop) in enumerate(((0, 2), (2, 4))):
        with h5py.File(root / f"ply_data_train{index}.h5", "w") as handle:
            handle["data"] = real_shapes.points[start:stop]
            handle["label"] = real_shapes.labels[start:stop, None].astype(np.uint8)
    with h5py.File(root / "ply_data_test0.h5", "w") as handle:
        handle["data"] = real_shapes.points[4:]
        handle["label"] = real_shapes.labels[4:, None].astype(np.uint8)
    assert detect_format(root) == "modelnet_h5"
    source = open_dataset(tmp_path)
    train = source.splits["train"]
    np.testing.assert_array_equal(np.stack([train[i]["points"] for i in range(4)]), real_shapes.points[:4])
    assert [train[i]["label"] for i in range(4)] == real_shapes.labels[:4].tolist()
    assert source.splits["test"][0]["label"] == real_shapes.labels[4]


def test_real_meshes_in_modelnet_mesh_layout(tmp_path: Path, shared_data: Path) -> None:
    meshes = sorted((shared_data / "meshes").glob("*/*.off"))
    if not meshes:
        pytest.skip("shared meshes not found")
    for mesh in meshes[:4]:
        target = tmp_path / "ModelNet10" / mesh.parent.name / "test"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(mesh, target / mesh.name)
    assert detect_format(tmp_path) == "modelnet_mesh"
    source = open_dataset(tmp_path, num_points=2048)
    split = source.splits["test"]
    assert len(split) == 4
    for index in range(4):
        sample = split[index]
        assert sample["points"].shape == (2048, 3) and np.isfinite(sample["points"]).all()
        assert source.classes[sample["label"]] == sample["name"].rsplit("_", 1)[0]
    again = open_dataset(tmp_path, num_points=2048).splits["test"][0]["points"]
    np.testing.assert_array_equal(again, split[0]["points"])
