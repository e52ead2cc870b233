"""Mixed precision: choose bf16 / fp16 / fp32 for a device, and the matching autocast context and grad scaler.

On CPU, bf16 autocast is only worth it where oneDNN has native bf16 kernels (AVX512-BF16 / AMX); on a plain AVX2
CPU it is several times *slower* than fp32 because every matmul is emulated. ``auto`` therefore measures instead
of guessing: a short, interleaved timing of one transformer-sized linear layer in both precisions, run once per
process and cached. On CUDA, bf16 needs no loss scaling and is preferred; older GPUs fall back to fp16 with a
GradScaler.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import ContextManager

import torch

from pointdistill.errors import ConfigError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# bf16 must beat fp32 by this factor to be chosen: a marginal gain is not worth the lost mantissa bits.
_CPU_BF16_MIN_SPEEDUP = 1.3
_cpu_bf16_speedup: float | None = None


def cpu_bf16_speedup() -> float:
    """Measured fp32-time / bf16-autocast-time of a [2048x192] @ [192x768] linear on this CPU (cached)."""
    global _cpu_bf16_speedup
    if _cpu_bf16_speedup is None:
        _cpu_bf16_speedup = _measure_cpu_bf16_speedup()
    return _cpu_bf16_speedup


def _measure_cpu_bf16_speedup(repeats: int = 5) -> float:
    with torch.random.fork_rng(devices=[]):  # the timing must not move the global generator's stream
        layer = torch.nn.Linear(192, 768)
        x = torch.randn(2048, 192)

    def run(dtype: torch.dtype | None) -> float:
        context = torch.autocast("cpu", dtype=dtype) if dtype else contextlib.nullcontext()
        with torch.no_grad(), context:
            start = time.perf_counter()
            layer(x)
            return time.perf_counter() - start

    run(None)  # warm-up: kernel selection, weight casts
    run(torch.bfloat16)
    # Interleaved minima are robust to other processes sharing the cores.
    fp32 = min(run(None) for _ in range(repeats))
    bf16 = min(run(torch.bfloat16) for _ in range(repeats))
    return fp32 / max(bf16, 1e-9)


def resolve_precision(requested: str, device: torch.device) -> str:
    """Turn ``train.precision`` into ``bf16``, ``fp16`` or ``fp32`` for ``device``; raise ConfigError if unusable."""
    if requested not in PRECISIONS:
        raise ConfigError(f"train.precision: {requested!r} is not one of {list(PRECISIONS)}")
    if device.type == "cuda":
        if requested == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return requested
    if requested == "fp16":
        raise ConfigError("train.precision: fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    if requested == "auto":
        return "bf16" if cpu_bf16_speedup() >= _CPU_BF16_MIN_SPEEDUP else "fp32"
    return requested


@dataclass
class Precision:
    """The resolved precision of a run: an autocast context factory and, for fp16, a gradient scaler."""

    name: str
    device: torch.device

    def __post_init__(self) -> None:
        enabled = self.name == "fp16" and self.device.type == "cuda"
        self.scaler: torch.amp.GradScaler | None = torch.amp.GradScaler("cuda") if enabled else None

    def autocast(self) -> ContextManager[object]:
        """Autocast for the forward pass and loss (a no-op in fp32)."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.name])
