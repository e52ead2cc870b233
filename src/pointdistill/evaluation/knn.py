"""Cosine k-NN on frozen features: no training and no knob tuned, so it is the quickest honest probe.

Features are L2-normalised; each test shape takes its k most similar train shapes. The vote is ``weighted`` by
default: neighbour i adds exp(sim_i / temperature) to its class (the DINO k-NN, temperature 0.07), which breaks the
ties a plain count makes common at small k; ``majority`` counts neighbours, ties going to the lower class index.
The headline ``test_accuracy`` is the accuracy at the largest k (k = 20 by default).

``standardize`` (off by default, the usual protocol) z-scores every feature dimension with the train split's mean
and deviation before the cosine: the default feature concatenates CLS, max- and mean-pooled tokens, whose scales
differ, and a few large shared directions can otherwise decide every similarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from pointdistill.data.base import DatasetSource
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.common import (
    ClassificationOptions,
    EncoderFactory,
    accuracy,
    feature_summary,
    options_dict,
    percent,
    require_labels,
    train_test_features,
)
from pointdistill.evaluation.plots import classification_plots

HEADLINE = "test_accuracy"
VOTES = ("weighted", "majority")
_CHUNK_ROWS = 1024
"""Test rows per similarity block: bounds memory at 1024 x n_train floats."""


@dataclass
class Options(ClassificationOptions):
    ks: tuple[int, ...] = (5, 20)
    vote: str = "weighted"
    temperature: float = 0.07
    standardize: bool = False


def check_vote(ks: Sequence[int], vote: str, temperature: float, n_train: int) -> None:
    """Validate the k-NN knobs before any feature is extracted."""
    if vote not in VOTES:
        raise ConfigError(f"vote: {vote!r} is not one of {list(VOTES)}")
    if temperature <= 0:
        raise ConfigError(f"temperature: must be positive, got {temperature}")
    if not ks or min(ks) < 1:
        raise ConfigError(f"ks: need positive neighbour counts, got {list(ks)}")
    if max(ks) > n_train:
        raise DataError("train split", f"k={max(ks)} needs at least {max(ks)} training samples, there are {n_train}")


def knn_predict(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    ks: Sequence[int],
    num_classes: int,
    *,
    vote: str = "weighted",
    temperature: float = 0.07,
) -> dict[int, torch.Tensor]:
    """Predicted classes of ``test_x`` for every k in ``ks``, from one top-k search over cosine similarities."""
    check_vote(ks, vote, temperature, len(train_x))
    k_max = max(ks)
    train_x = torch.nn.functional.normalize(train_x.float(), dim=1)
    test_x = torch.nn.functional.normalize(test_x.float(), dim=1)
    predictions: dict[int, list[torch.Tensor]] = {k: [] for k in ks}
    for start in range(0, len(test_x), _CHUNK_ROWS):
        similarity = test_x[start : start + _CHUNK_ROWS] @ train_x.T
        top_sim, top_index = similarity.topk(k_max, dim=1)
        neighbour_labels = train_y[top_index]
        weights = (top_sim / temperature).exp() if vote == "weighted" else torch.ones_like(top_sim)
        for k in ks:
            votes = torch.zeros(len(top_sim), num_classes, dtype=weights.dtype, device=weights.device)
            votes.scatter_add_(1, neighbour_labels[:, :k], weights[:, :k])
            predictions[k].append(votes.argmax(dim=1))
    return {k: torch.cat(parts) for k, parts in predictions.items()}


def run(encoder_factory: EncoderFactory, source: DatasetSource, options: Options, device: torch.device) -> dict:
    ks = sorted(set(options.ks))
    require_labels(source, "knn")
    check_vote(ks, options.vote, options.temperature, len(source.split(options.train_split)))
    x_train, y_train, x_test, y_test = train_test_features(encoder_factory, source, options, device, "knn")
    if options.standardize:
        mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    num_classes = max(len(source.classes), int(max(y_train.max(), y_test.max())) + 1)
    predictions = knn_predict(
        torch.from_numpy(x_train), torch.from_numpy(y_train), torch.from_numpy(x_test), ks, num_classes,
        vote=options.vote, temperature=options.temperature,
    )
    scores = {k: percent(accuracy(predictions[k].numpy(), y_test)) for k in ks}
    result: dict[str, Any] = {
        "protocol": "knn",
        "headline": HEADLINE,
        "test_accuracy": scores[ks[-1]],
        "headline_k": ks[-1],
        **{f"test_accuracy_k{k}": scores[k] for k in ks},
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "num_classes": len(source.classes),
        **feature_summary(x_train),
        "options": options_dict(options),
    }
    if options.plots_dir:
        result["plots"] = classification_plots(
            options.plots_dir, "knn", y_test, predictions[ks[-1]].numpy(), source.classes, x_train, x_test,
            options.tsne, options.seed,
        )
    return result
