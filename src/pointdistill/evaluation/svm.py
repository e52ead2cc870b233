"""Linear SVM on frozen features: the ModelNet40 protocol of DCGLR, Point-BERT and Point-MAE.

Features are standardised (statistics of the training folds only) and classified by sklearn's LinearSVC. C is chosen
by stratified k-fold cross-validation on the **train** split; the test split is touched once, by the refitted best
model, so no number here was tuned on test.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from pointdistill.data.base import DatasetSource
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.common import (
    ClassificationOptions,
    EncoderFactory,
    accuracy,
    feature_summary,
    options_dict,
    percent,
    train_test_features,
)
from pointdistill.evaluation.plots import classification_plots

HEADLINE = "test_accuracy"


@dataclass
class Options(ClassificationOptions):
    """``c_grid`` spans the C values that win on standardised ViT features (small C: strong regularisation); larger
    C converge slowly (C = 10 costs five times C = 1 on ModelNet10) and lost there, so they are left to ``-o``.
    ``n_jobs`` fits the grid in parallel processes (-1: all cores); it never changes a number."""

    c_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
    cv_folds: int = 5
    max_iter: int = 5000
    n_jobs: int = -1


def cv_folds_for(labels: np.ndarray, wanted: int, classes: list[str], root: Any) -> int:
    """Folds for stratified CV: ``wanted``, or fewer when the rarest class has fewer samples than that.

    Stratified k-fold needs every class in every fold, so the rarest class bounds k; below 2 there is nothing to
    cross-validate and that is an error naming the class.
    """
    if wanted < 2:
        raise ConfigError(f"cv_folds: must be at least 2, got {wanted}")
    present, counts = np.unique(labels, return_counts=True)
    if len(present) < 2:
        raise DataError(root, "the train split holds a single class; a classifier needs at least two")
    rarest = int(np.argmin(counts))
    if counts[rarest] < 2:
        name = classes[present[rarest]] if present[rarest] < len(classes) else str(present[rarest])
        raise DataError(
            root, f"class {name!r} has 1 training sample; cross-validating C needs at least 2 per class"
        )
    return int(min(wanted, counts.min()))


def select_c(
    x_train: np.ndarray, y_train: np.ndarray, c_grid: tuple[float, ...], folds: int, max_iter: int, seed: int,
    n_jobs: int = 1,
) -> tuple[Any, float, float, bool]:
    """Grid-search C by stratified CV on the train features; returns the refitted pipeline, best C, its CV accuracy
    and whether the refitted model converged within ``max_iter``."""
    if not c_grid or any(c <= 0 for c in c_grid):
        raise ConfigError(f"c_grid: need positive values, got {list(c_grid)}")
    pipeline = make_pipeline(StandardScaler(), LinearSVC(max_iter=max_iter, random_state=seed))
    search = GridSearchCV(
        pipeline,
        {"linearsvc__C": sorted(c_grid)},
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        refit=True,
        n_jobs=n_jobs,
    )
    with warnings.catch_warnings():
        # Large C in the grid often stops at max_iter on some fold; only the refitted model's convergence matters.
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(x_train, y_train)
    model = search.best_estimator_
    converged = bool(np.max(model[-1].n_iter_) < max_iter)
    return model, float(search.best_params_["linearsvc__C"]), float(search.best_score_), converged


def run(encoder_factory: EncoderFactory, source: DatasetSource, options: Options, device: torch.device) -> dict:
    if options.cv_folds < 2:
        raise ConfigError(f"cv_folds: must be at least 2, got {options.cv_folds}")
    if not options.c_grid or any(c <= 0 for c in options.c_grid):
        raise ConfigError(f"c_grid: need positive values, got {list(options.c_grid)}")
    x_train, y_train, x_test, y_test = train_test_features(encoder_factory, source, options, device, "svm")
    folds = cv_folds_for(y_train, options.cv_folds, source.classes, source.root)
    model, best_c, cv_accuracy, converged = select_c(
        x_train, y_train, options.c_grid, folds, options.max_iter, options.seed, options.n_jobs
    )
    predictions = model.predict(x_test)
    result: dict[str, Any] = {
        "protocol": "svm",
        "headline": HEADLINE,
        "test_accuracy": percent(accuracy(predictions, y_test)),
        "best_C": best_c,
        "cv_accuracy": percent(cv_accuracy),
        "cv_folds_used": folds,
        "converged": converged,
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "num_classes": len(source.classes),
        **feature_summary(x_train),
        "options": options_dict(options),
    }
    if options.plots_dir:
        result["plots"] = classification_plots(
            options.plots_dir, "svm", y_test, predictions, source.classes, x_train, x_test, options.tsne, options.seed
        )
    return result
