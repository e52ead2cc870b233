"""The stratified validation split carved from a train split: the one rule the linear probe, fine-tuning and part
segmentation all select their epoch on.

Each class is split on its own, so validation accuracy covers every class that can spare a sample, whatever the
class imbalance; a class never gives away its last training sample.
"""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint sorted ``(train, val)`` indices into ``labels`` that together cover every index.

    A class with ``n >= 2`` samples puts ``round(fraction * n)`` of them (rounded half up) in val, but at least one
    and at most ``n - 1``; a single-sample class stays in train. Which samples go is drawn from
    ``np.random.default_rng(seed)``, so a seed always gives the same split. ``val`` is empty when no class has two
    samples: each caller says what that means for its protocol.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"the validation fraction must lie in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val_parts = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            continue
        count = min(len(members) - 1, max(1, int(np.floor(fraction * len(members) + 0.5))))
        val_parts.append(rng.permutation(members)[:count])
    val = np.sort(np.concatenate(val_parts)) if val_parts else np.zeros(0, dtype=np.int64)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val
