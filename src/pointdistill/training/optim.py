"""AdamW over the student, with per-step learning rate and weight decay set from the global-step schedules.

Which parameters decay is :func:`pointdistill.models.weight_decay.is_decayed` (no decay on biases, norms and
learned tokens), the same rule the supervised protocols use. Each parameter group records whether it decays, so the
weight decay schedule can be applied to the right groups on every optimiser step without rebuilding the optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pointdistill.models.weight_decay import DECAY_KEY, weight_decay_groups
from pointdistill.training.config import OptimConfig
from pointdistill.utils.schedules import CosineSchedule, cosine_schedule, epochs_to_steps


def trainable_parameters(method: nn.Module, frozen: nn.Module | None = None) -> list[tuple[str, nn.Parameter]]:
    """Named parameters that require grad, excluding those of ``frozen`` (the EMA teacher)."""
    excluded = {id(p) for p in frozen.parameters()} if frozen is not None else set()
    return [(n, p) for n, p in method.named_parameters() if p.requires_grad and id(p) not in excluded]


def build_optimizer(method: nn.Module, config: OptimConfig, frozen: nn.Module | None = None) -> torch.optim.AdamW:
    """AdamW over ``method``'s trainable parameters; lr and weight decay are overwritten every step."""
    groups = weight_decay_groups(
        trainable_parameters(method, frozen), config.weight_decay, decay_all=config.decay_all_parameters
    )
    if not groups:
        raise ValueError("the method has no trainable parameters")
    return torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas))


@dataclass(frozen=True)
class OptimSchedules:
    """Learning rate (warm-up + cosine to ``min_lr``) and weight decay (cosine to ``weight_decay_end``)."""

    lr: CosineSchedule
    weight_decay: CosineSchedule

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> tuple[float, float]:
        """Set every group's lr and weight decay for global optimiser step ``step``; return (lr, wd)."""
        lr, wd = self.lr(step), self.weight_decay(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
            group["weight_decay"] = wd if group.get(DECAY_KEY, True) else 0.0
        return lr, wd


def build_schedules(config: OptimConfig, total_steps: int, steps_per_epoch: int) -> OptimSchedules:
    """Schedules over ``total_steps`` optimiser steps; the warm-up is ``warmup_epochs`` of ``steps_per_epoch``."""
    warmup = min(epochs_to_steps(config.warmup_epochs, steps_per_epoch), total_steps)
    return OptimSchedules(
        lr=cosine_schedule(config.lr, config.min_lr, total_steps, warmup_steps=warmup, warmup_start=config.warmup_lr),
        weight_decay=cosine_schedule(config.weight_decay, config.weight_decay_end, total_steps),
    )
