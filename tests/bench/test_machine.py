"""The machine record and the CPU time of the bench's process tree."""

from __future__ import annotations

import subprocess
import sys
import time

import torch

from pointdistill.bench.machine import describe_machine, process_tree_cpu_seconds


def test_machine_record_names_what_timings_depend_on() -> None:
    machine = describe_machine(torch.device("cpu"))
    assert machine["cpu_cores"] >= 1 and machine["torch"] == torch.__version__
    assert machine["torch_threads"] == torch.get_num_threads() and isinstance(machine["cpu_bf16_flags"], list)


def test_cpu_time_counts_a_child_while_it_runs() -> None:
    """The child burns a CPU-second and then waits, alive and unreaped: only /proc can see its time."""
    before = process_tree_cpu_seconds()
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.process_time() + 1.0\n"
                              "while time.process_time() < end: pass\nimport sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while process_tree_cpu_seconds() - before < 1.0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert process_tree_cpu_seconds() - before >= 1.0
        assert child.poll() is None
    finally:
        child.communicate(b"")
