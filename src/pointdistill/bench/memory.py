"""Peak memory of a process or of one block of code, on CUDA and on CPU.

- CUDA: torch's own count, ``max_memory_allocated`` (tensors only; the caching allocator's reserve and the CUDA
  context are not included).
- CPU, a whole process: ``ru_maxrss``, the peak resident set of the process (interpreter, torch, model, optimiser,
  activations, data), which is why every training row runs in its own process.
- CPU, one block: the growth of the resident high-water mark over the block. Linux lets a process reset its mark
  (``/proc/self/clear_refs``), so the block's peak is measured in place, not estimated; freed tensors must leave
  the resident set for that, so :func:`return_freed_memory` makes glibc map every allocation above 64 KiB on its
  own and unmap it on free (instead of keeping it in its heap, where a later block would reuse it unseen).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys
from pathlib import Path
from types import TracebackType

import torch

MB = 1024**2
_M_MMAP_THRESHOLD = -3
_OWN_MAPPING_BYTES = 64 * 1024
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def process_peak_mb() -> float:
    """This process's peak resident set so far (``ru_maxrss``), in MiB."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / MB


def return_freed_memory() -> bool:
    """Make glibc give freed allocations above 64 KiB back to the OS at once (see the module docstring); False
    where there is no glibc. Changes this process's allocator for good: call it in a process of its own."""
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(_M_MMAP_THRESHOLD, _OWN_MAPPING_BYTES))
    except (OSError, AttributeError):
        return False


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """``with PeakMemory(device) as meter: ...``; then ``meter.mb`` is the peak memory the block added on
    ``device`` (MiB), or None on a CPU whose OS cannot reset the resident high-water mark. ``meter.kind`` names
    what was measured."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mb: float | None = None
        self.kind = "cuda max allocated" if device.type == "cuda" else "resident high-water growth"
        self._start = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        elif _STATUS.is_file() and _reset_high_water_mark():
            self._start = _status_kib("VmRSS") * 1024
        else:
            self._start = -1
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mb = (torch.cuda.max_memory_allocated(self.device) - self._start) / MB
        elif self._start >= 0:
            self.mb = max(0, _status_kib("VmHWM") * 1024 - self._start) / MB
