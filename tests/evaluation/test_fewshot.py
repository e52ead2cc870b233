"""Few-shot: seeded drawn folds, published fold splits, mean +- std, clear errors for impossible settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pointdistill.data.base import DatasetSource
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation import fewshot

CPU = torch.device("cpu")


def options(**changes) -> fewshot.Options:
    return fewshot.Options(**{"num_points": 32, "n_way": 3, "k_shot": 3, "n_query": 5, "folds": 4, **changes})


def test_draw_fold_is_seeded_balanced_and_within_eligible_classes():
    train = np.repeat(np.arange(5), 6)
    test = np.concatenate([np.repeat(np.arange(4), 5), [4, 4]])  # class 4 has too few test shapes
    opts = options()
    support, query = fewshot.draw_fold(train, test, opts, fold=2)
    again = fewshot.draw_fold(train, test, opts, fold=2)
    assert np.array_equal(support, again[0]) and np.array_equal(query, again[1])
    assert np.bincount(train[support], minlength=5).tolist().count(3) == 3
    assert 4 not in set(train[support]) and set(train[support]) == set(test[query])
    other, _ = fewshot.draw_fold(train, test, opts, fold=3)
    assert not np.array_equal(support, other)


def test_drawn_folds_on_separable_shapes(encoder_factory, source):
    result = fewshot.run(encoder_factory, source, options(), CPU)
    assert result["folds_from"] == "drawn" and len(result["fold_accuracies"]) == 4
    assert result["test_accuracy"] >= 85.0
    assert result["test_accuracy"] == pytest.approx(np.mean(result["fold_accuracies"]), abs=0.01)
    assert result["test_accuracy_std"] == pytest.approx(np.std(result["fold_accuracies"]), abs=0.01)
    assert result["support_size"] == 9 and result["query_size"] == 15
    assert result["fold_seeds"] == [[0, f] for f in range(4)]


def test_published_folds_are_used_when_present(encoder_factory, helpers):
    splits = {}
    for fold in range(3):
        splits[f"3way_2shot/{fold}/train"] = helpers.make_split(2, seed=10 + fold, num_classes=3)
        splits[f"3way_2shot/{fold}/test"] = helpers.make_split(4, seed=20 + fold, num_classes=3)
    published = DatasetSource("modelnet_fewshot", Path("fewshot"), helpers.CLASSES[:3], splits)
    result = fewshot.run(encoder_factory, published, options(k_shot=2, folds=2), CPU)
    assert result["folds_from"] == "published" and result["folds_used"] == [0, 1]
    assert result["support_sizes"] == [6, 6] and result["query_sizes"] == [12, 12]
    assert result["test_accuracy"] >= 75.0
    with pytest.raises(DataError, match="3 published 3way_2shot folds"):
        fewshot.run(encoder_factory, published, options(k_shot=2, folds=5), CPU)
    with pytest.raises(DataError, match="no published few-shot folds"):
        fewshot.run(encoder_factory, helpers.make_source(), options(folds_from="published"), CPU)


def test_published_fold_files_through_the_reader(tmp_path, encoder_factory, helpers):
    """The Point-BERT layout ModelNetFewshot/{N}way_{K}shot/{fold}.pkl, opened by open_dataset."""
    import pickle

    from pointdistill.data.registry import open_dataset

    folder = tmp_path / "ModelNetFewshot" / "3way_2shot"
    folder.mkdir(parents=True)
    orig = [8, 0, 30]  # chair, airplane, sofa in ModelNet40 numbering
    for fold in range(2):
        episode = {}
        for part, per_class, seed in (("train", 2, fold), ("test", 4, 10 + fold)):
            split = helpers.make_split(per_class, seed, num_classes=3, sizes=(64,))
            samples = [split[i] for i in range(len(split))]
            episode[part] = [(s["points"], s["label"], orig[s["label"]]) for s in samples]
        (folder / f"{fold}.pkl").write_bytes(pickle.dumps(episode))
    source = open_dataset(tmp_path / "ModelNetFewshot")
    result = fewshot.run(encoder_factory, source, options(k_shot=2, folds=2), CPU)
    assert source.format == "modelnet_fewshot" and result["folds_from"] == "published"
    assert result["support_sizes"] == [6, 6] and result["test_accuracy"] >= 75.0


def test_impossible_settings_fail_clearly(encoder_factory, source, helpers):
    with pytest.raises(DataError, match="5-way 3-shot needs 5 classes"):
        fewshot.run(encoder_factory, source, options(n_way=5), CPU)
    with pytest.raises(DataError, match="20 test shapes"):
        fewshot.run(encoder_factory, source, options(n_query=20), CPU)
    with pytest.raises(ConfigError, match="classifier"):
        fewshot.run(encoder_factory, source, options(classifier="tree"), CPU)
    with pytest.raises(DataError, match="needs class labels"):
        fewshot.run(encoder_factory, helpers.make_source(labelled=False), options(), CPU)


def test_logistic_classifier_also_learns(encoder_factory, source):
    result = fewshot.run(encoder_factory, source, options(classifier="logistic", folds=2), CPU)
    assert result["test_accuracy"] >= 80.0
