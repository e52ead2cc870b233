"""Spectrum and effective rank (the collapse numbers), the Zipf fit of prototype usage and the metrics.jsonl
reader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pointdistill.errors import DataError
from pointdistill.evaluation.diagnostics import (
    effective_rank,
    feature_spectrum,
    read_metrics,
    total_variation,
    usage_by_rank,
    zipf_exponent,
)


def test_effective_rank_extremes():
    assert effective_rank(np.ones(8)) == pytest.approx(8.0)
    assert effective_rank(np.array([3.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert effective_rank(np.zeros(4)) == 0.0
    assert 1.0 < effective_rank(np.array([10.0, 1.0, 0.1])) < 3.0


def test_spectrum_matches_numpy_covariance_on_both_paths():
    rng = np.random.default_rng(0)
    tall = rng.normal(size=(200, 6)) * np.array([5, 3, 2, 1, 0.5, 0.1])
    wide = rng.normal(size=(5, 40))
    for x in (tall, wide):
        expected = np.sort(np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False)), 0, None))[::-1]
        got = feature_spectrum(x)
        np.testing.assert_allclose(got[: len(x) - 1], expected[: len(x) - 1], rtol=1e-8, atol=1e-10)
        assert np.all(np.diff(got) <= 1e-12)


def test_collapsed_features_have_rank_near_one():
    rng = np.random.default_rng(1)
    healthy = rng.normal(size=(300, 32))
    direction = rng.normal(size=32)
    collapsed = rng.normal(size=(300, 1)) * direction + 1e-4 * rng.normal(size=(300, 32))
    assert effective_rank(feature_spectrum(healthy)) > 25
    assert effective_rank(feature_spectrum(collapsed)) < 1.1


def test_read_metrics(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "loss": 2.0}) + "\n\n" + json.dumps({"step": 2, "loss": 1.5}) + "\n")
    assert [r["loss"] for r in read_metrics(path)] == [2.0, 1.5]
    path.write_text('{"step": 1}\nnot json\n')
    with pytest.raises(DataError, match="line 2 is not JSON"):
        read_metrics(path)
    with pytest.raises(DataError, match="not found"):
        read_metrics(tmp_path / "missing.jsonl")


def test_zipf_exponent_recovers_the_power_law_of_a_usage_curve() -> None:
    ranks = np.arange(1, 257, dtype=np.float64)
    zipf = ranks**-1.3 / (ranks**-1.3).sum()
    shuffled = np.random.default_rng(0).permutation(zipf)  # the order of the prototypes does not matter
    assert zipf_exponent(shuffled) == pytest.approx(1.3, abs=1e-9)
    assert zipf_exponent(np.full(256, 1 / 256)) == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(zipf_exponent(np.eye(4)[0]))  # one used prototype: no line
    assert (usage_by_rank(shuffled) == zipf).all()
    assert total_variation(zipf, zipf) == 0.0 and total_variation(np.eye(3)[0], np.eye(3)[1]) == 1.0
