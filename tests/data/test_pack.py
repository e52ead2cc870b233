from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointdistill.data.base import DatasetSource, LazySplit, Sample
from pointdistill.data.pack import pack_dataset
from pointdistill.data.readers import packed
from pointdistill.data.registry import open_dataset
from pointdistill.errors import DataError


def _sample(index: int) -> Sample:
    rng = np.random.default_rng(index)
    count = 10 + 7 * index  # variable-length clouds
    return {
        "points": rng.normal(size=(count, 3)).astype(np.float32),
        "normals": rng.normal(size=(count, 3)).astype(np.float32),
        "part": rng.integers(0, 4, size=count),
        "label": index % 3,
        "name": f"shape_{index}",
    }


def _bad_then_good(index: int) -> Sample:
    if index == 1:
        raise DataError(f"file_{index}.txt", "not a numeric table")
    return _sample(index)


def make_source(load=_sample, train: int = 5, test: int = 2) -> DatasetSource:
    splits = {"train": LazySplit(range(train), load), "test": LazySplit(range(100, 100 + test), load)}
    return DatasetSource("custom", Path("/somewhere"), ["a", "b", "c"], splits, info={"note": "x", "obj": object()})


def test_round_trip_float32_is_exact_with_shards_and_offsets(tmp_path: Path) -> None:
    out = pack_dataset(make_source(), tmp_path / "packed", shard_size=2, dtype="float32")
    source = open_dataset(out)
    assert source.format == "packed" and source.classes == ["a", "b", "c"]
    assert source.info["source_format"] == "custom" and source.info["note"] == "x" and "obj" not in source.info
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 5, "test": 2}
    for split, indices in (("train", range(5)), ("test", range(100, 102))):
        for position, index in enumerate(indices):
            expected, got = _sample(index), source.splits[split][position]
            assert got["name"] == expected["name"] and got["label"] == expected["label"]
            for key in ("points", "normals", "part"):
                np.testing.assert_array_equal(got[key], expected[key])
            assert got["part"].dtype == np.int64 and got["points"].flags.writeable
    index = json.loads((out / "index.json").read_text())
    assert index["format"] == "pointdistill-packed" and index["version"] == 1
    assert [s["count"] for s in index["splits"]["train"]["shards"]] == [2, 2, 1]
    assert index["splits"]["train"]["fields"]["points"]["dtype"] == "float32"
    offsets = np.load(out / index["splits"]["train"]["shards"][1]["files"]["offsets"])
    np.testing.assert_array_equal(offsets, [0, 24, 55])  # samples 2 and 3: 24 and 31 points
    for file in out.glob("*.npy"):
        np.load(file, allow_pickle=False)  # plain arrays only


def test_float16_and_num_points(tmp_path: Path) -> None:
    out = pack_dataset(make_source(), tmp_path / "p16", num_points=16)
    sample = open_dataset(out).splits["train"][3]
    original = _sample(3)
    assert sample["points"].shape == (16, 3) and sample["points"].dtype == np.float32
    # resampled rows are original rows, the same rows for every per-point field
    rows = [int(np.argmin(np.abs(original["points"] - p).sum(axis=1))) for p in sample["points"]]
    np.testing.assert_allclose(sample["points"], original["points"][rows], atol=2e-3)
    np.testing.assert_array_equal(sample["part"], original["part"][rows])
    small = open_dataset(out).splits["train"][0]  # 10 points, upsampled to 16 by repeating
    assert small["points"].shape == (16, 3)


def test_reader_maps_lazily(tmp_path: Path) -> None:
    out = pack_dataset(make_source(), tmp_path / "p", shard_size=2)
    split = packed.read(out).splits["train"]
    assert split._opened == {}  # nothing read when opened
    split[4]
    assert list(split._opened) == [2]
    assert all(isinstance(column.base, np.memmap) for column in split._opened[2].columns.values())


def test_atomic_write_and_overwrite(tmp_path: Path) -> None:
    def explode(index: int) -> Sample:
        if index == 3:
            raise DataError("file_3.txt", "truncated")
        return _sample(index)

    with pytest.raises(DataError, match="truncated"):
        pack_dataset(make_source(explode), tmp_path / "out", shard_size=2)
    assert list(tmp_path.iterdir()) == []  # no half-written output, no staging folder left
    out = pack_dataset(make_source(), tmp_path / "out")
    with pytest.raises(DataError, match="already exists"):
        pack_dataset(make_source(), out)
    pack_dataset(make_source(train=1, test=1), out, overwrite=True)
    assert len(open_dataset(out).splits["train"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_skip_bad_records_them(tmp_path: Path) -> None:
    out = pack_dataset(make_source(_bad_then_good), tmp_path / "out", skip_bad=True)
    source = open_dataset(out)
    assert len(source.splits["train"]) == 4
    assert json.loads((out / "index.json").read_text())["skipped"] == [
        {"split": "train", "file": "file_1.txt", "problem": "not a numeric table"}]


def test_damaged_pack_is_reported(tmp_path: Path) -> None:
    out = pack_dataset(make_source(), tmp_path / "out", shard_size=2)
    (out / "train-00001-points.npy").unlink()
    with pytest.raises(DataError, match="file not found"):
        open_dataset(out)
    out = pack_dataset(make_source(), tmp_path / "out2", shard_size=2)
    shard = out / "train-00000-points.npy"
    shard.write_bytes(shard.read_bytes()[:-20])
    with pytest.raises(DataError, match="corrupt or truncated"):
        open_dataset(out).splits["train"][0]
    with pytest.raises(DataError, match="dtype must be one of"):
        pack_dataset(make_source(), tmp_path / "x", dtype="int8")


def test_split_names_with_slashes(tmp_path: Path) -> None:
    source = make_source()
    source.splits = {"5way_10shot/0/train": source.splits["train"]}
    out = pack_dataset(source, tmp_path / "fold")
    assert (out / "5way_10shot_0_train-00000-points.npy").is_file()
    assert len(open_dataset(out).splits["5way_10shot/0/train"]) == 5
