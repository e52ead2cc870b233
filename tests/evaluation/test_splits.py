"""The stratified validation split: a partition, per-class rounding, at least one of every class, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from pointdistill.evaluation.splits import stratified_split

IMBALANCED = np.random.default_rng(0).permutation(np.repeat(np.arange(6), [200, 60, 21, 10, 2, 1]))
"""Six classes, from 200 samples down to a pair and a singleton, shuffled."""


def per_class(labels: np.ndarray, index: np.ndarray) -> list[int]:
    return np.bincount(labels[index], minlength=labels.max() + 1).tolist()


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("seed", [0, 1])
def test_train_and_val_partition_the_indices(fraction: float, seed: int) -> None:
    train, val = stratified_split(IMBALANCED, fraction, seed)
    assert len(np.intersect1d(train, val)) == 0
    assert np.array_equal(np.union1d(train, val), np.arange(len(IMBALANCED)))
    assert np.array_equal(train, np.sort(train)) and np.array_equal(val, np.sort(val))


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.25, 0.5, 0.9])
def test_every_class_that_can_spare_a_sample_gives_at_least_one_and_keeps_one(fraction: float) -> None:
    train, val = stratified_split(IMBALANCED, fraction, seed=0)
    counts = np.bincount(IMBALANCED)
    for label, (in_train, in_val) in enumerate(zip(per_class(IMBALANCED, train), per_class(IMBALANCED, val))):
        if counts[label] >= 2:
            assert in_val >= 1 and in_train >= 1, (label, in_train, in_val)
        else:
            assert (in_train, in_val) == (1, 0), "a singleton class stays in train"


def test_each_class_gives_its_fraction_rounded_half_up() -> None:
    _, val = stratified_split(IMBALANCED, 0.1, seed=0)
    # 200 -> 20, 60 -> 6, 21 -> 2.1 -> 2, 10 -> 1, 2 -> 0.2 -> at least 1, singleton -> 0
    assert per_class(IMBALANCED, val) == [20, 6, 2, 1, 1, 0]
    _, val = stratified_split(np.repeat([0, 1], [10, 30]), 0.25, seed=0)
    assert per_class(np.repeat([0, 1], [10, 30]), val) == [3, 8], "2.5 -> 3 and 7.5 -> 8: halves round up"
    _, val = stratified_split(np.repeat([0, 1], [4, 3]), 0.9, seed=0)
    assert per_class(np.repeat([0, 1], [4, 3]), val) == [3, 2], "a class keeps one training sample"


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3])
def test_the_validation_share_is_close_to_the_fraction(fraction: float) -> None:
    labels = np.random.default_rng(1).integers(0, 8, size=4000)
    _, val = stratified_split(labels, fraction, seed=3)
    assert abs(len(val) / len(labels) - fraction) < 0.005
    shares = np.bincount(labels[val]) / np.bincount(labels)
    assert np.abs(shares - fraction).max() < 0.005


def test_the_same_seed_gives_the_same_split_and_another_seed_another() -> None:
    first = stratified_split(IMBALANCED, 0.2, seed=7)
    again = stratified_split(IMBALANCED, 0.2, seed=7)
    other = stratified_split(IMBALANCED, 0.2, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[1], other[1])
    assert per_class(IMBALANCED, first[1]) == per_class(IMBALANCED, other[1]), "the seed picks who, not how many"


def test_no_class_with_two_samples_gives_an_empty_validation_split() -> None:
    train, val = stratified_split(np.array([0, 1, 2]), 0.5, seed=0)
    assert train.tolist() == [0, 1, 2] and val.size == 0


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_a_fraction_outside_zero_one_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        stratified_split(IMBALANCED, fraction, seed=0)
