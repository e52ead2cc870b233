"""Online evaluation during pretraining: a k-NN (or fixed-C linear SVM) probe on a small labelled subset.

By default (``online_eval.split=val``) both sides of the probe come from the train split, its test side being a
seeded stratified validation split carved from it, so the curve a user watches (and stops or tunes on) never saw
the test split. The subset is read, resampled and normalised once (the first call) and kept as two CPU tensors, so
each later call costs only the encoder's forward passes over ``max_train + max_test`` shapes plus one similarity
matrix (k-NN) or one standardised LinearSVC fit (svm: :func:`~pointdistill.evaluation.linear_svc.fit_linear_svc`,
all classes at once on the probe's device). The encoder runs in eval mode without gradients and goes back to
its previous mode afterwards.

The training engine knows nothing of this module: :func:`online_callbacks` hands the probe to the trainer as a
:class:`~pointdistill.training.callbacks.Callback` when ``online_eval.enabled``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from pointdistill.config import Config
from pointdistill.data.base import DatasetSource, validate_points
from pointdistill.data.registry import open_dataset
from pointdistill.errors import ConfigError, DataError, TrainingError
from pointdistill.evaluation.config import OnlineEvalConfig
from pointdistill.evaluation.features import encode_batch, eval_mode, prepare_batch
from pointdistill.evaluation.knn import knn_predict
from pointdistill.evaluation.linear_svc import LinearSVCModel, fit_linear_svc
from pointdistill.evaluation.splits import stratified_split
from pointdistill.evaluation.svm import select_c
from pointdistill.methods.base import Method
from pointdistill.models.base import POOLINGS, PointEncoder
from pointdistill.training.callbacks import TrainingTime

PROTOCOLS = ("knn", "svm")
SPLITS = ("val", "test")
_SVM_MAX_ITER = 1000
"""LinearSVC's default bound on solver iterations, which the probe always used."""


@dataclass
class ProbeData:
    """Prepared clouds [M, num_points, 3] and labels [M] of the probe's train and test subsets, and where they come
    from: ``train_index`` into the train split, ``test_index`` into split ``test_split`` (``train`` for the
    validation carve-out, ``test`` otherwise)."""

    train_points: torch.Tensor
    train_labels: torch.Tensor
    test_points: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    train_index: list[int]
    test_index: list[int]
    test_split: str


def _limit(candidates: np.ndarray, limit: int, rng: np.random.Generator) -> list[int]:
    """All of ``candidates``, or a seeded sorted subset of ``limit`` of them."""
    if len(candidates) <= limit:
        return [int(i) for i in candidates]
    return sorted(int(i) for i in rng.choice(candidates, limit, replace=False))


def _split_labels(source: DatasetSource, split_name: str) -> np.ndarray:
    """Every label of a split (read once per run, when the probe first loads its data)."""
    split = source.split(split_name)
    labels = []
    for index in range(len(split)):
        label = split[index].get("label")
        if label is None:
            raise DataError(source.root, f"online_eval: shape {index} of split {split_name!r} has no label")
        labels.append(int(label))
    return np.asarray(labels, dtype=np.int64)


def probe_indices(cfg: OnlineEvalConfig, source: DatasetSource) -> tuple[list[int], str, list[int]]:
    """``(train indices into the train split, test split name, test indices into it)`` of the probe, drawn from
    ``np.random.default_rng(cfg.seed)``. With ``split=val`` the test side is a stratified ``val_fraction`` of the
    train split (seeded by ``cfg.seed``) and the train side the rest: split ``test`` is never opened."""
    rng = np.random.default_rng(cfg.seed)
    train = source.split("train")
    if len(train) == 0:
        raise DataError(source.root, "online_eval: split 'train' is empty")
    if cfg.split == "val":
        fit, val = stratified_split(_split_labels(source, "train"), cfg.val_fraction, cfg.seed)
        if len(val) == 0:
            raise DataError(source.root, "online_eval: no class of the train split has 2 shapes, so no validation "
                            "split can be carved from it; use online_eval.split=test")
        return _limit(fit, cfg.max_train, rng), "train", _limit(val, cfg.max_test, rng)
    train_index = _limit(np.arange(len(train)), cfg.max_train, rng)
    test_index = _limit(np.arange(len(source.split("test"))), cfg.max_test, rng)
    if not test_index:
        raise DataError(source.root, "online_eval: split 'test' is empty")
    return train_index, "test", test_index


def load_probe_data(cfg: OnlineEvalConfig) -> ProbeData:
    """Read the seeded subsets of ``cfg.source`` once; a DataError when the source has no labels or no shapes."""
    source = open_dataset(cfg.source, format=cfg.format)
    if not source.labelled:
        raise DataError(source.root, "online_eval.source must be a labelled dataset (the probe classifies shapes)")
    train_index, test_split, test_index = probe_indices(cfg, source)
    parts = []
    for split_name, indices in (("train", train_index), (test_split, test_index)):
        split = source.split(split_name)
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
    return ProbeData(train_points, train_labels, test_points, test_labels, num_classes, train_index, test_index,
                     test_split)


class OnlineProbe:
    """``probe(encoder, step) -> {"online/<protocol>_accuracy": percent, "online/seconds": wall-clock cost,
    "online/cpu_seconds": CPU cost}`` (the data's first loading left out); as a training
    callback it probes the method's teacher encoder at step 0, then every ``every_steps`` optimiser steps or every
    ``every_minutes`` of training time, and after a call's last step (``at_end``)."""

    def __init__(self, cfg: OnlineEvalConfig, device: torch.device | str | None = None) -> None:
        if cfg.protocol not in PROTOCOLS:
            raise ConfigError(f"online_eval.protocol: {cfg.protocol!r} is not one of {list(PROTOCOLS)}")
        if cfg.split not in SPLITS:
            raise ConfigError(f"online_eval.split: {cfg.split!r} is not one of {list(SPLITS)}")
        for name in ("max_train", "max_test", "num_points", "batch_size", "k", "every_steps"):
            if getattr(cfg, name) < 1:
                raise ConfigError(f"online_eval.{name}: must be at least 1, got {getattr(cfg, name)}")
        if cfg.svm_c <= 0:
            raise ConfigError(f"online_eval.svm_c: must be positive, got {cfg.svm_c}")
        if any(c <= 0 for c in cfg.svm_c_grid):
            raise ConfigError(f"online_eval.svm_c_grid: need positive values, got {list(cfg.svm_c_grid)}")
        if cfg.svm_cv_folds < 2:
            raise ConfigError(f"online_eval.svm_cv_folds: must be at least 2, got {cfg.svm_cv_folds}")
        if not 0 < cfg.val_fraction < 1:
            raise ConfigError(f"online_eval.val_fraction: must lie in (0, 1), got {cfg.val_fraction}")
        if cfg.every_minutes is not None and cfg.every_minutes <= 0:
            raise ConfigError(f"online_eval.every_minutes: must be positive, got {cfg.every_minutes}")
        self.cfg = cfg
        self.device = None if device is None else torch.device(device)
        self._data: ProbeData | None = None
        self._last_period: int | None = None

    @property
    def data(self) -> ProbeData:
        if self._data is None:
            self._data = load_probe_data(self.cfg)
        return self._data

    def on_step_end(
        self, step: int, method: Method, training: TrainingTime | None = None
    ) -> dict[str, float] | None:
        """The probe of the teacher encoder when one is due after ``step``, else None; ``training`` (the engine
        always passes it) is needed by ``every_minutes`` and ``at_end``."""
        if not self._due(step, training):
            return None
        return self(method.teacher_encoder(), step)

    def _due(self, step: int, training: TrainingTime | None) -> bool:
        """Step 0; a multiple of ``every_steps``, or (``every_minutes``) the first step after training time passed
        a multiple of it since the previous call; the last step of a call when ``at_end``."""
        last = self.cfg.at_end and training is not None and training.last
        if self.cfg.every_minutes is None:
            return step % self.cfg.every_steps == 0 or last
        if training is None:
            raise ConfigError("online_eval.every_minutes: the probe needs the run's training time; run it as a "
                              "Trainer callback")
        period = int(training.budget_s // (60.0 * self.cfg.every_minutes))
        passed = self._last_period is not None and period > self._last_period
        self._last_period = period
        return step == 0 or passed or last

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
        start, start_cpu = time.perf_counter(), time.process_time()
        with eval_mode(encoder):
            train_x = self._features(encoder, data.train_points)
            test_x = self._features(encoder, data.test_points)
        if not (torch.isfinite(train_x).all() and torch.isfinite(test_x).all()):
            raise TrainingError(f"online probe at step {step}: the encoder produced non-finite features")
        extra: dict[str, float] = {}
        if self.cfg.protocol == "knn":
            k = min(self.cfg.k, len(train_x))
            predictions = knn_predict(train_x, data.train_labels, test_x, [k], data.num_classes)[k]
        else:
            model, c = self._fit_svm(train_x.numpy(), data.train_labels.numpy(), self._device(encoder))
            predictions = torch.from_numpy(model.predict(test_x.numpy()))
            extra["online/svm_c"] = c
        accuracy = round(100.0 * float((predictions == data.test_labels).double().mean()), 2)
        return {f"online/{self.cfg.protocol}_accuracy": accuracy, **extra,
                "online/seconds": round(time.perf_counter() - start, 3),
                "online/cpu_seconds": round(time.process_time() - start_cpu, 3)}

    def _fit_svm(self, x: np.ndarray, y: np.ndarray, device: torch.device) -> tuple[LinearSVCModel, float]:
        """LinearSVC at the fixed ``svm_c``, or at the C of ``svm_c_grid`` that cross-validates best on ``x``."""
        if not self.cfg.svm_c_grid:
            return fit_linear_svc(x, y, self.cfg.svm_c, max_iter=_SVM_MAX_ITER, device=device), self.cfg.svm_c
        rarest = int(np.unique(y, return_counts=True)[1].min())
        folds = min(self.cfg.svm_cv_folds, rarest)
        if folds < 2:
            raise DataError(self.cfg.source, f"online_eval.svm_c_grid: the probe's train side holds a class with "
                                             f"{rarest} shape, too few to cross-validate C; raise max_train")
        selection = select_c(x, y, tuple(self.cfg.svm_c_grid), folds, _SVM_MAX_ITER, self.cfg.seed,
                             solver="newton", device=device)
        return selection.model, selection.best_c


def online_callbacks(config: Config) -> list[OnlineProbe]:
    """The probe of ``config.online_eval`` as a one-element callback list, or none when it is disabled.

    The probe runs on the device of the encoder it is given (wherever the trainer put the teacher).
    """
    cfg = config.online_eval
    if not cfg.enabled:
        return []
    return [OnlineProbe(cfg)]
