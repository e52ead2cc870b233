"""Linear SVM on frozen features: the ModelNet40 protocol of DCGLR, Point-BERT and Point-MAE.

Features are standardised (statistics of the training folds only) and classified by a one-vs-rest LinearSVC
(squared hinge, L2, liblinear's regularised intercept). C is chosen by stratified k-fold cross-validation on the
**train** split; the test split is touched once, by the refitted best model, so no number here was tuned on test.

Two solvers minimise that same objective with the same stopping rule (``solver``):

- ``newton`` (default): :mod:`pointdistill.evaluation.linear_svc` fits every class of every fold together, along
  the C grid (each C warm-started from the previous one), then refits on the whole train split along the grid up to
  the chosen C; on the protocol's device. On the ModelNet40 features of a tiny ViT (9,843 x 576, 40 classes, 5 folds,
  4 C) the grid and refit take ~55 s on 2 CPU cores where liblinear took ~10.5 minutes.
- ``liblinear``: sklearn's ``GridSearchCV`` over ``make_pipeline(StandardScaler(), LinearSVC())``, the reference
  ``newton`` was checked against (same folds, same scalers; tests/evaluation/test_linear_svc.py), ``n_jobs``
  processes.

The objective is strictly convex, so both reach the same classifier up to their stopping tolerance; on the
ModelNet40 features of a random tiny ViT they chose the same C with the same CV and test accuracies.
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
from pointdistill.evaluation.linear_svc import (
    SquaredHingeProblems,
    fit_linear_svc,
    ovr_predict,
    ovr_targets,
    standardised_design,
)
from pointdistill.evaluation.plots import classification_plots

HEADLINE = "test_accuracy"
SOLVERS = ("newton", "liblinear")


@dataclass
class Options(ClassificationOptions):
    """``c_grid`` spans the C values that win on standardised ViT features (small C: strong regularisation); larger
    C converge slowly (C = 10 costs five times C = 1 on ModelNet10) and lost there, so they are left to ``-o``.
    ``solver`` is ``newton`` or ``liblinear`` (see the module docstring); ``max_iter`` bounds Newton steps of
    either. ``n_jobs`` fits liblinear's grid in parallel processes (-1: all cores); it never changes a number."""

    c_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
    cv_folds: int = 5
    max_iter: int = 5000
    n_jobs: int = -1
    solver: str = "newton"


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


@dataclass
class Selection:
    """The refitted model (``predict`` on raw features), the chosen C, its mean CV accuracy, the mean CV accuracy of
    every C of the grid (ascending C), and whether the refit met the stopping rule within ``max_iter``."""

    model: Any
    best_c: float
    cv_accuracy: float
    cv_accuracies: list[float]
    converged: bool


def select_c(
    x_train: np.ndarray, y_train: np.ndarray, c_grid: tuple[float, ...], folds: int, max_iter: int, seed: int,
    n_jobs: int = 1, solver: str = "newton", device: torch.device | None = None,
) -> Selection:
    """Grid-search C by stratified CV on the train features (the first C of the best mean accuracy wins, as in
    GridSearchCV) and refit it on all of them."""
    if not c_grid or any(c <= 0 for c in c_grid):
        raise ConfigError(f"c_grid: need positive values, got {list(c_grid)}")
    if solver not in SOLVERS:
        raise ConfigError(f"solver: {solver!r} is not one of {list(SOLVERS)}")
    grid = sorted(c_grid)
    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x_train, y_train))
    if solver == "liblinear":
        return _select_liblinear(x_train, y_train, grid, splits, max_iter, seed, n_jobs)
    scores = _cv_scores_newton(x_train, y_train, grid, splits, max_iter, device)
    best = int(np.argmax(scores))
    model = fit_linear_svc(x_train, y_train, grid[: best + 1], max_iter=max_iter, device=device)
    return Selection(model, grid[best], float(scores[best]), [float(v) for v in scores], model.converged)


def _cv_scores_newton(
    x: np.ndarray, y: np.ndarray, grid: list[float], splits: list[tuple[np.ndarray, np.ndarray]], max_iter: int,
    device: torch.device | None,
) -> np.ndarray:
    """Mean validation accuracy [len(grid)] of each C: all folds and classes solved as one batch per C."""
    classes, labels = np.unique(y, return_inverse=True)
    scalers, design, mask = standardised_design(x, [fit for fit, _ in splits], device)
    problems = SquaredHingeProblems(design, mask)
    fold_labels = torch.zeros(mask.shape, dtype=torch.long, device=design.device)
    for b, (fit, _) in enumerate(splits):
        fold_labels[b, : len(fit)] = torch.from_numpy(labels[fit]).to(design.device)
    targets = ovr_targets(fold_labels, len(classes))
    held_out = [(torch.from_numpy(scaler.transform(x[val])).to(design), torch.from_numpy(labels[val]).to(design.device))
                for scaler, (_, val) in zip(scalers, splits)]
    scores = np.zeros((len(grid), len(splits)))
    solution = None
    for i, c in enumerate(grid):
        start = None if solution is None else solution.weights
        solution = problems.solve(targets, c, start=start, max_iter=max_iter)
        coef, intercept = problems.coefficients(solution.weights)
        for b, (features, truth) in enumerate(held_out):
            predicted = ovr_predict(features @ coef[b].T + intercept[b])
            scores[i, b] = float((predicted == truth).double().mean())
    return scores.mean(axis=1)


def _select_liblinear(
    x: np.ndarray, y: np.ndarray, grid: list[float], splits: list[tuple[np.ndarray, np.ndarray]], max_iter: int,
    seed: int, n_jobs: int,
) -> Selection:
    pipeline = make_pipeline(StandardScaler(), LinearSVC(max_iter=max_iter, random_state=seed))
    search = GridSearchCV(pipeline, {"linearsvc__C": grid}, cv=splits, refit=True, n_jobs=n_jobs)
    with warnings.catch_warnings():
        # Large C in the grid often stops at max_iter on some fold; only the refitted model's convergence matters.
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(x, y)
    model = search.best_estimator_
    means = [float(v) for v in search.cv_results_["mean_test_score"]]
    return Selection(model, float(search.best_params_["linearsvc__C"]), float(search.best_score_), means,
                     bool(np.max(model[-1].n_iter_) < max_iter))


def run(encoder_factory: EncoderFactory, source: DatasetSource, options: Options, device: torch.device) -> dict:
    if options.cv_folds < 2:
        raise ConfigError(f"cv_folds: must be at least 2, got {options.cv_folds}")
    if not options.c_grid or any(c <= 0 for c in options.c_grid):
        raise ConfigError(f"c_grid: need positive values, got {list(options.c_grid)}")
    if options.solver not in SOLVERS:
        raise ConfigError(f"solver: {options.solver!r} is not one of {list(SOLVERS)}")
    x_train, y_train, x_test, y_test = train_test_features(encoder_factory, source, options, device, "svm")
    folds = cv_folds_for(y_train, options.cv_folds, source.classes, source.root)
    selection = select_c(
        x_train, y_train, options.c_grid, folds, options.max_iter, options.seed, options.n_jobs, options.solver,
        device,
    )
    predictions = selection.model.predict(x_test)
    result: dict[str, Any] = {
        "protocol": "svm",
        "headline": HEADLINE,
        "test_accuracy": percent(accuracy(predictions, y_test)),
        "best_C": selection.best_c,
        "cv_accuracy": percent(selection.cv_accuracy),
        "cv_accuracy_by_C": {str(c): percent(v) for c, v in zip(sorted(options.c_grid), selection.cv_accuracies)},
        "cv_folds_used": folds,
        "converged": selection.converged,
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
