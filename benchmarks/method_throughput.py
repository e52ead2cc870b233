"""Pretraining throughput of each method on the same encoder and machine: shapes/s, data-pipeline share, peak memory.

    python benchmarks/method_throughput.py [--configs dcglr-vit-tiny asymdsd-vit-tiny ...] [--steps 5] [--data PATH]

Every config is measured in its own spawned child process (so that its peak memory is its own), at the preset's
batch size and precision, on the same data:

- ``data ms/step``: building the micro-batches of one step in the training process (``num_workers=0``): reading,
  crops, masks, FPS / k-NN grouping done on the data side, collation; mean over ``--steps`` batches after one
  warm-up batch.
- ``step ms``: one optimiser step of the real engine (forward, backward, update, EMA, statistics) less its data
  time: the engine runs ``--steps`` serial steps (``num_workers=0``, after one warm-up step) and the mean step time
  from its ``metrics.jsonl`` minus ``data ms/step`` is the compute.
- ``data share``: data / (data + step): the fraction of a serial step spent in the pipeline, i.e. what the
  data-loader workers must hide; with ``num_workers`` >= 1 a run is pipeline-bound when it exceeds 50%.
- ``shapes/s``: ``batch / (step)`` when the workers keep up (data share < 50%), else ``batch / data``.
- ``peak RSS``: the child's ``ru_maxrss`` (model, optimiser, activations, data in-process).

Timings depend on whatever else runs on the machine: nothing here is asserted; report the load with the numbers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "modelnet40_1024_f16.npz"
DEFAULT_CONFIGS = ("dcglr-vit-tiny", "asymdsd-vit-tiny", "asymdsd-cls-vit-tiny", "asymdsd-mpm-vit-tiny")


def measure(config_name: str, data: str, steps: int, threads: int) -> dict[str, Any]:
    """Time ``steps`` batches of the data pipeline alone, then ``steps`` serial optimiser steps of the real engine
    (after one warm-up step); the step time is the serial time less the data time."""
    from pointdistill.config import load_config
    from pointdistill.data.loader import build_loader
    from pointdistill.data.registry import open_dataset
    from pointdistill.methods.registry import build_method
    from pointdistill.training.engine import Trainer

    if threads:
        torch.set_num_threads(threads)
    overrides = [f"data.source={data}", "data.num_workers=0", "train.progress=false", "train.tensorboard=false",
                 "train.log_every=1", f"train.max_steps={steps + 1}", "train.checkpoint_every=100000"]
    config = load_config(config_name, overrides)
    options = {"count": config.data.synthetic_count, "seed": config.data.synthetic_seed} if data.startswith(
        "synthetic:") else {}
    split = open_dataset(config.data.source, config.data.format, **options).split(config.data.split)
    loader = build_loader(split, build_method(config).view_transform(), config.optim.batch_size, config.seed,
                          num_workers=0)
    iterator = iter(loader)
    next(iterator)
    start = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    data_s = (time.perf_counter() - start) / steps
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, folder, split=split)
        trainer.fit()
        records = [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]
    batch = config.optim.batch_size * config.optim.accumulate
    timed = [record["shapes_per_s"] for record in records if record["step"] > 1]
    serial_s = sum(batch / rate for rate in timed) / len(timed)
    step_s = max(serial_s - data_s * config.optim.accumulate, 1e-9)
    data_total = data_s * config.optim.accumulate
    return {
        "config": config_name,
        "method": config.method,
        "encoder": f"{config.encoder.name}-{config.encoder.preset}",
        "batch": batch,
        "precision": trainer.precision.name,
        "threads": torch.get_num_threads(),
        "data ms/step": 1e3 * data_total,
        "step ms": 1e3 * step_s,
        "data share %": 100 * data_total / serial_s,
        "shapes/s": batch / max(step_s, data_total),
        "peak RSS GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def _child(queue: Any, *args: Any) -> None:
    queue.put(measure(*args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_file() else "synthetic:shapes")
    parser.add_argument("--steps", type=int, default=5, help="timed batches and steps per config")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    rows = []
    for name in args.configs:
        queue = context.Queue()
        child = context.Process(target=_child, args=(queue, name, args.data, args.steps, args.threads))
        child.start()
        row = queue.get()
        child.join()
        rows.append(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    header = list(rows[0])
    print(f"\ndata: {args.data}; {args.steps} timed steps per config\n")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k]) for k in header) + " |")


if __name__ == "__main__":
    main()
