"""Pretraining throughput of each method on the same encoder and machine: the training part of ``pointdistill bench``
on chosen presets and data.

    python benchmarks/method_throughput.py [--configs dcglr-vit-tiny asymdsd-vit-tiny ...] [--steps 5] [--data PATH]
                                           [--threads N]

Every config is measured in its own process at the preset's batch size and precision, on the same data, by
:func:`pointdistill.bench.training.measure_training` (its docstring defines every column: data and compute time
per step, data and FPS/k-NN shares, shapes/s, achieved GFLOP/s, peak memory). ``pointdistill bench`` runs the same
measurement on the shipped presets' own data and adds the share of the matmul peak.

Timings depend on whatever else runs on the machine: nothing here is asserted; report the load with the numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pointdistill.bench.child import run_in_child
from pointdistill.bench.training import TrainingSettings, measure_training

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "modelnet40_1024_f16.npz"
DEFAULT_CONFIGS = ("dcglr-vit-tiny", "asymdsd-vit-tiny", "asymdsd-cls-vit-tiny", "asymdsd-mpm-vit-tiny")
COLUMNS = ("config", "batch", "precision", "data_ms", "compute_ms", "data_share", "geometry_share", "shapes_per_s",
           "achieved_gflops", "peak_memory_mb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_file() else "synthetic:shapes")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per config (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    overrides = (f"data.source={args.data}", f"train.threads={args.threads}")
    settings = TrainingSettings(steps=args.steps, warmup=1, overrides=overrides)
    print(f"data: {args.data}; {args.steps} timed steps per config\n")
    print("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS), flush=True)
    for name in args.configs:
        row = run_in_child(name, measure_training, name, settings)
        cells = (f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k]) for k in COLUMNS)
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
