"""The training engine: one loop for every self-distillation method.

A :class:`~pointdistill.methods.base.Method` says how a batch of views becomes a loss and how its teacher follows
the student; the :class:`Trainer` does everything else: device and precision, data order, optimiser and schedules,
gradient accumulation and clipping, data-parallel gradient averaging, logging, checkpoints, resume, budgets and
guards.

Reproducibility is by construction, not by replaying state:

- the data order and every sample's views are functions of ``(seed, epoch, index)`` (the EpochSampler and
  ViewDataset of :mod:`pointdistill.data.loader`), and the data position is saved as ``(epoch, batch_in_epoch)``;
- the torch generator is reseeded at every optimiser step from ``(seed, rank, step)``, so model-side randomness
  (drop-path, on-device augmentation) of step S is the same whether the run was resumed before it or not, differs
  across ranks, and needs no per-rank RNG state in the checkpoint;
- every schedule is a function of the global optimiser step.

So ``N`` steps, a checkpoint, then ``N`` more steps in a new process give bitwise the weights of ``2N`` steps in
one process (CPU, same number of processes).
"""

from __future__ import annotations

import dataclasses
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from pointdistill.config import Config, config_from_dict, save_config
from pointdistill.data.base import PointSplit
from pointdistill.errors import CheckpointError, ConfigError, TrainingError
from pointdistill.methods.base import Method, StepInfo
from pointdistill.training import distributed as dist_utils
from pointdistill.training.checkpoint import (
    FORMAT,
    LAST,
    VERSION,
    atomic_save,
    capture_rng,
    config_differences,
    keep_step_copy,
    load_checkpoint,
    restore_rng,
)
from pointdistill.training.metrics import MetricsWriter, RunningMeans, truncate_metrics
from pointdistill.training.optim import build_optimizer, build_schedules, trainable_parameters
from pointdistill.training.precision import Precision, resolve_precision
from pointdistill.training.progress import ProgressBar
from pointdistill.training.schedules import steps_per_epoch

LogCallback = Callable[[dict[str, Any]], None]
_PRECISION_CODES = ("fp32", "bf16", "fp16")


@dataclass
class RunSummary:
    """What a call to :meth:`Trainer.fit` did and where its files are.

    ``stopped_reason``: ``completed`` (the schedule's last step), ``max_steps``, ``time_budget`` or
    ``interrupted`` (SIGINT/SIGTERM or :meth:`Trainer.request_stop`; a checkpoint was written first).
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


def _step_seed(seed: int, rank: int, step: int) -> int:
    """A 63-bit torch seed that depends on (seed, rank, step) only."""
    low, high = (int(v) for v in np.random.SeedSequence([seed, rank, step]).generate_state(2))
    return ((high << 32) | low) & (2**63 - 1)


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class _DivergenceGuard:
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


class _StopSignals:
    """First SIGINT/SIGTERM asks for a clean stop (checkpoint, then exit); a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopSignals":
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


class Trainer:
    """Trains ``config.method`` on ``config.data`` into ``out_dir``.

    The run folder gets ``config.yaml`` (the resolved config), ``metrics.jsonl`` and ``checkpoints/last.pt``.
    ``resume=True`` continues from ``checkpoints/last.pt`` when there is one (a run with a different config,
    run-control keys aside, is refused), and starts from scratch when there is none, so a job script can always
    pass it. Without ``resume``, a folder that already holds a checkpoint is refused rather than overwritten.

    ``method`` and ``split`` replace the ones the config would build (tests, notebooks); ``progress`` overrides
    ``train.progress``; ``on_log`` receives every metrics record on rank 0 (a GUI's progress display), and
    :meth:`request_stop` ends the run cleanly from another thread (a GUI's stop button).
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
    ) -> None:
        _validate(config)
        self.config = config
        self.out_dir = Path(out_dir)
        self.resume = resume
        self._method = method
        self._split = split
        self._progress_enabled = config.train.progress if progress is None else progress
        self._on_log = on_log
        self._stop_requested = False
        self.checkpoint_dir = self.out_dir / "checkpoints"
        self.last_checkpoint = self.checkpoint_dir / LAST

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
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

        checkpoint = self._read_resume_checkpoint()
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)

        method = self._method if self._method is not None else _build_method(cfg)
        method.to(device)
        method.train()
        dist_utils.broadcast_module(method)
        self.method = method
        self.params = [p for _, p in trainable_parameters(method, method.teacher)]
        self.optimizer = build_optimizer(method, cfg.optim, frozen=method.teacher)
        self.precision = Precision(self._agree_on_precision(), device)

        split = self._split if self._split is not None else _open_split(cfg)
        self.data_steps_per_epoch = self._data_steps_per_epoch(split)
        self.loader = self._build_loader(split, method)
        self.total_steps, self.schedule_steps_per_epoch = self._horizon()
        self.schedules = build_schedules(cfg.optim, self.total_steps, self.schedule_steps_per_epoch)
        self.target_steps = cfg.train.max_steps if cfg.train.max_steps is not None else self.total_steps

        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self._elapsed_before = 0.0
        self.skipped_samples = 0
        self._last_saved: int | None = None
        if checkpoint is not None:
            self._restore(checkpoint)
        if ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out_dir / "config.yaml")
            if checkpoint is not None:
                truncate_metrics(self.out_dir / "metrics.jsonl", self.step)
        return self._train()

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
        differences = config_differences(checkpoint["config"], self.config.to_dict())
        if differences:
            raise CheckpointError(
                f"{self.last_checkpoint} belongs to a run with another config; keys that differ (saved -> now):\n  "
                + "\n  ".join(differences)
                + "\nresume with the run's own config (omit --config to reuse it) or start a new --out"
            )
        return checkpoint

    def _agree_on_precision(self) -> str:
        """Resolve ``train.precision`` on rank 0 and share it, so a timing-based choice cannot split the ranks."""
        name = resolve_precision(self.config.train.precision, self.device)
        code = torch.tensor([_PRECISION_CODES.index(name)], device=self.device)
        dist_utils.broadcast_tensors([code])
        return _PRECISION_CODES[int(code.item())]

    def _build_loader(self, split: PointSplit, method: Method) -> torch.utils.data.DataLoader:
        from pointdistill.data.loader import build_loader

        cfg = self.config
        return build_loader(
            split,
            method.view_transform(),
            batch_size=cfg.optim.batch_size,
            seed=cfg.seed,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
            num_workers=cfg.data.num_workers,
            skip_bad_samples=cfg.data.skip_bad_samples,
            pin_memory=self.device.type == "cuda",
        )

    def _data_steps_per_epoch(self, split: PointSplit) -> int:
        cfg = self.config
        try:
            return steps_per_epoch(len(split), cfg.optim.batch_size, self.ctx.world_size, cfg.optim.accumulate)
        except TrainingError as error:
            raise TrainingError(
                f"data {cfg.data.source!r} (split {cfg.data.split!r}) is too small: {error}; lower "
                "optim.batch_size or optim.accumulate, or use more data"
            ) from None

    def _horizon(self) -> tuple[int, int]:
        """(total schedule steps, steps per schedule epoch); see TrainConfig on ``schedule_steps``."""
        cfg = self.config
        if cfg.train.schedule_steps is None:
            return cfg.optim.epochs * self.data_steps_per_epoch, self.data_steps_per_epoch
        total = cfg.train.schedule_steps
        return total, max(1, round(total / cfg.optim.epochs))

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        self.method.load_state_dict(checkpoint["method"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.precision.scaler is not None and "scaler" in checkpoint:
            self.precision.scaler.load_state_dict(checkpoint["scaler"])
        if "rng" in checkpoint:
            restore_rng(checkpoint["rng"])
        self.step = int(checkpoint["step"])
        self.epoch = int(checkpoint.get("epoch", 0))
        self.batch_in_epoch = int(checkpoint.get("batch_in_epoch", 0))
        saved_world = int(checkpoint.get("world_size", self.ctx.world_size))
        if saved_world != self.ctx.world_size:
            # Same share of the epoch, counted in this run's per-process batches; not bitwise reproducible.
            self.batch_in_epoch = self.batch_in_epoch * saved_world // self.ctx.world_size
            self._say(
                f"resuming a {saved_world}-process run with {self.ctx.world_size}: data order and per-step "
                "randomness continue approximately, not bitwise"
            )
        per_epoch = self.data_steps_per_epoch * self.config.optim.accumulate
        if self.batch_in_epoch >= per_epoch:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        summary = checkpoint.get("metrics", {})
        self._elapsed_before = float(summary.get("elapsed_s", 0.0))
        self.skipped_samples = int(summary.get("skipped_samples", 0))
        self._last_saved = self.step
        self._say(f"resumed from {self.last_checkpoint} at step {self.step} (epoch {self.epoch})")

    # ------------------------------------------------------------------ loop

    def _micro_batches(self) -> Iterator[dict[str, Any]]:
        """This process's micro-batches from the saved position on, ``accumulate`` per optimiser step."""
        per_epoch = self.data_steps_per_epoch * self.config.optim.accumulate
        while True:
            sampler = self.loader.sampler
            sampler.set_epoch(self.epoch)
            sampler.start_at(self.batch_in_epoch)
            iterator = iter(self.loader)
            for _ in range(self.batch_in_epoch, per_epoch):
                batch = next(iterator)
                self.batch_in_epoch += 1
                if self.batch_in_epoch == per_epoch:
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                yield batch

    def _train(self) -> RunSummary:
        cfg, ctx = self.config, self.ctx
        start_step = self.step
        if self.step >= self.target_steps:
            self._say(f"nothing to do: the run is already at step {self.step} of {self.target_steps}")
            return self._summary(start_step, None, self._natural_end_reason(), None)

        deadline = self._start_time + 60.0 * cfg.train.max_minutes if cfg.train.max_minutes is not None else None
        metrics = self._open_metrics() if ctx.is_main else None
        bar = ProgressBar(self.target_steps, self.step, ctx.is_main and self._progress_enabled, deadline)
        self._bar = bar
        self._say(self._plan(cfg))
        for note in metrics.notes if metrics else []:
            self._say(note)
        guard = _DivergenceGuard(self.device)
        means = RunningMeans()
        online = self._online_probe()
        shapes_per_step = cfg.optim.batch_size * cfg.optim.accumulate * ctx.world_size
        window_start, window_steps = time.monotonic(), 0
        last_loss: float | None = None
        step_time = 0.0
        reason = None
        batches = self._micro_batches()
        try:
            with _StopSignals() as signals:
                while self.step < self.target_steps:
                    step_start = time.monotonic()
                    loss, grad_norm, logs, skipped = self._optimizer_step(batches)
                    self.step += 1
                    guard.observe(self.step, loss, grad_norm if self.precision.scaler is None else None)
                    means.add({"loss": loss, **({"grad_norm": grad_norm} if grad_norm is not None else {}), **logs})
                    self.skipped_samples += skipped
                    window_steps += 1
                    bar.update()
                    step_time = time.monotonic() - step_start

                    reason = self._should_stop(signals, deadline, step_time)
                    if reason or self.step % cfg.train.log_every == 0 or self.step == self.target_steps:
                        guard.check(self._last_good_path(), self._last_saved)
                        record = self._record(means.read(), shapes_per_step * window_steps, window_start)
                        last_loss = record.get("loss")
                        self._emit(record, metrics, bar)
                        window_start, window_steps = time.monotonic(), 0
                    if online is not None and self.step % cfg.online_eval.every_steps == 0:
                        self._run_online_probe(online, metrics)
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
            if _is_out_of_memory(error):
                raise TrainingError(self._oom_message()) from None
            raise
        finally:
            batches.close()
            self.loader = None  # shuts the persistent data-loader workers down
            bar.close()
            if metrics is not None:
                metrics.close()
        dist_utils.barrier()
        if self.skipped_samples:
            self._say(f"skipped {self.skipped_samples} unreadable sample(s) (data.skip_bad_samples)")
        return self._summary(start_step, last_loss, reason, self.last_checkpoint)

    def _plan(self, cfg: Config) -> str:
        """One line saying what this call will do (the first thing a user reads)."""
        source = "the given split" if self._split is not None else f"{cfg.data.source} ({cfg.data.split})"
        return (
            f"{type(self.method).__name__} on {source}: steps {self.step} -> {self.target_steps} of a "
            f"{self.total_steps}-step schedule ({self.data_steps_per_epoch} per epoch; {cfg.optim.batch_size} shapes x "
            f"{cfg.optim.accumulate} accumulation x {self.ctx.world_size} process(es) per step), {self.device}, "
            f"{self.precision.name}, {self.loader.num_workers} data worker(s); run folder {self.out_dir}"
        )

    def _optimizer_step(
        self, batches: Iterator[dict[str, Any]]
    ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, Any], int]:
        """One optimiser step over ``accumulate`` micro-batches; returns (loss, grad norm, method logs, skipped)."""
        cfg, method, optimizer = self.config, self.method, self.optimizer
        scaler = self.precision.scaler
        torch.manual_seed(_step_seed(cfg.seed, self.ctx.rank, self.step))
        self.schedules.apply(optimizer, self.step)
        info = StepInfo(self.step, self.total_steps, self.schedule_steps_per_epoch)
        total_loss = torch.zeros((), device=self.device)
        logs: dict[str, Any] = {}
        skipped = 0
        for _ in range(cfg.optim.accumulate):
            batch = next(batches)
            if "skipped" in batch:
                skipped += int(batch["skipped"].sum())
            batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
            with self.precision.autocast():
                loss, step_logs = method.training_step(batch, info)
            loss = loss.float()
            scaled = loss / cfg.optim.accumulate
            (scaler.scale(scaled) if scaler is not None else scaled).backward()
            total_loss += loss.detach()
            for name, value in step_logs.items():
                logs[name] = logs.get(name, 0.0) + value / cfg.optim.accumulate
        dist_utils.all_reduce_gradients(self.params)
        if scaler is not None:
            scaler.unscale_(optimizer)
        max_norm = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm) if self.params else None
        method.before_optimizer_step(info)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        method.update_teacher(info)
        if self.ctx.enabled:
            dist_utils.broadcast_module(method, buffers_only=True)
        return total_loss / cfg.optim.accumulate, grad_norm, logs, skipped

    def request_stop(self) -> None:
        """Ask a running :meth:`fit` (e.g. in a GUI's worker thread) to stop after its current step, with a
        checkpoint, as SIGINT/SIGTERM do in the main thread."""
        self._stop_requested = True

    def _should_stop(self, signals: _StopSignals, deadline: float | None, step_time: float) -> str | None:
        """``interrupted`` / ``time_budget`` / None, agreed by all ranks (rank 0's clock decides the budget).

        A single process decides every step without touching the device. Several processes must agree through a
        collective, which also waits for the step's GPU work, so they do it only every ``log_every`` steps (when
        logging synchronises anyway) and look that many steps ahead for the time budget.
        """
        every = self.config.train.log_every if self.ctx.enabled else 1
        if self.step % every and self.step < self.target_steps:
            return None
        out_of_time = deadline is not None and time.monotonic() + every * step_time >= deadline
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

    # ------------------------------------------------------------------ logging and files

    def _say(self, message: str) -> None:
        if not dist_utils.is_main():
            return
        bar = getattr(self, "_bar", None)
        if bar is not None and self._progress_enabled:
            bar.write(message)
        else:
            print(message, file=sys.stderr)

    def _open_metrics(self) -> MetricsWriter:
        tensorboard = self.out_dir / "tensorboard" if self.config.train.tensorboard else None
        return MetricsWriter(self.out_dir / "metrics.jsonl", tensorboard)

    def _record(self, means: dict[str, float], shapes: int, window_start: float) -> dict[str, Any]:
        window = max(time.monotonic() - window_start, 1e-9)
        lr, wd = self.schedules.lr(self.step - 1), self.schedules.weight_decay(self.step - 1)
        record: dict[str, Any] = {
            "step": self.step,
            "epoch": round(self.step / self.data_steps_per_epoch, 4),
            **means,
            "lr": lr,
            "wd": wd,
            "shapes_per_s": shapes / window,
            "elapsed_s": self._elapsed(),
        }
        if self.skipped_samples:
            record["skipped_samples"] = self.skipped_samples
        return record

    def _emit(self, record: dict[str, Any], metrics: MetricsWriter | None, bar: ProgressBar) -> None:
        if metrics is None:
            return
        metrics.write(record)
        bar.show(record)
        if self._on_log is not None:
            self._on_log(dict(record))

    def _online_probe(self) -> Any:
        if not (self.config.online_eval.enabled and self.ctx.is_main):
            return None
        from pointdistill.evaluation.online import OnlineProbe

        return OnlineProbe(self.config.online_eval, self.device)

    def _run_online_probe(self, probe: Any, metrics: MetricsWriter | None) -> None:
        results = probe(self.method.teacher_encoder(), self.step)
        if metrics is not None:
            metrics.write({"step": self.step, **results})
        self._say(f"step {self.step} online eval: " + ", ".join(f"{k}={v:.4g}" for k, v in results.items()))

    def _elapsed(self) -> float:
        return self._elapsed_before + time.monotonic() - self._start_time

    def _last_good_path(self) -> Path | None:
        return self.last_checkpoint if self._last_saved is not None else None

    def _save_checkpoint(self, last_loss: float | None) -> None:
        if self.ctx.is_main:
            state: dict[str, Any] = {
                "format": FORMAT,
                "version": VERSION,
                "config": self.config.to_dict(),
                "step": self.step,
                "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch,
                "world_size": self.ctx.world_size,
                "method": self.method.state_dict(),
                "encoder": self.method.teacher_encoder().state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": capture_rng(),
                "metrics": {
                    "loss": last_loss,
                    "elapsed_s": self._elapsed(),
                    "skipped_samples": self.skipped_samples,
                    "precision": self.precision.name,
                },
            }
            if self.precision.scaler is not None:
                state["scaler"] = self.precision.scaler.state_dict()
            atomic_save(state, self.last_checkpoint)
            keep_step_copy(self.checkpoint_dir, self.step, self.config.train.keep_checkpoints)
        self._last_saved = self.step

    def _oom_message(self) -> str:
        cfg = self.config
        half = max(1, cfg.optim.batch_size // 2)
        return (
            f"out of memory on {self.device} at step {self.step} with optim.batch_size={cfg.optim.batch_size} "
            f"shapes per process of data.num_points={cfg.data.num_points} points. Shrink the batch: "
            f"optim.batch_size={half} optim.accumulate={cfg.optim.accumulate * 2} keeps the effective batch; "
            "or use fewer points (data.num_points, and the method's crop point counts such as "
            "dcglr.global_points / dcglr.local_points), or a smaller encoder (encoder.preset)"
        )

    def _summary(self, start_step: int, loss: float | None, reason: str, checkpoint: Path | None) -> RunSummary:
        return RunSummary(
            out_dir=self.out_dir,
            steps=self.step,
            steps_this_run=self.step - start_step,
            total_steps=self.total_steps,
            final_loss=loss,
            stopped_reason=reason,
            checkpoint=checkpoint if checkpoint is not None else (
                self.last_checkpoint if self.last_checkpoint.exists() else None
            ),
            metrics=self.out_dir / "metrics.jsonl",
            config=self.out_dir / "config.yaml",
            elapsed_s=self._elapsed(),
            skipped_samples=self.skipped_samples,
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
        ("online_eval.every_steps", config.online_eval.every_steps >= 1, ">= 1"),
    ]
    for key, ok, rule in checks:
        if not ok:
            raise ConfigError(f"{key} must be {rule}")


def _build_method(config: Config) -> Method:
    from pointdistill.methods import build_method

    return build_method(config)


def _open_split(config: Config) -> PointSplit:
    from pointdistill.data.registry import open_dataset

    options: dict[str, Any] = {}
    if config.data.source.startswith("synthetic:"):
        options = {"count": config.data.synthetic_count, "seed": config.data.synthetic_seed}
    source = open_dataset(config.data.source, config.data.format, **options)
    return source.split(config.data.split)


def pretrain(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    *,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    progress: bool | None = None,
    on_log: LogCallback | None = None,
) -> RunSummary:
    """Pretrain ``config`` into ``out_dir`` (the CLI's ``pretrain`` and the demo's entry point).

    ``max_steps`` / ``max_minutes`` override ``train.max_steps`` / ``train.max_minutes`` for this call (run
    control: they never change the schedules and may differ on resume). ``on_log`` gets each metrics record.
    """
    train = dataclasses.replace(
        config.train,
        max_steps=config.train.max_steps if max_steps is None else max_steps,
        max_minutes=config.train.max_minutes if max_minutes is None else max_minutes,
    )
    config = dataclasses.replace(config, train=train)
    return Trainer(config, out_dir, resume, progress=progress, on_log=on_log).fit()


def resume_config(out_dir: str | Path) -> Config:
    """The config a run folder's last checkpoint was trained with (for ``--resume`` without ``--config``)."""
    path = Path(out_dir) / "checkpoints" / LAST
    return config_from_dict(load_checkpoint(path)["config"], label=str(path))
