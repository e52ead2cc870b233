"""Precision choice per device, the autocast context, and a short bf16 training run on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pointdistill.config import load_config
from pointdistill.data.base import ArraySplit
from pointdistill.errors import ConfigError
from pointdistill.utils import precision
from pointdistill.training.engine import Trainer

CPU = torch.device("cpu")


@pytest.mark.parametrize(("requested", "expected"), [("fp32", "fp32"), ("bf16", "bf16")])
def test_explicit_precisions_are_kept_on_cpu(requested: str, expected: str) -> None:
    assert precision.resolve_precision(requested, CPU) == expected


@pytest.mark.parametrize(("requested", "message"), [("fp16", "fp16 needs a CUDA device"), ("fp8", "not one of")])
def test_unusable_precisions_name_the_key(requested: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"train.precision: .*{message}|{message}"):
        precision.resolve_precision(requested, CPU)


@pytest.mark.parametrize(("speedup", "expected"), [(2.5, "bf16"), (1.1, "fp32"), (0.2, "fp32")])
def test_auto_on_cpu_takes_bf16_only_when_measurably_faster(
    monkeypatch: pytest.MonkeyPatch, speedup: float, expected: str
) -> None:
    monkeypatch.setattr(precision, "_cpu_bf16_speedup", speedup)
    assert precision.resolve_precision("auto", CPU) == expected


def test_cpu_speedup_is_measured_once_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "_cpu_bf16_speedup", None)
    first = precision.cpu_bf16_speedup()
    assert first > 0
    monkeypatch.setattr(precision, "_measure_cpu_bf16_speedup", lambda: pytest.fail("measured twice"))
    assert precision.cpu_bf16_speedup() == first


def test_autocast_context_sets_the_compute_dtype() -> None:
    layer = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    bf16 = precision.Precision("bf16", CPU)
    with bf16.autocast():
        assert layer(x).dtype == torch.bfloat16
    with precision.Precision("fp32", CPU).autocast():
        assert layer(x).dtype == torch.float32
    assert bf16.scaler is None


def test_bf16_training_on_cpu_keeps_fp32_weights_and_finite_loss(tmp_path: Path) -> None:
    config = load_config(
        None,
        [
            "data.num_points=128", "dcglr.global_points=128", "dcglr.local_points=64", "dcglr.num_local=1",
            "dcglr.num_half_res=0", "dcglr.out_dim=32", "dcglr.head_hidden_dim=32", "dcglr.head_bottleneck_dim=16",
            "encoder.group_size=16", "encoder.points_per_group=16", "encoder.embed_dim=32", "encoder.depth=1",
            "encoder.num_heads=2", "optim.batch_size=2", "train.max_steps=2", "train.precision=bf16",
            "train.progress=false", "train.tensorboard=false", "train.log_every=1", "data.num_workers=0",
        ],
    )
    split = ArraySplit({"points": np.random.default_rng(0).normal(size=(4, 200, 3)).astype(np.float32)})
    trainer = Trainer(config, tmp_path, split=split)
    summary = trainer.fit()
    assert summary.precision == "bf16" and summary.final_loss is not None and np.isfinite(summary.final_loss)
    assert all(p.dtype == torch.float32 for p in trainer.method.parameters())
