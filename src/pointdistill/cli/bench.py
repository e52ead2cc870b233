"""``pointdistill bench``: measure this machine with the package and write ``bench.json`` and ``bench.md``.

:mod:`pointdistill.bench` is imported when the command runs, not when the parser is built (it pulls in torch and
every method).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

_EPILOG = """\
parts, in order:
  peak        matmul GFLOP/s in fp32 and bf16 (fp16 on CUDA), and what train.precision=auto picks
  training    per preset: shapes/s, achieved GFLOP/s and its share of the peak, data and FPS/k-NN shares of a
              step, peak memory (each preset in its own process)
  ops         FPS and k-NN time and memory at growing N, with fitted growth orders
  evaluation  frozen-feature extraction features/s and the linear-SVM protocol's wall time on ModelNet40

--quick finishes in a few minutes on 2 CPU cores: tiny presets at batch 4, one FPS / k-NN call per size, 128
shapes of features, the SVM protocol on every 64th shape of each ModelNet40 class (labelled reduced). The full run
adds the S presets, repeated FPS / k-NN timings and the whole SVM protocol (about 3 minutes on 2 CPU cores).

examples:
  pointdistill bench --quick
  pointdistill bench --out bench-gpu --device cuda
  pointdistill bench --configs dcglr-vit-s --batch-cap 0
"""


def run(args: argparse.Namespace) -> int:
    from pointdistill.bench.suite import bench_settings, run_bench

    settings = bench_settings(args.out, quick=args.quick, device=args.device, data=args.data,
                              configs=tuple(args.configs) if args.configs else None, batch_cap=args.batch_cap,
                              checkpoint=args.checkpoint)
    run_bench(settings, say=lambda line: print(line, file=sys.stderr, flush=True))
    print(settings.out / "bench.md")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure this machine: matmul peak, training throughput against it, FPS/k-NN scaling, protocol cost",
        description="Measure the package on this machine and write DIR/bench.json and DIR/bench.md.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="every part reduced: a few minutes on 2 CPU cores")
    parser.add_argument("--out", default="bench", help="output folder for bench.json and bench.md (default: bench)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--data", help="ModelNet40 (any labelled object dataset) for the evaluation part "
                                       "(default: ../shared/data/modelnet40_1024_f16.npz when it exists)")
    parser.add_argument("--configs", nargs="+", metavar="PRESET", help="training presets to measure")
    parser.add_argument("--batch-cap", type=int, default=None,
                        help="at most this many shapes per step (0: the presets' own; default 4 quick, 32 on CPU)")
    parser.add_argument("--checkpoint", default="random",
                        help="encoder of the SVM protocol timing: a checkpoint, or random dcglr-vit-tiny (default)")
    parser.set_defaults(func=run)
