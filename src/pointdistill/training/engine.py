"""The training engine: one loop for every self-distillation method.

A :class:`~pointdistill.methods.base.Method` says how a batch of views becomes a loss and how its teacher follows
the student; the :class:`Trainer` does everything else: device and precision, data order, optimiser and schedules,
gradient accumulation and clipping, data-parallel gradient averaging, logging, checkpoints, resume, budgets and
guards. The parts live in their own modules: :mod:`~pointdistill.training.step` (one optimiser step),
:mod:`~pointdistill.training.checkpoint` (what a checkpoint holds), :mod:`~pointdistill.training.run_log` (progress
and metrics), :mod:`~pointdistill.training.guards` (divergence, signals, out of memory); this module sets a run up
and drives the loop. Code above the training layer (the online probe) joins through
:class:`~pointdistill.training.callbacks.Callback`.

Reproducibility is by construction, not by replaying state:

- the data order and every sample's views are functions of ``(seed, epoch, index)`` (the EpochSampler and
  ViewDataset of :mod:`pointdistill.data.loader`), and the data position is saved as ``(epoch, batch_in_epoch)``;
- the torch generator is reseeded at every optimiser step from ``(seed, rank, step)``, and the methods draw their
  per-sample device randomness (drop-path, FPS starts) from each sample's own key, so model-side randomness of step
  S is the same whether the run was resumed before it or not and however the batch is split;
- every schedule is a function of the global optimiser step, and its length is saved in the checkpoint.

So ``N`` steps, a checkpoint, then ``N`` more steps in a new process give bitwise the weights of ``2N`` steps in
one process (CPU, same number of processes).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from pointdistill.config import Config, config_from_dict, save_config
from pointdistill.data.base import PointSplit
from pointdistill.data.loader import build_loader
from pointdistill.data.registry import open_dataset
from pointdistill.errors import CheckpointError, ConfigError, TrainingError
from pointdistill.methods import build_method
from pointdistill.methods.base import Method, StepInfo
from pointdistill.training import distributed as dist_utils
from pointdistill.training.callbacks import Callback, TrainingTime
from pointdistill.training.checkpoint import (
    LAST,
    RunPosition,
    atomic_save,
    config_differences,
    keep_step_copy,
    load_checkpoint,
    restore_training_state,
    training_state,
)
from pointdistill.training.clock import TrainingClock
from pointdistill.training.guards import DivergenceGuard, StopSignals, is_out_of_memory
from pointdistill.training.metrics import truncate_metrics
from pointdistill.training.optim import build_optimizer, build_schedules, trainable_parameters
from pointdistill.training.run_log import LogCallback, RunLog
from pointdistill.training.step import OptimizerStep
from pointdistill.training.sync_batchnorm import convert_sync_batchnorm
from pointdistill.utils.precision import Precision, resolve_precision
from pointdistill.utils.schedules import steps_per_epoch

_PRECISION_CODES = ("fp32", "bf16", "fp16")
_BUDGET_MARGIN = 0.97
_RESERVE_STEPS = 3
"""Share of the remaining time budget a fitted schedule plans to use, less the time of a few steps: the rest absorbs
step-time noise and the final checkpoint."""


@dataclass
class RunSummary:
    """What a call to :meth:`Trainer.fit` did and where its files are.

    ``stopped_reason``: ``completed`` (the schedule's last step), ``max_steps``, ``time_budget`` or
    ``interrupted`` (SIGINT/SIGTERM or :meth:`Trainer.request_stop`; a checkpoint was written first).
    ``total_steps`` is the schedule's length (fitted to the budget when ``train.fit_schedule_to_budget``).
    """

    out_dir: Path
    steps: int
    steps_this_run: int
    total_steps: int
    final_loss: float | None
    stopped_reason: str
    checkpoint: Path | None
    metrics: Path
    config: Path
    elapsed_s: float
    skipped_samples: int
    precision: str
    device: str


class Trainer:
    """Trains ``config.method`` on ``config.data`` into ``out_dir``.

    The run folder gets ``config.yaml`` (the resolved config), ``metrics.jsonl`` and ``checkpoints/last.pt``.
    ``resume=True`` continues from ``checkpoints/last.pt`` when there is one (a run with a different config,
    run-control keys aside, is refused), and starts from scratch when there is none, so a job script can always
    pass it. Without ``resume``, a folder that already holds a checkpoint is refused rather than overwritten.

    ``method`` and ``split`` replace the ones the config would build (tests, notebooks); ``progress`` overrides
    ``train.progress``; ``on_log`` receives every metrics record on rank 0 (a GUI's progress display);
    ``callbacks`` run on rank 0 before the first step of a fresh run and after every optimiser step (the online
    probe), on stopped budget clocks (:mod:`~pointdistill.training.clock`); :meth:`request_stop` ends the run
    cleanly from another thread (a GUI's stop button).
    """

    def __init__(
        self,
        config: Config,
        out_dir: str | Path,
        resume: bool = False,
        *,
        method: Method | None = None,
        split: PointSplit | None = None,
        progress: bool | None = None,
        on_log: LogCallback | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        _validate(config)
        self.config = config
        self.out_dir = Path(out_dir)
        self.resume = resume
        self._method = method
        self._split = split
        self._progress_enabled = config.train.progress if progress is None else progress
        self._on_log = on_log
        self.callbacks = list(callbacks)
        self._stop_requested = False
        self.checkpoint_dir = self.out_dir / "checkpoints"
        self.last_checkpoint = self.checkpoint_dir / LAST
        self.log: RunLog | None = None

    # ------------------------------------------------------------------ set-up

    def fit(self) -> RunSummary:
        """Train until the schedule ends, ``max_steps``, ``max_minutes`` or a stop signal; return a summary."""
        ctx = dist_utils.context_from_env()
        device = dist_utils.select_device(self.config.train.device, ctx)
        created_group = dist_utils.init_process_group(ctx, device)
        try:
            return self._fit(ctx, device)
        finally:
            if created_group:
                dist_utils.destroy_process_group()

    def _fit(self, ctx: dist_utils.DistContext, device: torch.device) -> RunSummary:
        cfg = self.config
        self.ctx, self.device = ctx, device
        self._start_time = time.monotonic()
        self.clock = TrainingClock()
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

        checkpoint = self._read_resume_checkpoint()
        torch.manual_seed(cfg.seed)

        method = self._method if self._method is not None else build_method(cfg)
        if ctx.enabled:
            convert_sync_batchnorm(method)
        method.to(device)
        method.train()
        dist_utils.broadcast_module(method)
        self.method = method
        self.params = [p for _, p in trainable_parameters(method, method.teacher)]
        self.optimizer = build_optimizer(method, cfg.optim, frozen=method.teacher)
        self.precision = Precision(self._agree_on_precision(), device)

        split = self._split if self._split is not None else open_training_split(cfg)
        self.data_steps_per_epoch = self._data_steps_per_epoch(split)
        self.loader = build_training_loader(method, split, cfg, self.device, rank=ctx.rank, world_size=ctx.world_size)

        self.position = RunPosition(world_size=ctx.world_size)
        self._last_saved: int | None = None
        if checkpoint is not None:
            self._restore(checkpoint)
        # A resumed run keeps the schedule it started with (fitted to the first call's budget, if it was).
        self._fitted = checkpoint is not None
        self._set_horizon(self.position.total_steps or self._planned_steps())
        if ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out_dir / "config.yaml")
            if checkpoint is not None:
                truncate_metrics(self.out_dir / "metrics.jsonl", self.step)
        return self._train()

    @property
    def step(self) -> int:
        return self.position.step

    def _clock(self) -> float:
        """This call's training seconds on ``train.budget_clock`` (callbacks excluded): what the budget counts."""
        return self.clock.read(self.config.train.budget_clock)

    def _training_time(self, last: bool) -> TrainingTime:
        """Training so far over all calls of the run: the checkpoint's totals plus this call's clocks."""
        wall = self.position.train_wall_s + self.clock.wall_s()
        cpu = self.position.train_cpu_s + self.clock.cpu_s()
        return TrainingTime(wall, cpu, cpu if self.config.train.budget_clock == "cpu" else wall, last)

    def _read_resume_checkpoint(self) -> dict[str, Any] | None:
        if not self.resume:
            if self.last_checkpoint.exists():
                raise TrainingError(
                    f"{self.out_dir} already holds a run ({self.last_checkpoint}); pass --resume to continue it "
                    "or choose another --out"
                )
            return None
        if not self.last_checkpoint.exists():
            self._say(f"no checkpoint in {self.checkpoint_dir}; starting from step 0")
            return None
        checkpoint = load_checkpoint(self.last_checkpoint)
        differences = config_differences(self._saved_config(checkpoint["config"]), self.config.to_dict())
        if differences:
            raise CheckpointError(
                f"{self.last_checkpoint} belongs to a run with another config; keys that differ (saved -> now):\n  "
                + "\n  ".join(differences)
                + "\nresume with the run's own config (omit --config to reuse it) or start a new --out"
            )
        return checkpoint

    def _saved_config(self, saved: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint's config as this version reads it: a key added since the run was written takes its
        default (which keeps the earlier behaviour), so resuming an older run is not refused for keys it never had;
        a key this version no longer knows stays, so the refusal names it."""
        try:
            return config_from_dict(saved, label=str(self.last_checkpoint)).to_dict()
        except ConfigError:
            return saved

    def _agree_on_precision(self) -> str:
        """Resolve ``train.precision`` on rank 0 and share it, so a timing-based choice cannot split the ranks."""
        name = resolve_precision(self.config.train.precision, self.device)
        code = torch.tensor([_PRECISION_CODES.index(name)], device=self.device)
        dist_utils.broadcast_tensors([code])
        return _PRECISION_CODES[int(code.item())]

    def _data_steps_per_epoch(self, split: PointSplit) -> int:
        cfg = self.config
        try:
            return steps_per_epoch(len(split), cfg.optim.batch_size, self.ctx.world_size, cfg.optim.accumulate)
        except TrainingError as error:
            raise TrainingError(
                f"data {cfg.data.source!r} (split {cfg.data.split!r}) is too small: {error}; lower "
                "optim.batch_size or optim.accumulate, or use more data"
            ) from None

    def _planned_steps(self) -> int:
        """The schedule's length before any budget fitting: ``train.schedule_steps`` or ``optim.epochs`` epochs."""
        cfg = self.config
        if cfg.train.schedule_steps is not None:
            return cfg.train.schedule_steps
        return cfg.optim.epochs * self.data_steps_per_epoch

    def _set_horizon(self, total: int) -> None:
        """Make ``total`` the schedule's length: LR, weight decay, EMA and temperature schedules span it.

        With ``optim.epochs`` counted in data epochs, one schedule epoch is one pass over the data; a schedule whose
        length was set (``train.schedule_steps``, or fitted to the budget) has ``optim.epochs`` equal parts instead,
        so epoch-denominated warm-ups keep their share of it.
        """
        cfg = self.config
        self.total_steps = total
        data_based = cfg.train.schedule_steps is None and not cfg.train.fit_schedule_to_budget
        self.schedule_steps_per_epoch = (
            self.data_steps_per_epoch if data_based else max(1, round(total / cfg.optim.epochs))
        )
        self.position.total_steps = total
        self.schedules = build_schedules(cfg.optim, total, self.schedule_steps_per_epoch)
        self.target_steps = cfg.train.max_steps if cfg.train.max_steps is not None else total
        self.optimizer_step = OptimizerStep(
            self.method, self.optimizer, self.params, self.precision, self.schedules, self.device,
            cfg.optim.accumulate, cfg.optim.grad_clip,
        )

    def _fit_to_budget(self, step_time: float, deadline: float) -> None:
        """Shorten the schedule so that it ends inside the time budget at the measured ``step_time`` (all ranks
        agree: rank 0's estimate is broadcast). Only ever shortens: the preset's length is the upper bound."""
        remaining = max(0.0, (deadline - self._clock()) * _BUDGET_MARGIN - _RESERVE_STEPS * step_time)
        fitted = torch.tensor([self.step + int(remaining / max(step_time, 1e-9))], device=self.device)
        dist_utils.broadcast_tensors([fitted])
        total = max(self.step + 1, int(fitted.item()))
        if total < self.total_steps:
            self._say(
                f"fitted the schedule to the time budget: {total} steps instead of {self.total_steps} "
                f"({step_time:.3f} s per step measured since step {self._pace_from})"
            )
            self._set_horizon(total)
            self.log.set_total(self.target_steps)

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        position = restore_training_state(checkpoint, self.method, self.optimizer, self.precision.scaler)
        if position.world_size != self.ctx.world_size:
            # Same share of the epoch, counted in this run's per-process batches; not bitwise reproducible.
            position.batch_in_epoch = position.batch_in_epoch * position.world_size // self.ctx.world_size
            self._say(
                f"resuming a {position.world_size}-process run with {self.ctx.world_size}: data order and per-step "
                "randomness continue approximately, not bitwise"
            )
            position.world_size = self.ctx.world_size
        if position.batch_in_epoch >= self.data_steps_per_epoch * self.config.optim.accumulate:
            position.epoch, position.batch_in_epoch = position.epoch + 1, 0
        self.position = position
        self._last_saved = position.step
        self._say(f"resumed from {self.last_checkpoint} at step {position.step} (epoch {position.epoch})")

    # ------------------------------------------------------------------ loop

    def _micro_batches(self) -> Iterator[dict[str, Any]]:
        """This process's micro-batches from the saved position on, ``accumulate`` per optimiser step."""
        per_epoch = self.data_steps_per_epoch * self.config.optim.accumulate
        position = self.position
        while True:
            sampler = self.loader.sampler
            sampler.set_epoch(position.epoch)
            sampler.start_at(position.batch_in_epoch)
            iterator = iter(self.loader)
            for _ in range(position.batch_in_epoch, per_epoch):
                batch = next(iterator)
                position.batch_in_epoch += 1
                if position.batch_in_epoch == per_epoch:
                    position.epoch, position.batch_in_epoch = position.epoch + 1, 0
                yield batch

    def _train(self) -> RunSummary:
        cfg, ctx = self.config, self.ctx
        start_step = self.step
        if self.step >= self.target_steps:
            self._say(f"nothing to do: the run is already at step {self.step} of {self.target_steps}")
            return self._summary(start_step, None, self._natural_end_reason())

        # The clock started with this call, so the budget's deadline is its length on that clock.
        deadline = 60.0 * cfg.train.max_minutes if cfg.train.max_minutes is not None else None
        self.log = RunLog(
            self.out_dir, enabled=ctx.is_main, progress=self._progress_enabled, tensorboard=cfg.train.tensorboard,
            total=self.target_steps, initial=self.step, deadline=deadline, clock=self._clock, on_log=self._on_log,
        )
        self._say(self._plan(cfg))
        guard = DivergenceGuard(self.device)
        samples_per_step = cfg.optim.batch_size * cfg.optim.accumulate * ctx.world_size
        calibration = cfg.train.calibration_steps
        fit_budget = cfg.train.fit_schedule_to_budget and deadline is not None and not self._fitted
        if self.step == 0 and ctx.is_main:
            self._run_callbacks(last=False)
        last_loss: float | None = None
        step_time = 0.0
        reason = None
        batches = self._micro_batches()
        try:
            with StopSignals() as signals:
                while self.step < self.target_steps:
                    step_start = self._clock()
                    info = StepInfo(self.step, self.total_steps, self.schedule_steps_per_epoch)
                    result = self.optimizer_step(batches, info, cfg.seed, ctx.rank)
                    self.position.step += 1
                    guard.observe(self.step, result.loss, result.grad_norm if self.precision.scaler is None else None)
                    values = {"loss": result.loss, **result.logs}
                    if result.grad_norm is not None:
                        values["grad_norm"] = result.grad_norm
                    self.log.step_done(values, samples_per_step)
                    self.position.skipped_samples += result.skipped
                    step_time = self._clock() - step_start
                    if fit_budget:
                        self._pace(start_step, calibration, deadline)

                    reason = self._should_stop(signals, deadline, step_time)
                    if reason or self.step % cfg.train.log_every == 0 or self.step == self.target_steps:
                        guard.check(self._last_good_path(), self._last_saved)
                        last_loss = self.log.flush(self.step, self._schedule_values()).get("loss")
                    if ctx.is_main:
                        self._run_callbacks(last=reason == "time_budget" or self.step == self.target_steps)
                    if reason or self.step % cfg.train.checkpoint_every == 0:
                        guard.check(self._last_good_path(), self._last_saved)
                        self._save_checkpoint(last_loss)
                    if reason:
                        break
                reason = reason or self._natural_end_reason()
                if self._last_saved != self.step:
                    guard.check(self._last_good_path(), self._last_saved)
                    self._save_checkpoint(last_loss)
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if is_out_of_memory(error):
                raise TrainingError(self._oom_message()) from None
            raise
        finally:
            batches.close()
            self.loader = None  # shuts the persistent data-loader workers down
            self.log.close()
        dist_utils.barrier()
        if self.position.skipped_samples:
            self._say(f"skipped {self.position.skipped_samples} unreadable sample(s) (data.skip_bad_samples)")
        return self._summary(start_step, last_loss, reason)

    def _pace(self, start_step: int, every: int, deadline: float) -> None:
        """Every ``every`` steps, re-fit the schedule to the budget at the mean step time since this call's first
        step (which pays for start-up and is left out), so a machine that slows down mid-run still finishes."""
        now = self._clock()
        if self.step - start_step == 1:
            self._pace_start, self._pace_from = now, self.step
        elif (self.step - self._pace_from) % every == 0:
            self._fit_to_budget((now - self._pace_start) / (self.step - self._pace_from), deadline)

    def _plan(self, cfg: Config) -> str:
        """One line saying what this call will do (the first thing a user reads)."""
        source = "the given split" if self._split is not None else f"{cfg.data.source} ({cfg.data.split})"
        fitted = " (to be fitted to the time budget)" if cfg.train.fit_schedule_to_budget and not self._fitted else ""
        budget = ""
        if cfg.train.max_minutes is not None:
            unit = "CPU-minutes of this process" if cfg.train.budget_clock == "cpu" else "minutes"
            budget = f"; budget {cfg.train.max_minutes:g} {unit}"
        return (
            f"{type(self.method).__name__} on {source}: steps {self.step} -> {self.target_steps} of a "
            f"{self.total_steps}-step schedule{fitted} ({self.data_steps_per_epoch} per epoch; "
            f"{cfg.optim.batch_size} shapes x {cfg.optim.accumulate} accumulation x {self.ctx.world_size} "
            f"process(es) per step), {self.device}, {self.precision.name}, {self.loader.num_workers} data worker(s); "
            f"run folder {self.out_dir}{budget}"
        )

    def _schedule_values(self) -> dict[str, Any]:
        return {
            "epoch": round(self.step / self.data_steps_per_epoch, 4),
            "lr": self.schedules.lr(self.step - 1),
            "wd": self.schedules.weight_decay(self.step - 1),
            "elapsed_s": self._elapsed(),
            **({"skipped_samples": self.position.skipped_samples} if self.position.skipped_samples else {}),
        }

    def _run_callbacks(self, last: bool) -> None:
        """Each callback's metrics, logged with the training time they follow (``train_wall_min`` and
        ``train_cpu_min``, callbacks excluded); the callbacks' own time is left off every budget clock."""
        if not self.callbacks:
            return
        now = self._training_time(last)
        spent = {"train_wall_min": round(now.wall_s / 60.0, 4), "train_cpu_min": round(now.cpu_s / 60.0, 4)}
        with self.clock.excluded():
            for callback in self.callbacks:
                results = callback.on_step_end(self.step, self.method, now)
                if results:
                    self.log.write({"step": self.step, **spent, **results})
                    self._say(f"step {self.step}: " + ", ".join(f"{k}={v:.4g}" for k, v in results.items()))

    def request_stop(self) -> None:
        """Ask a running :meth:`fit` (e.g. in a GUI's worker thread) to stop after its current step, with a
        checkpoint, as SIGINT/SIGTERM do in the main thread."""
        self._stop_requested = True

    def _should_stop(self, signals: StopSignals, deadline: float | None, step_time: float) -> str | None:
        """``interrupted`` / ``time_budget`` / None, agreed by all ranks (rank 0's clock decides the budget).

        A single process decides every step without touching the device. Several processes must agree through a
        collective, which also waits for the step's GPU work, so they do it only every ``log_every`` steps (when
        logging synchronises anyway) and look that many steps ahead for the time budget.
        """
        every = self.config.train.log_every if self.ctx.enabled else 1
        if self.step % every and self.step < self.target_steps:
            return None
        out_of_time = deadline is not None and self._clock() + every * step_time >= deadline
        interrupted = signals.requested or self._stop_requested
        if self.ctx.enabled:
            flags = torch.tensor([float(interrupted), float(out_of_time and self.ctx.is_main)], device=self.device)
            interrupted, out_of_time = (bool(v) for v in dist_utils.all_reduce_max(flags).tolist())
        if interrupted:
            return "interrupted"
        if out_of_time and self.step < self.target_steps:
            return "time_budget"
        return None

    def _natural_end_reason(self) -> str:
        cut_short = self.config.train.max_steps is not None and self.target_steps < self.total_steps
        return "max_steps" if cut_short else "completed"

    # ------------------------------------------------------------------ files and messages

    def _say(self, message: str) -> None:
        if self.log is not None:
            self.log.say(message)
        elif dist_utils.is_main():
            print(message, file=sys.stderr)

    def _elapsed(self) -> float:
        return self.position.elapsed_s + time.monotonic() - self._start_time

    def _last_good_path(self) -> Path | None:
        return self.last_checkpoint if self._last_saved is not None else None

    def _save_checkpoint(self, last_loss: float | None) -> None:
        if self.ctx.is_main:
            now = self._training_time(last=False)
            position = dataclasses.replace(
                self.position, elapsed_s=self._elapsed(), train_wall_s=now.wall_s, train_cpu_s=now.cpu_s
            )
            state = training_state(
                position, self.config.to_dict(), self.method, self.method.teacher_encoder(), self.optimizer,
                self.precision.scaler, {"loss": last_loss, "precision": self.precision.name},
            )
            atomic_save(state, self.last_checkpoint)
            keep_step_copy(self.checkpoint_dir, self.step, self.config.train.keep_checkpoints)
        self._last_saved = self.step

    def _oom_message(self) -> str:
        cfg = self.config
        half = max(1, cfg.optim.batch_size // 2)
        return (
            f"out of memory on {self.device} at step {self.step} with optim.batch_size={cfg.optim.batch_size} "
            f"shapes per process of data.num_points={cfg.data.num_points} points. Shrink the batch: "
            f"optim.batch_size={half} optim.accumulate={cfg.optim.accumulate * 2} keeps the effective batch "
            "(exactly, unless the model has BatchNorm layers, which normalise each micro-batch on its own); "
            "or use fewer points (data.num_points, and the method's crop point counts such as "
            "dcglr.global_points / dcglr.local_points), or a smaller encoder (encoder.preset)"
        )

    def _summary(self, start_step: int, loss: float | None, reason: str) -> RunSummary:
        return RunSummary(
            out_dir=self.out_dir,
            steps=self.step,
            steps_this_run=self.step - start_step,
            total_steps=self.total_steps,
            final_loss=loss,
            stopped_reason=reason,
            checkpoint=self.last_checkpoint if self.last_checkpoint.exists() else None,
            metrics=self.out_dir / "metrics.jsonl",
            config=self.out_dir / "config.yaml",
            elapsed_s=self._elapsed(),
            skipped_samples=self.position.skipped_samples,
            precision=self.precision.name,
            device=str(self.device),
        )


def _validate(config: Config) -> None:
    """Range checks the schema cannot express; each names its key."""
    checks = [
        ("optim.batch_size", config.optim.batch_size >= 1, ">= 1"),
        ("optim.accumulate", config.optim.accumulate >= 1, ">= 1"),
        ("optim.epochs", config.optim.epochs >= 1, ">= 1"),
        ("optim.lr", config.optim.lr > 0, "> 0"),
        ("train.log_every", config.train.log_every >= 1, ">= 1"),
        ("train.checkpoint_every", config.train.checkpoint_every >= 1, ">= 1"),
        ("train.keep_checkpoints", config.train.keep_checkpoints >= 0, ">= 0"),
        ("train.threads", config.train.threads >= 0, ">= 0"),
        ("train.max_steps", config.train.max_steps is None or config.train.max_steps >= 0, ">= 0"),
        ("train.max_minutes", config.train.max_minutes is None or config.train.max_minutes > 0, "> 0"),
        ("train.schedule_steps", config.train.schedule_steps is None or config.train.schedule_steps >= 1, ">= 1"),
        ("train.calibration_steps", config.train.calibration_steps >= 1, ">= 1"),
    ]
    for key, ok, rule in checks:
        if not ok:
            raise ConfigError(f"{key} must be {rule}")


def open_training_split(config: Config) -> PointSplit:
    """The split ``config.data`` names (synthetic sources with their count and seed): what a run trains on."""
    options: dict[str, Any] = {}
    if config.data.source.startswith("synthetic:"):
        options = {"count": config.data.synthetic_count, "seed": config.data.synthetic_seed}
    source = open_dataset(config.data.source, config.data.format, **options)
    return source.split(config.data.split)


def build_training_loader(
    method: Method, split: PointSplit, config: Config, device: torch.device, *, rank: int = 0, world_size: int = 1
) -> torch.utils.data.DataLoader:
    """The loader a run draws its micro-batches from: the method's own (scene methods) or the engine's loader of
    object views. Public so that a benchmark times exactly the batches a run sees, in the same order."""
    pin_memory = device.type == "cuda"
    own = method.build_loader(
        split, config, rank=rank, world_size=world_size, seed=config.seed, num_workers=config.data.num_workers,
        pin_memory=pin_memory,
    )
    if own is not None:
        return own
    return build_loader(
        split,
        method.view_transform(),
        batch_size=config.optim.batch_size,
        seed=config.seed,
        rank=rank,
        world_size=world_size,
        num_workers=config.data.num_workers,
        skip_bad_samples=config.data.skip_bad_samples,
        pin_memory=pin_memory,
    )


def pretrain(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    *,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    progress: bool | None = None,
    on_log: LogCallback | None = None,
    callbacks: Sequence[Callback] = (),
) -> RunSummary:
    """Pretrain ``config`` into ``out_dir`` (the CLI's ``pretrain`` and the demo's entry point).

    ``max_steps`` / ``max_minutes`` override ``train.max_steps`` / ``train.max_minutes`` for this call (run
    control: they never change the schedules and may differ on resume; with ``train.fit_schedule_to_budget`` the
    first call's budget sets the schedule's length). ``on_log`` gets each metrics record; ``callbacks`` run after
    every optimiser step.
    """
    train = dataclasses.replace(
        config.train,
        max_steps=config.train.max_steps if max_steps is None else max_steps,
        max_minutes=config.train.max_minutes if max_minutes is None else max_minutes,
    )
    config = config.replace(train=train)
    return Trainer(config, out_dir, resume, progress=progress, on_log=on_log, callbacks=callbacks).fit()


def resume_config(out_dir: str | Path) -> Config:
    """The config a run folder's last checkpoint was trained with (for ``--resume`` without ``--config``)."""
    path = Path(out_dir) / "checkpoints" / LAST
    return config_from_dict(load_checkpoint(path)["config"], label=str(path))
