"""Every picture is written as a real, non-trivial PNG (and the spectrum returns the effective rank)."""

from __future__ import annotations

import numpy as np
import pytest

from pointdistill.evaluation import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path) -> None:
    data = open(path, "rb").read()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5000, f"{path} is not a drawn PNG"


def test_training_curves(tmp_path):
    records = [{"step": s, "loss": 5.0 / (1 + s), "teacher_entropy": 4.0 - s / 50, "batch_marginal_entropy": 6.0,
                "lr": 1e-3} for s in range(0, 100, 5)]
    records.append({"step": 100, "loss": None})  # non-finite values are logged as null
    assert_png(plots.plot_training_curves(records, tmp_path / "curves.png"))
    with pytest.raises(ValueError, match="no loss or entropy"):
        plots.plot_training_curves([{"step": 1, "lr": 0.1}], tmp_path / "none.png")


def test_tsne_with_and_without_labels(tmp_path):
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(loc=5 * c, size=(20, 8)) for c in range(3)])
    labels = np.repeat(np.arange(3), 20)
    assert_png(plots.plot_tsne(features, labels, ["a", "b", "c"], tmp_path / "tsne.png", max_samples=50))
    assert_png(plots.plot_tsne(features, None, [], tmp_path / "tsne_unlabelled.png"))


def test_spectrum_returns_effective_rank(tmp_path):
    rng = np.random.default_rng(0)
    rank = plots.plot_spectrum(rng.normal(size=(100, 10)), tmp_path / "sub" / "spectrum.png")
    assert 8.0 < rank <= 10.0
    assert_png(tmp_path / "sub" / "spectrum.png")
    assert plots.plot_spectrum(np.ones((10, 4)), tmp_path / "constant.png") == 0.0
    assert_png(tmp_path / "constant.png")


def test_confusion_and_attention(tmp_path):
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert_png(plots.plot_confusion(labels, np.array([0, 1, 1, 1, 2, 0]), ["x", "y", "z"], tmp_path / "c.png"))
    rng = np.random.default_rng(0)
    points = rng.normal(size=(2, 200, 3))
    centers = points[:, :8]
    weights = rng.random((2, 8))
    assert_png(plots.plot_attention(points, centers, weights, tmp_path / "a.png", titles=["one", "two"]))


def test_classification_plots_writes_the_set(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    x = rng.normal(size=(30, 6)) + labels[:, None]
    written = plots.classification_plots(tmp_path, "svm", labels, labels, ["a", "b", "c"], x, x, True, 0)
    assert [p.split("/")[-1] for p in written] == ["svm_confusion.png", "svm_spectrum.png", "svm_tsne.png"]
    for path in written:
        assert_png(path)


def test_time_to_accuracy(tmp_path):
    runs = [{"label": name, "curve": [{"step": s, "train_cpu_min": 0.1 + s, "accuracy": base + s}
                                      for s in range(4)]} for name, base in (("a", 70.0), ("b", 80.0))]
    assert_png(plots.plot_time_to_accuracy(runs, tmp_path / "tta.png"))
    with pytest.raises(ValueError, match="no runs"):
        plots.plot_time_to_accuracy([], tmp_path / "none.png")
