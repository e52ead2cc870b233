"""FPS and k-NN as the cloud grows: time and memory at each size, and the fitted growth orders.

One cloud of ``N`` uniform points, ``G = N / groups_ratio`` centres (16 points per centre: the object ViT's 64
patches of 1,024 points) and ``k`` neighbours per centre, so the work of both ops is ``N * G``, which grows as
``N^2``:

- ``fps``: :func:`~pointdistill.ops.fps.farthest_point_sample` of ``G`` centres, from point 0;
- ``knn``: :func:`~pointdistill.ops.knn.knn` of those ``G`` centres among the ``N`` points.

Time: the best of a first call and ``repeats`` more (the best, because other processes sharing the machine only
ever add time). Memory: the peak the first call added (:class:`~pointdistill.bench.memory.PeakMemory`: CUDA
allocated bytes, or the growth of this process's resident high-water mark with freed memory returned to the OS at
once; the input cloud is allocated before and not counted). Orders: least-squares slopes of log time against
log N and against log N*G (an O(N*G) op has slope 1 in N*G), and of log memory against log N (an op that never
holds an N x G or N x N matrix stays at slope 1 or below, where an O(N*G) buffer would show slope 2), over all
sizes and over the two largest (``tail``: how the op grows where N is large, past start-up costs and, for k-NN,
past the size where its distance chunks reach their fixed budget).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from pointdistill.bench.memory import PeakMemory, return_freed_memory
from pointdistill.ops.fps import farthest_point_sample
from pointdistill.ops.gather import gather_points
from pointdistill.ops.knn import knn
from pointdistill.training import distributed as dist_utils


@dataclass(frozen=True)
class OpsSettings:
    sizes: tuple[int, ...] = (1024, 4096, 16384, 65536)
    groups_ratio: int = 16
    k: int = 32
    repeats: int = 3
    device: str = "auto"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(call: Callable[[], Any], repeats: int, device: torch.device) -> float:
    """Best wall time of ``repeats`` calls of ``call`` (each waited for on ``device``); other work sharing the
    machine only ever adds time, so the best is the op's own."""
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        call()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _measure(call: Callable[[], Any], repeats: int, device: torch.device) -> tuple[float, float | None]:
    """Best seconds over a first call and ``repeats`` more, and the peak MiB the first call added."""
    with PeakMemory(device) as meter:
        first = best_seconds(call, 1, device)
    return min(first, best_seconds(call, repeats, device)), meter.mb


def growth_order(x: list[float], y: list[float | None]) -> float | None:
    """Least-squares slope of log y against log x over the positive pairs; None with fewer than two."""
    pairs = [(a, b) for a, b in zip(x, y) if b is not None and a > 0 and b > 0]
    if len(pairs) < 2:
        return None
    logs = np.log(np.asarray(pairs, dtype=np.float64))
    return float(np.polyfit(logs[:, 0], logs[:, 1], 1)[0])


def measure_ops(settings: OpsSettings) -> dict[str, Any]:
    """Rows (op, N, G, k, ms, peak MiB) and per-op orders; run it in a process of its own (it changes how this
    process's allocator returns memory, see :func:`~pointdistill.bench.memory.return_freed_memory`)."""
    returned = return_freed_memory()
    device = dist_utils.select_device(settings.device, dist_utils.DistContext())
    generator = torch.Generator().manual_seed(0)
    rows = []
    for n in sorted(settings.sizes):
        groups = max(1, n // settings.groups_ratio)
        points = torch.rand(1, n, 3, generator=generator).to(device)
        centres = gather_points(points, farthest_point_sample(points, groups))
        calls = {
            "fps": lambda: farthest_point_sample(points, groups),
            "knn": lambda: knn(centres, points, min(settings.k, n)),
        }
        for op, call in calls.items():
            seconds, peak_mb = _measure(call, settings.repeats, device)
            rows.append({"op": op, "n": n, "g": groups, "k": settings.k, "ms": 1e3 * seconds, "peak_mb": peak_mb})
    orders = {}
    for op in ("fps", "knn"):
        mine = [row for row in rows if row["op"] == op]
        n = [row["n"] for row in mine]
        ng = [row["n"] * row["g"] for row in mine]
        ms, mb = [row["ms"] for row in mine], [row["peak_mb"] for row in mine]
        orders[op] = {
            "time_order_n": growth_order(n, ms),
            "time_order_ng": growth_order(ng, ms),
            "memory_order_n": growth_order(n, mb),
            "time_tail_order_ng": growth_order(ng[-2:], ms[-2:]),
            "memory_tail_order_n": growth_order(n[-2:], mb[-2:]),
        }
    memory = "cuda max allocated" if device.type == "cuda" else (
        "resident high-water growth" if returned else "resident high-water growth (allocator not adjusted)")
    return {"device": str(device), "threads": torch.get_num_threads(), "groups_ratio": settings.groups_ratio,
            "memory_kind": memory, "rows": rows, "orders": orders}
