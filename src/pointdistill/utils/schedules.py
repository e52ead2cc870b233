"""Hyperparameter schedules as functions of the *global optimiser step*.

Every schedule of a run (learning rate, weight decay, EMA momentum, teacher temperature) is evaluated at the same
integer: the index of the optimiser step, counted after dividing the data by world size and gradient accumulation
(:func:`steps_per_epoch`). Counting anything else (micro-batches, per-process samples) silently stretches or
shrinks warm-ups when the number of GPUs or the accumulation changes, which is the fault of the reference
implementations this module exists to avoid.

Schedules are small frozen dataclasses with ``__call__(step) -> float`` so they pickle, print readably, and need no
precomputed array of ``total_steps`` values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pointdistill.errors import TrainingError


@dataclass(frozen=True)
class CosineSchedule:
    """Linear warm-up from ``warmup_start`` to ``base`` over ``warmup_steps``, then a half cosine to ``final``.

    ``step < warmup_steps``: ``warmup_start + (base - warmup_start) * step / warmup_steps``.
    Afterwards the cosine runs from ``base`` at ``warmup_steps`` to ``final`` at ``total_steps`` and stays at
    ``final`` beyond, so a run extended past its planned length never extrapolates.
    """

    base: float
    final: float
    total_steps: int
    warmup_steps: int = 0
    warmup_start: float = 0.0

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {self.total_steps}")
        if not 0 <= self.warmup_steps <= self.total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={self.total_steps}], got {self.warmup_steps}")

    def __call__(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        if step < self.warmup_steps:
            return self.warmup_start + (self.base - self.warmup_start) * step / self.warmup_steps
        span = self.total_steps - self.warmup_steps
        progress = 1.0 if span == 0 else min(1.0, (step - self.warmup_steps) / span)
        return self.final + 0.5 * (self.base - self.final) * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class LinearWarmup:
    """Linear ramp from ``start`` to ``end`` over ``warmup_steps``, then constant ``end`` (teacher temperature)."""

    start: float
    end: float
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")

    def __call__(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        if step >= self.warmup_steps:
            return self.end
        return self.start + (self.end - self.start) * step / self.warmup_steps


def cosine_schedule(
    base: float, final: float, total_steps: int, warmup_steps: int = 0, warmup_start: float = 0.0
) -> CosineSchedule:
    """Learning rate / weight decay schedule: linear warm-up then cosine from ``base`` to ``final``."""
    return CosineSchedule(base, final, total_steps, warmup_steps, warmup_start)


def linear_warmup(start: float, end: float, warmup_steps: int) -> LinearWarmup:
    """Teacher temperature schedule: ``start`` -> ``end`` linearly over ``warmup_steps``, then ``end``."""
    return LinearWarmup(start, end, warmup_steps)


def momentum_schedule(base: float, final: float, total_steps: int) -> CosineSchedule:
    """EMA teacher momentum: cosine from ``base`` (e.g. 0.996) to ``final`` (1.0) over the whole run, no warm-up."""
    return CosineSchedule(base, final, total_steps)


def epochs_to_steps(epochs: float, steps_per_epoch: int) -> int:
    """Convert a duration given in (possibly fractional) epochs to optimiser steps, rounding to nearest."""
    return int(round(epochs * steps_per_epoch))


def steps_per_epoch(
    num_samples: int, batch_size: int, world_size: int = 1, accumulate: int = 1, drop_last: bool = True
) -> int:
    """Optimiser steps in one epoch.

    ``batch_size`` is the micro-batch of ONE process. The data are first split over ``world_size`` processes (as a
    DistributedSampler does: floor with ``drop_last``, otherwise padded up), then into micro-batches, then grouped
    by ``accumulate`` micro-batches per optimiser step. With ``drop_last`` every division rounds down (incomplete
    batches and accumulation groups are skipped); without it every division rounds up (the last, short step is
    taken). Raises TrainingError when an epoch would hold no optimiser step at all.
    """
    for name, value in (("batch_size", batch_size), ("world_size", world_size), ("accumulate", accumulate)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    divide = (lambda a, b: a // b) if drop_last else (lambda a, b: -(-a // b))
    per_process = divide(num_samples, world_size)
    micro_batches = divide(per_process, batch_size)
    steps = divide(micro_batches, accumulate)
    if steps < 1:
        raise TrainingError(
            f"{num_samples} samples give no optimiser step per epoch with batch_size={batch_size} per process, "
            f"world_size={world_size}, accumulate={accumulate} (need at least "
            f"{batch_size * world_size * accumulate} samples)"
        )
    return steps
