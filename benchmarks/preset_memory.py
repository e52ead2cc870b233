"""Peak memory and time of a short pretraining run of every shipped preset, at the preset's default settings.

    python3 benchmarks/preset_memory.py [--data PATH] [--presets a,b] [--max-steps 2] [--limit-gib 20]

Each preset runs as ``python -m pointdistill pretrain --config P --data PATH --max-steps N train.progress=false``
in its own child process, against the ``src/`` of this checkout (``PYTHONPATH``), one after the other so that the
runs do not compete for cores or memory. One Markdown row per preset is printed as soon as it finishes.

Columns: peak RSS is the child's ``ru_maxrss`` from ``os.wait4``: the rusage of that one child (the largest of it and
its waited-for descendants, i.e. the training process; data workers are separate, smaller processes and are not
added). ``resource.getrusage(RUSAGE_CHILDREN)`` cannot be used from one parent: it is the maximum over every child
waited for so far, so the second preset would inherit the first one's peak. Wall time covers the whole process
(imports, data, model, checkpoint); s/step and shapes/s come from the last record of the run's ``metrics.jsonl``
(``shapes_per_s`` over the logged window, with the shapes per step from the run's ``config.yaml``) and read ``n/a``
when the run wrote none. Nothing about time is asserted: timings depend on whatever else shares the machine.

``--limit-gib`` kills a child whose resident memory passes the limit (sampled twice a second), so that a preset
that does not fit is reported as such instead of taking the machine down.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "modelnet10_1024_f16.npz"
GIB = 1024**3


@dataclass
class Result:
    preset: str
    status: str  # exit code, and why the run was killed if it was
    peak_gib: float
    wall_s: float
    s_per_step: float | None
    shapes_per_s: float | None


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class _Watchdog(threading.Thread):
    """Kills the child's process group past ``limit`` bytes of resident memory or ``timeout`` seconds."""

    def __init__(self, pid: int, limit: float, timeout: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.limit, self.deadline = pid, limit, time.monotonic() + timeout
        self.reason: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            if _rss_bytes(self.pid) > self.limit:
                self.reason = f"killed past {self.limit / GIB:g} GiB"
            elif time.monotonic() > self.deadline:
                self.reason = "killed at the time limit"
            if self.reason:
                os.killpg(self.pid, signal.SIGKILL)
                return


def _step_metrics(run_dir: Path) -> tuple[float | None, float | None]:
    """(seconds per step, shapes per second) from the last metrics record that has a throughput."""
    metrics, config = run_dir / "metrics.jsonl", run_dir / "config.yaml"
    if not metrics.is_file():
        return None, None
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    rates = [r["shapes_per_s"] for r in records if r.get("shapes_per_s")]
    if not rates:
        return None, None
    shapes_per_s = float(rates[-1])
    if not config.is_file():
        return None, shapes_per_s
    optim = (yaml.safe_load(config.read_text()) or {}).get("optim", {})
    shapes_per_step = optim.get("batch_size", 0) * optim.get("accumulate", 1)
    return (shapes_per_step / shapes_per_s if shapes_per_step else None), shapes_per_s


def run_preset(preset: str, data: Path, max_steps: int, work: Path, limit_gib: float, timeout_s: float) -> Result:
    run_dir = work / preset
    command = [
        sys.executable, "-m", "pointdistill", "pretrain", "--config", preset, "--data", str(data),
        "--max-steps", str(max_steps), "--out", str(run_dir), "train.progress=false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    log = (work / f"{preset}.log").open("wb")
    start = time.monotonic()
    child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    watchdog = _Watchdog(child.pid, limit_gib * GIB, timeout_s)
    watchdog.start()
    try:
        _, wait_status, usage = os.wait4(child.pid, 0)
    except BaseException:  # Ctrl-C reaches only this process: the child runs in its own session
        os.killpg(child.pid, signal.SIGKILL)
        raise
    finally:
        watchdog.done.set()
        log.close()
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(wait_status)
    status = f"{code} ({watchdog.reason})" if watchdog.reason else str(code)
    if code != 0:
        status += f", log {work / preset}.log"
    s_per_step, shapes_per_s = _step_metrics(run_dir)
    return Result(preset, status, usage.ru_maxrss * 1024 / GIB, wall, s_per_step, shapes_per_s)


def _cell(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"ModelNet10 npz (default {DEFAULT_DATA})")
    parser.add_argument("--presets", help="comma-separated subset (default: every shipped preset)")
    parser.add_argument("--max-steps", type=int, default=2)
    parser.add_argument("--limit-gib", type=float, default=20.0, help="kill a run past this resident memory")
    parser.add_argument("--timeout-min", type=float, default=30.0, help="kill a run after this many minutes")
    parser.add_argument("--work", type=Path, help="folder for the runs and their logs (default: a temporary one)")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"error: data file {args.data} not found; pass the ModelNet10 npz with --data PATH", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO / "src"))
    from pointdistill.config import available_presets

    presets = args.presets.split(",") if args.presets else available_presets()
    work = args.work or Path(tempfile.mkdtemp(prefix="preset-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{len(presets)} presets, {args.max_steps} steps each on {args.data}; runs and logs in {work}\n")
    print("| preset | peak RSS (GiB) | wall (s) | s/step | shapes/s | exit status |")
    print("|---|---:|---:|---:|---:|---|", flush=True)
    failed = 0
    for preset in presets:
        result = run_preset(preset, args.data, args.max_steps, work, args.limit_gib, 60.0 * args.timeout_min)
        failed += result.status != "0"
        print(
            f"| {result.preset} | {result.peak_gib:.2f} | {result.wall_s:.0f} | {_cell(result.s_per_step, 1)} "
            f"| {_cell(result.shapes_per_s, 2)} | {result.status} |",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
