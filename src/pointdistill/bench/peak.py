"""The machine's dense matmul peak per precision: the denominator of every "share of peak" in the report.

A training step is judged by the FLOP/s its matmuls reach against what this machine's best matmul reaches in the
same precision, threads and device, so the ratio says how much of the hardware a step turns into useful work
whatever the hardware is. The peak is the best time of a large square ``linear`` under the same autocast the
model runs in (on CPU a plain bf16 ``matmul`` and an autocast ``linear`` dispatch to different kernels), repeated
for a fixed wall time. On CPU a product's time is the process's CPU time over its threads, so time spent waiting
for cores that other processes hold does not count (on an idle machine it equals the wall time); on CUDA it is
the wall time, and fp32 is measured with TF32 matmuls allowed, as the engine trains.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

import torch

from pointdistill.utils.precision import Precision, cpu_bf16_speedup, resolve_precision

SQUARE_SIZE = {"cpu": 1024, "cuda": 8192}
"""Side of the square matmul per device type: large enough to be compute-bound, small enough to time in a second
(on CPUs without native bf16 one emulated bf16 product of 1024 takes a good part of that second)."""
CALLS_PER_TIMING = {"cpu": 1, "cuda": 10}
"""Products per timed sample: a GPU product is short next to the synchronisation that ends a sample."""


def precisions_for(device: torch.device) -> tuple[str, ...]:
    """The precisions a run can use on ``device`` (the engine refuses fp16 on CPU)."""
    return ("fp32", "bf16", "fp16") if device.type == "cuda" else ("fp32", "bf16")


@contextlib.contextmanager
def engine_matmul_settings(device: torch.device) -> Iterator[None]:
    """TF32 matmuls on CUDA, as :class:`~pointdistill.training.engine.Trainer` sets them, restored after."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def matmul_peak(precision: str, device: torch.device, size: int | None = None, seconds: float = 1.0) -> float:
    """Best observed FLOP/s of a ``size`` x ``size`` linear layer in ``precision`` on ``device``."""
    size = size or SQUARE_SIZE[device.type]
    calls = CALLS_PER_TIMING[device.type]
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(size, size, generator=generator).to(device)
    weight = torch.randn(size, size, generator=generator).to(device)
    autocast = Precision(precision, device).autocast

    threads = torch.get_num_threads()

    def run() -> float:
        start, start_cpu = time.perf_counter(), time.process_time()
        with torch.no_grad(), autocast():
            for _ in range(calls):
                torch.nn.functional.linear(x, weight)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            return time.perf_counter() - start
        return (time.process_time() - start_cpu) / threads

    with engine_matmul_settings(device):
        run()
        best = run()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            best = min(best, run())
    return 2 * size**3 * calls / best


def measure_peaks(device: torch.device, seconds: float = 1.0) -> dict[str, float]:
    """GFLOP/s of the best matmul in every precision ``device`` can train in."""
    return {precision: matmul_peak(precision, device, seconds=seconds) / 1e9 for precision in precisions_for(device)}


def auto_precision(device: torch.device) -> dict[str, object]:
    """What ``train.precision=auto`` picks here and, on CPU, the measured bf16 speed-up it decided on."""
    choice: dict[str, object] = {"auto": resolve_precision("auto", device)}
    if device.type == "cpu":
        choice["cpu_bf16_speedup"] = round(cpu_bf16_speedup(), 3)
    return choice
