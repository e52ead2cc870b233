"""Throughput of the geometry ops on this machine (a measurement, not a test).

    python benchmarks/ops_throughput.py [--device cpu|cuda] [--repeats 5]

Prints FPS, k-NN and full patchify timings (best of ``--repeats`` calls after a first one) for the two settings of
the brief: B=32, N=1024 -> G=64, k=32 (object pretraining) and B=1, N=16384 -> G=1024, k=32 (large clouds).
``pointdistill bench`` measures how the same ops grow with N, and their memory.
"""

from __future__ import annotations

import argparse

import torch

from pointdistill.bench.ops import best_seconds
from pointdistill.ops import farthest_point_sample, gather_points, group_patches, knn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    print(f"{'setting':<28}{'op':<10}{'ms/call':>10}{'clouds/s':>12}{'queries/s':>14}")
    for batch, n, groups, k in [(32, 1024, 64, 32), (1, 16384, 1024, 32)]:
        points = torch.rand(batch, n, 3, device=device, generator=None)
        centres = gather_points(points, farthest_point_sample(points, groups))
        setting = f"B={batch} N={n} G={groups} k={k}"
        for name, fn in [
            ("fps", lambda: farthest_point_sample(points, groups)),
            ("knn", lambda: knn(centres, points, k)),
            ("patchify", lambda: group_patches(points, groups, k)),
        ]:
            fn()
            seconds = best_seconds(fn, args.repeats, device)
            rates = f"{batch / seconds:>12.1f}{batch * groups / seconds:>14.0f}"
            print(f"{setting:<28}{name:<10}{seconds * 1e3:>10.1f}{rates}")


if __name__ == "__main__":
    main()
