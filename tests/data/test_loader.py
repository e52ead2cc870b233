"""Seeded, resumable, DDP-sharded loading: sampler shards, per-sample streams, workers, bad samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointdistill.data import padding
from pointdistill.data.base import ArraySplit
from pointdistill.data.loader import EpochSampler, ViewDataset, build_loader, collate
from pointdistill.errors import DataError, TrainingError


class NoisyView:
    """A tiny picklable view transform whose output is mostly its random stream, so streams can be compared."""

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        return {"points": sample["points"][:4] + rng.random((4, 3)).astype(np.float32), "noise": rng.random(3)}


class BrokenSplit:
    """A split whose listed indices fail to load, like unreadable files."""

    def __init__(self, size: int, bad: set[int]) -> None:
        self.inner = split(size)
        self.bad = bad

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> dict:
        if index in self.bad:
            raise DataError(f"/data/shape_{index}.npy", "truncated file")
        return self.inner[index]


def split(size: int = 24) -> ArraySplit:
    points = np.random.default_rng(0).normal(size=(size, 16, 3)).astype(np.float32)
    return ArraySplit({"points": points, "label": np.arange(size)}, origin="toy")


def keys(sampler: EpochSampler) -> list[tuple[int, int]]:
    return list(sampler)


@pytest.mark.parametrize("num_samples, world", [(100, 4), (103, 4), (10, 3)])
def test_ranks_are_disjoint_equal_and_cover_the_epoch(num_samples, world):
    shards = []
    for rank in range(world):
        sampler = EpochSampler(num_samples, seed=3, rank=rank, world_size=world)
        sampler.set_epoch(2)
        shard = [index for _, index in keys(sampler)]
        assert len(shard) == len(sampler) == num_samples // world
        shards.append(shard)
    flat = [i for shard in shards for i in shard]
    assert len(set(flat)) == len(flat), "ranks overlap"
    assert len(flat) == num_samples - num_samples % world


def test_without_drop_last_every_sample_is_served():
    served = set()
    for rank in range(4):
        sampler = EpochSampler(103, seed=3, rank=rank, world_size=4, drop_last=False)
        shard = [index for _, index in keys(sampler)]
        assert len(shard) == 26
        served.update(shard)
    assert served == set(range(103))


def test_epochs_have_different_seeded_permutations():
    sampler = EpochSampler(50, seed=1)
    sampler.set_epoch(0)
    first = keys(sampler)
    assert first == keys(EpochSampler(50, seed=1))
    sampler.set_epoch(1)
    second = keys(sampler)
    assert {e for e, _ in second} == {1}
    assert [i for _, i in first] != [i for _, i in second]
    assert sorted(i for _, i in second) == list(range(50))
    assert [i for _, i in keys(EpochSampler(50, seed=1, shuffle=False))] == list(range(50))


def test_start_at_resumes_at_the_exact_next_sample():
    sampler = EpochSampler(40, seed=5, rank=1, world_size=2, batch_size=4)
    sampler.set_epoch(3)
    full = keys(sampler)
    sampler.start_at(2)
    assert keys(sampler) == full[8:]
    assert len(sampler) == len(full) - 8
    sampler.set_epoch(4)
    assert len(keys(sampler)) == len(full), "a new epoch starts from its beginning"
    with pytest.raises(ValueError, match="resume"):
        sampler.start_at(6)


def test_sample_streams_depend_on_seed_epoch_and_index_only():
    dataset = ViewDataset(split(), NoisyView(), seed=7)
    first = dataset[(1, 5)]
    np.testing.assert_array_equal(first["noise"], dataset[(1, 5)]["noise"])
    stream = np.random.default_rng([7, 1, 5])
    stream.random((4, 3))
    np.testing.assert_array_equal(first["noise"], stream.random(3))
    assert not np.array_equal(first["noise"], dataset[(2, 5)]["noise"])
    assert not np.array_equal(first["noise"], dataset[(1, 6)]["noise"])
    assert not np.array_equal(first["noise"], ViewDataset(split(), NoisyView(), seed=8)[(1, 5)]["noise"])
    assert first["index"] == 5 and first["skipped"] == 0


def test_collate_stacks_arrays_and_numbers_into_tensors():
    batch = collate([{"a": np.zeros((2, 3), np.float32), "label": 1, "name": "x"}] * 3)
    assert batch["a"].shape == (3, 2, 3) and batch["a"].dtype == torch.float32
    assert batch["label"].tolist() == [1, 1, 1]
    assert batch["name"] == ["x", "x", "x"]
    with pytest.raises(ValueError, match="'a'"):
        collate([{"a": np.zeros(2)}, {"a": np.zeros(3)}])


def batches(loader, epoch: int) -> list[dict]:
    loader.sampler.set_epoch(epoch)
    return list(loader)


def test_workers_give_the_same_batches_as_the_main_process():
    kwargs = dict(split=split(), transform=NoisyView(), batch_size=4, seed=11)
    serial = batches(build_loader(num_workers=0, **kwargs), 1)
    parallel = batches(build_loader(num_workers=2, **kwargs), 1)
    assert len(serial) == len(parallel) == 6
    for a, b in zip(serial, parallel):
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["noise"], b["noise"])
    noise = torch.cat([b["noise"] for b in parallel])
    assert len({tuple(row.tolist()) for row in noise}) == len(noise), "every sample has its own stream"


def test_resumed_loader_reproduces_the_rest_of_the_epoch():
    kwargs = dict(split=split(), transform=NoisyView(), batch_size=4, seed=2, rank=1, world_size=2)
    full = batches(build_loader(**kwargs), 0)
    resumed_loader = build_loader(**kwargs)
    resumed_loader.sampler.set_epoch(0)
    resumed_loader.sampler.start_at(1)
    resumed = list(resumed_loader)
    assert len(resumed) == len(full) - 1
    for a, b in zip(full[1:], resumed):
        assert torch.equal(a["points"], b["points"])


def test_bad_sample_error_names_the_file():
    dataset = ViewDataset(BrokenSplit(8, {3}), NoisyView(), seed=0)
    with pytest.raises(DataError, match="shape_3.npy"):
        dataset[(0, 3)]


def test_skip_bad_samples_replaces_them_deterministically_and_counts_skips():
    dataset = ViewDataset(BrokenSplit(8, {3, 4}), NoisyView(), seed=0, skip_bad_samples=True)
    item = dataset[(0, 3)]
    assert item["skipped"] == 2 and item["index"] == 3
    np.testing.assert_array_equal(item["noise"], dataset[(0, 3)]["noise"])
    loader = build_loader(BrokenSplit(8, {3}), NoisyView(), batch_size=4, seed=0, skip_bad_samples=True)
    assert sum(int(b["skipped"].sum()) for b in batches(loader, 0)) == 1


def test_skipping_gives_up_when_everything_is_bad():
    dataset = ViewDataset(BrokenSplit(3, {0, 1, 2}), NoisyView(), seed=0, skip_bad_samples=True)
    with pytest.raises(DataError, match="consecutive"):
        dataset[(0, 0)]


def test_a_dataset_too_small_for_one_batch_is_rejected():
    with pytest.raises(TrainingError, match="too few for one batch of 16"):
        build_loader(split(24), NoisyView(), batch_size=16, seed=0, world_size=2)


def test_view_errors_become_data_errors_naming_the_sample():
    class Picky:
        def __call__(self, sample, rng):
            raise ValueError("cloud too small")

    with pytest.raises(DataError, match=r"toy\[2\].*cloud too small"):
        ViewDataset(split(), Picky(), seed=0)[(0, 2)]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_bad_file_met_by_a_worker_raises_its_own_data_error(workers):
    loader = build_loader(BrokenSplit(8, set(range(8))), NoisyView(), batch_size=4, seed=0, num_workers=workers)
    with pytest.raises(DataError, match=r"^/data/shape_\d\.npy: truncated file$") as caught:
        next(iter(loader))
    assert caught.value.path.startswith("/data/shape_") and caught.value.problem == "truncated file"


def test_padded_source_clouds_are_reported_once(capsys, monkeypatch):
    monkeypatch.setattr(padding, "_reported", False)

    class Flagging(NoisyView):
        def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
            return {**super().__call__(sample, rng), "padded": np.bool_(True)}

    loader = build_loader(split(), Flagging(), batch_size=4, seed=0)
    batches(loader, 0)
    batches(loader, 1)
    err = capsys.readouterr().err
    assert err.count("warning: training data: 4 of the first 4 clouds have fewer points than data.num_points") == 1
