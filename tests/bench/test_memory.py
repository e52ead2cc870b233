"""PeakMemory on CPU: the resident high-water mark is reset at the start of each block, so a block reports what
it allocated itself, not an earlier block's peak."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from pointdistill.bench.memory import PeakMemory, process_peak_mb

needs_reset = pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                                 reason="the OS does not let a process reset its resident high-water mark")


def touch(mebibytes: int) -> None:
    block = torch.ones(mebibytes * 1024**2 // 4)  # written, so every page is resident
    del block


@needs_reset
def test_a_block_reports_its_own_peak_after_a_larger_one() -> None:
    with PeakMemory(torch.device("cpu")) as large:
        touch(96)
    with PeakMemory(torch.device("cpu")) as small:
        touch(24)
    assert 88 <= large.mb <= 110
    # Its own peak, not the earlier block's; it can read below 24 MiB when the allocator reuses pages the first
    # block left resident, so only the upper bound is the property.
    assert small.mb <= 34


@needs_reset
def test_nothing_allocated_reads_near_zero() -> None:
    with PeakMemory(torch.device("cpu")) as meter:
        pass
    assert meter.mb < 2


def test_process_peak_is_at_least_the_resident_set() -> None:
    status = Path("/proc/self/status")
    if not status.is_file():
        pytest.skip("no /proc")
    resident = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS:"))
    assert process_peak_mb() >= resident / 1024 * 0.99
