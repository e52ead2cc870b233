"""``pointdistill evaluate``: JSON output, random and saved encoders, pictures, and one-line errors (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pointdistill.cli.main import main
from pointdistill.config import load_config
from pointdistill.models import build_encoder

TINY_YAML = """\
encoder: {depth: 1, embed_dim: 32, num_heads: 2, group_size: 16, points_per_group: 16}
data: {num_points: 64}
"""
AXES = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)


def blobs(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian rods along x, y or z (class = axis): separable by shape."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), per_class)
    std = 0.1 + 0.9 * AXES[labels][:, None, :]
    return (rng.normal(size=(len(labels), 96, 3)) * std).astype(np.float32), labels


@pytest.fixture
def files(tmp_path):
    train, train_labels = blobs(8, 0)
    test, test_labels = blobs(5, 1)
    np.savez(tmp_path / "rods.npz", classes=np.array(["x", "y", "z"]), train_points=train,
             train_labels=train_labels, test_points=test, test_labels=test_labels)
    np.savez(tmp_path / "unlabelled.npz", train_points=train, test_points=test)
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    return tmp_path


def evaluate(files, *args: str) -> list[str]:
    return ["evaluate", *args, "--data", str(files / "rods.npz"), "--device", "cpu", "-o", "num_points=64"]


def test_svm_on_a_random_encoder_prints_one_json_object(files, capsys):
    code = main(evaluate(files, "svm", "--checkpoint", "random", "--config", str(files / "tiny.yaml"), "--json",
                         "--seed", "3", "-o", "c_grid=[0.1, 1.0]", "-o", "cv_folds=2", "-o", "n_jobs=1"))
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)  # exactly one JSON document, nothing else on stdout
    assert result["protocol"] == "svm" and result["headline"] == "test_accuracy"
    assert 0.0 <= result["test_accuracy"] <= 100.0 and result["best_C"] in (0.1, 1.0)
    assert result["checkpoint"] == "random" and result["encoder_seed"] == 3 and result["options"]["seed"] == 3
    assert result["n_train"] == 24 and result["n_test"] == 15 and result["format"] == "npz"


def test_knn_on_a_saved_checkpoint_with_pictures(files, capsys):
    config = load_config(str(files / "tiny.yaml"))
    torch.manual_seed(0)
    torch.save({"format": "pointdistill", "version": 1, "config": config.to_dict(), "step": 12, "method": {},
                "encoder": build_encoder(config.encoder).state_dict()}, files / "last.pt")
    out_dir = files / "report"
    code = main(evaluate(files, "knn", "--checkpoint", str(files / "last.pt"), "--json", "-o", "ks=[3, 5]",
                         "--out", str(out_dir), "--tsne"))
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["step"] == 12 and result["test_accuracy"] == result["test_accuracy_k5"]
    saved = json.loads((out_dir / "knn.json").read_text())
    assert saved["test_accuracy"] == result["test_accuracy"]
    for name in ("knn_confusion.png", "knn_spectrum.png", "knn_tsne.png"):
        assert (out_dir / name).stat().st_size > 5000


def test_diagnose_finds_the_run_metrics_and_draws(files, capsys):
    config = load_config(str(files / "tiny.yaml"))
    run = files / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"format": "pointdistill", "version": 1, "config": config.to_dict(), "step": 3, "method": {},
                "encoder": build_encoder(config.encoder).state_dict()}, run / "checkpoints" / "last.pt")
    (run / "metrics.jsonl").write_text("\n".join(json.dumps({"step": s, "loss": 1.0 / (s + 1)}) for s in range(5)))
    code = main(evaluate(files, "diagnose", "--checkpoint", str(run), "--json", "--out", str(files / "diag"),
                         "-o", "max_samples=12", "-o", "attention_shapes=2"))
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["options"]["metrics"] == str(run / "metrics.jsonl")
    assert sorted(p.split("/")[-1] for p in result["plots"]) == ["attention.png", "curves.png", "spectrum.png",
                                                                 "tsne.png"]
    assert result["effective_rank"] > 1.0


def test_human_readable_output(files, capsys):
    code = main(evaluate(files, "knn", "--checkpoint", "random", "--config", str(files / "tiny.yaml"),
                         "-o", "ks=[3]"))
    out = capsys.readouterr().out
    assert code == 0 and "test_accuracy:" in out and "options: num_points=64" in out


@pytest.mark.parametrize("extra, message", [
    (["-o", "neighbours=3"], "unknown config key 'neighbours'; valid keys here: num_points"),
    (["-o", "ks=[500]"], "k=500 needs at least 500"),
    (["--tsne"], "--tsne needs --out"),
])
def test_bad_options_fail_with_one_line(files, capsys, extra, message):
    code = main(evaluate(files, "knn", "--checkpoint", "random", "--json", *extra))
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("error: ") and message in captured.err


def test_unlabelled_data_and_misplaced_config_are_refused(files, capsys):
    args = ["evaluate", "svm", "--checkpoint", "random", "--data", str(files / "unlabelled.npz"), "--json",
            "--out", str(files / "nothing")]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "needs class labels" in captured.err and captured.out == ""
    assert not (files / "nothing" / "svm.json").exists()
    code = main(evaluate(files, "svm", "--checkpoint", str(files / "missing.pt"), "--config", "x"))
    assert code == 2 and "--config applies to --checkpoint random only" in capsys.readouterr().err
    assert main(evaluate(files, "svm", "--checkpoint", str(files / "missing.pt"))) == 2
    assert "no such checkpoint file" in capsys.readouterr().err
