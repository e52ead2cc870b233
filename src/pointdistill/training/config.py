"""Config sections ``optim`` (what is optimised, and how fast) and ``train`` (how the engine runs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pointdistill.config import register_section


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then cosine decay; every schedule counts global optimiser steps.

    ``batch_size`` is the micro-batch of ONE process (what must fit in memory). One optimiser step sees
    ``batch_size * accumulate * world_size`` shapes, so to shrink memory at a constant effective batch, lower
    ``batch_size`` and raise ``accumulate`` by the same factor. ``lr`` is the absolute peak learning rate (no
    implicit scaling by batch size). No weight decay is applied to biases, normalisation parameters and learned
    tokens and positions (:mod:`pointdistill.models.weight_decay`), unless ``decay_all_parameters`` (AsymDSD's
    reference decays every parameter). The warm-up ramps the learning rate linearly from ``warmup_lr``.
    """

    batch_size: int = 32
    epochs: int = 100
    lr: float = 5e-4
    min_lr: float = 1e-6
    warmup_epochs: float = 10.0
    weight_decay: float = 0.04
    weight_decay_end: float = 0.4
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 3.0
    accumulate: int = 1
    freeze_last_layer_epochs: float = 1.0
    warmup_lr: float = 0.0
    decay_all_parameters: bool = False


@dataclass
class TrainConfig:
    """Engine settings: device, precision, logging, checkpointing, stopping.

    Length and schedules are separate on purpose. The schedules (LR, weight decay, EMA momentum, teacher
    temperature) span ``optim.epochs`` epochs of the data unless ``schedule_steps`` is set, in which case they
    span exactly that many optimiser steps (every epoch-denominated warm-up shrinks or stretches in proportion).
    ``max_steps`` and ``max_minutes`` only cut a run short; they never change a schedule, so a run stopped by a
    budget and resumed later follows the same curve as an uninterrupted one. For a short CPU run that should
    still see a complete warm-up and cosine decay, set ``schedule_steps`` (e.g. equal to ``max_steps``); the run
    then stops at ``schedule_steps`` when ``max_steps`` is not given. ``max_steps`` counts the run's optimiser
    steps in all (a resumed run stops at the same step); ``max_minutes`` is the wall-clock budget of one call,
    set-up included, callbacks (the online probe) left out: the run stops (with a checkpoint) as soon as one more
    step would overrun it.

    - ``device``: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    - ``precision``: ``auto`` = bf16 autocast on a CPU where bf16 is measurably faster, else fp32; on CUDA bf16
      where supported, else fp16 with loss scaling.
    - ``log_every``: optimiser steps between lines of ``metrics.jsonl`` (each line averages the steps since the
      previous one, so every step's loss and entropies are counted).
    - ``checkpoint_every``: optimiser steps between writes of ``checkpoints/last.pt`` (also written at the end).
    - ``keep_checkpoints``: how many step-numbered copies (``step_00000500.pt``) to keep besides ``last.pt``.
    - ``threads``: 0 leaves torch's default number of CPU threads, N > 0 sets it.
    - ``budget_clock``: what ``max_minutes`` counts. ``wall`` (default) is elapsed time; ``cpu`` is the CPU time of
      the training process (``time.process_time``: all its threads, so 2 busy threads spend 2 CPU-minutes per
      minute; data-loader workers are other processes and are not counted: with ``data.num_workers=0`` the data
      pipeline is). ``cpu`` gives runs that share a machine equal compute however busy it is, so that methods
      compared on one machine at one "budget" really got the same work done. Either clock stands still while the
      callbacks (the online probe) run: a budget buys training, however often the run is probed.
    - ``fit_schedule_to_budget``: with ``max_minutes``, time the steps after the first (which pays for start-up)
      and, every ``calibration_steps`` steps, shorten the schedule so that it *completes* inside the budget at the
      mean pace so far: a run cut by its budget mid-cosine never anneals its learning rate and EMA. It only ever
      shortens (the preset's length is the upper bound); the steps before a fit follow the longer schedule. The
      fitted length is saved, so ``--resume`` keeps it.
    """

    device: str = "auto"
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    max_steps: int | None = None
    max_minutes: float | None = None
    schedule_steps: int | None = None
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 0
    tensorboard: bool = True
    progress: bool = True
    threads: int = 0
    budget_clock: Literal["wall", "cpu"] = "wall"
    fit_schedule_to_budget: bool = False
    calibration_steps: int = 5


register_section("optim", OptimConfig)
register_section("train", TrainConfig)
