"""Rooms furnished with real object clouds: readable Pointcept folders, objects on the floor and apart, labels
that cover the furniture classes, and source objects kept apart between train/val and test scenes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from pointdistill.cli.main import main
from pointdistill.data.readers import pointcept
from pointdistill.data.registry import open_dataset
from pointdistill.data.synthetic.furnished import furnished_scene, load_furniture
from pointdistill.errors import DataError

SHARED = Path(os.environ.get("POINTDISTILL_SHARED_DATA", Path(__file__).parents[3] / ".." / "shared" / "data"))
CLASSES = ["airplane", "chair", "table", "bed"]


def fake_objects(path: Path, points: int = 256) -> Path:
    """A tiny labelled npz like the shared ModelNet files: y-up boxes of class-specific proportions."""
    rng = np.random.default_rng(0)
    proportions = np.array([[2.0, 0.3, 2.0], [0.5, 1.0, 0.5], [1.5, 0.7, 1.0], [1.0, 0.5, 2.0]])
    arrays: dict[str, np.ndarray] = {"classes": np.array(CLASSES)}
    for split, per_class in (("train", 5), ("test", 2)):
        labels = np.repeat(np.arange(len(CLASSES)), per_class)
        clouds = rng.uniform(-0.5, 0.5, size=(len(labels), points, 3)) * proportions[labels][:, None]
        clouds /= np.linalg.norm(clouds, axis=2).max(axis=1)[:, None, None]
        arrays[f"{split}_points"] = clouds.astype(np.float16)
        arrays[f"{split}_labels"] = labels.astype(np.int64)
        arrays[f"{split}_names"] = np.array([f"{CLASSES[c]}_{split}_{i:04d}" for i, c in enumerate(labels)])
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("furnished")
    objects = fake_objects(folder / "objects.npz")
    assert main(["data", "synth", "scenes", "--objects", str(objects), "--count", "5", "--seed", "3", "--objects-up", "y",
                 "--out", str(folder / "rooms")]) == 0
    return folder / "rooms"


def scenes_of(root: Path) -> list[tuple[str, dict, list[dict]]]:
    source = pointcept.read(root)
    out = []
    for split, data in source.splits.items():
        for i in range(len(data)):
            sample = data[i]
            out.append((split, sample, json.loads((root / sample["name"] / "objects.json").read_text())))
    return out


def test_the_reader_reads_the_scenes_with_their_class_names(written: Path) -> None:
    source = open_dataset(written)
    assert source.format == "pointcept" and source.classes == ["floor", "wall", "bed", "chair", "table"]
    assert {name: len(split) for name, split in source.splits.items()} == {"train": 3, "val": 1, "test": 1}
    sample = source.splits["train"][0]
    for key in ("points", "color", "normals", "segment", "instance"):
        assert len(sample[key]) == len(sample["points"]), key
    np.testing.assert_allclose(np.linalg.norm(sample["normals"], axis=1), 1.0, atol=1e-3)


def test_objects_stand_on_the_floor_apart_and_carry_their_labels(written: Path) -> None:
    seen = set()
    classes = pointcept.read(written).classes
    for _, sample, objects in scenes_of(written):
        assert len(objects) >= 1
        boxes = []
        for obj in objects:
            mask = sample["instance"] == obj["instance"]
            assert mask.sum() == 256
            assert set(sample["segment"][mask].tolist()) == {classes.index(obj["class"])}
            points = sample["points"][mask]
            assert abs(points[:, 2].min()) < 1e-3  # stands on the floor at z = 0
            assert points[:, 2].max() > 0.2
            boxes.append((*points[:, :2].min(axis=0), *points[:, :2].max(axis=0)))
            seen.add(obj["class"])
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
        structure = sample["instance"] == -1
        assert set(sample["segment"][structure].tolist()) == {0, 1}
    assert seen == {"chair", "table", "bed"}


def test_train_val_and_test_scenes_use_disjoint_source_objects(written: Path) -> None:
    sources: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for split, _, objects in scenes_of(written):
        sources[split] |= {obj["source"] for obj in objects}
    # the fake objects' names say which split of the object dataset they come from
    assert all(name.startswith("train/") and "_train_" in name for name in sources["train"] | sources["val"])
    assert all(name.startswith("test/") and "_test_" in name for name in sources["test"]) and sources["test"]
    assert not sources["train"] & sources["val"]


def test_scenes_are_a_function_of_the_seed(tmp_path: Path) -> None:
    furniture = load_furniture(open_dataset(fake_objects(tmp_path / "objects.npz")), seed=1, up="y")
    a, objects_a = furnished_scene(furniture, "train", 1, 0)
    b, objects_b = furnished_scene(furniture, "train", 1, 0)
    c, _ = furnished_scene(furniture, "train", 2, 0)
    np.testing.assert_array_equal(a["points"], b["points"])
    assert objects_a == objects_b and not np.array_equal(a["points"], c["points"])


def test_an_unlabelled_or_furniture_free_dataset_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "planes.npz"
    np.savez(path, classes=np.array(["airplane"]), train_points=np.zeros((2, 8, 3)), train_labels=np.zeros(2, int),
             test_points=np.zeros((1, 8, 3)), test_labels=np.zeros(1, int))
    with pytest.raises(DataError, match="no furniture-like class"):
        load_furniture(open_dataset(path), 0)
    assert main(["data", "synth", "shapes", "--objects", str(path), "--out", str(tmp_path / "x")]) == 2


def test_procedural_scenes_write_class_names_too(tmp_path: Path) -> None:
    assert main(["data", "synth", "scenes", "--count", "2", "--num-points", "2000", "--out", str(tmp_path)]) == 0
    source = pointcept.read(tmp_path)
    assert source.classes[:2] == ["floor", "wall"] and len(source.splits["train"]) == 1


def test_real_modelnet40_furnishes_a_room() -> None:
    path = SHARED / "modelnet40_1024_f16.npz"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    furniture = load_furniture(open_dataset(path), seed=0)
    assert {"chair", "sofa", "bed", "table"} <= set(furniture.classes)
    sample, objects = furnished_scene(furniture, "test", 0, 0)
    assert objects and all(obj["source"].startswith("test/") for obj in objects)
    assert sample["points"][:, 2].min() > -0.05
    for obj in objects:  # the default up axis (z) stands the shared files upright: nothing reaches the ceiling
        height = np.ptp(sample["points"][sample["instance"] == obj["instance"], 2])
        assert height < 2.3, (obj, height)


def test_the_objects_up_axis_is_honoured(tmp_path: Path) -> None:
    source = open_dataset(fake_objects(tmp_path / "objects.npz"))
    beds = [load_furniture(source, seed=0, up=up).pools["test"] for up in ("y", "z")]
    index = beds[0].classes.tolist().index(2)  # "bed": 1.0 x 0.5 x 2.0 in the fake y-up file
    assert np.ptp(beds[0].points[index][:, 1]) < np.ptp(beds[1].points[index][:, 1])
