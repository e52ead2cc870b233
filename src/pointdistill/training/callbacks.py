"""Hooks into a run for code the engine must not depend on (the online probe of the evaluation layer, a GUI).

A callback sees the method before the first update of a fresh run (step 0: the random initialisation) and after
each optimiser step, and returns extra metrics to log (or nothing). Only rank 0 calls callbacks, so a callback may
read files and print freely; it must not run collectives. Its time is not training time: the engine stops the
budget clocks while callbacks run (:mod:`pointdistill.training.clock`), and tells each call how much training the
run has had so far (:class:`TrainingTime`), so a probe can be scheduled and plotted against training compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pointdistill.methods.base import Method


@dataclass(frozen=True)
class TrainingTime:
    """Training so far, over every call of a resumed run, callbacks excluded: ``wall_s`` and ``cpu_s`` seconds
    (CPU time of the training process), ``budget_s`` on the run's ``train.budget_clock``; ``last`` is true at
    the last step of this call by the schedule's end, ``max_steps`` or the time budget (not by a stop request,
    which should end the run promptly)."""

    wall_s: float
    cpu_s: float
    budget_s: float
    last: bool


class Callback(Protocol):
    def on_step_end(self, step: int, method: Method, training: TrainingTime) -> dict[str, Any] | None:
        """After optimiser step ``step`` (counted from 1; 0 = before the first update of a fresh run): metrics
        for ``metrics.jsonl``, or None."""
