"""Batched LinearSVC solver: the same objective, minimiser and predictions as sklearn's liblinear LinearSVC."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from pointdistill.evaluation.linear_svc import (
    SquaredHingeProblems,
    fit_linear_svc,
    ovr_predict,
    ovr_targets,
    squared_hinge_objective,
)

TIGHT = 1e-10


def blobs(n: int = 240, d: int = 12, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping correlated classes (not separable, so C matters), with features of very different scales."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    mixing = rng.normal(size=(d, d))
    x = rng.normal(size=(n, d)) @ mixing + 1.5 * rng.normal(size=(classes, d))[y]
    return x * rng.uniform(0.1, 10.0, size=d) + rng.normal(size=d), y


def solve(x: np.ndarray, y: np.ndarray, c: float, intercept_scaling: float = 1.0):
    classes = int(y.max()) + 1
    problems = SquaredHingeProblems(torch.from_numpy(x)[None], torch.ones(1, len(y), dtype=torch.bool),
                                    intercept_scaling)
    targets = ovr_targets(torch.from_numpy(y), classes)
    solution = problems.solve(targets[None], c, tol=TIGHT)
    coef, intercept = problems.coefficients(solution.weights)
    return coef[0], intercept[0], targets, solution


@pytest.mark.parametrize("c", [0.01, 1.0, 100.0])
@pytest.mark.parametrize("classes", [2, 4])
def test_minimiser_matches_liblinear(c, classes):
    x, y = blobs(classes=classes)
    reference = LinearSVC(C=c, tol=TIGHT, max_iter=100_000).fit(x, y)
    coef, intercept, targets, solution = solve(x, y, c)
    assert bool(solution.converged.all())
    assert coef.shape == reference.coef_.shape  # one problem for two classes, as liblinear
    features = torch.from_numpy(x)
    ours = squared_hinge_objective(features, targets, coef, intercept, c)
    theirs = squared_hinge_objective(features, targets, torch.from_numpy(reference.coef_),
                                     torch.from_numpy(reference.intercept_), c)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9)
    scale = np.abs(reference.coef_).max()
    np.testing.assert_allclose(coef.numpy(), reference.coef_, atol=1e-5 * scale)
    np.testing.assert_allclose(intercept.numpy(), reference.intercept_, atol=1e-5 * scale)
    predicted = ovr_predict(features @ coef.T + intercept).numpy()
    np.testing.assert_array_equal(predicted, reference.predict(x))


def test_intercept_scaling_is_a_regularised_constant_feature():
    x, y = blobs(seed=1)
    reference = LinearSVC(C=1.0, tol=TIGHT, max_iter=100_000, intercept_scaling=5.0).fit(x, y)
    coef, intercept, _, _ = solve(x, y, 1.0, intercept_scaling=5.0)
    np.testing.assert_allclose(intercept.numpy(), reference.intercept_, atol=1e-5 * np.abs(reference.intercept_).max())


def test_folds_padded_into_one_batch_solve_as_they_would_alone():
    x, y = blobs(n=300, seed=2)
    targets = ovr_targets(torch.from_numpy(y), 4)
    sizes = (300, 211)
    design = torch.zeros(2, 300, x.shape[1], dtype=torch.float64)
    mask = torch.zeros(2, 300, dtype=torch.bool)
    batch_targets = torch.zeros(2, 300, 4, dtype=torch.float64)
    for b, size in enumerate(sizes):
        design[b, :size] = torch.from_numpy(x[:size])
        design[b, size:] = 1e3  # padding must not leak, whatever it holds
        mask[b, :size] = True
        batch_targets[b, :size] = targets[:size]
    batched = SquaredHingeProblems(design, mask)
    coef, intercept = batched.coefficients(batched.solve(batch_targets, 0.1, tol=TIGHT).weights)
    for b, size in enumerate(sizes):
        alone_coef, alone_intercept, _, _ = solve(x[:size], y[:size], 0.1)
        np.testing.assert_allclose(coef[b].numpy(), alone_coef.numpy(), atol=1e-8)
        np.testing.assert_allclose(intercept[b].numpy(), alone_intercept.numpy(), atol=1e-8)


def test_warm_start_along_the_grid_reaches_the_same_minimiser():
    x, y = blobs(seed=3)
    direct = fit_linear_svc(x, y, 1.0, tol=TIGHT)
    path = fit_linear_svc(x, y, [0.001, 0.01, 0.1, 1.0], tol=TIGHT)
    np.testing.assert_allclose(path.coef.numpy(), direct.coef.numpy(), atol=1e-7)
    assert path.n_iter <= direct.n_iter


def test_pipeline_predictions_match_sklearn_on_float32_features():
    x, y = blobs(n=400, d=30, classes=5, seed=4)
    x = x.astype(np.float32)
    labels = np.array([3, 7, 11, 20, 21])[y]  # arbitrary class ids come back as themselves
    reference = make_pipeline(StandardScaler(), LinearSVC(C=0.1)).fit(x, labels)
    model = fit_linear_svc(x, labels, 0.1)
    assert model.converged
    test, _ = blobs(n=500, d=30, classes=5, seed=5)
    test = test.astype(np.float32)
    np.testing.assert_array_equal(model.predict(test), reference.predict(test))
    np.testing.assert_array_equal(model.classes, reference.classes_)


def test_convergence_needs_enough_newton_steps():
    x, y = blobs(seed=6)
    assert not fit_linear_svc(x, y, 10.0, max_iter=1).converged
    assert fit_linear_svc(x, y, 10.0, max_iter=1000).converged


def test_single_class_is_refused():
    with pytest.raises(ValueError, match="two classes"):
        fit_linear_svc(np.ones((5, 3)), np.zeros(5, dtype=int), 1.0)
