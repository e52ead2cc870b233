"""Run one measurement in a process of its own, so that its peak memory and allocator settings are its own.

Children come from a fork server (where the platform has one) that has imported torch and the package once but
never run a torch op or touched CUDA: forking it is safe with CUDA and OpenMP, and a child starts in milliseconds
instead of re-importing torch for seconds. Elsewhere (Windows, macOS without it) children are spawned.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from typing import Any, Callable

from pointdistill.errors import PointDistillError

PRELOAD = ["torch", "pointdistill.bench.training", "pointdistill.bench.ops"]
"""Modules the fork server imports once for every child."""
_POLL_S = 1.0


class BenchError(PointDistillError):
    """A measurement failed in its child process (the message carries the child's error)."""


def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def _entry(results: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        results.put(("ok", function(*args)))
    except PointDistillError as error:  # bad input: its one line says what to change
        results.put(("error", str(error)))
    except BaseException as error:  # a bug: the parent reports it with the child's traceback
        results.put(("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))


def _last_word(results: Any, label: str, exitcode: int | None) -> tuple[str, Any]:
    """What a child that has exited left in the queue, or a BenchError when it died without a word (killed)."""
    try:
        return results.get(timeout=_POLL_S)
    except queue.Empty:
        raise BenchError(f"{label}: the measuring process died (exit code {exitcode})") from None


def run_in_child(label: str, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a fresh process; its return value (picklable), or a BenchError naming ``label``
    with the child's error, also when the child dies without one (killed for memory)."""
    context = _context()
    results = context.Queue()
    child = context.Process(target=_entry, args=(results, function, args), daemon=True)
    child.start()
    try:
        while True:
            try:
                status, value = results.get(timeout=_POLL_S)
                break
            except queue.Empty:
                if not child.is_alive():
                    status, value = _last_word(results, label, child.exitcode)
                    break
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    if status == "error":
        raise BenchError(f"{label}: {value}")
    return value
