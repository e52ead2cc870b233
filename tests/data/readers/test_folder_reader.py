"""The catch-all folder reader: every point and mesh file type, and the four folder layouts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import trimesh

from pointdistill.data.readers import folder
from pointdistill.errors import DataError


def write_pcd(path: Path, points: np.ndarray, binary: bool) -> None:
    header = (f"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z rgb\nSIZE 4 4 4 4\nTYPE F F F U\nCOUNT 1 1 1 1\n"
              f"WIDTH {len(points)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {len(points)}\n"
              f"DATA {'binary' if binary else 'ascii'}\n")
    rgb = np.arange(len(points), dtype=np.uint32)
    if binary:
        records = np.zeros(len(points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")])
        records["x"], records["y"], records["z"], records["rgb"] = points[:, 0], points[:, 1], points[:, 2], rgb
        path.write_bytes(header.encode() + records.tobytes())
    else:
        rows = "\n".join(f"{x:.6f} {y:.6f} {z:.6f} {c}" for (x, y, z), c in zip(points, rgb))
        path.write_text(header + rows + "\n")


def test_every_point_file_type_reads_the_same_cloud(tmp_path: Path, cloud: np.ndarray) -> None:
    root = tmp_path / "clouds"
    root.mkdir()
    np.save(root / "a.npy", cloud)
    np.savez(root / "b.npz", points=cloud, other=np.zeros(3))
    np.savetxt(root / "c.xyz", cloud, fmt="%.6f")
    np.savetxt(root / "d.txt", np.column_stack([cloud, cloud]), fmt="%.6f", delimiter=",")
    write_pcd(root / "e.pcd", cloud, binary=False)
    write_pcd(root / "f.pcd", cloud, binary=True)
    trimesh.PointCloud(cloud).export(root / "g.ply")
    source = folder.read(root)
    assert source.classes == [] and list(source.splits) == ["all"]
    split = source.splits["all"]
    assert [split[i]["name"] for i in range(len(split))] == ["a", "b", "c", "d", "e", "f", "g"]
    for index in range(len(split)):
        sample = split[index]
        assert "label" not in sample
        np.testing.assert_allclose(sample["points"], cloud, atol=1e-5, err_msg=sample["name"])


def test_mesh_files_are_surface_sampled(tmp_path: Path) -> None:
    root = tmp_path / "meshes" / "boxes"
    root.mkdir(parents=True)
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    for suffix in ("obj", "stl", "ply", "glb"):
        box.export(root / f"box.{suffix}")
    trimesh.Scene([box, box.copy().apply_translation([5, 0, 0])]).export(root / "two.glb")
    source = folder.read(tmp_path / "meshes", num_points=300)
    assert source.classes == ["boxes"]
    split = source.splits["all"]
    assert len(split) == 5
    samples = {sample["name"]: sample for sample in (split[i] for i in range(len(split)))}
    for name, sample in samples.items():
        assert sample["points"].shape == (300, 3) and sample["label"] == 0
        if name != "boxes/two":  # every point lies on the surface of the 2x2x2 box
            np.testing.assert_allclose(np.abs(sample["points"]).max(axis=1), 1, atol=1e-5, err_msg=name)
    two = samples["boxes/two"]["points"]
    assert (two[:, 0] > 3).any() and (two[:, 0] < 2).any()  # both meshes of the scene are sampled


@pytest.mark.parametrize("layout, splits, labels", [
    (["chair/a.npy", "chair/b.npy", "table/c.npy", "README.txt"], {"all": 3}, {"a": 0, "b": 0, "c": 1}),
    (["train/chair/a.npy", "train/table/b.npy", "test/table/c.npy"], {"train": 2, "test": 1}, {"a": 0, "b": 1, "c": 1}),
    (["chair/train/a.npy", "chair/test/b.npy", "table/train/c.npy"], {"train": 2, "test": 1}, {"a": 0, "b": 0, "c": 1}),
    (["train/a.npy", "val/b.npy"], {"train": 1, "val": 1}, None),
])
def test_folder_layouts(
    tmp_path: Path, cloud: np.ndarray, layout: list[str], splits: dict[str, int], labels: dict[str, int] | None
) -> None:
    for relative in layout:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith(".npy"):
            np.save(tmp_path / relative, cloud)
        else:
            (tmp_path / relative).write_text("not a cloud")
    source = folder.read(tmp_path)
    assert {k: len(v) for k, v in source.splits.items()} == splits
    samples = [source.splits[s][i] for s in splits for i in range(splits[s])]
    if labels is None:
        assert source.classes == [] and all("label" not in sample for sample in samples)
    else:
        assert source.classes == ["chair", "table"]
        assert {sample["name"].split("/")[-1]: sample["label"] for sample in samples} == labels
    if "README.txt" in layout:
        assert source.info["ignored"] == ["README.txt"]


def test_bad_point_files(tmp_path: Path, cloud: np.ndarray) -> None:
    np.save(tmp_path / "nan.npy", np.full((4, 3), np.nan, np.float32))
    np.save(tmp_path / "flat.npy", np.zeros(5, np.float32))
    (tmp_path / "text.xyz").write_text("1 2 3\n4 five 6\n")
    (tmp_path / "cut.npy").write_bytes(np.lib.format.magic(1, 0) + b"\x10\x00{'descr': '<f4'")
    (tmp_path / "zip.pcd").write_text("FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nPOINTS 1\nDATA binary_compressed\n")
    (tmp_path / "scan.las").write_bytes(b"LASF")
    split = folder.read(tmp_path).splits["all"]
    problems = {}
    for index in range(len(split)):
        with pytest.raises(DataError) as caught:
            split[index]
        problems[Path(caught.value.path).name] = caught.value.problem
    assert "NaN" in problems["nan.npy"] and "[N, 3]" in problems["flat.npy"]
    assert "numeric" in problems["text.xyz"] and "corrupt or truncated" in problems["cut.npy"]
    assert "binary_compressed" in problems["zip.pcd"]
    if importlib.util.find_spec("laspy") is None:
        assert "pip install laspy" in problems["scan.las"]


def test_no_shapes_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(DataError, match="no shape files"):
        folder.read(tmp_path)
