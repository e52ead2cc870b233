"""The data tour writes one readable PNG per sample."""

from __future__ import annotations

import numpy as np
import pytest

from pointdistill.data.base import ArraySplit, DatasetSource
from pointdistill.data.tour import render_tour


def toy_source(size: int = 3) -> DatasetSource:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(size, 300, 3)).astype(np.float32)
    part = (points[..., 1] > 0).astype(np.int64)
    split = ArraySplit({"points": points, "label": np.arange(size) % 2, "part": part}, names=["a/b c", "d", "e"][:size])
    return DatasetSource("toy", root="/toy", classes=["cup", "mug"], splits={"train": split})


def test_render_tour_writes_one_png_per_sample(tmp_path):
    paths = render_tour(toy_source(), tmp_path / "tour", num_samples=1, seed=0)
    assert len(paths) == 1
    path = paths[0]
    assert path.parent == tmp_path / "tour" and path.suffix == ".png"
    assert "/" not in path.name[len("tour_00_") :] and " " not in path.name
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_render_tour_refuses_an_empty_source(tmp_path):
    empty = ArraySplit({"points": np.zeros((0, 10, 3), np.float32)})
    with pytest.raises(ValueError, match="no samples"):
        render_tour(empty, tmp_path)
