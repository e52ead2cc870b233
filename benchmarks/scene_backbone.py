"""Throughput and peak memory of the scene encoder presets on this machine (a measurement, not a test).

    python benchmarks/scene_backbone.py [--presets tiny,sonata,ptv3-base] [--sizes 20000,80000,320000]
                                        [--device cpu|cuda] [--repeats 2] [--max-memory-gb 8] [--threads N] [--quick]

For every preset and size: points/s of a forward pass (eval, no grad) and of forward + backward (train mode, a sum of
the full up-cast as the loss), and the peak memory the forward + backward adds (model and input excluded), measured
by :class:`pointdistill.bench.memory.PeakMemory`: on CUDA torch's peak allocated bytes, on CPU the growth of the
process's resident high-water mark, reset before each size, with freed memory returned to the OS at once. Inputs
are synthetic rooms (floor, four walls and boxes, points on the surfaces at about one point per grid cell, 6
features: colour + normal). A size whose estimated memory exceeds ``--max-memory-gb`` is skipped. ``--quick`` runs the tiny preset at 20k and 80k points with one repeat.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from pointdistill.bench.memory import PeakMemory, return_freed_memory
from pointdistill.models.scene import SCENE_PRESETS, SceneEncoder, SceneEncoderConfig, build_scene_encoder

BYTES_PER_POINT_CHANNEL = 25
"""Bytes of forward + backward per input point and per channel of the summed widths, for the ``--max-memory-gb``
guard (measured on CPU: tiny 15 at 320k points, ptv3-base 21 and sonata 27 at 80k)."""


def synthetic_room(num_points: int, grid_size: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points [N, 3] on a room's floor, walls and box faces, about one per grid cell, and features [N, 6]."""
    generator = torch.Generator().manual_seed(seed)
    side = math.sqrt(num_points * grid_size**2 / 3.0)
    size = torch.tensor([side * 1.2, side, min(3.0, side)])
    boxes = [(torch.rand(3, generator=generator) * size * 0.6, torch.rand(3, generator=generator) * 1.0 + 0.3)
             for _ in range(6)]
    planes = [(torch.zeros(3), size * torch.tensor([1.0, 1.0, 0.0]), 2)]
    for axis in (0, 1):
        extent = size.clone()
        extent[axis] = 0.0
        planes += [(torch.zeros(3), extent, axis), (size * (torch.arange(3) == axis), extent, axis)]
    for low, extent in boxes:
        for axis in range(3):
            face = extent.clone()
            face[axis] = 0.0
            planes += [(low, face, axis), (low + extent * (torch.arange(3) == axis), face, axis)]
    areas = torch.tensor([float(e[e > 0].prod()) for _, e, _ in planes])
    pick = torch.multinomial(areas / areas.sum(), num_points, replacement=True, generator=generator)
    low = torch.stack([planes[i][0] for i in pick.tolist()])
    extent = torch.stack([planes[i][1] for i in pick.tolist()])
    coord = low + torch.rand(num_points, 3, generator=generator) * extent
    normal = torch.nn.functional.one_hot(torch.tensor([planes[i][2] for i in pick.tolist()]), 3).float()
    colour = torch.rand(num_points, 3, generator=generator)
    return coord, torch.cat([colour, normal], dim=1)


def measure(encoder: SceneEncoder, coord: torch.Tensor, feat: torch.Tensor, repeats: int, device: torch.device
            ) -> tuple[float, float, float]:
    """Seconds per forward, seconds per forward + backward, peak memory in bytes (see the module docstring)."""
    offset = torch.tensor([coord.shape[0]], device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    encoder.eval()
    with torch.no_grad():
        encoder(coord, feat, offset)
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            encoder(coord, feat, offset)
        sync()
        forward = (time.perf_counter() - start) / repeats
    encoder.train()
    start = time.perf_counter()
    with PeakMemory(device) as meter:
        for _ in range(repeats):
            encoder(coord, feat, offset).upcast().sum().backward()
            encoder.zero_grad(set_to_none=True)
        sync()
    backward = (time.perf_counter() - start) / repeats
    return forward, backward, float(meter.mb or 0.0) * 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(SCENE_PRESETS))
    parser.add_argument("--sizes", default="20000,80000,320000")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-memory-gb", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="tiny preset, 20k and 80k points, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.presets, args.sizes, args.repeats = "tiny", "20000,80000", 1
    if args.threads:
        torch.set_num_threads(args.threads)
    return_freed_memory()
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    print(f"{'preset':<11}{'points':>9}{'params(M)':>11}{'fwd pts/s':>12}{'fwd+bwd pts/s':>15}{'peak MB':>10}")
    for preset in args.presets.split(","):
        torch.manual_seed(0)
        encoder = build_scene_encoder(SceneEncoderConfig(preset=preset)).to(device)
        params = sum(p.numel() for p in encoder.parameters()) / 1e6
        for size in sorted(int(s) for s in args.sizes.split(",")):
            estimate = size * sum(encoder.widths) * BYTES_PER_POINT_CHANNEL / 1e9
            if estimate > args.max_memory_gb:
                print(f"{preset:<11}{size:>9}{params:>11.1f}   skipped: ~{estimate:.0f} GB > --max-memory-gb")
                continue
            coord, feat = synthetic_room(size, encoder.grid_size)
            forward, backward, memory = measure(encoder, coord.to(device), feat.to(device), args.repeats, device)
            print(f"{preset:<11}{size:>9}{params:>11.1f}{size / forward:>12.0f}{size / backward:>15.0f}"
                  f"{memory / 2**20:>10.0f}")


if __name__ == "__main__":
    main()
