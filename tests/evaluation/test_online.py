"""Online probe: scores a labelled subset, loads it once, leaves the encoder's mode alone, refuses bad settings;
its default validation side is carved from train (seeded) and never touches the test split; it probes step 0,
every few steps or training minutes, and the last step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointdistill.config import load_config
from pointdistill.errors import ConfigError, DataError, TrainingError
from pointdistill.evaluation.config import OnlineEvalConfig
from pointdistill.evaluation import online
from pointdistill.evaluation.online import OnlineProbe, online_callbacks, probe_indices
from pointdistill.training.callbacks import TrainingTime


def write_dataset(path, helpers, labelled: bool = True):
    arrays = {}
    for split, per_class, seed in (("train", 10, 0), ("test", 6, 1)):
        data = helpers.make_split(per_class, seed, sizes=(64,))
        arrays[f"{split}_points"] = np.stack([data[i]["points"] for i in range(len(data))])
        if labelled:
            arrays[f"{split}_labels"] = np.array([data[i]["label"] for i in range(len(data))])
    if labelled:
        arrays["classes"] = np.array(helpers.CLASSES)
    np.savez(path, **arrays)
    return str(path)


def config(source: str, **changes) -> OnlineEvalConfig:
    return OnlineEvalConfig(**{"enabled": True, "source": source, "max_train": 30, "max_test": 20,
                               "num_points": 32, "k": 5, **changes})


def test_knn_probe_scores_caches_and_restores_mode(tmp_path, helpers, monkeypatch):
    path = write_dataset(tmp_path / "shapes.npz", helpers)
    opened = []
    original = online.open_dataset
    monkeypatch.setattr(online, "open_dataset", lambda *a, **k: opened.append(a) or original(*a, **k))
    probe = OnlineProbe(config(path, split="test"), "cpu")
    encoder = helpers.StandInEncoder().train()
    first = probe(encoder, step=10)
    second = probe(encoder, step=20)
    assert len(opened) == 1, "the labelled subset must be read once"
    assert encoder.training
    assert set(first) == {"online/knn_accuracy", "online/seconds", "online/cpu_seconds"}
    assert first["online/knn_accuracy"] >= 80.0 and first["online/knn_accuracy"] == second["online/knn_accuracy"]
    assert len(probe.data.train_labels) == 30 and len(probe.data.test_labels) == 20
    assert probe.data.train_points.shape == (30, 32, 3) and probe.data.test_split == "test"


class NoTestSplit(dict):
    """The splits of a source whose test split must not be opened."""

    def __getitem__(self, name):
        assert name != "test", "the validation probe opened the test split"
        return super().__getitem__(name)


def test_validation_side_is_carved_from_train_with_a_fixed_seed(tmp_path, helpers, monkeypatch):
    source = helpers.make_source(per_class_train=20, per_class_test=8)
    source.splits = NoTestSplit(source.splits)
    cfg = config("memory", max_train=1000, max_test=1000, val_fraction=0.25)
    train, test_split, val = probe_indices(cfg, source)
    assert test_split == "train" and not set(train) & set(val) and sorted(train + val) == list(range(80))
    labels = helpers.split_labels(source.splits["train"])
    assert np.bincount(labels[val]).tolist() == [5, 5, 5, 5]  # stratified: a quarter of each class
    assert probe_indices(cfg, source) == (train, "train", val)  # same seed, same split
    assert probe_indices(config("memory", max_train=1000, max_test=1000, val_fraction=0.25, seed=1), source)[2] != val
    small = probe_indices(config("memory", max_train=12, max_test=6, val_fraction=0.25), source)
    assert len(small[0]) == 12 and set(small[0]) <= set(train) and len(small[2]) == 6 and set(small[2]) <= set(val)

    monkeypatch.setattr(online, "open_dataset", lambda *a, **k: source)
    probe = OnlineProbe(cfg, "cpu")
    assert probe(helpers.StandInEncoder(), step=0)["online/knn_accuracy"] >= 80.0
    assert probe.data.test_split == "train" and probe.data.test_index == val


def test_svm_probe(tmp_path, helpers):
    probe = OnlineProbe(config(write_dataset(tmp_path / "s.npz", helpers), protocol="svm", svm_c=1.0), "cpu")
    record = probe(helpers.StandInEncoder(), step=1)
    assert record["online/svm_accuracy"] >= 80.0 and record["online/svm_c"] == 1.0


def test_svm_probe_chooses_c_by_cross_validation_on_its_train_side_only(tmp_path, helpers, monkeypatch):
    path = write_dataset(tmp_path / "s.npz", helpers)
    seen = []
    original = online.select_c
    monkeypatch.setattr(online, "select_c", lambda x, y, *a, **k: seen.append(len(y)) or original(x, y, *a, **k))
    grid = (0.0001, 0.1, 10.0)
    probe = OnlineProbe(config(path, protocol="svm", svm_c_grid=grid, split="test"), "cpu")
    record = probe(helpers.StandInEncoder(), step=1)
    assert seen == [30], "C must be chosen on the probe's train side alone"
    features = probe._features(helpers.StandInEncoder(), probe.data.train_points).numpy()
    expected = original(features, probe.data.train_labels.numpy(), grid, 5, 1000, 0, solver="newton").best_c
    assert record["online/svm_c"] == expected
    assert record["online/svm_accuracy"] >= 80.0


def test_svm_probe_refuses_a_grid_it_cannot_cross_validate(tmp_path, helpers):
    path = write_dataset(tmp_path / "s.npz", helpers)
    with pytest.raises(ConfigError, match="online_eval.svm_c_grid"):
        OnlineProbe(config(path, protocol="svm", svm_c_grid=(0.1, -1.0)), "cpu")
    with pytest.raises(ConfigError, match="online_eval.svm_cv_folds"):
        OnlineProbe(config(path, protocol="svm", svm_c_grid=(0.1,), svm_cv_folds=1), "cpu")
    probe = OnlineProbe(config(path, protocol="svm", svm_c_grid=(0.1, 1.0), max_train=4, split="test"), "cpu")
    with pytest.raises(DataError, match="too few to cross-validate"):
        probe(helpers.StandInEncoder(), step=1)


def test_bad_settings_and_data(tmp_path, helpers):
    with pytest.raises(ConfigError, match="online_eval.protocol"):
        OnlineProbe(config("x", protocol="linear"), "cpu")
    with pytest.raises(ConfigError, match="online_eval.max_test"):
        OnlineProbe(config("x", max_test=0), "cpu")
    with pytest.raises(ConfigError, match="online_eval.split"):
        OnlineProbe(config("x", split="validation"), "cpu")
    with pytest.raises(ConfigError, match="online_eval.val_fraction"):
        OnlineProbe(config("x", val_fraction=1.0), "cpu")
    with pytest.raises(ConfigError, match="online_eval.every_minutes"):
        OnlineProbe(config("x", every_minutes=0.0), "cpu")
    unlabelled = OnlineProbe(config(write_dataset(tmp_path / "u.npz", helpers, labelled=False)), "cpu")
    with pytest.raises(DataError, match="labelled"):
        unlabelled(helpers.StandInEncoder(), step=1)


def test_non_finite_features_stop_training(tmp_path, helpers):
    encoder = helpers.StandInEncoder()
    with torch.no_grad():
        encoder.project.bias.fill_(float("nan"))
    probe = OnlineProbe(config(write_dataset(tmp_path / "s.npz", helpers)), "cpu")
    with pytest.raises(TrainingError, match="step 7"):
        probe(encoder, step=7)


class _Method:
    def __init__(self, encoder: torch.nn.Module) -> None:
        self.encoder = encoder

    def teacher_encoder(self) -> torch.nn.Module:
        return self.encoder


def test_probe_is_a_training_callback_every_few_steps(tmp_path, helpers):
    path = write_dataset(tmp_path / "shapes.npz", helpers)
    assert online_callbacks(load_config(None)) == []  # disabled by default
    (probe,) = online_callbacks(load_config(None, [f"online_eval.source={path}", "online_eval.enabled=true",
                                                   "online_eval.every_steps=5", "online_eval.num_points=32"]))
    method = _Method(helpers.StandInEncoder())
    assert probe.on_step_end(0, method) is not None  # the random initialisation
    assert probe.on_step_end(4, method) is None
    assert probe.on_step_end(5, method)["online/knn_accuracy"] >= 80.0
    assert probe.on_step_end(7, method, TrainingTime(1.0, 1.0, 1.0, last=False)) is None
    assert probe.on_step_end(7, method, TrainingTime(1.0, 1.0, 1.0, last=True)) is not None  # at_end


def test_probe_every_few_training_minutes(tmp_path, helpers):
    path = write_dataset(tmp_path / "shapes.npz", helpers)
    probe = OnlineProbe(config(path, every_steps=1000, every_minutes=0.5, at_end=False), "cpu")
    method = _Method(helpers.StandInEncoder())
    probed = [step for step, seconds in [(0, 2.0), (1, 20.0), (2, 31.0), (3, 50.0), (4, 59.0), (5, 95.0)]
              if probe.on_step_end(step, method, TrainingTime(0.0, 0.0, seconds, last=False)) is not None]
    assert probed == [0, 2, 5]  # step 0, then the first step past a multiple of 30 s (one probe for two)
    with pytest.raises(ConfigError, match="training time"):
        probe.on_step_end(6, method)
