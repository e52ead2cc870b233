"""Online evaluation during pretraining: a k-NN (or fixed-C linear SVM) probe on a small labelled subset.

The subset is read, resampled and normalised once (the first call) and kept as two CPU tensors, so each later call
costs only the encoder's forward passes over ``max_train + max_test`` shapes plus one similarity matrix (k-NN) or one
standardised LinearSVC fit (svm: :func:`~pointdistill.evaluation.linear_svc.fit_linear_svc`, LinearSVC's objective
and defaults solved for all classes at once on the probe's device). The
encoder runs in eval mode without gradients and goes back to its previous mode afterwards.

The training engine knows nothing of this module: :func:`online_callbacks` hands the probe to the trainer as a
:class:`~pointdistill.training.callbacks.Callback` when ``online_eval.enabled``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from pointdistill.config import Config
from pointdistill.data.base import PointSplit, validate_points
from pointdistill.data.registry import open_dataset
from pointdistill.errors import ConfigError, DataError, TrainingError
from pointdistill.evaluation.config import OnlineEvalConfig
from pointdistill.evaluation.features import encode_batch, eval_mode, prepare_batch
from pointdistill.evaluation.knn import knn_predict
from pointdistill.evaluation.linear_svc import fit_linear_svc
from pointdistill.methods.base import Method
from pointdistill.models.base import POOLINGS, PointEncoder

PROTOCOLS = ("knn", "svm")
_SVM_MAX_ITER = 1000
"""LinearSVC's default bound on solver iterations, which the probe always used."""


@dataclass
class ProbeData:
    """Prepared clouds [M, num_points, 3] and labels [M] of the probe's train and test subsets."""

    train_points: torch.Tensor
    train_labels: torch.Tensor
    test_points: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int


def _subset(split: PointSplit, limit: int, rng: np.random.Generator) -> list[int]:
    if len(split) <= limit:
        return list(range(len(split)))
    return sorted(rng.choice(len(split), limit, replace=False).tolist())


def load_probe_data(cfg: OnlineEvalConfig) -> ProbeData:
    """Read the seeded subsets of ``cfg.source`` once; a DataError when the source has no labels or no shapes."""
    source = open_dataset(cfg.source, format=cfg.format)
    if not source.labelled:
        raise DataError(source.root, "online_eval.source must be a labelled dataset (the probe classifies shapes)")
    rng = np.random.default_rng(cfg.seed)
    parts = []
    for split_name, limit in (("train", cfg.max_train), ("test", cfg.max_test)):
        split = source.split(split_name)
        indices = _subset(split, limit, rng)
        if not indices:
            raise DataError(source.root, f"online_eval: split {split_name!r} is empty")
        samples = [split[i] for i in indices]
        if any("label" not in s for s in samples):
            raise DataError(source.root, f"online_eval: some shapes of split {split_name!r} have no label")
        clouds = [validate_points(s["points"], s.get("name", str(i))) for s, i in zip(samples, indices)]
        points = torch.cat([
            prepare_batch(clouds[start : start + 256], cfg.num_points, seeds=indices[start : start + 256])
            for start in range(0, len(clouds), 256)
        ])
        parts.append((points, torch.tensor([int(s["label"]) for s in samples])))
    (train_points, train_labels), (test_points, test_labels) = parts
    if len(train_labels.unique()) < 2:
        raise DataError(source.root, "online_eval: the train subset holds a single class; a probe needs two or more")
    num_classes = max(len(source.classes), int(max(train_labels.max(), test_labels.max())) + 1)
    return ProbeData(train_points, train_labels, test_points, test_labels, num_classes)


class OnlineProbe:
    """``probe(encoder, step) -> {"online/<protocol>_accuracy": percent, "online/seconds": cost}``; as a training
    callback it probes the method's teacher encoder every ``every_steps`` optimiser steps."""

    def __init__(self, cfg: OnlineEvalConfig, device: torch.device | str | None = None) -> None:
        if cfg.protocol not in PROTOCOLS:
            raise ConfigError(f"online_eval.protocol: {cfg.protocol!r} is not one of {list(PROTOCOLS)}")
        for name in ("max_train", "max_test", "num_points", "batch_size", "k"):
            if getattr(cfg, name) < 1:
                raise ConfigError(f"online_eval.{name}: must be at least 1, got {getattr(cfg, name)}")
        if cfg.svm_c <= 0:
            raise ConfigError(f"online_eval.svm_c: must be positive, got {cfg.svm_c}")
        self.cfg = cfg
        self.device = None if device is None else torch.device(device)
        self._data: ProbeData | None = None

    @property
    def data(self) -> ProbeData:
        if self._data is None:
            self._data = load_probe_data(self.cfg)
        return self._data

    def on_step_end(self, step: int, method: Method) -> dict[str, float] | None:
        if step % self.cfg.every_steps:
            return None
        return self(method.teacher_encoder(), step)

    def _device(self, encoder: PointEncoder) -> torch.device:
        return self.device if self.device is not None else next(encoder.parameters()).device

    def _features(self, encoder: PointEncoder, points: torch.Tensor) -> torch.Tensor:
        size = self.cfg.batch_size
        device = self._device(encoder)
        return torch.cat([
            encode_batch(encoder, points[start : start + size], pooling=POOLINGS, device=device)
            for start in range(0, len(points), size)
        ])

    def __call__(self, encoder: PointEncoder, step: int) -> dict[str, float]:
        data = self.data
        start = time.perf_counter()
        with eval_mode(encoder):
            train_x = self._features(encoder, data.train_points)
            test_x = self._features(encoder, data.test_points)
        if not (torch.isfinite(train_x).all() and torch.isfinite(test_x).all()):
            raise TrainingError(f"online probe at step {step}: the encoder produced non-finite features")
        if self.cfg.protocol == "knn":
            k = min(self.cfg.k, len(train_x))
            predictions = knn_predict(train_x, data.train_labels, test_x, [k], data.num_classes)[k]
        else:
            model = fit_linear_svc(train_x.numpy(), data.train_labels.numpy(), self.cfg.svm_c,
                                   max_iter=_SVM_MAX_ITER, device=self._device(encoder))
            predictions = torch.from_numpy(model.predict(test_x.numpy()))
        accuracy = round(100.0 * float((predictions == data.test_labels).double().mean()), 2)
        return {f"online/{self.cfg.protocol}_accuracy": accuracy,
                "online/seconds": round(time.perf_counter() - start, 3)}


def online_callbacks(config: Config) -> list[OnlineProbe]:
    """The probe of ``config.online_eval`` as a one-element callback list, or none when it is disabled.

    The probe runs on the device of the encoder it is given (wherever the trainer put the teacher).
    """
    cfg = config.online_eval
    if not cfg.enabled:
        return []
    if cfg.every_steps < 1:
        raise ConfigError(f"online_eval.every_steps: must be at least 1, got {cfg.every_steps}")
    return [OnlineProbe(cfg)]
