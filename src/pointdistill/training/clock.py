"""The clocks a run's time budget is counted on: training time of one ``fit`` call, callbacks left out.

A time budget buys *pretraining*: an online probe that embeds a few thousand shapes every few minutes is
measurement, and a run that is probed often must not get fewer optimiser steps than one that is not. So the
engine runs its callbacks inside :meth:`TrainingClock.excluded`, and the budget, the schedule fitted to it, the
progress bar's time left and the training time a probe record carries are all read on clocks that stand still
meanwhile. Everything else the call does counts: set-up (opening the data, building the method), steps, logging
and checkpoints.

``cpu`` is ``time.process_time``: all threads of this process. A callback runs in the training process itself, so
subtracting the CPU time that passed while it ran removes exactly its share; data-loader worker processes are not
counted by either reading (they keep prefetching during a callback, which the ``wall`` clock cannot see: use
``data.num_workers=0`` where that matters).
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

BUDGET_CLOCKS: dict[str, Callable[[], float]] = {"wall": time.monotonic, "cpu": time.process_time}
"""``train.budget_clock`` -> the raw clock ``max_minutes`` is counted on (seconds); looked up at every reading,
so a test can replace one."""


class TrainingClock:
    """Seconds of training on both clocks since construction, less the time spent in :meth:`excluded` blocks."""

    def __init__(self) -> None:
        self._start = {name: clock() for name, clock in BUDGET_CLOCKS.items()}
        self._left_out = dict.fromkeys(BUDGET_CLOCKS, 0.0)

    def read(self, name: str) -> float:
        """Training seconds so far on clock ``name`` (``wall`` or ``cpu``)."""
        return BUDGET_CLOCKS[name]() - self._start[name] - self._left_out[name]

    def wall_s(self) -> float:
        return self.read("wall")

    def cpu_s(self) -> float:
        return self.read("cpu")

    @contextlib.contextmanager
    def excluded(self) -> Iterator[None]:
        """Stop both clocks for the block (an online probe): its time is not training time."""
        start = {name: clock() for name, clock in BUDGET_CLOCKS.items()}
        try:
            yield
        finally:
            for name, clock in BUDGET_CLOCKS.items():
                self._left_out[name] += clock() - start[name]
