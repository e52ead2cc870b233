"""One process with T threads against T data-parallel processes with one thread each, at the same global batch.

    python benchmarks/threads_vs_processes.py [--configs asymdsd-vit-tiny dcglr-vit-tiny] [--cores 2] [--steps 16]
        [--data ../shared/data/modelnet40_1024_f16.npz] [--out runs/threads]

For each config: ``pointdistill pretrain`` for ``--steps`` optimiser steps as (a) one process with ``train.threads``
= ``--cores`` and the preset's batch, and (b) ``torchrun --nproc_per_node CORES`` (gloo) with one thread per process
and the batch split between them (``optim.batch_size`` / CORES each, so an optimiser step sees the same shapes).
The pace is the wall time between the first and the last line of ``metrics.jsonl`` (``train.log_every`` = 4) over
the steps between them, so start-up, the first step and the process launch are left out; the data pipeline runs in
the training processes (``data.num_workers=0``). Nothing is asserted: run it on a quiet machine and read the load
printed with each row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pointdistill.config import load_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "modelnet40_1024_f16.npz"
LOG_EVERY = 4


def pace(metrics: Path) -> float:
    """Wall seconds per optimiser step between the first and the last logged step."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    if len(rows) < 2:
        raise SystemExit(f"{metrics}: fewer than two logged steps; raise --steps")
    first, last = rows[0], rows[-1]
    return (last["elapsed_s"] - first["elapsed_s"]) / (last["step"] - first["step"])


def run(launcher: list[str], out: Path, overrides: list[str], threads: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        done = subprocess.run([*launcher, "-m", "pointdistill", "pretrain", "--out", str(out), *overrides],
                              env=env, stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"pretraining failed (exit {done.returncode}); see {log}")
    return pace(out / "metrics.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["asymdsd-vit-tiny", "dcglr-vit-tiny"])
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "threads")
    args = parser.parse_args()
    print(f"| config | 1 process x {args.cores} threads (s/step) | {args.cores} processes x 1 thread (s/step) "
          "| speed-up | load before |\n|---|---:|---:|---:|---:|", flush=True)
    for name in args.configs:
        config = load_config(name)
        batch = config.optim.batch_size
        if batch % args.cores:
            raise SystemExit(f"{name}: batch {batch} does not split over {args.cores} processes")
        common = ["--config", name, "--data", args.data, f"train.max_steps={args.steps}",
                  f"train.log_every={LOG_EVERY}", "train.progress=false", "train.tensorboard=false",
                  "data.num_workers=0", "online_eval.enabled=false", "train.checkpoint_every=1000000"]
        load = os.getloadavg()[0]
        threaded = run([sys.executable], args.out / f"{name}-threads", [*common, f"train.threads={args.cores}"],
                       args.cores)
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.cores}"]
        parallel = run(torchrun, args.out / f"{name}-processes",
                       [*common, "train.threads=1", f"optim.batch_size={batch // args.cores}"], 1)
        print(f"| {name} | {threaded:.3f} | {parallel:.3f} | {threaded / parallel:.2f}x | {load:.2f} |", flush=True)


if __name__ == "__main__":
    main()
