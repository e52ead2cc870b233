"""Training metrics: cheap on-device running means, and the ``metrics.jsonl`` (+ TensorBoard) writer of rank 0.

Reading a GPU scalar with ``.item()`` stalls the pipeline until the step finishes, so per-step values (loss,
entropies, gradient norm) are summed on their device and fetched with one transfer per logged step. Each line of
``metrics.jsonl`` is therefore the mean over the steps since the previous line: every step counts, and logging
costs one synchronisation per ``log_every`` steps.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import torch


class RunningMeans:
    """Sums of named scalars (tensors stay on their device) and the number of steps added since the last read."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor | float] = {}
        self.count = 0

    def add(self, values: Mapping[str, torch.Tensor | float]) -> None:
        for name, value in values.items():
            value = value.detach().float() if isinstance(value, torch.Tensor) else float(value)
            previous = self._sums.get(name)
            self._sums[name] = value if previous is None else previous + value
        self.count += 1

    def read(self) -> dict[str, float]:
        """Means since the last read (one device transfer for all tensor entries); resets the sums."""
        if not self.count:
            return {}
        names = list(self._sums)
        tensors = [n for n in names if isinstance(self._sums[n], torch.Tensor)]
        fetched: dict[str, float] = {}
        if tensors:
            device = self._sums[tensors[0]].device
            stacked = torch.stack([self._sums[n].to(device) for n in tensors])
            fetched = dict(zip(tensors, stacked.tolist()))
        means = {n: (fetched[n] if n in fetched else self._sums[n]) / self.count for n in names}
        self._sums, self.count = {}, 0
        return means


def _plain(value: Any) -> Any:
    """JSON-safe value: non-finite floats become null (strict JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsWriter:
    """Appends one JSON object per logged step to ``metrics.jsonl``; mirrors scalars to TensorBoard if asked.

    TensorBoard is optional: when ``torch.utils.tensorboard`` cannot be imported (tensorboard not installed) the
    writer keeps to the JSON file and says so once through ``notes``.
    """

    def __init__(self, path: Path, tensorboard_dir: Path | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        self._tensorboard = None
        self.notes: list[str] = []
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self.notes.append("tensorboard is not installed; metrics go to metrics.jsonl only")
            else:
                self._tensorboard = SummaryWriter(str(tensorboard_dir))

    def write(self, record: Mapping[str, Any]) -> None:
        self._file.write(json.dumps({k: _plain(v) for k, v in record.items()}) + "\n")
        self._file.flush()
        if self._tensorboard is not None:
            step = int(record["step"])
            for name, value in record.items():
                if name != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self._tensorboard.add_scalar(name, value, step)

    def close(self) -> None:
        self._file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()


def truncate_metrics(path: Path, last_step: int) -> int:
    """Drop lines logged after ``last_step`` (written by a killed run after its last checkpoint); return how many.

    The rewrite is atomic, so a crash during it leaves the old file.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            step = json.loads(line).get("step", -1)
        except (json.JSONDecodeError, AttributeError):
            dropped += 1  # a line cut short by the kill
            continue
        if isinstance(step, int) and step > last_step:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, path)
    return dropped
