"""``pointdistill bench``: one shrunk run of every part writes bench.json with the named schema and bench.md.

The command's own settings are replaced by tiny ones (a 1-block encoder, 2 steps, N up to 1,024, a 39-shape SVM
protocol), so the test exercises the real machinery, child processes included, in seconds. No timing is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointdistill.bench import suite
from pointdistill.bench.ops import OpsSettings
from pointdistill.bench.training import TrainingSettings
from pointdistill.cli.main import main
from tiny_presets import TINY_DCGLR

TINY_MODEL = (*TINY_DCGLR, "data.synthetic_count=32", "optim.batch_size=4")
TINY_YAML = """\
encoder: {depth: 1, embed_dim: 32, num_heads: 2, group_size: 16, points_per_group: 16}
data: {num_points: 64}
"""
ROW_KEYS = {"method", "encoder", "shapes_per_s", "peak_ratio", "data_share", "peak_memory_mb"}


def rods(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian rods along x, y or z (class = axis)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), per_class)
    std = 0.1 + 0.9 * np.eye(3, dtype=np.float32)[labels][:, None, :]
    return (rng.normal(size=(len(labels), 96, 3)) * std).astype(np.float32), labels


@pytest.fixture
def tiny_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Replace the command's settings by tiny ones; record what the command asked for."""
    train, train_labels = rods(8, 0)
    test, test_labels = rods(5, 1)
    data = tmp_path / "rods.npz"
    np.savez(data, classes=np.array(["x", "y", "z"]), train_points=train, train_labels=train_labels,
             test_points=test, test_labels=test_labels)
    encoder = tmp_path / "tiny.yaml"
    encoder.write_text(TINY_YAML)
    asked: dict = {}

    def tiny_settings(out: str, **options: object) -> suite.BenchSettings:
        asked.update(out=out, **options)
        return suite.BenchSettings(
            out=Path(out), quick=True, device="cpu", configs=("dcglr-vit-tiny", "no-such-preset"),
            training=TrainingSettings(steps=1, warmup=1, device="cpu", overrides=TINY_MODEL),
            ops=OpsSettings(sizes=(256, 1024), repeats=1, device="cpu"),
            feature_configs=(str(encoder),), feature_shapes=8, data=str(data), svm_every=1,
            svm_config=str(encoder), peak_seconds=0.02,
        )

    monkeypatch.setattr(suite, "bench_settings", tiny_settings)
    return asked


def test_bench_writes_the_json_schema_and_the_markdown(tmp_path: Path, tiny_bench: dict,
                                                       capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    assert tiny_bench["out"] == str(out) and tiny_bench["quick"] is True
    assert "[bench" in capsys.readouterr().err  # progress lines while it runs

    results = json.loads((out / "bench.json").read_text())
    peaks = results["peak_gflops"]
    assert set(peaks) == {"fp32", "bf16"} and all(value > 0 for value in peaks.values())
    assert results["auto_precision"]["auto"] in peaks

    measured, failed = results["training"]
    assert ROW_KEYS <= set(measured)
    assert (measured["method"], measured["encoder"], measured["batch"]) == ("dcglr", "vit-tiny", 4)
    assert measured["shapes_per_s"] > 0 and measured["gflop_per_step"] > 0 and measured["peak_memory_mb"] > 100
    # data time is drawn apart from the steps, so on a loaded machine their ratio is not bounded: only its sign is
    assert measured["data_share"] >= 0 and 0 < measured["geometry_share"] < 1  # the ViT groups patches
    assert measured["peak_ratio"] == pytest.approx(measured["achieved_gflops"] / peaks[measured["precision"]])
    assert failed["config"] == "no-such-preset" and "no-such-preset" in failed["error"]

    ops = results["ops"]
    assert [(row["op"], row["n"], row["g"]) for row in ops["rows"]] == [
        ("fps", 256, 16), ("knn", 256, 16), ("fps", 1024, 64), ("knn", 1024, 64)]
    assert set(ops["orders"]) == {"fps", "knn"} and ops["orders"]["knn"]["time_order_ng"] is not None

    features, svm = results["evaluation"]["features"], results["evaluation"]["svm"]
    assert features[0]["shapes"] == 8 and features[0]["features_per_s"] > 0
    assert (svm["n_train"], svm["n_test"], svm["reduced"]) == (24, 15, False) and svm["seconds"] > 0

    assert {target["met"] for target in results["targets"]} <= {True, False, None}
    markdown = (out / "bench.md").read_text()
    for heading in ("## Machine", "## Matmul peak", "## Training", "## FPS and k-NN", "## Evaluation protocols",
                    "## Targets"):
        assert heading in markdown
    assert "| dcglr-vit-tiny | vit-tiny | " in markdown and "| no-such-preset | failed:" in markdown
