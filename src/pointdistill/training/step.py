"""One optimiser step: ``accumulate`` micro-batches forward and backward, then one update of everything.

Order within a step (every process): seed the step's torch generator from ``(seed, rank, step)``; set the LR and
weight decay of the step; for each micro-batch, the method's loss divided by ``accumulate`` is back-propagated;
gradients are averaged over processes, unscaled (fp16), clipped; the method's pre-step hook; the optimiser step;
the teacher's EMA update; the commit of the step's teacher statistics (all-reduced); rank 0's buffers broadcast.
So the step's update is the same for one micro-batch of ``B * accumulate * world`` samples and for any split of it
(up to float rounding), with one exception documented in the README: BatchNorm normalises each micro-batch by
its own statistics, which accumulation cannot reproduce (processes can, with synchronised BatchNorm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from pointdistill.methods.base import Method, StepInfo
from pointdistill.training import distributed as dist_utils
from pointdistill.training.optim import OptimSchedules
from pointdistill.utils.precision import Precision


def step_seed(seed: int, rank: int, step: int) -> int:
    """A 63-bit torch seed that depends on (seed, rank, step) only."""
    low, high = (int(v) for v in np.random.SeedSequence([seed, rank, step]).generate_state(2))
    return ((high << 32) | low) & (2**63 - 1)


@dataclass
class StepResult:
    """The step's mean loss and gradient norm (device tensors: reading them waits for the device), the method's
    logs averaged over micro-batches, and how many bad samples the loader skipped to fill them."""

    loss: torch.Tensor
    grad_norm: torch.Tensor | None
    logs: dict[str, Any]
    skipped: int


class OptimizerStep:
    """``step(micro_batches, info, seed, rank) -> StepResult`` for one method, optimiser and precision."""

    def __init__(
        self,
        method: Method,
        optimizer: torch.optim.Optimizer,
        params: list[nn.Parameter],
        precision: Precision,
        schedules: OptimSchedules,
        device: torch.device,
        accumulate: int = 1,
        grad_clip: float = 0.0,
    ) -> None:
        self.method = method
        self.optimizer = optimizer
        self.params = params
        self.precision = precision
        self.schedules = schedules
        self.device = device
        self.accumulate = accumulate
        self.grad_clip = grad_clip

    def __call__(self, micro_batches: Iterator[dict[str, Any]], info: StepInfo, seed: int, rank: int) -> StepResult:
        method, optimizer, scaler = self.method, self.optimizer, self.precision.scaler
        torch.manual_seed(step_seed(seed, rank, info.step))
        self.schedules.apply(optimizer, info.step)
        total_loss = torch.zeros((), device=self.device)
        logs: dict[str, Any] = {}
        skipped = 0
        for _ in range(self.accumulate):
            batch = next(micro_batches)
            if "skipped" in batch:
                skipped += int(batch["skipped"].sum())
            batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
            with self.precision.autocast():
                loss, step_logs = method.training_step(batch, info)
            loss = loss.float()
            scaled = loss / self.accumulate
            (scaler.scale(scaled) if scaler is not None else scaled).backward()
            total_loss += loss.detach()
            for name, value in step_logs.items():
                logs[name] = logs.get(name, 0.0) + value / self.accumulate
        dist_utils.all_reduce_gradients(self.params)
        if scaler is not None:
            scaler.unscale_(optimizer)
        max_norm = self.grad_clip if self.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm) if self.params else None
        method.before_optimizer_step(info)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        method.update_teacher(info)
        method.commit_statistics()
        dist_utils.broadcast_module(method, buffers_only=True)
        return StepResult(total_loss / self.accumulate, grad_norm, logs, skipped)
