"""Config sections ``optim`` (what is optimised, and how fast) and ``train`` (how the engine runs)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then cosine decay; every schedule counts global optimiser steps."""

    batch_size: int = 32
    epochs: int = 100
    lr: float = 5e-4
    min_lr: float = 1e-6
    warmup_epochs: float = 10.0
    weight_decay: float = 0.04
    weight_decay_end: float = 0.4
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 3.0
    accumulate: int = 1
    freeze_last_layer_epochs: float = 1.0


@dataclass
class TrainConfig:
    """Engine settings: device, precision, logging, checkpointing, stopping."""

    device: str = "auto"
    precision: str = "auto"
    max_steps: int | None = None
    max_minutes: float | None = None
    log_every: int = 10
    checkpoint_every: int = 500
    tensorboard: bool = True
    threads: int = 0
