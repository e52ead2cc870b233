"""Config section ``online_eval``: a cheap k-NN/SVM probe during pretraining.

The teacher encoder embeds at most ``max_train`` labelled shapes of ``source`` for the probe's train side and at most
``max_test`` for its test side, and a k-NN (``k`` neighbours, cosine, weighted vote) or a linear SVM scores them.
The SVM's C is ``svm_c`` when ``svm_c_grid`` is empty; otherwise it is chosen from ``svm_c_grid`` by
``svm_cv_folds``-fold cross-validation on the train side alone, as the ``svm`` protocol chooses it on the train split
(fewer folds when the rarest class of the subset has fewer shapes), and the record carries it as ``online/svm_c``.
A fixed C can rank encoders wrongly: pretrained features often want another C than random ones (a DCGLR teacher
whose protocol picks C = 1 read below its random floor at C = 0.1). ``split`` says where the two sides come from:

- ``val`` (default): both from the source's train split: a stratified ``val_fraction`` of each class
  (:func:`~pointdistill.evaluation.splits.stratified_split`, seeded by ``seed``) is the test side, the rest the
  train side. The test split is never read, so a curve watched during pretraining (and any choice made on it)
  leaves the test split for the final evaluation;
- ``test``: the train side from the train split, the test side from the test split (the probe of earlier
  versions).

The subsets are drawn with ``seed``, loaded and resampled once. The probe runs at step 0 (the random
initialisation), then every ``every_steps`` optimiser steps, or, when ``every_minutes`` is set, each time the run's
training time on its ``train.budget_clock`` passes a multiple of ``every_minutes`` (probe time is never training
time), and, with ``at_end``, after the last step of every call.
"""

from __future__ import annotations

from dataclasses import dataclass

from pointdistill.config import register_section


@dataclass
class OnlineEvalConfig:
    enabled: bool = False
    source: str = "synthetic:shapes"
    format: str = "auto"
    split: str = "val"
    val_fraction: float = 0.1
    every_steps: int = 500
    every_minutes: float | None = None
    at_end: bool = True
    protocol: str = "knn"
    max_train: int = 2000
    max_test: int = 1000
    num_points: int = 1024
    batch_size: int = 64
    k: int = 20
    svm_c: float = 0.01
    svm_c_grid: tuple[float, ...] = ()
    svm_cv_folds: int = 5
    seed: int = 0


register_section("online_eval", OnlineEvalConfig)
