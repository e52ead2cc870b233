"""The dos protocol on tiny synthetic rooms: its numbers against their definitions, collapse told apart, the
pictures, and the CLI on a DOS checkpoint (found beside its metrics)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from pointdistill.api import load_method
from pointdistill.cli.main import main
from pointdistill.config import load_config
from pointdistill.data import open_dataset
from pointdistill.errors import ConfigError
from pointdistill.evaluation import dos_diagnose
from pointdistill.methods import build_method
from pointdistill.methods.dos import DOS

SMALL = ["dos.max_points=1200", "dos.num_prototypes=32", "dos.head_hidden_dim=48", "dos.head_bottleneck_dim=16"]
CPU = torch.device("cpu")
OPTIONS = dict(split="train", max_scenes=2, batch_size=2, num_workers=0, progress=False)


@pytest.fixture(scope="module")
def rooms():
    return open_dataset("synthetic:scenes", count=4, seed=0)


def small_dos(*overrides: str) -> DOS:
    torch.manual_seed(0)
    method = build_method(load_config("dos-tiny", SMALL + list(overrides)))
    assert isinstance(method, DOS)
    return method


class FixedLogits(nn.Module):
    """A head whose logits are the same row for every point."""

    def __init__(self, row: torch.Tensor) -> None:
        super().__init__()
        self.row = row

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.row.expand(len(features), -1)


def collapsed(row: torch.Tensor) -> DOS:
    method = small_dos()
    method.teacher.head = FixedLogits(row)
    return method


def test_numbers_follow_their_definitions_and_pictures_are_drawn(rooms, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps({"step": s, "loss": 9.0 - s, "teacher_usage_entropy": 3.0})
                                 for s in range(4)))
    options = dos_diagnose.Options(**OPTIONS, plots_dir=str(tmp_path / "plots"), metrics=str(metrics))
    result = dos_diagnose.run(lambda: small_dos("dos.prototype_rank=usage"), rooms, options, CPU)
    log_k = math.log(32)
    for role in ("teacher", "student"):
        assert 0 < result[f"{role}_point_entropy"] < result[f"{role}_usage_entropy"] <= log_k + 1e-4
    assert result["effective_prototypes"] == pytest.approx(math.exp(result["teacher_usage_entropy"]), rel=1e-3)
    usage = np.array(result["teacher_usage_by_rank"])
    assert usage.sum() == pytest.approx(1.0, abs=1e-4) and (np.diff(usage) <= 0).all()
    assert len(result["teacher_softmap_entropy_by_rank"]) == 32
    assert 0 < result["teacher_softmap_entropy"] < 1 and 0 < result["student_softmap_entropy"] < 1
    assert result["n_scenes"] == 2 and result["teacher_points"] > result["student_points"] > 0
    assert sorted(Path(p).name for p in result["plots"]) == ["curves.png", "sharpness.png", "usage.png"]
    for path in result["plots"]:
        assert Path(path).stat().st_size > 5000


def test_one_prototype_and_uniform_collapse_are_told_apart(rooms) -> None:
    options = dos_diagnose.Options(**OPTIONS)
    one_hot = torch.full((32,), -1.0)
    one_hot[3] = 1.0
    single = dos_diagnose.run(lambda: collapsed(one_hot), rooms, options, CPU)
    uniform = dos_diagnose.run(lambda: collapsed(torch.zeros(32)), rooms, options, CPU)
    assert single["effective_prototypes"] < 1.01 and single["teacher_point_entropy"] < 1e-3
    assert uniform["effective_prototypes"] == pytest.approx(32, rel=1e-4)
    assert uniform["teacher_point_entropy"] == pytest.approx(math.log(32), rel=1e-4)
    assert single["usage_prior_distance"] > 0.5  # one prototype holds all the mass; the prior gives it 0.35


def test_other_methods_and_bad_options_are_refused(rooms) -> None:
    with pytest.raises(ConfigError, match="needs a checkpoint of a DOS run"):
        dos_diagnose.run(lambda: nn.Linear(2, 2), rooms, dos_diagnose.Options(**OPTIONS), CPU)
    with pytest.raises(ConfigError, match="max_scenes"):
        dos_diagnose.run(small_dos, rooms, dos_diagnose.Options(**{**OPTIONS, "max_scenes": 0}), CPU)


def test_cli_on_a_dos_checkpoint_finds_its_metrics(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    method = small_dos()
    config = load_config("dos-tiny", SMALL)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"format": "pointdistill", "version": 1, "config": config.to_dict(), "step": 5,
                "method": method.state_dict(), "encoder": method.teacher_encoder().state_dict()},
               run / "checkpoints" / "last.pt")
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 3.0, "teacher_point_entropy": 2.0}) + "\n")
    loaded = load_method(run, device="cpu")
    assert isinstance(loaded.module, DOS) and loaded.step == 5
    for key, value in method.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[key], value), key
    code = main(["evaluate", "dos", "--checkpoint", str(run), "--data", "synthetic:scenes", "--data-option",
                 "count=4", "--json", "--out", str(tmp_path / "report"), "-o", "split=train", "-o", "max_scenes=2",
                 "-o", "progress=false", "-o", "num_workers=0"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["step"] == 5 and result["encoder"] == "dos on scene/tiny"
    assert result["options"]["metrics"] == str(run / "metrics.jsonl")
    assert sorted(Path(p).name for p in result["plots"]) == ["curves.png", "sharpness.png", "usage.png"]
    assert json.loads((tmp_path / "report" / "dos.json").read_text())["effective_prototypes"] == (
        result["effective_prototypes"])
