"""Stand-ins for the evaluation tests: tiny encoders and in-memory labelled shape datasets.

:class:`StandInEncoder` is a fixed random-feature map (per-point ReLU of a random projection, pooled by the
protocols): its max-pooled features are samples of the support function of the shape, so geometrically different
classes are linearly separable while labels that carry no shape information stay at chance. :class:`TinyPatchEncoder`
is a small trainable patch encoder with hidden block outputs, for the protocols that train end to end.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np
import pytest
import torch
from torch import nn

from pointdistill.data.base import DatasetSource, LazySplit
from pointdistill.models.base import EncoderOutput, PointEncoder
from pointdistill.ops import group_patches

CLASSES = ["sphere", "cube", "disk", "rod"]


class StandInEncoder(PointEncoder):
    """Per-point tokens ReLU(W p + b) with fixed weights; optional CLS (the mean token through a linear map)."""

    def __init__(self, dim: int = 24, with_cls: bool = True, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.token_dim = self.feature_dim = dim
        self.project = nn.Linear(3, dim)
        self.cls_head = nn.Linear(dim, dim) if with_cls else None
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.7)

    def forward(self, points: torch.Tensor, *, num_groups=None, return_hidden=None) -> EncoderOutput:
        tokens = torch.relu(self.project(points))
        cls = self.cls_head(tokens.mean(dim=1)) if self.cls_head is not None else None
        return EncoderOutput(tokens=tokens, centers=points, global_feature=tokens.amax(dim=1), cls=cls)


class TinyPatchEncoder(PointEncoder):
    """Patch tokens from a shared MLP on absolute patch points (or, with ``per_point``, one token per point),
    residual MLP blocks whose outputs ``return_hidden`` can return, CLS = mean token."""

    def __init__(
        self, dim: int = 16, depth: int = 4, groups: int = 8, group_size: int = 8, per_point: bool = False
    ) -> None:
        super().__init__()
        self.token_dim = self.feature_dim = dim
        self.groups, self.group_size, self.per_point = groups, group_size, per_point
        self.embed = nn.Sequential(nn.Linear(3, dim), nn.GELU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU()) for _ in range(depth)
        )

    def forward(
        self, points: torch.Tensor, *, num_groups: int | None = None, return_hidden: Sequence[int] | None = None
    ) -> EncoderOutput:
        if self.per_point:
            x, centers = self.embed(points), points
        else:
            patches = group_patches(points, num_groups or self.groups, self.group_size)
            x = self.embed(patches.neighborhoods + patches.centers.unsqueeze(2)).amax(dim=2)
            centers = patches.centers
        wanted = list(return_hidden or [])
        hidden = {}
        for index, block in enumerate(self.blocks):
            x = x + block(x)
            if index in wanted:
                hidden[index] = x
        cls = x.mean(dim=1)
        return EncoderOutput(tokens=x, centers=centers, global_feature=cls, cls=cls,
                             hidden=[hidden[i] for i in wanted])


def shape_cloud(label: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """One noisy cloud of class ``label`` with ``count`` points."""
    if label == 0:
        points = rng.normal(size=(count, 3))
        points /= np.linalg.norm(points, axis=1, keepdims=True)
    elif label == 1:
        points = rng.uniform(-1, 1, size=(count, 3))
        axis = rng.integers(0, 3, size=count)
        points[np.arange(count), axis] = rng.choice([-1.0, 1.0], size=count)
    elif label == 2:
        radius, angle = np.sqrt(rng.uniform(0, 1, count)), rng.uniform(0, 2 * np.pi, count)
        points = np.stack([radius * np.cos(angle), np.zeros(count), radius * np.sin(angle)], axis=1)
    else:
        points = np.stack([np.zeros(count), rng.uniform(-1, 1, count), np.zeros(count)], axis=1)
    points = points * rng.uniform(0.8, 1.2, size=3) + rng.normal(scale=0.03, size=(count, 3))
    return points.astype(np.float32)


def make_split(per_class: int, seed: int, labelled: bool = True, num_classes: int = 4,
               sizes: Sequence[int] = (48, 64, 80)) -> LazySplit:
    """``per_class`` clouds of each class, of varying point counts, in a fixed shuffled order."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(num_classes), per_class))
    items = [(shape_cloud(int(label), int(rng.choice(sizes)), rng), int(label)) for label in labels]

    def load(item):
        points, label = item
        sample = {"points": points, "name": f"shape{id(points) % 10000}"}
        if labelled:
            sample["label"] = label
        return sample

    return LazySplit(items, load)


def make_source(per_class_train: int = 12, per_class_test: int = 8, labelled: bool = True,
                seed: int = 0, num_classes: int = 4) -> DatasetSource:
    splits = {
        "train": make_split(per_class_train, seed, labelled, num_classes),
        "test": make_split(per_class_test, seed + 1, labelled, num_classes),
    }
    classes = CLASSES[:num_classes] if labelled else []
    return DatasetSource("memory", Path("memory-dataset"), classes, splits)


def relabel(source: DatasetSource, split_name: str, labels: np.ndarray) -> DatasetSource:
    """A copy of ``source`` whose split ``split_name`` carries ``labels`` instead of its own."""
    original = source.splits[split_name]

    def load(index):
        sample = dict(original[index])
        sample["label"] = int(labels[index])
        return sample

    splits = dict(source.splits)
    splits[split_name] = LazySplit(list(range(len(original))), load)
    return DatasetSource(source.format, source.root, source.classes, splits)


def balanced_noise(labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """Labels independent of the shape: inside every true class each label is equally frequent."""
    rng = np.random.default_rng(seed)
    noisy = np.empty_like(labels)
    for c in range(num_classes):
        rows = np.flatnonzero(labels == c)
        noisy[rows] = rng.permutation(np.arange(len(rows)) % num_classes)
    return noisy


def split_labels(split) -> np.ndarray:
    return np.array([split[i]["label"] for i in range(len(split))])


@pytest.fixture
def encoder_factory() -> Callable[[], PointEncoder]:
    return lambda: StandInEncoder()


@pytest.fixture
def tiny_encoder() -> type[TinyPatchEncoder]:
    """The trainable patch encoder class (call it, or pass it as an encoder factory)."""
    return TinyPatchEncoder


@pytest.fixture
def source() -> DatasetSource:
    return make_source()


@pytest.fixture
def helpers() -> SimpleNamespace:
    """The module-level builders, for tests that need variants of the default source."""
    return SimpleNamespace(make_source=make_source, make_split=make_split, relabel=relabel,
                           balanced_noise=balanced_noise, split_labels=split_labels,
                           StandInEncoder=StandInEncoder, CLASSES=CLASSES)
