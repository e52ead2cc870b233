"""Linear probe: stratified validation carve, learns separable shapes, selects on validation only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation import linear

CPU = torch.device("cpu")


def options(**changes) -> linear.Options:
    return linear.Options(**{"num_points": 32, "epochs": 60, "lr": 0.01, "val_fraction": 0.25, **changes})


def test_separable_shapes_score_high(encoder_factory, source):
    result = linear.run(encoder_factory, source, options(), CPU)
    assert result["protocol"] == "linear" and result["test_accuracy"] >= 85.0
    assert result["n_train"] + result["n_val"] == 48 and result["n_val"] == 12
    assert 1 <= result["selected_epoch"] <= 60


def test_selection_ignores_test_labels(encoder_factory, source, helpers):
    baseline = linear.run(encoder_factory, source, options(), CPU)
    labels = helpers.split_labels(source.split("test"))
    permuted = helpers.relabel(source, "test", np.random.default_rng(0).permutation(labels))
    shuffled = linear.run(encoder_factory, permuted, options(), CPU)
    assert shuffled["selected_epoch"] == baseline["selected_epoch"]
    assert shuffled["val_accuracy"] == baseline["val_accuracy"]
    assert shuffled["test_accuracy"] < baseline["test_accuracy"]


def test_bad_knobs_fail_before_any_feature_is_extracted(source):
    def factory():
        raise AssertionError("the encoder must not be built for invalid options")

    for bad in ({"val_fraction": 0.0}, {"epochs": 0}, {"lr": -1.0}):
        with pytest.raises(ConfigError):
            linear.run(factory, source, options(**bad), CPU)


def test_a_train_split_of_singletons_cannot_give_a_validation_split(encoder_factory, helpers):
    singletons = helpers.make_source(per_class_train=1)
    with pytest.raises(DataError, match="no class has 2 samples"):
        linear.run(encoder_factory, singletons, options(), CPU)


def test_uninformative_labels_give_chance(encoder_factory, source, helpers):
    labels = helpers.split_labels(source.split("train"))
    noisy = helpers.relabel(source, "train", helpers.balanced_noise(labels, 4, seed=2))
    assert linear.run(encoder_factory, noisy, options(), CPU)["test_accuracy"] <= 50.0
