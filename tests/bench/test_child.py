"""A measurement in its own process: its value comes back, its errors come back as one BenchError."""

from __future__ import annotations

import os

import pytest

from pointdistill.bench.child import BenchError, run_in_child
from pointdistill.errors import ConfigError


def square(value: int) -> dict:
    return {"square": value * value, "pid": os.getpid()}


def bad_input() -> None:
    raise ConfigError("encoder.preset: 'huge' is not a preset")


def die() -> None:
    os._exit(3)


def test_the_value_comes_back_from_another_process() -> None:
    result = run_in_child("square", square, 7)
    assert result["square"] == 49 and result["pid"] != os.getpid()


def test_errors_name_the_measurement() -> None:
    with pytest.raises(BenchError, match="^tiny: encoder.preset: 'huge' is not a preset$"):
        run_in_child("tiny", bad_input)
    with pytest.raises(BenchError, match=r"died \(exit code 3\)"):
        run_in_child("killed", die)
