"""Hooks into a run for code the engine must not depend on (the online probe of the evaluation layer, a GUI).

A callback sees the method after each optimiser step and returns extra metrics to log (or nothing). Only rank 0
calls callbacks, so a callback may read files and print freely; it must not run collectives.
"""

from __future__ import annotations

from typing import Any, Protocol

from pointdistill.methods.base import Method


class Callback(Protocol):
    def on_step_end(self, step: int, method: Method) -> dict[str, Any] | None:
        """After optimiser step ``step`` (counted from 1): metrics for ``metrics.jsonl``, or None."""
