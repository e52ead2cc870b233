"""Training throughput of one method per encoder size and precision, against this machine's matmul peak.

    python benchmarks/train_throughput.py [--config dcglr-vit-tiny] [--presets tiny s] [--precisions fp32 bf16]
                                          [--batch-size 8] [--steps 3] [--device cpu]

The measurements are those of ``pointdistill bench`` (:mod:`pointdistill.bench.peak` for the peak,
:func:`pointdistill.bench.training.measure_training` for a row, each in its own process); this script only varies
``encoder.preset`` and ``train.precision`` over one config, which the bench (presets at ``auto`` precision) does
not. "% peak" divides the achieved FLOP/s by the peak of the precision of the row.
"""

from __future__ import annotations

import argparse

from pointdistill.api import resolve_device
from pointdistill.bench.child import run_in_child
from pointdistill.bench.peak import measure_peaks
from pointdistill.bench.training import TrainingSettings, measure_training

COLUMNS = ("encoder", "precision", "batch", "step_ms", "shapes_per_s", "gflop_per_step", "achieved_gflops", "% peak")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="dcglr-vit-tiny", help="preset the runs start from")
    parser.add_argument("--presets", nargs="+", default=["tiny", "s"], help="encoder presets to measure")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--batch-size", type=int, default=8, help="shapes per step")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()
    device = resolve_device(args.device)
    peaks = measure_peaks(device)
    print(f"device {device}; matmul peak: " + ", ".join(f"{p} {v:.1f} GFLOP/s" for p, v in peaks.items()))
    print("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS), flush=True)
    for preset in args.presets:
        for precision in args.precisions:
            overrides = (f"encoder.preset={preset}", f"train.precision={precision}",
                         f"optim.batch_size={args.batch_size}")
            settings = TrainingSettings(steps=args.steps, warmup=args.warmup, device=str(device), overrides=overrides)
            row = run_in_child(f"{preset} {precision}", measure_training, args.config, settings)
            row["% peak"] = 100 * row["achieved_gflops"] / peaks[precision]
            print("| " + " | ".join(f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k]) for k in COLUMNS)
                  + " |", flush=True)


if __name__ == "__main__":
    main()
