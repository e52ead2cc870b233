"""GlobalBatchNorm: over 2 processes, forward, backward and running statistics equal one BatchNorm over the union."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from pointdistill.models.common import BatchNormLast
from pointdistill.training.sync_batchnorm import GlobalBatchNorm, convert_sync_batchnorm


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 5), BatchNormLast(5))


def run(net: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    out = net(x)
    (out * weight).sum().backward()
    return out.detach(), [p.grad.clone() for p in net.parameters()]


def _worker(rank: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=2)
    try:
        x, weight = torch.randn(10, 3, generator=torch.Generator().manual_seed(1)), torch.randn(10, 5, generator=torch.Generator().manual_seed(2))
        shard = slice(0, 3) if rank == 0 else slice(3, 10)  # unequal shards: a mean of means would differ
        net = convert_sync_batchnorm(model())
        output, grads = run(net, x[shard], weight[shard])
        for grad in grads:
            dist.all_reduce(grad)  # each process's loss is its shard's part of the sum
        torch.save({"output": output, "grads": grads, "buffers": dict(net.named_buffers())}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one_batchnorm_over_the_union(tmp_path: Path) -> None:
    out = str(tmp_path / "result")
    mp.spawn(_worker, args=(str(tmp_path / "init"), out), nprocs=2, join=True)
    results = [torch.load(f"{out}.{rank}", weights_only=True) for rank in range(2)]
    x, weight = torch.randn(10, 3, generator=torch.Generator().manual_seed(1)), torch.randn(10, 5, generator=torch.Generator().manual_seed(2))
    reference = model()
    output, grads = run(reference, x, weight)
    torch.testing.assert_close(torch.cat([r["output"] for r in results]), output, rtol=1e-5, atol=1e-5)
    for rank in range(2):
        for got, expected in zip(results[rank]["grads"], grads):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
        for name, buffer in reference.named_buffers():
            torch.testing.assert_close(results[rank]["buffers"][name], buffer, rtol=1e-5, atol=1e-6)


def test_conversion_keeps_weights_subclasses_and_single_process_behaviour() -> None:
    plain, converted = model(), convert_sync_batchnorm(model())
    assert isinstance(converted[1], GlobalBatchNorm) and isinstance(converted[3], BatchNormLast)
    assert isinstance(converted[3], GlobalBatchNorm)
    x = torch.randn(6, 3)
    torch.testing.assert_close(converted(x), plain(x))
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), converted.state_dict().values()))
