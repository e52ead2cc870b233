"""Fixtures for reader tests: real ModelNet shapes from the shared data folder (skipped when it is absent)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


def _shared_data_dir() -> Path:
    return Path(os.environ.get("POINTDISTILL_SHARED_DATA", Path(__file__).parents[3] / ".." / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder (tests check for the files they need and skip without them)."""
    return _shared_data_dir()


@dataclass
class RealShapes:
    """A few real ModelNet40 clouds (float32, unit sphere) with their labels, ids and the class list."""

    points: np.ndarray
    labels: np.ndarray
    names: list[str]
    classes: list[str]


@pytest.fixture(scope="session")
def real_shapes() -> RealShapes:
    path = _shared_data_dir() / "modelnet40_1024_f16.npz"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    with np.load(path, allow_pickle=False) as data:
        picks = np.array([0, 1, 700, 3000, 9000])
        return RealShapes(
            points=data["train_points"][picks].astype(np.float32),
            labels=data["train_labels"][picks],
            names=[str(n) for n in data["train_names"][picks]],
            classes=[str(c) for c in data["classes"]],
        )


@pytest.fixture
def cloud() -> np.ndarray:
    """A small random cloud for layout tests that need no real geometry."""
    return np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
