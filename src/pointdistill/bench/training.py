"""Training throughput of one preset on this machine: what a step costs, where its time goes, what it reaches.

:func:`measure_training` runs in a process of its own (see :mod:`~pointdistill.bench.child`) and does three passes
over the same batches (the data order and every sample's views are functions of the seed and the sample, so a
fresh loader yields exactly the batches the engine draws):

1. **data**: the first ``warmup + steps`` optimiser steps' micro-batches drawn from the engine's own loader
   (:func:`~pointdistill.training.engine.build_training_loader`) in this process (``num_workers=0``): reading,
   crops, masks, views, collation. ``data_ms`` is their mean time per step.
2. **steps**: the real engine (:class:`~pointdistill.training.engine.Trainer`: forward, backward, clipping,
   optimiser, EMA, statistics) trains ``warmup + steps`` serial steps on those batches; a callback stamps the end
   of every step, so ``step_ms`` is the mean serial time of the timed steps (data included) and ``compute_ms =
   step_ms - data_ms`` what the device spends. ``geometry_ms`` is the time inside FPS, k-NN and radius matching
   within the step (model-side: the ViT groups its patches on the device, DCGLR draws its crops with FPS), timed
   by wrapping those functions for the run (with a device synchronisation around each call on CUDA).
3. **FLOPs**: one more forward and backward of the method on the first timed micro-batch under
   :func:`~pointdistill.bench.flops.flop_counter` (matmuls, convolutions, attention of student and teacher).
   Per step it is scaled by the step's size (its points for scene batches, whose size varies; constant for
   object batches).

Derived: ``data_share = data_ms / step_ms`` (what data-loader workers must hide) and ``geometry_share =
geometry_ms / step_ms``; ``shapes_per_s = batch / max(compute, data)`` (the rate when the workers keep up; scenes
per second for scene methods, which also get ``points_per_s``, input points of the teacher views);
``serial_shapes_per_s = batch / step_ms``; ``achieved_gflops`` = the timed steps' FLOPs / their compute time;
on CPU also ``achieved_gflops_cpu_time``, the same over the compute's CPU time per thread (the process's CPU time
less the data pass's), which time spent waiting for cores held by other processes does not inflate, and
``cpu_utilisation``, the process's CPU time over the steps' wall time and threads (below 1: it waited);
``peak_memory_mb``: on CUDA torch's peak allocated bytes over the process, on CPU the process's peak resident set
(interpreter and torch included). The shares of peak are taken by the caller, against the peak of the precision the
run resolved to.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import io
import sys
import tempfile
import time
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any, Callable, Iterator

import torch

from pointdistill.bench.flops import flop_counter
from pointdistill.bench.memory import process_peak_mb
from pointdistill.config import Config, load_config
from pointdistill.methods import build_method
from pointdistill.methods.base import Method, StepInfo
from pointdistill.training import distributed as dist_utils
from pointdistill.training.callbacks import TrainingTime
from pointdistill.training.engine import Trainer, build_training_loader, open_training_split

MB = 1024**2
GEOMETRY_OPS = {
    "farthest_point_sample": "pointdistill.ops.fps",
    "knn": "pointdistill.ops.knn",
    "ball_query": "pointdistill.ops.knn",
    "group_patches": "pointdistill.ops.grouping",
    "nearest_within": "pointdistill.ops.radius_match",
}
"""The geometry functions whose time counts as ``geometry_ms`` (name -> defining module)."""
RUN_OVERRIDES = (
    "data.num_workers=0",
    "train.progress=false",
    "train.tensorboard=false",
    "train.log_every=1",
    "train.checkpoint_every=1000000000",
)
"""Serial data in the training process (so data and step can be told apart), no progress bar, no checkpoints but
the final one."""


@dataclass(frozen=True)
class TrainingSettings:
    """``steps`` timed optimiser steps after ``warmup`` untimed ones (allocations, kernel selection); at most
    ``batch_cap`` shapes (scenes) per micro-batch, None for the preset's own; ``overrides`` further config
    overrides (applied before the cap)."""

    steps: int = 3
    warmup: int = 1
    batch_cap: int | None = None
    device: str = "auto"
    overrides: tuple[str, ...] = ()


def training_config(name: str, settings: TrainingSettings) -> Config:
    """Preset ``name`` set up for the measurement: serial data, ``warmup + steps`` steps, ``settings.device``, the
    batch capped."""
    overrides = [*RUN_OVERRIDES, f"train.max_steps={settings.warmup + settings.steps}",
                 f"train.device={settings.device}", *settings.overrides]
    config = load_config(name, overrides)
    if settings.batch_cap and config.optim.batch_size > settings.batch_cap:
        config = config.replace(optim=dataclasses.replace(config.optim, batch_size=settings.batch_cap))
    return config


def _is_scene_batch(batch: dict[str, Any]) -> bool:
    """Scene batches hold flat point rows (``coord`` [P, 3]) split into views by ``offset``."""
    return "coord" in batch and "offset" in batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class GeometryClock:
    """While active, the seconds spent inside :data:`GEOMETRY_OPS` and the number of calls, wherever the
    package's modules imported them (only the outermost call counts: ``group_patches`` runs FPS and k-NN itself)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0
        self.calls = 0
        self._inside = False
        self._patched: list[tuple[ModuleType, str, Callable[..., Any]]] = []

    def _timed(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._inside:
                return function(*args, **kwargs)
            _sync(self.device)
            start = time.perf_counter()
            self._inside = True
            try:
                return function(*args, **kwargs)
            finally:
                _sync(self.device)
                self.seconds += time.perf_counter() - start
                self.calls += 1
                self._inside = False

        return timed

    def __enter__(self) -> GeometryClock:
        wrapped = {}
        for name, module in GEOMETRY_OPS.items():
            function = getattr(importlib.import_module(module), name)
            wrapped[id(function)] = (function, self._timed(function))
        for module in list(sys.modules.values()):
            if not getattr(module, "__name__", "").startswith("pointdistill."):
                continue
            for attribute, value in list(vars(module).items()):
                if id(value) in wrapped and wrapped[id(value)][0] is value:
                    setattr(module, attribute, wrapped[id(value)][1])
                    self._patched.append((module, attribute, value))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for module, attribute, value in self._patched:
            setattr(module, attribute, value)
        self._patched.clear()


class StepClock:
    """A :class:`~pointdistill.training.callbacks.Callback` stamping the end of every optimiser step (after the
    device has finished it) with the wall clock, this process's CPU time and the geometry clock."""

    def __init__(self, device: torch.device, geometry: GeometryClock) -> None:
        self.device = device
        self.geometry = geometry
        self.stamps: list[tuple[float, float, float]] = []

    def on_step_end(self, step: int, method: Method, training: TrainingTime) -> None:
        if step == 0:  # the engine's call before the first update: no step has ended yet
            return
        _sync(self.device)
        self.stamps.append((time.perf_counter(), time.process_time(), self.geometry.seconds))


def _draw_micro_batches(loader: torch.utils.data.DataLoader, count: int
                        ) -> tuple[list[float], list[float], list[dict]]:
    """Wall and CPU seconds to draw each of the loader's first ``count`` micro-batches, and the batches."""
    iterator: Iterator[dict[str, Any]] = iter(loader)
    seconds, cpu_seconds, batches = [], [], []
    for _ in range(count):
        start, start_cpu = time.perf_counter(), time.process_time()
        batches.append(next(iterator))
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - start_cpu)
    return seconds, cpu_seconds, batches


def _step_flops(trainer: Trainer, batch: dict[str, Any]) -> float:
    """FLOPs of one forward and backward of the trained method on ``batch``."""
    method, device = trainer.method, trainer.device
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    info = StepInfo(trainer.step, trainer.total_steps, trainer.schedule_steps_per_epoch)
    with flop_counter() as counter:
        with trainer.precision.autocast():
            loss, _ = method.training_step(batch, info)
        loss.float().backward()
    method.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def _encoder_label(config: Config, scene: bool) -> str:
    if scene:
        return f"scene-{config.scene_encoder.preset}"
    return f"{config.encoder.name}-{config.encoder.preset}"


def measure_training(name: str, settings: TrainingSettings) -> dict[str, Any]:
    """One report row for preset ``name`` (see the module docstring for every field)."""
    if settings.warmup < 1 or settings.steps < 1:
        raise ValueError("training benchmark needs at least one warm-up and one timed step")
    config = training_config(name, settings)
    device = dist_utils.select_device(config.train.device, dist_utils.DistContext())
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    accumulate = config.optim.accumulate
    total_steps = settings.warmup + settings.steps
    method = build_method(config)
    split = open_training_split(config)
    loader = build_training_loader(method, split, config, device)
    draw_s, draw_cpu_s, batches = _draw_micro_batches(loader, total_steps * accumulate)
    del loader
    scene = _is_scene_batch(batches[0])
    sizes = [len(b["coord"]) if scene else config.optim.batch_size for b in batches]
    timed = slice(settings.warmup * accumulate, None)

    geometry = GeometryClock(device)
    clock = StepClock(device, geometry)
    with tempfile.TemporaryDirectory() as folder, geometry, contextlib.redirect_stderr(io.StringIO()):
        trainer = Trainer(config, folder, method=method, split=split, callbacks=[clock])
        trainer.fit()
    flops_per_unit = _step_flops(trainer, batches[timed][0]) / sizes[timed][0]

    stamps = clock.stamps[settings.warmup - 1:]
    step_s = (stamps[-1][0] - stamps[0][0]) / settings.steps
    cpu_s = (stamps[-1][1] - stamps[0][1]) / settings.steps
    geometry_s = (stamps[-1][2] - stamps[0][2]) / settings.steps
    data_s = sum(draw_s[timed]) / settings.steps
    compute_s = max(step_s - data_s, 1e-9)
    threads = torch.get_num_threads()
    compute_cpu_s = max(cpu_s - sum(draw_cpu_s[timed]) / settings.steps, 1e-9) / threads
    units_per_step = sum(sizes[timed]) / settings.steps
    batch = config.optim.batch_size * accumulate
    paced_s = max(compute_s, data_s)
    on_cpu = device.type == "cpu"
    peak_mb = process_peak_mb() if on_cpu else torch.cuda.max_memory_allocated(device) / MB
    return {
        "config": name,
        "method": config.method,
        "encoder": _encoder_label(config, scene),
        "unit": "scene" if scene else "shape",
        "device": str(device),
        "precision": trainer.precision.name,
        "threads": threads,
        "batch": batch,
        "timed_steps": settings.steps,
        "step_ms": 1e3 * step_s,
        "compute_ms": 1e3 * compute_s,
        "data_ms": 1e3 * data_s,
        "geometry_ms": 1e3 * geometry_s,
        "data_share": data_s / step_s,
        "geometry_share": geometry_s / step_s,
        "shapes_per_s": batch / paced_s,
        "serial_shapes_per_s": batch / step_s,
        "points_per_s": units_per_step / paced_s if scene else None,
        "gflop_per_step": flops_per_unit * units_per_step / 1e9,
        "achieved_gflops": flops_per_unit * units_per_step / compute_s / 1e9,
        "achieved_gflops_cpu_time": flops_per_unit * units_per_step / compute_cpu_s / 1e9 if on_cpu else None,
        "cpu_utilisation": cpu_s / (step_s * threads) if on_cpu else None,
        "peak_memory_mb": peak_mb,
        "memory_kind": "cuda max allocated" if device.type == "cuda" else "process peak RSS",
        "parameters_m": sum(p.numel() for p in trainer.method.student.parameters()) / 1e6,
    }
