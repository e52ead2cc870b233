"""What the frozen-feature protocols share: their common knobs, label checks and the result skeleton.

The protocol interface (see :mod:`pointdistill.evaluation.protocols`) is
``run(encoder_factory, source, options, device) -> dict``; the helpers here keep each protocol module down to the
part that is specific to it (the classifier).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from pointdistill.config import apply_updates, nest, parse_override
from pointdistill.data.base import DatasetSource
from pointdistill.errors import CheckpointError, ConfigError, DataError
from pointdistill.evaluation.diagnostics import effective_rank, feature_spectrum
from pointdistill.evaluation.features import check_pooling, extract_features
from pointdistill.models.base import PointEncoder

EncoderFactory = Callable[[], PointEncoder]


@dataclass
class FeatureOptions:
    """Knobs of the feature extraction every frozen-feature protocol shares, and the protocol's seed."""

    num_points: int = 1024
    batch_size: int = 32
    pooling: tuple[str, ...] = ("cls", "max", "mean")
    sampling: str = "fps"
    precision: str = "auto"
    seed: int = 0


@dataclass
class SplitOptions(FeatureOptions):
    """A protocol fitted on one split and scored on another."""

    train_split: str = "train"
    test_split: str = "test"


@dataclass
class ClassificationOptions(SplitOptions):
    """A protocol with one test set of predictions can draw it: ``plots_dir`` (set by ``evaluate --out``) asks for
    the confusion matrix and the feature spectrum, plus a t-SNE of the test features when ``tsne`` is true. Pictures
    never change a number."""

    plots_dir: str | None = None
    tsne: bool = False


def parse_options(options_cls: type, overrides: list[str], label: str) -> Any:
    """Build ``options_cls`` from its defaults and ``key=value`` overrides (values in YAML syntax).

    Uses the config system's validation, so an unknown key raises a ConfigError listing the valid ones and a value
    of the wrong type names its key.
    """
    options = options_cls()
    for text in overrides:
        path, value = parse_override(text)
        if len(path) != 1:
            raise ConfigError(f"{label}: option {'.'.join(path)!r} has no sub-keys; use key=value")
        apply_updates(options, nest(path, value), "", label)
    return options


def options_dict(options: Any) -> dict[str, Any]:
    """The knobs as JSON-able values (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(options).items()}


def require_labels(source: DatasetSource, protocol: str) -> int:
    """Number of classes of ``source``, or a DataError when a supervised protocol meets an unlabelled dataset."""
    if not source.labelled:
        raise DataError(
            source.root, f"protocol {protocol!r} needs class labels, but this {source.format} dataset has none"
        )
    return len(source.classes)


def labelled_features(
    encoder: PointEncoder, source: DatasetSource, split_name: str, options: FeatureOptions, device: torch.device,
    protocol: str, indices: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of one split; a DataError when some sample of it has no label."""
    split = source.split(split_name)
    if len(split) == 0:
        raise DataError(source.root, f"split {split_name!r} is empty")
    features, labels = extract_features(
        encoder,
        split,
        num_points=options.num_points,
        batch_size=options.batch_size,
        pooling=options.pooling,
        device=device,
        sampling=options.sampling,
        precision=options.precision,
        indices=indices,
        desc=f"{protocol} {split_name}",
    )
    if labels is None:
        raise DataError(source.root, f"protocol {protocol!r} needs a class label on every sample of {split_name!r}")
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        # The clouds were checked finite on reading, so the encoder made these: a classifier fitted on them would
        # fail deep inside its solver, or worse, quietly score garbage.
        first = int(np.flatnonzero(~finite)[0])
        sample = first if indices is None else indices[first]
        raise CheckpointError(
            f"the encoder gave non-finite features for {int((~finite).sum())} of {len(finite)} samples of split "
            f"{split_name!r} (first: sample {sample}); are its weights finite (a diverged or foreign checkpoint)?"
        )
    return features, labels


def train_test_features(
    encoder_factory: EncoderFactory, source: DatasetSource, options: SplitOptions, device: torch.device,
    protocol: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``X_train, y_train, X_test, y_test`` of a labelled source with one frozen encoder."""
    require_labels(source, protocol)
    check_pooling(options.pooling)
    source.split(options.train_split)
    source.split(options.test_split)
    encoder = encoder_factory().to(device)
    x_train, y_train = labelled_features(encoder, source, options.train_split, options, device, protocol)
    x_test, y_test = labelled_features(encoder, source, options.test_split, options, device, protocol)
    return x_train, y_train, x_test, y_test


def feature_summary(features: np.ndarray) -> dict[str, Any]:
    """Cheap numbers every frozen-feature result carries: the feature width and the effective rank of the
    train features' covariance (a collapsed encoder shows a rank near 1)."""
    rank = effective_rank(feature_spectrum(features))
    return {"feature_dim": int(features.shape[1]), "effective_rank": round(rank, 2)}


def percent(value: float) -> float:
    return round(100.0 * float(value), 2)


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predictions == labels))
