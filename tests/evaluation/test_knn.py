"""Cosine k-NN: exact votes on hand-made vectors, high accuracy on separable shapes, clear errors."""

from __future__ import annotations

import pytest
import torch

from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation import knn

CPU = torch.device("cpu")


def test_votes_by_hand():
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    query = torch.tensor([[1.0, 0.05], [0.05, 1.0], [10.0, 0.5]])  # the last one: scale must not matter
    out = knn.knn_predict(train, labels, query, [1, 5], 2, vote="majority")
    assert out[1].tolist() == [0, 1, 0]
    assert out[5].tolist() == [1, 1, 1]  # 3 of the 5 neighbours are class 1
    weighted = knn.knn_predict(train, labels, query, [5], 2, vote="weighted", temperature=0.01)
    assert weighted[5].tolist() == [0, 1, 0]  # sharp weights let the close class-0 pair win


def test_majority_ties_go_to_the_lower_class():
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out = knn.knn_predict(train, torch.tensor([1, 0]), torch.tensor([[1.0, 1.0]]), [2], 2, vote="majority")
    assert out[2].tolist() == [0]


def test_separable_shapes_and_headline_is_the_largest_k(encoder_factory, source):
    result = knn.run(encoder_factory, source, knn.Options(num_points=32, ks=(9, 3)), CPU)
    assert result["headline_k"] == 9
    assert result["test_accuracy"] == result["test_accuracy_k9"]
    assert result["test_accuracy_k3"] >= 85.0 and result["test_accuracy_k9"] >= 85.0


def test_uninformative_labels_give_chance(encoder_factory, source, helpers):
    labels = helpers.split_labels(source.split("train"))
    noisy = helpers.relabel(source, "train", helpers.balanced_noise(labels, 4, seed=1))
    result = knn.run(encoder_factory, noisy, knn.Options(num_points=32, ks=(5,)), CPU)
    assert result["test_accuracy"] <= 50.0


def test_errors(encoder_factory, source, helpers):
    with pytest.raises(DataError, match="k=100 needs at least 100"):
        knn.run(encoder_factory, source, knn.Options(num_points=32, ks=(100,)), CPU)
    with pytest.raises(ConfigError, match="vote"):
        knn.run(encoder_factory, source, knn.Options(num_points=32, vote="soft"), CPU)
    with pytest.raises(DataError, match="needs class labels"):
        knn.run(encoder_factory, helpers.make_source(labelled=False), knn.Options(num_points=32), CPU)


def test_standardize_is_reported_and_keeps_separable_shapes_separable(encoder_factory, source):
    result = knn.run(encoder_factory, source, knn.Options(num_points=32, ks=(3,), standardize=True), CPU)
    assert result["options"]["standardize"] is True
    assert result["test_accuracy"] >= 85.0


def test_standardize_recovers_classes_that_loud_dimensions_hide():
    """Large uninformative directions swamp cosine similarity; z-scoring with train statistics recovers the classes."""
    labels = torch.arange(3).repeat_interleave(20)
    informative = torch.eye(3)[labels] + 0.05 * torch.randn(60, 3, generator=torch.Generator().manual_seed(0))
    features = torch.cat([informative, 30 * torch.randn(60, 2, generator=torch.Generator().manual_seed(1))], 1)
    train, test = features[::2], features[1::2]
    raw = knn.knn_predict(train, labels[::2], test, [5], 3)[5]
    mean, std = train.mean(0), train.std(0)
    scaled = knn.knn_predict((train - mean) / std, labels[::2], (test - mean) / std, [5], 3)[5]
    assert (scaled == labels[1::2]).float().mean() > 0.95 > (raw == labels[1::2]).float().mean()
