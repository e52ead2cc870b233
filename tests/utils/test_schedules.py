import pickle

import pytest

from pointdistill.errors import TrainingError
from pointdistill.utils.schedules import (
    cosine_schedule,
    epochs_to_steps,
    linear_warmup,
    momentum_schedule,
    steps_per_epoch,
)


def test_cosine_warmup_is_linear_from_start_to_base():
    schedule = cosine_schedule(1.0, 0.0, total_steps=110, warmup_steps=10, warmup_start=0.2)
    assert schedule(0) == pytest.approx(0.2)
    assert schedule(5) == pytest.approx(0.6)
    assert schedule(10) == pytest.approx(1.0)


def test_cosine_endpoints_midpoint_and_clamp():
    schedule = cosine_schedule(1e-3, 1e-6, total_steps=110, warmup_steps=10)
    assert schedule(10) == pytest.approx(1e-3)
    assert schedule(60) == pytest.approx((1e-3 + 1e-6) / 2)
    assert schedule(110) == pytest.approx(1e-6)
    assert schedule(10_000) == pytest.approx(1e-6)
    values = [schedule(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_cosine_rejects_bad_arguments():
    with pytest.raises(ValueError):
        cosine_schedule(1.0, 0.0, total_steps=0)
    with pytest.raises(ValueError):
        cosine_schedule(1.0, 0.0, total_steps=5, warmup_steps=6)
    with pytest.raises(ValueError):
        cosine_schedule(1.0, 0.0, total_steps=5)(-1)


def test_momentum_goes_from_m0_to_one():
    schedule = momentum_schedule(0.996, 1.0, total_steps=1000)
    assert schedule(0) == pytest.approx(0.996)
    assert schedule(500) == pytest.approx(0.998)
    assert schedule(1000) == pytest.approx(1.0)
    assert 0.996 < schedule(1) < schedule(999) < 1.0


def test_linear_warmup_then_constant():
    schedule = linear_warmup(0.04, 0.07, warmup_steps=30)
    assert schedule(0) == pytest.approx(0.04)
    assert schedule(15) == pytest.approx(0.055)
    assert schedule(30) == pytest.approx(0.07)
    assert schedule(10_000) == pytest.approx(0.07)
    assert linear_warmup(0.04, 0.07, warmup_steps=0)(0) == pytest.approx(0.07)


def test_schedules_pickle():
    schedule = cosine_schedule(1.0, 0.0, 100, 10)
    assert pickle.loads(pickle.dumps(schedule))(37) == schedule(37)


def test_steps_per_epoch_divides_by_world_size_and_accumulation():
    assert steps_per_epoch(1000, batch_size=10) == 100
    assert steps_per_epoch(1000, batch_size=10, world_size=2) == 50
    assert steps_per_epoch(1000, batch_size=10, world_size=2, accumulate=2) == 25
    # 1001 samples / 2 processes = 500; / 10 = 50 micro-batches; / 3 = 16 full steps.
    assert steps_per_epoch(1001, batch_size=10, world_size=2, accumulate=3) == 16
    # Without drop_last: ceil(1001 / 2) = 501 -> 51 micro-batches -> 17 steps.
    assert steps_per_epoch(1001, batch_size=10, world_size=2, accumulate=3, drop_last=False) == 17


def test_steps_per_epoch_errors_when_no_step_fits():
    with pytest.raises(TrainingError, match="need at least 40"):
        steps_per_epoch(39, batch_size=10, world_size=2, accumulate=2)
    with pytest.raises(ValueError):
        steps_per_epoch(100, batch_size=10, world_size=0)


def test_epochs_to_steps_rounds():
    assert epochs_to_steps(10, 25) == 250
    assert epochs_to_steps(0.3, 25) == 8
    assert epochs_to_steps(1.5, 10) == 15
