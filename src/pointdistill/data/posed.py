"""A split whose clouds are turned to a fixed random heading per sample: a pose-varying probe of any labelled set.

Objects in the wild (scans, scenes) come at any heading about the up axis, while the embedded shapes are aligned.
Wrapping a split in :class:`PosedSplit` gives every sample its own rotation, drawn from ``(seed, index)`` alone, so the
probe is identical for every encoder and every run.
"""

from __future__ import annotations

import numpy as np

from pointdistill.data.base import PointSplit, Sample
from pointdistill.data.transforms import RotateUp


class PosedSplit:
    """``split`` with sample i rotated about ``up`` by an angle drawn from ``default_rng([seed, i])``."""

    def __init__(self, split: PointSplit, seed: int = 0, up: str = "y", angle_range: float = 2 * np.pi) -> None:
        self.split = split
        self.seed = seed
        self.rotate = RotateUp(angle_range, up)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index = index % len(self)
        return self.rotate(dict(self.split[index]), np.random.default_rng([self.seed, index]))


class SubsetSplit:
    """The samples of ``split`` at ``indices`` (a labelled subset, e.g. a few labels per class)."""

    def __init__(self, split: PointSplit, indices: list[int]) -> None:
        self.split = split
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.split[self.indices[index]]
