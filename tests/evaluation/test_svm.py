"""Linear SVM protocol: learns separable shapes, is at chance on uninformative labels, never tunes C on test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointdistill.errors import CheckpointError, ConfigError, DataError
from pointdistill.evaluation import svm

CPU = torch.device("cpu")


def options(**changes) -> svm.Options:
    return svm.Options(**{"num_points": 32, "c_grid": (0.01, 1.0), "cv_folds": 3, "n_jobs": 1, **changes})


def test_separable_shapes_score_high_and_report_every_knob(encoder_factory, source):
    result = svm.run(encoder_factory, source, options(), CPU)
    assert result["protocol"] == "svm" and result["headline"] == "test_accuracy"
    assert result["test_accuracy"] >= 90.0
    assert result["best_C"] in (0.01, 1.0)
    assert result["n_train"] == 48 and result["n_test"] == 32
    assert result["cv_folds_used"] == 3
    assert result["options"]["c_grid"] == [0.01, 1.0] and result["options"]["pooling"] == ["cls", "max", "mean"]
    assert result["feature_dim"] == 72 and result["effective_rank"] > 1.0


def test_uninformative_train_labels_give_chance(encoder_factory, source, helpers):
    labels = helpers.split_labels(source.split("train"))
    noisy = helpers.relabel(source, "train", helpers.balanced_noise(labels, 4, seed=3))
    result = svm.run(encoder_factory, noisy, options(), CPU)
    assert result["test_accuracy"] <= 50.0  # chance is 25%


def test_test_labels_never_influence_the_choice_of_c(encoder_factory, source, helpers):
    baseline = svm.run(encoder_factory, source, options(c_grid=(0.001, 0.1, 10.0)), CPU)
    test_labels = helpers.split_labels(source.split("test"))
    permuted = helpers.relabel(source, "test", np.random.default_rng(0).permutation(test_labels))
    shuffled = svm.run(encoder_factory, permuted, options(c_grid=(0.001, 0.1, 10.0)), CPU)
    assert shuffled["best_C"] == baseline["best_C"]
    assert shuffled["cv_accuracy"] == baseline["cv_accuracy"]
    assert shuffled["test_accuracy"] < baseline["test_accuracy"]


@pytest.mark.parametrize("solver", svm.SOLVERS)
def test_convergence_of_the_refitted_model_is_reported(solver):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 8)), np.repeat([0, 1], 20)
    assert svm.select_c(x, y, (1.0,), 2, max_iter=1, seed=0, solver=solver).converged is False
    assert svm.select_c(x, y, (1.0,), 2, max_iter=5000, seed=0, solver=solver).converged is True


def test_folds_shrink_to_the_rarest_class_and_single_samples_fail():
    labels = np.array([0] * 10 + [1] * 3)
    assert svm.cv_folds_for(labels, 5, ["a", "b"], "root") == 3
    with pytest.raises(DataError, match="'b' has 1 training sample"):
        svm.cv_folds_for(np.array([0, 0, 0, 1]), 5, ["a", "b"], "root")
    with pytest.raises(DataError, match="single class"):
        svm.cv_folds_for(np.zeros(6, dtype=int), 5, ["a"], "root")
    with pytest.raises(ConfigError, match="cv_folds"):
        svm.cv_folds_for(labels, 1, ["a", "b"], "root")


def test_unlabelled_dataset_is_refused_before_any_work(encoder_factory, helpers):
    calls = []

    def factory():
        calls.append(1)
        return encoder_factory()

    with pytest.raises(DataError, match="needs class labels"):
        svm.run(factory, helpers.make_source(labelled=False), options(), CPU)
    assert not calls


def test_missing_split_names_the_ones_that_exist(encoder_factory, source):
    with pytest.raises(DataError, match="no split 'val'.*'test', 'train'"):
        svm.run(encoder_factory, source, options(test_split="val"), CPU)


def test_non_finite_features_are_one_clear_error(tiny_encoder, source):
    def poisoned():
        encoder = tiny_encoder()
        with torch.no_grad():
            next(encoder.parameters()).fill_(float("nan"))
        return encoder

    with pytest.raises(CheckpointError, match="non-finite features for 48 of 48 samples of split 'train'"):
        svm.run(poisoned, source, options(), CPU)
