"""Config section ``online_eval``: a cheap k-NN/SVM probe during pretraining."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class OnlineEvalConfig:
    enabled: bool = False
    source: str = "synthetic:shapes"
    every_steps: int = 500
    protocol: str = "knn"
    max_train: int = 2000
    max_test: int = 1000
