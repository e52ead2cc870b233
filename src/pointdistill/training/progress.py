"""The rank-0 progress bar: steps, loss, shapes per second and time left.

The bar is updated every step (no device sync: it only counts) and its numbers at every logged step. When the
output is not a terminal (a log file, a CI job) it redraws at most every 30 s so logs stay readable. A time budget
caps the ETA: a run that will be stopped by ``max_minutes`` shows the time until then.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Mapping

from tqdm.auto import tqdm


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class ProgressBar:
    """tqdm over optimiser steps ``initial..total``; ``deadline`` is a stop time on ``clock`` (the run's budget
    clock: ``time.monotonic`` or ``time.process_time``) or None."""

    def __init__(
        self,
        total: int,
        initial: int = 0,
        enabled: bool = True,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        interactive = sys.stderr.isatty()
        self.deadline = deadline
        self.clock = clock
        self._bar = tqdm(
            total=total,
            initial=initial,
            unit="step",
            dynamic_ncols=True,
            mininterval=0.5 if interactive else 30.0,
            disable=not enabled,
            file=sys.stderr,
        )

    def set_total(self, total: int) -> None:
        """A new end (the schedule was fitted to the time budget)."""
        self._bar.total = total
        self._bar.refresh()

    def update(self, steps: int = 1) -> None:
        self._bar.update(steps)

    def show(self, values: Mapping[str, float]) -> None:
        """Display the latest logged values (loss, shapes/s, teacher entropy) and the budget's time left."""
        postfix = {}
        if "loss" in values:
            postfix["loss"] = f"{values['loss']:.4f}"
        if "shapes_per_s" in values:
            postfix["shapes/s"] = f"{values['shapes_per_s']:.1f}"
        if "teacher_entropy" in values:
            postfix["H_t"] = f"{values['teacher_entropy']:.3f}"
        if self.deadline is not None:
            postfix["budget"] = _clock(self.deadline - self.clock())
        self._bar.set_postfix(postfix, refresh=False)

    def write(self, message: str) -> None:
        """Print a line without breaking the bar."""
        if not self._bar.disable:
            self._bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self._bar.close()
