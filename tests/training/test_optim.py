"""Optimiser options used by the AsymDSD presets: the warm-up's starting learning rate, decay of every parameter."""

from __future__ import annotations

import pytest
from torch import nn

from pointdistill.training.config import OptimConfig
from pointdistill.training.optim import build_optimizer, build_schedules


def test_warmup_starts_from_warmup_lr_and_a_constant_weight_decay_stays_constant() -> None:
    config = OptimConfig(
        lr=5e-4, min_lr=1e-6, warmup_lr=1e-7, warmup_epochs=2, weight_decay=0.05, weight_decay_end=0.05
    )
    schedules = build_schedules(config, total_steps=100, steps_per_epoch=10)
    assert schedules.lr(0) == pytest.approx(1e-7)
    assert schedules.lr(20) == pytest.approx(5e-4)
    assert schedules.lr(100) == pytest.approx(1e-6)
    assert [schedules.weight_decay(step) for step in (0, 50, 100)] == pytest.approx([0.05] * 3)


def test_decay_all_parameters_decays_norms_and_biases_too() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    assert len(build_optimizer(net, OptimConfig()).param_groups) == 2
    groups = build_optimizer(net, OptimConfig(decay_all_parameters=True)).param_groups
    assert len(groups) == 1 and len(groups[0]["params"]) == 4
