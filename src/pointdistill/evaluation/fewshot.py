"""N-way K-shot classification on frozen features, mean +- std over folds.

Two sources of folds (``folds_from``):

- ``published``: the Point-BERT release (``ModelNetFewshot/{N}way_{K}shot/{fold}.pkl``, read by the
  ``modelnet_fewshot`` reader as splits ``{N}way_{K}shot/{fold}/{train|test}``); each fold brings its own support
  (train) and query (test) shapes.
- ``drawn``: folds drawn from any labelled dataset: fold f uses ``np.random.default_rng([seed, f])`` to pick N
  classes among those with at least K train and ``n_query`` test shapes, then K support shapes per class from the
  train split and ``n_query`` (20, the standard) query shapes per class from the test split.

``auto`` takes the published folds when the dataset has them. Per fold, a linear classifier (LinearSVC, or
logistic regression) is fitted on the standardised support features and scored on the queries. The standard
deviation is the population one (ddof = 0) over folds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from pointdistill.data.base import DatasetSource
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.common import (
    EncoderFactory,
    SplitOptions,
    accuracy,
    labelled_features,
    options_dict,
    percent,
    require_labels,
)
from pointdistill.evaluation.features import check_pooling

HEADLINE = "test_accuracy"
CLASSIFIERS = ("svm", "logistic")
FOLD_SOURCES = ("auto", "published", "drawn")
_PUBLISHED_SPLIT = re.compile(r"^(?P<way>\d+)way_(?P<shot>\d+)shot/(?P<fold>\d+)/(?P<part>train|test)$")


@dataclass
class Options(SplitOptions):
    n_way: int = 5
    k_shot: int = 10
    n_query: int = 20
    folds: int = 10
    folds_from: str = "auto"
    classifier: str = "svm"
    c: float = 1.0
    max_iter: int = 5000


def published_folds(source: DatasetSource, n_way: int, k_shot: int) -> list[int]:
    """Fold numbers of the ``n_way``-way ``k_shot``-shot setting that have both a train and a test split."""
    parts: dict[int, set[str]] = {}
    for name in source.splits:
        match = _PUBLISHED_SPLIT.match(name)
        if match and int(match["way"]) == n_way and int(match["shot"]) == k_shot:
            parts.setdefault(int(match["fold"]), set()).add(match["part"])
    return sorted(fold for fold, found in parts.items() if found == {"train", "test"})


def _has_published(source: DatasetSource) -> bool:
    return any(_PUBLISHED_SPLIT.match(name) for name in source.splits)


def draw_fold(
    train_labels: np.ndarray, test_labels: np.ndarray, options: Options, fold: int, root: Any = "dataset"
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (support into train, query into test) of drawn fold ``fold``."""
    rng = np.random.default_rng([options.seed, fold])
    train_counts = np.bincount(train_labels)
    test_counts = np.bincount(test_labels, minlength=len(train_counts))
    eligible = [c for c in range(len(train_counts))
                if train_counts[c] >= options.k_shot and c < len(test_counts) and test_counts[c] >= options.n_query]
    if len(eligible) < options.n_way:
        raise DataError(
            root,
            f"{options.n_way}-way {options.k_shot}-shot needs {options.n_way} classes with at least {options.k_shot} "
            f"train and {options.n_query} test shapes; only {len(eligible)} qualify",
        )
    chosen = rng.choice(eligible, options.n_way, replace=False)
    support = [rng.choice(np.flatnonzero(train_labels == c), options.k_shot, replace=False) for c in chosen]
    query = [rng.choice(np.flatnonzero(test_labels == c), options.n_query, replace=False) for c in chosen]
    return np.concatenate(support), np.concatenate(query)


def fold_accuracy(
    x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray, y_query: np.ndarray, options: Options
) -> float:
    """Accuracy of a linear classifier fitted on the standardised support features."""
    if options.classifier == "svm":
        classifier = LinearSVC(C=options.c, max_iter=options.max_iter, random_state=options.seed)
    else:
        classifier = LogisticRegression(C=options.c, max_iter=options.max_iter)
    model = make_pipeline(StandardScaler(), classifier).fit(x_support, y_support)
    return accuracy(model.predict(x_query), y_query)


def _check(options: Options) -> None:
    if options.classifier not in CLASSIFIERS:
        raise ConfigError(f"classifier: {options.classifier!r} is not one of {list(CLASSIFIERS)}")
    if options.folds_from not in FOLD_SOURCES:
        raise ConfigError(f"folds_from: {options.folds_from!r} is not one of {list(FOLD_SOURCES)}")
    for name in ("n_way", "k_shot", "n_query", "folds"):
        if getattr(options, name) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {getattr(options, name)}")
    if options.n_way < 2:
        raise ConfigError(f"n_way: a classifier needs at least 2 classes, got {options.n_way}")
    if options.c <= 0:
        raise ConfigError(f"c: must be positive, got {options.c}")
    check_pooling(options.pooling)


def _run_published(
    encoder: torch.nn.Module, source: DatasetSource, options: Options, device: torch.device
) -> tuple[list[float], dict[str, Any]]:
    available = published_folds(source, options.n_way, options.k_shot)
    if len(available) < options.folds:
        raise DataError(
            source.root,
            f"{options.folds} folds asked for, but {len(available)} published {options.n_way}way_{options.k_shot}shot "
            f"folds exist ({available}); set -o folds={len(available)} or choose another n_way/k_shot",
        )
    scores, sizes = [], []
    for fold in available[: options.folds]:
        prefix = f"{options.n_way}way_{options.k_shot}shot/{fold}"
        x_s, y_s = labelled_features(encoder, source, f"{prefix}/train", options, device, "fewshot")
        x_q, y_q = labelled_features(encoder, source, f"{prefix}/test", options, device, "fewshot")
        scores.append(fold_accuracy(x_s, y_s, x_q, y_q, options))
        sizes.append((len(y_s), len(y_q)))
    details = {"folds_used": available[: options.folds], "support_sizes": [s for s, _ in sizes],
               "query_sizes": [q for _, q in sizes]}
    return scores, details


def _run_drawn(
    encoder: torch.nn.Module, source: DatasetSource, options: Options, device: torch.device
) -> tuple[list[float], dict[str, Any]]:
    x_train, y_train = labelled_features(encoder, source, options.train_split, options, device, "fewshot")
    x_test, y_test = labelled_features(encoder, source, options.test_split, options, device, "fewshot")
    scores = []
    for fold in range(options.folds):
        support, query = draw_fold(y_train, y_test, options, fold, source.root)
        scores.append(fold_accuracy(x_train[support], y_train[support], x_test[query], y_test[query], options))
    details = {"fold_seeds": [[options.seed, f] for f in range(options.folds)],
               "support_size": options.n_way * options.k_shot, "query_size": options.n_way * options.n_query,
               "n_train_pool": int(len(y_train)), "n_test_pool": int(len(y_test))}
    return scores, details


def run(encoder_factory: EncoderFactory, source: DatasetSource, options: Options, device: torch.device) -> dict:
    _check(options)
    require_labels(source, "fewshot")
    mode = options.folds_from
    if mode == "auto":
        mode = "published" if _has_published(source) else "drawn"
    if mode == "published" and not _has_published(source):
        raise DataError(source.root, "folds_from=published, but this dataset holds no published few-shot folds")
    if mode == "drawn":
        source.split(options.train_split)
        source.split(options.test_split)
    encoder = encoder_factory().to(device)
    runner = _run_published if mode == "published" else _run_drawn
    scores, details = runner(encoder, source, options, device)
    values = np.asarray(scores)
    return {
        "protocol": "fewshot",
        "headline": HEADLINE,
        "test_accuracy": percent(values.mean()),
        "test_accuracy_std": percent(values.std()),
        "fold_accuracies": [percent(v) for v in values],
        "folds_from": mode,
        "setting": f"{options.n_way}-way {options.k_shot}-shot",
        **details,
        "options": options_dict(options),
    }
