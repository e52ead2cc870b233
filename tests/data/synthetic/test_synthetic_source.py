"""synthetic_source (lazy, deterministic splits) and write_synthetic (npz and Pointcept layouts read back)."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

from pointdistill.data.synthetic import CLASSES, NUM_PARTS, SCENE_CLASSES, synthetic_source, write_synthetic
from pointdistill.errors import ConfigError


def test_shapes_source_defaults_and_fields() -> None:
    source = synthetic_source()
    assert source.format == "synthetic" and source.classes == list(CLASSES)
    assert len(source.split("train")) == 3072 and len(source.split("test")) == 1024
    assert source.info["num_parts"] == NUM_PARTS and set(source.info["part_names"]) == set(CLASSES)
    s = source.split("train")[5]
    assert set(s) == {"points", "label", "part", "name"}
    assert s["points"].shape == (1024, 3) and s["label"] == 5 % len(CLASSES)
    assert s["name"].startswith(CLASSES[s["label"]])
    name = CLASSES[s["label"]]
    offset = source.info["part_offsets"][name]
    assert (s["part"] >= offset).all() and (s["part"] < offset + len(source.info["part_names"][name])).all()


def test_samples_are_lazy_and_a_function_of_seed_split_index() -> None:
    start = time.perf_counter()
    big = synthetic_source("shapes", count=1_000_000, seed=3)
    assert time.perf_counter() - start < 2.0  # nothing generated up front
    late = big.split("test")[len(big.split("test")) - 1]
    assert late["points"].shape == (1024, 3)
    again = synthetic_source("shapes", count=10, seed=3).split("train")[4]
    assert np.array_equal(big.split("train")[4]["points"], again["points"])
    other_seed = synthetic_source("shapes", count=10, seed=4).split("train")[4]
    assert not np.array_equal(other_seed["points"], again["points"])
    test_twin = synthetic_source("shapes", count=40, seed=3).split("test")[4]
    assert not np.array_equal(test_twin["points"], again["points"])


def test_splits_pickle_into_workers() -> None:
    split = synthetic_source("scans", count=8, num_points=256).split("train")
    clone = pickle.loads(pickle.dumps(split))
    assert np.array_equal(clone[2]["points"], split[2]["points"])


def test_scans_and_scenes_sources() -> None:
    scans = synthetic_source("scans", count=8)
    s = scans.split("test")[1]
    assert set(s) == {"points", "label", "mask", "name"} and s["points"].shape == (2048, 3)
    assert (s["mask"] == -1).any() and set(np.unique(s["mask"])) <= {-1, s["label"]}
    scenes = synthetic_source("scenes", count=4, num_points=3000)
    assert scenes.classes == list(SCENE_CLASSES) and scenes.info["up_axis"] == "z"
    r = scenes.split("train")[0]
    assert set(r) == {"points", "color", "normals", "segment", "instance", "name"} and len(r["points"]) == 3000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "meshes"},
        {"count": 0},
        {"seed": -1},
        {"num_points": 0},
        {"test_fraction": 1.0},
        {"test_fraction": -0.1},
    ],
)
def test_bad_arguments_raise_config_errors(kwargs) -> None:
    with pytest.raises(ConfigError):
        synthetic_source(**kwargs)


def test_generate_rejects_unknown_kind_or_split() -> None:
    from pointdistill.data.synthetic import generate

    with pytest.raises(ConfigError):
        generate("shapes", 0, "val", 0)
    with pytest.raises(ConfigError):
        generate("voxels", 0, "train", 0)


def test_split_sizes_keep_both_splits_non_empty() -> None:
    source = synthetic_source(count=2, test_fraction=0.01)
    assert len(source.split("train")) == 1 and len(source.split("test")) == 1
    assert len(synthetic_source(count=5, test_fraction=0.0).split("test")) == 0


def test_write_shapes_npz_matches_source_and_reads_back(tmp_path) -> None:
    from pointdistill.data.readers import npz

    path = write_synthetic("shapes", tmp_path, count=10, seed=2, num_points=128, progress=False)
    with np.load(path, allow_pickle=False) as data:
        assert data["train_points"].shape == (8, 128, 3) and data["train_points"].dtype == np.float32
        assert data["test_labels"].dtype == np.int64 and data["train_parts"].dtype == np.int64
        assert data["train_names"].dtype.kind == "U" and list(data["classes"]) == list(CLASSES)
        assert len(data["part_names"]) == NUM_PARTS
        lazy = synthetic_source("shapes", count=10, seed=2, num_points=128).split("test")[1]
        assert np.array_equal(data["test_points"][1], lazy["points"])
        assert np.array_equal(data["test_parts"][1], lazy["part"])
    back = npz.read(path).split("train")[3]
    same = synthetic_source("shapes", count=10, seed=2, num_points=128).split("train")[3]
    assert np.array_equal(back["part"], same["part"]) and back["label"] == same["label"]


def test_write_scans_npz_has_masks(tmp_path) -> None:
    path = write_synthetic("scans", tmp_path, count=4, num_points=256, progress=False)
    with np.load(path, allow_pickle=False) as data:
        assert data["train_mask"].shape == (3, 256) and data["train_mask"].dtype == np.int64
        assert (data["train_mask"] == -1).any()


def test_write_scenes_pointcept_layout(tmp_path) -> None:
    from pointdistill.data.readers import pointcept

    root = write_synthetic("scenes", tmp_path / "rooms", count=3, num_points=2000, progress=False)
    scene = root / "train" / "scene_train_000000"
    assert {p.name for p in scene.iterdir()} == {"coord.npy", "color.npy", "normal.npy", "segment.npy", "instance.npy"}
    color = np.load(scene / "color.npy")
    assert color.dtype == np.uint8 and color.shape == (2000, 3)
    lazy = synthetic_source("scenes", count=3, num_points=2000).split("train")[0]
    back = pointcept.read(root, classes=SCENE_CLASSES).split("train")[0]
    assert np.array_equal(back["points"], lazy["points"]) and np.array_equal(back["segment"], lazy["segment"])
    assert np.abs(back["color"] - lazy["color"]).max() <= 0.5 / 255 + 1e-6
    assert len(list((root / "test").iterdir())) == 1
