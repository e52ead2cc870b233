"""The reduced protocol's source: every k-th shape of each class, never fewer than the cross-validation needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pointdistill.bench.protocols import class_subset
from pointdistill.data.base import ArraySplit, DatasetSource


def source(labels: dict[str, list[int]]) -> DatasetSource:
    splits = {name: ArraySplit({"points": np.zeros((len(values), 8, 3), np.float32), "label": np.array(values)})
              for name, values in labels.items()}
    return DatasetSource("npz", Path("x.npz"), ["a", "b", "c"], splits)


def test_every_kth_shape_of_each_class_and_at_least_five() -> None:
    train = [0] * 40 + [1] * 7 + [2] * 3
    reduced = class_subset(source({"train": train, "test": [0, 1] * 30}), 8)
    kept = [reduced.split("train")[i]["label"] for i in range(len(reduced.split("train")))]
    assert [kept.count(label) for label in range(3)] == [5, 7, 3]  # 40 / 8; 7 < 8 * 5: all; 3: all
    assert reduced.split("train")[1]["name"] == "[8]"  # members in their order, every 8th
    assert len(reduced.split("test")) == 10 and reduced.classes == ["a", "b", "c"]


def test_every_first_shape_is_the_source_itself() -> None:
    original = source({"train": [0, 1]})
    assert class_subset(original, 1) is original
