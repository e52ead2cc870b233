"""Training throughput of DCGLR per encoder size and precision, against this machine's matmul peak.

For each (encoder preset, precision) the real engine trains a few steps on the embedded synthetic shapes (data
workers included, as in a real run) and reports shapes per second from ``metrics.jsonl``, skipping warm-up steps.
One extra step runs under ``FlopCounterMode`` to count the matmul FLOPs of a training step (forward + backward of
student and teacher; element-wise work is not counted), which gives the achieved FLOP/s. The peak is a large
square matmul in the same dtype with the same thread count, so "% of peak" says how much of the machine's dense
throughput a training step turns into useful matmul work.

    python benchmarks/train_throughput.py --presets tiny s --precisions fp32 bf16 --steps 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from pointdistill.config import load_config
from pointdistill.data.loader import build_loader
from pointdistill.methods.base import StepInfo
from pointdistill.training.engine import Trainer
from pointdistill.utils.precision import Precision

PRECISIONS = ("fp32", "bf16", "fp16")


def matmul_peak(precision: str, device: torch.device, size: int = 1024, seconds: float = 1.0) -> float:
    """Best observed FLOP/s of a ``size`` x ``size`` linear layer in ``precision``, through the same autocast path
    the model takes (on CPU a plain bf16 ``matmul`` and an autocast ``linear`` dispatch to different kernels)."""
    x = torch.randn(size, size, device=device)
    weight = torch.randn(size, size, device=device)
    context = Precision(precision, device).autocast

    def run() -> None:
        with torch.no_grad(), context():
            torch.nn.functional.linear(x, weight)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def step_flops(trainer: Trainer) -> float:
    """Matmul FLOPs of one training step (forward and backward) of ``trainer``'s method on one fresh batch."""
    config = trainer.config
    method = trainer.method
    split = _split(config)
    loader = build_loader(split, method.view_transform(), config.optim.batch_size, config.seed, num_workers=0)
    batch = {k: v.to(trainer.device) if torch.is_tensor(v) else v for k, v in next(iter(loader)).items()}
    info = StepInfo(0, trainer.total_steps, trainer.schedule_steps_per_epoch)
    with FlopCounterMode(display=False) as counter:
        with Precision(trainer.precision.name, trainer.device).autocast():
            loss, _ = method.training_step(batch, info)
        loss.backward()
    method.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def _split(config):
    from pointdistill.data.registry import open_dataset

    source = open_dataset(config.data.source, count=config.data.synthetic_count, seed=config.data.synthetic_seed)
    return source.split(config.data.split)


def measure(preset: str, precision: str, args: argparse.Namespace) -> dict[str, float | str]:
    overrides = [
        f"encoder.preset={preset}",
        f"optim.batch_size={args.batch_size}",
        f"train.precision={precision}",
        f"train.max_steps={args.warmup + args.steps}",
        f"train.device={args.device}",
        f"data.num_workers={args.workers}",
        f"data.synthetic_count={max(64, args.batch_size * (args.warmup + args.steps + 1))}",
        "train.log_every=1",
        "train.progress=false",
        "train.tensorboard=false",
        "train.checkpoint_every=100000",
    ]
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(load_config(args.config, overrides), folder)
        trainer.fit()
        records = [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]
    timed = [r["shapes_per_s"] for r in records if r["step"] > args.warmup]
    shapes_per_s = len(timed) / sum(1.0 / s for s in timed)  # harmonic mean = total shapes / total time
    flops = step_flops(trainer)
    achieved = flops * shapes_per_s / args.batch_size
    return {
        "encoder": preset,
        "precision": precision,
        "batch": args.batch_size,
        "shapes/s": shapes_per_s,
        "s/step": args.batch_size / shapes_per_s,
        "GFLOP/step": flops / 1e9,
        "GFLOP/s": achieved / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="dcglr-vit-tiny", help="preset the runs start from")
    parser.add_argument("--presets", nargs="+", default=["tiny", "s"], help="encoder presets to measure")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=PRECISIONS)
    parser.add_argument("--batch-size", type=int, default=8, help="shapes per step")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps")
    parser.add_argument("--workers", type=int, default=-1, help="data.num_workers (-1 = auto)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peaks = {p: matmul_peak(p, device) for p in args.precisions}
    print(f"device {device}, {torch.get_num_threads()} threads; matmul peak: "
          + ", ".join(f"{p} {v / 1e9:.1f} GFLOP/s" for p, v in peaks.items()))
    rows = []
    for preset in args.presets:
        for precision in args.precisions:
            row = measure(preset, precision, args)
            row["% peak"] = 100 * row["GFLOP/s"] * 1e9 / peaks[precision]
            rows.append(row)
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    header = list(rows[0])
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k]) for k in header) + " |")


if __name__ == "__main__":
    main()
