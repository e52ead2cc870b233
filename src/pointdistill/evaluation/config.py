"""Config section ``online_eval``: a cheap k-NN/SVM probe during pretraining.

Every ``every_steps`` optimiser steps the teacher encoder embeds ``max_train`` labelled shapes of ``source`` (train
split) and ``max_test`` shapes (test split), and a k-NN (``k`` neighbours, cosine, weighted vote) or a linear SVM
(fixed ``svm_c``, no search) scores them. The subsets are drawn with ``seed``, loaded and resampled once.
"""

from __future__ import annotations

from dataclasses import dataclass

from pointdistill.config import register_section


@dataclass
class OnlineEvalConfig:
    enabled: bool = False
    source: str = "synthetic:shapes"
    format: str = "auto"
    every_steps: int = 500
    protocol: str = "knn"
    max_train: int = 2000
    max_test: int = 1000
    num_points: int = 1024
    batch_size: int = 64
    k: int = 20
    svm_c: float = 0.01
    seed: int = 0


register_section("online_eval", OnlineEvalConfig)
