"""The demo pipeline end to end on a miniature budget: pretrain, evaluate both encoders, write the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointdistill.cli.main import main
from pointdistill.config import load_config
from pointdistill.data.posed import PosedSplit
from pointdistill.demo import DemoSettings, probe_source, run_demo

TINY = [
    "train.schedule_steps=2",
    "optim.batch_size=4",
    "data.synthetic_count=160",
    "encoder.depth=1",
    "dcglr.head_hidden_dim=32",
    "dcglr.out_dim=16",
    "train.progress=false",
]


def test_probe_is_few_label_posed_and_held_out() -> None:
    config = load_config("dcglr-demo", ["data.synthetic_count=160"])
    source = probe_source(config, DemoSettings(labels_per_class=2, test_shapes=20))
    train, test = source.split("train"), source.split("test")
    labels = np.array([train[i]["label"] for i in range(len(train))])
    assert np.bincount(labels).max() <= 2 and len(test) == 20
    assert isinstance(train, PosedSplit) and isinstance(test, PosedSplit)
    first = train[0]["points"]
    assert np.array_equal(first, train[0]["points"])
    assert not np.allclose(first, train.split[0]["points"])
    assert np.allclose(np.linalg.norm(first, axis=1), np.linalg.norm(train.split[0]["points"], axis=1), atol=1e-5)


def test_demo_writes_a_report_with_this_runs_numbers(tmp_path: Path) -> None:
    settings = DemoSettings(minutes=2.0, labels_per_class=3, test_shapes=36, overrides=TINY)
    outcome = run_demo(tmp_path, settings, progress=False)
    report = (tmp_path / "report.md").read_text()
    stored = json.loads((tmp_path / "demo.json").read_text())
    for name in ("random_init", "pretrained"):
        accuracy = stored["results"][name]["svm"]["test_accuracy"]
        assert 0 <= accuracy <= 100
        assert f"{accuracy:.2f}" in report
    assert outcome["pretraining"]["steps"] == 2
    pictures = [line.split("(")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")]
    assert "training_curves.png" in pictures
    assert all((tmp_path / p).is_file() and (tmp_path / p).stat().st_size > 5_000 for p in pictures)


def test_demo_help_states_the_settings_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {DemoSettings.minutes:g})" in help_text and f"(default: {DemoSettings.seed})" in help_text
