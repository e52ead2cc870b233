"""Scene batches: voxel sampling with inverse, concatenation with offsets, seeded streams, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pointdistill.data.base import DatasetSource
from pointdistill.data.scene_batch import (
    SceneDataConfig,
    SceneDataset,
    build_scene_loader,
    collate_scenes,
    sphere_crop,
)
from pointdistill.errors import ConfigError, DataError

VOXEL = 0.1


def room(n: int, seed: int, with_color: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, [4, 3, 2.5], size=(n, 3)).astype(np.float32)
    normals = rng.normal(size=(n, 3)).astype(np.float32)
    sample = {"points": points, "normals": normals / np.linalg.norm(normals, axis=1, keepdims=True),
              "segment": rng.integers(-1, 4, n), "name": f"room{seed}"}
    if with_color:
        sample["color"] = rng.random((n, 3)).astype(np.float32)
    return sample


class BadSplit:
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict:
        if index == 2:
            raise DataError("/data/train/broken/coord.npy", "corrupt or truncated .npy file")
        return room(500, index)


def source(scenes: list | BadSplit) -> DatasetSource:
    return DatasetSource("memory", Path("/data"), ["a", "b", "c", "d"], {"train": scenes})


@pytest.fixture(scope="module")
def scenes() -> list[dict]:
    return [room(n, seed) for seed, n in enumerate([2000, 1500, 2500, 1800])]


def test_eval_keeps_one_point_per_cell_and_inverse_reaches_every_point(scenes) -> None:
    dataset = SceneDataset(source(scenes), "train", SceneDataConfig(voxel_size=VOXEL), train=False)
    item = dataset[0]
    cells = np.floor(item["coord"].astype(np.float64) / VOXEL)
    assert len(np.unique(cells, axis=0)) == len(item["coord"]) < len(scenes[0]["points"])
    original = scenes[0]["points"]
    assert item["inverse"].shape == (len(original),)
    representative = original[item["index"][item["inverse"]]]
    assert np.abs(representative - original).max() < VOXEL  # the same cell: closer than one voxel on every axis
    np.testing.assert_array_equal(item["index"][item["inverse"][item["index"]]], item["index"])
    again = dataset[0]
    np.testing.assert_array_equal(again["index"], item["index"])  # evaluation is deterministic


def test_batch_is_the_concatenation_of_single_scene_items(scenes) -> None:
    dataset = SceneDataset(source(scenes), "train", SceneDataConfig(voxel_size=VOXEL), train=False)
    items = [dataset[i] for i in range(3)]
    batch = collate_scenes(items)
    singles = [collate_scenes([item]) for item in items]
    counts = [len(item["coord"]) for item in items]
    assert batch.offset.tolist() == np.cumsum(counts).tolist() and batch.offset.dtype == torch.int64
    assert batch.coord.dtype == torch.float32 and batch.feat.shape == (sum(counts), 6)
    for key in ("coord", "feat", "index", "segment", "original_segment"):
        assert torch.equal(getattr(batch, key), torch.cat([getattr(s, key) for s in singles])), key
    starts = [0] + np.cumsum(counts)[:-1].tolist()
    assert torch.equal(batch.inverse, torch.cat([s.inverse + start for s, start in zip(singles, starts)]))
    assert batch.original_offset.tolist() == np.cumsum([len(s["points"]) for s in scenes[:3]]).tolist()
    assert batch.batch_index().tolist() == sum(([b] * c for b, c in enumerate(counts)), [])
    assert batch.names == ["room0", "room1", "room2"]


def test_training_streams_follow_seed_epoch_and_index(scenes) -> None:
    config = SceneDataConfig(voxel_size=VOXEL)
    one = SceneDataset(source(scenes), "train", config, train=True, seed=5)
    same = SceneDataset(source(scenes), "train", config, train=True, seed=5)
    other = SceneDataset(source(scenes), "train", config, train=True, seed=6)
    a, b, c = one[(1, 0)], same[(1, 0)], other[(1, 0)]
    np.testing.assert_array_equal(a["coord"], b["coord"])
    np.testing.assert_array_equal(a["index"], b["index"])
    assert not np.array_equal(a["index"], c["index"]) and "inverse" not in a
    assert not np.array_equal(one[(2, 0)]["index"], a["index"])  # another epoch, another draw


def test_loader_batches_do_not_depend_on_the_number_of_workers(scenes) -> None:
    config = SceneDataConfig(voxel_size=VOXEL, max_points=400)
    runs = []
    for workers in (0, 2):
        loader = build_scene_loader(source(scenes), "train", config, batch_size=2, seed=3, num_workers=workers)
        loader.sampler.set_epoch(1)
        runs.append([(batch.names, batch.coord, batch.offset) for batch in loader])
    assert len(runs[0]) == 2
    for (names0, coord0, offset0), (names1, coord1, offset1) in zip(*runs):
        assert names0 == names1 and torch.equal(coord0, coord1) and torch.equal(offset0, offset1)
        assert offset0.tolist() == [400, 800]


def test_sphere_crop_keeps_the_nearest_points() -> None:
    points = np.random.default_rng(0).uniform(0, 1, size=(1000, 3))
    keep = sphere_crop(points, 100, np.random.default_rng(1))
    assert len(keep) == 100 and np.all(np.diff(keep) > 0)
    dropped = np.setdiff1d(np.arange(1000), keep)
    centre_candidates = points[keep]
    # some kept point is the centre: every kept point is at least as near to it as every dropped one
    dist = np.linalg.norm(points[:, None] - centre_candidates[None], axis=2)
    assert any(dist[keep, j].max() <= dist[dropped, j].min() for j in range(100))
    assert len(sphere_crop(points, 5000, np.random.default_rng(1))) == 1000


def test_missing_channel_is_a_data_error_naming_the_scene() -> None:
    dataset = SceneDataset(source([room(300, 0, with_color=False)]), "train", SceneDataConfig(), train=True)
    with pytest.raises(DataError, match="channel 'color'") as caught:
        dataset[0]
    assert caught.value.path == "/data/room0"
    coord_only = SceneDataset(source([room(300, 0, with_color=False)]), "train",
                              SceneDataConfig(channels=("coord", "normal")), train=True)
    assert coord_only[0]["feat"].shape[1] == 6
    with pytest.raises(ConfigError, match="channels"):
        SceneDataConfig(channels=("colour",))


def test_a_worker_error_surfaces_as_the_data_error_itself() -> None:
    loader = build_scene_loader(source(BadSplit()), "train", SceneDataConfig(voxel_size=VOXEL), batch_size=4,
                                seed=0, num_workers=1)
    with pytest.raises(DataError) as caught:
        list(loader)
    assert caught.value.path == "/data/train/broken/coord.npy"
