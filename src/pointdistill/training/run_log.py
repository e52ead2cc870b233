"""What a run tells its user: the progress bar, one-line messages, and ``metrics.jsonl`` records.

Only rank 0 writes; on the other ranks every method is a no-op, so the engine never asks who it is before logging.
A record averages the steps since the previous one (:class:`~pointdistill.training.metrics.RunningMeans`) and adds
the step's schedule values, the throughput over that window and the run's elapsed time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

from pointdistill.training.metrics import MetricsWriter, RunningMeans
from pointdistill.training.progress import ProgressBar

LogCallback = Callable[[dict[str, Any]], None]


class RunLog:
    """Progress bar over ``initial..total`` steps, messages, and the metrics file of one call of ``fit``."""

    def __init__(
        self,
        out_dir: Path,
        *,
        enabled: bool,
        progress: bool,
        tensorboard: bool,
        total: int,
        initial: int,
        deadline: float | None,
        clock: Callable[[], float] = time.monotonic,
        on_log: LogCallback | None = None,
    ) -> None:
        self.enabled = enabled
        self.progress = progress and enabled
        self.means = RunningMeans()
        self._on_log = on_log
        self._bar = ProgressBar(total, initial, self.progress, deadline, clock)
        self._metrics = (
            MetricsWriter(out_dir / "metrics.jsonl", out_dir / "tensorboard" if tensorboard else None)
            if enabled
            else None
        )
        self._window_start, self._window_samples = time.monotonic(), 0
        for note in self._metrics.notes if self._metrics else []:
            self.say(note)

    def say(self, message: str) -> None:
        """One line for the user (rank 0), printed above the progress bar."""
        if not self.enabled:
            return
        if self.progress:
            self._bar.write(message)
        else:
            print(message, file=sys.stderr)

    def set_total(self, total: int) -> None:
        """The run now ends at step ``total`` (its schedule was shortened)."""
        self._bar.set_total(total)

    def step_done(self, values: dict[str, Any], samples: int) -> None:
        """Count one optimiser step of ``samples`` shapes; ``values`` (device tensors allowed) join the means."""
        self.means.add(values)
        self._window_samples += samples
        self._bar.update()

    def flush(self, step: int, extra: dict[str, Any]) -> dict[str, Any]:
        """Write the record of the steps since the last flush (their means, throughput, ``extra``); return it."""
        window = max(time.monotonic() - self._window_start, 1e-9)
        record: dict[str, Any] = {"step": step, **extra, **self.means.read()}
        record["shapes_per_s"] = self._window_samples / window
        self._window_start, self._window_samples = time.monotonic(), 0
        if self._metrics is not None:
            self._metrics.write(record)
            self._bar.show(record)
            if self._on_log is not None:
                self._on_log(dict(record))
        return record

    def write(self, record: dict[str, Any]) -> None:
        """A record that is not a step average (e.g. an online probe's result)."""
        if self._metrics is not None:
            self._metrics.write(record)

    def close(self) -> None:
        self._bar.close()
        if self._metrics is not None:
            self._metrics.close()
