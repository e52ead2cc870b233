"""The training loop with a tiny stand-in method: files, schedules, accumulation, budgets, guards, bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from pointdistill.config import Config, load_config
from pointdistill.data.base import ArraySplit
from pointdistill.errors import DataError, TrainingError
from pointdistill.losses.entropy import marginal_entropy, target_entropy
from pointdistill.methods.base import Method, StepInfo
from pointdistill.training.checkpoint import load_checkpoint
from pointdistill.methods.ema import ema_update, make_teacher
from pointdistill.training.engine import Trainer
from pointdistill.training.optim import DECAY_KEY


class JitterPoints:
    """Picklable view transform: 24 random points of the cloud, jittered by the sample's own stream."""

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
        points = sample["points"]
        chosen = rng.choice(len(points), 24, replace=False)
        return {"points": (points[chosen] + rng.normal(0, 0.01, (24, 3))).astype(np.float32)}


class ToyMethod(Method):
    """A linear-ish student/teacher pair with DINO-style targets; can be told to diverge or run out of memory."""

    def __init__(
        self, dropout: float = 0.0, nan_at: int | None = None, oom: bool = False, step_seconds: float = 0.0
    ) -> None:
        super().__init__()
        self.student = nn.Sequential(nn.Linear(3, 16), nn.LayerNorm(16), nn.Dropout(dropout), nn.Linear(16, 8))
        self.teacher = make_teacher(self.student)
        self.nan_at, self.oom, self.step_seconds = nan_at, oom, step_seconds

    def view_transform(self) -> JitterPoints:
        return JitterPoints()

    def training_step(self, batch: dict[str, torch.Tensor], info: StepInfo) -> tuple[torch.Tensor, dict[str, Any]]:
        if self.oom:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        time.sleep(self.step_seconds)
        points = batch["points"]
        student = self.student(points).mean(dim=1)
        with torch.no_grad():
            targets = torch.softmax(self.teacher(points.flip(1)).mean(dim=1) / 0.1, dim=-1)
        loss = -(targets * torch.log_softmax(student / 0.2, dim=-1)).sum(-1).mean()
        if self.nan_at is not None and info.step + 1 >= self.nan_at:
            loss = loss * float("nan")
        return loss, {"teacher_entropy": target_entropy(targets), "marginal_entropy": marginal_entropy(targets)}

    def update_teacher(self, info: StepInfo) -> None:
        ema_update(self.teacher, self.student, 0.9)

    def teacher_encoder(self) -> nn.Module:
        return self.teacher


def toy_split(count: int = 48, seed: int = 0) -> ArraySplit:
    points = np.random.default_rng(seed).normal(size=(count, 40, 3)).astype(np.float32)
    return ArraySplit({"points": points}, origin="toy")


def toy_config(*overrides: str) -> Config:
    base = [
        "optim.batch_size=4",
        "optim.epochs=2",
        "optim.warmup_epochs=0.5",
        "optim.lr=0.01",
        "train.log_every=2",
        "train.checkpoint_every=5",
        "train.precision=fp32",
        "train.progress=false",
        "train.tensorboard=false",
        "data.num_workers=0",
    ]
    return load_config(None, base + list(overrides))


def run(tmp_path: Path, *overrides: str, method: Method | None = None, **kwargs: Any):
    trainer = Trainer(toy_config(*overrides), tmp_path, method=method or ToyMethod(), split=toy_split(), **kwargs)
    return trainer, trainer.fit()


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_fit_writes_config_metrics_and_checkpoint(tmp_path: Path) -> None:
    _, summary = run(tmp_path)
    assert summary.stopped_reason == "completed"
    assert summary.steps == summary.total_steps == 2 * 12  # 48 shapes / batch 4 = 12 steps per epoch
    assert (tmp_path / "config.yaml").is_file()
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == list(range(2, 25, 2))
    for record in records:
        assert {"step", "epoch", "loss", "lr", "wd", "teacher_entropy", "marginal_entropy", "shapes_per_s"} <= set(
            record
        )
        assert math.isfinite(record["loss"]) and 0.0 <= record["teacher_entropy"] <= math.log(8) + 1e-6
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert checkpoint["step"] == 24 and checkpoint["epoch"] == 2 and checkpoint["batch_in_epoch"] == 0
    assert summary.final_loss == pytest.approx(records[-1]["loss"])


def test_schedules_follow_global_steps_and_skip_decay_on_biases(tmp_path: Path) -> None:
    trainer, _ = run(tmp_path)
    records = {r["step"]: r for r in read_metrics(tmp_path)}
    # warm-up of 0.5 epoch = 6 steps: logged step s reports the lr of step index s-1
    assert records[2]["lr"] == pytest.approx(0.01 * 1 / 6)
    assert records[24]["lr"] < records[12]["lr"] < records[8]["lr"]
    assert records[24]["wd"] > records[2]["wd"]
    groups = {g[DECAY_KEY]: g for g in trainer.optimizer.param_groups}
    assert groups[False]["weight_decay"] == 0.0 and groups[True]["weight_decay"] > 0
    assert all(p.ndim == 2 for p in groups[True]["params"])


def test_max_steps_cuts_the_run_without_changing_the_schedule(tmp_path: Path) -> None:
    _, full = run(tmp_path / "full")
    _, short = run(tmp_path / "short", "train.max_steps=6")
    assert short.stopped_reason == "max_steps" and short.steps == 6 and short.total_steps == full.total_steps
    full_lr = {r["step"]: r["lr"] for r in read_metrics(tmp_path / "full")}
    assert all(full_lr[r["step"]] == r["lr"] for r in read_metrics(tmp_path / "short"))


def test_schedule_steps_gives_a_short_run_a_complete_schedule(tmp_path: Path) -> None:
    _, summary = run(tmp_path, "train.schedule_steps=8")
    assert summary.steps == summary.total_steps == 8 and summary.stopped_reason == "completed"
    lrs = [r["lr"] for r in read_metrics(tmp_path)]
    # 8 steps over optim.epochs=2 -> 4 steps per schedule epoch; warm-up 0.5 epoch = 2 steps, then the cosine
    assert lrs[0] == pytest.approx(0.005) and lrs[1:] == sorted(lrs[1:], reverse=True) and lrs[-1] < 0.1 * 0.01


def test_accumulation_matches_one_large_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    method_a = ToyMethod()
    method_b = ToyMethod()
    method_b.load_state_dict(method_a.state_dict())
    run(tmp_path / "big", "optim.batch_size=8", "train.max_steps=3", method=method_a)
    run(tmp_path / "acc", "optim.batch_size=4", "optim.accumulate=2", "train.max_steps=3", method=method_b)
    for a, b in zip(method_a.parameters(), method_b.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"loss became nan at step 7.*last good checkpoint: .*last.pt \(step 5\)"):
        run(tmp_path, "train.log_every=100", method=ToyMethod(nan_at=7))
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 5
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def test_out_of_memory_says_how_to_shrink_the_batch(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"out of memory.*optim.batch_size=2 optim.accumulate=2.*num_points"):
        run(tmp_path, method=ToyMethod(oom=True))


def test_dataset_too_small_for_one_batch(tmp_path: Path) -> None:
    trainer = Trainer(toy_config("optim.batch_size=64"), tmp_path, method=ToyMethod(), split=toy_split(10))
    with pytest.raises(TrainingError, match=r"too small.*10 samples"):
        trainer.fit()


def test_existing_run_is_not_overwritten_without_resume(tmp_path: Path) -> None:
    run(tmp_path, "train.max_steps=2")
    with pytest.raises(TrainingError, match="already holds a run.*--resume"):
        run(tmp_path, "train.max_steps=2")


def test_time_budget_stops_cleanly_with_a_checkpoint(tmp_path: Path) -> None:
    _, summary = run(tmp_path, "train.max_minutes=0.0001", "optim.epochs=50")
    assert summary.stopped_reason == "time_budget" and 0 < summary.steps < summary.total_steps
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == summary.steps


def test_schedule_fitted_to_the_budget_completes_inside_it(tmp_path: Path) -> None:
    overrides = ("train.schedule_steps=2000", "train.max_minutes=0.15", "train.fit_schedule_to_budget=true",
                 "train.calibration_steps=3", "train.log_every=1000", "train.checkpoint_every=1000")
    trainer, summary = run(tmp_path, *overrides, method=ToyMethod(step_seconds=0.02))
    assert summary.stopped_reason == "completed"
    assert 5 < summary.total_steps < 2000 and summary.steps == summary.total_steps  # schedule shrunk, then finished
    assert summary.elapsed_s < 9.0
    saved = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert saved["total_steps"] == summary.total_steps  # --resume keeps the fitted schedule
    metrics = read_metrics(tmp_path)
    last_lr = trainer.schedules.lr(summary.total_steps - 1)
    assert metrics[-1]["lr"] == pytest.approx(last_lr) and last_lr < 0.05 * 0.01  # the cosine ran to its end


def test_on_log_and_step_numbered_checkpoints(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    run(tmp_path, "train.checkpoint_every=4", "train.keep_checkpoints=2", on_log=seen.append)
    assert [r["step"] for r in seen] == [r["step"] for r in read_metrics(tmp_path)]
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["last.pt", "step_00000020.pt", "step_00000024.pt"]
    assert load_checkpoint(tmp_path / "checkpoints" / "step_00000020.pt")["step"] == 20


def test_sigterm_stops_after_the_step_with_a_checkpoint(tmp_path: Path) -> None:
    def terminate(record: dict[str, Any]) -> None:
        if record["step"] == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    _, summary = run(tmp_path, on_log=terminate)
    # the signal arrives during step 4's logging: step 5 finishes, then the run checkpoints and stops
    assert summary.stopped_reason == "interrupted" and summary.steps == 5
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 5
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is removed after the run


def test_request_stop_from_another_thread_of_control(tmp_path: Path) -> None:
    def stop(record: dict[str, Any]) -> None:
        trainer.request_stop()

    trainer = Trainer(toy_config(), tmp_path, method=ToyMethod(), split=toy_split(), on_log=stop)
    summary = trainer.fit()
    assert summary.stopped_reason == "interrupted" and summary.steps == 3  # asked at step 2's log
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 3


class FlakySplit(ArraySplit):
    """Every 5th sample is an unreadable file."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index % 5 == 0:
            raise DataError(f"shape_{index}.ply", "truncated file")
        return super().__getitem__(index)


def test_bad_samples_are_skipped_counted_and_logged(tmp_path: Path) -> None:
    split = FlakySplit(toy_split().arrays)
    summary = Trainer(toy_config("data.skip_bad_samples=true"), tmp_path, method=ToyMethod(), split=split).fit()
    assert summary.stopped_reason == "completed" and summary.skipped_samples == 2 * 10  # 10 bad shapes per epoch
    assert read_metrics(tmp_path)[-1]["skipped_samples"] == 20
    with pytest.raises(DataError, match="shape_.*truncated"):
        Trainer(toy_config(), tmp_path / "strict", method=ToyMethod(), split=split).fit()


def test_tensorboard_mirrors_the_metrics_when_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scalars: list[tuple[str, float, int]] = []

    class SummaryWriter:
        def __init__(self, log_dir: str) -> None:
            assert log_dir == str(tmp_path / "tensorboard")

        def add_scalar(self, name: str, value: float, step: int) -> None:
            scalars.append((name, value, step))

        def close(self) -> None:
            scalars.append(("closed", 0.0, 0))

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = SummaryWriter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    run(tmp_path, "train.tensorboard=true", "train.max_steps=4")
    assert [(n, s) for n, _, s in scalars if n == "loss"] == [("loss", 2), ("loss", 4)]
    assert scalars[-1][0] == "closed"


def test_cpu_budget_clock_counts_process_time_not_wall_time(tmp_path: Path, monkeypatch) -> None:
    from pointdistill.training import clock

    frozen = iter(range(10**6))
    monkeypatch.setitem(clock.BUDGET_CLOCKS, "cpu", lambda: 0.0)  # a process that never gets the CPU
    _, summary = run(tmp_path / "a", "train.max_minutes=0.0001", "train.budget_clock=cpu", "train.max_steps=6")
    assert summary.stopped_reason == "max_steps" and summary.steps == 6  # wall time ran far past 6 ms
    monkeypatch.setitem(clock.BUDGET_CLOCKS, "cpu", lambda: 100.0 * next(frozen))  # 100 CPU-s per look
    _, summary = run(tmp_path / "b", "train.max_minutes=5", "train.budget_clock=cpu", "train.max_steps=50")
    assert summary.stopped_reason == "time_budget" and summary.steps < 10


class SlowProbe:
    """A callback that costs ``seconds`` per call, sleeping (wall time) or spinning (CPU time), and logs a value."""

    def __init__(self, seconds: float = 0.0, burn: bool = False) -> None:
        self.seconds, self.burn = seconds, burn
        self.calls: list[tuple[int, Any]] = []

    def on_step_end(self, step: int, method: Method, training: Any) -> dict[str, float]:
        self.calls.append((step, training))
        if self.burn:
            start = time.process_time()
            while time.process_time() - start < self.seconds:
                pass
        else:
            time.sleep(self.seconds)
        return {"probe/value": float(step)}


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_callback_time_is_not_training_time(tmp_path: Path, clock: str) -> None:
    steps = ("train.max_steps=20", f"train.budget_clock={clock}")
    run(tmp_path / "warm-up", "train.max_steps=1")  # the first run of a process pays seconds of one-off set-up
    run(tmp_path / "plain", *steps, callbacks=[SlowProbe()])  # the training alone sets the scale (load varies)
    training_s = 60.0 * read_metrics(tmp_path / "plain")[-1][f"train_{clock}_min"]
    budget_s = max(3.0 * training_s, 0.5)
    probe = SlowProbe(2.0 * budget_s / 21, burn=clock == "cpu")  # 21 probes cost twice the budget
    _, summary = run(tmp_path / "probed", *steps, f"train.max_minutes={budget_s / 60.0}", callbacks=[probe])
    assert summary.stopped_reason == "max_steps" and summary.steps == 20
    records = [r for r in read_metrics(tmp_path / "probed") if "probe/value" in r]
    assert [r["step"] for r in records] == list(range(21))  # step 0 is the random initialisation
    minutes = [r[f"train_{clock}_min"] for r in records]
    assert minutes == sorted(minutes) and minutes[-1] < budget_s / 60.0
    assert [step for step, t in probe.calls if t.last] == [20]


def test_training_time_continues_over_a_resumed_run(tmp_path: Path) -> None:
    run(tmp_path, "train.max_steps=3", callbacks=[SlowProbe()])
    first = load_checkpoint(tmp_path / "checkpoints" / "last.pt")["metrics"]
    assert first["train_cpu_s"] > 0 and first["train_wall_s"] > 0
    probe = SlowProbe()
    Trainer(toy_config("train.max_steps=5"), tmp_path, resume=True, method=ToyMethod(), split=toy_split(),
            callbacks=[probe]).fit()
    assert [step for step, _ in probe.calls] == [4, 5]  # no second step-0 probe on resume
    assert probe.calls[0][1].cpu_s > first["train_cpu_s"] and probe.calls[0][1].wall_s > first["train_wall_s"]
    records = [r for r in read_metrics(tmp_path) if "probe/value" in r]
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4, 5]
    assert [r["train_wall_min"] for r in records] == sorted(r["train_wall_min"] for r in records)


class RandomProbe(SlowProbe):
    """A callback that draws from the global torch generator, as a probe with random sampling would."""

    def on_step_end(self, step: int, method: Method, training: Any) -> dict[str, float]:
        return {"probe/value": float(torch.rand(5).sum())}


def seeded_toy(dropout: float) -> ToyMethod:
    torch.manual_seed(0)
    return ToyMethod(dropout=dropout)


def test_probing_does_not_change_the_training(tmp_path: Path) -> None:
    run(tmp_path / "plain", "train.max_steps=6", method=seeded_toy(0.5))
    run(tmp_path / "probed", "train.max_steps=6", method=seeded_toy(0.5), callbacks=[RandomProbe()])
    plain = load_checkpoint(tmp_path / "plain" / "checkpoints" / "last.pt")["method"]
    probed = load_checkpoint(tmp_path / "probed" / "checkpoints" / "last.pt")["method"]
    assert all(torch.equal(plain[k], probed[k]) for k in plain)
