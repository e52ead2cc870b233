"""What stops a run early: a non-finite loss, a stop signal, running out of memory."""

from __future__ import annotations

import math
import signal
import threading
from pathlib import Path
from typing import Any

import torch

from pointdistill.errors import TrainingError


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA's OutOfMemoryError and for the CPU allocator's "can't allocate memory" RuntimeError."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class DivergenceGuard:
    """Remembers, on the device, the first optimiser step whose loss (or gradient norm) was not finite.

    Checking costs one synchronisation, so it happens only before logging and before every checkpoint write: a bad
    state is never saved, and the message names the exact step even if it was found a few steps later.
    """

    def __init__(self, device: torch.device) -> None:
        self._first = torch.full((), -1, dtype=torch.long, device=device)
        self._values = torch.zeros(2, device=device)

    def observe(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor | None) -> None:
        values = torch.stack([loss.detach().float(), (grad_norm if grad_norm is not None else loss).detach().float()])
        bad = ~torch.isfinite(values).all()
        fresh = bad & (self._first < 0)
        self._first = torch.where(fresh, step, self._first)
        self._values = torch.where(fresh, values, self._values)

    def check(self, last_good: Path | None, last_good_step: int | None) -> None:
        """Raise TrainingError naming the first bad step and the last good checkpoint, if a step went bad."""
        first, loss, grad_norm = torch.cat([self._first.float().view(1), self._values]).tolist()
        if first < 0:
            return
        what = f"loss became {loss}" if not math.isfinite(loss) else f"gradient norm became {grad_norm}"
        kept = (
            f"last good checkpoint: {last_good} (step {last_good_step})" if last_good else "no checkpoint was written"
        )
        raise TrainingError(
            f"{what} at step {int(first)}; training stopped and {kept}. Try lowering optim.lr, raising "
            "optim.warmup_epochs, setting optim.grad_clip (e.g. 3.0), or train.precision=fp32"
        )


class StopSignals:
    """First SIGINT/SIGTERM asks for a clean stop (checkpoint, then exit); a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
