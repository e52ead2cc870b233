"""What the evaluation protocols themselves cost: frozen-feature extraction and the linear-SVM protocol.

- ``features_per_s``: shapes per second through
  :func:`~pointdistill.evaluation.features.extract_features` (read, resample by FPS, normalise, encode in eval mode
  without gradients, pool), the step every frozen-feature protocol starts with, after one untimed batch;
  ``features_per_cpu_s`` the same per second of this process's CPU time per thread (what the load does not change).
- ``svm``: the wall time of the whole ``evaluate svm`` protocol (features of train and test, the cross-validated C
  grid, the refit, the test score) through its public entry point, with its default options, and ``cpu_s`` the CPU
  time of this process and its worker pool meanwhile. On a reduced source (every k-th shape of each class,
  labelled so in the report) it is a smoke reading, not the protocol's cost. ``classifier_s`` is that time less
  the extraction time predicted from ``features_per_s`` (an estimate: the C grid and the refit).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from pointdistill.api import Encoder
from pointdistill.bench.machine import process_tree_cpu_seconds
from pointdistill.data.base import DatasetSource, PointSplit
from pointdistill.data.posed import SubsetSplit
from pointdistill.evaluation.features import extract_features
from pointdistill.evaluation.protocols import get_protocol

FEATURE_BATCH = 32
"""Shapes per encoder batch: the frozen-feature protocols' default (``batch_size``)."""


def feature_throughput(encoder: Encoder, split: PointSplit, count: int, device: torch.device) -> dict[str, Any]:
    """Shapes per second of frozen-feature extraction of the first ``count`` shapes of ``split``."""
    count = min(count, len(split))
    options = {"num_points": encoder.num_points, "batch_size": FEATURE_BATCH, "device": device, "progress": False}
    extract_features(encoder.module, split, indices=range(min(FEATURE_BATCH, count)), **options)
    start, start_cpu = time.perf_counter(), time.process_time()
    features, _ = extract_features(encoder.module, split, indices=range(count), **options)
    seconds, cpu_seconds = time.perf_counter() - start, (time.process_time() - start_cpu) / torch.get_num_threads()
    return {"shapes": count, "feature_dim": int(features.shape[1]), "seconds": seconds,
            "features_per_s": count / seconds, "features_per_cpu_s": count / max(cpu_seconds, 1e-9)}


def class_subset(source: DatasetSource, every: int, min_per_class: int = 5) -> DatasetSource:
    """``source`` with every ``every``-th shape of each class of each split, but at least ``min_per_class`` shapes
    of a class (all of them when it has fewer), so a reduced protocol still cross-validates every class. All of
    ``source`` for ``every`` <= 1. Finding the classes reads every sample's label."""
    if every <= 1:
        return source
    splits = {}
    for name, split in source.splits.items():
        labels = np.array([split[index].get("label", -1) for index in range(len(split))])
        keep: list[int] = []
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            keep.extend(members[:: min(every, max(1, len(members) // min_per_class))].tolist())
        splits[name] = SubsetSplit(split, sorted(keep))
    return DatasetSource(source.format, source.root, source.classes, splits, dict(source.info))


def svm_protocol_cost(encoder: Encoder, source: DatasetSource, every: int, device: torch.device,
                      features_per_s: float | None) -> dict[str, Any]:
    """Wall time of the linear-SVM protocol on ``source`` (reduced to :func:`class_subset` for ``every`` > 1)."""
    protocol = get_protocol("svm")
    reduced = class_subset(source, every)
    start, start_cpu = time.perf_counter(), process_tree_cpu_seconds()
    result = protocol.run(encoder.factory(), reduced, protocol.Options(), device)
    seconds, cpu_seconds = time.perf_counter() - start, process_tree_cpu_seconds() - start_cpu
    shapes = result["n_train"] + result["n_test"]
    return {
        "reduced": every > 1,
        "every": every,
        "n_train": result["n_train"],
        "n_test": result["n_test"],
        "seconds": seconds,
        "cpu_s": cpu_seconds,
        "classifier_s": seconds - shapes / features_per_s if features_per_s else None,
        "test_accuracy": result.get("test_accuracy"),
        "options": result.get("options"),
    }
