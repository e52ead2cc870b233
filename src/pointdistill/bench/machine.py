"""The machine a benchmark ran on: the facts every number depends on, read rather than assumed."""

from __future__ import annotations

import os
import platform
import resource
from pathlib import Path
from typing import Any

import torch

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags of native bf16 matmuls: without one of them bf16 autocast is emulated on the CPU and slower than fp32."""


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty off Linux)."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return {}
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1)
    except (ValueError, OSError, AttributeError):
        return None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (runnable processes), None where the OS has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _live_descendants_cpu() -> float:
    """CPU seconds of this process's live descendants and of the children they reaped (``/proc``; 0 off Linux)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    children: dict[int, list[int]] = {}
    seconds: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (name) "; the name may hold spaces
        pid, ppid = int(stat.parent.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        seconds[pid] = sum(int(value) for value in fields[11:15]) / tick  # utime, stime, cutime, cstime
    total, stack = 0.0, list(children.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        total += seconds.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


def process_tree_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process, its reaped children and its live descendants
    (measuring processes, the fork server, the SVM protocol's worker pool): the bench's cost whatever the load."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime + _live_descendants_cpu()


def usable_cores() -> int:
    """Cores this process may run on (its affinity), which on a container can be fewer than the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def describe_machine(device: torch.device) -> dict[str, Any]:
    """CPU model, cores, bf16 flags, memory, torch version and threads, the GPU when ``device`` is CUDA, and the
    load average now."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    machine: dict[str, Any] = {
        "cpu": info.get("model name") or platform.processor() or platform.machine(),
        "cpu_cores": usable_cores(),
        "cpu_bf16_flags": sorted(flags & set(BF16_FLAGS)),
        "cpu_avx512": "avx512f" in flags,
        "cpu_avx2": "avx2" in flags,
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "device": str(device),
        "load_average_start": load_average(),
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        machine["gpu"] = properties.name
        machine["gpu_memory_gib"] = round(properties.total_memory / 1024**3, 1)
        machine["gpu_capability"] = f"{properties.major}.{properties.minor}"
        machine["cuda"] = torch.version.cuda
    return machine
