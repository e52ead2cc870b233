"""Time to accuracy: probe curves read from metrics, the random-init floor shared by configs of one encoder and seed
(and equal to a fresh run's step-0 weights), the table, and the benchmark runner end to end on a tiny dataset."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pointdistill.api import load_encoder
from pointdistill.config import load_config
from pointdistill.errors import DataError
from pointdistill.evaluation.time_to_accuracy import markdown_table, probe_curve, random_floor_key, run_result
from pointdistill.methods import build_method
from tiny_presets import TINY_DCGLR

REPO = Path(__file__).resolve().parents[2]
TINY = [*TINY_DCGLR, "optim.batch_size=4", "train.log_every=1", "train.precision=fp32",
        "online_eval.num_points=256"]


def write_metrics(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_probe_curve_keeps_the_probe_records_in_step_order(tmp_path):
    probe = {"train_wall_min": 0.5, "online/seconds": 3.0, "online/cpu_seconds": 2.5}
    path = write_metrics(tmp_path / "metrics.jsonl", [
        {"step": 1, "loss": 3.0, "train_cpu_min": 0.2},
        {"step": 2, "train_cpu_min": 0.4, "online/knn_accuracy": 61.5, **probe},
        {"step": 0, "train_cpu_min": 0.1, "online/knn_accuracy": 60.0, **probe},
    ])
    key, curve = probe_curve(path)
    assert key == "online/knn_accuracy"
    assert [(p["step"], p["train_cpu_min"], p["accuracy"]) for p in curve] == [(0, 0.1, 60.0), (2, 0.4, 61.5)]
    assert curve[0]["probe_cpu_s"] == 2.5
    with pytest.raises(DataError, match="no online probe records"):
        probe_curve(write_metrics(tmp_path / "none.jsonl", [{"step": 1, "loss": 3.0}]))


def test_random_floor_is_shared_by_one_encoder_and_seed():
    key = random_floor_key
    assert key(load_config("asymdsd-vit-tiny")) == key(load_config("asymdsd-cls-vit-tiny"))
    assert key(load_config("dcglr-vit-tiny")) == key(load_config("dcglr-vit-tiny", ["optim.lr=0.1"]))
    assert key(load_config("dcglr-vit-tiny")) != key(load_config("dcglr-vit-tiny", seed=1))
    assert key(load_config("dcglr-vit-tiny")) != key(load_config("asymdsd-vit-tiny"))


@pytest.mark.parametrize("preset", ["dcglr-vit-tiny", "asymdsd-vit-tiny"])
def test_a_fresh_runs_step_zero_teacher_is_the_random_encoder_of_its_seed(preset):
    config = load_config(preset, ["encoder.depth=1"], seed=3)
    torch.manual_seed(config.seed)  # as the engine does before building the method
    teacher = build_method(config).teacher_encoder().state_dict()
    random = load_encoder("random", config=config, device="cpu", seed=3).module.state_dict()
    assert teacher.keys() == random.keys() and all(torch.equal(teacher[k], random[k]) for k in teacher)


def test_result_row_and_table(tmp_path):
    config = load_config("dcglr-vit-tiny", ["train.max_minutes=20", "train.budget_clock=cpu"])
    metrics = write_metrics(tmp_path / "metrics.jsonl", [
        {"step": 0, "train_cpu_min": 0.1, "train_wall_min": 0.2, "online/knn_accuracy": 60.0},
        {"step": 90, "train_cpu_min": 19.8, "train_wall_min": 25.0, "online/knn_accuracy": 64.25},
    ])
    result = run_result("dcglr-vit-tiny", config, metrics, {"steps": 90}, {"test_accuracy": 82.5},
                        {"test_accuracy": 81.44})
    assert (result["val_probe_start"], result["val_probe_end"], result["test_svm_gain"]) == (60.0, 64.25, 1.06)
    table = markdown_table([result, run_result("b", config, metrics, {"steps": 90}, None, None)])
    assert "| dcglr-vit-tiny | dcglr | 20 CPU-min | 90 | 60.00 | 64.25 | 81.44 | 82.50 | +1.06 |" in table
    assert "| b | dcglr | 20 CPU-min | 90 | 60.00 | 64.25 | - | - | - |" in table


def tiny_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"classes": np.array(["ball", "rod"])}
    for split, count in (("train", 40), ("test", 12)):
        labels = np.arange(count) % 2
        clouds = rng.normal(size=(count, 256, 3)) * np.where(labels[:, None, None] == 1, [0.1, 1.0, 0.1], 1.0)
        arrays[f"{split}_points"], arrays[f"{split}_labels"] = clouds.astype(np.float32), labels
    np.savez(path, **arrays)
    return path


def load_runner():
    spec = importlib.util.spec_from_file_location("time_to_accuracy", REPO / "benchmarks" / "time_to_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_runner_end_to_end_on_a_tiny_dataset(tmp_path, capsys):
    data = tiny_npz(tmp_path / "tiny.npz")
    other = tmp_path / "dcglr-lr.yaml"
    other.write_text("inherit: dcglr-vit-tiny\noptim:\n  lr: 0.001\n")
    out = tmp_path / "out"
    args = ["--configs", "dcglr-vit-tiny", str(other), "--data", str(data), "--minutes", "1", "--max-steps", "2",
            "--probe-every-steps", "1", "--parallel", "2", "--up-axis", "z", "--out", str(out),
            "--svm-option", "num_points=256", "--svm-option", "cv_folds=2", "--svm-option", "c_grid=[0.1]",
            *[item for override in TINY for item in ("--set", override)]]
    runner = load_runner()
    assert runner.main(args) == 0
    summary = json.loads((out / "time_to_accuracy.json").read_text())
    results = {r["label"]: r for r in summary["results"]}
    assert set(results) == {"dcglr-vit-tiny", "dcglr-lr"}
    for result in results.values():
        curve = result["curve"]
        assert [p["step"] for p in curve] == [0, 1, 2] and result["steps"] == 2
        assert [p["train_cpu_min"] for p in curve] == sorted(p["train_cpu_min"] for p in curve)
        assert result["val_probe_start"] == curve[0]["accuracy"] and result["budget_clock"] == "cpu"
        assert result["test_svm_random"] is not None and result["test_svm_pretrained"] is not None
    assert len(list((out / "random").iterdir())) == 1  # both configs share one encoder and seed
    assert summary["probe"]["split"] == "val"
    assert (out / "time_to_accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert "| dcglr-lr | dcglr | 1 CPU-min | 2 |" in (out / "time_to_accuracy.md").read_text()

    capsys.readouterr()
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("**/svm.json")}
    assert runner.main(args) == 0  # finished stages are kept, not redone
    assert "pretraining" not in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.glob("**/svm.json")} == stamps
    assert runner.main([*args, "--set", "optim.lr=0.5"]) == 2  # another config in the same folder is refused
    assert "holds another config" in capsys.readouterr().err
