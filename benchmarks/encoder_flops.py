"""FLOPs, parameters and forward+backward time of every encoder (not a test).

FLOPs are counted by :func:`pointdistill.bench.flops.encoder_forward_flops` for one forward pass (matmuls and
attention; FPS, k-NN and elementwise ops are not counted). The patch-embedding share shows why the ``tiny`` preset
uses the light mini-PointNet. Time is the median of a few forward+backward passes under bf16 autocast and in plain fp32
(on CPUs without native bf16 matmuls, such as AVX2-only ones, bf16 autocast is several times slower than fp32).

    OMP_NUM_THREADS=1 python benchmarks/encoder_flops.py [--points 1024] [--batch 1] [--device cpu] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pointdistill.bench.flops import encoder_forward_flops
from pointdistill.models import EncoderConfig, PointEncoder, build_encoder

CONFIGS = {
    "vit-tiny (light embed)": EncoderConfig(name="vit", preset="tiny"),
    "vit-tiny (standard embed)": EncoderConfig(name="vit", preset="tiny", patch_embed="standard"),
    "vit-s": EncoderConfig(name="vit", preset="s"),
    "vit-b": EncoderConfig(name="vit", preset="b"),
    "dgcnn": EncoderConfig(name="dgcnn"),
    "pointnet": EncoderConfig(name="pointnet"),
    "pct": EncoderConfig(name="pct"),
}


def time_step(model: PointEncoder, points: torch.Tensor, repeats: int, bf16: bool) -> float:
    """Median seconds of one forward+backward, under bf16 autocast or in fp32 (after one warm-up pass)."""
    device = points.device
    timings = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(points)
        out.global_feature.float().square().mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            timings.append(time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    points = torch.randn(args.batch, args.points, 3)
    print(f"B={args.batch}, N={args.points}, forward FLOPs; median fwd+bwd time on {args.device}")
    header = f"{'encoder':<28}{'params (M)':>11}{'GFLOPs':>9}{'patch embed':>13}{'bf16 (ms)':>11}{'fp32 (ms)':>11}"
    print(header)
    print("-" * len(header))
    for label, cfg in CONFIGS.items():
        model = build_encoder(cfg).train()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        total, embed = encoder_forward_flops(model, points)
        share = f"{100 * embed / total:.1f} %" if embed else "-"
        model = model.to(args.device)
        bf16, fp32 = (1e3 * time_step(model, points.to(args.device), args.repeats, low) for low in (True, False))
        print(f"{label:<28}{params:>11.2f}{total / 1e9:>9.3f}{share:>13}{bf16:>11.1f}{fp32:>11.1f}")


if __name__ == "__main__":
    main()
