"""Numbers behind the diagnostic pictures: the feature spectrum, its effective rank, and the training log.

A collapsed self-distillation run maps every shape to (nearly) the same vector: the covariance of its features then
has one or a few non-zero eigenvalues followed by a cliff, and the effective rank falls towards 1. These are cheap
enough to report with every frozen-feature evaluation.

Prototype usage (DOS's Zipf prior): :func:`zipf_exponent` fits the power law of a usage curve, and
:func:`total_variation` measures how far it lies from the prior.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pointdistill.errors import DataError


NUMERICAL_ZERO = 1e-12
"""Eigenvalues below this fraction of the mean squared feature norm count as zero: a direction whose spread is under
1e-6 of the features' size is at the level of float32 rounding, and left in it would make a constant (collapsed)
output look full-rank to the scale-free effective rank. Real spectra (a random ViT on ModelNet10) reach 1e-11 of
the squared norm and stay above it."""


def feature_spectrum(features: np.ndarray) -> np.ndarray:
    """Eigenvalues of the covariance of ``features`` [M, F], largest first, non-negative, in float64.

    Computed from the smaller of the F x F covariance and the M x M Gram matrix (they share their non-zero
    eigenvalues), so a few hundred samples of wide features cost no more than the samples themselves. Eigenvalues
    below :data:`NUMERICAL_ZERO` times the mean squared norm of the (uncentred) features are set to 0.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need features [M >= 2, F], got {list(x.shape)}")
    scale = float(np.mean(np.sum(x * x, axis=1)))
    x = x - x.mean(axis=0, keepdims=True)
    gram = x.T @ x if x.shape[1] <= x.shape[0] else x @ x.T
    eigenvalues = np.linalg.eigvalsh(gram / (x.shape[0] - 1))[::-1]
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    eigenvalues[eigenvalues < NUMERICAL_ZERO * scale] = 0.0
    return eigenvalues


def effective_rank(eigenvalues: np.ndarray) -> float:
    """exp(entropy) of the normalised spectrum (Roy & Vetterli 2007): F for white features, 1 for a single
    direction, 0 for constant features."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    total = eigenvalues.sum()
    if total <= 0:
        return 0.0
    p = eigenvalues[eigenvalues > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def usage_by_rank(usage: np.ndarray) -> np.ndarray:
    """A prototype usage vector [K] sorted from the most to the least used."""
    return np.sort(np.asarray(usage, dtype=np.float64))[::-1]


def zipf_exponent(usage: np.ndarray) -> float:
    """alpha of the least-squares line ``log u_k = c - alpha log k`` through the usage sorted by rank (unused
    prototypes left out): the Zipf prior ``k^-alpha`` gives alpha, uniform usage 0. NaN with fewer than two used
    prototypes."""
    ranked = usage_by_rank(usage)
    ranks = np.arange(1, len(ranked) + 1, dtype=np.float64)
    used = ranked > 0
    if used.sum() < 2:
        return float("nan")
    slope = np.polyfit(np.log(ranks[used]), np.log(ranked[used]), 1)[0]
    return float(-slope)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Half the L1 distance of two distributions of one length: 0 when equal, 1 when disjoint."""
    return float(0.5 * np.abs(np.asarray(p, dtype=np.float64) - np.asarray(q, dtype=np.float64)).sum())


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Records of a training run's ``metrics.jsonl`` (one JSON object per line); a DataError names a bad line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "metrics file not found")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, f"line {number} is not JSON: {error}") from None
        if not isinstance(record, dict):
            raise DataError(path, f"line {number} is not a JSON object")
        records.append(record)
    if not records:
        raise DataError(path, "metrics file holds no records")
    return records
